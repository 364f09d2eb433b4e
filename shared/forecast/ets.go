package forecast

import (
	"fmt"
	"math"
	"slices"
)

// etsParams are the smoothing parameters of an additive exponential
// smoothing model in error-correction form (Hyndman et al., ETS(A,Ad,A)):
//
//	e  = y - (l + phi*b + s[t-m] + w[t-mw])   (e clipped by robustScale)
//	l += phi*b + alpha*e;  b = phi*b + beta*e
//	s[t] = s[t-m] + gamma*e;  w[t] = w[t-mw] + gammaW*e
type etsParams struct {
	alpha, beta, gamma, gammaW, phi float64
	trend                           bool
	m, mw                           int // daily and weekly season lengths (0: none)
}

// etsState is the filter of a fitted etsParams.
type etsState struct {
	p      etsParams
	l, b   float64
	s, w   []float64 // season rings (length 1 holding 0 when there is no such season)
	si, wi int       // ring positions of the next observation
	scale  robustScale
}

var _ stepper = (*etsState)(nil)

func (st *etsState) observe(y float64) {
	p := &st.p
	si, wi := st.si, st.wi
	if st.si++; st.si == len(st.s) {
		st.si = 0
	}
	if st.wi++; st.wi == len(st.w) {
		st.wi = 0
	}
	if !finite(y) {
		st.l += p.phi * st.b
		st.b *= p.phi
		return
	}
	pred := st.l + p.phi*st.b + st.s[si] + st.w[wi]
	e, shift := st.scale.filter(y - pred)
	if shift != 0 {
		// A level shift: move the level there, keep trend and season.
		st.l += p.phi*st.b + shift
		st.b *= p.phi
		return
	}
	st.l += p.phi*st.b + p.alpha*e
	st.b = p.phi*st.b + p.beta*e
	st.s[si] += p.gamma * e
	st.w[wi] += p.gammaW * e
}

func (st *etsState) describe() string {
	p := st.p
	return fmt.Sprintf("alpha=%.3f beta=%.3f phi=%.3f gamma=%.3f gammaW=%.3f m=%d mw=%d", p.alpha, p.beta, p.phi, p.gamma, p.gammaW, p.m, p.mw)
}

func (st *etsState) predict(dst []float64) {
	phi := st.p.phi
	damp := 0.0
	pw := 1.0
	si, wi := st.si, st.wi
	for k := range dst {
		pw *= phi
		damp += pw
		dst[k] = st.l + damp*st.b + st.s[si] + st.w[wi]
		if si++; si == len(st.s) {
			si = 0
		}
		if wi++; wi == len(st.w) {
			wi = 0
		}
	}
}

// loss runs the filter over y (it changes st) and returns the mean absolute
// error of its forecasts 1..h ahead from the origins from, from+stride, ...
// It is fitLoss specialised for speed (the fit calls it at every trial):
// when h is at most the season lengths, the seasonal term of a forecast of
// y[t] from any of the h origins before t is the one the filter uses at t,
// so the errors of all the origins that forecast y[t] are computed at t
// from their (level, trend), kept in a ring, in one tight loop.
func (st *etsState) loss(y []float64, from, stride, h int, damp []float64) float64 {
	if (len(st.s) > 1 && h > len(st.s)) || (len(st.w) > 1 && h > len(st.w)) {
		return fitLoss(st, y, from, stride, h)
	}
	// ls, bs: the last h origins' level and trend, newest first, written
	// twice (at pos and pos+h) so that [pos, pos+h) is always contiguous.
	ls := make([]float64, 2*h)
	bs := make([]float64, 2*h)
	for i := range ls {
		ls[i] = nan
	}
	pos := 0
	var sum float64
	var cnt int
	next := from
	p := st.p
	sc := &st.scale
	for t, v := range y {
		if pos--; pos < 0 {
			pos = h - 1
		}
		l, b := nan, 0.0
		if t == next {
			next += stride
			l, b = st.l, st.b
		}
		ls[pos], ls[pos+h] = l, l
		bs[pos], bs[pos+h] = b, b
		if v != v {
			st.observe(v)
			continue
		}
		seas := st.s[st.si] + st.w[st.wi]
		if t >= from {
			z := v - seas
			lw, bw, dw := ls[pos:pos+h], bs[pos:pos+h], damp[:h]
			for k, lk := range lw {
				if lk == lk {
					sum += math.Abs(z - lk - dw[k]*bw[k])
					cnt++
				}
			}
		}
		// st.observe(v), its common case written out for speed.
		e := v - (st.l + p.phi*st.b + seas)
		if c := sc.k * sc.s; e > c || e < -c || sc.s <= 0 {
			st.observe(v)
			continue
		}
		sc.n = 0
		if e > sc.s || e < -sc.s {
			sc.s *= 1 + sc.rate
		} else if sc.s *= 1 - sc.rate; sc.s < sc.floor {
			sc.s = sc.floor
		}
		st.l += p.phi*st.b + p.alpha*e
		st.b = p.phi*st.b + p.beta*e
		st.s[st.si] += p.gamma * e
		st.w[st.wi] += p.gammaW * e
		if st.si++; st.si == len(st.s) {
			st.si = 0
		}
		if st.wi++; st.wi == len(st.w) {
			st.wi = 0
		}
	}
	if cnt == 0 || !finite(sum) {
		return math.Inf(1)
	}
	return sum / float64(cnt)
}

func (st *etsState) clone() stepper {
	c := *st
	c.s = slices.Clone(st.s)
	c.w = slices.Clone(st.w)
	return &c
}

// etsMethod fits an etsState: which components it has, fitted how.
type etsMethod struct {
	label  string
	trend  bool // damped additive trend
	daily  bool // daily season (when the history has at least two days)
	weekly bool // weekly season too (when the history has four weeks)
}

func (em etsMethod) name() string { return em.label }

// etsInit is the robust starting state of an ETS model.
type etsInit struct {
	l, b         float64
	s, w         []float64
	scale, floor float64
}

// initETS estimates a robust start from y: the daily (and weekly) seasonal
// profile is the median, over the periods of y, of each phase's deviation
// from its period's median; the level is the median of the first period
// after removing the profile; the trend starts at zero. Spikes and gaps do
// not move a median much, which is what keeps one spike from poisoning the
// seasonal states (statsmodels' heuristic start uses means).
func initETS(y []float64, m, mw int, scale, floor float64) etsInit {
	in := etsInit{scale: scale, floor: floor}
	if m > 0 {
		in.s = seasonalProfile(y, m, nil)
	}
	if mw > 0 {
		// The weekly profile is what the daily one leaves.
		in.w = seasonalProfile(y, mw, in.s)
	}
	first := max(1, min(len(y), max(m, 12)))
	d := make([]float64, 0, first)
	for i := 0; i < first; i++ {
		if finite(y[i]) {
			v := y[i]
			if m > 0 {
				v -= in.s[i%m]
			}
			if mw > 0 {
				v -= in.w[i%mw]
			}
			d = append(d, v)
		}
	}
	if l := quantileInPlace(d, 0.5); finite(l) {
		in.l = l
	}
	return in
}

// seasonalProfile returns, for each phase 0..m-1, the median over the
// periods of y of y[i] - (period median), after subtracting
// base[i%len(base)] when base is given; the profile is centred to median
// zero. Phases with no data get 0.
func seasonalProfile(y []float64, m int, base []float64) []float64 {
	prof := make([]float64, m)
	nper := (len(y) + m - 1) / m
	scratch := make([]float64, 0, max(m, nper))
	levels := make([]float64, nper)
	adj := func(i int) float64 {
		if base != nil {
			return y[i] - base[i%len(base)]
		}
		return y[i]
	}
	for p := range nper {
		scratch = scratch[:0]
		for i := p * m; i < min(len(y), (p+1)*m); i++ {
			if finite(y[i]) {
				scratch = append(scratch, adj(i))
			}
		}
		levels[p] = quantileInPlace(scratch, 0.5)
	}
	for j := range m {
		scratch = scratch[:0]
		for p := range nper {
			i := p*m + j
			if i < len(y) && finite(y[i]) && finite(levels[p]) {
				scratch = append(scratch, adj(i)-levels[p])
			}
		}
		if v := quantileInPlace(scratch, 0.5); finite(v) {
			prof[j] = v
		}
	}
	c := median(prof)
	for j := range prof {
		prof[j] -= c
	}
	return prof
}

// start returns the filter of params p from init in.
func (in etsInit) start(p etsParams) *etsState {
	if p.m == 0 {
		p.gamma = 0
	}
	if p.mw == 0 {
		p.gammaW = 0
	}
	st := &etsState{p: p, l: in.l, b: in.b, scale: newRobustScale(in.scale, in.floor)}
	st.s, st.w = []float64{0}, []float64{0}
	if p.m > 0 {
		st.s = slices.Clone(in.s)
	}
	if p.mw > 0 {
		st.w = slices.Clone(in.w)
	}
	return st
}

// components decides the season lengths the history allows, and how much
// of it starts the filter: the seasonal profiles come from y[:span] (whole
// periods, about the first half), the parameters from the forecasts after
// it. A daily season needs two days of history, a weekly one four weeks.
func (em etsMethod) components(n, season int) (m, mw, span int) {
	if em.daily && season >= 2 && n >= 2*season {
		m = season
	}
	if em.weekly && m > 0 && n >= 28*season {
		mw = 7 * season
	}
	switch {
	case mw > 0:
		span = max(2*mw, n/2/mw*mw)
	case m > 0:
		span = max(m, n/2/m*m)
	default:
		span = min(n-1, max(12, n/10))
	}
	return m, mw, span
}

func (em etsMethod) fit(h *history) (stepper, int, error) {
	y := h.y
	if c := countFinite(y); c < 3 {
		return nil, 0, fmt.Errorf("%s: %d finite points: %w", em.label, c, ErrTooShort)
	}
	m, mw, span := em.components(len(y), h.season)
	if em.daily && m == 0 {
		return nil, 0, fmt.Errorf("%s needs two days (%d points), have %d: %w", em.label, 2*h.season, len(y), ErrTooShort)
	}
	in := initETS(y[:span], m, mw, h.scale, h.floor)
	base := etsParams{trend: em.trend, m: m, mw: mw, phi: 1}
	p := fitETS(y, in, base, span, h.horizon)
	return in.start(p), span, nil
}

// sigmoid maps the real line onto (0, 1).
func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// logit is sigmoid's inverse.
func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// etsFromX maps the optimiser's unconstrained vector onto admissible
// parameters: 0 < alpha < 1, 0 < beta < alpha, 0.8 < phi < 0.98,
// 0 < gamma < 1 - alpha, 0 < gammaW < 1 - alpha - gamma.
func etsFromX(base etsParams, x []float64) etsParams {
	p := base
	i := 0
	p.alpha = 0.001 + 0.998*sigmoid(x[i])
	i++
	if p.trend {
		p.beta = p.alpha * 0.5 * sigmoid(x[i])
		p.phi = 0.8 + 0.18*sigmoid(x[i+1])
		i += 2
	} else {
		p.beta, p.phi = 0, 1
	}
	if p.m > 0 {
		p.gamma = (1 - p.alpha) * sigmoid(x[i])
		i++
	}
	if p.mw > 0 {
		p.gammaW = (1 - p.alpha - p.gamma) * sigmoid(x[i])
	}
	return p
}

// etsX0 is the optimiser's start: alpha 0.3, beta 0.02, phi 0.9, gamma 0.1,
// gammaW 0.05.
func etsX0(base etsParams) []float64 {
	x := []float64{logit((0.3 - 0.001) / 0.998)}
	if base.trend {
		x = append(x, logit(0.02/(0.3*0.5)), logit((0.9-0.8)/0.18))
	}
	if base.m > 0 {
		x = append(x, logit(0.1/0.7))
	}
	if base.mw > 0 {
		x = append(x, logit(0.05/0.6))
	}
	return x
}

// Fitting budget: Nelder-Mead evaluations, and the spacing of the origins
// the fitting loss scores (every other one: each target is still scored at
// half the horizons).
const (
	etsFitEvals  = 40
	etsFitStride = 2
)

// fitETS chooses the parameters that minimise the in-sample multi-step
// absolute error of the robust filter from start in.
func fitETS(y []float64, in etsInit, base etsParams, from, horizon int) etsParams {
	h := horizon
	damp := make([]float64, h)
	loss := func(x []float64) float64 {
		p := etsFromX(base, x)
		d, pw := 0.0, 1.0
		for k := range damp {
			pw *= p.phi
			d += pw
			damp[k] = d
		}
		return in.start(p).loss(y, from, etsFitStride, h, damp)
	}
	x := minimize(loss, etsX0(base), etsFitEvals)
	return etsFromX(base, x)
}
