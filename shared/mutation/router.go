package mutation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/clock"
)

// Target names which copy of a resource a mutation is applied to.
type Target string

// The two targets of every resource.
const (
	Live   Target = "live"
	Shadow Target = "shadow"
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
type Ack struct {
	// Through is the highest sequence the agent has durably accepted for the
	// resource (after this batch). Mutations at or below it are done.
	Through uint64
	// Accepted counts the batch's mutations newly accepted (not duplicates).
	Accepted int
	// Applied is the agent's running total of mutations applied for the
	// resource; the difference between two acks is what it applied between
	// them. Backlog is accepted but not yet applied.
	Applied uint64
	Backlog uint64
}

// Applier delivers mutations to one agent.
//
// Contract: Apply sends a batch of one resource's mutations, sorted by Seq,
// and returns the agent's Ack. The agent applies idempotently by Seq: a
// repeated mutation is acknowledged, not applied twice. On error the agent
// may have accepted a prefix of the batch; the Router retries the rest. An
// error wrapping ErrPermanent will not succeed on retry. With an error, the
// Ack reports what the agent accepted before it (zero Ack when unknown).
type Applier interface {
	Apply(ctx context.Context, to Endpoint, resource string, batch []Mutation) (Ack, error)
}

// ErrPermanent marks an Applier error that a retry cannot fix.
var ErrPermanent = errors.New("permanent failure")

// Outcome is what happened to one mutation.
type Outcome struct {
	Index int // position in the Route call's input
	// Err is nil when the mutation is applied to (or already held by) every
	// ready target. Otherwise Retry tells whether a later delivery can succeed.
	Err   error
	Retry bool
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
}

// Router fans mutations out to live and shadow agents.
//
// It is idempotent by sequence: it remembers, per resource and target, the
// highest sequence an agent has acknowledged, and does not resend what is at
// or below it. It counts mutations newly accepted per target per minute.
type Router struct {
	resolver Resolver
	applier  Applier
	clock    clock.Clock
	// Concurrency bounds how many resources are delivered at once.
	Concurrency int

	mu     sync.Mutex
	acked  map[ackKey]uint64
	counts map[CountKey]Count
}

type ackKey struct {
	resource string
	target   Target
	instance string
}

// NewRouter returns a Router. All arguments are required.
func NewRouter(r Resolver, a Applier, c clock.Clock) *Router {
	return &Router{
		resolver:    r,
		applier:     a,
		clock:       c,
		Concurrency: 8,
		acked:       make(map[ackKey]uint64),
		counts:      make(map[CountKey]Count),
	}
}

// Route applies muts and returns one Outcome per input, in input order.
// Mutations of one resource are delivered in Seq order; a batch may mix
// resources and may repeat or reorder mutations.
func (r *Router) Route(ctx context.Context, muts []Mutation) []Outcome {
	out := make([]Outcome, len(muts))
	byRes := make(map[string][]int)
	var order []string
	for i, m := range muts {
		out[i].Index = i
		if _, ok := byRes[m.Resource]; !ok {
			order = append(order, m.Resource)
		}
		byRes[m.Resource] = append(byRes[m.Resource], i)
	}
	sem := make(chan struct{}, max(1, r.Concurrency))
	var wg sync.WaitGroup
	for _, res := range order {
		idx := byRes[res]
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.routeResource(ctx, res, muts, idx, out)
		}()
	}
	wg.Wait()
	return out
}

func (r *Router) routeResource(ctx context.Context, res string, muts []Mutation, idx []int, out []Outcome) {
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
	// Sort this resource's mutations by Seq, dropping repeats within the batch.
	sorted := make([]int, len(idx))
	copy(sorted, idx)
	sort.SliceStable(sorted, func(a, b int) bool { return muts[sorted[a]].Seq < muts[sorted[b]].Seq })
	batch := make([]Mutation, 0, len(sorted))
	for _, i := range sorted {
		if n := len(batch); n > 0 && batch[n-1].Seq == muts[i].Seq {
			continue
		}
		batch = append(batch, muts[i])
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
		through uint64
		err     error
	}
	results := make([]result, len(targets))
	var wg sync.WaitGroup
	for ti, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			through, err := r.deliver(ctx, route, tg.t, tg.ep, batch)
			results[ti] = result{through, err}
		}()
	}
	wg.Wait()
	for _, i := range idx {
		seq := muts[i].Seq
		for ti, tg := range targets {
			if seq <= results[ti].through {
				continue
			}
			err := results[ti].err
			if err == nil {
				err = fmt.Errorf("%s agent %s did not accept seq %d", tg.t, tg.ep.InstanceID, seq)
			}
			out[i].Err = fmt.Errorf("applying %s/%d to %s: %w", res, seq, tg.t, err)
			out[i].Retry = !errors.Is(err, ErrPermanent)
			break
		}
	}
}

// deliver sends what the target has not acknowledged yet and returns the
// highest sequence it holds.
func (r *Router) deliver(ctx context.Context, route Route, t Target, ep Endpoint, batch []Mutation) (uint64, error) {
	key := ackKey{route.Resource, t, ep.InstanceID}
	r.mu.Lock()
	hwm := r.acked[key]
	r.mu.Unlock()
	pending := batch
	for len(pending) > 0 && pending[0].Seq <= hwm {
		pending = pending[1:]
	}
	if len(pending) == 0 {
		return hwm, nil
	}
	// On error the Ack may still report a prefix the agent accepted.
	ack, err := r.applier.Apply(ctx, ep, route.Resource, pending)
	if err != nil && ack == (Ack{}) {
		return hwm, err
	}
	minute := r.clock.Now().UTC().Truncate(time.Minute)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ack.Through > r.acked[key] {
		r.acked[key] = ack.Through
	}
	ck := CountKey{Group: route.Group, Resource: route.Resource, Target: t, Minute: minute}
	c := r.counts[ck]
	c.Accepted += ack.Accepted
	c.Applied = max(c.Applied, ack.Applied)
	c.Backlog = ack.Backlog
	r.counts[ck] = c
	return max(ack.Through, hwm), err
}

// Flush returns the counters gathered since the last Flush and resets them.
func (r *Router) Flush() map[CountKey]Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts
	r.counts = make(map[CountKey]Count, len(c))
	return c
}

// Forget drops what the Router remembers of a resource's agents, e.g. after
// a shadow was replaced and must be delivered to from its snapshot point.
func (r *Router) Forget(resource string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.acked {
		if k.resource == resource {
			delete(r.acked, k)
		}
	}
}
