package handlers_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

// TestShadowBreakerKeepsTheLiveFlowing: a shadow agent that keeps failing
// blocks its shard for Threshold deliveries; then its resource is served
// by the live agent alone until Open passes, when the shadow is tried
// again and, answering, routed to again.
func TestShadowBreakerKeepsTheLiveFlowing(t *testing.T) {
	e := newFanoutEnv(t)
	shA := e.pair(resA, "web", 1)
	breaker := handlers.NewShadowBreaker(e.clock, e.metrics, nil)
	res, err := handlers.NewResolver(e.fleet, e.records, e.groups, e.clock, handlers.ResolverConfig{Breaker: breaker})
	if err != nil {
		t.Fatal(err)
	}
	down := true
	e.agents.Fail = func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
		if down && to.InstanceID == shA {
			return errors.New("connection refused")
		}
		return nil
	}
	h, err := handlers.NewFanout(handlers.FanoutDeps{
		Router: mutation.NewRouter(res, handlers.BreakerApplier{Applier: e.agents, Breaker: breaker}, e.clock), Routes: res,
		History: e.hist, DeadLetters: e.dlq, Clock: e.clock, Metrics: e.metrics,
	}, handlers.FanoutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	deliver := func() int {
		seq++
		ev := kinesisEvent(enc(resA, seq))
		for attempt := 1; attempt <= 10; attempt++ { // Lambda redelivering the failed record
			if resp := h.HandleEvent(invocation(), ev); len(resp.BatchItemFailures) == 0 {
				return attempt
			}
		}
		t.Fatalf("seq %d never went through", seq)
		return 0
	}
	if n := deliver(); n != 4 {
		t.Errorf("the first mutation went through on attempt %d, want 4 (3 failures open the breaker)", n)
	}
	for range 5 {
		if n := deliver(); n != 1 {
			t.Errorf("with the breaker open a mutation took %d attempts", n)
		}
	}
	if e.applied(t, resA, resA) != 6 || e.applied(t, shA, resA) != 0 {
		t.Errorf("live applied %d, shadow %d; want 6 and 0", e.applied(t, resA, resA), e.applied(t, shA, resA))
	}
	if e.metrics.Total("ShadowBreakerOpen") != 1 {
		t.Errorf("ShadowBreakerOpen = %v", e.metrics.Total("ShadowBreakerOpen"))
	}
	// Open passes; the shadow is back: it is tried and served again.
	e.clock.Advance(31 * time.Second)
	down = false
	if n := deliver(); n != 1 {
		t.Errorf("after the breaker's time: %d attempts", n)
	}
	if st, err := e.agents.Sequences(shA, resA); err != nil || st.Accepted != 7 || st.Missing != 6 {
		t.Errorf("the shadow after it answered again: %+v, %v; want seq 7 accepted, 1..6 missing (the reconciler resyncs it)", st, err)
	}
}

func TestShadowBreakerCounting(t *testing.T) {
	e := newFanoutEnv(t)
	b := handlers.NewShadowBreaker(e.clock, nil, nil)
	fail := fmt.Errorf("timeout")
	for _, tc := range []struct {
		err   error
		allow bool
	}{
		{fail, true}, {fail, true}, {nil, true}, // a success resets the count
		{fail, true}, {fmt.Errorf("400: %w", mutation.ErrPermanent), true}, // an answer, even a refusal, resets too
		{fail, true}, {fail, true}, {fail, false},
	} {
		b.Record("i-s", tc.err)
		if got := b.Allow("i-s"); got != tc.allow {
			t.Fatalf("after %v: Allow = %v", tc.err, got)
		}
	}
	if !b.Allow("i-other") || !strings.Contains(fmt.Sprint(b.Allow("i-s")), "false") {
		t.Error("breakers are per instance")
	}
	e.clock.Advance(30 * time.Second)
	if !b.Allow("i-s") {
		t.Error("still open after Open")
	}
}
