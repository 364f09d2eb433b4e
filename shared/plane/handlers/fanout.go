package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// Router is the fan-out as the handler drives it (*mutation.Router).
type Router interface {
	// Route applies muts to their live and shadow agents and returns one
	// Outcome per input, in input order.
	Route(ctx context.Context, muts []mutation.Mutation) []mutation.Outcome
	// Flush returns the per-minute counters gathered since the last Flush.
	Flush() map[mutation.CountKey]mutation.Count
}

// RouteCache is what the handler asks of a caching resolver (*Resolver):
// resolve a batch's resources together before routing, and forget a
// resource whose delivery failed. Optional.
type RouteCache interface {
	Prime(ctx context.Context, resources []string)
	Invalidate(resource string)
}

// HistoryAdder stores the Router's per-minute counters (awssdk.History and memory.History).
//
// Contract: Add is not idempotent (atomic ADD); on error some counters may
// have landed, so the caller logs it and does not add them again.
type HistoryAdder interface {
	Add(ctx context.Context, counts map[mutation.CountKey]mutation.Count) error
}

// DeadLetterWriter stores records that can never succeed
// (awssdk.DeadLetters and memory.DeadLetters).
//
// Contract: SendEach returns one error per letter, in order, nil when the
// letter is stored; a letter with an error may still have been stored.
type DeadLetterWriter interface {
	SendEach(ctx context.Context, letters []mutation.DeadLetter) []error
}

var (
	_ Router     = (*mutation.Router)(nil)
	_ RouteCache = (*Resolver)(nil)
)

// FanoutDeps are what the fanout handler uses.
type FanoutDeps struct {
	Router      Router
	Routes      RouteCache // may be nil
	History     HistoryAdder
	DeadLetters DeadLetterWriter
	Clock       clock.Clock
	Metrics     metrics.Sink
	Log         *slog.Logger
}

// FanoutOptions tune the fanout handler.
type FanoutOptions struct {
	// Reserve is kept before the invocation's deadline for the dead
	// letters and the counters: routing is cut off that much earlier (its
	// unfinished records are reported failed and retried). 3 s when 0.
	Reserve time.Duration
	// FlushEvery is how often the counters are added to the history: the
	// handler keeps counting between batches and writes when FlushEvery
	// has passed since its last write, or at once when a minute it holds
	// counts of has ended (so the forecaster finds complete minutes). 5 s
	// when 0; a negative value writes after every batch. Between writes
	// the counts live in the function's memory: a container that is
	// never invoked again loses at most FlushEvery of them (metrics
	// grade, as the counters are).
	FlushEvery time.Duration
}

// Dead-letter reason codes: the first word of a dead letter's reason.
const (
	ReasonUndecodable     = "undecodable"         // not a mutation record (JSON or binary), nor a valid aggregated record
	ReasonOversized       = "oversized"           // over Kinesis' 1 MiB record limit
	ReasonVersion         = "unsupported-version" // a format version this plane does not read
	ReasonInvalid         = "invalid"             // decodes, but a field is invalid (empty key, key over 1 KiB, ...)
	ReasonUnknownResource = "unknown-resource"    // not a live instance of an enrolled group
	ReasonRejected        = "rejected"            // an agent refused it for good (e.g. a seq it gave up waiting for)
	ReasonLiveUnavailable = "live-unavailable"    // its live agent kept failing: its breaker is open (LiveBreaker)
)

// Fanout handles a Lambda Kinesis event of mutation records: it decodes
// every record (a Kinesis record holds one user record, or many in the KPL
// aggregated format: it de-aggregates them), routes the mutations to their
// live and shadow agents (Router), writes the mutations that can never
// succeed to the dead-letter queue with their reason, adds the Router's
// per-minute counters to the history, and answers the records to retry.
//
// Retries follow Lambda's ReportBatchItemFailures for streams, which name
// Kinesis records, not user records: the answer names the earliest Kinesis
// record (in shard order) holding a mutation that failed in a way a later
// delivery can fix, and Lambda redelivers from it, so every record after
// it comes again too, the whole of an aggregated one included (the agents
// acknowledge what they hold as duplicates: nothing is applied twice). A
// mutation that can never succeed (undecodable, oversized, of an unknown
// resource, rejected by an agent, its live agent's breaker open) is
// dead-lettered and counts as done, so it never blocks its shard; but only
// when its Kinesis record lies before the first retried one (after it, the
// redelivery dead-letters it once). One letter holds one user record, or
// the whole Kinesis record when every mutation in it failed for the same
// reason. A record whose dead letter could not be written is reported
// failed: it is never lost.
type Fanout struct {
	d   FanoutDeps
	opt FanoutOptions
	base

	mu        sync.Mutex
	pending   map[mutation.CountKey]mutation.Count // counted, not yet in the history
	oldest    time.Time                            // the earliest minute in pending
	lastFlush time.Time

	// scratch holds the buffers of invocations that ended, for the next
	// (a Lambda container runs many): a free list, not one field, as a
	// runtime may run invocations of one handler concurrently (Lambda
	// Managed Instances' multi-concurrency; the local pollers, one per
	// shard); and not a sync.Pool, which the collector empties, several
	// times an invocation at a full batch.
	scratch chan *fanoutScratch
}

// fanoutScratch is one invocation's buffers, each as large as the largest
// batch so far. Nothing the invocation hands on keeps a reference into
// them: the mutations' keys and values are decoder arena copies, and dead
// letters copy their data.
type fanoutScratch struct {
	data  []byte // the records' data, decoded from base64 (Handle)
	users []mutation.UserRecord
	items []item
	muts  []mutation.Mutation
}

// scratchKept is how many invocations' buffers a Fanout keeps.
const scratchKept = 4

func (h *Fanout) getScratch() *fanoutScratch {
	select {
	case s := <-h.scratch:
		return s
	default:
		return new(fanoutScratch)
	}
}

// putScratch keeps s for a later invocation. The user records are cleared
// (they point into the event, which the caller of HandleEvent owns; those
// past this batch's were cleared after an earlier one); the items and
// mutations are overwritten before they are read again.
func (h *Fanout) putScratch(s *fanoutScratch) {
	clear(s.users)
	s.users = s.users[:0]
	select {
	case h.scratch <- s:
	default:
	}
}

// NewFanout returns the fanout handler.
func NewFanout(d FanoutDeps, opt FanoutOptions) (*Fanout, error) {
	errs := missing(
		dep{"router", d.Router != nil},
		dep{"history", d.History != nil},
		dep{"dead-letter queue", d.DeadLetters != nil},
		dep{"clock", d.Clock != nil},
	)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: fanout handler: %w", shadow.ErrInvalid, err)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.Discard{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Reserve <= 0 {
		opt.Reserve = 3 * time.Second
	}
	if opt.FlushEvery == 0 {
		opt.FlushEvery = 5 * time.Second
	}
	return &Fanout{d: d, opt: opt, base: base{function: "fanout", metrics: d.Metrics, log: d.Log},
		pending: map[mutation.CountKey]mutation.Count{}, lastFlush: d.Clock.Now(), scratch: make(chan *fanoutScratch, scratchKept)}, nil
}

// recordFate is what became of one Kinesis record of the batch.
type recordFate struct {
	retry  error  // a failure a later delivery may fix (of the record or one of its mutations)
	reason string // the whole record can never succeed ("": it can, or did)
	items  int32  // its user records: items[first:first+n]
	first  int32
}

// item is one user record: a whole non-aggregated Kinesis record, or one
// record of an aggregated one.
type item struct {
	data   []byte
	sub    int32  // index in the aggregated record, -1 for a whole record
	mut    int32  // index in the mutations routed, -1 when it did not decode
	reason string // it can never succeed
	beat   bool   // a heartbeat
}

// Handle is the fanout function's handler: a Lambda Kinesis event in, the
// records to retry out.
func (h *Fanout) Handle(ctx context.Context, payload []byte) (events.KinesisEventResponse, error) {
	s := h.getScratch()
	defer h.putScratch(s)
	ev, err := parseKinesisEvent(payload, &s.data)
	if err != nil {
		h.ignore(ctx, "malformed", fmt.Sprintf("not a Lambda Kinesis event: %v", err))
		return events.KinesisEventResponse{}, nil
	}
	if len(ev.Records) == 0 {
		h.ignore(ctx, "empty", "no Kinesis records in the event")
		return events.KinesisEventResponse{}, nil
	}
	return h.handleEvent(ctx, ev, s), nil
}

// HandleEvent fans out a decoded Kinesis event: its records decoded
// (aggregated ones de-aggregated), the mutations routed to both agents,
// what can never succeed dead-lettered, and the first record to retry
// reported.
func (h *Fanout) HandleEvent(ctx context.Context, ev events.KinesisEvent) events.KinesisEventResponse {
	s := h.getScratch()
	defer h.putScratch(s)
	return h.handleEvent(ctx, ev, s)
}

// handleEvent is HandleEvent with the invocation's buffers.
func (h *Fanout) handleEvent(ctx context.Context, ev events.KinesisEvent, s *fanoutScratch) events.KinesisEventResponse {
	recs := ev.Records
	fates, items, muts, resources := h.decode(recs, s)
	failed, shadowRejected := h.route(ctx, fates, items, muts, resources)

	first := len(recs) // the first record to retry
	for i, f := range fates {
		if f.retry != nil {
			first = i
			break
		}
	}
	dead, unwritten := h.deadLetter(ctx, recs, fates, items, first)
	failed += unwritten
	for i := range fates {
		if fates[i].retry != nil && i < first {
			first = i
		}
	}
	h.count(ctx)

	if failed > 0 {
		h.metrics.Add("FanoutErrors", metrics.Count, float64(failed))
	}
	if shadowRejected > 0 {
		h.metrics.Add("ShadowRejected", metrics.Count, float64(shadowRejected))
	}
	resp := events.KinesisEventResponse{}
	attrs := []any{"records", len(recs), "user_records", len(items), "mutations", len(muts), "dead_lettered", dead, "failed", failed, "shadow_rejected", shadowRejected}
	if first < len(recs) {
		resp.BatchItemFailures = []events.KinesisBatchItemFailure{{ItemIdentifier: recs[first].Kinesis.SequenceNumber}}
		attrs = append(attrs, "retry_from", recs[first].Kinesis.SequenceNumber, "retry_records", len(recs)-first, "err", fates[first].retry)
		h.log.WarnContext(ctx, "batch partly failed; Lambda retries from the first failed record", attrs...)
	} else {
		h.log.InfoContext(ctx, "batch fanned out", attrs...)
	}
	return resp
}

// decode turns a batch's records into user records (aggregated ones
// de-aggregated, first, so that the items and mutations are allocated
// once) and decodes each: the records' fates, the items, the mutations
// and the resources they name, in first-seen order.
func (h *Fanout) decode(recs []events.KinesisEventRecord, s *fanoutScratch) ([]recordFate, []item, []mutation.Mutation, []string) {
	fates := make([]recordFate, len(recs))
	users := s.users[:0]
	for i := range recs {
		k := &recs[i].Kinesis
		f := &fates[i]
		f.first = int32(len(users))
		switch n := len(k.Data) + len(k.PartitionKey); {
		case n > mutation.MaxRecordBytes:
			f.reason = fmt.Sprintf("%s: record and partition key are %d bytes, over Kinesis' %d", ReasonOversized, n, mutation.MaxRecordBytes)
		case mutation.IsAggregated(k.Data):
			var err error
			if users, err = mutation.Deaggregate(users, k.Data); err != nil {
				f.reason = ReasonUndecodable + ": " + err.Error()
			}
		default:
			users = append(users, mutation.UserRecord{Data: k.Data})
		}
		f.items = int32(len(users)) - f.first
	}
	s.users = users
	if cap(s.items) < len(users) {
		s.items = make([]item, len(users))
		s.muts = make([]mutation.Mutation, 0, len(users))
	}
	items, muts := s.items[:len(users)], s.muts[:0]
	var resources []string
	seen := map[string]bool{}
	var (
		dec mutation.Decoder
		m   mutation.Mutation // reused: one resource's records share its string
	)
	for i := range fates {
		f := &fates[i]
		aggregated := mutation.IsAggregated(recs[i].Kinesis.Data)
		for j := f.first; j < f.first+f.items; j++ {
			it := &items[j]
			*it = item{data: users[j].Data, sub: j - f.first, mut: -1} // over an earlier batch's
			if !aggregated {
				it.sub = -1
			}
			if reason := decodeUser(&dec, it.data, &m); reason != "" {
				it.reason = reason
				continue
			}
			it.mut, it.beat = int32(len(muts)), m.IsHeartbeat()
			muts = append(muts, m)
			if n := len(resources); (n == 0 || resources[n-1] != m.Resource) && !seen[m.Resource] {
				seen[m.Resource] = true
				resources = append(resources, m.Resource)
			}
		}
	}
	s.muts = muts
	return fates, items, muts, resources
}

// route applies the mutations on both agents of their resources and
// marks each item's fate (the reason it can never succeed) and each
// record's (the error a later delivery may fix). It returns how many
// mutations failed so, and how many the shadow refused as too late (held
// by the live: the reconciler resyncs the shadow).
func (h *Fanout) route(ctx context.Context, fates []recordFate, items []item, muts []mutation.Mutation, resources []string) (failed, shadowRejected int) {
	if len(muts) == 0 {
		return 0, 0
	}
	rctx, cancel := h.routingContext(ctx)
	if h.d.Routes != nil {
		h.d.Routes.Prime(rctx, resources)
	}
	outs := h.d.Router.Route(rctx, muts)
	cancel()
	// Each mutation's failure, by its index: allocated at the first (a
	// batch that all went through needs neither).
	var (
		reasons []string
		retries []error
	)
	for _, o := range outs {
		if o.ShadowRejected {
			shadowRejected++
		}
		if o.Err != nil && reasons == nil {
			reasons, retries = make([]string, len(muts)), make([]error, len(muts))
		}
		switch {
		case o.Err == nil:
		case o.Retry:
			retries[o.Index] = o.Err
			failed++
			if h.d.Routes != nil {
				h.d.Routes.Invalidate(muts[o.Index].Resource)
			}
		case errors.Is(o.Err, ErrLiveUnavailable):
			reasons[o.Index] = ReasonLiveUnavailable + ": " + o.Err.Error()
		case errors.Is(o.Err, mutation.ErrUnknownResource):
			reasons[o.Index] = ReasonUnknownResource + ": " + o.Err.Error()
		default:
			reasons[o.Index] = ReasonRejected + ": " + o.Err.Error()
		}
	}
	if reasons == nil {
		return failed, shadowRejected
	}
	for i := range fates {
		f := &fates[i]
		for j := f.first; j < f.first+f.items; j++ {
			it := &items[j]
			if it.mut < 0 {
				continue
			}
			if err := retries[it.mut]; err != nil && f.retry == nil {
				f.retry = err
			}
			it.reason = reasons[it.mut]
		}
	}
	return failed, shadowRejected
}

// routingContext bounds routing so that Reserve is left before the
// invocation's deadline.
func (h *Fanout) routingContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-h.opt.Reserve))
	}
	return context.WithCancel(ctx)
}

// decodeUser decodes one user record into *m, or says why it can never
// succeed.
func decodeUser(dec *mutation.Decoder, data []byte, m *mutation.Mutation) string {
	err := dec.Decode(data, m)
	if err == nil {
		return ""
	}
	code := ReasonInvalid
	switch {
	case errors.Is(err, mutation.ErrTooLarge):
		code = ReasonOversized
	case errors.Is(err, mutation.ErrUndecoded):
		code = ReasonUndecodable
	case errors.Is(err, mutation.ErrVersion):
		code = ReasonVersion
	}
	return code + ": " + err.Error()
}

// deadLetter writes the dead letters of the records before first, and
// turns the records whose letters could not be written into retryable
// failures. A record whose every mutation failed for good with one reason
// code is one letter (the record as it came); otherwise each failed user
// record is one. It returns how many user records it dead-lettered
// (mutations, and records that did not decode; a whole record that is not
// even that counts as one), and how many letters it could not write.
func (h *Fanout) deadLetter(ctx context.Context, recs []events.KinesisEventRecord, fates []recordFate, items []item, first int) (written, unwritten int) {
	var letters []mutation.DeadLetter
	var idx []int // the record of each letter
	now := h.d.Clock.Now()
	letter := func(i int, data []byte, sub int, reason string, n int) {
		r := recs[i]
		letters = append(letters, mutation.DeadLetter{
			Data: bytes.Clone(data), Reason: reason, Source: r.EventSourceArn, PartitionKey: r.Kinesis.PartitionKey,
			SequenceNumber: r.Kinesis.SequenceNumber, SubSequence: sub, Mutations: n, EventID: r.EventID, At: now,
		})
		idx = append(idx, i)
	}
	for i := 0; i < first; i++ {
		f := fates[i]
		if f.reason != "" {
			letter(i, recs[i].Kinesis.Data, -1, f.reason, 0)
			continue
		}
		its := items[f.first : f.first+f.items]
		failed, code, same := 0, "", true
		for _, it := range its {
			if it.reason == "" {
				if !it.beat {
					same = false
				}
				continue
			}
			c, _, _ := cutReason(it.reason)
			if failed == 0 {
				code = c
			}
			same = same && c == code
			failed++
		}
		switch {
		case failed == 0:
		case same && its[0].sub >= 0 && failed > 1:
			// every mutation of an aggregated record, one reason: one letter
			reason := fmt.Sprintf("%s: all %d user records of the aggregated record; the first: %s", code, failed, firstReason(its))
			letter(i, recs[i].Kinesis.Data, -1, reason, failed)
		default:
			for _, it := range its {
				if it.reason != "" {
					letter(i, it.data, int(it.sub), it.reason, 1)
				}
			}
		}
	}
	if len(letters) == 0 {
		return 0, 0
	}
	for j, err := range h.d.DeadLetters.SendEach(ctx, letters) {
		i, l := idx[j], letters[j]
		if err != nil {
			unwritten++
			if fates[i].retry == nil {
				fates[i].retry = fmt.Errorf("dead-lettering record %s (%s): %w", recs[i].Kinesis.SequenceNumber, l.Reason, err)
			}
			continue
		}
		written += max(1, l.Mutations)
		code, _, _ := cutReason(l.Reason)
		h.log.WarnContext(ctx, "record dead-lettered", "code", code, "reason", clip(l.Reason), "sequence_number", l.SequenceNumber,
			"sub_sequence", l.SubSequence, "mutations", l.Mutations, "partition_key", clip(l.PartitionKey))
	}
	if written > 0 {
		h.metrics.Add("DeadLettered", metrics.Count, float64(written))
	}
	return written, unwritten
}

func firstReason(its []item) string {
	for _, it := range its {
		if it.reason != "" {
			_, detail, _ := cutReason(it.reason)
			return detail
		}
	}
	return ""
}

func cutReason(r string) (code, detail string, ok bool) {
	for i := 0; i+1 < len(r); i++ {
		if r[i] == ':' && r[i+1] == ' ' {
			return r[:i], r[i+2:], true
		}
	}
	return r, "", false
}

// count takes the Router's counters into the metrics and the pending
// counters, and adds those to the history when due (FlushEvery). A
// failure is logged, not retried (counters are at-least-once, metrics
// grade).
func (h *Fanout) count(ctx context.Context) {
	counts := h.d.Router.Flush()
	type gt struct {
		group  string
		target mutation.Target
	}
	sums := map[gt]int{}
	for k, c := range counts {
		if k.Target != mutation.SeenTarget {
			sums[gt{k.Group, k.Target}] += c.Accepted
		}
	}
	keys := make([]gt, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].group != keys[b].group {
			return keys[a].group < keys[b].group
		}
		return keys[a].target < keys[b].target
	})
	for _, k := range keys {
		h.metrics.Add("MutationsApplied", metrics.Count, float64(sums[k]), metrics.Dim{Name: "Group", Value: k.group}, metrics.Dim{Name: "Target", Value: string(k.target)})
	}

	now := h.d.Clock.Now()
	h.mu.Lock()
	for k, c := range counts {
		prev, ok := h.pending[k]
		if !ok && (h.oldest.IsZero() || k.Minute.Before(h.oldest)) {
			h.oldest = k.Minute
		}
		h.pending[k] = mutation.Count{Accepted: prev.Accepted + c.Accepted, Applied: max(prev.Applied, c.Applied), Backlog: c.Backlog, Seen: prev.Seen + c.Seen}
	}
	due := len(h.pending) > 0 && (h.opt.FlushEvery < 0 || now.Sub(h.lastFlush) >= h.opt.FlushEvery ||
		h.oldest.Before(now.UTC().Truncate(time.Minute)))
	if !due {
		h.mu.Unlock()
		return
	}
	out := h.pending
	h.pending, h.oldest, h.lastFlush = map[mutation.CountKey]mutation.Count{}, time.Time{}, now
	h.mu.Unlock()
	if err := h.d.History.Add(ctx, out); err != nil {
		h.metrics.Add("HistoryErrors", metrics.Count, 1)
		h.log.WarnContext(ctx, "could not add every counter to the history", "counters", len(out), "err", err)
	}
}
