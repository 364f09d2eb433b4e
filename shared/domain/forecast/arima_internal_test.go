package forecast

import (
	"math"
	"testing"
)

// TestARIMAPredict checks predict (which reads the rings in place) against
// stepping a copy of the filter forward with zero innovations.
func TestARIMAPredict(t *testing.T) {
	y := benchWindow()
	for _, p := range []*arimaParams{
		{d: 1, phi: []float64{0.5, -0.2}, theta: []float64{-0.4}, integ: integration(1, 0, 0)},
		{d: 1, sd: 1, m: 288, phi: []float64{0.3}, theta: []float64{-0.5, 0.1}, integ: integration(1, 1, 288)},
		{d: 0, c: 3, phi: []float64{0.7, 0.1, -0.05}, integ: integration(0, 0, 0)},
		{d: 1, integ: integration(1, 0, 0)},
	} {
		st := newARIMAState(p, y[0], 1, 0.1)
		for _, v := range y[:700] {
			st.observe(v)
		}
		got := make([]float64, 300)
		st.predict(got)
		c := st.clone().(*arimaState)
		for k := range got {
			w, want := c.onestep()
			c.ys.push(want)
			c.ws.push(w)
			c.es.push(0)
			if math.Abs(got[k]-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Fatalf("%s: step %d: predict %v, stepping %v", p.label(), k+1, got[k], want)
			}
		}
	}
}
