// Package memory holds in-memory adapters for every port of the domain
// packages: used by the simulator, the CLI and the tests. Each is safe for
// concurrent use and has a Reset.
package memory

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/shadowscale/shadowscale/shared/mutation"
	"github.com/shadowscale/shadowscale/shared/shadow"
)

// Agents is an in-memory fleet of mutation agents, one per endpoint
// instance: it applies mutations idempotently by sequence, like the real
// shadow agent, and implements mutation.Applier.
type Agents struct {
	mu     sync.Mutex
	agents map[string]*agentState // by instance id
	// Fail, when set, is consulted before each Apply; a non-nil error fails
	// the call without applying anything (fault injection for tests).
	Fail func(to mutation.Endpoint, resource string, batch []mutation.Mutation) error
}

type agentState struct {
	last    map[string]uint64 // resource -> last applied seq
	applied map[string]uint64 // resource -> applied count
	gaps    map[string]uint64 // resource -> sequences skipped
	kv      map[string]map[string][]byte
}

var _ mutation.Applier = (*Agents)(nil)

// NewAgents returns an empty fleet of agents.
func NewAgents() *Agents { return &Agents{agents: make(map[string]*agentState)} }

// Reset forgets every agent.
func (a *Agents) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.agents = make(map[string]*agentState)
	a.Fail = nil
}

func (a *Agents) agent(id string) *agentState {
	s, ok := a.agents[id]
	if !ok {
		s = &agentState{last: map[string]uint64{}, applied: map[string]uint64{}, gaps: map[string]uint64{}, kv: map[string]map[string][]byte{}}
		a.agents[id] = s
	}
	return s
}

// Apply applies batch in order, skipping sequences already applied. A gap in
// the sequence is accepted and counted (a producer's record may have been
// dead-lettered before it reached us), like the real agent.
func (a *Agents) Apply(_ context.Context, to mutation.Endpoint, resource string, batch []mutation.Mutation) (mutation.Ack, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Fail != nil {
		if err := a.Fail(to, resource, batch); err != nil {
			return mutation.Ack{}, err
		}
	}
	s := a.agent(to.InstanceID)
	accepted := 0
	for _, m := range batch {
		if m.Resource != resource {
			return a.ack(s, resource, accepted), fmt.Errorf("mutation for %s in a batch for %s: %w", m.Resource, resource, mutation.ErrPermanent)
		}
		last := s.last[resource]
		if m.Seq <= last {
			continue
		}
		if m.Seq != last+1 {
			s.gaps[resource] += m.Seq - last - 1
		}
		kv := s.kv[resource]
		if kv == nil {
			kv = map[string][]byte{}
			s.kv[resource] = kv
		}
		switch m.Op {
		case mutation.OpDelete:
			delete(kv, m.Key)
		default:
			kv[m.Key] = append([]byte(nil), m.Value...)
		}
		s.last[resource] = m.Seq
		s.applied[resource]++
		accepted++
	}
	return a.ack(s, resource, accepted), nil
}

func (a *Agents) ack(s *agentState, resource string, accepted int) mutation.Ack {
	return mutation.Ack{Through: s.last[resource], Accepted: accepted, Applied: s.applied[resource]}
}

// ErrNoAgent is returned for an instance that never received a mutation.
var ErrNoAgent = errors.New("no such agent")

// Status returns what an agent holds for a resource: the last sequence and
// the applied count.
func (a *Agents) Status(instance, resource string) (last, applied uint64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.agents[instance]
	if !ok {
		return 0, 0, fmt.Errorf("agent %s: %w", instance, ErrNoAgent)
	}
	return s.last[resource], s.applied[resource], nil
}

// Gaps returns how many sequences an agent skipped for a resource.
func (a *Agents) Gaps(instance, resource string) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.agents[instance]; ok {
		return s.gaps[resource]
	}
	return 0
}

// Digest returns a SHA-256 over the agent's state of a resource (last seq
// and every key and value in key order), comparable across agents.
func (a *Agents) Digest(instance, resource string) ([32]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.agents[instance]
	if !ok {
		return [32]byte{}, fmt.Errorf("agent %s: %w", instance, ErrNoAgent)
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], s.last[resource])
	h.Write(n[:])
	kv := s.kv[resource]
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(kv[k])))
		h.Write(n[:])
		h.Write(kv[k])
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}

// Copy makes agent `to` hold exactly what agent `from` holds for a resource:
// the in-memory equivalent of a snapshot export and import, used to resync a
// shadow.
func (a *Agents) Copy(from, to, resource string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	src := a.agent(from) // an agent that never received anything holds an empty state
	dst := a.agent(to)
	kv := make(map[string][]byte, len(src.kv[resource]))
	for k, v := range src.kv[resource] {
		kv[k] = append([]byte(nil), v...)
	}
	dst.kv[resource] = kv
	dst.last[resource] = src.last[resource]
	dst.applied[resource] = src.applied[resource]
	return nil
}

var _ shadow.Agents = (*Agents)(nil)

// State implements shadow.Agents.
func (a *Agents) State(_ context.Context, at mutation.Endpoint, resource string) (shadow.AgentState, error) {
	last, applied, err := a.Status(at.InstanceID, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	d, err := a.Digest(at.InstanceID, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	return shadow.AgentState{AcceptedSeq: last, AppliedSeq: last, Applied: applied, Digest: fmt.Sprintf("%x", d)}, nil
}

// Resync implements shadow.Agents: the receiver takes the sender's state.
func (a *Agents) Resync(_ context.Context, from, to mutation.Endpoint, resource string) error {
	return a.Copy(from.InstanceID, to.InstanceID, resource)
}
