package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// degenerate are series that real load traces contain and that break naive
// arithmetic: nothing may come out NaN, infinite or out of order, and a
// series with no negative value may get no negative mean or P10.
var degenerate = []struct {
	name string
	f    func(i int, r testRand) float64
	// exact, when not NaN, is the value every forecast must be.
	exact float64
	// mayFail: a single model may refuse the series with an error (the
	// default and the online path may not).
	mayFail bool
}{
	{"constant", func(int, testRand) float64 { return 42 }, 42, false},
	{"all zero", func(int, testRand) float64 { return 0 }, 0, false},
	{"constant negative", func(int, testRand) float64 { return -3 }, -3, false},
	{"tiny constant", func(int, testRand) float64 { return 1e-300 }, 1e-300, false},
	{"flat near zero, quantized", func(i int, r testRand) float64 {
		// An idle CPU: 0.134 with the odd 0.066 or 0.2, as CloudWatch rounds it.
		switch u := r.unif(); {
		case u < 0.05:
			return 0.066
		case u < 0.08:
			return 0.2
		}
		return 0.134
	}, math.NaN(), false},
	{"integer counts", func(_ int, r testRand) float64 { return math.Floor(3 * r.unif()) }, math.NaN(), false},
	{"mostly zero with bursts", func(i int, r testRand) float64 {
		if i%200 < 6 {
			return 4e8 * r.unif()
		}
		return 0
	}, math.NaN(), false},
	{"spike train on zero", func(i int, _ testRand) float64 {
		if i%37 == 0 {
			return 1000
		}
		return 0
	}, math.NaN(), false},
	{"step to zero at the end", func(i int, r testRand) float64 {
		if i >= 6*testSeason-20 {
			return 0
		}
		return 50 + r.norm()
	}, math.NaN(), false},
	{"step up", func(i int, r testRand) float64 {
		if i >= 4*testSeason {
			return 500 + r.norm()
		}
		return 5 + r.norm()
	}, math.NaN(), false},
	// Squares overflow: ARIMA's regressions refuse it.
	{"huge values", func(i int, r testRand) float64 { return 1e300 * (1 + 0.1*r.unif()) }, math.NaN(), true},
}

func TestDegenerateSeries(t *testing.T) {
	for _, s := range degenerate {
		r := newTestRand(21)
		y := make([]float64, 6*testSeason)
		nonNeg := true
		for i := range y {
			y[i] = s.f(i, r)
			nonNeg = nonNeg && y[i] >= 0
		}
		for _, m := range allModels() {
			t.Run(s.name+"/"+m.Name(), func(t *testing.T) {
				f, err := m.Forecast(Input{Values: y, Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
				if err != nil {
					if s.mayFail && m.Name() != "default" {
						return
					}
					t.Fatal(err)
				}
				checkForecast(t, f, nonNeg)
				if !math.IsNaN(s.exact) {
					for k := range f.Mean {
						if f.Mean[k] != s.exact || f.P10[k] != s.exact || f.P90[k] != s.exact {
							t.Fatalf("step %d: %v [%v, %v], want exactly %v", k+1, f.Mean[k], f.P10[k], f.P90[k], s.exact)
						}
					}
				}
			})
		}
		t.Run(s.name+"/online", func(t *testing.T) {
			o, err := NewOnline(OnlineConfig{Step: 5 * time.Minute, Horizon: testHorizon})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range y {
				o.Observe(v)
				if i%97 != 0 && i != len(y)-1 {
					continue
				}
				f, err := o.Forecast(testHorizon)
				if err != nil {
					t.Fatalf("after %d points: %v", i+1, err)
				}
				checkForecast(t, f, nonNeg)
			}
			if err := o.FitErr(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// checkForecast fails t if f has a value that is not finite, P10 > mean or
// mean > P90, or (nonNeg) a negative mean or P10.
func checkForecast(t *testing.T, f Forecast, nonNeg bool) {
	t.Helper()
	for k := range f.Mean {
		m, lo, hi := f.Mean[k], f.P10[k], f.P90[k]
		if !finite(m) || !finite(lo) || !finite(hi) {
			t.Fatalf("step %d: %v [%v, %v]: not finite", k+1, m, lo, hi)
		}
		if lo > m || m > hi {
			t.Fatalf("step %d: %v [%v, %v]: out of order", k+1, m, lo, hi)
		}
		if nonNeg && (lo < 0 || m < 0) {
			t.Fatalf("step %d: %v [%v, %v]: negative for a series that never is", k+1, m, lo, hi)
		}
	}
}

// TestShiftRunFollowsTheData: a robust filter takes a run of outliers for a
// level shift after the number of them that fits the history: one on a
// series whose outliers come as bursts that last (waiting for three leaves
// it on the old level for a burst's first points and on the burst's for its
// last), the default where they are isolated spikes (which it must ignore).
func TestShiftRunFollowsTheData(t *testing.T) {
	n := 4 * testSeason
	bursts := make([]float64, n)
	spikes := make([]float64, n)
	r := newTestRand(31)
	for i := range n {
		bursts[i] = 3 + r.norm()
		spikes[i] = bursts[i]
		if i%150 < 8 {
			bursts[i] = 150 + 10*r.norm()
		}
		if i%150 == 0 {
			spikes[i] = 150
		}
	}
	for _, tc := range []struct {
		name    string
		y       []float64
		wantOne bool
	}{
		{"bursts", bursts, true},
		{"spikes", spikes, false},
	} {
		for _, m := range []method{holtMethod, arimaMethod{maxP: 3, maxQ: 2}} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, m.name()), func(t *testing.T) {
				st, _, err := m.fit(newHistory(tc.y, testSeason, testHorizon))
				if err != nil {
					t.Fatal(err)
				}
				var run int
				switch s := st.(type) {
				case *etsState:
					run = s.scale.run
				case *arimaState:
					run = s.scale.run
				}
				if got := run == 1; got != tc.wantOne {
					t.Fatalf("level-shift run %d", run)
				}
			})
		}
	}
}

// TestCombineRobust: the combination is the mean of the weighted mean and
// the weighted median, so a candidate far from the others moves it by at
// most half its weight's share.
func TestCombineRobust(t *testing.T) {
	tests := []struct {
		w, f []float64
		want float64
	}{
		{[]float64{1}, []float64{7}, 7},
		{[]float64{0.5, 0.5}, []float64{2, 4}, 3},
		{[]float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{10, 10, 1e6}, (10 + (1e6+20)/3) / 2},
		{[]float64{0.2, 0.3, 0.5}, []float64{5, 1, 3}, (0.2*5 + 0.3 + 1.5 + 3) / 2},
		{[]float64{0, 1, 0}, []float64{math.NaN(), 2, 1e9}, 2},
	}
	for _, tc := range tests {
		got := combine(tc.w, tc.f)
		if tc.w[0] == 0 {
			// A candidate with no weight does not count, even if NaN.
			got = combine(tc.w[1:], tc.f[1:])
		}
		if math.Abs(got-tc.want) > 1e-9*math.Abs(tc.want) {
			t.Errorf("combine(%v, %v) = %v, want %v", tc.w, tc.f, got, tc.want)
		}
	}
}

// TestOnlineOneAbsurdValue: one value of 10^12 in a steady load of 3000 (a
// counter reset, a unit error) may move the next forecast, but from the
// second point after it the forecast is back near the load: no candidate
// (the plain Holt above all, whose trend would learn from it) carries it
// forward.
func TestOnlineOneAbsurdValue(t *testing.T) {
	o, err := NewOnline(OnlineConfig{Step: time.Minute, Horizon: 10})
	if err != nil {
		t.Fatal(err)
	}
	spike := 1440 + 600
	for i := range 3 * 1440 {
		v := 3000.0
		if i == spike {
			v = 1e12
		}
		o.Observe(v)
		if i < spike+2 {
			continue
		}
		f, err := o.Forecast(10)
		if err != nil {
			t.Fatal(err)
		}
		for k, m := range f.Mean {
			if m < 1500 || m > 6000 || f.P90[k] > 1e6 {
				t.Fatalf("%d points after the spike, step %d: mean %v, P90 %v; the load is 3000", i-spike, k+1, m, f.P90[k])
			}
		}
	}
}

// TestGuardKeepsPersistenceWhereNothingBeatsIt: on a random walk nothing
// beats the last value, and the backtest cannot show otherwise: most of
// the weight goes to persistence, and the explanation says so. On a clean
// daily wave the combination's advantage is plain and nothing is moved.
func TestGuardKeepsPersistenceWhereNothingBeatsIt(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	walk := make([]float64, 7*288)
	v := 1000.0
	for i := range walk {
		v += 10 * rng.NormFloat64()
		walk[i] = v
	}
	wave := make([]float64, 7*288)
	for i := range wave {
		wave[i] = 1000 + 500*math.Sin(2*math.Pi*float64(i)/288) + 5*rng.NormFloat64()
	}
	for _, tc := range []struct {
		name    string
		y       []float64
		guarded bool
	}{{"random walk", walk, true}, {"daily wave", wave, false}} {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := selectModels(newHistory(tc.y, 288, 12))
			if err != nil {
				t.Fatal(err)
			}
			moved := 0.0
			for _, g := range sel.guarded {
				moved += g / float64(len(sel.guarded))
			}
			if tc.guarded != (moved > 0.2) {
				t.Fatalf("%.0f%% of the weight moved to persistence; %s", 100*moved, sel.why)
			}
			if tc.guarded && !strings.Contains(sel.why, "moved to persistence") {
				t.Errorf("the explanation does not say so: %s", sel.why)
			}
		})
	}
}
