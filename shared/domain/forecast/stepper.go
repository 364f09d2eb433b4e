package forecast

import (
	"math"
)

// stepper is a fitted model's recursive state: it takes observations one at
// a time (NaN: missing) in O(1) and forecasts from the last one. All the
// models of this package are steppers, so one filtering pass over a history
// gives their forecasts from every point of it (the backtest), and the
// online path keeps them running between refits.
type stepper interface {
	// observe takes the next observation; NaN marks a missing one.
	observe(y float64)
	// predict writes the forecasts 1..len(dst) steps after the last
	// observation into dst.
	predict(dst []float64)
	// clone returns an independent copy of the state.
	clone() stepper
}

// method fits a model's parameters to a history.
type method interface {
	name() string
	// fit estimates the parameters on h and returns its filter having
	// absorbed h.y[:start] (its start-up: a seasonal profile taken from it,
	// rings filled): the caller feeds h.y[start:] and then the future
	// through observe. Forecasts from origins at or after start are out of
	// sample with respect to the start-up, and only those may be scored.
	fit(h *history) (st stepper, start int, err error)
}

// history is what the methods fit: the values and what several methods
// derive from them, computed once.
type history struct {
	y       []float64
	season  int // points a day (0: no daily season)
	horizon int
	// scale is the median absolute one-step change: a robust scale of the
	// noise, where the robust filters start.
	scale float64
	// floor is the smallest scale the robust filters keep, so that they
	// recover from a flat stretch (an outage at zero) within a few points.
	floor   float64
	cleaned []float64
}

func newHistory(y []float64, season, horizon int) *history {
	h := &history{y: y, season: season, horizon: horizon}
	ch := make([]float64, 0, len(y))
	for i := 1; i < len(y); i++ {
		if finite(y[i]) && finite(y[i-1]) {
			ch = append(ch, math.Abs(y[i]-y[i-1]))
		}
	}
	if s := quantileInPlace(ch, 0.5); finite(s) {
		h.scale = s
	}
	h.floor = 0.1 * h.scale
	if h.floor == 0 {
		// A mostly flat history: floor the scale at a small share of the
		// typical magnitude.
		ab := make([]float64, 0, len(y))
		for _, v := range y {
			if finite(v) {
				ab = append(ab, math.Abs(v))
			}
		}
		if m := quantileInPlace(ab, 0.5); finite(m) {
			h.floor = 1e-3 * m
		}
	}
	return h
}

// clean returns the history with gaps filled and isolated spikes replaced
// (what regressions are estimated on; the filters see the raw values).
func (h *history) clean() []float64 {
	if h.cleaned == nil {
		h.cleaned = despike(fillGaps(h.y))
	}
	return h.cleaned
}

// robustScale tracks the scale of a model's one-step errors so that a spike
// can be recognised and clipped (a Huber-type filter, as in Gelper, Fried and
// Croux's robust exponential smoothing). s tracks the median of the absolute
// errors (a stochastic-approximation quantile: up by a factor 1+rate when
// an error is above it, down by 1-rate when below, never below floor), so
// that even frequent spikes (one point in six, say) do not inflate it. An
// error beyond k*s is clipped to k*s. When run errors in a row fall beyond
// the clip on the same side, it is not a spike but a level shift (a load
// step, an outage starting or ending): filter then reports the shift, the
// smallest of those errors (the part of the jump they all agree on), which
// the model adds to its level at once.
type robustScale struct {
	s     float64 // running median absolute error
	floor float64 // s never drops below this
	k     float64 // clip at k*s
	rate  float64 // smoothing rate of s
	run   int     // clipped errors in a row that make a level shift
	n     int     // consecutive clipped errors on the same side (signed)
	least float64 // the smallest of them in size
}

const (
	// defaultClip is k: errors beyond defaultClip running median absolute
	// errors are clipped, about 2 standard deviations for Gaussian errors
	// (sigma = 1.483 median|e|): Huber's k = 2, as Gelper et al. use.
	defaultClip      = 3.0
	defaultScaleRate = 0.05
	// defaultShiftRun clipped errors in a row on one side make a level
	// shift.
	defaultShiftRun = 3
)

// newRobustScale returns a scale starting at s0 that never drops below floor
// and takes run clipped errors in a row for a level shift.
func newRobustScale(s0, floor float64, run int) robustScale {
	return robustScale{s: max(s0, floor), floor: floor, k: defaultClip, rate: defaultScaleRate, run: max(run, 1)}
}

// filter clips e and updates the scale. It returns the error the model
// should use, and a level shift (0 when there is none): when shift is not
// zero the model moves its level by shift and ignores e.
func (r *robustScale) filter(e float64) (ec, shift float64) {
	if c := r.k * r.s; e <= c && e >= -c && r.s > 0 {
		r.n = 0
		r.track(e)
		return e, 0
	}
	return r.filterSlow(e)
}

func (r *robustScale) filterSlow(e float64) (ec, shift float64) {
	if r.s <= 0 {
		// No scale yet (a constant history): take the error as it is and
		// learn the scale from it.
		r.s = math.Abs(e)
		return e, 0
	}
	c := r.k * r.s
	switch {
	case e > c && r.n > 0, e < -c && r.n < 0:
		if math.Abs(e) < math.Abs(r.least) {
			r.least = e
		}
	default:
		r.n, r.least = 0, e
	}
	if e > 0 {
		r.n++
	} else {
		r.n--
	}
	if r.n >= r.run || r.n <= -r.run {
		r.n = 0
		return 0, r.least
	}
	r.track(e)
	return clip(e, c), 0
}

// track moves s towards the median of |e|.
func (r *robustScale) track(e float64) {
	if e > r.s || e < -r.s {
		r.s *= 1 + r.rate
	} else {
		r.s = max(r.floor, r.s*(1-r.rate))
	}
}
