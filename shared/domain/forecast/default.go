package forecast

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Default returns the forecaster the Lambda and the simulator use: it fits
// every candidate model on the history it is given, backtests them on that
// history (forecasts 1..Horizon ahead from every point of its recent part,
// with the parameters fitted on the history: no look-ahead beyond it), and
// combines them per horizon: weights from their recent multi-step absolute
// errors, the combination half the weighted mean and half the weighted
// median of the candidates' forecasts (so that one candidate gone astray
// cannot drag it far). The interval comes from the combination's own
// backtest errors at each horizon; a history with no negative value gets no
// negative mean or P10.
func Default() Model { return ensemble{} }

// candidates are the methods the default combines.
func candidates() []method {
	return []method{
		naiveMethod{},
		seasonalNaiveMethod{},
		holtMethod,
		holtPlainMethod,
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
	// cover10, cover90: the shares of the backtest's actuals below the
	// combination's P10 and at or below its P90 (over the span the
	// interval was calibrated on).
	cover10, cover90 float64
	model, why       string // describe's words, computed once
	horizon          int
	buf              []float64
	all              []float64 // forecast's table of the candidates' forecasts
	// nonNegative: the history has no negative value, so neither may the
	// forecast's mean and P10.
	nonNegative bool
	// guarded is, per horizon, the share of the weight moved to persistence
	// because the backtest could not show the combination beats it.
	guarded []float64
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
	sel := &selection{horizon: horizon, nonNegative: nonNegative(y)}
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
				sum[j] += w * min(capK, math.Abs(a-f)) // builtin min: math.Min's result, NaN and -0 included, without the call
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
	// Stacking: the convex weights, shared by the horizons, that minimise
	// the combination's own backtest MAE, averaged with the softmin
	// weights of each horizon (the shrinkage: neither the per-candidate
	// scores nor one fitted weight vector alone decide).
	stacked := stackWeights(y, fc, ow, from, no, horizon, nc, sel.weights)
	for k := range horizon {
		for j := range nc {
			sel.weights[k][j] = (stacked[j] + sel.weights[k][j]) / 2
		}
	}
	pre := sel.guard(y, fc, ow, from, no)
	sel.calibrate(y, fc, from, no, residualSpan(h.season), pre)
	sel.model, sel.why = sel.describe()
	return sel, nil
}

// guardStrength is how many standard errors of evidence the combination
// needs over persistence to be used in full: with less, its weights are
// shrunk toward persistence in proportion (none at all below zero).
const guardStrength = 1.0

// guard shrinks each horizon's weights toward persistence by how sure the
// backtest is that the combination beats it: the recency-weighted mean of
// the per-origin differences |persistence error| - |combination error|
// over its standard error (origins k+1 apart overlap at horizon k+1, so the
// effective sample is divided by k+1), a Diebold-Mariano statistic t; the
// weight left on the combination is t/guardStrength, clamped to [0, 1].
// A forecaster that cannot show it beats the last value should not bet
// against it: on a trace whose recent past flattered the smoothing models,
// this is what keeps the default from losing to persistence.
//
// It returns the combination of every origin o and horizon k with the
// weights it was given, at [o*horizon+k] (nil when there is no
// persistence candidate): calibrate reuses those of the horizons whose
// weights the guard left as they were.
func (s *selection) guard(y, fc, ow []float64, from, no int) []float64 {
	naive := slices.Index(s.names, naiveMethod{}.name())
	if naive < 0 {
		return nil
	}
	n, horizon, nc := len(y), s.horizon, len(s.steps)
	s.guarded = make([]float64, horizon)
	pre := make([]float64, no*horizon)
	for k := range horizon {
		for o := range no {
			pre[o*horizon+k] = combine(s.weights[k], fc[(o*horizon+k)*nc:(o*horizon+k+1)*nc])
		}
		var sw, sw2, sd, sd2 float64
		for o := 0; o < no && from+o+k < n; o++ {
			a := y[from+o+k]
			if !finite(a) {
				continue
			}
			row := fc[(o*horizon+k)*nc : (o*horizon+k+1)*nc]
			d := math.Abs(a-row[naive]) - math.Abs(a-pre[o*horizon+k])
			if !finite(d) {
				continue
			}
			w := ow[o]
			sw += w
			sw2 += w * w
			sd += w * d
			sd2 += w * d * d
		}
		lambda := 1.0
		if sw > 0 && sw2 > 0 {
			mean := sd / sw
			variance := max(0, sd2/sw-mean*mean)
			neff := sw * sw / sw2 / float64(k+1)
			switch {
			case variance == 0 && mean > 0:
				lambda = 1
			case variance == 0:
				lambda = 0
			default:
				lambda = min(1, max(0, mean/math.Sqrt(variance/neff)/guardStrength))
			}
		}
		s.guarded[k] = 1 - lambda
		if lambda < 1 {
			for j := range nc {
				s.weights[k][j] *= lambda
			}
			s.weights[k][naive] += 1 - lambda
		}
	}
	return pre
}

// calibrate sets the interval offsets (s.mid, lo, hi) from the
// combination's own errors at the backtest's last origins (at most last of
// them; fc as in selectModels, origins from, from+1, ..., from+no-1), and
// the interval's coverage on them. pre, when not nil, holds the
// combinations guard computed (guard's result), still right for the
// horizons it did not shrink.
func (s *selection) calibrate(y, fc []float64, from, no, last int, pre []float64) {
	n, horizon, nc := len(y), s.horizon, len(s.steps)
	span := max(0, no-last)
	res := newResiduals(horizon, no-span)
	comb := make([]float64, (no-span)*horizon)
	for o := span; o < no; o++ {
		c := comb[(o-span)*horizon : (o-span+1)*horizon]
		for k := range horizon {
			if pre != nil && s.guarded[k] == 0 {
				c[k] = pre[o*horizon+k]
				continue
			}
			c[k] = combine(s.weights[k], fc[(o*horizon+k)*nc:(o*horizon+k+1)*nc])
		}
		res.add(y, from+o, c)
	}
	s.mid, s.lo, s.hi = res.offsets()
	var below10, below90, cnt int
	for o := span; o < no; o++ {
		c := comb[(o-span)*horizon : (o-span+1)*horizon]
		for k := range horizon {
			if i := from + o + k; i < n && finite(y[i]) {
				cnt++
				if y[i] < c[k]+s.lo[k] {
					below10++
				}
				if y[i] <= c[k]+s.hi[k] {
					below90++
				}
			}
		}
	}
	if cnt > 0 {
		s.cover10, s.cover90 = float64(below10)/float64(cnt), float64(below90)/float64(cnt)
	}
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

// combine returns the combination of the candidates' forecasts f with
// weights w (summing to one): the mean of their weighted mean and their
// weighted median. The mean averages the candidates' errors away where
// they differ little; the median keeps a candidate that is far from the
// others (a trend carrying a burst forward, a season learnt from a spike)
// from moving the forecast by more than its weight's share of the way.
func combine(w, f []float64) float64 {
	var mean float64
	for j, v := range f {
		mean += w[j] * v
	}
	return (mean + weightedMedian(w, f)) / 2
}

// weightedMedian returns the value of f at which the weights w (summing to
// one), taken in increasing order of f, reach one half (the midpoint of
// the two values where they reach it exactly).
func weightedMedian(w, f []float64) float64 {
	var idx [16]int
	order := idx[:0]
	for j := range f {
		if w[j] > 0 {
			order = append(order, j)
		}
	}
	if len(order) == 0 {
		return math.NaN()
	}
	// Insertion sort: there are a handful of candidates.
	for i := 1; i < len(order); i++ {
		for k := i; k > 0 && f[order[k]] < f[order[k-1]]; k-- {
			order[k], order[k-1] = order[k-1], order[k]
		}
	}
	var c float64
	for i, j := range order {
		c += w[j]
		switch {
		case c > 0.5+1e-12:
			return f[j]
		case c >= 0.5-1e-12 && i+1 < len(order):
			return (f[j] + f[order[i+1]]) / 2
		}
	}
	return f[order[len(order)-1]]
}

// forecast combines the candidates' forecasts from the end of the history.
// The point forecast is the combination moved by the median of its recent
// errors at each horizon (the median is what minimises the absolute error),
// P10 and P90 the combination moved by their 10th and 90th percentiles.
// Where the history has no negative value, neither have the mean and P10.
func (s *selection) forecast() Forecast {
	nc := len(s.steps)
	if len(s.all) != s.horizon*nc {
		s.all = make([]float64, s.horizon*nc)
	}
	all := s.all
	buf := s.scratch(s.horizon)
	for j, st := range s.steps {
		st.predict(buf)
		for k, v := range buf {
			all[k*nc+j] = v
		}
	}
	f := Forecast{Mean: make([]float64, s.horizon), P10: make([]float64, s.horizon), P90: make([]float64, s.horizon)}
	for k := range f.Mean {
		c := combine(s.weights[k], all[k*nc:(k+1)*nc])
		f.Mean[k], f.P10[k], f.P90[k] = c+s.mid[k], c+s.lo[k], c+s.hi[k]
	}
	if s.nonNegative {
		clampNonNegative(&f)
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
	best := 0
	for j := range nc {
		if mae[j] < mae[best] {
			best = j
		}
	}
	lead := fmt.Sprintf("%s has the least backtest MAE", s.names[best])
	if pj := slices.Index(s.names, "persistence"); pj >= 0 && pj != best && mae[pj] > 0 {
		lead += fmt.Sprintf(", %.0f%% below persistence's", 100*(1-mae[best]/mae[pj]))
	}
	guarded := 0.0
	for _, g := range s.guarded {
		guarded += g / float64(len(s.guarded))
	}
	guard := "the backtest shows the combination beats persistence at every horizon"
	if guarded > 0.005 {
		guard = fmt.Sprintf("the backtest does not show the combination beats persistence by %g standard errors everywhere: %.0f%% of the weight moved to persistence", guardStrength, 100*guarded)
	}
	why = fmt.Sprintf("recent backtest MAE (1..%d ahead): %s; %s; weights by horizon: half exp(-(MAE/least - 1)/%g) normalised, half the weights whose combination has the least backtest MAE; %s; "+
		"forecast: the mean of the weighted mean and the weighted median, plus the median backtest error; "+
		"interval on the backtest: %.0f%% of actuals below P10, %.0f%% at or below P90",
		s.horizon, strings.Join(whys, ", "), lead, combineTemperature, guard, 100*s.cover10, 100*s.cover90)
	return strings.Join(parts, " + "), why
}

// stackEvery is the spacing of the backtest origins the stacking fits on
// (7: no common factor with the usual periods of 2, 3, 4, 6 and 12 points
// or a day of 288, so that it cannot alias with them), stackIters its
// descent steps.
const (
	stackEvery = 7
	stackIters = 20
)

// stackWeights returns convex weights, shared by all horizons, that
// minimise the recency-weighted (ow) absolute error of the linear
// combination of the candidates' backtest forecasts fc: exponentiated-
// gradient descent (the weights stay on the simplex) from the mean over
// horizons of start mixed with a tenth of equal weights, with steps
// 1/sqrt(iteration) in units of the backtest's scale; the best point seen
// is returned. The loss is convex in the weights, so the descent needs no
// restarts.
func stackWeights(y, fc, ow []float64, from, no, horizon, nc int, start [][]float64) []float64 {
	w := make([]float64, nc)
	for k := range start {
		for j := range nc {
			w[j] += start[k][j] / float64(len(start))
		}
	}
	for j := range w {
		w[j] = 0.9*w[j] + 0.1/float64(nc)
	}
	// The rows: every horizon of every stackEvery-th origin with a known
	// actual. rsum is their total recency weight, scale the step's unit:
	// the mean absolute error of the first candidate (persistence), or the
	// mean size of the actuals where that is zero.
	var rsum, scale, size float64
	for o := 0; o < no; o += stackEvery {
		for k := range horizon {
			if i := from + o + k; i < len(y) && finite(y[i]) {
				rsum += ow[o]
				scale += ow[o] * math.Abs(y[i]-fc[(o*horizon+k)*nc])
				size += ow[o] * math.Abs(y[i])
			}
		}
	}
	if !(rsum > 0) {
		return w
	}
	if scale /= rsum; !(scale > 0) {
		scale = size / rsum
	}
	if !(scale > 0) || !finite(scale) {
		return w
	}
	best := slices.Clone(w)
	bestLoss := math.Inf(1)
	g := make([]float64, nc)
	for it := range stackIters + 1 {
		// One pass: the loss at w and its subgradient.
		clear(g)
		var loss float64
		for o := 0; o < no; o += stackEvery {
			r := ow[o]
			for k := range horizon {
				i := from + o + k
				if i >= len(y) || !finite(y[i]) {
					continue
				}
				f := fc[(o*horizon+k)*nc : (o*horizon+k+1)*nc]
				c := 0.0
				for j, v := range f {
					c += w[j] * v
				}
				switch e := y[i] - c; {
				case e > 0:
					loss += r * e
					for j, v := range f {
						g[j] -= r * v
					}
				case e < 0:
					loss -= r * e
					for j, v := range f {
						g[j] += r * v
					}
				}
			}
		}
		if loss < bestLoss {
			bestLoss = loss
			copy(best, w)
		}
		if it == stackIters || !finite(loss) {
			break
		}
		eta := 1 / math.Sqrt(float64(it+1)) / (rsum * scale)
		total := 0.0
		for j := range w {
			w[j] *= math.Exp(-eta * g[j])
			total += w[j]
		}
		if !(total > 0) || !finite(total) {
			break
		}
		for j := range w {
			w[j] /= total
		}
	}
	return best
}
