package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

// ErrBadInput is wrapped by every error about a trace or a configuration the
// simulator cannot use.
var ErrBadInput = errors.New("bad simulation input")

// Demand is the per-tick demand a run replays, in requests per second.
type Demand struct {
	Name   string
	Start  time.Time     // time of tick 0
	Tick   time.Duration // spacing of the ticks
	Values []float64     // requests per second at each tick, finite and >= 0
	// Scale is the factor that was applied to the trace's values.
	Scale float64
}

// Len is the number of ticks.
func (d Demand) Len() int { return len(d.Values) }

// Time returns the time of tick i.
func (d Demand) Time(i int) time.Time { return d.Start.Add(time.Duration(i) * d.Tick) }

// Cut returns the first n ticks of d: what a policy has seen by tick n-1.
func (d Demand) Cut(n int) Demand {
	n = max(0, min(n, len(d.Values)))
	c := d
	c.Values = d.Values[:n]
	return c
}

// PrepareDemand turns a trace into tick demand as SCALING.md defines it: the
// trace on its regular grid (gaps filled by trace.Regular), linearly
// interpolated to ticks from its first to its last timestamp, then scaled so
// that the q-quantile of the tick values equals target (e.g. the 99th
// percentile equal to 8 instance capacities); q = 0 leaves the values as
// they are (the trace is already in the capacity's unit). Negative values
// are clipped to zero after scaling (a demand cannot be negative).
func PrepareDemand(tr trace.Trace, tick time.Duration, q, target float64) (Demand, error) {
	if tick <= 0 {
		return Demand{}, fmt.Errorf("tick %v: must be positive: %w", tick, ErrBadInput)
	}
	if !(q >= 0 && q <= 1) {
		return Demand{}, fmt.Errorf("quantile %v: must be in [0, 1]: %w", q, ErrBadInput)
	}
	if q > 0 && (!(target > 0) || math.IsInf(target, 0)) {
		return Demand{}, fmt.Errorf("scaling target %v: must be positive: %w", target, ErrBadInput)
	}
	if tr.Len() < 2 {
		return Demand{}, fmt.Errorf("trace %s has %d points, need at least 2: %w", tr.Name, tr.Len(), ErrBadInput)
	}
	reg := tr.Regular()
	start, end := reg.Times[0], reg.Times[len(reg.Times)-1]
	n := int(end.Sub(start)/tick) + 1
	if n < 2 {
		return Demand{}, fmt.Errorf("trace %s spans %v, less than two ticks of %v: %w", tr.Name, end.Sub(start), tick, ErrBadInput)
	}
	const maxTicks = 5 * 366 * 24 * 60 // five years of minutes
	if n > maxTicks {
		return Demand{}, fmt.Errorf("trace %s spans %d ticks of %v, more than the %d a run allows: %w", tr.Name, n, tick, maxTicks, ErrBadInput)
	}
	vals := make([]float64, n)
	j := 0
	for i := range vals {
		t := start.Add(time.Duration(i) * tick)
		for j+1 < len(reg.Times)-1 && !reg.Times[j+1].After(t) {
			j++
		}
		t0, t1 := reg.Times[j], reg.Times[j+1]
		if !t.After(t0) {
			vals[i] = reg.Values[j]
			continue
		}
		if !t.Before(t1) {
			vals[i] = reg.Values[j+1]
			continue
		}
		frac := float64(t.Sub(t0)) / float64(t1.Sub(t0))
		vals[i] = reg.Values[j] + frac*(reg.Values[j+1]-reg.Values[j])
	}
	scale := 1.0
	if q > 0 {
		p := Quantile(vals, q)
		if !(p > 0) {
			return Demand{}, fmt.Errorf("trace %s: its %g quantile is %g, so it cannot be scaled to a positive demand: %w", tr.Name, q, p, ErrBadInput)
		}
		scale = target / p
	}
	for i, v := range vals {
		vals[i] = max(0, v*scale)
	}
	return Demand{Name: tr.Name, Start: start, Tick: tick, Values: vals, Scale: scale}, nil
}

// Quantile returns the q-quantile of xs as the order statistic at
// floor(q·(n−1)) (numpy's "lower" method): the reading of SCALING.md's 99th
// percentile that SCALING_REFERENCE.md's figures show (reactive and oracle
// then match the reference exactly on 29 of the 32 trace runs, against 23
// with numpy's default linear interpolation; see docs/SCALING.md). xs is not
// changed.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s)-1)))]
}
