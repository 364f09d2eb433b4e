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
	// plain all but turns the robust filter off: only gross errors, beyond
	// plainClip running median absolute errors, are clipped (see
	// holtPlainMethod).
	plain bool
	// shiftRun overrides the clipped errors in a row that make a level
	// shift (0: the default).
	shiftRun int
	m, mw    int // daily and weekly season lengths (0: none) // daily and weekly season lengths (0: none)
}

// etsState is the filter of a fitted etsParams.
type etsState struct {
	p      etsParams
	l, b   float64
	s, w   []float64 // season rings (length 1 holding 0 when there is no such season)
	si, wi int       // ring positions of the next observation
	scale  robustScale
	// runs counts, for each phase of the daily season, the days in a row
	// its error was clipped on the same side (signed); nil without a daily
	// season. See observe.
	runs []int8
}

// seasonShiftRun is how many days in a row a phase's error must be clipped
// on the same side before the seasonal state takes it whole: a pattern that
// changed (a nightly batch that stopped, a new peak), not a spike.
const seasonShiftRun = 2

// plainClip is where a plain filter clips an error: 20 running median
// absolute errors (some 13 standard deviations for Gaussian noise), so
// that it follows bursts, ramps and steps as a textbook filter does, but a
// single absurd value (10^12 in a load of 3000: a counter reset, a unit
// error) moves its level and trend by a bounded amount. Unclipped, such a
// value sent its forecasts to 10^11 for hours, and with the weights a
// constant history gives every candidate, the combination with them.
const plainClip = 20.0

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
	raw := y - pred
	e, shift := st.scale.filter(raw)
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
	if st.runs == nil {
		return
	}
	// A clipped error at the same phase on seasonShiftRun days in a row:
	// the season changed there, and its state takes the rest of the error.
	r := &st.runs[si]
	switch {
	case e == raw:
		*r = 0
		return
	case raw > 0:
		*r = max(*r, 0) + 1
	default:
		*r = min(*r, 0) - 1
	}
	if *r >= seasonShiftRun || *r <= -seasonShiftRun {
		st.s[si] += raw - e
		*r = 0
	}
}

func (st *etsState) describe() string {
	p := st.p
	var season string
	switch {
	case p.mw > 0:
		season = fmt.Sprintf(", daily season of %d points (gamma %.3f), weekly (gamma %.3f)", p.m, p.gamma, p.gammaW)
	case p.m > 0:
		season = fmt.Sprintf(", daily season of %d points (gamma %.3f)", p.m, p.gamma)
	default:
		season = ", no season"
	}
	return fmt.Sprintf("level alpha %.3f, damped trend beta %.3f phi %.3f%s", p.alpha, p.beta, p.phi, season)
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
// y[t] from any of the h origins before t is the one the filter uses at t.
// So one pass of the filter keeps, for each point, its level and trend
// before it (where an origin there forecasts from) and the point less that
// seasonal term; a second pass scores the origins, one short loop each.
// The per-point scratch is *scratch, grown as needed, so that a fit's many
// trials reuse one (a fit's own: its trials run one after another).
func (st *etsState) loss(scratch *[]lossPoint, y []float64, from, stride, h int, damp []float64) float64 {
	if (len(st.s) > 1 && h > len(st.s)) || (len(st.w) > 1 && h > len(st.w)) {
		return fitLoss(st, y, from, stride, h)
	}
	if stride < 1 {
		stride = 1
	}
	if cap(*scratch) < len(y) {
		*scratch = make([]lossPoint, len(y))
	}
	pts := (*scratch)[:len(y)]
	missing := st.lossPass(y, pts)
	var sum float64
	var cnt int
	for t0 := max(from, 0); t0 < len(y); t0 += stride {
		end := min(t0+h, len(y))
		if missing == 0 {
			sum += originErrorAll(pts[t0:end], damp, pts[t0].l, pts[t0].b)
			cnt += end - t0
			continue
		}
		s, n := originError(y[t0:end], pts[t0:end], damp, pts[t0].l, pts[t0].b)
		sum += s
		cnt += n
	}
	if cnt == 0 || !finite(sum) {
		return math.Inf(1)
	}
	return sum / float64(cnt)
}

// lossPoint is what loss keeps of a point: the level and trend before it,
// and the point less its seasonal term.
type lossPoint struct{ l, b, z float64 }

// lossPass runs the filter over y (observe, its common case written out
// for speed), keeping pts[t] for each point. It returns how many points
// are missing (NaN).
func (st *etsState) lossPass(y []float64, pts []lossPoint) (missing int) {
	pts = pts[:len(y)]
	p := st.p
	// The filter's state in locals (registers), written back to st around
	// the rare slow path (a missing point, an error beyond the clip).
	l, b, sc := st.l, st.b, st.scale.s
	si, wi := st.si, st.wi
	ss, ws, runs := st.s, st.w, st.runs
	k3, rate, floor := st.scale.k, st.scale.rate, st.scale.floor
	for t, v := range y {
		pt := &pts[t]
		pt.l, pt.b = l, b
		if v != v {
			missing++
			l, b, sc, si, wi = st.observeFrom(v, l, b, sc, si, wi)
			continue
		}
		seas := ss[si] + ws[wi]
		pt.z = v - seas
		e := v - (l + p.phi*b + seas)
		if c := k3 * sc; e > c || e < -c || sc <= 0 {
			l, b, sc, si, wi = st.observeFrom(v, l, b, sc, si, wi)
			continue
		}
		st.scale.n = 0
		if runs != nil {
			runs[si] = 0
		}
		if e > sc || e < -sc {
			sc *= 1 + rate
		} else if sc *= 1 - rate; sc < floor {
			sc = floor
		}
		l += p.phi*b + p.alpha*e
		b = p.phi*b + p.beta*e
		ss[si] += p.gamma * e
		ws[wi] += p.gammaW * e
		if si++; si == len(ss) {
			si = 0
		}
		if wi++; wi == len(ws) {
			wi = 0
		}
	}
	st.l, st.b, st.scale.s, st.si, st.wi = l, b, sc, si, wi
	return missing
}

// originErrorAll is originError where no point is missing.
func originErrorAll(pts []lossPoint, damp []float64, l, b float64) float64 {
	damp = damp[:len(pts)]
	var sum float64
	for k := range pts {
		sum += math.Abs(pts[k].z - l - damp[k]*b)
	}
	return sum
}

// originError sums the absolute errors of one origin's forecasts, level l
// and trend b, against the points y (pts[k].z: y[k] less its seasonal
// term), the missing ones left out, and counts them. damp[k] is the
// trend's multiplier k points ahead of the first.
func originError(y []float64, pts []lossPoint, damp []float64, l, b float64) (float64, int) {
	pts, damp = pts[:len(y)], damp[:len(y)]
	var sum float64
	n := 0
	for k, v := range y {
		if v != v {
			continue
		}
		sum += math.Abs(pts[k].z - l - damp[k]*b)
		n++
	}
	return sum, n
}

// observeFrom is observe from the state held in loss's locals.
func (st *etsState) observeFrom(v, l, b, sc float64, si, wi int) (float64, float64, float64, int, int) {
	st.l, st.b, st.scale.s, st.si, st.wi = l, b, sc, si, wi
	st.observe(v)
	return st.l, st.b, st.scale.s, st.si, st.wi
}

func (st *etsState) clone() stepper {
	c := *st
	c.s = slices.Clone(st.s)
	c.w = slices.Clone(st.w)
	c.runs = slices.Clone(st.runs)
	return &c
}

// etsMethod fits an etsState: which components it has, fitted how.
type etsMethod struct {
	label  string
	trend  bool // damped additive trend
	daily  bool // daily season (when the history has at least two days)
	weekly bool // weekly season too (when the history has four weeks)
	// orHolt fits without the daily season, rather than failing, when the
	// history is too short for it.
	orHolt bool
	plain  bool // clip gross errors only (etsParams.plain)
}

func (em etsMethod) name() string { return em.label }

// etsInit is the robust starting state of an ETS model at time t.
type etsInit struct {
	l, b         float64
	s, w         []float64 // profiles by phase (phase 0 = time 0)
	scale, floor float64
	t            int
}

// initETS estimates a robust state at the end of y: the daily (and weekly)
// seasonal profile is the median, over the periods of y, of each phase's
// deviation from its period's median; the level is the median of the last
// dozen points after removing the profile; the trend starts at zero. Spikes and gaps do
// not move a median much, which is what keeps one spike from poisoning the
// seasonal states (statsmodels' heuristic start uses means).
func initETS(y []float64, m, mw int, scale, floor float64) etsInit {
	in := etsInit{scale: scale, floor: floor}
	if m > 0 {
		in.s = seasonalProfile(y, m, nil, 2)
	}
	if mw > 0 {
		// The weekly profile is what the daily one leaves.
		in.w = seasonalProfile(y, mw, in.s, 2)
	}
	d := make([]float64, 0, 12)
	for i := max(0, len(y)-12); i < len(y); i++ {
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
// periods of y of y[i] - level(i), after subtracting base[i%len(base)] when
// base is given. level is the line through the periods' levels (placed at
// their middles), so that a trend does not leak into the profile as a ramp;
// a period's level is the median of its deseasonalised values, found in
// rounds (the raw median first; two rounds, so that a gap over part of a
// period does not bias it). The profile is centred to median zero; phases
// with no data get 0.
func seasonalProfile(y []float64, m int, base []float64, rounds int) []float64 {
	prof := make([]float64, m)
	nper := (len(y) + m - 1) / m
	scratch := make([]float64, 0, max(m, nper))
	adj := func(i int) float64 {
		if base != nil {
			return y[i] - base[i%len(base)]
		}
		return y[i]
	}
	dev := make([]float64, len(y))
	at := make([]float64, 0, nper)
	lev := make([]float64, 0, nper)
	for range rounds {
		// The periods' levels and where they sit.
		at, lev = at[:0], lev[:0]
		for p := range nper {
			scratch = scratch[:0]
			hi := min(len(y), (p+1)*m)
			for i := p * m; i < hi; i++ {
				if finite(y[i]) {
					scratch = append(scratch, adj(i)-prof[i%m])
				}
			}
			if v := quantileInPlace(scratch, 0.5); finite(v) {
				at = append(at, float64(p*m+hi-1)/2)
				lev = append(lev, v)
			}
		}
		if len(lev) == 0 {
			return prof
		}
		seg := 0
		for i := range y {
			if !finite(y[i]) {
				continue
			}
			level := lev[0]
			if len(lev) > 1 {
				// The segment around i (the first or last beyond the ends).
				for seg < len(at)-2 && float64(i) > at[seg+1] {
					seg++
				}
				level = lev[seg] + (lev[seg+1]-lev[seg])*(float64(i)-at[seg])/(at[seg+1]-at[seg])
			}
			dev[i] = adj(i) - level
		}
		for j := range m {
			scratch = scratch[:0]
			for i := j; i < len(y); i += m {
				if finite(y[i]) {
					scratch = append(scratch, dev[i])
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
	// With a daily season, a level shift needs an hour of clipped errors
	// in a row: a seasonal pattern that changed (a batch that stopped) also
	// makes a run of them, at the same hour every day, which the per-phase
	// runs below take into the season if it is shorter than that.
	run := defaultShiftRun
	if p.m > 0 {
		run = max(run, p.m/24)
	}
	if p.shiftRun > 0 {
		run = p.shiftRun
	}
	st := &etsState{p: p, l: in.l, b: in.b, scale: newRobustScale(in.scale, in.floor, run)}
	if p.plain {
		st.scale.k = plainClip
	}
	st.s, st.w = []float64{0}, []float64{0}
	if p.m > 0 {
		st.s = slices.Clone(in.s)
		st.si = in.t % p.m
		st.runs = make([]int8, p.m)
	}
	if p.mw > 0 {
		st.w = slices.Clone(in.w)
		st.wi = in.t % p.mw
	}
	return st
}

// components decides the season lengths the history allows, and how much
// of it starts the filter: the seasonal profiles come from y[:span] (whole
// periods, about the first half, at least two; without a season the first
// half warms the level up), the parameters from the forecasts after it. A
// daily season needs three days of history, a weekly one four weeks.
func (em etsMethod) components(n, season int) (m, mw, span int) {
	if em.daily && season >= 2 && n >= 3*season {
		m = season
	}
	if em.weekly && m > 0 && n >= 28*season {
		mw = 7 * season
	}
	switch {
	case mw > 0:
		span = max(2*mw, n/2/mw*mw)
	case m > 0:
		span = max(2*m, n/2/m*m)
	default:
		span = max(min(12, n-1), n/2)
	}
	return m, mw, span
}

func (em etsMethod) fit(h *history) (stepper, int, error) {
	y := h.y
	if c := countFinite(y); c < 3 {
		return nil, 0, fmt.Errorf("%s: %d finite points: %w", em.label, c, ErrTooShort)
	}
	m, mw, span := em.components(len(y), h.season)
	if em.daily && m == 0 && !em.orHolt {
		return nil, 0, fmt.Errorf("%s needs three days (%d points), have %d: %w", em.label, 3*h.season, len(y), ErrTooShort)
	}
	in := initETS(y[:span], m, mw, h.scale, h.floor)
	in.t = span
	base := etsParams{trend: em.trend, plain: em.plain, m: m, mw: mw, phi: 1}
	p := fitETS(y[span:], in, base, h.horizon)
	return in.start(p), span, nil
}

// dampSums returns phi + phi^2 + ... + phi^k for k = 1..h.
func dampSums(phi float64, h int) []float64 {
	out := make([]float64, h)
	d, pw := 0.0, 1.0
	for k := range out {
		pw *= phi
		d += pw
		out[k] = d
	}
	return out
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
// the fitting loss scores (every third one: each target is still scored at
// a third of the horizons).
const (
	etsFitEvals  = 20
	etsFitStride = 3
)

// fitETS chooses the parameters that minimise the in-sample multi-step
// absolute error of the robust filter from start in.
func fitETS(y []float64, in etsInit, base etsParams, horizon int) etsParams {
	h := horizon
	var scratch []lossPoint
	loss := func(x []float64) float64 {
		p := etsFromX(base, x)
		return in.start(p).loss(&scratch, y, 0, etsFitStride, h, dampSums(p.phi, h))
	}
	x := minimize(loss, etsX0(base), etsFitEvals)
	p := etsFromX(base, x)
	if p.plain {
		return p
	}
	p.shiftRun = chooseShiftRun(func(run int) float64 {
		q := p
		q.shiftRun = run
		return in.start(q).loss(&scratch, y, 0, etsFitStride, h, dampSums(q.phi, h))
	}, in.start(p).scale.run)
	return p
}

// chooseShiftRun returns the number of clipped errors in a row that a
// robust filter takes for a level shift: of 1, 2 and its default, the one
// whose filter has the least fitting loss (ties to the default). The
// choice is the data's: on a series whose outliers are isolated spikes the
// default run ignores them; on one whose outliers come as bursts (load
// that jumps and stays a while: a run of 1 follows at once) a long run
// leaves the filter on the old level for the burst's first points and on
// the burst's level for its last, which is worse than the last value.
func chooseShiftRun(loss func(run int) float64, def int) int {
	best, bestLoss := def, loss(def)
	for _, r := range []int{1, 2} {
		if r >= def {
			break
		}
		if l := loss(r); l < bestLoss {
			best, bestLoss = r, l
		}
	}
	return best
}
