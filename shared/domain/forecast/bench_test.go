package forecast

import (
	"math"
	"testing"
	"time"
)

// benchWindow is a 7-day 5-minute window (2016 points): a daily cycle, a
// trend, noise and a few spikes, deterministic.
func benchWindow() []float64 {
	y := make([]float64, 2016)
	r := newTestRand(1)
	for i := range y {
		y[i] = 100 + 30*math.Sin(2*math.Pi*float64(i)/288) + 0.01*float64(i) + 5*r.norm()
		if i%397 == 0 {
			y[i] += 200
		}
	}
	return y
}

func benchModel(b *testing.B, m Model) {
	in := Input{Values: benchWindow(), Step: 5 * time.Minute, Season: 288, Horizon: 12}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Forecast(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHolt(b *testing.B)        { benchModel(b, Holt{}) }
func BenchmarkHoltWinters(b *testing.B) { benchModel(b, HoltWinters{}) }
func BenchmarkARIMA(b *testing.B)       { benchModel(b, ARIMA{}) }
func BenchmarkDefault(b *testing.B)     { benchModel(b, Default()) }
