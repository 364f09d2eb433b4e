package control

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// BenchmarkStep is one minute of the loop with a warm smoother and a group
// of 8 resources.
func BenchmarkStep(b *testing.B) {
	l, err := New(testConfig(), smoother, nil)
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
}

// BenchmarkStateRoundTrip is what the Lambda adds each minute: save the
// state to JSON and load it back.
func BenchmarkStateRoundTrip(b *testing.B) {
	l, _ := New(testConfig(), smoother, nil)
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
		if err := l.Restore(back); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(raw)), "state-bytes")
	}
}
