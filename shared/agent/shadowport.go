package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// ShadowAgents adapts a Client to shadow.Agents, the port through which
// the shadow lifecycle (reconciler) reads agents and resyncs shadows.
type ShadowAgents struct {
	Client *Client
}

var _ shadow.Agents = ShadowAgents{}

// State returns the agent's state of a resource: the status (the digest
// comes with the applied seq it belongs to) and the digest checkpoints.
func (a ShadowAgents) State(ctx context.Context, at mutation.Endpoint, resource string) (shadow.AgentState, error) {
	st, err := a.Client.Status(ctx, at, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	if len(st.Resources) != 1 || st.Resources[0].Resource != resource {
		return shadow.AgentState{}, fmt.Errorf("status of %s from agent %s: answer holds %d resources", resource, at.InstanceID, len(st.Resources))
	}
	r := st.Resources[0]
	// The checkpoints come with the digest call: they let the reconciler
	// compare a lagging shadow with its live at a common sequence.
	dg, err := a.Client.Digest(ctx, at, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	cps := make([]shadow.Checkpoint, len(dg.Checkpoints))
	for i, c := range dg.Checkpoints {
		cps[i] = shadow.Checkpoint{Seq: c.Seq, Digest: c.Digest}
	}
	return shadow.AgentState{AcceptedSeq: r.AcceptedSeq, AppliedSeq: r.AppliedSeq, Applied: r.AppliedCount, Backlog: r.Backlog, Digest: r.Digest, Checkpoints: cps}, nil
}

// Resync streams a snapshot of the resource from one agent into another.
// When the sending agent does not hold the resource at all (its export
// answers 404: a live instance no mutation has reached yet) and the
// receiver does not either, both hold the same empty state: there is
// nothing to copy, and that is a successful resync, not a failure the
// reconciler would report (and retry) every run for every idle instance.
func (a ShadowAgents) Resync(ctx context.Context, from, to mutation.Endpoint, resource string) error {
	_, err := a.Client.Resync(ctx, from, to, resource)
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound && !a.knows(ctx, from, resource) && !a.knows(ctx, to, resource) {
		return nil
	}
	return err
}

// knows reports whether the agent holds the resource (true when it cannot
// tell: only a clear "unknown" counts).
func (a ShadowAgents) knows(ctx context.Context, at mutation.Endpoint, resource string) bool {
	st, err := a.Client.Status(ctx, at, resource)
	if err != nil || len(st.Resources) != 1 || st.Resources[0].Resource != resource {
		return true
	}
	return st.Resources[0].Known
}
