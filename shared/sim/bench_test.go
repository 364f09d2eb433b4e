package sim

import (
	"math"
	"testing"
)

// benchDemand is 14 days of a daily wave with bursts and noise.
func benchDemand() Demand {
	return demandOf(14*1440, func(i int) float64 {
		v := 400 + 300*math.Sin(2*math.Pi*float64(i)/1440)
		if i%997 < 20 {
			v += 400
		}
		return v + float64((i*7919)%61)
	})
}

// BenchmarkRun reports simulated minutes per second for each policy, and
// for the four together as bench scaling runs them.
func BenchmarkRun(b *testing.B) {
	cfg := testConfig()
	d := benchDemand()
	for _, names := range [][]string{{"reactive"}, {"predictive"}, {"shadow"}, {"oracle"}, PolicyNames} {
		name := names[0]
		if len(names) > 1 {
			name = "all"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				pols, err := DefaultPolicySet(cfg).Build(cfg, d, names)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Run(cfg, d, pols); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.Len())*float64(b.N)/b.Elapsed().Seconds(), "sim-min/s")
		})
	}
}
