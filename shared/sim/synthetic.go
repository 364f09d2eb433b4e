package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

// SyntheticKinds are the families Synthetic generates, each shaped after a
// kind of real load: smooth daily (taxi rides), daily plus weekly, bursty
// (tweets), a mean-reverting random walk (instance CPU), level shifts
// (misconfigurations), rare huge spikes (network bytes), growth on top of a
// daily wave, and a daily pattern under heavy noise.
var SyntheticKinds = []string{"daily", "weekly", "bursty", "walk", "shifts", "spiky", "growth", "noisy"}

// Synthetic returns a deterministic synthetic trace of the given kind: days
// of 5-minute points from seed. It exists to check that the policies are not
// tuned to the traces at hand.
func Synthetic(kind string, days int, seed uint64) (trace.Trace, error) {
	if days < 1 || days > 3650 {
		return trace.Trace{}, fmt.Errorf("synthetic trace of %d days: must be 1 to 3650: %w", days, ErrBadInput)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(len(kind))*0x9e3779b97f4a7c15))
	const step = 5 * time.Minute
	n := days * 288
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) // a Monday
	daily := func(i int) float64 { return math.Sin(2 * math.Pi * (float64(i%288)/288 - 0.3)) }
	v := make([]float64, n)
	switch kind {
	case "daily":
		for i := range v {
			v[i] = 100 + 70*daily(i) + 5*rng.NormFloat64()
		}
	case "weekly":
		for i := range v {
			wk := 1.0
			if d := (i / 288) % 7; d >= 5 {
				wk = 0.55
			}
			v[i] = wk*(100+70*daily(i)) + 6*rng.NormFloat64()
		}
	case "bursty":
		burst, left := 0.0, 0
		for i := range v {
			if left == 0 && rng.Float64() < 1.0/150 {
				burst, left = 50+rng.ExpFloat64()*120, 1+rng.IntN(12)
			}
			b := 0.0
			if left > 0 {
				b = burst
				left--
			}
			v[i] = 60 + 25*daily(i) + b + 10*rng.NormFloat64()
		}
	case "walk":
		x := 0.0
		for i := range v {
			x = 0.98*x + 0.15*rng.NormFloat64()
			v[i] = 50 * math.Exp(x)
		}
	case "shifts":
		level := 50.0
		for i := range v {
			if rng.Float64() < 1.0/500 {
				level = 20 + rng.Float64()*100
			}
			v[i] = level + 4*rng.NormFloat64()
		}
	case "spiky":
		for i := range v {
			v[i] = 30 + 8*daily(i) + 3*rng.NormFloat64()
			if rng.Float64() < 1.0/800 {
				v[i] *= 5 + 40*rng.Float64()
			}
		}
	case "growth":
		for i := range v {
			g := 1 + 2*float64(i)/float64(n)
			v[i] = g*(60+40*daily(i)) + 4*rng.NormFloat64()
		}
	case "noisy":
		for i := range v {
			v[i] = 80 + 50*daily(i) + 35*rng.NormFloat64()
		}
	default:
		return trace.Trace{}, fmt.Errorf("unknown synthetic kind %q (want one of %v): %w", kind, SyntheticKinds, ErrBadInput)
	}
	tr := trace.Trace{Name: fmt.Sprintf("synthetic_%s_%d.csv", kind, seed), Times: make([]time.Time, n), Values: v}
	for i := range v {
		tr.Times[i] = start.Add(time.Duration(i) * step)
		v[i] = max(0, v[i])
	}
	return tr, nil
}
