package control

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func testConfig() Config {
	c := DefaultConfig()
	c.PerInstance = 1800 // mutations a minute one instance applies at 100%
	c.Policy.Mode = scaling.Act
	return c
}

func smoother() (Predictor, error) { return NewSmoother(DefaultSmootherConfig()) }

// demandAt is a daily wave with noise, in mutations a minute.
func demandAt(i int, rng *rand.Rand) float64 {
	return 6000 + 4000*math.Sin(2*math.Pi*float64(i)/1440) + 300*rng.NormFloat64()
}

// observation builds a step of a group of n instances serving demand d.
func observation(i int, d float64, n int) Observation {
	o := Observation{Minute: t0.Add(time.Duration(i) * time.Minute), Demand: d, Desired: n, InService: n}
	per := d / float64(n)
	for k := range n {
		shadow := min(per, 1500)
		o.Resources = append(o.Resources, signal.Sample{Resource: "i-" + string(rune('a'+k)), LiveApplied: per, ShadowApplied: shadow, ShadowBacklog: per - shadow})
	}
	return o
}

// TestStateRoundTrip: a loop saved to JSON and loaded back every step (as
// the Lambda runs it) decides exactly as one that runs on.
func TestStateRoundTrip(t *testing.T) {
	cfg := testConfig()
	a, err := New(cfg, smoother, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg, smoother, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	n := 5
	for i := 0; i < 3*1440; i++ {
		o := observation(i, demandAt(i, rng), n)
		ra, err := a.Step(o)
		if err != nil {
			t.Fatal(err)
		}
		st, err := b.State()
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
		b, _ = New(cfg, smoother, nil)
		if err := b.Restore(back); err != nil {
			t.Fatalf("step %d: restore: %v", i, err)
		}
		rb, err := b.Step(o)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Decision.Action != rb.Decision.Action || ra.Decision.To != rb.Decision.To || ra.Decision.Reason != rb.Decision.Reason || ra.Safety != rb.Safety {
			t.Fatalf("step %d: restored loop decided %+v (safety %v), want %+v (safety %v)", i, rb.Decision, rb.Safety, ra.Decision, ra.Safety)
		}
		if len(ra.Forecast.Mean) != len(rb.Forecast.Mean) || (len(ra.Forecast.Mean) > 0 && ra.Forecast.Mean[0] != rb.Forecast.Mean[0]) {
			t.Fatalf("step %d: restored loop forecast %v, want %v", i, rb.Forecast.Mean, ra.Forecast.Mean)
		}
		if ra.Decision.Changes() {
			n = ra.Decision.To
		}
		if i == 3*1440-1 && len(raw) > 350_000 {
			t.Errorf("state is %d bytes of JSON: too big for a DynamoDB item", len(raw))
		}
	}
}

// noSnapshot is a predictor without a Snapshot: the loop must be rebuilt.
type noSnapshot struct {
	seen []float64
	fail bool
}

func (p *noSnapshot) Observe(v float64) { p.seen = append(p.seen, v) }
func (p *noSnapshot) Forecast(h int) (forecast.Forecast, error) {
	if len(p.seen) == 0 || p.fail {
		return forecast.Forecast{}, forecast.ErrTooShort
	}
	last := p.seen[len(p.seen)-1]
	f := forecast.Forecast{Model: "last"}
	for range h {
		f.Mean, f.P10, f.P90 = append(f.Mean, last), append(f.P10, last*0.9), append(f.P90, last*1.1)
	}
	return f, nil
}

func TestRestoreWithoutSnapshotNeedsHistory(t *testing.T) {
	cfg := testConfig()
	var made []*noSnapshot
	mk := func() (Predictor, error) {
		p := &noSnapshot{}
		made = append(made, p)
		return p, nil
	}
	a, _ := New(cfg, mk, nil)
	var history []Observation
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 200 {
		o := observation(i, demandAt(i, rng), 5)
		history = append(history, o)
		if _, err := a.Step(o); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := a.State()
	if len(st.Predictor) != 0 {
		t.Fatal("a predictor without Snapshot left a snapshot")
	}
	b, _ := New(cfg, mk, nil)
	if err := b.Restore(st); !errors.Is(err, ErrNeedHistory) {
		t.Fatalf("restore: %v, want ErrNeedHistory", err)
	}
	next := observation(200, 5000, 5)
	if _, err := b.Step(next); !errors.Is(err, ErrNeedHistory) {
		t.Fatalf("step before rebuild: %v, want ErrNeedHistory", err)
	}
	if _, err := b.Rebuild(history); err != nil {
		t.Fatal(err)
	}
	ra, err1 := a.Step(next)
	rb, err2 := b.Step(next)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if ra.Decision.To != rb.Decision.To || ra.Forecast.Mean[0] != rb.Forecast.Mean[0] {
		t.Fatalf("rebuilt loop decided %+v, want %+v", rb.Decision, ra.Decision)
	}
	if got := len(made[len(made)-1].seen); got != 201 {
		t.Fatalf("rebuilt predictor saw %d values, want 201", got)
	}
}

func TestGapsAndStaleSteps(t *testing.T) {
	cfg := testConfig()
	cfg.MaxGap = time.Hour
	var made []*noSnapshot
	mk := func() (Predictor, error) {
		p := &noSnapshot{}
		made = append(made, p)
		return p, nil
	}
	l, _ := New(cfg, mk, nil)
	step := func(i int) error { _, err := l.Step(observation(i, 3000, 3)); return err }
	for _, i := range []int{0, 1, 5} { // minutes 2, 3, 4 are missing
		if err := step(i); err != nil {
			t.Fatal(err)
		}
	}
	p := made[0]
	if len(p.seen) != 6 || !math.IsNaN(p.seen[2]) || !math.IsNaN(p.seen[4]) || p.seen[5] != 3000 {
		t.Fatalf("predictor saw %v, want 3000, 3000, NaN, NaN, NaN, 3000", p.seen)
	}
	before, _ := l.State()
	for _, i := range []int{5, 3} {
		if err := step(i); !errors.Is(err, ErrStale) {
			t.Fatalf("minute %d again: %v, want ErrStale", i, err)
		}
	}
	if after, _ := l.State(); after.Steps != before.Steps || after.Last != before.Last {
		t.Fatal("a stale step changed the state")
	}
	// A gap longer than MaxGap starts the predictor over.
	if err := step(5 + 62); err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 || len(made[1].seen) != 1 {
		t.Fatalf("after a long gap: %d predictors, the last saw %d values; want a fresh one that saw 1", len(made), len(made[len(made)-1].seen))
	}
	// Bad observations: a clear error, no panic.
	if _, err := l.Step(Observation{Minute: t0.Add(100 * time.Minute), Demand: 1, Desired: -1}); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Fatalf("negative counts: %v", err)
	}
	// NaN or negative demand is unknown demand, not an error.
	if _, err := l.Step(Observation{Minute: t0.Add(101 * time.Minute), Demand: -5, Desired: 3, InService: 3}); err != nil {
		t.Fatalf("negative demand: %v", err)
	}
	if v := made[1].seen[len(made[1].seen)-1]; !math.IsNaN(v) {
		t.Fatalf("negative demand reached the predictor as %v, want NaN", v)
	}
}

// fixed forecasts a constant with a fixed P90 margin.
type fixed struct{ mean, margin float64 }

func (fixed) Observe(float64) {}
func (f fixed) Forecast(h int) (forecast.Forecast, error) {
	out := forecast.Forecast{Model: "fixed"}
	for range h {
		out.Mean, out.P10, out.P90 = append(out.Mean, f.mean), append(out.P10, f.mean-f.margin), append(out.P90, f.mean+f.margin)
	}
	return out, nil
}

func TestCalibrationSizesTheMargin(t *testing.T) {
	tests := []struct {
		name     string
		margin   float64 // the predictor's P90 - mean
		noise    float64 // the actual spread around the mean (uniform +-)
		lo, hi   float64 // the calibrated safety must land here
		minimumK bool
	}{
		// Uniform +-1000 has its 98th percentile at 960: with a claimed
		// margin of 100, the loop must plan for about 9.6 margins.
		{name: "too narrow an interval widens", margin: 100, noise: 1000, lo: 9, hi: 10.5},
		// With a claimed margin of 1000 and noise of +-100, the 98th
		// percentile is 0.1 margins: the floor (0.5) holds.
		{name: "too wide an interval narrows to the floor", margin: 1000, noise: 100, lo: 0.5, hi: 0.5},
		{name: "calibrated interval keeps about 1", margin: 960, noise: 1000, lo: 0.9, hi: 1.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			pred := fixed{mean: 5000, margin: tc.margin}
			l, _ := New(cfg, func() (Predictor, error) { return pred, nil }, nil)
			rng := rand.New(rand.NewPCG(7, 8))
			var r Result
			for i := range 3000 {
				var err error
				r, err = l.Step(Observation{Minute: t0.Add(time.Duration(i) * time.Minute), Demand: 5000 + tc.noise*(2*rng.Float64()-1), Desired: 4, InService: 4})
				if err != nil {
					t.Fatal(err)
				}
			}
			if r.Safety < tc.lo || r.Safety > tc.hi {
				t.Fatalf("calibrated safety %v, want in [%v, %v]", r.Safety, tc.lo, tc.hi)
			}
			if want := 5000 + r.Safety*tc.margin; math.Abs(r.Upper-want) > 1e-6 {
				t.Fatalf("upper %v, want %v", r.Upper, want)
			}
		})
	}
}

func TestLoopScalesAheadOfARamp(t *testing.T) {
	cfg := testConfig()
	l, _ := New(cfg, smoother, nil)
	n := 2
	// A day of flat 2000 a minute, then a ramp of +50 a minute for an hour.
	var launchedAt int = -1
	for i := 0; i < 1440+60; i++ {
		d := 2000.0
		if i >= 1440 {
			d += 50 * float64(i-1440)
		}
		r, err := l.Step(observation(i, d, n))
		if err != nil {
			t.Fatal(err)
		}
		if r.Decision.Changes() && r.Decision.To > n && i >= 1440 && launchedAt < 0 {
			launchedAt = i
		}
		if r.Decision.Changes() {
			n = r.Decision.To
		}
	}
	// 2 instances hold 3600 a minute: demand passes it at minute 1440+32.
	// The loop must order more before it gets there, at least a lead ahead.
	if launchedAt < 0 || launchedAt > 1440+32-5 {
		t.Fatalf("first scale-out at minute %d of the ramp, want by minute %d", launchedAt-1440, 32-5)
	}
	if len(l.Decisions()) == 0 {
		t.Fatal("no decisions kept")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := testConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	c := testConfig()
	c.Step = 30 * time.Second
	c.PerInstance = math.Inf(1)
	c.Calibration.Quantile = 1
	c.Calibration.MinSafety = 3
	c.Calibration.MaxSafety = 2
	c.Signal.Trip = 0
	c.Policy.Mode = "maybe"
	err := c.Validate()
	for _, want := range []string{"step", "per-instance", "quantile", "safety bounds", "signal", "policy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	if _, err := New(c, smoother, nil); err == nil {
		t.Error("New accepted a bad config")
	}
	if _, err := New(testConfig(), nil, nil); err == nil {
		t.Error("New accepted no predictor")
	}
}

// TestRestoreWithHistory: the default predictor keeps no snapshot; a loop
// restored from its state plus the demand history decides as the one that
// ran on.
func TestRestoreWithHistory(t *testing.T) {
	cfg := testConfig()
	a, err := New(cfg, DefaultPredictor(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	var demand []float64
	var obs []Observation
	for i := range 2*1440 + 120 {
		d := demandAt(i, rng)
		if i%500 == 7 {
			d = math.NaN() // a missing minute
		}
		demand = append(demand, d)
		obs = append(obs, observation(i, d, 6))
	}
	cut := 2 * 1440
	for _, o := range obs[:cut] {
		if _, err := a.Step(o); err != nil {
			t.Fatal(err)
		}
	}
	st, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(st)
	var back State
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	b, _ := New(cfg, DefaultPredictor(cfg), nil)
	if err := b.Restore(back); !errors.Is(err, ErrNeedHistory) {
		t.Fatalf("restore without history: %v, want ErrNeedHistory", err)
	}
	if err := b.RestoreWithHistory(back, demand[:cut]); err != nil {
		t.Fatal(err)
	}
	for i, o := range obs[cut:] {
		ra, err1 := a.Step(o)
		rb, err2 := b.Step(o)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ra.Decision.To != rb.Decision.To || ra.Decision.Reason != rb.Decision.Reason || ra.Safety != rb.Safety || ra.Forecast.Mean[0] != rb.Forecast.Mean[0] {
			t.Fatalf("step %d after the restore: %+v, want %+v", i, rb.Decision, ra.Decision)
		}
	}
}
