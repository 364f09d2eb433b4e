package sim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// flat returns n ticks of demand built by f.
func demandOf(n int, f func(i int) float64) Demand {
	d := Demand{Name: "synthetic", Start: t0, Tick: time.Minute, Values: make([]float64, n), Scale: 1}
	for i := range d.Values {
		d.Values[i] = f(i)
	}
	return d
}

// scripted orders desired counts at given ticks and records what it saw.
type scripted struct {
	at      map[int]int
	views   []View
	shadows bool
}

func (s *scripted) Name() string      { return "scripted" }
func (s *scripted) RunsShadows() bool { return s.shadows }
func (s *scripted) Decide(v View) Order {
	c := v
	c.Resources = append([]ResourceCount(nil), v.Resources...)
	s.views = append(s.views, c)
	if n, ok := s.at[v.Tick]; ok {
		return Order{Desired: n}
	}
	return Order{Desired: v.Desired}
}

func testConfig() Config {
	c := DefaultConfig()
	c.LivePrice, c.ShadowPrice = 0.1632, 0.0168
	return c
}

func TestFleetWarmUpCostAndScaleInOrder(t *testing.T) {
	cfg := testConfig()
	// 100 req/s at T=0.6 and C=100: the group starts with 2 in service.
	d := demandOf(30, func(int) float64 { return 100 })
	p := &scripted{at: map[int]int{0: 3, 2: 4, 3: 3, 20: 2}}
	res, err := Run(cfg, d, []Policy{p})
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ inService, warming, desired int }
	checks := map[int]want{
		0:  {2, 0, 2}, // before the first order
		1:  {2, 1, 3}, // launched at 0: pending+warm-up is 5 ticks
		3:  {2, 2, 4},
		4:  {2, 1, 3}, // the one launched at 2 went at 3 (the most recent first)
		5:  {3, 0, 3}, // launched at 0 is in service at 0+5
		7:  {3, 0, 3}, // the one launched at 2 never serves
		21: {2, 0, 2},
	}
	for tick, w := range checks {
		v := p.views[tick]
		if v.InService != w.inService || v.Warming != w.warming || v.Desired != w.desired {
			t.Errorf("tick %d: in service %d warming %d desired %d, want %+v", tick, v.InService, v.Warming, v.Desired, w)
		}
	}
	// Paid instance-ticks: 2 initial x 30, +1 from 0 to 20, +1 from 2 to 3.
	wantTicks := 2*30 + 20 + 1
	if got := res[0].LiveInstH * 60; math.Abs(got-float64(wantTicks)) > 1e-9 {
		t.Errorf("paid %v instance-minutes, want %d", got, wantTicks)
	}
	if res[0].ShadowInstH != 0 {
		t.Errorf("a policy without shadows paid %v shadow hours", res[0].ShadowInstH)
	}
	if res[0].Actions != 4 {
		t.Errorf("actions %d, want 4", res[0].Actions)
	}
	if math.Abs(res[0].CostUSD-float64(wantTicks)/60*0.1632) > 1e-9 {
		t.Errorf("cost %v, want %v", res[0].CostUSD, float64(wantTicks)/60*0.1632)
	}
}

func TestShadowBacklogArithmetic(t *testing.T) {
	cfg := testConfig()
	// 1 instance (100 req/s at T=0.6 would give 2: start at 50 to get 1).
	// Tick 0..2: 50 req/s; tick 3..5: 100 (100%); tick 6..8: 200 (overload);
	// tick 9..: 50 again.
	d := demandOf(14, func(i int) float64 {
		switch {
		case i < 3:
			return 50
		case i < 6:
			return 100
		case i < 9:
			return 200
		}
		return 50
	})
	p := &scripted{shadows: true}
	res, err := Run(cfg, d, []Policy{p})
	if err != nil {
		t.Fatal(err)
	}
	// Per minute: the shadow applies at most 0.25*100*60 = 1500 mutations.
	// Live: 50 req/s -> 900 mutations; 100 -> 1800 (300 over the shadow);
	// 200 offered -> 3600 offered, 1800 applied (served at capacity).
	type want struct{ accepted, applied, shadow, backlog float64 }
	wants := []want{
		{900, 900, 900, 0}, {900, 900, 900, 0}, {900, 900, 900, 0},
		{1800, 1800, 1500, 300}, {1800, 1800, 1500, 600}, {1800, 1800, 1500, 900},
		{3600, 1800, 1500, 1200}, {3600, 1800, 1500, 1500}, {3600, 1800, 1500, 1800},
		{900, 900, 1500, 1200}, {900, 900, 1500, 600}, {900, 900, 1500, 0}, {900, 900, 900, 0},
	}
	for i, w := range wants {
		rs := p.views[i].Resources
		if len(rs) != 1 {
			t.Fatalf("tick %d: %d resources, want 1", i, len(rs))
		}
		r := rs[0]
		got := want{r.LiveAccepted, r.LiveApplied, r.ShadowApplied, r.ShadowBacklog}
		for k, g := range []float64{got.accepted, got.applied, got.shadow, got.backlog} {
			if math.Abs(g-[]float64{w.accepted, w.applied, w.shadow, w.backlog}[k]) > 1e-6 {
				t.Fatalf("tick %d: counts %+v, want %+v", i, got, w)
			}
		}
	}
	r := res[0]
	if r.ShadowInstH != r.LiveInstH || r.ShadowInstH == 0 {
		t.Errorf("shadow hours %v, want the live hours %v", r.ShadowInstH, r.LiveInstH)
	}
	if want := r.LiveInstH*0.1632 + r.ShadowInstH*0.0168; math.Abs(r.CostUSD-want) > 1e-9 {
		t.Errorf("cost %v, want live and shadows %v", r.CostUSD, want)
	}
	// Overload: ticks 6..8 (200 > 100). Risk (> 90%): ticks 3..8.
	if r.OverloadMin != 3 || r.RiskMin != 6 {
		t.Errorf("overload %d risk %d, want 3 and 6", r.OverloadMin, r.RiskMin)
	}
	total := 3*50 + 3*100 + 3*200 + 5*50.0
	if want := 100 * 300 / total; math.Abs(r.UnservedPct-want) > 1e-9 {
		t.Errorf("unserved %v%%, want %v%%", r.UnservedPct, want)
	}
}

func TestInitialCount(t *testing.T) {
	cfg := testConfig()
	tests := []struct {
		first float64
		want  int
	}{{0, 1}, {59, 1}, {60, 1}, {61, 2}, {600, 10}, {5000, 20}}
	for _, tc := range tests {
		if got := cfg.Initial(demandOf(2, func(int) float64 { return tc.first })); got != tc.want {
			t.Errorf("first demand %v: initial %d, want %d", tc.first, got, tc.want)
		}
	}
}

func TestReactiveHandChecked(t *testing.T) {
	cfg := testConfig()
	// 100 req/s (2 instances at 60%), 300 from tick 10 to 39, 100 after.
	d := demandOf(80, func(i int) float64 {
		if i >= 10 && i < 40 {
			return 300
		}
		return 100
	})
	ps := DefaultPolicySet(cfg)
	res, series, err := RunRecorded(cfg, d, []Policy{NewReactive(ps.Reactive)}, true)
	if err != nil {
		t.Fatal(err)
	}
	r, s := res[0], series[0]
	// Above 60% at ticks 10, 11, 12: scale out at 12 to ceil(300/60) = 5,
	// in service at 17, so ticks 10..16 are overloaded (300 > 200).
	// Below 54% from tick 40 (100/500): the 15th datapoint is tick 54,
	// scale in to ceil(100/60) = 2.
	if len(s.Decisions) != 2 {
		t.Fatalf("decisions %+v, want 2", s.Decisions)
	}
	if d0 := s.Decisions[0]; d0.Tick != 12 || d0.From != 2 || d0.To != 5 {
		t.Errorf("scale-out %+v, want tick 12, 2 -> 5", d0)
	}
	if d1 := s.Decisions[1]; d1.Tick != 54 || d1.From != 5 || d1.To != 2 {
		t.Errorf("scale-in %+v, want tick 54, 5 -> 2", d1)
	}
	if r.OverloadMin != 7 || r.Actions != 2 {
		t.Errorf("overload %d actions %d, want 7 and 2", r.OverloadMin, r.Actions)
	}
	// Paid: 2 x 80 + 3 x (54 - 12).
	if got, want := r.LiveInstH*60, float64(2*80+3*42); math.Abs(got-want) > 1e-9 {
		t.Errorf("paid %v instance-minutes, want %v", got, want)
	}
	// lead: demand above 0.6*100*2 = 120 since tick 10: ordered at 12, lead -2.
	if r.LeadMin != -2 {
		t.Errorf("lead %v, want -2", r.LeadMin)
	}
}

func TestPredictiveSchedulesAheadOfTheHour(t *testing.T) {
	cfg := testConfig()
	// Three days: 600 req/s during 10:00-10:59, 100 otherwise.
	d := demandOf(3*1440, func(i int) float64 {
		if (i%1440)/60 == 10 {
			return 600
		}
		return 100
	})
	ps := DefaultPolicySet(cfg)
	res, series, err := RunRecorded(cfg, d, []Policy{NewReactive(ps.Reactive), NewPredictive(ps.Predictive)}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Day 1 (no history yet): both overload as the hour starts. Days 2 and 3:
	// predictive orders ceil(600/60) = 10 at 09:55, in service at 10:00.
	overloadOnDay := func(s Series, day int) int {
		n := 0
		for i := day * 1440; i < (day+1)*1440; i++ {
			if d.Values[i] > float64(s.InService[i])*cfg.Capacity {
				n++
			}
		}
		return n
	}
	re, pr := series[0], series[1]
	if overloadOnDay(pr, 0) == 0 || overloadOnDay(re, 1) == 0 {
		t.Fatalf("want overload on day 1 for both and on day 2 for reactive: %d, %d", overloadOnDay(pr, 0), overloadOnDay(re, 1))
	}
	for day := 1; day < 3; day++ {
		// The hour's capacity holds from 09:55 to 10:55, when the next hour's
		// (2) replaces it: the reactive count (2) takes over for the last
		// minutes of the hour, which overload until reactive catches up.
		for i := day*1440 + 10*60; i < day*1440+10*60+55; i++ {
			if d.Values[i] > float64(pr.InService[i])*cfg.Capacity {
				t.Fatalf("day %d: predictive overloaded at %s", day+1, d.Time(i).Format("15:04"))
			}
		}
		if got := pr.Desired[day*1440+9*60+55]; got != 10 {
			t.Errorf("day %d 09:55: predictive desired %d, want 10", day+1, got)
		}
		if got := pr.Desired[day*1440+9*60+54]; got >= 10 {
			t.Errorf("day %d 09:54: predictive desired %d, want the capacity not yet ordered", day+1, got)
		}
	}
	if res[1].OverloadMin >= res[0].OverloadMin {
		t.Errorf("predictive overload %d, want less than reactive's %d", res[1].OverloadMin, res[0].OverloadMin)
	}
}

func TestOracleLaunchesOneLeadAhead(t *testing.T) {
	cfg := testConfig()
	// 100 req/s, then 450 from tick 20 to 29: 450/90 = 5 instances.
	d := demandOf(60, func(i int) float64 {
		if i >= 20 && i < 30 {
			return 450
		}
		return 100
	})
	res, series, err := RunRecorded(cfg, d, []Policy{NewOracle(OracleConfig{MaxUtil: 0.9}, d, func(int) float64 { return cfg.Capacity }, cfg.Lead())}, true)
	if err != nil {
		t.Fatal(err)
	}
	s := series[0]
	if res[0].OverloadMin != 0 || res[0].RiskMin != 0 {
		t.Errorf("oracle overload %d risk %d, want 0", res[0].OverloadMin, res[0].RiskMin)
	}
	if s.Decisions[0].Tick != 15 || s.Decisions[0].To != 5 {
		t.Errorf("first order %+v, want 5 at tick 15", s.Decisions[0])
	}
	if s.InService[19] != 2 || s.InService[20] != 5 {
		t.Errorf("in service %d at 19 and %d at 20, want 2 and 5", s.InService[19], s.InService[20])
	}
	// Demand 100 needs 2 at 90%; it lets go at tick 30.
	if s.Desired[29] != 5 || s.Desired[30] != 2 {
		t.Errorf("desired %d at 29 and %d at 30, want 5 and 2", s.Desired[29], s.Desired[30])
	}
}

func TestPrepareDemand(t *testing.T) {
	tr, err := trace.Parse(strings.NewReader("timestamp,value\n2026-01-01 00:00:00,10\n2026-01-01 00:05:00,20\n2026-01-01 00:15:00,0\n"), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	d, err := PrepareDemand(tr, time.Minute, 1, 800)
	if err != nil {
		t.Fatal(err)
	}
	// 16 ticks: 10..20 over 5 minutes, then 20..0 over 10 (the gap at 00:10
	// is filled on the grid). Scaled so the max (20) is 800.
	if d.Len() != 16 {
		t.Fatalf("%d ticks, want 16", d.Len())
	}
	want := map[int]float64{0: 400, 1: 480, 5: 800, 10: 400, 15: 0}
	for i, w := range want {
		if math.Abs(d.Values[i]-w) > 1e-9 {
			t.Errorf("tick %d: %v, want %v", i, d.Values[i], w)
		}
	}
	bad := []struct {
		name string
		tr   trace.Trace
		tick time.Duration
	}{
		{"all zero", trace.Trace{Name: "z", Times: []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}, Values: []float64{0, 0, 0}}, time.Minute},
		{"zero tick", tr, 0},
		{"shorter than two ticks", trace.Trace{Name: "s", Times: []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second)}, Values: []float64{1, 2, 3}}, time.Minute},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := PrepareDemand(tc.tr, tc.tick, 0.99, 800); !errors.Is(err, ErrBadInput) {
				t.Fatalf("err %v, want ErrBadInput", err)
			}
		})
	}
}

// TestQuantile pins the reading of SCALING.md's 99th percentile: the order
// statistic at floor(q·(n−1)) (numpy's "lower"), not an interpolation
// between two (what SCALING_REFERENCE.md's figures show).
func TestQuantile(t *testing.T) {
	xs := []float64{40, 10, 30, 20} // sorted 10 20 30 40
	tests := []struct {
		q, want float64
	}{
		{0, 10},
		{0.5, 20}, // linear would give 25
		{0.99, 30},
		{2.0 / 3, 30},
		{1, 40},
	}
	for _, tc := range tests {
		if got := Quantile(xs, tc.q); got != tc.want {
			t.Errorf("Quantile(%v, %v) = %v, want %v", xs, tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of nothing is not NaN")
	}
	if xs[0] != 40 {
		t.Error("Quantile sorted its input")
	}
	// PrepareDemand scales that statistic to the target: 101 ticks rising
	// 0..100, the 0.99 quantile is the tick at 99 (linear: 99 too, so use
	// 0.995: lower 99, linear 99.5).
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range 101 {
		fmt.Fprintf(&b, "%s,%d\n", t0.Add(time.Duration(i)*time.Minute).Format("2006-01-02 15:04:05"), i)
	}
	tr, err := trace.Parse(strings.NewReader(b.String()), "ramp.csv")
	if err != nil {
		t.Fatal(err)
	}
	d, err := PrepareDemand(tr, time.Minute, 0.995, 800)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Values[99]; math.Abs(got-800) > 1e-9 {
		t.Errorf("tick 99 scaled to %v, want 800 (the lower order statistic at the target)", got)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	cfg := testConfig()
	good := demandOf(10, func(int) float64 { return 100 })
	bad := demandOf(10, func(i int) float64 {
		if i == 5 {
			return math.NaN()
		}
		return 100
	})
	badCfg := cfg
	badCfg.Max = 0
	badCfg.WriteShare = 2
	tests := []struct {
		name string
		cfg  Config
		d    Demand
		want string
	}{
		{"nan demand", cfg, bad, "tick 5"},
		{"empty demand", cfg, Demand{Name: "e"}, "no ticks"},
		{"bad config", badCfg, good, "write share"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.cfg, tc.d, []Policy{&scripted{}})
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrBadInput mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := DefaultPolicySet(cfg).Build(cfg, good, []string{"nonsense"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("unknown policy: err %v, want ErrBadInput", err)
	}
}

// TestNoLookAhead: every policy but the oracle, given the demand cut at tick
// t, decides at t exactly what it decides when given the whole demand.
func TestNoLookAhead(t *testing.T) {
	cfg := testConfig()
	// Two and a half days of a daily wave with bursts, so that predictive
	// has history and the shadow loop has forecast and calibrated.
	n := 5*1440/2 + 17
	d := demandOf(n, func(i int) float64 {
		v := 400 + 300*math.Sin(2*math.Pi*float64(i)/1440)
		if i%997 < 20 {
			v += 500
		}
		return v + float64((i*7919)%101)
	})
	names := []string{"reactive", "predictive", "shadow"}
	full := runDesired(t, cfg, d, names)
	for _, cut := range []int{1, 7, 600, 1441, 2000, n - 1} {
		part := runDesired(t, cfg, d.Cut(cut), names)
		for p := range names {
			for i := 0; i < cut; i++ {
				if part[p][i] != full[p][i] {
					t.Fatalf("%s cut at %d: desired %d at tick %d, whole trace gives %d", names[p], cut, part[p][i], i, full[p][i])
				}
			}
		}
	}
}

func runDesired(t *testing.T, cfg Config, d Demand, names []string) [][]int32 {
	t.Helper()
	pols, err := DefaultPolicySet(cfg).Build(cfg, d, names)
	if err != nil {
		t.Fatal(err)
	}
	_, series, err := RunRecorded(cfg, d, pols, true)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]int32, len(series))
	for i, s := range series {
		out[i] = s.Desired
	}
	return out
}

func TestSimulateRecordsTheSeries(t *testing.T) {
	cfg := testConfig()
	tr, err := Synthetic("bursty", 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := PrepareDemand(tr, time.Minute, 0.99, cfg.P99Instances*cfg.Capacity)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DefaultPolicySet(cfg).Simulate(cfg, d, PolicyNames, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Results) != len(PolicyNames) || len(rec.Series) != len(PolicyNames) || rec.Shadow == nil {
		t.Fatalf("recording has %d results, %d series, shadow trace %v", len(rec.Results), len(rec.Series), rec.Shadow != nil)
	}
	for i, s := range rec.Series {
		if len(s.InService) != d.Len() || len(s.Desired) != d.Len() {
			t.Fatalf("%s: series of %d/%d ticks, want %d", s.Policy, len(s.InService), len(s.Desired), d.Len())
		}
		if len(s.Decisions) != rec.Results[i].Actions {
			t.Errorf("%s: %d decisions recorded, %d actions counted", s.Policy, len(s.Decisions), rec.Results[i].Actions)
		}
	}
	sh := rec.Shadow
	// After the first lead, every tick has the forecast made a lead before,
	// with the band around it and the calibrated bound above the mean.
	var forecasts, behind int
	for i := 1440; i < d.Len(); i++ {
		if math.IsNaN(sh.Mean[i]) {
			continue
		}
		forecasts++
		if !(sh.P10[i] <= sh.Mean[i] && sh.Mean[i] <= sh.P90[i] && sh.Mean[i] <= sh.Upper[i]) {
			t.Fatalf("tick %d: band [%v, %v], mean %v, upper %v", i, sh.P10[i], sh.P90[i], sh.Mean[i], sh.Upper[i])
		}
		// The loop sees what was offered to the live agents, overload or not.
		if want := d.Values[i] * cfg.WriteShare * 60; math.Abs(sh.Actual[i]-want) > 1e-6*want {
			t.Fatalf("tick %d: actual %v mutations, want %v", i, sh.Actual[i], want)
		}
		if sh.Tripped[i] {
			behind++
		}
	}
	if forecasts < d.Len()-1440-10 {
		t.Errorf("%d ticks with a forecast after the first day, want nearly %d", forecasts, d.Len()-1440)
	}
	if behind == 0 {
		t.Error("the shadows never fell behind on a bursty trace")
	}
	for _, dc := range rec.Series[2].Decisions {
		if dc.Reason == "" {
			t.Fatalf("shadow decision without a reason: %+v", dc)
		}
	}
}

func TestSynthetic(t *testing.T) {
	for _, k := range SyntheticKinds {
		a, err := Synthetic(k, 2, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Synthetic(k, 2, 7)
		if a.Len() != 576 || a.Values[100] != b.Values[100] {
			t.Fatalf("%s: %d points, not deterministic", k, a.Len())
		}
		for _, v := range a.Values {
			if !(v >= 0) {
				t.Fatalf("%s: value %v", k, v)
			}
		}
	}
	if _, err := Synthetic("sawtooth", 2, 1); !errors.Is(err, ErrBadInput) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestShadowBeatsReactiveOnSyntheticFamilies guards the shadow policy's
// generality: over one trace of each synthetic family (none of them the
// traces it was tuned on), it must overload less than reactive at a lower
// cost, and stay within 1.4x of the oracle's cost.
func TestShadowBeatsReactiveOnSyntheticFamilies(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 8 x 14 days")
	}
	cfg := testConfig()
	var over, cost [5]float64
	for _, k := range SyntheticKinds {
		tr, err := Synthetic(k, 14, 3)
		if err != nil {
			t.Fatal(err)
		}
		d, err := PrepareDemand(tr, time.Minute, 0.99, cfg.P99Instances*cfg.Capacity)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := DefaultPolicySet(cfg).Simulate(cfg, d, PolicyNames, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rec.Results {
			over[i] += float64(r.OverloadMin)
			cost[i] += r.CostUSD
		}
	}
	const reactive, shadow, oracle = 0, 2, 3
	if over[shadow] >= 0.6*over[reactive] || cost[shadow] >= cost[reactive] || cost[shadow] > 1.4*cost[oracle] {
		t.Fatalf("shadow overload %v (reactive %v), cost %v (reactive %v, oracle %v)", over[shadow], over[reactive], cost[shadow], cost[reactive], cost[oracle])
	}
	t.Logf("shadow/reactive overload %.3f cost %.3f, shadow/oracle cost %.3f", over[shadow]/over[reactive], cost[shadow]/cost[reactive], cost[shadow]/cost[oracle])
}
