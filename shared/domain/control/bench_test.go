package control

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// predictors are the loop's two forecasters, for the benchmarks.
var predictors = []struct {
	name string
	make func(Config) func() (Predictor, error)
}{{"default", DefaultPredictor}, {"smoother", SmootherPredictor}}

// BenchmarkStep is one minute of the loop with a warm forecaster and a
// group of 8 resources (the default forecaster's daily refit included, in
// its share).
func BenchmarkStep(b *testing.B) {
	for _, p := range predictors {
		b.Run(p.name, func(b *testing.B) {
			cfg := testConfig()
			l, err := New(cfg, p.make(cfg), nil)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			i := 0
			for ; i < 2*1440; i++ {
				if _, err := l.Step(observation(i, demandAt(i, rng), 8)); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if _, err := l.Step(observation(i, demandAt(i, rng), 8)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkStateRoundTrip is what the Lambda adds each minute: save the
// state to JSON and load it back (the default forecaster keeps no snapshot:
// its history is replayed by RestoreWithHistory, not measured here).
func BenchmarkStateRoundTrip(b *testing.B) {
	for _, p := range predictors {
		b.Run(p.name, func(b *testing.B) {
			cfg := testConfig()
			l, _ := New(cfg, p.make(cfg), nil)
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range 2 * 1440 {
				l.Step(observation(i, demandAt(i, rng), 8))
			}
			for b.Loop() {
				st, err := l.State()
				if err != nil {
					b.Fatal(err)
				}
				raw, err := json.Marshal(st)
				if err != nil {
					b.Fatal(err)
				}
				var back State
				if err := json.Unmarshal(raw, &back); err != nil {
					b.Fatal(err)
				}
				_ = l.Restore(back)
				l.needHx = false
				b.ReportMetric(float64(len(raw)), "state-bytes")
			}
		})
	}
}

// BenchmarkRestoreWithHistory is a cold Lambda with the default
// forecaster: the state plus 7 days of minutes replayed.
func BenchmarkRestoreWithHistory(b *testing.B) {
	cfg := testConfig()
	l, _ := New(cfg, DefaultPredictor(cfg), nil)
	rng := rand.New(rand.NewPCG(1, 1))
	var demand []float64
	for i := range 7 * 1440 {
		d := demandAt(i, rng)
		demand = append(demand, d)
		l.Step(observation(i, d, 8))
	}
	st, _ := l.State()
	for b.Loop() {
		r, _ := New(cfg, DefaultPredictor(cfg), nil)
		if err := r.RestoreWithHistory(st, demand); err != nil {
			b.Fatal(err)
		}
	}
}
