package forecast

import (
	"fmt"
)

// HoltWinters is robust additive Holt-Winters: damped trend, a daily season
// (Input.Season, when the history holds two days) and a weekly one (when it
// holds four weeks). The seasonal start is a median profile of the first
// half of the history and every innovation is clipped (Huber) so that one
// spike does not poison the states; a run of clipped innovations on one side
// is taken as a level shift. The parameters minimise the absolute error of
// the forecasts 1..Horizon ahead over the second half.
type HoltWinters struct{}

// Name implements Model.
func (HoltWinters) Name() string { return "holt_winters" }

// Forecast implements Model. With less than three days of history (or no
// daily season) it has no season to fit and is damped Holt; Why says so.
func (HoltWinters) Forecast(in Input) (Forecast, error) {
	m := holtWintersMethod
	m.orHolt = true
	return forecastWith(m, in)
}

// Holt is robust damped Holt: level and damped trend, no season, fitted like
// HoltWinters.
type Holt struct{}

// Name implements Model.
func (Holt) Name() string { return "holt" }

// Forecast implements Model.
func (Holt) Forecast(in Input) (Forecast, error) {
	return forecastWith(holtMethod, in)
}

// ARIMA is ARIMA(p,d,q), with seasonal differencing where the daily season
// is strong: d by a KPSS test, the order (p <= 3, q <= 2) by AICc,
// coefficients by Hannan-Rissanen regressions on a copy of the history with
// its spikes cleaned, and a robust filter (clipped innovations, level shifts
// recognised) to forecast.
type ARIMA struct{}

// Name implements Model.
func (ARIMA) Name() string { return "arima" }

// Forecast implements Model.
func (ARIMA) Forecast(in Input) (Forecast, error) {
	return forecastWith(arimaMethod{maxP: 3, maxQ: 2}, in)
}

var (
	holtMethod        = etsMethod{label: "holt", trend: true}
	holtWintersMethod = etsMethod{label: "holt_winters", trend: true, daily: true, weekly: true}
	// holtPlainMethod is damped Holt with the robust filter all but off
	// (only gross errors clipped: plainClip): close to a textbook filter,
	// whose trend learns from a ramp at once where the robust ones clip
	// it. The default keeps it in its pool for bursts that build up.
	holtPlainMethod = etsMethod{label: "holt_plain", trend: true, plain: true}
)

// forecastWith fits meth on the input, forecasts, and sets the interval
// from the recent in-sample forecast errors at each horizon.
func forecastWith(meth method, in Input) (Forecast, error) {
	if err := in.Validate(); err != nil {
		return Forecast{}, err
	}
	y := in.Values
	h := newHistory(y, in.Season, in.Horizon)
	st, start, err := meth.fit(h)
	if err != nil {
		return Forecast{}, fmt.Errorf("fitting %s: %w", meth.name(), err)
	}
	from := max(start, len(y)-residualSpan(in.Season))
	res := newResiduals(in.Horizon, len(y)-from)
	walk(st, y[start:], from-start, 1, in.Horizon, func(i int, f []float64) {
		res.add(y, start+i, f)
	})
	mean := make([]float64, in.Horizon)
	st.predict(mean)
	out := Forecast{Model: meth.name(), Mean: mean}
	if d, ok := st.(interface{ describe() string }); ok {
		out.Why = d.describe()
	}
	out.P10, out.P90 = res.interval(mean)
	if nonNegative(y) {
		clampNonNegative(&out)
	}
	return out, nil
}

// residualSpan is how much recent history calibrates the intervals: three
// days, at least 100 origins.
func residualSpan(season int) int {
	return max(100, 3*season)
}

// residuals collects forecast errors by horizon.
type residuals struct {
	byH [][]float64
}

// newResiduals returns the errors of h horizons, room made for origins
// errors each (one backing array).
func newResiduals(h, origins int) *residuals {
	r := &residuals{byH: make([][]float64, h)}
	if origins > 0 {
		all := make([]float64, h*origins)
		for k := range r.byH {
			r.byH[k] = all[k*origins : k*origins : (k+1)*origins]
		}
	}
	return r
}

// add records the errors of forecasts f made at origin i of y.
func (r *residuals) add(y []float64, i int, f []float64) {
	for k, v := range f {
		if i+k >= len(y) {
			return
		}
		if a := y[i+k]; finite(a) && finite(v) {
			r.byH[k] = append(r.byH[k], a-v)
		}
	}
}

// minResiduals is the fewest errors a horizon needs for its own quantiles;
// a horizon with fewer borrows those of the one before.
const minResiduals = 10

// interval returns P10 and P90 around mean: mean plus the 10th and 90th
// percentiles of the errors at each horizon (see offsets).
func (r *residuals) interval(mean []float64) (p10, p90 []float64) {
	_, lo, hi := r.offsets()
	p10, p90 = make([]float64, len(mean)), make([]float64, len(mean))
	for k, m := range mean {
		p10[k], p90[k] = m+min(0, lo[k]), m+max(0, hi[k])
	}
	return p10, p90
}

// offsets returns, at each horizon, the median of the errors there and,
// around it, the 10th and 90th percentiles of the errors' deviations from
// their own horizon's median, pooled over the horizon and its two
// neighbours: added to a forecast, the point that minimises the absolute
// error and the interval, lo <= mid <= hi. Neighbouring horizons' spreads
// are nearly the same, and pooling them triples the sample a tail quantile
// is estimated from (a 10% tail of a two-day backtest of 30-minute points
// is under ten errors otherwise). A horizon with fewer than minResiduals
// errors borrows the one before (zeros when none has enough). It reorders
// the stored errors.
//
// Each horizon's spread is its own: forcing it never to narrow as the
// horizon grows widened the interval past its 10% tail on traces where a
// longer horizon is not harder (a daily pattern that the models follow).
func (r *residuals) offsets() (mid, lo, hi []float64) {
	n := len(r.byH)
	mid, lo, hi = make([]float64, n), make([]float64, n), make([]float64, n)
	meds := make([]float64, n)
	ok := make([]bool, n)
	for k, e := range r.byH {
		if ok[k] = len(e) >= minResiduals; ok[k] {
			meds[k] = quantileInPlace(e, 0.5)
		}
	}
	var m, down, up float64
	var pool []float64
	for k := range r.byH {
		if ok[k] {
			m = meds[k]
			pool = pool[:0]
			for j := max(0, k-1); j <= min(n-1, k+1); j++ {
				if ok[j] {
					for _, v := range r.byH[j] {
						pool = append(pool, v-meds[j])
					}
				}
			}
			down = -quantileInPlace(pool, 0.1)
			up = quantileInPlace(pool, 0.9)
		}
		mid[k], lo[k], hi[k] = m, m-down, m+up
	}
	return mid, lo, hi
}

// nonNegative reports whether y has a finite value and no negative one: a
// load that cannot go below zero (requests, CPU, bytes), whose forecast
// must not either.
func nonNegative(y []float64) bool {
	seen := false
	for _, v := range y {
		if v < 0 {
			return false
		}
		seen = seen || finite(v)
	}
	return seen
}

// clampNonNegative raises f's mean, P10 and P90 to at least zero.
func clampNonNegative(f *Forecast) {
	for _, s := range [][]float64{f.Mean, f.P10, f.P90} {
		for k, v := range s {
			s[k] = max(0, v)
		}
	}
}
