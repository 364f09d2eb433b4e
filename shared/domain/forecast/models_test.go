package forecast

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// allModels are the package's models, the default included.
func allModels() []Model {
	return []Model{Persistence{}, SeasonalNaive{}, Holt{}, HoltWinters{}, ARIMA{}, Default()}
}

// The synthetic series are 5-minute points with a 288-point day, six days
// of history unless said otherwise; truth(i) is the noise-free value, so a
// forecast can be checked against what a sound model should say.
const (
	testSeason  = 288
	testHorizon = 12
)

type synthetic struct {
	name string
	n    int
	// value returns the observed value at i (noise, spikes, gaps included)
	// and the noise-free value a forecast should be near.
	value func(i int, r testRand) (obs, truth float64)
	// tol is the largest mean absolute difference allowed between a
	// model's forecast and the truth, by model name; a model absent from
	// the map is not held to this series (e.g. persistence on a season).
	tol map[string]float64
}

func sine(i int) float64 { return 100 + 40*math.Sin(2*math.Pi*float64(i)/testSeason) }

var syntheticSeries = []synthetic{
	{
		name:  "constant",
		n:     6 * testSeason,
		value: func(i int, _ testRand) (float64, float64) { return 42, 42 },
		tol:   map[string]float64{"persistence": 1e-9, "seasonal_naive": 1e-9, "holt": 1e-9, "holt_winters": 1e-9, "arima": 1e-9, "default": 1e-9},
	},
	{
		name:  "pure season",
		n:     6 * testSeason,
		value: func(i int, _ testRand) (float64, float64) { return sine(i), sine(i) },
		tol:   map[string]float64{"seasonal_naive": 1e-9, "holt_winters": 0.5, "arima": 0.5, "default": 0.5},
	},
	{
		name: "season and noise",
		n:    6 * testSeason,
		value: func(i int, r testRand) (float64, float64) {
			return sine(i) + 3*r.norm(), sine(i)
		},
		// Noise of 3 (mean absolute 2.4): a sound model is well within it.
		tol: map[string]float64{"holt_winters": 3, "arima": 3, "default": 3},
	},
	{
		name: "trend",
		n:    4 * testSeason,
		value: func(i int, r testRand) (float64, float64) {
			v := 10 + 0.5*float64(i)
			return v + 0.5*r.norm(), v
		},
		// Damped trends undershoot a straight line a little over 12 steps
		// (0.5 a step); ARIMA without drift follows it through its AR part.
		tol: map[string]float64{"holt": 2, "holt_winters": 2.5, "arima": 3, "default": 2.5},
	},
	{
		name: "spikes",
		n:    6 * testSeason,
		value: func(i int, r testRand) (float64, float64) {
			v := 50 + r.norm()
			truth := 50.0
			switch {
			case i%101 == 0:
				v += 500
			case i == 6*testSeason-5: // just before the origin
				v -= 400
			}
			return v, truth
		},
		tol: map[string]float64{"holt": 2, "holt_winters": 3, "arima": 3, "default": 2},
	},
	{
		name: "gaps",
		n:    6 * testSeason,
		value: func(i int, r testRand) (float64, float64) {
			if (i >= 600 && i < 700) || (i > 6*testSeason-8 && i < 6*testSeason-2) || i%37 == 0 {
				return math.NaN(), sine(i)
			}
			return sine(i) + r.norm(), sine(i)
		},
		tol: map[string]float64{"persistence": 40, "holt_winters": 3, "arima": 3, "default": 3},
	},
	{
		name: "outage then recovery",
		n:    6 * testSeason,
		value: func(i int, r testRand) (float64, float64) {
			if i >= 5*testSeason && i < 6*testSeason-30 {
				return 0, 0 // an outage: flat zeros
			}
			return 80 + r.norm(), 80
		},
		// Back at 80 for 30 points: the level shift is recognised.
		tol: map[string]float64{"persistence": 3, "holt": 3, "holt_winters": 6, "arima": 4, "default": 4},
	},
	{
		name: "level shift",
		n:    6 * testSeason,
		value: func(i int, r testRand) (float64, float64) {
			if i >= 6*testSeason-20 {
				return 160 + r.norm(), 160
			}
			return 60 + r.norm(), 60
		},
		tol: map[string]float64{"persistence": 3, "holt": 4, "holt_winters": 6, "arima": 4, "default": 4},
	},
}

func (s synthetic) build() (obs, truth []float64) {
	r := newTestRand(uint64(len(s.name)) * 7919)
	obs = make([]float64, s.n+testHorizon)
	truth = make([]float64, s.n+testHorizon)
	for i := range obs {
		obs[i], truth[i] = s.value(i, r)
	}
	return obs, truth
}

// TestModelsOnSyntheticSeries checks every model's forecast against the
// noise-free continuation, and the interval's order, on each series.
func TestModelsOnSyntheticSeries(t *testing.T) {
	for _, s := range syntheticSeries {
		obs, truth := s.build()
		in := Input{Values: obs[:s.n], Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon}
		for _, m := range allModels() {
			t.Run(s.name+"/"+m.Name(), func(t *testing.T) {
				f, err := m.Forecast(in)
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Mean) != testHorizon || len(f.P10) != testHorizon || len(f.P90) != testHorizon {
					t.Fatalf("lengths %d/%d/%d, want %d", len(f.Mean), len(f.P10), len(f.P90), testHorizon)
				}
				for k := range f.Mean {
					if !finite(f.Mean[k]) || !finite(f.P10[k]) || !finite(f.P90[k]) {
						t.Fatalf("step %d: non-finite forecast %v [%v, %v]", k+1, f.Mean[k], f.P10[k], f.P90[k])
					}
					if !(f.P10[k] <= f.Mean[k] && f.Mean[k] <= f.P90[k]) {
						t.Fatalf("step %d: P10 %v <= mean %v <= P90 %v does not hold", k+1, f.P10[k], f.Mean[k], f.P90[k])
					}
				}
				tol, held := s.tol[m.Name()]
				if !held {
					return
				}
				mae := 0.0
				for k, v := range f.Mean {
					mae += math.Abs(v - truth[s.n+k])
				}
				mae /= testHorizon
				if mae > tol {
					t.Errorf("forecast %v\ntruth    %v\nmean absolute difference %.4g, allowed %.4g", round2(f.Mean), round2(truth[s.n:]), mae, tol)
				}
			})
		}
	}
}

func round2(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Round(x*100) / 100
	}
	return out
}

// TestNoLookAhead: a forecast from a prefix equals the forecast from the
// same prefix cut from a longer series whose future is different (and lies
// within the slice's capacity, where a model could wrongly reach).
func TestNoLookAhead(t *testing.T) {
	for _, s := range syntheticSeries {
		obs, _ := s.build()
		long := append([]float64(nil), obs...)
		other := append([]float64(nil), obs...)
		for i := s.n; i < len(other); i++ {
			other[i] = -1000 * other[i]
		}
		for _, m := range allModels() {
			t.Run(s.name+"/"+m.Name(), func(t *testing.T) {
				a, errA := m.Forecast(Input{Values: long[:s.n], Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
				b, errB := m.Forecast(Input{Values: other[:s.n], Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
				exact := append([]float64(nil), obs[:s.n]...)
				c, errC := m.Forecast(Input{Values: exact, Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
				if errA != nil || errB != nil || errC != nil {
					t.Fatalf("errors: %v / %v / %v", errA, errB, errC)
				}
				for k := range a.Mean {
					if a.Mean[k] != b.Mean[k] || a.Mean[k] != c.Mean[k] || a.P90[k] != b.P90[k] || a.P10[k] != c.P10[k] {
						t.Fatalf("step %d: forecasts %v / %v / %v differ with the future", k+1, a.Mean[k], b.Mean[k], c.Mean[k])
					}
				}
			})
		}
	}
}

// TestDeterministic: the same input gives the same forecast.
func TestDeterministic(t *testing.T) {
	obs, _ := syntheticSeries[2].build()
	in := Input{Values: obs[:6*testSeason], Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon}
	a, _ := Default().Forecast(in)
	b, _ := Default().Forecast(in)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("two forecasts of one input differ:\n%v\n%v", a, b)
	}
}

// TestShortHistories: every model either forecasts or says ErrTooShort,
// never panics, on histories from 2 points to a little over a day, with
// and without gaps.
func TestShortHistories(t *testing.T) {
	r := newTestRand(5)
	full := make([]float64, testSeason+40)
	for i := range full {
		full[i] = sine(i) + r.norm()
	}
	for _, n := range []int{2, 3, 10, 23, 24, 30, 100, testSeason, testSeason + 40} {
		for _, gappy := range []bool{false, true} {
			y := append([]float64(nil), full[:n]...)
			if gappy {
				for i := 0; i < n; i += 3 {
					y[i] = math.NaN()
				}
			}
			for _, m := range allModels() {
				t.Run(fmt.Sprintf("%d/%v/%s", n, gappy, m.Name()), func(t *testing.T) {
					f, err := m.Forecast(Input{Values: y, Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
					if err != nil {
						if !errors.Is(err, ErrTooShort) {
							t.Fatalf("error %v is not ErrTooShort", err)
						}
						return
					}
					for k := range f.Mean {
						if !finite(f.Mean[k]) || f.P10[k] > f.Mean[k] || f.Mean[k] > f.P90[k] {
							t.Fatalf("step %d: %v [%v, %v]", k+1, f.Mean[k], f.P10[k], f.P90[k])
						}
					}
				})
			}
		}
	}
}

func TestAllMissing(t *testing.T) {
	y := make([]float64, 700)
	for i := range y {
		y[i] = math.NaN()
	}
	for _, m := range allModels() {
		t.Run(m.Name(), func(t *testing.T) {
			_, err := m.Forecast(Input{Values: y, Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
			if !errors.Is(err, ErrTooShort) {
				t.Fatalf("error %v, want ErrTooShort", err)
			}
		})
	}
}

// TestHoltWintersSpikeInStart is the failure of statsmodels' Holt-Winters on
// ec2_network_in: one huge spike in the first days must not poison the
// seasonal profile (a median) nor the states (clipped innovations).
func TestHoltWintersSpikeInStart(t *testing.T) {
	r := newTestRand(9)
	n := 7 * testSeason
	y := make([]float64, n+testHorizon)
	for i := range y {
		y[i] = 2e5 + 1e4*r.norm()
	}
	y[300] = 2.45e8 // a thousand times the level, as in the trace
	f, err := HoltWinters{}.Forecast(Input{Values: y[:n], Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range f.Mean {
		if math.Abs(v-2e5) > 2e4 {
			t.Fatalf("step %d: forecast %.4g, the level is 2e5", k+1, v)
		}
	}
}

// TestHoltWintersSeasonChange: a daily pattern that stops (a nightly batch
// switched off) is unlearnt within days, though its phases' errors are
// clipped as spikes at first.
func TestHoltWintersSeasonChange(t *testing.T) {
	r := newTestRand(10)
	n := 8 * testSeason
	y := make([]float64, n+testHorizon)
	for i := range y {
		y[i] = 100 + r.norm()
		if i%testSeason >= 100 && i%testSeason < 106 && i < 4*testSeason {
			y[i] += 500 // a half-hour batch, on the first four days only
		}
	}
	in := Input{Values: y[:n-testSeason+97], Step: 5 * time.Minute, Season: testSeason, Horizon: testHorizon}
	f, err := HoltWinters{}.Forecast(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range f.Mean {
		if math.Abs(v-100) > 20 {
			t.Fatalf("step %d: forecast %.4g at the old batch's hour, four days after it stopped", k+1, v)
		}
	}
}

func TestInputValidate(t *testing.T) {
	for name, in := range map[string]Input{
		"no horizon":      {Values: []float64{1, 2, 3}, Step: time.Minute},
		"no step":         {Values: []float64{1, 2, 3}, Horizon: 1},
		"negative season": {Values: []float64{1, 2, 3}, Step: time.Minute, Horizon: 1, Season: -1},
	} {
		t.Run(name, func(t *testing.T) {
			for _, m := range allModels() {
				if _, err := m.Forecast(in); err == nil {
					t.Errorf("%s: no error", m.Name())
				}
			}
		})
	}
}

// TestHoltWintersWeekly: with five weeks of history Holt-Winters adds a
// weekly season, and forecasts the weekend's lower level that a daily
// season alone cannot know.
func TestHoltWintersWeekly(t *testing.T) {
	const m = 48 // 30-minute points
	r := newTestRand(12)
	truthAt := func(i int) float64 {
		v := 100 + 30*math.Sin(2*math.Pi*float64(i)/m)
		if day := (i / m) % 7; day >= 5 {
			v -= 60 // the weekend
		}
		return v
	}
	n := 5*7*m + 5*m // five weeks, then Monday to Friday: the origin is Saturday 00:00
	y := make([]float64, n)
	for i := range y {
		y[i] = truthAt(i) + 2*r.norm()
	}
	in := Input{Values: y, Step: 30 * time.Minute, Season: m, Horizon: 8}
	f, err := HoltWinters{}.Forecast(in)
	if err != nil {
		t.Fatal(err)
	}
	mae := 0.0
	for k, v := range f.Mean {
		mae += math.Abs(v-truthAt(n+k)) / float64(len(f.Mean))
	}
	if mae > 8 {
		t.Fatalf("forecast %v\ntruth of Saturday morning near %.0f: mean absolute difference %.3g (%s)", round2(f.Mean), truthAt(n), mae, f.Why)
	}
}
