package forecast

import "math"

// walk feeds y to st one point at a time. Before observing y[i], for every
// i >= from with (i-from)%stride == 0, it forecasts horizon points and calls
// visit(i, forecasts); forecasts is reused between calls.
func walk(st stepper, y []float64, from, stride, horizon int, visit func(i int, f []float64)) {
	f := make([]float64, horizon)
	if stride < 1 {
		stride = 1
	}
	for i := range y {
		if i >= from && (i-from)%stride == 0 {
			st.predict(f)
			visit(i, f)
		}
		st.observe(y[i])
	}
}

// fitLoss is the mean absolute error of st's forecasts 1..horizon steps
// ahead from the origins from, from+stride, ... of y (st has observed
// nothing yet). Absolute error, because the benchmark and the scaler judge a
// forecast by it, and because it lets a spike weigh no more than its size.
func fitLoss(st stepper, y []float64, from, stride, horizon int) float64 {
	var sum float64
	var n int
	walk(st, y, from, stride, horizon, func(i int, f []float64) {
		for k, v := range f {
			if i+k >= len(y) {
				break
			}
			if a := y[i+k]; finite(a) {
				sum += math.Abs(a - v)
				n++
			}
		}
	})
	if n == 0 || !finite(sum) {
		return math.Inf(1)
	}
	return sum / float64(n)
}

// minimize runs Nelder-Mead on f from x0 with at most evals function
// evaluations (x0's included) and returns the best point found (x0 if
// nothing better, or if f(x0) is +Inf or NaN). The search is Nelder-Mead
// as Lagarias et al. (1998) state it, with the dimension-adapted
// coefficients of Gao and Han (2012): reflection 1, expansion 1+2/n,
// contraction 3/4-1/(2n) (outside and inside), shrink 1-1/n (in one
// dimension the classic 2, 1/2 and 1/2), from the simplex x0 + e_i. It
// stops early when the simplex's best value has not fallen by a relative
// 1e-4 over 3n steps in a row (the simplex's set-up counts as one).
//
// It visits the same points in the same order as gonum's
// optimize.NelderMead with the same settings, which it replaces
// (TestMinimizeMatchesGonum): gonum runs its method in a goroutine and
// hands every evaluation over a channel, about a tenth of a fit's time.
func minimize(f func(x []float64) float64, x0 []float64, evals int) []float64 {
	n := len(x0)
	dim := float64(n)
	expand, contract, shrink := 1+2/dim, 0.75-1/(2*dim), 1-1/dim
	if n == 1 {
		expand, contract, shrink = 2, 0.5, 0.5
	}
	best := append([]float64(nil), x0...)
	bestF := f(x0)
	if math.IsInf(bestF, 1) || bestF != bestF {
		return best // no step can rank against x0
	}
	used := 1
	// eval evaluates x, keeps the best point seen, and reports false when
	// the budget was already spent (x is not evaluated then).
	eval := func(x []float64) (float64, bool) {
		if used >= evals {
			return 0, false
		}
		used++
		v := f(x)
		if v < bestF {
			bestF = v
			copy(best, x)
		}
		return v, true
	}
	buf := make([]float64, (n+1)*n+4*n)
	verts := make([][]float64, n+1)
	vals := make([]float64, n+1)
	tail := buf[(n+1)*n:]
	cen, xr, xe, xc := tail[:n:n], tail[n:2*n:2*n], tail[2*n:3*n:3*n], tail[3*n:]
	less := func(a, b float64) bool { return a < b || (b != b && a == a) } // NaN last
	// order sorts the vertices by value (insertion sort, stable: n+1 is a
	// handful) and sets cen to the centroid of all but the worst.
	order := func() {
		for i := 1; i <= n; i++ {
			for k := i; k > 0 && less(vals[k], vals[k-1]); k-- {
				vals[k], vals[k-1] = vals[k-1], vals[k]
				verts[k], verts[k-1] = verts[k-1], verts[k]
			}
		}
		for j := range cen {
			cen[j] = 0
			for i := range n {
				cen[j] += verts[i][j]
			}
			cen[j] /= dim
		}
	}
	// replace drops the worst vertex and inserts x (value v) in order,
	// ahead of vertices of the same value; the centroid moves by the
	// vertex that entered the best n and the one that left them.
	replace := func(x []float64, v float64) {
		p := n
		for p > 0 && !less(vals[p-1], v) {
			p--
		}
		worst := verts[n]
		copy(worst, x)
		if p == n {
			vals[n] = v
			return
		}
		left := verts[n-1]
		for j := range cen {
			cen[j] += (x[j] - left[j]) / dim
		}
		copy(vals[p+1:], vals[p:n])
		copy(verts[p+1:], verts[p:n])
		vals[p], verts[p] = v, worst
	}
	// along sets dst to cen + t*(cen - worst).
	along := func(dst []float64, t float64) {
		for j := range dst {
			dst[j] = cen[j] + t*(cen[j]-verts[n][j])
		}
	}
	// The simplex: x0 + e_i at i < n, x0 last (the first of equal values
	// to go).
	for i := range verts {
		verts[i] = buf[i*n : (i+1)*n : (i+1)*n]
		copy(verts[i], x0)
	}
	vals[n] = bestF
	for i := range n {
		verts[i][i]++
		v, ok := eval(verts[i])
		if !ok {
			return best
		}
		vals[i] = v
	}
	order()
	// Early stop: the best vertex's value after each step against the
	// last one that was a real improvement.
	conv, stalled := bestF, 0
	settled := func() bool {
		if low := vals[0]; low < conv && math.Abs(low-conv) > 1e-4*math.Max(math.Abs(low), math.Abs(conv)) {
			conv, stalled = low, 0
			return false
		}
		stalled++
		return stalled >= 3*n
	}
	for !settled() {
		along(xr, 1)
		fr, ok := eval(xr)
		if !ok {
			return best
		}
		switch {
		case fr < vals[0]:
			along(xe, expand)
			fe, ok := eval(xe)
			if !ok {
				return best
			}
			if fe < fr {
				replace(xe, fe)
			} else {
				replace(xr, fr)
			}
			continue
		case fr < vals[n-1]:
			replace(xr, fr)
			continue
		case fr < vals[n]:
			along(xc, contract) // outside
			fc, ok := eval(xc)
			if !ok {
				return best
			}
			if fc <= fr {
				replace(xc, fc)
				continue
			}
		default:
			along(xc, -contract) // inside
			fc, ok := eval(xc)
			if !ok {
				return best
			}
			if fc < vals[n] {
				replace(xc, fc)
				continue
			}
		}
		// Shrink towards the best vertex.
		for i := 1; i <= n; i++ {
			for j := range verts[i] {
				verts[i][j] = verts[0][j] + shrink*(verts[i][j]-verts[0][j])
			}
			v, ok := eval(verts[i])
			if !ok {
				return best
			}
			vals[i] = v
		}
		order()
	}
	return best
}
