// Package forecastbench runs the forecast accuracy protocol of
// shared/bench/FORECAST.md on a trace: rolling origins, no look-ahead, MAE
// over origins and horizons, rel = MAE / MAE of persistence, and the
// fit-and-forecast time per origin.
//
// The series is the trace's rows as they are, in file order: consecutive rows
// are consecutive points. A missing timestamp is not filled in (the point
// after a gap is simply the next point), so every model sees exactly the same
// values; rows repeating a timestamp are merged into one point (their mean)
// and unsorted timestamps rejected when the trace is loaded (package
// trace). This is how the reference figures of
// shared/bench/REFERENCE.md were computed: with these rules this package
// reproduces their seasonal-naive rel on all sixteen NAB traces.
//
// Origins are t = window, window+h, window+2h, ... while t+h < N, i.e. the
// origin whose horizon ends exactly on the last row is not used. FORECAST.md
// writes "while t + h <= N"; the reference implementation stops one origin
// earlier when (N - window) is a multiple of h, and only this reading
// reproduces its figures. Config.InclusiveEnd selects the literal text.
package forecastbench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

// ErrTooShort is returned when a trace leaves no origin to score.
var ErrTooShort = errors.New("trace too short for the protocol")

// Config overrides the protocol's defaults; the zero value is the protocol.
type Config struct {
	// Horizon in points (0: one hour of points).
	Horizon int
	// Window in points (0: the protocol's rule).
	Window int
	// MaxOrigins caps the number of origins scored (0: 120; negative: all).
	MaxOrigins int
	// InclusiveEnd also scores the origin t with t+h == N (the literal
	// "t + h <= N" of FORECAST.md; the reference figures exclude it).
	InclusiveEnd bool
	// Online adds a line for MODEL "online": forecast.Online fed the
	// trace point by point (see ScoreOnline).
	Online bool
}

// DefaultMaxOrigins is the protocol's cap on the number of origins.
const DefaultMaxOrigins = 120

// Plan is the protocol's setup for one trace.
type Plan struct {
	N       int           // points in the trace
	Step    time.Duration // median spacing
	Season  int           // points a day
	Window  int           // points a model sees at each origin
	Horizon int           // points forecast at each origin
	Origins []int         // indices t: the model sees y[t-Window:t], forecasts y[t:t+Horizon]
	// AllOrigins is how many origins there were before the cap.
	AllOrigins int
}

// NewPlan computes the protocol's setup for a series of n points at step.
func NewPlan(n int, step time.Duration, cfg Config) (Plan, error) {
	if step <= 0 {
		return Plan{}, fmt.Errorf("step %v: must be positive", step)
	}
	p := Plan{N: n, Step: step}
	p.Season = int(math.Round(float64(24*time.Hour) / float64(step)))
	if p.Season < 2 {
		return Plan{}, fmt.Errorf("step %v leaves fewer than 2 points a day: no daily season to benchmark", step)
	}
	p.Horizon = cfg.Horizon
	if p.Horizon == 0 {
		p.Horizon = max(1, int(math.Round(float64(time.Hour)/float64(step))))
	}
	if p.Horizon < 1 {
		return Plan{}, fmt.Errorf("horizon %d: must be at least 1", p.Horizon)
	}
	p.Window = cfg.Window
	if p.Window == 0 {
		p.Window = 7 * p.Season
		if n < p.Window+p.Horizon+p.Season {
			p.Window = max(2*p.Season, n/2)
		}
	}
	if p.Window < 2 {
		return Plan{}, fmt.Errorf("window %d: must be at least 2", p.Window)
	}
	end := n - 1 // last usable origin satisfies t+h <= end
	if cfg.InclusiveEnd {
		end = n
	}
	var all []int
	for t := p.Window; t+p.Horizon <= end; t += p.Horizon {
		all = append(all, t)
	}
	p.AllOrigins = len(all)
	if len(all) == 0 {
		return Plan{}, fmt.Errorf("%d points, window %d, horizon %d: no origin to score: %w", n, p.Window, p.Horizon, ErrTooShort)
	}
	limit := cfg.MaxOrigins
	if limit == 0 {
		limit = DefaultMaxOrigins
	}
	p.Origins = Spread(all, limit)
	return p, nil
}

// Spread returns k evenly spaced elements of all, the first and last
// included: all[round(i*(K-1)/(k-1))] for i in 0..k-1, rounding halves to
// even (exact integer arithmetic). It returns all when k < 1 or len(all) <= k.
func Spread(all []int, k int) []int {
	n := len(all)
	if k < 1 || n <= k {
		return all
	}
	if k == 1 {
		return []int{all[0]}
	}
	out := make([]int, k)
	den := k - 1
	for i := range k {
		num := i * (n - 1)
		q, r := num/den, num%den
		switch {
		case 2*r > den, 2*r == den && q%2 == 1:
			q++
		}
		out[i] = all[q]
	}
	return out
}

// Result is one trace's score for one model.
type Result struct {
	Trace   string
	Model   string
	N       int
	Step    time.Duration
	Origins int
	MAE     float64
	Rel     float64 // MAE / MAE of persistence
	FitMS   float64 // mean fit-and-forecast time per origin, milliseconds
	// P90Coverage is the share of actuals at or below the forecast P90.
	P90Coverage float64
	// P10Coverage is the share of actuals below the forecast P10.
	P10Coverage float64
	// VsPersistence compares the model with persistence origin by origin.
	VsPersistence Paired
}

// String formats r as the protocol's output line (tab separated).
func (r Result) String() string {
	return fmt.Sprintf("%s\t%s\tn=%d\tstep=%ds\torigins=%d\tMAE=%.6g\trel=%.4f\tfit_ms=%.3f",
		r.Trace, r.Model, r.N, int64(r.Step/time.Second), r.Origins, r.MAE, r.Rel, r.FitMS)
}

// Named pairs a model with the name printed for it (e.g. "default").
type Named struct {
	Name  string
	Model forecast.Model
}

// Run scores every model on tr. The persistence model is always scored
// first to give rel its denominator; it is returned in the results only if
// it is in models. Timing uses clk. A model that fails at an origin fails
// the whole trace for that model: its error is returned in errs (keyed by
// name), and the others are still scored.
func Run(ctx context.Context, clk clock.Clock, tr trace.Trace, models []Named, cfg Config) ([]Result, map[string]error, error) {
	plan, err := NewPlan(tr.Len(), tr.Step(), cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("planning %s: %w", tr.Name, err)
	}
	base, err := Score(ctx, clk, tr.Values, plan, forecast.Persistence{})
	if err != nil {
		return nil, nil, fmt.Errorf("scoring persistence on %s: %w", tr.Name, err)
	}
	var out []Result
	errs := map[string]error{}
	for _, m := range models {
		s, err := Score(ctx, clk, tr.Values, plan, m.Model)
		if err != nil {
			if ctx.Err() != nil {
				return out, errs, ctx.Err()
			}
			errs[m.Name] = fmt.Errorf("scoring %s on %s: %w", m.Name, tr.Name, err)
			continue
		}
		out = append(out, result(tr.Name, m.Name, plan, s, base))
	}
	if cfg.Online {
		s, err := ScoreOnline(ctx, clk, tr.Values, plan)
		if err != nil {
			if ctx.Err() != nil {
				return out, errs, ctx.Err()
			}
			errs["online"] = fmt.Errorf("scoring online on %s: %w", tr.Name, err)
		} else {
			out = append(out, result(tr.Name, "online", plan, s, base))
		}
	}
	return out, errs, nil
}

func result(name, model string, plan Plan, s, base Scores) Result {
	rel := math.NaN()
	if base.MAE > 0 {
		rel = s.MAE / base.MAE
	} else if s.MAE == 0 {
		rel = 1
	}
	return Result{
		Trace: name, Model: model, N: plan.N, Step: plan.Step, Origins: len(plan.Origins),
		MAE: s.MAE, Rel: rel, FitMS: s.FitMS, P90Coverage: s.P90Coverage, P10Coverage: s.P10Coverage,
		VsPersistence: Compare(plan.Origins, s.OriginErr, base.OriginErr),
	}
}

// Paired compares a model's errors with a baseline's origin by origin:
// whether a rel above or below 1 is the model's across the trace or a few
// origins' (one burst can decide a trace's MAE).
type Paired struct {
	Origins int // origins compared
	Worse   int // origins where the model's error is larger
	Better  int // origins where it is smaller
	// T is the paired t statistic of the per-origin differences (model's
	// error minus the baseline's, each summed over the horizons): their
	// mean over its standard error. An origin's horizons end before the
	// next origin, so the differences do not overlap (a Diebold-Mariano
	// statistic with no autocorrelation correction). Positive: the model
	// is worse. |T| below 2 is within noise. 0 when there is no
	// difference; +-Inf when every difference is the same.
	T float64
	// WorstOrigin is the origin t where the model lost the most to the
	// baseline (-1 when it lost nowhere), and RelWithoutWorst the rel of
	// the model's summed error over the baseline's with that origin left
	// out (NaN when the baseline's remaining error is 0).
	WorstOrigin     int
	RelWithoutWorst float64
}

// Compare pairs a model's per-origin errors with a baseline's (as in
// Scores.OriginErr, origin t = origins[i]). Slices of different lengths
// compare nothing.
func Compare(origins []int, model, base []float64) Paired {
	p := Paired{WorstOrigin: -1, RelWithoutWorst: math.NaN()}
	if len(model) != len(base) || len(model) != len(origins) || len(model) == 0 {
		return p
	}
	p.Origins = len(model)
	var sum, sum2, sm, sb, worst float64
	wi := -1
	for i := range model {
		d := model[i] - base[i]
		switch {
		case d > 0:
			p.Worse++
		case d < 0:
			p.Better++
		}
		if d > worst {
			worst, wi = d, i
		}
		sum += d
		sm += model[i]
		sb += base[i]
	}
	n := float64(len(model))
	mean := sum / n
	for i := range model {
		d := model[i] - base[i] - mean
		sum2 += d * d
	}
	switch sd := math.Sqrt(sum2 / max(1, n-1)); {
	case mean == 0:
		p.T = 0
	case sd == 0 || n < 2:
		p.T = math.Inf(int(math.Copysign(1, mean)))
	default:
		p.T = mean / (sd / math.Sqrt(n))
	}
	if wi >= 0 {
		p.WorstOrigin = origins[wi]
		sm -= model[wi]
		sb -= base[wi]
	}
	if sb > 0 {
		p.RelWithoutWorst = sm / sb
	} else if sm == 0 {
		p.RelWithoutWorst = 1
	}
	return p
}

// Scores are one model's figures on one plan.
type Scores struct {
	MAE         float64
	FitMS       float64
	P90Coverage float64
	P10Coverage float64
	// AbsErr[k] is the MAE at horizon k+1.
	AbsErr []float64
	// OriginErr[i] is the absolute error summed over the horizons at
	// origin plan.Origins[i].
	OriginErr []float64
}

// Score runs model at every origin of plan on values (the model sees only
// values[t-Window:t]) and scores its forecasts of values[t:t+Horizon].
func Score(ctx context.Context, clk clock.Clock, values []float64, plan Plan, model forecast.Model) (Scores, error) {
	h := plan.Horizon
	s := Scores{AbsErr: make([]float64, h), OriginErr: make([]float64, len(plan.Origins))}
	var sum float64
	var elapsed time.Duration
	var n, below90, below10 int
	for i, t := range plan.Origins {
		if err := ctx.Err(); err != nil {
			return Scores{}, err
		}
		in := forecast.Input{
			Values:  values[t-plan.Window : t : t], // capacity t: nothing after t is reachable
			Step:    plan.Step,
			Season:  plan.Season,
			Horizon: h,
		}
		start := clk.Now()
		f, err := model.Forecast(in)
		elapsed += clk.Now().Sub(start)
		if err != nil {
			return Scores{}, fmt.Errorf("origin %d: %w", t, err)
		}
		if len(f.Mean) != h {
			return Scores{}, fmt.Errorf("origin %d: %d forecasts, want %d", t, len(f.Mean), h)
		}
		for k := range h {
			y := values[t+k]
			if math.IsNaN(f.Mean[k]) || math.IsInf(f.Mean[k], 0) {
				return Scores{}, fmt.Errorf("origin %d: forecast %d is %v", t, k+1, f.Mean[k])
			}
			e := math.Abs(y - f.Mean[k])
			sum += e
			s.AbsErr[k] += e
			s.OriginErr[i] += e
			n++
			if k < len(f.P90) && y <= f.P90[k] {
				below90++
			}
			if k < len(f.P10) && y < f.P10[k] {
				below10++
			}
		}
	}
	no := float64(len(plan.Origins))
	for k := range s.AbsErr {
		s.AbsErr[k] /= no
	}
	s.MAE = sum / float64(n)
	s.FitMS = float64(elapsed) / float64(time.Millisecond) / no
	s.P90Coverage = float64(below90) / float64(n)
	s.P10Coverage = float64(below10) / float64(n)
	return s, nil
}

// ScoreOnline scores forecast.Online on the plan's origins: the series is
// fed to it one point at a time from the start, and at each origin t
// (before y[t] is fed) its forecast of y[t:t+h] is scored. It refits on its
// own window (plan.Window points) once a day, so it never sees y[t:] but
// may have seen up to a day more than y[t-window:t]: not the protocol's
// model, the simulator's. FitMS is its mean cost per fed point, forecast
// included (refits amortised).
func ScoreOnline(ctx context.Context, clk clock.Clock, values []float64, plan Plan) (Scores, error) {
	o, err := forecast.NewOnline(forecast.OnlineConfig{Step: plan.Step, Season: plan.Season, Horizon: plan.Horizon, Window: plan.Window})
	if err != nil {
		return Scores{}, fmt.Errorf("starting the online forecaster: %w", err)
	}
	h := plan.Horizon
	s := Scores{AbsErr: make([]float64, h), OriginErr: make([]float64, len(plan.Origins))}
	var sum float64
	var n, below90, below10 int
	next := 0
	start := clk.Now()
	last := plan.Origins[len(plan.Origins)-1]
	for t := 0; t <= last; t++ {
		if t%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return Scores{}, err
			}
		}
		if t == plan.Origins[next] {
			f, err := o.Forecast(h)
			if err != nil {
				return Scores{}, fmt.Errorf("origin %d: %w", t, err)
			}
			for k := range h {
				y := values[t+k]
				e := math.Abs(y - f.Mean[k])
				sum += e
				s.AbsErr[k] += e
				s.OriginErr[next] += e
				n++
				if y <= f.P90[k] {
					below90++
				}
				if y < f.P10[k] {
					below10++
				}
			}
			next++
		}
		o.Observe(values[t])
		_, _ = o.Forecast(h) // the simulator's cost: a forecast every step
	}
	no := float64(len(plan.Origins))
	for k := range s.AbsErr {
		s.AbsErr[k] /= no
	}
	s.MAE = sum / float64(n)
	s.FitMS = float64(clk.Now().Sub(start)) / float64(time.Millisecond) / float64(last+1)
	s.P90Coverage = float64(below90) / float64(n)
	s.P10Coverage = float64(below10) / float64(n)
	return s, nil
}
