package scaling

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/forecast"
)

var t0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

// flatForecast returns n points of mean m and P90 p.
func flatForecast(n int, m, p float64) forecast.Forecast {
	f := forecast.Forecast{Model: "test"}
	for range n {
		f.Mean = append(f.Mean, m)
		f.P10 = append(f.P10, max(0, 2*m-p))
		f.P90 = append(f.P90, p)
	}
	return f
}

// input is a group of 4 in service, 100 a step each, demand 300, and a
// flat forecast of 300 with P90 330: the plan is 4.
func input() Input {
	return Input{
		Now: t0, Forecast: flatForecast(6, 300, 330), Step: time.Minute, Lead: 5 * time.Minute, Horizon: time.Minute,
		Demand: 300, PerInstance: 100, Desired: 4, InService: 4, InstanceType: "m7g.xlarge",
	}
}

// actConfig is the default policy acting, planning to 100% with a 10-minute
// scale-in window: the figures of these tests are worked out for those
// (TestDefaultsDoNotRunHot covers the defaults themselves).
func actConfig() Config {
	c := DefaultConfig()
	c.Mode = Act
	c.TargetUtilization, c.ScaleInWindow = 1, 10*time.Minute
	return c
}

// TestDefaultsDoNotRunHot: the defaults plan the forecast's upper bound at
// the risk line (90%), and give back no capacity wanted within the launch
// lead.
func TestDefaultsDoNotRunHot(t *testing.T) {
	c := DefaultConfig()
	if c.TargetUtilization != 0.9 || c.ScaleInWindow != 5*time.Minute || c.Mode != ForecastOnly {
		t.Fatalf("defaults %+v", c)
	}
	c.Mode = Act
	p, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.Forecast = flatForecast(6, 900, 900) // 900 a step at 100 an instance: 9 at 100%, 10 at 90%
	in.Desired, in.InService = 9, 9
	d, err := p.Decide(in)
	if err != nil || d.To != 10 {
		t.Fatalf("%+v, %v: want 10 instances for 900 at 90%%", d, err)
	}
}

func TestDecide(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cfg    func(*Config)
		in     func(*Input)
		action Action
		to     int
		typ    string
		max    int
		reason string // a substring of the reason
		mode   Mode
	}{
		{name: "flat forecast: no change", action: NoChange, to: 4, reason: "holding 4"},
		{name: "forecast rises by one: launch one", in: func(in *Input) { in.Forecast = flatForecast(6, 420, 450) }, action: LaunchOne, to: 5, reason: "launch one"},
		{name: "forecast rises a lot: launch a cluster", in: func(in *Input) { in.Forecast = flatForecast(6, 800, 880) }, action: LaunchCluster, to: 9, reason: "cluster of 5"},
		{name: "max step out", cfg: func(c *Config) { c.MaxStepOut = 3 }, in: func(in *Input) { in.Forecast = flatForecast(6, 1900, 2000) }, action: LaunchCluster, to: 7, reason: "max step 3"},
		{name: "at max: honour it", in: func(in *Input) { in.Desired, in.InService, in.Forecast = 20, 20, flatForecast(6, 2400, 2500) }, action: NoChange, to: 20, max: 20, reason: "holding the max"},
		{name: "over max: capped at max", in: func(in *Input) { in.Desired, in.InService, in.Forecast = 18, 18, flatForecast(6, 2400, 2500) }, action: LaunchCluster, to: 20, max: 20, reason: "capped at the max 20"},
		{name: "over max: raise it by the buffer", cfg: func(c *Config) { c.OverMax = RaiseMax; c.MaxBufferPct = 10 }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 20, 20, flatForecast(6, 2400, 2500) }, action: LaunchCluster, to: 25, max: 28},
		{name: "over max: a raised max stops at the ceiling", cfg: func(c *Config) { c.OverMax = RaiseMax; c.MaxBufferPct = 10; c.MaxCeiling = 24 }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 20, 20, flatForecast(6, 2400, 2500) }, action: LaunchCluster, to: 24, max: 24},
		{name: "over max: the default ceiling is twice the max", cfg: func(c *Config) { c.OverMax = RaiseMax; c.MaxBufferPct = 10; c.MaxStepOut = 100 }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 20, 20, flatForecast(6, 24000, 25000) }, action: LaunchCluster, to: 40, max: 40},
		{name: "at max: resize to the next larger type", cfg: func(c *Config) { c.AllowResize = true }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 20, 20, flatForecast(6, 2400, 2500) }, action: Resize, to: 13, typ: "m7g.2xlarge", reason: "resize to 13 m7g.2xlarge"},
		{name: "at max: resize would not hold it either", cfg: func(c *Config) { c.AllowResize = true }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 20, 20, flatForecast(6, 4900, 5000) }, action: NoChange, to: 20, reason: "holding the max"},
		{name: "scale in", cfg: func(c *Config) { c.ScaleInWindow = 0 }, in: func(in *Input) { in.Forecast = flatForecast(6, 150, 190) }, action: ScaleIn, to: 2, reason: "scale in 4 -> 2"},
		{name: "max step in", cfg: func(c *Config) { c.ScaleInWindow = 0; c.MaxStepIn = 2 }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 10, 10, flatForecast(6, 50, 60) }, action: ScaleIn, to: 8},
		{name: "never below min", cfg: func(c *Config) { c.ScaleInWindow = 0; c.Min = 3 }, in: func(in *Input) { in.Forecast = flatForecast(6, 0, 0); in.Demand = 0 }, action: ScaleIn, to: 3},
		{name: "below min: launch", cfg: func(c *Config) { c.Min = 2 }, in: func(in *Input) { in.Desired, in.InService, in.Forecast = 0, 0, flatForecast(6, 0, 0); in.Demand = 0 }, action: LaunchCluster, to: 2, reason: "below the min"},
		{name: "forecast-only recommends", cfg: func(c *Config) { c.Mode = ForecastOnly }, in: func(in *Input) { in.Forecast = flatForecast(6, 420, 450) }, action: LaunchOne, to: 5, mode: ForecastOnly, reason: "forecast-only: recommended, not acted on"},
		{name: "backstop: overloaded now", in: func(in *Input) { in.Demand = 700 }, action: LaunchCluster, to: 7, reason: "at 175% now"},
		{name: "no forecast: reactive", in: func(in *Input) { in.Forecast = forecast.Forecast{}; in.Demand = 650 }, action: LaunchCluster, to: 7, reason: "no usable forecast"},
		{name: "no forecast and no demand", in: func(in *Input) { in.Forecast = forecast.Forecast{}; in.Demand = math.NaN() }, action: NoChange, to: 4, reason: "no usable forecast and no usable demand"},
		{name: "shadows behind, demand flat: the plan stands", cfg: func(c *Config) { c.ScaleInWindow = 0 }, in: func(in *Input) {
			in.Forecast, in.Demand, in.Trend = flatForecast(6, 150, 190), 150, 0
			in.Signal = Signal{Tripped: true, Delta: 0.2, LagMinutes: 3}
		}, action: ScaleIn, to: 2, reason: "shadows falling behind"},
		{name: "fast trigger: shadows behind and demand rising", in: func(in *Input) {
			in.Demand, in.Trend = 380, 20 // 380 + 6 steps x 20 = 500: 5 instances
			in.Signal = Signal{Tripped: true, Delta: 0.08, LagMinutes: 1}
		}, action: LaunchOne, to: 5, reason: "a lead ahead on its trend (5)"},
		{name: "a rising trend alone is the forecast's business", in: func(in *Input) { in.Demand, in.Trend = 380, 20 }, action: NoChange, to: 4},
		{name: "backstop extrapolates the trend", in: func(in *Input) { in.Demand, in.Trend = 450, 25 }, action: LaunchCluster, to: 6, reason: "at 112% now"},
		{name: "calibrated safety widens the margin", in: func(in *Input) { in.Forecast = flatForecast(6, 300, 350); in.Safety = 3 }, action: LaunchOne, to: 5},
		{name: "target utilization", cfg: func(c *Config) { c.TargetUtilization = 0.5 }, action: LaunchCluster, to: 7},
		{name: "only the lead and after count for scale-out", in: func(in *Input) {
			in.Forecast = flatForecast(6, 300, 330)
			in.Forecast.Mean[0], in.Forecast.P90[0] = 900, 990 // in a minute: too soon for a launch
		}, action: NoChange, to: 4},
		{name: "NaN and negative forecast points are ignored", in: func(in *Input) {
			in.Forecast.Mean[4], in.Forecast.P90[5] = math.NaN(), math.Inf(1)
			in.Forecast.Mean[5] = -50
		}, action: NoChange, to: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := actConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			p, err := New(cfg, cat)
			if err != nil {
				t.Fatal(err)
			}
			in := input()
			if tc.in != nil {
				tc.in(&in)
			}
			d, err := p.Decide(in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.action || d.To != tc.to || d.From != in.Desired {
				t.Fatalf("decision %s %d -> %d, want %s %d -> %d (%s)", d.Action, d.From, d.To, tc.action, in.Desired, tc.to, d.Reason)
			}
			if tc.typ != "" && d.InstanceType != tc.typ {
				t.Errorf("instance type %s, want %s", d.InstanceType, tc.typ)
			}
			if tc.max != 0 && d.Max != tc.max {
				t.Errorf("max %d, want %d", d.Max, tc.max)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reason)
			}
			wantMode := Act
			if tc.mode != "" {
				wantMode = tc.mode
			}
			if d.Mode != wantMode {
				t.Errorf("mode %s, want %s", d.Mode, wantMode)
			}
		})
	}
}

func TestStabilizationWindows(t *testing.T) {
	t.Run("scale-in waits for the window", func(t *testing.T) {
		cfg := actConfig()
		cfg.ScaleInWindow = 10 * time.Minute
		p, _ := New(cfg, nil)
		in := input()
		// A high plan (6) at minute 0, then a low one (2) every minute: the
		// group of 6 may scale in only once minute 0 has left the window.
		in.Desired, in.InService, in.Forecast = 6, 6, flatForecast(6, 580, 600)
		if d, _ := p.Decide(in); d.Action != NoChange {
			t.Fatalf("minute 0: %s (%s)", d.Action, d.Reason)
		}
		for m := 1; m <= 10; m++ {
			in.Now = t0.Add(time.Duration(m) * time.Minute)
			in.Forecast = flatForecast(6, 150, 190)
			in.Demand = 150
			d, _ := p.Decide(in)
			if m < 10 && d.Action != NoChange {
				t.Fatalf("minute %d: %s within the scale-in window (%s)", m, d.Action, d.Reason)
			}
			if m == 10 && (d.Action != ScaleIn || d.To != 2) {
				t.Fatalf("minute 10: %s -> %d, want a scale-in to 2 (%s)", d.Action, d.To, d.Reason)
			}
		}
	})
	t.Run("scale-ins are a cooldown apart", func(t *testing.T) {
		cfg := actConfig()
		cfg.ScaleInWindow, cfg.ScaleInCooldown, cfg.MaxStepIn = 0, 3*time.Minute, 1
		p, _ := New(cfg, nil)
		in := input()
		in.Desired, in.InService, in.Forecast, in.Demand = 8, 8, flatForecast(6, 150, 190), 150
		var got []int
		for m := 0; m < 7; m++ {
			in.Now = t0.Add(time.Duration(m) * time.Minute)
			d, _ := p.Decide(in)
			if d.Action == ScaleIn {
				got = append(got, m)
				in.Desired, in.InService = d.To, d.To
			}
		}
		if len(got) != 3 || got[0] != 0 || got[1] != 3 || got[2] != 6 {
			t.Fatalf("scale-ins at minutes %v, want 0, 3, 6", got)
		}
	})
	t.Run("scale-out waits for its window", func(t *testing.T) {
		cfg := actConfig()
		cfg.ScaleOutWindow = 3 * time.Minute
		p, _ := New(cfg, nil)
		in := input()
		in.Forecast = flatForecast(6, 580, 600)
		for m := 0; m < 3; m++ {
			in.Now = t0.Add(time.Duration(m) * time.Minute)
			d, _ := p.Decide(in)
			if want := m == 2; d.Changes() != want {
				t.Fatalf("minute %d: %s, want a change only at minute 2 (%s)", m, d.Action, d.Reason)
			}
		}
	})
}

func TestStateRoundTrip(t *testing.T) {
	cfg := actConfig()
	a, _ := New(cfg, nil)
	in := input()
	in.Desired, in.InService, in.Forecast = 6, 6, flatForecast(6, 580, 600)
	a.Decide(in)
	b, _ := New(cfg, nil)
	b.Restore(a.State())
	in.Now = t0.Add(time.Minute)
	in.Forecast = flatForecast(6, 150, 190)
	da, _ := a.Decide(in)
	db, _ := b.Decide(in)
	if da.Action != db.Action || da.To != db.To || da.Reason != db.Reason {
		t.Fatalf("restored policy decided %+v, want %+v", db, da)
	}
}

func TestBadInputAndConfig(t *testing.T) {
	p, _ := New(actConfig(), nil)
	for name, mod := range map[string]func(*Input){
		"zero step":       func(in *Input) { in.Step = 0 },
		"nan capacity":    func(in *Input) { in.PerInstance = math.NaN() },
		"zero capacity":   func(in *Input) { in.PerInstance = 0 },
		"negative counts": func(in *Input) { in.InService = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			in := input()
			mod(&in)
			before := p.State()
			if _, err := p.Decide(in); !errors.Is(err, ErrBadInput) {
				t.Fatalf("err %v, want ErrBadInput", err)
			}
			if after := p.State(); len(after.Plans) != len(before.Plans) {
				t.Fatalf("a refused input changed the state")
			}
		})
	}
	bad := Config{Mode: "sometimes", Min: 5, Max: 2, TargetUtilization: 2, Safety: -1, BackstopUtilization: 0, OverMax: "ignore", MaxBufferPct: -1, MaxCeiling: 1, ScaleInWindow: -time.Second}
	err := bad.Validate()
	for _, want := range []string{"mode", "max 2", "max step", "windows", "target utilization", "safety", "backstop", "over max", "max buffer", "max ceiling"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	c := actConfig()
	c.AllowResize = true
	if _, err := New(c, nil); err == nil {
		t.Error("resize without a catalog accepted")
	}
}

// group is a minimal group the robustness drives act on: launches serve
// after the lead.
type group struct {
	desired  int
	launches []int // minute each pending instance serves from
	inSvc    int
}

func (g *group) apply(m int, d Decision, lead int) {
	switch {
	case d.To > g.desired:
		for range d.To - g.desired {
			g.launches = append(g.launches, m+lead)
		}
	case d.To < g.desired:
		n := g.desired - d.To
		// The most recent go first: pending ones, then in service.
		k := min(n, len(g.launches))
		g.launches = g.launches[:len(g.launches)-k]
		g.inSvc -= n - k
	}
	g.desired = d.To
	var left []int
	for _, at := range g.launches {
		if at <= m+1 {
			g.inSvc++
		} else {
			left = append(left, at)
		}
	}
	g.launches = left
}

// TestRobustness drives the policy for simulated days on bad inputs and
// checks the guardrails hold every minute and that it does not flap.
func TestRobustness(t *testing.T) {
	const days = 3
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name       string
		forecast   func(m int) (mean, p90 float64)
		demand     func(m int) float64
		maxActions int // over the whole run
	}{
		{"NaN everywhere", func(int) (float64, float64) { return math.NaN(), math.NaN() }, func(int) float64 { return math.NaN() }, 2},
		{"negative", func(int) (float64, float64) { return -500, -400 }, func(int) float64 { return -3 }, 2},
		{"flat zero", func(int) (float64, float64) { return 0, 0 }, func(int) float64 { return 0 }, 2},
		{"one huge spike", func(m int) (float64, float64) {
			if m == 600 {
				return 1e15, 1e16
			}
			return 300, 330
		}, func(int) float64 { return 300 }, 6},
		{"long gaps in history", func(m int) (float64, float64) {
			if (m/300)%2 == 1 {
				return math.NaN(), math.NaN()
			}
			return 300, 330
		}, func(m int) float64 {
			if (m/300)%2 == 1 {
				return math.NaN()
			}
			return 300
		}, 4},
		{"noise on an instance boundary", func(int) (float64, float64) {
			m := 495 + 10*rng.Float64()
			return m, m * 1.01
		}, func(int) float64 { return 495 + 10*rng.Float64() }, 3 * days},
		// A forecaster gone mad: at most a scale-in a cooldown, each
		// answered by at most one scale-out.
		{"white noise", func(int) (float64, float64) {
			m := 1000 * rng.Float64()
			return m, m * 1.2
		}, func(int) float64 { return 1000 * rng.Float64() }, 2 * days * 1440 / 5},
		{"daily wave", func(m int) (float64, float64) {
			v := 1000 + 800*math.Sin(2*math.Pi*float64(m+5)/1440)
			return v, v * 1.05
		}, func(m int) float64 { return 1000 + 800*math.Sin(2*math.Pi*float64(m)/1440) }, 40 * days},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := actConfig()
			cfg.MaxStepOut, cfg.MaxStepIn = 4, 2
			p, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			g := &group{desired: 4, inSvc: 4}
			actions := 0
			lastOut, lastIn := -1000, -1000
			for m := 0; m < days*1440; m++ {
				mean, p90 := tc.forecast(m)
				in := Input{Now: t0.Add(time.Duration(m) * time.Minute), Forecast: flatForecast(6, mean, p90), Step: time.Minute,
					Lead: 5 * time.Minute, Horizon: time.Minute, Demand: tc.demand(m), PerInstance: 100,
					Desired: g.desired, InService: g.inSvc, Warming: len(g.launches)}
				d, err := p.Decide(in)
				if err != nil {
					t.Fatalf("minute %d: %v", m, err)
				}
				if d.To > cfg.Max || d.To < cfg.Min {
					t.Fatalf("minute %d: %d outside [%d, %d]", m, d.To, cfg.Min, cfg.Max)
				}
				if d.To-d.From > cfg.MaxStepOut || d.From-d.To > cfg.MaxStepIn {
					t.Fatalf("minute %d: step %d -> %d beyond the max steps", m, d.From, d.To)
				}
				if d.Action == ScaleIn && m-lastOut < int(cfg.ScaleInWindow/time.Minute) {
					t.Fatalf("minute %d: scale-in %d minutes after a scale-out (window %v)", m, m-lastOut, cfg.ScaleInWindow)
				}
				if d.Action == ScaleIn {
					if m-lastIn < int(cfg.ScaleInCooldown/time.Minute) {
						t.Fatalf("minute %d: scale-in %d minutes after the last (cooldown %v)", m, m-lastIn, cfg.ScaleInCooldown)
					}
					lastIn = m
				}
				if d.To > d.From {
					lastOut = m
				}
				if d.Changes() {
					actions++
				}
				g.apply(m, d, 5)
			}
			if actions > tc.maxActions {
				t.Fatalf("%d actions in %d days, want at most %d (flapping)", actions, days, tc.maxActions)
			}
		})
	}
}

// TestNoDataNeverScalesIn: a step whose demand is unknown holds against a
// scale-in the forecast alone would make, and does not start the scale-in
// cooldown; the next step with data scales in at once.
func TestNoDataNeverScalesIn(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Mode, cfg.ScaleInWindow, cfg.ScaleInCooldown = Act, 0, 10*time.Minute
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	low := forecast.Forecast{Mean: []float64{100, 100, 100, 100, 100, 100}, P90: []float64{110, 110, 110, 110, 110, 110}}
	in := Input{Now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), Step: time.Minute, Lead: 5 * time.Minute, Forecast: low,
		Demand: math.NaN(), NoData: true, PerInstance: 100, Desired: 6, InService: 6}
	d, err := p.Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != NoChange || !strings.Contains(d.Reason, "no data") {
		t.Fatalf("no data: %+v", d)
	}
	in.Now, in.Demand, in.NoData = in.Now.Add(time.Minute), 100, false
	if d, _ = p.Decide(in); d.Action != ScaleIn {
		t.Fatalf("the next step with data: %+v, want a scale-in (no cooldown started)", d)
	}
}

// TestFormatRoundIsFmt: formatRound writes what fmt's %.0f writes, the
// reasons' text unchanged.
func TestFormatRoundIsFmt(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 0.5, 1.5, 2.5, -0.4, -0.5, -2.5, 99.5, 1e21, -1e300, 123456.789,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		vals = append(vals, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(30))))
	}
	for _, v := range vals {
		if got, want := formatRound(v), fmt.Sprintf("%.0f", v); got != want {
			t.Errorf("formatRound(%v) = %q, fmt gives %q", v, got, want)
		}
	}
}
