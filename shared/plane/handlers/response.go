package handlers

import (
	"context"
	"log/slog"

	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// Outcomes of an invocation.
const (
	// OutcomeIgnored: the event is malformed, unknown, or not for this
	// function (wrong state, not an enrolled group's instance, ...).
	OutcomeIgnored = "ignored"
	// OutcomeRefused: EC2 contradicts the event, or the action would touch
	// an instance that is not ours. Logged at warn and counted.
	OutcomeRefused = "refused"
	// OutcomeNoop: the event is valid and nothing needed doing.
	OutcomeNoop       = "noop"
	OutcomeEnsured    = "ensured"
	OutcomeRetired    = "retired"
	OutcomeReplaced   = "replaced"
	OutcomeReconciled = "reconciled"
	// OutcomeDeferred: the action cannot happen now (shadow pool full);
	// the reconciler retries it.
	OutcomeDeferred = "deferred"
)

// Response is what a handler answers (the invocation's result, shown by
// `make invoke-<fn>`).
type Response struct {
	Outcome  string         `json:"outcome"`
	Reason   string         `json:"reason,omitempty"`
	Instance string         `json:"instance,omitempty"`
	Live     string         `json:"live,omitempty"`
	Shadow   string         `json:"shadow,omitempty"`
	Actions  []ActionResult `json:"actions,omitempty"`
	// Counts summarise a reconcile per group: live and shadow instances
	// seen.
	Counts map[string]GroupCounts `json:"counts,omitempty"`
}

// ActionResult is one reconciler action and its fate.
type ActionResult struct {
	Kind   string `json:"kind"`
	Live   string `json:"live,omitempty"`
	Shadow string `json:"shadow,omitempty"`
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
	// Deferred says why the action waits (not started before the deadline,
	// pool full, replacement backing off or capped): not a failure.
	Deferred string `json:"deferred,omitempty"`
}

// GroupCounts is what the reconciler saw of a group.
type GroupCounts struct {
	Live    int `json:"live"`
	Shadows int `json:"shadows"`
	Records int `json:"records"`
}

// HandleFunc is a handler: raw event in, answer out.
type HandleFunc func(ctx context.Context, payload []byte) (Response, error)

// Flusher ships buffered metrics (the EMF sink).
type Flusher interface{ Flush() error }

// Lambda adapts a HandleFunc to lambda.Handler: the raw payload goes to the
// handler untouched (so that a malformed event is the handler's logged
// no-op, not a runtime decode error that Lambda would retry), metrics are
// flushed after every invocation, and a panic is logged and returned as an
// error instead of killing the runtime. It is the Invoker of a Response.
type Lambda = Invoker[Response]

// base holds what every handler has.
type base struct {
	function string
	metrics  metrics.Sink
	log      *slog.Logger
}

// ignore logs and counts an ignored event.
func (b base) ignore(ctx context.Context, code, reason string, attrs ...any) Response {
	b.metrics.Add("EventsIgnored", metrics.Count, 1, metrics.Dim{Name: "Function", Value: b.function}, metrics.Dim{Name: "Reason", Value: code})
	b.log.InfoContext(ctx, "event ignored", append([]any{"code", code, "reason", reason}, attrs...)...)
	return Response{Outcome: OutcomeIgnored, Reason: reason}
}

// refuse logs at warn and counts a refused event.
func (b base) refuse(ctx context.Context, code, reason string, attrs ...any) Response {
	b.metrics.Add("EventsRefused", metrics.Count, 1, metrics.Dim{Name: "Function", Value: b.function}, metrics.Dim{Name: "Reason", Value: code})
	b.log.WarnContext(ctx, "event refused", append([]any{"code", code, "reason", reason}, attrs...)...)
	return Response{Outcome: OutcomeRefused, Reason: reason}
}
