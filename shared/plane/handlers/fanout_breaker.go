package handlers

import (
	"context"
	"errors"
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

// BreakerApplier records every delivery's result in a ShadowBreaker.
type BreakerApplier struct {
	Applier mutation.Applier
	Breaker *ShadowBreaker
}

var _ mutation.Applier = BreakerApplier{}

// Apply implements mutation.Applier.
func (a BreakerApplier) Apply(ctx context.Context, to mutation.Endpoint, resource string, batch []mutation.Mutation) (mutation.Ack, error) {
	ack, err := a.Applier.Apply(ctx, to, resource, batch)
	if ctx.Err() == nil { // the invocation running out of time says nothing of the agent
		a.Breaker.Record(to.InstanceID, err)
	}
	return ack, err
}
