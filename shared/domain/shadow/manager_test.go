package shadow_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

const stack = "shadowscale-test"

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// env bundles a Manager with its in-memory adapters and a fake clock.
type env struct {
	m       *shadow.Manager
	fleet   *memory.Fleet
	records *memory.Records
	agents  *memory.Agents
	clock   *clock.Fake
	metrics *metrics.Recorder
}

var subnets = map[string]string{
	"subnet-a1": "us-east-1a", "subnet-a2": "us-east-1a",
	"subnet-b1":     "us-east-1b",
	"subnet-live-a": "us-east-1a", "subnet-live-b": "us-east-1b",
}

func pools(capacity int) shadow.Pools {
	return shadow.Pools{
		"us-east-1a": {Subnets: []string{"subnet-a1", "subnet-a2"}, Capacity: capacity},
		"us-east-1b": {Subnets: []string{"subnet-b1"}, Capacity: capacity},
	}
}

func newEnv(t testing.TB, capacity int) *env {
	t.Helper()
	return newEnvFractions(t, capacity, catalog.DefaultFractions())
}

func newEnvFractions(t testing.TB, capacity int, fr catalog.Fractions) *env {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{clock: clock.NewFake(t0), records: memory.NewRecords(), agents: memory.NewAgents(), metrics: metrics.NewRecorder()}
	e.fleet = memory.NewFleet(stack, e.clock, subnets)
	e.m, err = shadow.NewManager(shadow.Config{
		Stack: stack, Pools: pools(capacity), Fractions: fr,
		LaunchTimeout: 5 * time.Minute, AgentPort: 8470,
	}, shadow.Deps{Fleet: e.fleet, Records: e.records, Agents: e.agents, Catalog: cat, Clock: e.clock, Metrics: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) addLive(id, az string) shadow.Instance {
	sub := "subnet-live-a"
	if az == "us-east-1b" {
		sub = "subnet-live-b"
	}
	l := shadow.Instance{ID: id, Type: "m7g.xlarge", AZ: az, SubnetID: sub, PrivateIP: "10.0.0." + id[len(id)-1:], Group: "web", State: shadow.Running, LaunchedAt: e.clock.Now()}
	e.fleet.Add(l)
	return l
}

func (e *env) shadowsOf(t *testing.T, live string) []shadow.Instance {
	t.Helper()
	s, err := e.fleet.Shadows(context.Background(), live)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEnsureCreatesOneShadowInTheLiveAZ(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1b")
	rec, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != shadow.Active || rec.ShadowID == "" || rec.ShadowType != "t4g.small" || rec.Generation != 1 {
		t.Fatalf("record = %+v", rec)
	}
	sh, ok := e.fleet.Get(rec.ShadowID)
	if !ok {
		t.Fatal("shadow instance missing")
	}
	if sh.AZ != "us-east-1b" || sh.SubnetID != "subnet-b1" || sh.Type != "t4g.small" {
		t.Fatalf("shadow placed %s/%s as %s", sh.AZ, sh.SubnetID, sh.Type)
	}
	want := map[string]string{shadow.TagRole: "shadow", shadow.TagLive: "i-live1", shadow.TagGroup: "web", shadow.TagStack: stack, shadow.TagGeneration: "1"}
	for k, v := range want {
		if sh.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, sh.Tags[k], v)
		}
	}
}

func TestEnsureIsIdempotent(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	first, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := e.m.Ensure(ctx, live)
		if err != nil {
			t.Fatal(err)
		}
		if again.ShadowID != first.ShadowID {
			t.Fatalf("repeat Ensure gave shadow %s, first gave %s", again.ShadowID, first.ShadowID)
		}
	}
	if n := len(e.shadowsOf(t, "i-live1")); n != 1 || e.fleet.Launches != 1 {
		t.Fatalf("%d shadows, %d launches after repeated Ensure; want 1 and 1", n, e.fleet.Launches)
	}
}

func TestEnsureConcurrentCallsLaunchOnce(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	lives := []shadow.Instance{e.addLive("i-live1", "us-east-1a"), e.addLive("i-live2", "us-east-1b")}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.m.Ensure(ctx, lives[i%2]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, l := range lives {
		if n := len(e.shadowsOf(t, l.ID)); n != 1 {
			t.Fatalf("%s has %d shadows after concurrent Ensure, want 1", l.ID, n)
		}
	}
	if e.fleet.Launches != 2 {
		t.Fatalf("%d launches, want 2", e.fleet.Launches)
	}
}

// Property: whatever the mix of AZs, pools and order, a shadow is never
// placed outside its live instance's AZ, and never beyond a pool's capacity.
func TestPlacementPropertyNeverAnotherAZ(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	azs := []string{"us-east-1a", "us-east-1b"}
	for trial := range 50 {
		capacity := 1 + rng.IntN(5)
		e := newEnv(t, capacity)
		ctx := context.Background()
		placed := map[string]int{}
		for i := range 12 {
			az := azs[rng.IntN(2)]
			live := e.addLive(fmt.Sprintf("i-t%d-%d", trial, i), az)
			rec, err := e.m.Ensure(ctx, live)
			if errors.Is(err, shadow.ErrPoolFull) {
				if placed[az] < capacity {
					t.Fatalf("pool %s reported full with %d of %d used", az, placed[az], capacity)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			sh, _ := e.fleet.Get(rec.ShadowID)
			if sh.AZ != live.AZ || subnets[sh.SubnetID] != live.AZ {
				t.Fatalf("trial %d: live in %s got a shadow in %s (subnet %s)", trial, live.AZ, sh.AZ, sh.SubnetID)
			}
			placed[az]++
			if placed[az] > capacity {
				t.Fatalf("pool %s holds %d shadows, capacity %d", az, placed[az], capacity)
			}
		}
	}
}

func TestEnsureErrors(t *testing.T) {
	tests := []struct {
		name       string
		live       shadow.Instance
		capacity   int
		prefill    int
		wantErr    error
		wantMetric string
	}{
		{name: "instance is a shadow", live: shadow.Instance{ID: "i-s", Type: "t4g.small", AZ: "us-east-1a", Group: "web", Tags: map[string]string{shadow.TagRole: "shadow"}}, capacity: 5, wantErr: shadow.ErrIsShadow},
		{name: "unknown type", live: shadow.Instance{ID: "i-x", Type: "zz9.huge", AZ: "us-east-1a", Group: "web"}, capacity: 5, wantErr: catalog.ErrUnknownType},
		{name: "no pool in AZ", live: shadow.Instance{ID: "i-x", Type: "m7g.xlarge", AZ: "us-east-1c", Group: "web"}, capacity: 5, wantErr: shadow.ErrNoPool},
		{name: "pool full", live: shadow.Instance{ID: "i-x", Type: "m7g.xlarge", AZ: "us-east-1a", Group: "web"}, capacity: 1, prefill: 1, wantErr: shadow.ErrPoolFull, wantMetric: "PoolFull"},
		{name: "missing fields", live: shadow.Instance{ID: "i-x"}, capacity: 5, wantErr: shadow.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.capacity)
			ctx := context.Background()
			for i := range tc.prefill {
				if _, err := e.m.Ensure(ctx, e.addLive(fmt.Sprintf("i-pre%d", i), "us-east-1a")); err != nil {
					t.Fatal(err)
				}
			}
			launches := e.fleet.Launches
			_, err := e.m.Ensure(ctx, tc.live)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if e.fleet.Launches != launches {
				t.Fatal("a failed Ensure launched an instance")
			}
			if tc.wantMetric != "" && e.metrics.Total(tc.wantMetric) != 1 {
				t.Fatalf("metric %s = %v, want 1", tc.wantMetric, e.metrics.Total(tc.wantMetric))
			}
		})
	}
}

func TestEnsureAfterFailedLaunch(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	e.fleet.FailLaunch = func(shadow.LaunchSpec) error { return errors.New("InsufficientInstanceCapacity") }
	if _, err := e.m.Ensure(ctx, live); err == nil {
		t.Fatal("Ensure succeeded with launches failing")
	}
	e.fleet.FailLaunch = nil
	// Within the launch timeout the claim stands: no second launch yet.
	rec, err := e.m.Ensure(ctx, live)
	if err != nil || rec.Status != shadow.Launching || e.fleet.Launches != 0 {
		t.Fatalf("Ensure within timeout: %+v, %v, %d launches", rec, err, e.fleet.Launches)
	}
	e.clock.Advance(6 * time.Minute)
	rec, err = e.m.Ensure(ctx, live)
	if err != nil || rec.Status != shadow.Active || e.fleet.Launches != 1 {
		t.Fatalf("Ensure after timeout: %+v, %v, %d launches", rec, err, e.fleet.Launches)
	}
}

func TestEnsureAdoptsAnInstanceLaunchedBeforeACrash(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	// A previous caller claimed the record and launched, then crashed.
	rec, err := e.records.Create(ctx, shadow.Record{LiveID: live.ID, Group: "web", AZ: live.AZ, LiveType: live.Type, ShadowType: "t4g.small", SubnetID: "subnet-a1", Status: shadow.Launching, Generation: 1, UpdatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := e.fleet.Launch(ctx, shadow.LaunchSpec{SubnetID: "subnet-a1", InstanceType: "t4g.small", Tags: e.m.Tags(live.ID, "web", rec.Generation)})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	got, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	if got.ShadowID != orphan.ID || e.fleet.Launches != 1 {
		t.Fatalf("Ensure launched again instead of adopting %s: got %s, %d launches", orphan.ID, got.ShadowID, e.fleet.Launches)
	}
}

func TestRetire(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	rec, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	e.fleet.SetState(live.ID, shadow.Terminated)
	if err := e.m.Retire(ctx, live.ID); err != nil {
		t.Fatal(err)
	}
	if sh, _ := e.fleet.Get(rec.ShadowID); sh.State != shadow.Terminated {
		t.Fatalf("shadow state %s after Retire", sh.State)
	}
	if _, err := e.records.Get(ctx, live.ID); !errors.Is(err, shadow.ErrNotFound) {
		t.Fatalf("record still there: %v", err)
	}
	// Retiring again, or an instance never seen, is a no-op.
	for _, id := range []string{live.ID, "i-never"} {
		if err := e.m.Retire(ctx, id); err != nil {
			t.Fatalf("Retire(%s): %v", id, err)
		}
	}
}

func TestReplace(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	old, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	e.fleet.SetState(old.ShadowID, shadow.Terminated) // killed out of band
	rec, err := e.m.Replace(ctx, live.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	if rec.ShadowID == old.ShadowID || rec.Generation != 2 || rec.Status != shadow.Active || !rec.SyncedAt.IsZero() {
		t.Fatalf("replacement record %+v", rec)
	}
	if n := len(e.shadowsOf(t, live.ID)); n != 1 {
		t.Fatalf("%d live shadows after Replace, want 1", n)
	}
}

// A record stuck launching is taken over by Replace, not replaced: the
// same generation, its instance adopted when the stuck launch made one,
// with no backoff and no streak (no shadow failed). Its caller judged the
// launch stuck by its own timeout (the reconciler's option), which may be
// shorter than the Manager's: Replace does not judge again.
func TestReplaceFinishesAStuckLaunch(t *testing.T) {
	tests := []struct {
		name         string
		generation   int
		replacements int // the streak: 5 would back off 16 minutes
		made         bool
		after        time.Duration
		wantStatus   shadow.Status
		wantLaunches int // by Replace
	}{
		{"its instance exists: adopted", 1, 0, true, 10 * time.Minute, shadow.Active, 0},
		{"no instance: launched in the same generation, no backoff", 2, 5, false, 6 * time.Minute, shadow.Active, 1},
		{"within the Manager's launch timeout: taken over all the same", 1, 0, false, time.Minute, shadow.Active, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 10)
			ctx := context.Background()
			live := e.addLive("i-live1", "us-east-1a")
			claim := shadow.Record{LiveID: live.ID, Group: "web", AZ: live.AZ, LiveType: live.Type, ShadowType: "t4g.small", SubnetID: "subnet-a1",
				Status: shadow.Launching, Generation: tc.generation, Replacements: tc.replacements, ReplacedAt: t0, UpdatedAt: t0}
			if _, err := e.records.Create(ctx, claim); err != nil {
				t.Fatal(err)
			}
			var made shadow.Instance
			if tc.made {
				var err error
				if made, err = e.fleet.Launch(ctx, shadow.LaunchSpec{SubnetID: "subnet-a1", InstanceType: "t4g.small", Tags: e.m.Tags(live.ID, "web", tc.generation)}); err != nil {
					t.Fatal(err)
				}
			}
			before := e.fleet.Launches
			e.clock.Advance(tc.after)
			got, err := e.m.Replace(ctx, live.ID, "launch stuck")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || got.Generation != tc.generation || got.Replacements != tc.replacements || e.fleet.Launches-before != tc.wantLaunches {
				t.Fatalf("record %+v after %d launches: want %s, generation %d, streak %d, %d launches", got, e.fleet.Launches-before, tc.wantStatus, tc.generation, tc.replacements, tc.wantLaunches)
			}
			if tc.made && got.ShadowID != made.ID {
				t.Errorf("shadow %s, want the stuck launch's %s adopted", got.ShadowID, made.ID)
			}
			want := 0
			if got.Status == shadow.Active || tc.made {
				want = 1
			}
			if n := len(e.shadowsOf(t, live.ID)); n != want {
				t.Errorf("%d shadows of the live, want %d", n, want)
			}
		})
	}
}

// The plane never terminates an instance that is not its own shadow, even
// when a forged record or event names one.
func TestRefusesToTerminateWhatItDoesNotOwn(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	victim := e.addLive("i-live1", "us-east-1a")
	other := e.addLive("i-live2", "us-east-1a")
	// A shadow of another stack.
	foreign := shadow.Instance{ID: "i-foreign", Type: "t4g.small", AZ: "us-east-1a", State: shadow.Running, Tags: map[string]string{shadow.TagRole: "shadow", shadow.TagStack: "someone-else", shadow.TagLive: "i-live2"}}
	e.fleet.Add(foreign)
	// Our shadow of i-live2, named as if it were i-live1's.
	rec2, err := e.m.Ensure(ctx, other)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		do   func() error
	}{
		{"orphan delete of a live instance", func() error { return e.m.TerminateOrphan(ctx, victim.ID) }},
		{"orphan delete of another stack's shadow", func() error { return e.m.TerminateOrphan(ctx, foreign.ID) }},
		{"retire through a forged record", func() error {
			if _, err := e.records.Create(ctx, shadow.Record{LiveID: "i-gone", ShadowID: victim.ID, Status: shadow.Active, AZ: "us-east-1a"}); err != nil {
				return err
			}
			return e.m.Retire(ctx, "i-gone")
		}},
		{"retire through a record naming another live's shadow", func() error {
			if _, err := e.records.Create(ctx, shadow.Record{LiveID: "i-gone2", ShadowID: rec2.ShadowID, Status: shadow.Active, AZ: "us-east-1a"}); err != nil {
				return err
			}
			return e.m.Retire(ctx, "i-gone2")
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, shadow.ErrNotOwned) {
				t.Fatalf("err = %v, want ErrNotOwned", err)
			}
			if got := e.metrics.Total("RefusedNotOwned"); got != float64(i+1) {
				t.Fatalf("RefusedNotOwned = %v, want %d", got, i+1)
			}
		})
	}
	for _, id := range []string{victim.ID, other.ID, foreign.ID, rec2.ShadowID} {
		if i, _ := e.fleet.Get(id); i.State != shadow.Running {
			t.Fatalf("%s is %s, want running", id, i.State)
		}
	}
	// The adapter refuses too, on its own.
	if err := e.fleet.Terminate(ctx, victim.ID); !errors.Is(err, shadow.ErrNotOwned) {
		t.Fatalf("fleet Terminate of a live instance: %v", err)
	}
}

func TestResyncMakesDigestsEqual(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	rec, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	liveEP := mutation.Endpoint{InstanceID: live.ID}
	for s := uint64(1); s <= 5; s++ {
		m := mutation.Mutation{V: 1, Resource: live.ID, Seq: s, Op: mutation.OpPut, Key: fmt.Sprint(s), Value: []byte("v"), ProducedAt: t0}
		if _, err := e.agents.Apply(ctx, liveEP, live.ID, []mutation.Mutation{m}); err != nil {
			t.Fatal(err)
		}
	}
	rec, err = e.m.Resync(ctx, live.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SyncedAt.IsZero() {
		t.Fatal("SyncedAt not recorded")
	}
	dl, _ := e.agents.Digest(live.ID, live.ID)
	ds, _ := e.agents.Digest(rec.ShadowID, live.ID)
	if dl != ds {
		t.Fatal("digests differ after resync")
	}
}
