package forecast

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/optimize"
)

// TestMinimizeMatchesGonum checks that minimize visits the points gonum's
// NelderMead visits with the settings minimize replaced (SimplexSize 1,
// FunctionConverge relative 1e-4 over 3n iterations, an evaluation
// budget), in the same order, and returns the same point, up to rounding
// in the last bits (the two sum the centroid in different orders): the
// forecasts did not change when it replaced gonum. gonum evaluates x0
// once more than minimize (minimize's caller had evaluated it already).
func TestMinimizeMatchesGonum(t *testing.T) {
	funcs := []struct {
		name string
		f    func(x []float64) float64
	}{
		{"bowl", func(x []float64) float64 {
			s := 0.0
			for i, v := range x {
				s += float64(i+1)*(v-0.3*float64(i))*(v-0.3*float64(i)) + math.Sin(3*v)
			}
			return s
		}},
		{"flat", func([]float64) float64 { return 1 }},
		{"abs", func(x []float64) float64 { return math.Abs(x[0]-0.3) + 0.1*math.Abs(x[len(x)-1]) }},
		{"steps", func(x []float64) float64 { return math.Floor(x[0]*2) + math.Floor(x[len(x)-1]) }},
		{"infinite away from x0", func(x []float64) float64 {
			if x[0] > 1 {
				return math.Inf(1)
			}
			return (x[0] - 0.2) * (x[0] - 0.2)
		}},
		{"infinite at x0", func(x []float64) float64 {
			if x[0] < 0.6 {
				return math.Inf(1)
			}
			return x[0] * x[0]
		}},
		{"rosenbrock", func(x []float64) float64 {
			s := 0.0
			for i := 0; i+1 < len(x); i++ {
				s += 100*(x[i+1]-x[i]*x[i])*(x[i+1]-x[i]*x[i]) + (1-x[i])*(1-x[i])
			}
			return s + x[0]*x[0]
		}},
	}
	for _, fn := range funcs {
		for dim := 1; dim <= 5; dim++ {
			for _, evals := range []int{3, 20, 60} {
				t.Run(fmt.Sprintf("%s/%dd/%d", fn.name, dim, evals), func(t *testing.T) {
					x0 := make([]float64, dim)
					for i := range x0 {
						x0[i] = 0.5 - 0.35*float64(i)
					}
					var mine, ref [][]float64
					got := minimize(func(x []float64) float64 { mine = append(mine, slices.Clone(x)); return fn.f(x) }, x0, evals)

					refBest, refF := slices.Clone(x0), fn.f(x0)
					ref = append(ref, slices.Clone(x0))
					settings := &optimize.Settings{FuncEvaluations: evals, Converger: &optimize.FunctionConverge{Relative: 1e-4, Iterations: 3 * dim}}
					_, _ = optimize.Minimize(optimize.Problem{Func: func(x []float64) float64 {
						ref = append(ref, slices.Clone(x))
						v := fn.f(x)
						if v < refF {
							refF = v
							copy(refBest, x)
						}
						return v
					}}, x0, settings, &optimize.NelderMead{SimplexSize: 1})
					if len(ref) < 2 || !slices.Equal(ref[1], x0) {
						t.Fatalf("gonum did not start by evaluating x0: %v", ref)
					}
					ref = slices.Delete(ref, 1, 2)
					if len(mine) != len(ref) {
						t.Fatalf("%d evaluations, gonum %d", len(mine), len(ref))
					}
					for i := range mine {
						if !near(mine[i], ref[i]) {
							t.Fatalf("evaluation %d at %v, gonum at %v", i, mine[i], ref[i])
						}
					}
					if !near(got, refBest) {
						t.Fatalf("best %v, gonum's %v", got, refBest)
					}
				})
			}
		}
	}
}

// near reports whether a and b are equal up to rounding.
func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12*(1+math.Abs(b[i])) {
			return false
		}
	}
	return true
}
