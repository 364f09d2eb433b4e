package forecast

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

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

// minimize runs Nelder-Mead (gonum) on f from x0 with at most evals
// function evaluations and returns the best point found (x0 if nothing
// better).
func minimize(f func(x []float64) float64, x0 []float64, evals int) []float64 {
	best := append([]float64(nil), x0...)
	bestF := f(x0)
	wrapped := func(x []float64) float64 {
		v := f(x)
		if v < bestF {
			bestF = v
			copy(best, x)
		}
		return v
	}
	settings := &optimize.Settings{
		FuncEvaluations: evals,
		Converger:       &optimize.FunctionConverge{Relative: 1e-4, Iterations: 3 * len(x0)},
	}
	// Errors only report why the search stopped (e.g. the evaluation
	// budget); the best point seen is kept either way.
	_, _ = optimize.Minimize(optimize.Problem{Func: wrapped}, x0, settings, &optimize.NelderMead{SimplexSize: 1})
	return best
}
