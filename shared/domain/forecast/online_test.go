package forecast

import (
	"fmt"
	"math"
	"reflect"
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

// TestObserveAllIsObserve: ObserveAll leaves Online exactly as Observe on
// each point would (the same fields, the same forecasts, and the same
// forecasts after more points), whether it starts empty or fitted, over
// gaps long enough that refits fail, infinities, and a few points only.
func TestObserveAllIsObserve(t *testing.T) {
	series := onlineSeries()
	gappy := make([]float64, 600)
	for i := range gappy {
		gappy[i] = 50 + 10*math.Sin(float64(i)/7)
		switch {
		case i >= 200 && i < 330: // longer than the window: refits fail
			gappy[i] = math.NaN()
		case i == 400:
			gappy[i] = math.Inf(1)
		case i == 401:
			gappy[i] = math.Inf(-1)
		}
	}
	week := OnlineConfig{Step: 5 * time.Minute, Horizon: 12}
	small := OnlineConfig{Step: 5 * time.Minute, Season: 12, Horizon: 4, Window: 64, RefitEvery: 16}
	tests := []struct {
		name      string
		cfg       OnlineConfig
		y         []float64
		first, at int // Observe y[:first], then ObserveAll y[first:at], then Observe the rest
	}{
		{"a week from empty", week, series, 0, 7 * 288},
		{"a week after two days", week, series, 2 * 288, 9 * 288},
		{"over a gap and a level shift", week, series, 2900, 5200},
		{"a few points", week, series, 3000, 3005},
		{"nothing", week, series, 3000, 3000},
		{"fewer than a first fit needs", week, series, 0, 10},
		{"refits failing in a gap, from empty", small, gappy, 0, 500},
		{"refits failing in a gap, fitted before", small, gappy, 150, 300},
		{"ending in the gap", small, gappy, 100, 320},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewOnline(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := NewOnline(tc.cfg)
			for _, v := range tc.y[:tc.first] {
				a.Observe(v)
				b.Observe(v)
			}
			for _, v := range tc.y[tc.first:tc.at] {
				a.Observe(v)
			}
			b.ObserveAll(tc.y[tc.first:tc.at])
			check := func(when string) {
				t.Helper()
				if a.n != b.n || a.pos != b.pos || a.sinceFit != b.sinceFit || a.lastFitN != b.lastFitN || fmt.Sprint(a.fitErr) != fmt.Sprint(b.fitErr) ||
					!sameFloats(a.buf, b.buf) || !sameFloats([]float64{a.last}, []float64{b.last}) {
					t.Fatalf("%s: Observe left n %d pos %d since %d lastN %d err %v last %v; ObserveAll n %d pos %d since %d lastN %d err %v last %v",
						when, a.n, a.pos, a.sinceFit, a.lastFitN, a.fitErr, a.last, b.n, b.pos, b.sinceFit, b.lastFitN, b.fitErr, b.last)
				}
				for h := 1; h <= tc.cfg.Horizon; h++ {
					fa, ea := a.Forecast(h)
					fb, eb := b.Forecast(h)
					if fmt.Sprint(ea) != fmt.Sprint(eb) || !reflect.DeepEqual(fa, fb) {
						t.Fatalf("%s: horizon %d: Observe forecasts %+v, %v; ObserveAll %+v, %v", when, h, fa, ea, fb, eb)
					}
				}
			}
			check("after the replay")
			for _, v := range tc.y[tc.at:min(len(tc.y), tc.at+400)] {
				a.Observe(v)
				b.Observe(v)
			}
			check("400 points later")
		})
	}
}

// sameFloats reports whether a and b hold the same values, NaN equal to
// NaN.
func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// BenchmarkObserveAll is a restored loop's replay of 7 days of 5-minute
// points, with ObserveAll and with Observe a point at a time.
func BenchmarkObserveAll(b *testing.B) {
	y := onlineSeries()[:7*288]
	cfg := OnlineConfig{Step: 5 * time.Minute, Horizon: 12}
	b.Run("ObserveAll", func(b *testing.B) {
		for b.Loop() {
			o, _ := NewOnline(cfg)
			o.ObserveAll(y)
		}
	})
	b.Run("Observe", func(b *testing.B) {
		for b.Loop() {
			o, _ := NewOnline(cfg)
			for _, v := range y {
				o.Observe(v)
			}
		}
	})
}
