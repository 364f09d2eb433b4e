package handlers_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

func TestResolverRoutes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setup      func(e *fanoutEnv, sh string)
		resource   string
		unknown    bool // ErrUnknownResource
		transient  bool // another error
		wantShadow bool
		wantLive   string
	}{
		{name: "live with an active running shadow", wantShadow: true, wantLive: "10.0.1.1:8470"},
		{name: "shadow record launching", setup: func(e *fanoutEnv, _ string) { e.setStatus(t, resA, shadow.Launching) }, wantLive: "10.0.1.1:8470"},
		{name: "no shadow record yet", setup: func(e *fanoutEnv, _ string) { e.deleteRecord(t, resA) }, wantLive: "10.0.1.1:8470"},
		{name: "shadow pending", setup: func(e *fanoutEnv, sh string) { e.fleet.SetState(sh, shadow.Pending) }, wantLive: "10.0.1.1:8470"},
		{name: "shadow gone from EC2", setup: func(e *fanoutEnv, sh string) { e.fleet.SetState(sh, shadow.Terminated) }, wantLive: "10.0.1.1:8470"},
		{name: "not an instance id", resource: "user/7", unknown: true},
		{name: "EC2 does not know it", resource: "i-0123456789abcdef0", unknown: true},
		{name: "a shadow as resource", resource: "i-0shadow00000000001", unknown: true},
		{name: "live stopped", setup: func(e *fanoutEnv, _ string) { e.fleet.SetState(resA, shadow.Stopped) }, unknown: true},
		{name: "live shutting down", setup: func(e *fanoutEnv, _ string) { e.fleet.SetState(resA, shadow.ShuttingDown) }, unknown: true},
		{name: "live pending", setup: func(e *fanoutEnv, _ string) { e.fleet.SetState(resA, shadow.Pending) }, transient: true},
		{name: "group gone", setup: func(e *fanoutEnv, _ string) { e.groups.Reset() }, unknown: true},
		{name: "group enrolled by name only", setup: func(e *fanoutEnv, _ string) {
			e.groups.Put(asg.Group{Name: "web", EnrolledByName: true})
		}, wantShadow: true, wantLive: "10.0.1.1:8470"},
		{name: "group not enrolled", setup: func(e *fanoutEnv, _ string) { e.groups.Put(asg.Group{Name: "web"}) }, unknown: true},
		{name: "auto scaling fails", setup: func(e *fanoutEnv, _ string) {
			e.groups.Fail = func(string, string) error { return errors.New("Throttling") }
		}, transient: true},
		{name: "records fail", setup: func(e *fanoutEnv, _ string) {
			e.records.Fail = func(op string) error {
				if op == "get" {
					return errors.New("ProvisionedThroughputExceeded")
				}
				return nil
			}
		}, transient: true},
		{name: "EC2 fails", setup: func(e *fanoutEnv, _ string) {
			e.fleet.FailDescribe = func([]string) error { return errors.New("RequestLimitExceeded") }
		}, transient: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFanoutEnv(t)
			sh := e.pair(resA, "web", 1)
			if tc.setup != nil {
				tc.setup(e, sh)
			}
			res := tc.resource
			if res == "" {
				res = resA
			}
			r, err := e.res.Resolve(context.Background(), res)
			switch {
			case tc.unknown:
				if !errors.Is(err, mutation.ErrUnknownResource) {
					t.Fatalf("Resolve = %+v, %v; want ErrUnknownResource", r, err)
				}
				return
			case tc.transient:
				if err == nil || errors.Is(err, mutation.ErrUnknownResource) {
					t.Fatalf("Resolve = %+v, %v; want a transient error", r, err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if r.Resource != res || r.Group != "web" || r.Live.InstanceID != res || r.Live.Address != tc.wantLive {
				t.Errorf("route %+v", r)
			}
			if r.ShadowReady != tc.wantShadow || (tc.wantShadow && (r.Shadow.InstanceID != sh || r.Shadow.Address != "10.0.101.1:8470")) {
				t.Errorf("shadow of route %+v, want ready %v", r, tc.wantShadow)
			}
		})
	}
}

func (e *fanoutEnv) setStatus(t *testing.T, live string, s shadow.Status) {
	t.Helper()
	rec, err := e.records.Get(context.Background(), live)
	if err != nil {
		t.Fatal(err)
	}
	rec.Status = s
	if _, err := e.records.Update(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func (e *fanoutEnv) deleteRecord(t *testing.T, live string) {
	t.Helper()
	rec, err := e.records.Get(context.Background(), live)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.records.Delete(context.Background(), live, rec.Version); err != nil {
		t.Fatal(err)
	}
}

func TestResolverCaches(t *testing.T) {
	ctx := context.Background()
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	e.pair(resB, "web", 2)
	gone := "i-0123456789abcdef0"
	e.res.Prime(ctx, []string{resA, resB, resA, gone})
	if e.fleet.Lookups != 1 || e.fleet.LookedUp != 5 {
		t.Fatalf("Prime made %d Lookup calls for %d ids, want 1 call for 3 resources and 2 shadows", e.fleet.Lookups, e.fleet.LookedUp)
	}
	for _, res := range []string{resA, resB, gone} {
		_, _ = e.res.Resolve(ctx, res)
	}
	if e.fleet.Lookups != 1 {
		t.Fatalf("cached routes and unknown resources were looked up again: %d calls", e.fleet.Lookups)
	}
	// A transient error is not cached.
	e.fleet.FailDescribe = func([]string) error { return errors.New("throttled") }
	e.res.Invalidate(resA)
	if _, err := e.res.Resolve(ctx, resA); err == nil {
		t.Fatal("no error with EC2 failing")
	}
	e.fleet.FailDescribe = nil
	if r, err := e.res.Resolve(ctx, resA); err != nil || !r.ShadowReady {
		t.Fatalf("after EC2 recovered: %+v, %v", r, err)
	}
	calls := e.fleet.Lookups
	// The shadow replaced: the cached route holds until the TTL passes.
	e.fleet.SetState("i-0shadow00000000002", shadow.Terminated)
	if r, _ := e.res.Resolve(ctx, resB); !r.ShadowReady || e.fleet.Lookups != calls {
		t.Fatalf("within the TTL: %+v after %d calls", r, e.fleet.Lookups-calls)
	}
	e.clock.Advance(30 * time.Second)
	if r, _ := e.res.Resolve(ctx, resB); r.ShadowReady || e.fleet.Lookups != calls+1 {
		t.Fatalf("after the TTL: %+v after %d calls", r, e.fleet.Lookups-calls)
	}
	// The group's enrollment is cached too, and expires with the TTL.
	e.groups.Put(asg.Group{Name: "web"})
	e.res.Invalidate(resA)
	if _, err := e.res.Resolve(ctx, resA); err != nil {
		t.Fatalf("enrollment within the TTL: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	if _, err := e.res.Resolve(ctx, resA); !errors.Is(err, mutation.ErrUnknownResource) {
		t.Fatalf("un-enrolled group after the TTL: %v", err)
	}
}

func TestResolverAddressOverride(t *testing.T) {
	e := newFanoutEnv(t)
	sh := e.pair(resA, "web", 1)
	res, err := handlers.NewResolver(e.fleet, e.records, e.groups, e.clock, handlers.ResolverConfig{
		AgentPort: 9000, Addresses: map[string]string{sh: "127.0.0.1:41001"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := res.Resolve(context.Background(), resA)
	if err != nil || r.Live.Address != "10.0.1.1:9000" || r.Shadow.Address != "127.0.0.1:41001" {
		t.Errorf("route %+v, %v", r, err)
	}
	if _, err := handlers.NewResolver(nil, nil, nil, nil, handlers.ResolverConfig{AgentPort: -1}); !errors.Is(err, shadow.ErrInvalid) {
		t.Errorf("NewResolver with nothing: %v", err)
	}
}

// An instance EC2 does not show may have just launched (DescribeInstances
// is eventually consistent): within the grace its mutations are retried,
// not dead-lettered; once EC2 shows it, it routes; an id EC2 never shows
// is unknown after the grace.
func TestResolverRetriesAnInstanceEC2DoesNotShowYet(t *testing.T) {
	e := newFanoutEnv(t)
	res, err := handlers.NewResolver(e.fleet, e.records, e.groups, e.clock, handlers.ResolverConfig{UnknownGrace: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const late, never = "i-0late00000000001", "i-0never0000000001"
	for _, id := range []string{late, never} {
		if _, err := res.Resolve(ctx, id); !errors.Is(err, handlers.ErrNotYetVisible) || errors.Is(err, mutation.ErrUnknownResource) {
			t.Fatalf("Resolve(%s) at first = %v, want a transient ErrNotYetVisible", id, err)
		}
	}
	e.clock.Advance(90 * time.Second)
	e.pair(late, "web", 1) // EC2 shows it now
	if r, err := res.Resolve(ctx, late); err != nil || r.Live.InstanceID != late {
		t.Fatalf("Resolve(%s) once EC2 shows it = %+v, %v", late, r, err)
	}
	if _, err := res.Resolve(ctx, never); !errors.Is(err, handlers.ErrNotYetVisible) {
		t.Fatalf("Resolve(%s) within the grace = %v", never, err)
	}
	e.clock.Advance(31 * time.Second)
	if _, err := res.Resolve(ctx, never); !errors.Is(err, mutation.ErrUnknownResource) {
		t.Fatalf("Resolve(%s) after the grace = %v, want ErrUnknownResource", never, err)
	}
}
