package control

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

// model: shadows with a quarter of their live instance's CPU, mutations a
// third of the live work, all sampled: they saturate at 75% live
// utilization.
var model = ShadowModel{CPU: 0.25, WriteShare: 1.0 / 3, Sample: 1}

// saturated are n shadows behind all step long, each applying s mutations
// and its backlog growing by grow.
func saturated(n int, s, backlog float64) []signal.Sample {
	var out []signal.Sample
	for i := range n {
		out = append(out, signal.Sample{Resource: fmt.Sprintf("i-%d", i), LiveApplied: s * 4 / 3, ShadowApplied: s, ShadowBacklog: backlog})
	}
	return out
}

func TestShadowModel(t *testing.T) {
	if u := model.SaturationUtilization(); math.Abs(u-0.75) > 1e-12 {
		t.Fatalf("saturation utilization %v, want 0.75", u)
	}
	for _, m := range []ShadowModel{{}, {CPU: 0.25, WriteShare: 0, Sample: 1}, {CPU: 1.5, WriteShare: 0.3, Sample: 1}} {
		if m.Known() {
			t.Errorf("%+v counts as known", m)
		}
	}
}

// TestShadowsCorrectTheCapacity: the configured figure is 300 mutations a
// step; a release makes every mutation cost 1/0.7 as much, so a saturated
// shadow applies 0.7 x 0.25 x 300 x 3 = 157.5 a step and the live
// instances really take (w/r) x 157.5 = 210. The estimate moves there
// within minutes, weighted by how many shadows say so.
func TestShadowsCorrectTheCapacity(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.Shadows = model
	e := newCapacityEstimator(cfg, 300, time.Minute)
	var c Capacity
	for i := range 10 {
		c = e.observe(1000, 4, math.NaN(), saturated(4, 157.5, 50+float64(i)))
	}
	if c.Source != CapacityFromShadows || math.Abs(c.PerInstance-210)/210 > 0.03 || c.Saturated != 4 {
		t.Fatalf("after 10 saturated steps: %+v, want about 210 from the shadows", c)
	}
	if c.Factor > 0.72 || c.Confidence < 30 {
		t.Errorf("factor %v confidence %v", c.Factor, c.Confidence)
	}
	// The first step cannot tell: no backlog was known before it.
	e2 := newCapacityEstimator(cfg, 300, time.Minute)
	if c := e2.observe(1000, 4, math.NaN(), saturated(4, 157.5, 50)); c.PerInstance != 300 || c.Source != CapacityConfigured {
		t.Errorf("one step: %+v", c)
	}
}

// TestBrokenShadowIsNotAMeasurement: a shadow behind while applying less
// than its healthy neighbours kept up with is broken (or resyncing), not
// saturated: it says nothing about the capacity.
func TestBrokenShadowIsNotAMeasurement(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.Shadows = model
	e := newCapacityEstimator(cfg, 300, time.Minute)
	step := func(backlog float64) Capacity {
		s := []signal.Sample{
			{Resource: "a", LiveApplied: 80, ShadowApplied: 60},
			{Resource: "b", LiveApplied: 80, ShadowApplied: 60},
			{Resource: "broken", LiveApplied: 80, ShadowApplied: 5, ShadowBacklog: backlog},
		}
		return e.observe(240, 3, math.NaN(), s)
	}
	var c Capacity
	for i := range 30 {
		c = step(100 + float64(i)*75)
	}
	if c.PerInstance != 300 || c.Saturated != 0 || c.Source != CapacityConfigured {
		t.Fatalf("%+v: the broken shadow moved the estimate", c)
	}
}

// TestOldRegimesFade: with no saturation for days the estimate returns to
// the configured figure.
func TestOldRegimesFade(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.Shadows = model
	e := newCapacityEstimator(cfg, 300, time.Minute)
	for i := range 20 {
		e.observe(1000, 4, math.NaN(), saturated(4, 157.5, 50+float64(i)))
	}
	idle := []signal.Sample{{Resource: "i-0", LiveApplied: 40, ShadowApplied: 30}}
	var c Capacity
	for range 5 * 24 * 60 {
		c = e.observe(100, 4, math.NaN(), idle)
	}
	if math.Abs(c.PerInstance-300)/300 > 0.02 {
		t.Fatalf("after 5 quiet days: %+v, want back near 300", c)
	}
}

// TestLiveUtilizationFromTheBacklog: a saturated shadow applying S while
// its backlog grows by g shows its live instance at u*·(S+g)/S.
func TestLiveUtilizationFromTheBacklog(t *testing.T) {
	cfg := DefaultCapacityConfig()
	cfg.Shadows = model
	e := newCapacityEstimator(cfg, 300, time.Minute)
	e.observe(1000, 2, math.NaN(), saturated(2, 225, 100))
	c := e.observe(1000, 2, math.NaN(), saturated(2, 225, 122.5)) // grew 22.5 = 10% of 225
	if want := 0.75 * 1.1; math.Abs(c.LiveUtil-want) > 1e-9 {
		t.Fatalf("live utilization %v, want %v", c.LiveUtil, want)
	}
	c = e.observe(1000, 2, math.NaN(), saturated(2, 225, 167.5)) // grew 45: 0.75 x 1.2 = 0.9
	if math.Abs(c.LiveUtil-0.9) > 1e-9 || math.Abs(c.SaturationIn-(1-0.9)/(0.9-0.825)) > 1e-9 {
		t.Errorf("live utilization %v, saturation in %v steps", c.LiveUtil, c.SaturationIn)
	}
}

// TestCapacityFromUtilization: with no figure configured, the demand per
// in-service instance over the group's CPU utilization; readings outside
// [MinUtilization, MaxUtilization] or missing teach nothing.
func TestCapacityFromUtilization(t *testing.T) {
	for _, tc := range []struct {
		name  string
		util  []float64
		want  float64 // NaN: nothing learned
		which string
	}{
		{name: "half busy", util: []float64{50, 50, 50}, want: 300, which: CapacityFromUtilization},
		{name: "capped readings", util: []float64{100, 99}, want: math.NaN()},
		{name: "idle readings", util: []float64{1, 2}, want: math.NaN()},
		{name: "missing", util: []float64{math.NaN(), 0}, want: math.NaN()},
		{name: "a capped one among good ones", util: []float64{50, 100, 50}, want: 300, which: CapacityFromUtilization},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCapacityEstimator(DefaultCapacityConfig(), 0, time.Minute)
			var c Capacity
			for _, u := range tc.util {
				c = e.observe(300, 2, u, nil)
			}
			if math.IsNaN(tc.want) {
				if !math.IsNaN(c.PerInstance) {
					t.Fatalf("%+v: learned from nothing", c)
				}
				return
			}
			if math.Abs(c.PerInstance-tc.want) > 1e-6 || c.Source != tc.which {
				t.Fatalf("%+v, want %v %s", c, tc.want, tc.which)
			}
		})
	}
}

// TestLoopHoldsUntilItKnowsItsCapacity: a loop told no capacity decides
// nothing until the group's utilization says what an instance serves, then
// plans with it and says where the figure came from.
func TestLoopHoldsUntilItKnowsItsCapacity(t *testing.T) {
	cfg := testConfig()
	cfg.PerInstance = 0
	cfg.Policy.TargetUtilization = 0.6
	l, err := New(cfg, smoother, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := observation(0, 9000, 3)
	o.Utilization = math.NaN()
	r, err := l.Step(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Decision.Changes() || !strings.Contains(r.Decision.Reason, "no per-instance capacity") || !math.IsNaN(r.PerInstance) {
		t.Fatalf("without a figure: %+v", r.Decision)
	}
	o = observation(1, 4500, 3)
	o.Utilization = 100 * 1500 / 1800.0 // each instance takes 1800 at 100%: 83%
	if r, err = l.Step(o); err != nil {
		t.Fatal(err)
	}
	if r.CapacitySource != CapacityFromUtilization || math.Abs(r.PerInstance-1800) > 1e-6 {
		t.Fatalf("learned %v from %q", r.PerInstance, r.CapacitySource)
	}
	if r.Decision.Plan < 5 {
		t.Errorf("at 83%% with a target of %v it planned %d, want at least 5", cfg.Policy.TargetUtilization, r.Decision.Plan)
	}
}

// TestTrippingSignalFromTheModel: the trip delta is chosen so that the
// signal trips at TripUtilization, no earlier than the shadows saturate.
func TestTrippingSignalFromTheModel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Capacity.Shadows = model
	if s := cfg.TrippingSignal(); math.Abs(s.Trip-(1-0.75/0.9)) > 1e-12 || s.Clear >= s.Trip {
		t.Fatalf("trip %v clear %v", s.Trip, s.Clear)
	}
	cfg.Capacity.Shadows = ShadowModel{CPU: 0.5, WriteShare: 0.5, Sample: 1} // saturate only at 100%
	if s := cfg.TrippingSignal(); s.Trip != 0.01 {
		t.Fatalf("shadows that cannot lead: trip %v", s.Trip)
	}
	cfg.Capacity.Shadows = ShadowModel{}
	if s := cfg.TrippingSignal(); s.Trip != cfg.Signal.Trip {
		t.Fatalf("no model: trip %v, want the configured %v", s.Trip, cfg.Signal.Trip)
	}
}

// TestCapacityStateRoundTrip: the estimate survives the loop's State.
func TestCapacityStateRoundTrip(t *testing.T) {
	cfg := testConfig()
	cfg.Capacity.Shadows = model
	a, _ := New(cfg, smoother, nil)
	for i := range 30 {
		o := observation(i, 9000, 6)
		for k := range o.Resources {
			o.Resources[k].ShadowApplied = 0.7 * 0.25 * 1800 * 3
			o.Resources[k].ShadowBacklog = 100 + float64(i)
		}
		if _, err := a.Step(o); err != nil {
			t.Fatal(err)
		}
	}
	st, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg, smoother, nil)
	if err := b.RestoreWithHistory(back, nil); err != nil {
		t.Fatal(err)
	}
	o := observation(30, 9000, 6)
	ra, _ := a.Step(o)
	rb, _ := b.Step(o)
	if ra.PerInstance != rb.PerInstance || ra.CapacitySource != CapacityFromShadows {
		t.Fatalf("restored %v (%s), kept %v (%s)", rb.PerInstance, rb.CapacitySource, ra.PerInstance, ra.CapacitySource)
	}
}
