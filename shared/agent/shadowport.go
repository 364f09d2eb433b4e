package agent

import (
	"context"
	"fmt"

	"github.com/shadowscale/shadowscale/shared/mutation"
	"github.com/shadowscale/shadowscale/shared/shadow"
)

// ShadowAgents adapts a Client to shadow.Agents, the port through which
// the shadow lifecycle (reconciler) reads agents and resyncs shadows.
type ShadowAgents struct {
	Client *Client
}

var _ shadow.Agents = ShadowAgents{}

// State returns the agent's state of a resource in one status call: the
// digest comes with the applied seq it belongs to.
func (a ShadowAgents) State(ctx context.Context, at mutation.Endpoint, resource string) (shadow.AgentState, error) {
	st, err := a.Client.Status(ctx, at, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	if len(st.Resources) != 1 || st.Resources[0].Resource != resource {
		return shadow.AgentState{}, fmt.Errorf("status of %s from agent %s: answer holds %d resources", resource, at.InstanceID, len(st.Resources))
	}
	r := st.Resources[0]
	return shadow.AgentState{AcceptedSeq: r.AcceptedSeq, AppliedSeq: r.AppliedSeq, Applied: r.AppliedCount, Backlog: r.Backlog, Digest: r.Digest}, nil
}

// Resync streams a snapshot of the resource from one agent into another.
func (a ShadowAgents) Resync(ctx context.Context, from, to mutation.Endpoint, resource string) error {
	_, err := a.Client.Resync(ctx, from, to, resource)
	return err
}
