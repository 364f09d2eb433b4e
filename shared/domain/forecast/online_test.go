package forecast

import (
	"math"
	"testing"
	"time"
)

// onlineSeries is three weeks of 5-minute points: a daily cycle, noise,
// spikes, a gap, an outage at zero and a level shift.
func onlineSeries() []float64 {
	r := newTestRand(11)
	y := make([]float64, 21*288)
	for i := range y {
		y[i] = 100 + 40*math.Sin(2*math.Pi*float64(i)/288) + 4*r.norm()
		switch {
		case i%500 == 7:
			y[i] += 300
		case i >= 3000 && i < 3020:
			y[i] = math.NaN()
		case i >= 4000 && i < 4060:
			y[i] = 0
		case i >= 5000:
			y[i] += 50
		}
	}
	return y
}

func TestOnlineNoLookAhead(t *testing.T) {
	y := onlineSeries()
	cut := 3500 // forecasts up to here must not depend on what follows
	z := append([]float64(nil), y...)
	for i := cut; i < len(z); i++ {
		z[i] = 1e6 - z[i] // a very different future
	}
	cfg := OnlineConfig{Step: 5 * time.Minute, Horizon: 12}
	a, err := NewOnline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewOnline(cfg)
	for i := 0; i < cut; i++ {
		a.Observe(y[i])
		b.Observe(z[i])
		if i%97 != 0 && i != cut-1 {
			continue
		}
		fa, errA := a.Forecast(12)
		fb, errB := b.Forecast(12)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("after %d points: errors differ: %v / %v", i+1, errA, errB)
		}
		for k := range fa.Mean {
			if fa.Mean[k] != fb.Mean[k] || fa.P10[k] != fb.P10[k] || fa.P90[k] != fb.P90[k] {
				t.Fatalf("after %d points: forecasts differ at step %d: %v vs %v", i+1, k+1, fa.Mean[k], fb.Mean[k])
			}
		}
	}
}

// TestOnlineMatchesDefault: right after a refit, the online forecast is the
// default's forecast on the same window.
func TestOnlineMatchesDefault(t *testing.T) {
	y := onlineSeries()
	o, err := NewOnline(OnlineConfig{Step: 5 * time.Minute, Horizon: 12})
	if err != nil {
		t.Fatal(err)
	}
	w := o.Config().Window
	checked := 0
	for i, v := range y {
		o.Observe(v)
		if o.sinceFit != 0 || i+1 < w {
			continue
		}
		got, err := o.Forecast(12)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Default().Forecast(Input{Values: y[i+1-w : i+1], Step: 5 * time.Minute, Season: 288, Horizon: 12})
		if err != nil {
			t.Fatal(err)
		}
		for k := range want.Mean {
			if got.Mean[k] != want.Mean[k] || got.P90[k] != want.P90[k] {
				t.Fatalf("after %d points: online %v, default %v", i+1, got.Mean, want.Mean)
			}
		}
		if got.Model != want.Model {
			t.Errorf("after %d points: model %q, default's %q", i+1, got.Model, want.Model)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d refits checked", checked)
	}
}

func TestOnlineEarly(t *testing.T) {
	o, err := NewOnline(OnlineConfig{Step: time.Minute, Horizon: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Forecast(3); err == nil {
		t.Fatal("forecast with no observation: no error")
	}
	o.Observe(math.NaN())
	o.Observe(5)
	f, err := o.Forecast(3)
	if err != nil {
		t.Fatal(err)
	}
	if f.Model != "persistence" || len(f.Mean) != 3 || f.Mean[2] != 5 {
		t.Fatalf("early forecast %+v, want persistence of 5", f)
	}
	for i := range 200 {
		o.Observe(float64(i % 10))
	}
	f, err = o.Forecast(2)
	if err != nil {
		t.Fatal(err)
	}
	if o.sel == nil || f.Model == "persistence" || len(f.Mean) != 2 {
		t.Fatalf("no fit after 200 observations: %+v (refit error %v)", f, o.FitErr())
	}
	for _, h := range []int{0, 4} {
		if _, err := o.Forecast(h); err == nil {
			t.Errorf("Forecast(%d) with a horizon of 3: no error", h)
		}
	}
}

func TestOnlineConfigErrors(t *testing.T) {
	for name, cfg := range map[string]OnlineConfig{
		"no step":      {Horizon: 1},
		"no horizon":   {Step: time.Minute},
		"negative":     {Step: time.Minute, Horizon: 1, Window: -1},
		"min > window": {Step: time.Minute, Horizon: 1, Window: 100, MinHistory: 5000},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewOnline(cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// BenchmarkOnline is one observation and one forecast of the online
// forecaster, on a stream of 5-minute points (refits once a simulated day
// included, amortised).
func BenchmarkOnline(b *testing.B) {
	y := onlineSeries()
	o, err := NewOnline(OnlineConfig{Step: 5 * time.Minute, Horizon: 12})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range y[:o.Config().Window] {
		o.Observe(v)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o.Observe(y[i%len(y)])
		if _, err := o.Forecast(12); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkOnlineStep is one observation and one forecast between refits:
// the O(1) part of BenchmarkOnline.
func BenchmarkOnlineStep(b *testing.B) {
	y := onlineSeries()
	o, err := NewOnline(OnlineConfig{Step: 5 * time.Minute, Horizon: 12, RefitEvery: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range y[:o.Config().Window] {
		o.Observe(v)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		o.Observe(y[i%len(y)])
		if _, err := o.Forecast(12); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// Online is a predictor for the control loop (shared/domain/control.Predictor).
var _ interface {
	Observe(float64)
	Forecast(int) (Forecast, error)
} = (*Online)(nil)
