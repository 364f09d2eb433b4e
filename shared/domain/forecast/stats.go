package forecast

import (
	"math"
	"slices"
)

// nan is a missing value.
var nan = math.NaN()

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// clip limits x to [-c, c].
func clip(x, c float64) float64 {
	if x > c {
		return c
	}
	if x < -c {
		return -c
	}
	return x
}

func countFinite(y []float64) int {
	n := 0
	for _, v := range y {
		if finite(v) {
			n++
		}
	}
	return n
}

// quantile returns the q-quantile of xs by linear interpolation between
// order statistics (NaN when xs is empty). xs is not changed.
func quantile(xs []float64, q float64) float64 {
	return quantileInPlace(slices.Clone(xs), q)
}

// median returns the median of xs (NaN when empty). xs is not changed.
func median(xs []float64) float64 {
	return quantileInPlace(slices.Clone(xs), 0.5)
}

// quantileInPlace is quantile that reorders xs instead of copying it:
// quickselect, linear time.
func quantileInPlace(xs []float64, q float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(pos)
	if lo >= n-1 {
		return selectKth(xs, n-1)
	}
	a := selectKth(xs, lo)
	frac := pos - float64(lo)
	if frac == 0 {
		return a
	}
	// After selection everything right of lo is >= a: the next order
	// statistic is their minimum.
	b := xs[lo+1]
	for _, v := range xs[lo+2:] {
		if v < b {
			b = v
		}
	}
	return a + frac*(b-a)
}

// selectKth reorders xs so that xs[k] is its k-th smallest element, with
// nothing larger before it and nothing smaller after it, and returns it
// (Hoare's quickselect with a median-of-three pivot; insertion sort on
// small ranges).
func selectKth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		// Median of three to xs[mid].
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	for i := lo + 1; i <= hi; i++ {
		for j := i; j > lo && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	return xs[k]
}

// variance is the sample variance of x (0 for fewer than two points).
func variance(x []float64) float64 {
	if len(x) < 2 {
		return 0
	}
	var s, ss float64
	for _, v := range x {
		s += v
	}
	mean := s / float64(len(x))
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return ss / float64(len(x)-1)
}

// fillGaps returns a copy of y with runs of missing values filled linearly
// (flat at the ends; zeros when nothing is known).
func fillGaps(y []float64) []float64 {
	x := slices.Clone(y)
	last := -1
	for i, v := range x {
		if !finite(v) {
			continue
		}
		if last < 0 {
			for j := 0; j < i; j++ {
				x[j] = v
			}
		} else if i-last > 1 {
			a := x[last]
			for j := last + 1; j < i; j++ {
				x[j] = a + (v-a)*float64(j-last)/float64(i-last)
			}
		}
		last = i
	}
	if last < 0 {
		clear(x)
		return x
	}
	for j := last + 1; j < len(x); j++ {
		x[j] = x[last]
	}
	return x
}

// despike returns x (gap-free) with isolated spikes replaced by the median
// of their neighbourhood: a point further than 5 robust standard deviations
// (from the median absolute deviation) from the median of the 7 points
// around it (the window kept inside the series at its ends). A level shift
// lasts longer than 3 points and survives.
func despike(x []float64) []float64 {
	const width = 7
	n := len(x)
	out := slices.Clone(x)
	if n < width {
		return out
	}
	med := make([]float64, n)
	// A sorted copy of the window x[i-3 : i+4], slid one point at a time.
	var win [width]float64
	copy(win[:], x[:width])
	slices.Sort(win[:])
	for i := range x {
		lo := min(max(0, i-width/2), n-width)
		if lo > 0 && i-width/2 == lo {
			// The window moved: x[lo-1] leaves, x[lo+width-1] enters.
			slideSorted(win[:], x[lo-1], x[lo+width-1])
		}
		med[i] = win[width/2]
	}
	dev := make([]float64, n)
	for i := range x {
		dev[i] = math.Abs(x[i] - med[i])
	}
	mad := quantileInPlace(slices.Clone(dev), 0.5)
	if mad == 0 {
		return out
	}
	lim := 5 * mad / 0.6745
	for i := range x {
		if dev[i] > lim {
			out[i] = med[i]
		}
	}
	return out
}

// slideSorted replaces one occurrence of out by in in the sorted slice w,
// keeping it sorted.
func slideSorted(w []float64, out, in float64) {
	i := 0
	for i < len(w)-1 && w[i] != out {
		i++
	}
	// Remove w[i], then insert in.
	copy(w[i:], w[i+1:])
	j := len(w) - 1
	for j > 0 && w[j-1] > in {
		w[j] = w[j-1]
		j--
	}
	w[j] = in
}
