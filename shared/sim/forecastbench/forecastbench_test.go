package forecastbench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

func TestNewPlan(t *testing.T) {
	tests := []struct {
		name        string
		n           int
		step        time.Duration
		cfg         Config
		wantSeason  int
		wantWindow  int
		wantHorizon int
		wantAll     int // origins before the cap
		wantFirst   int
		wantLast    int
	}{
		// 14 days of 5-minute points: a 7-day window, 12-point horizon;
		// origins 2016, 2028, ... while t+12 < 4032: the last is 4008
		// (4020 would end exactly on the last row).
		{name: "14 days", n: 4032, step: 5 * time.Minute, wantSeason: 288, wantWindow: 2016, wantHorizon: 12, wantAll: 167, wantFirst: 2016, wantLast: 4008},
		{name: "14 days inclusive end", n: 4032, step: 5 * time.Minute, cfg: Config{InclusiveEnd: true}, wantSeason: 288, wantWindow: 2016, wantHorizon: 12, wantAll: 168, wantFirst: 2016, wantLast: 4020},
		// One row more and the origin 4020 fits strictly.
		{name: "14 days and a row", n: 4033, step: 5 * time.Minute, wantSeason: 288, wantWindow: 2016, wantHorizon: 12, wantAll: 168, wantFirst: 2016, wantLast: 4020},
		// 30-minute points: season 48, horizon 2, window 336.
		{name: "half hours", n: 10320, step: 30 * time.Minute, wantSeason: 48, wantWindow: 336, wantHorizon: 2, wantAll: 4991, wantFirst: 336, wantLast: 10316},
		// Shorter than window + h + season (2016+12+288): window max(2
		// seasons, N/2).
		{name: "short", n: 2000, step: 5 * time.Minute, wantSeason: 288, wantWindow: 1000, wantHorizon: 12, wantAll: 83, wantFirst: 1000, wantLast: 1984},
		{name: "very short", n: 700, step: 5 * time.Minute, wantSeason: 288, wantWindow: 576, wantHorizon: 12, wantAll: 10, wantFirst: 576, wantLast: 684},
		{name: "overrides", n: 1000, step: time.Minute, cfg: Config{Horizon: 5, Window: 100}, wantSeason: 1440, wantWindow: 100, wantHorizon: 5, wantAll: 179, wantFirst: 100, wantLast: 990},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(tc.n, tc.step, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if p.Season != tc.wantSeason || p.Window != tc.wantWindow || p.Horizon != tc.wantHorizon {
				t.Fatalf("season %d window %d horizon %d, want %d %d %d", p.Season, p.Window, p.Horizon, tc.wantSeason, tc.wantWindow, tc.wantHorizon)
			}
			if p.AllOrigins != tc.wantAll {
				t.Errorf("%d origins before the cap, want %d", p.AllOrigins, tc.wantAll)
			}
			if len(p.Origins) != min(tc.wantAll, 120) {
				t.Errorf("%d origins, want %d", len(p.Origins), min(tc.wantAll, 120))
			}
			if p.Origins[0] != tc.wantFirst || p.Origins[len(p.Origins)-1] != tc.wantLast {
				t.Errorf("origins %d..%d, want %d..%d", p.Origins[0], p.Origins[len(p.Origins)-1], tc.wantFirst, tc.wantLast)
			}
			for i, o := range p.Origins {
				if (o-p.Window)%p.Horizon != 0 {
					t.Fatalf("origin %d is off the grid window + k*h", o)
				}
				if i > 0 && o <= p.Origins[i-1] {
					t.Fatalf("origins not increasing at %d", i)
				}
				last := tc.n - 1
				if tc.cfg.InclusiveEnd {
					last = tc.n
				}
				if o < p.Window || o+p.Horizon > last {
					t.Fatalf("origin %d: window or horizon out of the series", o)
				}
			}
		})
	}
}

func TestNewPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		n    int
		step time.Duration
		cfg  Config
		is   error
	}{
		{name: "no step", n: 100, step: 0},
		{name: "fewer than 2 points a day", n: 100, step: 17 * time.Hour},
		{name: "too short", n: 300, step: 5 * time.Minute, is: ErrTooShort},
		{name: "window beyond the series", n: 100, step: time.Hour, cfg: Config{Window: 99}, is: ErrTooShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(tc.n, tc.step, tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	seq := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = 10 * i
		}
		return out
	}
	tests := []struct {
		name string
		all  []int
		k    int
		want []int
	}{
		{name: "fewer than k", all: seq(5), k: 120, want: seq(5)},
		{name: "exactly k", all: seq(3), k: 3, want: seq(3)},
		// i*(K-1)/(k-1) = i*4/2: 0, 2, 4.
		{name: "every other", all: seq(5), k: 3, want: []int{0, 20, 40}},
		// i*3/2 = 0, 1.5, 3: the half rounds to even (2).
		{name: "half to even", all: seq(4), k: 3, want: []int{0, 20, 30}},
		// i*5/4 = 0, 1.25, 2.5, 3.75, 5 -> 0, 1, 2 (even), 4, 5.
		{name: "halves", all: seq(6), k: 5, want: []int{0, 10, 20, 40, 50}},
		{name: "one", all: seq(6), k: 1, want: []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Spread(tc.all, tc.k); !slices.Equal(got, tc.want) {
				t.Fatalf("Spread = %v, want %v", got, tc.want)
			}
		})
	}
	// The protocol's case: 167 origins down to 120, first and last kept,
	// as round(i*166/119).
	all := seq(167)
	got := Spread(all, 120)
	if len(got) != 120 || got[0] != 0 || got[119] != 1660 {
		t.Fatalf("Spread(167, 120): %d origins, %d..%d", len(got), got[0], got[len(got)-1])
	}
	for i, v := range got {
		if want := 10 * int(math.RoundToEven(float64(i)*166/119)); v != want {
			t.Fatalf("origin %d = %d, want %d", i, v, want)
		}
	}
}

// constModel forecasts a constant, to check the scoring arithmetic.
type constModel struct{ v float64 }

func (constModel) Name() string { return "const" }

func (c constModel) Forecast(in forecast.Input) (forecast.Forecast, error) {
	f := forecast.Forecast{Model: "const"}
	for range in.Horizon {
		f.Mean = append(f.Mean, c.v)
		f.P10 = append(f.P10, c.v-1)
		f.P90 = append(f.P90, c.v+1)
	}
	return f, nil
}

// peekModel fails if it can see anything beyond its input.
type peekModel struct{}

func (peekModel) Name() string { return "peek" }

func (peekModel) Forecast(in forecast.Input) (forecast.Forecast, error) {
	if cap(in.Values) != len(in.Values) {
		return forecast.Forecast{}, fmt.Errorf("input has capacity %d beyond its %d values: the future is reachable", cap(in.Values), len(in.Values))
	}
	return constModel{}.Forecast(in)
}

func TestScore(t *testing.T) {
	// y = i: persistence from origin t forecasts t-1 for y[t+k] = t+k, an
	// error of k+1; a constant 0 errs by t+k.
	y := make([]float64, 200)
	for i := range y {
		y[i] = float64(i)
	}
	plan := Plan{N: 200, Step: time.Hour, Season: 24, Window: 50, Horizon: 3, Origins: []int{50, 100, 150}}
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(0, 0))
	pers, err := Score(ctx, clk, y, plan, forecast.Persistence{})
	if err != nil {
		t.Fatal(err)
	}
	if pers.MAE != 2 { // (1+2+3)/3
		t.Errorf("persistence MAE %v, want 2", pers.MAE)
	}
	zero, err := Score(ctx, clk, y, plan, constModel{0})
	if err != nil {
		t.Fatal(err)
	}
	if want := 101.0; zero.MAE != want { // mean of t+k over origins 50, 100, 150 and k 0..2
		t.Errorf("constant MAE %v, want %v", zero.MAE, want)
	}
	// Per origin: persistence 1+2+3; the constant 3t+3.
	if want := []float64{6, 6, 6}; !slices.Equal(pers.OriginErr, want) {
		t.Errorf("persistence's errors by origin %v, want %v", pers.OriginErr, want)
	}
	if want := []float64{153, 303, 453}; !slices.Equal(zero.OriginErr, want) {
		t.Errorf("the constant's errors by origin %v, want %v", zero.OriginErr, want)
	}
	if zero.P90Coverage != 0 {
		t.Errorf("P90 coverage %v of a forecast always below, want 0", zero.P90Coverage)
	}
	if _, err := Score(ctx, clk, y, plan, peekModel{}); err != nil {
		t.Errorf("the model could reach past its window: %v", err)
	}
}

var lineRE = regexp.MustCompile(`^[^\t]+\t[a-z_]+\tn=\d+\tstep=\d+s\torigins=\d+\tMAE=[-+0-9.e]+\trel=[0-9.]+\tfit_ms=[0-9.]+$`)

func TestResultString(t *testing.T) {
	r := Result{Trace: "x.csv", Model: "default", N: 4032, Step: 5 * time.Minute, Origins: 120, MAE: 0.5, Rel: 0.75, FitMS: 1.25}
	got := r.String()
	want := "x.csv\tdefault\tn=4032\tstep=300s\torigins=120\tMAE=0.5\trel=0.7500\tfit_ms=1.250"
	if got != want {
		t.Fatalf("line %q, want %q", got, want)
	}
	if !lineRE.MatchString(got) {
		t.Fatalf("line %q does not match the protocol's format", got)
	}
}

// TestReferenceFigures runs the protocol on two NAB traces (testdata) and
// checks it reproduces the reference seasonal-naive figures of
// shared/bench/REFERENCE.md, and that the default model beats the best
// reference model there with a P90 that holds about 90% of the actuals.
func TestReferenceFigures(t *testing.T) {
	tests := []struct {
		file         string
		seasonalRel  float64 // REFERENCE.md, statsmodels
		bestRef      float64
		wantOrigins  int
		wantAll      int
		wantN        int
		wantStepSecs int64
	}{
		{file: "testdata/rds_cpu_utilization_cc0c53.csv", seasonalRel: 2.422, bestRef: 0.724, wantOrigins: 120, wantN: 4032, wantStepSecs: 300},
		{file: "testdata/ec2_network_in_257a54.csv", seasonalRel: 0.828, bestRef: 0.517, wantOrigins: 120, wantN: 4032, wantStepSecs: 300},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tr, err := trace.Load(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			models := []Named{
				{Name: "persistence", Model: forecast.Persistence{}},
				{Name: "seasonal_naive", Model: forecast.SeasonalNaive{}},
				{Name: "default", Model: forecast.Default()},
			}
			res, errs, err := Run(context.Background(), clock.NewFake(time.Unix(0, 0)), tr, models, Config{})
			if err != nil || len(errs) > 0 {
				t.Fatalf("run: %v %v", err, errs)
			}
			byModel := map[string]Result{}
			for _, r := range res {
				byModel[r.Model] = r
				if !lineRE.MatchString(r.String()) {
					t.Errorf("line %q does not match the protocol's format", r.String())
				}
				if r.N != tc.wantN || r.Origins != tc.wantOrigins || int64(r.Step/time.Second) != tc.wantStepSecs {
					t.Errorf("%s: n=%d origins=%d step=%v", r.Model, r.N, r.Origins, r.Step)
				}
			}
			if got := byModel["persistence"].Rel; got != 1 {
				t.Errorf("persistence rel %v, want 1", got)
			}
			if got := math.Round(byModel["seasonal_naive"].Rel*1000) / 1000; got != tc.seasonalRel {
				t.Errorf("seasonal naive rel %.4f, reference %.3f", byModel["seasonal_naive"].Rel, tc.seasonalRel)
			}
			def := byModel["default"]
			if def.Rel > tc.bestRef {
				t.Errorf("default rel %.4f above the best reference %.3f", def.Rel, tc.bestRef)
			}
			if def.P90Coverage < 0.85 || def.P90Coverage > 0.97 {
				t.Errorf("default P90 holds %.3f of the actuals, want about 0.9", def.P90Coverage)
			}
			if def.P10Coverage < 0.03 || def.P10Coverage > 0.15 {
				t.Errorf("default P10 is above %.3f of the actuals, want about 0.1", def.P10Coverage)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name          string
		origins       []int
		model, base   []float64
		worse, better int
		tstat         float64
		worst         int
		relWithout    float64
	}{
		// d = 1, 1, 1, 9: mean 3, sd 4 (sample), t = 3 / (4/2) = 1.5; the
		// worst origin is 40, without it 6/3.
		{name: "one origin decides", origins: []int{10, 20, 30, 40}, model: []float64{2, 3, 4, 10}, base: []float64{1, 2, 3, 1}, worse: 4, tstat: 1.5, worst: 40, relWithout: 9.0 / 6},
		// d = -1, -3: mean -2, sd sqrt(2), t = -2 / (sqrt(2)/sqrt(2)) = -2.
		{name: "better everywhere", origins: []int{5, 9}, model: []float64{1, 1}, base: []float64{2, 4}, better: 2, tstat: -2, worst: -1, relWithout: 2.0 / 6},
		{name: "the same", origins: []int{5, 9}, model: []float64{1, 2}, base: []float64{1, 2}, tstat: 0, worst: -1, relWithout: 1},
		{name: "worse by the same everywhere", origins: []int{5, 9}, model: []float64{2, 3}, base: []float64{1, 2}, worse: 2, tstat: inf, worst: 5, relWithout: 3.0 / 2},
		{name: "a perfect baseline left", origins: []int{5}, model: []float64{1}, base: []float64{0}, worse: 1, tstat: inf, worst: 5, relWithout: 1},
		{name: "lengths differ", origins: []int{5, 9}, model: []float64{1}, base: []float64{1, 2}, tstat: 0, worst: -1, relWithout: math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Compare(tc.origins, tc.model, tc.base)
			if p.Worse != tc.worse || p.Better != tc.better || p.WorstOrigin != tc.worst {
				t.Errorf("worse %d better %d worst origin %d, want %d %d %d", p.Worse, p.Better, p.WorstOrigin, tc.worse, tc.better, tc.worst)
			}
			if !(math.Abs(p.T-tc.tstat) < 1e-12 || p.T == tc.tstat) {
				t.Errorf("t %v, want %v", p.T, tc.tstat)
			}
			if !(math.Abs(p.RelWithoutWorst-tc.relWithout) < 1e-12 || math.IsNaN(p.RelWithoutWorst) && math.IsNaN(tc.relWithout)) {
				t.Errorf("rel without the worst origin %v, want %v", p.RelWithoutWorst, tc.relWithout)
			}
		})
	}
}
