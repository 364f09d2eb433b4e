package forecast

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// arimaParams is a fitted ARIMA(p,d,q)(0,D,0)_m: on the differenced series
// w = (1-B)^d (1-B^m)^D y,
//
//	w[t] = c + sum phi[i] w[t-1-i] + sum theta[j] e[t-1-j] + e[t]
type arimaParams struct {
	d, sd, m int // regular and seasonal differencing, season length
	c        float64
	phi      []float64
	theta    []float64
	// integ are the lags and weights that turn a forecast of w into one of
	// y: y[t] = w[t] + sum integ[i].w * y[t-integ[i].lag].
	integ []lagWeight
}

type lagWeight struct {
	lag int
	w   float64
}

func (p arimaParams) label() string {
	if p.sd > 0 {
		return fmt.Sprintf("ARIMA(%d,%d,%d)(0,%d,0)[%d]", len(p.phi), p.d, len(p.theta), p.sd, p.m)
	}
	return fmt.Sprintf("ARIMA(%d,%d,%d)", len(p.phi), p.d, len(p.theta))
}

// integration returns the lag weights of 1 - (1-B)^d (1-B^m)^sd.
func integration(d, sd, m int) []lagWeight {
	poly := map[int]float64{0: 1}
	mul := func(lag int) { // poly *= (1 - B^lag)
		next := map[int]float64{}
		for k, v := range poly {
			next[k] += v
			next[k+lag] -= v
		}
		poly = next
	}
	for range d {
		mul(1)
	}
	for range sd {
		mul(m)
	}
	var out []lagWeight
	for lag, v := range poly {
		if lag > 0 && v != 0 {
			out = append(out, lagWeight{lag: lag, w: -v})
		}
	}
	slices.SortFunc(out, func(a, b lagWeight) int { return a.lag - b.lag })
	return out
}

// arimaState is the robust filter of an arimaParams. It keeps the cleaned
// levels (a spike replaced by the forecast plus a clipped error), the
// differenced series and the innovations in rings.
type arimaState struct {
	p     *arimaParams
	ys    ring // cleaned levels, at least the deepest integration lag
	ws    ring // differenced series, len(phi) deep
	es    ring // innovations, len(theta) deep
	scale robustScale
	// fw is predict's scratch: the forecasts of w.
	fw []float64
}

var _ stepper = (*arimaState)(nil)

// ring is a fixed-size history, newest last: at(1) is the latest value.
type ring struct {
	v   []float64
	pos int // index of the next write
}

func newRing(n int) ring { return ring{v: make([]float64, max(n, 1))} }

func (r *ring) push(x float64) {
	r.v[r.pos] = x
	if r.pos++; r.pos == len(r.v) {
		r.pos = 0
	}
}

// at returns the value lag steps back (lag 1 = the latest).
func (r *ring) at(lag int) float64 {
	i := r.pos - lag
	if i < 0 {
		i += len(r.v)
	}
	return r.v[i]
}

func (r *ring) add(x float64) {
	for i := range r.v {
		r.v[i] += x
	}
}

func (r ring) clone() ring { return ring{v: slices.Clone(r.v), pos: r.pos} }

func (r *ring) copyFrom(o ring) {
	copy(r.v, o.v)
	r.pos = o.pos
}

func newARIMAState(p *arimaParams, level, scale, floor float64) *arimaState {
	depth := 1
	for _, lw := range p.integ {
		depth = max(depth, lw.lag)
	}
	st := &arimaState{p: p, ys: newRing(depth), ws: newRing(len(p.phi)), es: newRing(len(p.theta)),
		scale: newRobustScale(scale, floor, defaultShiftRun)}
	for i := range st.ys.v {
		st.ys.v[i] = level
	}
	return st
}

func (st *arimaState) describe() string {
	return fmt.Sprintf("%s phi=%.3f theta=%.3f c=%.3g", st.p.label(), st.p.phi, st.p.theta, st.p.c)
}

// onestep returns the forecasts of w and y for the next point.
func (st *arimaState) onestep() (w, y float64) {
	p := st.p
	w = p.c
	for i, f := range p.phi {
		w += f * st.ws.at(i+1)
	}
	for j, th := range p.theta {
		w += th * st.es.at(j+1)
	}
	y = w
	for _, lw := range p.integ {
		y += lw.w * st.ys.at(lw.lag)
	}
	return w, y
}

func (st *arimaState) observe(v float64) {
	w, y := st.onestep()
	if !finite(v) {
		st.ys.push(y)
		st.ws.push(w)
		st.es.push(0)
		return
	}
	e, shift := st.scale.filter(v - y)
	if shift != 0 {
		// A level shift: move the whole remembered level, keep the
		// dynamics of the differences.
		st.ys.add(shift)
		st.ys.push(y + shift)
		st.ws.push(w)
		st.es.push(0)
		return
	}
	st.ys.push(y + e)
	st.ws.push(w + e)
	st.es.push(e)
}

func (st *arimaState) predict(dst []float64) {
	// The recursion run forward with zero innovations, reading the rings
	// for lags before the origin and the forecasts made so far after it.
	p := st.p
	if cap(st.fw) < len(dst) {
		st.fw = make([]float64, len(dst))
	}
	fw := st.fw[:len(dst)]
	for k := range dst {
		w := p.c
		for i, f := range p.phi {
			if lag := i + 1; lag <= k {
				w += f * fw[k-lag]
			} else {
				w += f * st.ws.at(lag-k)
			}
		}
		for j, th := range p.theta {
			if lag := j + 1; lag > k {
				w += th * st.es.at(lag-k)
			}
		}
		y := w
		for _, lw := range p.integ {
			if lw.lag <= k {
				y += lw.w * dst[k-lw.lag]
			} else {
				y += lw.w * st.ys.at(lw.lag-k)
			}
		}
		fw[k], dst[k] = w, y
	}
}

func (st *arimaState) clone() stepper {
	c := *st
	c.ys, c.ws, c.es = st.ys.clone(), st.ws.clone(), st.es.clone()
	c.fw = nil
	return &c
}

// arimaMethod chooses an ARIMA order by AICc and estimates it by
// Hannan-Rissanen regressions on a cleaned copy of the history.
type arimaMethod struct {
	maxP, maxQ int
}

func (arimaMethod) name() string { return "arima" }

// arimaLongAR is the order of the long autoregression whose residuals stand
// in for the innovations (Hannan-Rissanen's first stage).
const arimaLongAR = 16

func (am arimaMethod) fit(h *history) (stepper, int, error) {
	y := h.y
	if n := countFinite(y); n < 30 {
		return nil, 0, fmt.Errorf("arima needs 30 finite points, have %d: %w", n, ErrTooShort)
	}
	clean := h.clean()
	d, sd := chooseDifferencing(clean, h.season)
	best, err := am.chooseOrder(clean, d, sd, h.season)
	if err != nil {
		return nil, 0, err
	}
	// The filter starts from the cleaned first level and absorbs the first
	// tenth of the history (at least twice its rings' depth) to settle.
	st := newARIMAState(best, clean[0], h.scale, h.floor)
	// The level-shift run, as for the ETS filters (chooseShiftRun), scored
	// on the forecasts from the second half of the history.
	st.scale.run = chooseShiftRun(func(run int) float64 {
		c := newARIMAState(best, clean[0], h.scale, h.floor)
		c.scale.run = run
		return fitLoss(c, y, len(y)/2, etsFitStride, h.horizon)
	}, st.scale.run)
	start := min(len(y)-1, max(len(y)/10, 2*len(st.ys.v)))
	for _, v := range y[:start] {
		st.observe(v)
	}
	return st, start, nil
}

// difference returns (1-B)^d (1-B^m)^sd x (shorter by d + sd*m).
func difference(x []float64, d, sd, m int) []float64 {
	w := slices.Clone(x)
	for range sd {
		for i := len(w) - 1; i >= m; i-- {
			w[i] -= w[i-m]
		}
		w = w[m:]
	}
	for range d {
		for i := len(w) - 1; i >= 1; i-- {
			w[i] -= w[i-1]
		}
		w = w[1:]
	}
	return w
}

// chooseDifferencing picks seasonal differencing when the daily season is
// strong (Wang, Smith and Hyndman's seasonal strength above 0.64, as in
// forecast::nsdiffs). Regular differencing is always on: load levels drift
// and step, and an ARMA around a mean estimated over the window reverts
// towards a level the load may have left (a KPSS test choosing d was tried:
// no better overall on slices of the NAB traces, and far off where the level
// moved late in the window); a stationary series costs an MA root near -1.
func chooseDifferencing(x []float64, season int) (d, sd int) {
	if season >= 2 && len(x) >= 3*season && seasonalStrength(x, season) > 0.64 {
		sd = 1
	}
	return 1, sd
}

// seasonalStrength is 1 - var(remainder)/var(season + remainder), with the
// trend a centred moving average over one season and the season the median
// profile of the detrended series.
func seasonalStrength(x []float64, m int) float64 {
	n := len(x)
	trend := movingAverage(x, m)
	det := make([]float64, n)
	for i := range x {
		det[i] = x[i] - trend[i]
	}
	prof := seasonalProfile(det, m, nil, 1)
	var vr, vsr []float64
	for i := m / 2; i < n-m/2; i++ {
		vr = append(vr, det[i]-prof[i%m])
		vsr = append(vsr, det[i])
	}
	a, b := variance(vr), variance(vsr)
	if b == 0 {
		return 0
	}
	return math.Max(0, 1-a/b)
}

// movingAverage is the centred mean over a window of m points (shorter at
// the ends).
func movingAverage(x []float64, m int) []float64 {
	n := len(x)
	pre := make([]float64, n+1)
	for i, v := range x {
		pre[i+1] = pre[i] + v
	}
	out := make([]float64, n)
	for i := range x {
		lo, hi := max(0, i-m/2), min(n, i-m/2+m)
		out[i] = (pre[hi] - pre[lo]) / float64(hi-lo)
	}
	return out
}

// chooseOrder estimates every (p,q) of the grid by Hannan-Rissanen (the
// differenced series regressed on its own lags and on the lagged residuals
// of a long autoregression) and returns the admissible one (stationary,
// invertible) of least AICc, all of them scored on the same rows.
func (am arimaMethod) chooseOrder(x []float64, d, sd, m int) (*arimaParams, error) {
	w := difference(x, d, sd, m)
	withMean := d+sd == 0
	wc, mean := centre(w, withMean)
	long := min(arimaLongAR, len(w)/10)
	if long < 1 {
		return nil, fmt.Errorf("arima: %d differenced points: %w", len(w), ErrTooShort)
	}
	ehat, err := longARResiduals(wc, long)
	if err != nil {
		return nil, err
	}
	cp := newCrossProducts(wc, ehat, am.maxP, am.maxQ, long+max(am.maxP, am.maxQ))
	if cp.rows < 10 {
		return nil, fmt.Errorf("arima: %d rows to estimate on: %w", cp.rows, ErrTooShort)
	}
	integ := integration(d, sd, m)
	var best *arimaParams
	bestAIC := math.Inf(1)
	for p := 0; p <= am.maxP; p++ {
		for q := 0; q <= am.maxQ; q++ {
			coef, rss, ok := cp.solve(p, q)
			if !ok {
				continue
			}
			cand := &arimaParams{d: d, sd: sd, m: m, phi: coef[:p], theta: coef[p:], integ: integ}
			if !stationary(cand.phi) || !stationary(negate(cand.theta)) {
				continue
			}
			nparam := p + q + 1
			if withMean {
				sumPhi := 0.0
				for _, f := range cand.phi {
					sumPhi += f
				}
				cand.c = mean * (1 - sumPhi)
				nparam++
			}
			if a := cp.aicc(rss, nparam); a < bestAIC {
				bestAIC, best = a, cand
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("arima: no admissible order on %d points", len(x))
	}
	return best, nil
}

// centre returns w less its mean when withMean (and the mean), else a copy
// of w and zero.
func centre(w []float64, withMean bool) ([]float64, float64) {
	mean := 0.0
	if withMean && len(w) > 0 {
		for _, v := range w {
			mean += v
		}
		mean /= float64(len(w))
	}
	wc := make([]float64, len(w))
	for i, v := range w {
		wc[i] = v - mean
	}
	return wc, mean
}

// crossProducts holds the regression of wc[t] on its lags 1..P and the
// innovations' lags 1..Q over the rows t >= start: one cross-product matrix
// of all the regressors, of which each (p, q) solves a sub-block.
type crossProducts struct {
	P, Q int
	xtx  *mat.SymDense
	xty  []float64
	yy   float64 // sum of wc[t]^2 over the rows
	rows int
}

func newCrossProducts(wc, ehat []float64, P, Q, start int) *crossProducts {
	k := P + Q
	cp := &crossProducts{P: P, Q: Q, xtx: mat.NewSymDense(max(k, 1), nil), xty: make([]float64, k)}
	row := make([]float64, k)
	for t := start; t < len(wc); t++ {
		cp.yy += wc[t] * wc[t]
		for i := range P {
			row[i] = wc[t-1-i]
		}
		for j := range Q {
			row[P+j] = ehat[t-1-j]
		}
		for a := range k {
			cp.xty[a] += row[a] * wc[t]
			for b := a; b < k; b++ {
				cp.xtx.SetSym(a, b, cp.xtx.At(a, b)+row[a]*row[b])
			}
		}
		cp.rows++
	}
	return cp
}

// solve returns the least-squares coefficients of the AR lags 1..p and
// the MA lags 1..q (in that order) and their residual sum of squares; ok
// is false when the sub-block is singular.
func (cp *crossProducts) solve(p, q int) (coef []float64, rss float64, ok bool) {
	idx := make([]int, 0, p+q)
	for i := range p {
		idx = append(idx, i)
	}
	for j := range q {
		idx = append(idx, cp.P+j)
	}
	coef = make([]float64, len(idx))
	rss = cp.yy
	if len(idx) == 0 {
		return coef, rss, true
	}
	sub := mat.NewSymDense(len(idx), nil)
	rhs := mat.NewVecDense(len(idx), nil)
	for a, ia := range idx {
		rhs.SetVec(a, cp.xty[ia])
		for b, ib := range idx {
			if b >= a {
				sub.SetSym(a, b, cp.xtx.At(ia, ib))
			}
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(sub) {
		return nil, 0, false
	}
	var sol mat.VecDense
	if err := ch.SolveVecTo(&sol, rhs); err != nil {
		return nil, 0, false
	}
	for a, ia := range idx {
		coef[a] = sol.AtVec(a)
		rss -= coef[a] * cp.xty[ia]
	}
	return coef, rss, true
}

// aicc is the corrected Akaike criterion of a fit with residual sum of
// squares rss and nparam parameters on the rows. A floor on the variance
// keeps a perfect fit (a constant or a pure season) comparable: the
// simplest order wins it.
func (cp *crossProducts) aicc(rss float64, nparam int) float64 {
	n := float64(cp.rows)
	sigma2 := max(rss/n, 1e-12*(cp.yy/n)+1e-300)
	k := float64(nparam)
	return n*math.Log(sigma2) + 2*k + 2*k*(k+1)/math.Max(1, n-k-1)
}

func negate(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = -v
	}
	return out
}

// longARResiduals fits an AR(order) to x (mean zero) by Yule-Walker and
// returns its residuals (zero for the first order points).
func longARResiduals(x []float64, order int) ([]float64, error) {
	n := len(x)
	acov := make([]float64, order+1)
	for k := 0; k <= order; k++ {
		s := 0.0
		for i := k; i < n; i++ {
			s += x[i] * x[i-k]
		}
		acov[k] = s / float64(n)
	}
	if acov[0] == 0 {
		return make([]float64, n), nil
	}
	toe := mat.NewSymDense(order, nil)
	for i := range order {
		for j := i; j < order; j++ {
			toe.SetSym(i, j, acov[j-i])
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(toe) {
		return nil, fmt.Errorf("arima: autocovariance matrix of order %d is not positive definite", order)
	}
	var a mat.VecDense
	if err := ch.SolveVecTo(&a, mat.NewVecDense(order, slices.Clone(acov[1:]))); err != nil {
		return nil, fmt.Errorf("arima: solving Yule-Walker equations: %w", err)
	}
	e := make([]float64, n)
	for t := order; t < n; t++ {
		pred := 0.0
		for i := range order {
			pred += a.AtVec(i) * x[t-1-i]
		}
		e[t] = x[t] - pred
	}
	return e, nil
}

// stationary reports whether 1 - a[0] z - ... - a[p-1] z^p has all its roots
// outside the unit circle (step-down recursion: every partial
// autocorrelation below 1 in size).
func stationary(a []float64) bool {
	c := slices.Clone(a)
	for p := len(c); p > 0; p-- {
		k := c[p-1]
		if math.Abs(k) >= 0.999 {
			return false
		}
		next := make([]float64, p-1)
		for i := range p - 1 {
			next[i] = (c[i] + k*c[p-2-i]) / (1 - k*k)
		}
		c = next
	}
	return true
}
