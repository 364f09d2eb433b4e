// Package memory holds in-memory adapters for every port of the domain
// packages: used by the simulator, the CLI and the tests. Each is safe for
// concurrent use and has a Reset.
package memory

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/agent/seqs"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// DefaultGapWait is how long the memory agents wait for a missing seq by
// default: the real agent's default (agent.DefaultGapWait, checked by a
// test there).
const DefaultGapWait = 30 * time.Second

// DefaultRetain is how many applied mutations each memory agent keeps per
// resource for Copy, by default none: keeping them costs about a fifth of
// the Router benchmark's time. The real agent's resync keeps the receiver's
// own entries above the snapshot, applied or not; without retained ones,
// Copy keeps the receiver's pending mutations above the sender's highest
// seq and refuses (ErrResyncConflict) when it had applied any.
const DefaultRetain = 0

// Agents is an in-memory fleet of mutation agents, one per endpoint
// instance, with the semantics of the real shadow agent (docs/AGENT.md,
// "Sequences") and its very bookkeeping (shared/agent/seqs): it accepts a
// resource's mutations in any order, each seq once, and applies them in seq
// order; a missing seq is waited for until GapWait has passed since its gap
// was first seen, then given up on (skipped); a given-up seq that arrives
// afterwards is refused (Ack.Rejected). It implements mutation.Applier and
// shadow.Agents.
//
// There is no background worker: every call first gives up the gaps past
// their wait (at the clock's time) and applies what it can, so a test with
// a fake clock advances it and calls again.
type Agents struct {
	mu      sync.Mutex
	agents  map[string]*agentState // by instance id
	clock   clock.Clock
	gapWait time.Duration
	retain  int
	// Fail, when set, is consulted before each Apply; a non-nil error fails
	// the call without applying anything (fault injection for tests).
	Fail func(to mutation.Endpoint, resource string, batch []mutation.Mutation) error
}

// Option configures Agents.
type Option func(*Agents)

// WithClock sets the clock gaps are timed with (default: the system clock).
func WithClock(c clock.Clock) Option { return func(a *Agents) { a.clock = c } }

// WithGapWait sets how long a missing seq is waited for (default
// DefaultGapWait); 0 or less gives a gap up as soon as it is seen.
func WithGapWait(d time.Duration) Option { return func(a *Agents) { a.gapWait = d } }

// WithRetain sets how many applied mutations are kept per resource for
// Copy, which re-applies the receiver's own above the sender's highest seq
// as the real agent's import does (default DefaultRetain, none).
func WithRetain(n int) Option { return func(a *Agents) { a.retain = max(0, n) } }

type agentState struct {
	res map[string]*resState
}

// resState is one resource on one agent.
type resState struct {
	trk      seqs.Tracker
	applied  uint64 // apply position: every seq at or below is applied or given up on
	count    uint64 // mutations applied
	accepted uint64 // mutations accepted
	rejected uint64 // late arrivals refused
	pending  map[uint64]mutation.Mutation
	// retained is a ring of the last applied mutations (oldest at head
	// once full); trimmed is the highest seq dropped from it.
	retained []retainedEntry
	head     int
	trimmed  uint64
	kv       map[string][]byte
}

// retainedEntry is an applied mutation as Copy re-applies it.
type retainedEntry struct {
	seq   uint64
	del   bool
	key   string
	value []byte
}

// retainedFrom returns the retained mutations above seq, ascending.
func (r *resState) retainedFrom(resource string, seq uint64) []mutation.Mutation {
	var out []mutation.Mutation
	for _, part := range [][]retainedEntry{r.retained[r.head:], r.retained[:r.head]} {
		for _, e := range part {
			if e.seq > seq {
				m := mutation.Mutation{V: mutation.Version, Resource: resource, Seq: e.seq, Op: mutation.OpPut, Key: e.key, Value: e.value}
				if e.del {
					m.Op, m.Value = mutation.OpDelete, nil
				}
				out = append(out, m)
			}
		}
	}
	return out
}

func newResState() *resState {
	return &resState{pending: map[uint64]mutation.Mutation{}, kv: map[string][]byte{}}
}

var _ mutation.Applier = (*Agents)(nil)

// NewAgents returns an empty fleet of agents.
func NewAgents(opts ...Option) *Agents {
	a := &Agents{agents: make(map[string]*agentState), clock: clock.System{}, gapWait: DefaultGapWait, retain: DefaultRetain}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Reset forgets every agent (the options stay).
func (a *Agents) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.agents = make(map[string]*agentState)
	a.Fail = nil
}

func (a *Agents) agent(id string) *agentState {
	s, ok := a.agents[id]
	if !ok {
		s = &agentState{res: map[string]*resState{}}
		a.agents[id] = s
	}
	return s
}

func (s *agentState) resource(name string) *resState {
	r, ok := s.res[name]
	if !ok {
		r = newResState()
		s.res[name] = r
	}
	return r
}

// Apply accepts the batch like the real agent (with its client: sorted by
// seq, a repeated seq keeping its first copy) and applies what it can.
func (a *Agents) Apply(_ context.Context, to mutation.Endpoint, resource string, batch []mutation.Mutation) (mutation.Ack, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Fail != nil {
		if err := a.Fail(to, resource, batch); err != nil {
			return mutation.Ack{}, err
		}
	}
	for i := range batch {
		if batch[i].Resource != resource {
			return mutation.Ack{}, fmt.Errorf("mutation for %s in a batch for %s: %w", batch[i].Resource, resource, mutation.ErrPermanent)
		}
	}
	order := batch
	for i := 1; i < len(batch); i++ {
		if batch[i].Seq < batch[i-1].Seq {
			order = slices.Clone(batch)
			slices.SortStableFunc(order, bySeq)
			break
		}
	}
	r := a.agent(to.InstanceID).resource(resource)
	now := a.clock.Now()
	r.trk.Expire(now, a.gapWait)
	ack := mutation.Ack{}
	for i := range order {
		m := &order[i]
		if i > 0 && m.Seq == order[i-1].Seq {
			continue
		}
		switch v, _ := r.trk.Accept(m.Seq, now); v {
		case seqs.New, seqs.Filled:
			r.accepted++
			ack.Accepted++
			if m.Seq == r.applied+1 {
				r.apply(m, a.retain) // the next seq: no need to hold it
			} else {
				r.pending[m.Seq] = *m
			}
		case seqs.Late:
			r.rejected++
			ack.Rejected = append(ack.Rejected, m.Seq)
		}
	}
	a.settle(r, now)
	ack.Through, ack.Contiguous = r.trk.High, r.trk.Contiguous()
	ack.Applied, ack.Backlog = r.count, uint64(len(r.pending))
	return ack, nil
}

func bySeq(x, y mutation.Mutation) int { return cmp.Compare(x.Seq, y.Seq) }

// apply applies the next mutation (m.Seq == r.applied+1).
func (r *resState) apply(m *mutation.Mutation, retain int) {
	e := retainedEntry{seq: m.Seq, del: m.Op == mutation.OpDelete, key: m.Key}
	if e.del {
		delete(r.kv, m.Key)
	} else {
		e.value = append([]byte(nil), m.Value...)
		r.kv[m.Key] = e.value
	}
	r.applied = m.Seq
	r.count++
	switch {
	case retain <= 0:
		r.trimmed = m.Seq
	case len(r.retained) < retain:
		r.retained = append(r.retained, e)
	default:
		r.trimmed = r.retained[r.head].seq
		r.retained[r.head] = e
		r.head = (r.head + 1) % len(r.retained)
	}
}

// settle gives up the gaps past their wait and applies in seq order as far
// as it can: a given-up seq is skipped, a missing one stops it.
func (a *Agents) settle(r *resState, now time.Time) {
	r.trk.Expire(now, a.gapWait)
	for r.applied < r.trk.High {
		next := r.applied + 1
		if m, ok := r.pending[next]; ok {
			delete(r.pending, next)
			r.apply(&m, a.retain)
			continue
		}
		step, through := r.trk.Next(next)
		if step != seqs.Skip {
			break // missing: wait for it or for its gap to expire
		}
		r.applied = through
	}
	r.trk.Forget(r.applied)
}

// lookup returns a settled resource of an existing agent.
func (a *Agents) lookup(instance, resource string) (*resState, error) {
	s, ok := a.agents[instance]
	if !ok {
		return nil, fmt.Errorf("agent %s: %w", instance, ErrNoAgent)
	}
	r := s.resource(resource)
	a.settle(r, a.clock.Now())
	return r, nil
}

// ErrNoAgent is returned for an instance that never received a mutation.
var ErrNoAgent = errors.New("no such agent")

// ErrResyncConflict is returned by Copy when the receiver dropped applied
// mutations above the sender's highest seq: they could not be re-applied on
// top of the copied state (the real agent's 409). Copy again later.
var ErrResyncConflict = errors.New("receiver no longer holds its mutations above the sender's")

// Status returns what an agent holds for a resource: its apply position
// (every seq at or below it is applied or given up on) and the applied
// count.
func (a *Agents) Status(instance, resource string) (last, applied uint64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.lookup(instance, resource)
	if err != nil {
		return 0, 0, err
	}
	return r.applied, r.count, nil
}

// SeqStatus is an agent's sequence bookkeeping of one resource.
type SeqStatus struct {
	Accepted   uint64 // highest seq accepted
	Applied    uint64 // apply position
	Contiguous uint64 // every seq at or below it is held or given up on
	Missing    uint64 // seqs missing, waited for
	Skipped    uint64 // seqs given up on
	Rejected   uint64 // late arrivals refused
	Backlog    uint64 // accepted, not applied
}

// Sequences returns an agent's sequence bookkeeping of a resource.
func (a *Agents) Sequences(instance, resource string) (SeqStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.lookup(instance, resource)
	if err != nil {
		return SeqStatus{}, err
	}
	return SeqStatus{
		Accepted: r.trk.High, Applied: r.applied, Contiguous: r.trk.Contiguous(),
		Missing: r.trk.MissingCount(), Skipped: r.trk.GivenUp, Rejected: r.rejected, Backlog: uint64(len(r.pending)),
	}, nil
}

// Gaps returns how many seqs an agent gave up on for a resource.
func (a *Agents) Gaps(instance, resource string) uint64 {
	st, _ := a.Sequences(instance, resource)
	return st.Skipped
}

// Digest returns a SHA-256 over the agent's state of a resource (apply
// position and every key and value in key order), comparable across agents.
func (a *Agents) Digest(instance, resource string) ([32]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.lookup(instance, resource)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], r.applied)
	h.Write(n[:])
	keys := make([]string, 0, len(r.kv))
	for k := range r.kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(len(r.kv[k])))
		h.Write(n[:])
		h.Write(r.kv[k])
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}

// Copy makes agent `to` take what agent `from` holds for a resource, as the
// real agent's snapshot import does: from's state at its apply position,
// its pending mutations and its sequence bookkeeping; to's own mutations
// above from's highest seq (pending, and applied ones it retained: see
// WithRetain) are kept and (re-)applied on top, and its own gaps above it
// too (seqs.Merger). It fails with ErrResyncConflict, changing nothing, if
// to applied a mutation above from's highest seq that it did not retain.
// Used to resync a shadow.
func (a *Agents) Copy(from, to, resource string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	src := a.agent(from).resource(resource) // an agent that never received anything holds an empty state
	a.settle(src, now)
	dstAgent := a.agent(to)
	old := dstAgent.resource(resource)
	a.settle(old, now)
	if old.trimmed > src.trk.High {
		return fmt.Errorf("copying %s from %s to %s: %w (through seq %d, sender's highest %d)", resource, from, to, ErrResyncConflict, old.trimmed, src.trk.High)
	}
	kept := old.retainedFrom(resource, src.trk.High)
	for _, m := range old.pending {
		if m.Seq > src.trk.High {
			kept = append(kept, m)
		}
	}
	slices.SortFunc(kept, bySeq)
	merge := seqs.NewMerger(src.trk, old.trk)
	r := &resState{
		applied: src.applied, count: src.count, accepted: src.accepted + uint64(len(kept)), rejected: old.rejected,
		pending: maps.Clone(src.pending), trimmed: src.applied, kv: make(map[string][]byte, len(src.kv)),
	}
	for k, v := range src.kv {
		r.kv[k] = append([]byte(nil), v...)
	}
	for _, m := range kept {
		if err := merge.Keep(m.Seq); err != nil {
			return fmt.Errorf("copying %s from %s to %s: %w", resource, from, to, err)
		}
		r.pending[m.Seq] = m
	}
	r.trk = merge.Done()
	a.settle(r, now)
	dstAgent.res[resource] = r
	return nil
}

var _ shadow.Agents = (*Agents)(nil)

// State implements shadow.Agents.
func (a *Agents) State(_ context.Context, at mutation.Endpoint, resource string) (shadow.AgentState, error) {
	st, err := a.Sequences(at.InstanceID, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	_, applied, err := a.Status(at.InstanceID, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	d, err := a.Digest(at.InstanceID, resource)
	if err != nil {
		return shadow.AgentState{}, err
	}
	return shadow.AgentState{AcceptedSeq: st.Accepted, AppliedSeq: st.Applied, Applied: applied, Backlog: st.Backlog, Digest: fmt.Sprintf("%x", d)}, nil
}

// Resync implements shadow.Agents: the receiver takes the sender's state.
func (a *Agents) Resync(_ context.Context, from, to mutation.Endpoint, resource string) error {
	return a.Copy(from.InstanceID, to.InstanceID, resource)
}
