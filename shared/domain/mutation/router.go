package mutation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Target names which copy of a resource a mutation is applied to.
type Target string

// The two targets of every resource.
const (
	Live   Target = "live"
	Shadow Target = "shadow"
	// SeenTarget is no copy: a CountKey with it counts the records seen
	// for the resource (Count.Seen only): its mutations the fan-out
	// delivered and its producer's heartbeats. The history adds them to
	// the group's minute and hour (GroupCount.Seen).
	SeenTarget Target = "seen"
)

// Endpoint is one agent that applies mutations.
type Endpoint struct {
	InstanceID string // the EC2 instance the agent runs on
	Address    string // host:port of its agent API
}

// Route tells the Router where a resource's mutations go.
type Route struct {
	Resource string
	Group    string   // Auto Scaling group of the live instance
	Live     Endpoint // always set
	// Shadow is the shadow's agent. When ShadowReady is false (no shadow yet,
	// or one being replaced) the shadow is skipped: a new shadow catches up
	// by snapshot import plus stream replay, not by the Router.
	Shadow      Endpoint
	ShadowReady bool
}

// ErrUnknownResource is returned by a Resolver for a resource that is not a
// live instance of an enrolled group. Mutations for it can never succeed.
var ErrUnknownResource = errors.New("unknown resource")

// Resolver finds the route of a resource.
//
// Contract: Resolve returns ErrUnknownResource (wrapped) when the resource is
// not known, and any other error for a transient failure worth a retry.
type Resolver interface {
	Resolve(ctx context.Context, resource string) (Route, error)
}

// Ack is an agent's answer to a batch.
//
// Agents accept a resource's mutations out of order (docs/AGENT.md,
// "Sequences"): a seq above the highest accepted opens a gap for the seqs in
// between, which stay acceptable (missing) until the agent gives up on them
// after its gap wait; a seq given up on that arrives afterwards is refused
// (Rejected), never applied and never silently dropped.
type Ack struct {
	// Through is the highest sequence the agent has durably accepted for the
	// resource (after this batch). Seqs below it may still be missing: it
	// does not say that they are done.
	Through uint64
	// Contiguous: every seq at or below it is durably accepted by the agent
	// or was given up on (a given-up seq is refused if it arrives).
	Contiguous uint64
	// Accepted counts the batch's mutations newly accepted (not duplicates,
	// not rejected).
	Accepted int
	// Rejected lists the batch's seqs the agent refused because they
	// arrived after it had given up waiting for them (their gap was
	// skipped). Each is a permanent failure for that agent.
	Rejected []uint64
	// Applied is the agent's running total of mutations applied for the
	// resource; the difference between two acks is what it applied between
	// them. Backlog is accepted but not yet applied.
	Applied uint64
	Backlog uint64
}

// Applier delivers mutations to one agent.
//
// Contract: Apply sends a batch of one resource's mutations and returns the
// agent's Ack. The agent is the idempotency authority: it accepts each seq
// at most once, acknowledges a repeated one as a duplicate, and lists in
// Ack.Rejected the seqs it refuses as too late; every other mutation of a
// batch whose Apply succeeded is durably held. On error the agent may have
// accepted part of the batch; the Router resends the whole batch later and
// the agent acknowledges what it holds as duplicates. An error wrapping
// ErrPermanent will not succeed on retry. With an error, the Ack reports
// what the agent accepted before it (zero Ack when unknown): it is only
// counted, never taken as delivery.
type Applier interface {
	Apply(ctx context.Context, to Endpoint, resource string, batch []Mutation) (Ack, error)
}

// BatchShare lets an Applier do the work that depends only on a batch
// once for every target the Router delivers that batch to (its live agent
// and its shadow's, concurrently): encoding the batch, for one. The Router
// puts one share in the context of those deliveries; each gets the same
// resource and the same batch, unchanged until the last returns.
type BatchShare struct {
	once sync.Once
	v    any
}

// Do returns f's result, calling f on the first call only (a concurrent
// caller waits for it).
func (s *BatchShare) Do(f func() any) any {
	s.once.Do(func() { s.v = f() })
	return s.v
}

type batchShareKey struct{}

// WithBatchShare returns ctx carrying a new share, for the deliveries of
// one batch to several targets (what the Router does).
func WithBatchShare(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchShareKey{}, &BatchShare{})
}

// BatchShareFrom returns the share of the delivery's context, or nil when
// it has none (a delivery to a single target, or not made by a Router).
func BatchShareFrom(ctx context.Context) *BatchShare {
	s, _ := ctx.Value(batchShareKey{}).(*BatchShare)
	return s
}

// ErrPermanent marks an Applier error that a retry cannot fix.
var ErrPermanent = errors.New("permanent failure")

// ErrTooLate marks a mutation an agent refused because it arrived after the
// agent had given up waiting for its seq (the gap was skipped after the
// agent's gap wait). It wraps ErrPermanent: the fan-out dead-letters it.
var ErrTooLate = fmt.Errorf("%w: arrived after the agent had given up waiting for its seq (its gap was skipped)", ErrPermanent)

// Outcome is what happened to one mutation.
type Outcome struct {
	Index int // position in the Route call's input
	// Err is nil when the mutation is applied to (or already held by) every
	// ready target. Otherwise Retry tells whether a later delivery can succeed.
	Err   error
	Retry bool
	// ShadowRejected is set when the live agent holds the mutation and only
	// the shadow refused it as too late (ErrTooLate). That is not a failure
	// of the mutation: the live instance is the source of truth, and the
	// shadow is repaired by a resync (the reconciler sees its digest
	// diverge). Counting these tells how often shadows need it.
	ShadowRejected bool
}

// CountKey identifies one per-minute counter.
type CountKey struct {
	Group    string
	Resource string
	Target   Target
	Minute   time.Time // truncated to the minute, UTC
}

// Count is what the Router counted for one key: mutations newly accepted by
// the target during that minute, and the target's applied total and backlog
// as last reported.
type Count struct {
	Accepted int
	Applied  uint64
	Backlog  uint64
	// Seen is set on SeenTarget keys only: records seen.
	Seen int
}

// Router fans mutations out to live and shadow agents.
//
// It delivers every mutation to every ready target and lets the agents, the
// idempotency authorities, sort out duplicates: it caches no acknowledgement
// (a cached high-water mark would drop a late mutation that fills a gap). It
// counts mutations newly accepted per target per minute.
type Router struct {
	resolver Resolver
	applier  Applier
	clock    clock.Clock
	// Concurrency bounds how many resources are delivered at once.
	Concurrency int

	mu     sync.Mutex
	counts map[CountKey]Count
}

// NewRouter returns a Router. All arguments are required.
func NewRouter(r Resolver, a Applier, c clock.Clock) *Router {
	return &Router{
		resolver:    r,
		applier:     a,
		clock:       c,
		Concurrency: 8,
		counts:      make(map[CountKey]Count),
	}
}

// Route applies muts and returns one Outcome per input, in input order.
// Heartbeats (m.IsHeartbeat) are never delivered: a resolved one is
// counted seen (SeenTarget), and its Outcome is always done, resolved or
// not (a heartbeat is never retried nor dead-lettered).
// Mutations of one resource are delivered in Seq order, to the live and the
// ready shadow at once; a batch may mix resources and may repeat or reorder
// mutations. A mutation is done (Err nil) when every target's Apply
// succeeded and none rejected its seq. An Apply error fails the resource's
// whole batch for that target, retryable unless it wraps ErrPermanent; a
// seq the live agent rejects fails permanently with ErrTooLate (one only the
// shadow rejects is done, flagged ShadowRejected). When targets fail
// differently, Retry is true if any failure is retryable (redelivery is
// safe: the agents deduplicate) and Err joins every target's error.
func (r *Router) Route(ctx context.Context, muts []Mutation) []Outcome {
	out := make([]Outcome, len(muts))
	// Each resource's indices, in input order, as a run of one slice: how
	// many each resource has, then the runs filled. A batch comes mostly in
	// runs of one resource (an aggregated record holds one instance's
	// mutations), so the maps are only consulted where the resource changes.
	type span struct {
		res    string
		lo, hi int
	}
	var spans []span // the input's runs of one resource
	count := make(map[string]int)
	var order []string
	for i := 0; i < len(muts); {
		res, lo := muts[i].Resource, i
		for i++; i < len(muts) && muts[i].Resource == res; i++ {
		}
		spans = append(spans, span{res, lo, i})
		if _, ok := count[res]; !ok {
			order = append(order, res)
		}
		count[res] += i - lo
	}
	for i := range out {
		out[i].Index = i
	}
	runs := make([]int, len(muts))
	byRes := make(map[string][]int, len(order))
	at := 0
	for _, res := range order { // an empty slice at the start of its run
		byRes[res] = runs[at : at : at+count[res]]
		at += count[res]
	}
	for _, sp := range spans {
		run := byRes[sp.res]
		for i := sp.lo; i < sp.hi; i++ {
			run = append(run, i) // within its capacity: fills runs in place
		}
		byRes[sp.res] = run
	}
	var g errgroup.Group
	g.SetLimit(max(1, r.Concurrency))
	for _, res := range order {
		g.Go(func() error {
			r.routeResource(ctx, res, muts, byRes[res], out)
			return nil
		})
	}
	_ = g.Wait() // each mutation's failure is in its Outcome
	return out
}

func (r *Router) routeResource(ctx context.Context, res string, muts []Mutation, all []int, out []Outcome) {
	// One pass over the resource's records: its heartbeats, and whether
	// the others come in Seq order and once each (a producer's records
	// mostly do: then the sort and the copy below are skipped).
	heartbeats := 0
	sorted, unique := true, true
	var prev uint64
	for k, i := range all {
		m := &muts[i]
		if m.IsHeartbeat() {
			heartbeats++
			continue
		}
		if k > heartbeats { // a mutation came before this one
			switch {
			case prev > m.Seq:
				sorted = false
			case prev == m.Seq:
				unique = false
			}
		}
		prev = m.Seq
	}
	var idx []int // the mutations that are not heartbeats
	switch {
	case heartbeats == 0:
		idx = all
	case heartbeats < len(all):
		idx = make([]int, 0, len(all)-heartbeats)
		for _, i := range all {
			if !muts[i].IsHeartbeat() {
				idx = append(idx, i)
			}
		}
	}
	fail := func(err error, retry bool) {
		for _, i := range idx {
			out[i].Err, out[i].Retry = err, retry
		}
	}
	route, err := r.resolver.Resolve(ctx, res)
	if err != nil {
		fail(fmt.Errorf("resolving resource %s: %w", res, err), !errors.Is(err, ErrUnknownResource))
		return
	}
	if len(idx) == 0 {
		r.countSeen(route, heartbeats)
		return
	}
	defer func() {
		done := heartbeats
		for _, i := range idx {
			if out[i].Err == nil {
				done++
			}
		}
		r.countSeen(route, done)
	}()
	// Sort this resource's mutations by Seq, dropping repeats within the
	// batch.
	var batch []Mutation
	if first, n := idx[0], len(idx); sorted && unique && idx[n-1]-first == n-1 {
		// One run of the input, in order (the whole input, or one
		// aggregated record's worth): no copy. Appliers only read it.
		batch = muts[first : first+n : first+n]
	} else {
		if !sorted {
			idx = slices.Clone(idx)
			sort.SliceStable(idx, func(a, b int) bool { return muts[idx[a]].Seq < muts[idx[b]].Seq })
		}
		batch = make([]Mutation, 0, len(idx))
		for _, i := range idx {
			if n := len(batch); n > 0 && batch[n-1].Seq == muts[i].Seq {
				continue
			}
			batch = append(batch, muts[i])
		}
	}

	targets := []struct {
		t  Target
		ep Endpoint
	}{{Live, route.Live}}
	if route.ShadowReady {
		targets = append(targets, struct {
			t  Target
			ep Endpoint
		}{Shadow, route.Shadow})
	}
	type result struct {
		rejected map[uint64]bool
		err      error
	}
	results := make([]result, len(targets))
	dctx := ctx
	if len(targets) > 1 {
		dctx = WithBatchShare(ctx)
	}
	var g errgroup.Group
	for ti, tg := range targets {
		g.Go(func() error {
			rejected, err := r.deliver(dctx, route, tg.t, tg.ep, batch)
			results[ti] = result{rejected, err}
			return nil
		})
	}
	_ = g.Wait() // each target's failure is in its result

	clean := true // every target took the whole batch: every Outcome stays done
	for _, rs := range results {
		clean = clean && rs.err == nil && len(rs.rejected) == 0
	}
	if clean {
		return
	}
	liveHolds := func(seq uint64) bool { return results[0].err == nil && !results[0].rejected[seq] }
	for _, i := range idx {
		seq := muts[i].Seq
		var errs []error
		retry := false
		for ti, tg := range targets {
			var err error
			switch {
			case results[ti].err != nil:
				err = results[ti].err
				retry = retry || !errors.Is(err, ErrPermanent)
			case results[ti].rejected[seq] && tg.t == Shadow && liveHolds(seq):
				out[i].ShadowRejected = true
				continue
			case results[ti].rejected[seq]:
				err = fmt.Errorf("%s agent %s refused it: %w", tg.t, tg.ep.InstanceID, ErrTooLate)
			default:
				continue
			}
			errs = append(errs, fmt.Errorf("applying %s/%d to %s: %w", res, seq, tg.t, err))
		}
		if len(errs) > 0 {
			out[i].Err, out[i].Retry = errors.Join(errs...), retry
		}
	}
}

// deliver sends the batch to one target and returns the seqs it rejected.
func (r *Router) deliver(ctx context.Context, route Route, t Target, ep Endpoint, batch []Mutation) (map[uint64]bool, error) {
	ack, err := r.applier.Apply(ctx, ep, route.Resource, batch)
	// On error the Ack may still report what the agent accepted before
	// it: counted, but the whole batch is resent.
	if err == nil || ack.Through > 0 {
		minute := r.clock.Now().UTC().Truncate(time.Minute)
		ck := CountKey{Group: route.Group, Resource: route.Resource, Target: t, Minute: minute}
		r.mu.Lock()
		c := r.counts[ck]
		c.Accepted += ack.Accepted
		c.Applied = max(c.Applied, ack.Applied)
		c.Backlog = ack.Backlog
		r.counts[ck] = c
		r.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	var rejected map[uint64]bool
	if len(ack.Rejected) > 0 {
		rejected = make(map[uint64]bool, len(ack.Rejected))
		for _, s := range ack.Rejected {
			rejected[s] = true
		}
	}
	return rejected, nil
}

// countSeen counts n records seen for the route's resource this minute.
func (r *Router) countSeen(route Route, n int) {
	if n == 0 {
		return
	}
	ck := CountKey{Group: route.Group, Resource: route.Resource, Target: SeenTarget, Minute: r.clock.Now().UTC().Truncate(time.Minute)}
	r.mu.Lock()
	c := r.counts[ck]
	c.Seen += n
	r.counts[ck] = c
	r.mu.Unlock()
}

// Flush returns the counters gathered since the last Flush and resets them.
func (r *Router) Flush() map[CountKey]Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	r.counts = make(map[CountKey]Count, len(c))
	return c
}

// Forget is kept for callers of the former acknowledgement cache: the
// Router remembers nothing of a resource's agents, so there is nothing to
// forget when a shadow is replaced.
func (r *Router) Forget(string) {}
