package forecast

import (
	"math"
	"slices"
	"testing"
)

func TestQuantile(t *testing.T) {
	r := newTestRand(3)
	for _, n := range []int{1, 2, 3, 7, 16, 17, 100, 1001} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = math.Round(r.norm() * 3) // ties too
		}
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.95, 1} {
			pos := q * float64(n-1)
			lo := int(pos)
			want := sorted[lo]
			if lo < n-1 {
				want += (pos - float64(lo)) * (sorted[lo+1] - sorted[lo])
			}
			if got := quantile(xs, q); math.Abs(got-want) > 1e-12 {
				t.Errorf("n=%d q=%v: quantile %v, want %v", n, q, got, want)
			}
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
}

func TestDespike(t *testing.T) {
	r := newTestRand(4)
	x := make([]float64, 200)
	for i := range x {
		x[i] = 10 + r.norm()
		if i >= 120 {
			x[i] += 30 // a level shift: must survive
		}
	}
	x[50] += 100  // an isolated spike
	x[80] -= 60   // a dip
	x[81] -= 60   // two points
	x[199] += 100 // at the very end
	got := despike(x)
	for _, i := range []int{50, 80, 81, 199} {
		if math.Abs(got[i]-x[i]) < 40 {
			t.Errorf("point %d: spike %v kept as %v", i, x[i], got[i])
		}
	}
	for i := 120; i < 199; i++ {
		if math.Abs(got[i]-40) > 6 {
			t.Errorf("point %d of the level shift moved off it: %v -> %v", i, x[i], got[i])
		}
	}
}
