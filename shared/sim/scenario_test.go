package sim

import (
	"math"
	"testing"
	"time"
)

// TestDriftFollowsTheTrueCapacity: after a drift the same group at the
// same demand is overloaded; the policies are still told C, and the
// oracle, which knows, sizes for the true capacity.
func TestDriftFollowsTheTrueCapacity(t *testing.T) {
	cfg := testConfig()
	d := demandOf(100, func(int) float64 { return 400 }) // 4 C
	hold := &scripted{at: map[int]int{0: 5}}             // 5 instances: 80%
	cfg.Drift = []Drift{{At: 0.5, Factor: 0.7}}          // then 5 x 0.7 = 3.5 C
	res, err := Run(cfg, d, []Policy{hold, NewOracle(OracleConfig{MaxUtil: 0.9}, d, func(t int) float64 { return cfg.Capacity * cfg.factorAt(t, d.Len()) }, cfg.Lead())})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].OverloadMin != 50 {
		t.Errorf("held 5 instances: %d overloaded minutes after the drift, want 50", res[0].OverloadMin)
	}
	if res[1].OverloadMin != 0 {
		t.Errorf("the oracle overloaded %d minutes", res[1].OverloadMin)
	}
}

func TestParseDrift(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Drift
		bad  bool
	}{
		{in: "", want: nil},
		{in: "0.4:0.7", want: []Drift{{0.4, 0.7}}},
		{in: "0.4:0.7, 0.7:1", want: []Drift{{0.4, 0.7}, {0.7, 1}}},
		{in: "0.4", bad: true},
		{in: "x:1", bad: true},
	} {
		got, err := ParseDrift(tc.in)
		if tc.bad != (err != nil) || len(got) != len(tc.want) {
			t.Fatalf("%q: %v, %v", tc.in, got, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%q: %v", tc.in, got)
			}
		}
	}
	cfg := testConfig()
	for _, dr := range [][]Drift{{{At: 1, Factor: 1}}, {{At: 0.5, Factor: 0}}, {{At: 0.5, Factor: 1}, {At: 0.4, Factor: 1}}} {
		cfg.Drift = dr
		if cfg.Validate() == nil {
			t.Errorf("drift %v validated", dr)
		}
	}
}

// scenario runs the shadow and shadow-blind policies over one synthetic
// trace of each of a few families.
func scenario(t *testing.T, cfg Config, names []string) map[string]Result {
	t.Helper()
	sums := map[string]Result{}
	for _, k := range []string{"daily", "bursty", "shifts"} {
		tr, err := Synthetic(k, 7, 5)
		if err != nil {
			t.Fatal(err)
		}
		d, err := PrepareDemand(tr, time.Minute, 0.99, cfg.P99Instances*cfg.Capacity)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := DefaultPolicySet(cfg).Simulate(cfg, d, names, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rec.Results {
			s := sums[r.Policy]
			s.OverloadMin += r.OverloadMin
			s.RiskMin += r.RiskMin
			s.CostUSD += r.CostUSD
			s.LiveInstH += r.LiveInstH
			s.ShadowInstH += r.ShadowInstH
			sums[r.Policy] = s
		}
	}
	return sums
}

// TestShadowBlindIgnoresTheShadows: the ablation pays for no shadow and
// decides exactly as it would if every instance served C: a drift, which
// only the shadows could tell it, changes nothing it does.
func TestShadowBlindIgnoresTheShadows(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 3 x 7 days twice")
	}
	cfg := testConfig()
	plain := scenario(t, cfg, []string{"shadow-blind"})
	cfg.Drift = []Drift{{At: 0.4, Factor: 0.7}}
	drift := scenario(t, cfg, []string{"shadow-blind"})
	b, d := plain["shadow-blind"], drift["shadow-blind"]
	if b.ShadowInstH != 0 || b.LiveInstH != d.LiveInstH {
		t.Fatalf("blind: %v shadow hours; %v live hours plain, %v under drift", b.ShadowInstH, b.LiveInstH, d.LiveInstH)
	}
	if d.OverloadMin <= b.OverloadMin {
		t.Errorf("a 30%% capacity loss did not overload the blind policy more: %d vs %d", d.OverloadMin, b.OverloadMin)
	}
}

// TestShadowsSeeTheDrift: the shadows tell the loop that a mutation costs
// more, and it overloads far less than the ablation under the drift.
func TestShadowsSeeTheDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 3 x 7 days")
	}
	cfg := testConfig()
	cfg.Drift = []Drift{{At: 0.4, Factor: 0.7}}
	s := scenario(t, cfg, []string{"shadow", "shadow-blind"})
	sh, bl := s["shadow"], s["shadow-blind"]
	t.Logf("drift 0.4:0.7: shadow overload %d risk %d cost %.2f; blind overload %d risk %d cost %.2f", sh.OverloadMin, sh.RiskMin, sh.CostUSD, bl.OverloadMin, bl.RiskMin, bl.CostUSD)
	if float64(sh.OverloadMin) > 0.5*float64(bl.OverloadMin) || sh.RiskMin > bl.RiskMin {
		t.Fatalf("shadow overload %d risk %d vs blind %d, %d", sh.OverloadMin, sh.RiskMin, bl.OverloadMin, bl.RiskMin)
	}
}

// TestUnknownCapacityIsLearned: told no capacity, the shadow policy learns
// it from the group's utilization and does within 10% of itself told.
func TestUnknownCapacityIsLearned(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates 3 x 7 days twice")
	}
	cfg := testConfig()
	known := scenario(t, cfg, []string{"shadow"})["shadow"]
	cfg.UnknownCapacity = true
	learned := scenario(t, cfg, []string{"shadow"})["shadow"]
	within := func(a, b float64) bool { return math.Abs(a-b) <= 0.1*math.Max(b, 10) }
	if !within(float64(learned.OverloadMin), float64(known.OverloadMin)) || !within(learned.CostUSD, known.CostUSD) {
		t.Fatalf("learned: overload %d cost %.2f; told: %d, %.2f", learned.OverloadMin, learned.CostUSD, known.OverloadMin, known.CostUSD)
	}
}

func TestSignalStats(t *testing.T) {
	b := func(s string) []bool {
		out := make([]bool, len(s))
		for i, c := range s {
			out[i] = c == 'x'
		}
		return out
	}
	for _, tc := range []struct {
		name                string
		tripped, overloaded string
		pre, late, miss, fa int
		lead                float64
	}{
		{name: "a lead of 3", tripped: "..xxxxx...", overloaded: ".....xx...", pre: 1, lead: 3},
		{name: "late", tripped: ".....xx...", overloaded: ".....xx...", late: 1, lead: math.NaN()},
		{name: "missed", tripped: "..........", overloaded: "....xx....", miss: 1, lead: math.NaN()},
		{name: "a false alarm", tripped: "xx........................", overloaded: "..........................", fa: 1, lead: math.NaN()},
		{name: "two episodes", tripped: ".xxx..xx....", overloaded: "...x....x...", pre: 2, lead: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := signalStats(b(tc.tripped), b(tc.overloaded), 1)
			if st.Preceded != tc.pre || st.Late != tc.late || st.Missed != tc.miss || st.FalseAlarms != tc.fa {
				t.Fatalf("%+v", st)
			}
			if !(math.IsNaN(tc.lead) && math.IsNaN(st.LeadMin)) && st.LeadMin != tc.lead {
				t.Fatalf("lead %v, want %v", st.LeadMin, tc.lead)
			}
		})
	}
}
