package forecast

import (
	"math"
	"testing"
)

// TestETSLossMatchesWalk checks the specialised fitting loss against the
// generic one (forecast from every origin, compare), on a history with gaps
// and spikes, for every stride.
func TestETSLossMatchesWalk(t *testing.T) {
	gaps := benchWindow()
	gaps[1500], gaps[1501], gaps[1700], gaps[len(gaps)-1] = nan, nan, nan, nan
	for _, y := range [][]float64{benchWindow(), gaps} {
		testETSLossMatchesWalk(t, y)
	}
}

func testETSLossMatchesWalk(t *testing.T, y []float64) {
	t.Helper()
	h := newHistory(y, 288, 12)
	for _, em := range []etsMethod{holtMethod, holtWintersMethod} {
		m, mw, span := em.components(len(y), 288)
		in := initETS(y[:span], m, mw, h.scale, h.floor)
		in.t = span
		p := etsParams{alpha: 0.3, beta: 0.02, phi: 0.9, gamma: 0.1, m: m, mw: mw, trend: true}
		damp := dampSums(p.phi, 12)
		for _, stride := range []int{1, 2, 3, 5, 12, 13} {
			for _, from := range []int{0, 7} {
				fast := in.start(p).loss(new([]lossPoint), y[span:], from, stride, 12, damp)
				slow := fitLoss(in.start(p), y[span:], from, stride, 12)
				if math.Abs(fast-slow) > 1e-9*slow || math.IsInf(fast, 0) {
					t.Errorf("%s stride %d from %d: loss %v, generic %v", em.label, stride, from, fast, slow)
				}
			}
		}
	}
}

func BenchmarkETSLoss(b *testing.B) {
	y := benchWindow()
	h := newHistory(y, 288, 12)
	for _, em := range []etsMethod{holtMethod, holtWintersMethod} {
		m, mw, span := em.components(len(y), 288)
		in := initETS(y[:span], m, mw, h.scale, h.floor)
		in.t = span
		p := etsParams{alpha: 0.3, beta: 0.02, phi: 0.9, gamma: 0.1, m: m, mw: mw, trend: true}
		damp := dampSums(p.phi, 12)
		b.Run(em.label, func(b *testing.B) {
			for b.Loop() {
				in.start(p).loss(new([]lossPoint), y[span:], 0, etsFitStride, 12, damp)
			}
		})
	}
}

func BenchmarkFits(b *testing.B) {
	y := benchWindow()
	for _, m := range candidates() {
		b.Run(m.name(), func(b *testing.B) {
			for b.Loop() {
				h := newHistory(y, 288, 12)
				if _, _, err := m.fit(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
