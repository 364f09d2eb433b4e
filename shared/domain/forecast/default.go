package forecast

import (
	"fmt"
	"math"
	"strings"
	"sync"
)

// Default returns the forecaster the Lambda and the simulator use: it fits
// every candidate model on the history it is given, backtests them on that
// history (forecasts 1..Horizon ahead from every point of its recent part,
// with the parameters fitted on the history: no look-ahead beyond it), and
// combines them per horizon with weights from their recent multi-step
// absolute errors. The interval comes from the combination's own backtest
// errors at each horizon.
func Default() Model { return ensemble{} }

// candidates are the methods the default combines.
func candidates() []method {
	return []method{
		naiveMethod{},
		seasonalNaiveMethod{},
		holtMethod,
		holtWintersMethod,
		arimaMethod{maxP: 3, maxQ: 2},
	}
}

// MinHistory is the fewest known (non-NaN) points the default model
// forecasts from at horizon h: enough for a backtest of its own.
func MinHistory(h int) int { return max(10, 2*h) }

type ensemble struct{}

// Name implements Model.
func (ensemble) Name() string { return "default" }

// Forecast implements Model.
func (ensemble) Forecast(in Input) (Forecast, error) {
	if err := in.Validate(); err != nil {
		return Forecast{}, err
	}
	if have, need := countFinite(in.Values), MinHistory(in.Horizon); have < need {
		return Forecast{}, fmt.Errorf("%d known points, the default model needs %d for a horizon of %d: %w", have, need, in.Horizon, ErrTooShort)
	}
	sel, err := selectModels(newHistory(in.Values, in.Season, in.Horizon))
	if err != nil {
		return Forecast{}, err
	}
	return sel.forecast(), nil
}

// selection is a fitted combination: the candidates' filters, their weights
// by horizon, and the combination's backtest errors by horizon.
type selection struct {
	names   []string
	steps   []stepper
	weights [][]float64 // [horizon][candidate]
	mae     [][]float64 // [horizon][candidate] recency-weighted backtest MAE
	// mid, lo, hi: the median, 10th and 90th percentiles of the
	// combination's recent errors at each horizon (see residuals.offsets).
	mid, lo, hi []float64
	model, why  string // describe's words, computed once
	horizon     int
	buf         []float64
}

// Backtest weighting (generic choices, not tuned to any trace): origins
// count with weight 2^(-age/half-life), the half-life half a day (an eighth
// of the history without a daily season), so the weights follow a change
// of regime within a day; errors beyond the 99th percentile of their
// horizon are capped there, so that a spike nobody could forecast does not
// drown the differences between models (a lower cap, the 95th, also hid
// the large errors of a model that misses a predictable daily step); the
// weights are a softmin of the capped MAE (see combineWeights).
const (
	backtestHalfLifeDays = 0.5
	errorCapQuantile     = 0.99
	combineTemperature   = 0.1
)

// forecastsPool recycles the backtest's forecast table (a few hundred
// kilobytes a call) between calls.
var forecastsPool = sync.Pool{New: func() any { return new([]float64) }}

// selectModels fits the candidates on h and backtests them. It leaves their
// filters at the end of the history.
func selectModels(h *history) (*selection, error) {
	y, horizon := h.y, h.horizon
	n := len(y)
	sel := &selection{horizon: horizon}
	var starts []int
	var errs []string
	for _, m := range candidates() {
		st, start, err := m.fit(h)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", m.name(), err))
			continue
		}
		if start >= len(h.y)-1 {
			// Nothing left to backtest it on.
			errs = append(errs, fmt.Sprintf("%s: start-up takes the whole history", m.name()))
			continue
		}
		sel.names = append(sel.names, m.name())
		sel.steps = append(sel.steps, st)
		starts = append(starts, start)
	}
	if len(sel.steps) == 0 {
		return nil, fmt.Errorf("no model fits the history (%s): %w", strings.Join(errs, "; "), ErrTooShort)
	}
	hl := backtestHalfLifeDays * float64(h.season)
	if h.season < 2 {
		hl = float64(n) / 8
	}
	// Origins: after every candidate's start-up, within the last four
	// half-lives (older ones would weigh less than 1/16), up to the last
	// point.
	from := n - int(4*hl)
	for _, s := range starts {
		from = max(from, s)
	}
	from = max(0, min(from, n-1))
	nc := len(sel.steps)
	no := n - from
	// fc[(o*horizon+k)*nc+j]: candidate j's forecast k+1 ahead from origin
	// from+o.
	fcp := forecastsPool.Get().(*[]float64)
	defer forecastsPool.Put(fcp)
	if cap(*fcp) < no*horizon*nc {
		*fcp = make([]float64, no*horizon*nc)
	}
	fc := (*fcp)[:no*horizon*nc] // every element is written below
	for i := range n {
		if i >= from {
			o := i - from
			for j, st := range sel.steps {
				base := o * horizon * nc
				buf := sel.scratch(horizon)
				st.predict(buf)
				for k, v := range buf {
					fc[base+k*nc+j] = v
				}
			}
		}
		for j, st := range sel.steps {
			if i >= starts[j] {
				st.observe(y[i])
			}
		}
	}
	// Per horizon: cap the errors, then recency-weighted MAE.
	ow := make([]float64, no)
	for o := range ow {
		ow[o] = math.Exp2(-float64(n-1-(from+o)) / hl)
	}
	sel.mae = make([][]float64, horizon)
	sel.weights = make([][]float64, horizon)
	errsK := make([]float64, 0, no*nc)
	sum := make([]float64, nc)
	for k := range horizon {
		// The cap: a quantile of the errors of every candidate at this
		// horizon, from every seventh origin (a quantile needs no more; a
		// stride sharing no factor with the usual periods of 2, 3, 4, 6 and
		// 12 points or a day of 288, so that it cannot alias with them).
		errsK = errsK[:0]
		for o := 0; o < no && from+o+k < n; o += 7 {
			if a := y[from+o+k]; finite(a) {
				for j := range nc {
					errsK = append(errsK, math.Abs(a-fc[(o*horizon+k)*nc+j]))
				}
			}
		}
		capK := math.Inf(1)
		if len(errsK) >= 20 {
			capK = quantileInPlace(errsK, errorCapQuantile)
		}
		clear(sum)
		wsum := 0.0
		for o := 0; o < no && from+o+k < n; o++ {
			a := y[from+o+k]
			if !finite(a) {
				continue
			}
			w := ow[o]
			wsum += w
			row := fc[(o*horizon+k)*nc : (o*horizon+k+1)*nc]
			for j, f := range row {
				sum[j] += w * math.Min(capK, math.Abs(a-f))
			}
		}
		sel.mae[k] = make([]float64, nc)
		for j := range nc {
			if wsum > 0 {
				sel.mae[k][j] = sum[j] / wsum
			}
		}
		sel.weights[k] = combineWeights(sel.mae[k])
	}
	// The combination's own recent errors, for the interval.
	res := newResiduals(horizon)
	comb := make([]float64, horizon)
	for o := max(0, no-residualSpan(h.season)); o < no; o++ {
		for k := range horizon {
			comb[k] = 0
			for j := range nc {
				comb[k] += sel.weights[k][j] * fc[(o*horizon+k)*nc+j]
			}
		}
		res.add(y, from+o, comb)
	}
	sel.mid, sel.lo, sel.hi = res.offsets()
	sel.model, sel.why = sel.describe()
	return sel, nil
}

// scratch returns a reusable buffer of n floats.
func (s *selection) scratch(n int) []float64 {
	if len(s.buf) < n {
		s.buf = make([]float64, n)
	}
	return s.buf[:n]
}

// combineWeights turns backtest MAEs into weights: a softmin of the MAE
// relative to the best one, w ~ exp(-(mae/best - 1)/combineTemperature), so
// that a candidate 10% worse than the best keeps e^-1 of its weight and one
// 50% worse practically none (all the weight goes to the best when its MAE
// is zero).
func combineWeights(mae []float64) []float64 {
	w := make([]float64, len(mae))
	best, bj := math.Inf(1), 0
	for j, v := range mae {
		if v < best {
			best, bj = v, j
		}
	}
	if !(best > 0) || math.IsInf(best, 1) {
		w[bj] = 1
		return w
	}
	total := 0.0
	for j, v := range mae {
		if finite(v) {
			w[j] = math.Exp(-(v/best - 1) / combineTemperature)
			total += w[j]
		}
	}
	for j := range w {
		w[j] /= total
	}
	return w
}

// forecast combines the candidates' forecasts from the end of the history.
// The point forecast is the combination moved by the median of its recent
// errors at each horizon (the median is what minimises the absolute error),
// P10 and P90 the combination moved by their 10th and 90th percentiles.
func (s *selection) forecast() Forecast {
	mean := make([]float64, s.horizon)
	buf := make([]float64, s.horizon)
	for j, st := range s.steps {
		st.predict(buf)
		for k := range mean {
			mean[k] += s.weights[k][j] * buf[k]
		}
	}
	f := Forecast{Mean: make([]float64, s.horizon), P10: make([]float64, s.horizon), P90: make([]float64, s.horizon)}
	for k, c := range mean {
		f.Mean[k], f.P10[k], f.P90[k] = c+s.mid[k], c+s.lo[k], c+s.hi[k]
	}
	f.Model, f.Why = s.model, s.why
	return f
}

// describe names the combination and explains it.
func (s *selection) describe() (model, why string) {
	nc := len(s.steps)
	avg := make([]float64, nc)
	mae := make([]float64, nc)
	for k := range s.weights {
		for j := range nc {
			avg[j] += s.weights[k][j] / float64(len(s.weights))
			mae[j] += s.mae[k][j] / float64(len(s.weights))
		}
	}
	var parts, whys []string
	for j := range nc {
		if avg[j] > 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", s.names[j], 100*avg[j]))
		}
		whys = append(whys, fmt.Sprintf("%s %.4g", s.names[j], mae[j]))
	}
	return strings.Join(parts, " + "), "recent backtest MAE (1.." + fmt.Sprint(s.horizon) + " ahead): " + strings.Join(whys, ", ")
}
