package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// ShadowBreaker keeps a shadow whose agent keeps failing from blocking its
// live instance. The Router fails a mutation unless every ready target
// took it, so a shadow agent that is down would hold its live instance's
// mutations (and every resource after them on the shard) until the
// reconciler replaced it: the live agent would stop applying, and the
// forecaster would read that as a fall in demand. After Threshold
// consecutive failed deliveries to an agent, the breaker opens for Open:
// the Resolver routes that shadow's resource to its live agent only. After
// Open one delivery is tried again; a success closes the breaker. The
// shadow misses what was delivered meanwhile; its agent skips the gap
// after its gap wait, its digest then differs from its live's, and the
// reconciler resyncs it from a live snapshot (the path of every new or
// replaced shadow).
type ShadowBreaker struct {
	// Threshold of consecutive failures (3 when 0) and how long the
	// breaker stays open (30 s when 0).
	Threshold int
	Open      time.Duration

	clock   clock.Clock
	metrics metrics.Sink
	log     *slog.Logger
	mu      sync.Mutex
	state   map[string]*breakerState // by instance id
}

type breakerState struct {
	fails     int
	openUntil time.Time
}

// NewShadowBreaker returns a breaker; sink and log may be nil.
func NewShadowBreaker(c clock.Clock, sink metrics.Sink, log *slog.Logger) *ShadowBreaker {
	if sink == nil {
		sink = metrics.Discard{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ShadowBreaker{clock: c, metrics: sink, log: log, state: map[string]*breakerState{}}
}

func (b *ShadowBreaker) threshold() int {
	if b.Threshold <= 0 {
		return 3
	}
	return b.Threshold
}

func (b *ShadowBreaker) openFor() time.Duration {
	if b.Open <= 0 {
		return 30 * time.Second
	}
	return b.Open
}

// Allow reports whether deliveries to the instance's agent should be
// tried: false while its breaker is open.
func (b *ShadowBreaker) Allow(instance string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.state[instance]
	return !ok || !b.clock.Now().Before(s.openUntil)
}

// Record notes a delivery's result. A permanent error (a refused batch)
// says the agent answers: it does not count.
func (b *ShadowBreaker) Record(instance string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil || errors.Is(err, mutation.ErrPermanent) {
		if s, ok := b.state[instance]; ok && s.fails >= b.threshold() {
			b.log.Info("agent answers again; its breaker is closed", "instance", instance)
		}
		delete(b.state, instance)
		return
	}
	s, ok := b.state[instance]
	if !ok {
		s = &breakerState{}
		b.state[instance] = s
	}
	s.fails++
	if s.fails >= b.threshold() {
		s.openUntil = b.clock.Now().Add(b.openFor())
		b.metrics.Add("ShadowBreakerOpen", metrics.Count, 1)
		b.log.Warn("agent keeps failing; its breaker is open: a shadow here is skipped, its live instance served alone, the reconciler resyncs it",
			"instance", instance, "failures", s.fails, "open_for", b.openFor().String(), "err", err)
	}
}

// ErrLiveUnavailable is the error of a delivery to a live agent whose
// LiveBreaker is open. It is permanent: the fan-out dead-letters the
// mutations (reason live-unavailable) instead of holding the shard.
var ErrLiveUnavailable = fmt.Errorf("%w: the live agent kept failing and its breaker is open", mutation.ErrPermanent)

// LiveBreaker keeps a live agent that keeps failing from holding its shard
// (every resource on it) for as long as the stream keeps records. The
// fan-out retries a failed delivery, in order, so an agent down for good
// would block its shard until the mapping's maximum record age. After
// Threshold consecutive failed deliveries spanning at least After, the
// breaker opens for Open: deliveries to that live agent are not tried,
// they fail with ErrLiveUnavailable, and the fan-out dead-letters the
// mutations with the reason live-unavailable (each with its data: nothing
// is lost, an operator redrives them once the agent is back; the
// accounting counts them dead-lettered). After Open one delivery is tried
// again; a success closes the breaker, a failure reopens it. The failed
// delivery that opens it is dead-lettered too (not retried once more). An
// outage
// shorter than After (a restart, a deploy) is retried and loses nothing.
type LiveBreaker struct {
	// Threshold of consecutive failures (5 when 0), how long they must
	// have lasted (10 minutes when 0) and how long the breaker stays open
	// before the next try (1 minute when 0).
	Threshold int
	After     time.Duration
	Open      time.Duration

	clock   clock.Clock
	metrics metrics.Sink
	log     *slog.Logger
	mu      sync.Mutex
	state   map[string]*liveState
}

type liveState struct {
	fails     int
	since     time.Time // the first failure of the streak
	openUntil time.Time
}

// NewLiveBreaker returns a breaker; sink and log may be nil.
func NewLiveBreaker(c clock.Clock, sink metrics.Sink, log *slog.Logger) *LiveBreaker {
	if sink == nil {
		sink = metrics.Discard{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LiveBreaker{clock: c, metrics: sink, log: log, state: map[string]*liveState{}}
}

func (b *LiveBreaker) limits() (int, time.Duration, time.Duration) {
	th, after, open := b.Threshold, b.After, b.Open
	if th <= 0 {
		th = 5
	}
	if after <= 0 {
		after = 10 * time.Minute
	}
	if open <= 0 {
		open = time.Minute
	}
	return th, after, open
}

// Allow reports whether a delivery to the live agent should be tried:
// false while its breaker is open.
func (b *LiveBreaker) Allow(instance string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.state[instance]
	return !ok || !b.clock.Now().Before(s.openUntil)
}

// Record notes a delivery's result. A permanent error (a refused batch)
// says the agent answers: it closes the breaker as a success does.
func (b *LiveBreaker) Record(instance string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	if err == nil || errors.Is(err, mutation.ErrPermanent) {
		if s, ok := b.state[instance]; ok && !s.openUntil.IsZero() {
			b.log.Info("live agent answers again; its breaker is closed", "instance", instance, "failing_for", now.Sub(s.since).String())
		}
		delete(b.state, instance)
		return
	}
	s, ok := b.state[instance]
	if !ok {
		s = &liveState{since: now}
		b.state[instance] = s
	}
	s.fails++
	th, after, open := b.limits()
	if s.fails >= th && now.Sub(s.since) >= after {
		s.openUntil = now.Add(open)
		b.metrics.Add("LiveBreakerOpen", metrics.Count, 1)
		b.log.Warn("live agent keeps failing; its breaker is open: its mutations are dead-lettered (live-unavailable) instead of holding the shard",
			"instance", instance, "failures", s.fails, "failing_for", now.Sub(s.since).String(), "open_for", open.String(), "err", err)
	}
}

// BreakerApplier records every delivery's result in a ShadowBreaker and,
// for a live agent (the endpoint is the resource itself: a resource is its
// live instance's id), in a LiveBreaker, and refuses deliveries to a live
// agent whose breaker is open (ErrLiveUnavailable). Either breaker may be
// nil.
type BreakerApplier struct {
	Applier mutation.Applier
	Breaker *ShadowBreaker
	Live    *LiveBreaker
}

var _ mutation.Applier = BreakerApplier{}

// Apply implements mutation.Applier.
func (a BreakerApplier) Apply(ctx context.Context, to mutation.Endpoint, resource string, batch []mutation.Mutation) (mutation.Ack, error) {
	live := a.Live != nil && to.InstanceID == resource
	if live && !a.Live.Allow(to.InstanceID) {
		return mutation.Ack{}, fmt.Errorf("delivering %d mutations of %s: %w", len(batch), resource, ErrLiveUnavailable)
	}
	ack, err := a.Applier.Apply(ctx, to, resource, batch)
	if ctx.Err() == nil { // the invocation running out of time says nothing of the agent
		if a.Breaker != nil {
			a.Breaker.Record(to.InstanceID, err)
		}
		if live {
			a.Live.Record(to.InstanceID, err)
			if err != nil && !a.Live.Allow(to.InstanceID) { // this failure opened it
				err = fmt.Errorf("delivering %d mutations of %s: %w (last failure: %w)", len(batch), resource, ErrLiveUnavailable, err)
			}
		}
	}
	return ack, err
}
