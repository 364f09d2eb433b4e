package shadow_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// The launch names the shadow type's architecture (which picks the launch
// template, hence the AMI) and whether it is burstable (standard credits).
func TestLaunchSpecCarriesArchitectureAndCredits(t *testing.T) {
	for _, tc := range []struct {
		live, wantType, wantArch string
		excludeBurstable         bool
		wantBurstable            bool
	}{
		{"m7g.xlarge", "t4g.small", "arm64", false, true},
		{"m5.xlarge", "t3a.small", "x86_64", false, true},
		{"m5.xlarge", "", "x86_64", true, false},
		{"m7g.xlarge", "", "arm64", true, false},
	} {
		t.Run(fmt.Sprintf("%s exclude burstable %v", tc.live, tc.excludeBurstable), func(t *testing.T) {
			fr := catalog.DefaultFractions()
			fr.ExcludeBurstable = tc.excludeBurstable
			e := newEnvFractions(t, 10, fr)
			var spec shadow.LaunchSpec
			e.fleet.FailLaunch = func(s shadow.LaunchSpec) error { spec = s; return nil }
			live := e.addLive("i-live1", "us-east-1a")
			live.Type = tc.live
			e.fleet.Add(live)
			rec, err := e.m.Ensure(context.Background(), live)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantType != "" && rec.ShadowType != tc.wantType {
				t.Errorf("shadow type %s, want %s", rec.ShadowType, tc.wantType)
			}
			if spec.Arch != tc.wantArch || spec.Burstable != tc.wantBurstable || spec.InstanceType != rec.ShadowType {
				t.Errorf("spec %s arch %q burstable %v, want %q %v", spec.InstanceType, spec.Arch, spec.Burstable, tc.wantArch, tc.wantBurstable)
			}
		})
	}
}

// A shadow that keeps dying is replaced at once the first time, then only
// after a backoff that doubles; a shadow whose last replacement is old
// (it proved healthy) is replaced at once again.
func TestReplaceBacksOff(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	live := e.addLive("i-live1", "us-east-1a")
	rec, err := e.m.Ensure(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	die := func() { e.fleet.SetState(rec.ShadowID, shadow.Terminated) }
	steps := []struct {
		advance time.Duration
		want    error
	}{
		{0, nil},                              // first replacement: at once
		{0, shadow.ErrBackoff},                // dies at boot again: wait 1 min
		{59 * time.Second, shadow.ErrBackoff}, // still within it
		{time.Second, nil},                    // 1 min after: replaced
		{time.Minute, shadow.ErrBackoff},      // the next wait is 2 min
		{time.Minute, nil},
		{3 * time.Minute, shadow.ErrBackoff}, // then 4 min
		{time.Minute, nil},
		{3 * time.Hour, nil}, // healthy for hours: the streak is over
		{0, shadow.ErrBackoff},
	}
	for i, s := range steps {
		die()
		e.clock.Advance(s.advance)
		got, err := e.m.Replace(ctx, live.ID, "test")
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d (+%s): err = %v, want %v", i, s.advance, err, s.want)
		}
		if err == nil {
			rec = got
		}
	}
	if rec.Generation != 6 {
		t.Errorf("generation %d after 5 replacements, want 6", rec.Generation)
	}
	if e.metrics.Total("ReplacementsDeferred") != 5 {
		t.Errorf("ReplacementsDeferred = %v, want 5", e.metrics.Total("ReplacementsDeferred"))
	}
}

// A group's replacements stop at its hourly cap, with a metric and an audit
// record saying why; the next hour they resume.
func TestReplaceCapPerGroupPerHour(t *testing.T) {
	e := newEnv(t, 50)
	ctx := context.Background()
	const limit = shadow.DefaultReplacementsPerHour
	var lives []string
	for i := range limit + 2 {
		l := e.addLive(fmt.Sprintf("i-live%03d", i), "us-east-1a")
		if _, err := e.m.Ensure(ctx, l); err != nil {
			t.Fatal(err)
		}
		lives = append(lives, l.ID)
	}
	var halted []string
	for _, id := range lives {
		_, err := e.m.Replace(ctx, id, "shadow instance is terminated")
		switch {
		case errors.Is(err, shadow.ErrReplaceLimit):
			halted = append(halted, id)
		case err != nil:
			t.Fatal(err)
		}
	}
	if len(halted) != 2 {
		t.Fatalf("%d replacements halted, want 2 (cap %d)", len(halted), limit)
	}
	if got := e.metrics.Total("ReplacementsHalted"); got != 2 {
		t.Errorf("ReplacementsHalted = %v, want 2", got)
	}
	halts := e.records.Halts()
	if len(halts) != 2 || halts[0].LiveID != halted[0] || halts[0].Limit != limit || halts[0].Wanted != "shadow instance is terminated" || halts[0].Cause == "" {
		t.Errorf("halt audit %+v", halts)
	}
	// A retry within the hour writes no second audit record.
	if _, err := e.m.Replace(ctx, halted[0], "again"); !errors.Is(err, shadow.ErrReplaceLimit) {
		t.Fatalf("retry within the hour: %v", err)
	}
	if n := len(e.records.Halts()); n != 2 {
		t.Errorf("%d halt records after a retry, want 2", n)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.m.Replace(ctx, halted[0], "next hour"); err != nil {
		t.Fatalf("next hour: %v", err)
	}
}

// Concurrent Ensures in one AZ never hold more shadows than its pool's
// capacity: the slot is taken atomically, not counted from a list.
func TestEnsureConcurrentRespectsPoolCapacity(t *testing.T) {
	e := newEnv(t, 5)
	ctx := context.Background()
	var lives []shadow.Instance
	for i := range 20 {
		lives = append(lives, e.addLive(fmt.Sprintf("i-c%02d", i), "us-east-1a"))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	full := 0
	for _, l := range lives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.m.Ensure(ctx, l)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, shadow.ErrPoolFull):
				full++
			case err != nil:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	recs, _ := e.records.List(ctx)
	if len(recs) != 5 || full != 15 || e.fleet.Launches != 5 {
		t.Fatalf("%d records, %d refused, %d launches: want 5, 15, 5", len(recs), full, e.fleet.Launches)
	}
	// Retiring frees the slot.
	e.fleet.SetState(recs[0].LiveID, shadow.Terminated)
	if err := e.m.Retire(ctx, recs[0].LiveID); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.records.SlotsUsed(ctx, "us-east-1a"); n != 4 {
		t.Fatalf("%d slots used after a retirement, want 4", n)
	}
}

// A slot count a crash left wrong is corrected to the records that hold
// one; a count that moved since it was read is left alone.
func TestCorrectSlots(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	for i := range 3 {
		if _, err := e.m.Ensure(ctx, e.addLive(fmt.Sprintf("i-s%d", i), "us-east-1a")); err != nil {
			t.Fatal(err)
		}
	}
	// Two slots leaked (a claim that crashed after its slot).
	_ = e.records.AcquireSlot(ctx, "us-east-1a", 10)
	_ = e.records.AcquireSlot(ctx, "us-east-1a", 10)
	before, err := e.m.SlotCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := e.records.List(ctx)
	if fixed := e.m.CorrectSlots(ctx, before, recs); fmt.Sprint(fixed) != "[us-east-1a]" {
		t.Fatalf("corrected %v, want [us-east-1a]", fixed)
	}
	if n, _ := e.records.SlotsUsed(ctx, "us-east-1a"); n != 3 {
		t.Fatalf("slots %d after correction, want 3", n)
	}
	// Read, then a claim moves the count: no correction from the stale read.
	before, _ = e.m.SlotCounts(ctx)
	_ = e.records.AcquireSlot(ctx, "us-east-1a", 10)
	if fixed := e.m.CorrectSlots(ctx, before, recs[:1]); len(fixed) != 0 {
		t.Fatalf("corrected %v from a stale read", fixed)
	}
}

// Execute stops starting actions at StopAt and reports the rest deferred
// (ErrDeadline), not failed.
func TestExecuteStopsAtDeadline(t *testing.T) {
	e := newEnv(t, 100)
	ctx := context.Background()
	var lives []shadow.Instance
	for i := range 30 {
		lives = append(lives, e.addLive(fmt.Sprintf("i-d%02d", i), "us-east-1a"))
	}
	// Each launch takes a (fake) second.
	e.fleet.FailLaunch = func(shadow.LaunchSpec) error { e.clock.Advance(time.Second); return nil }
	acts := shadow.Reconcile(shadow.Observed{Lives: lives, Now: e.clock.Now()}, shadow.DefaultReconcileOptions())
	res := e.m.ExecuteWith(ctx, acts, lives, shadow.ExecuteOptions{Concurrency: 1, StopAt: e.clock.Now().Add(10 * time.Second)})
	done, deferred := 0, 0
	for _, r := range res {
		switch {
		case r.Err == nil:
			done++
		case errors.Is(r.Err, shadow.ErrDeadline):
			deferred++
		default:
			t.Errorf("%+v", r)
		}
	}
	if done != 10 || deferred != 20 || shadow.Failed(res) != nil {
		t.Fatalf("done %d deferred %d (failed: %v), want 10 and 20, no failure", done, deferred, shadow.Failed(res))
	}
}
