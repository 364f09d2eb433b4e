package control

import (
	"fmt"
	"math"
	"time"
)

// The calibrator keeps a decayed histogram of standardized forecast errors
// at the lead horizon, z = (actual - mean) / (P90 - mean), and returns their
// upper quantile as the safety multiplier of the P90 margin.
const (
	zLo, zHi = -5.0, 25.0
	zBins    = 300
)

type calibrator struct {
	cfg   CalibrationConfig
	decay float64
	st    CalibrationState
}

// CalibrationState is the calibrator's persisted state.
type CalibrationState struct {
	// Bins of the decayed histogram of z over [-5, 25); Total their sum.
	Bins  []float64 `json:"bins,omitempty"`
	Total float64   `json:"total"`
	// Count is how many errors were recorded (not decayed).
	Count int64 `json:"count"`
	// Pending are the (mean, P90) forecasts still waiting for their actual,
	// by how many steps are left (index 0: due at the next step). A missing
	// forecast is stored as (-1, -1).
	Pending [][2]float64 `json:"pending,omitempty"`
}

func newCalibrator(cfg CalibrationConfig, step time.Duration) *calibrator {
	hl := float64(cfg.HalfLife) / float64(step)
	return &calibrator{cfg: cfg, decay: math.Pow(0.5, 1/max(1, hl)), st: CalibrationState{Bins: make([]float64, zBins)}}
}

func (c *calibrator) state() CalibrationState {
	s := c.st
	s.Bins = append([]float64(nil), c.st.Bins...)
	s.Pending = append([][2]float64(nil), c.st.Pending...)
	return s
}

func (c *calibrator) restore(s CalibrationState) error {
	if len(s.Bins) == 0 {
		s.Bins = make([]float64, zBins)
	}
	if len(s.Bins) != zBins {
		return fmt.Errorf("%d histogram bins, want %d", len(s.Bins), zBins)
	}
	for _, b := range s.Bins {
		if !(b >= 0) || math.IsInf(b, 0) {
			return fmt.Errorf("histogram bin %v: must be finite and not negative", b)
		}
	}
	if !(s.Total >= 0) || math.IsInf(s.Total, 0) {
		return fmt.Errorf("histogram total %v: must be finite and not negative", s.Total)
	}
	c.st = s
	return nil
}

func (c *calibrator) reset() {
	c.st.Pending = nil
}

// skip advances the pending forecasts by a step without an actual.
func (c *calibrator) skip() {
	if len(c.st.Pending) > 0 {
		c.st.Pending = c.st.Pending[1:]
	}
}

// observe scores the forecast due now against the actual y (NaN: missing).
func (c *calibrator) observe(y float64) {
	if len(c.st.Pending) == 0 {
		return
	}
	due := c.st.Pending[0]
	c.st.Pending = c.st.Pending[1:]
	mean, p90 := due[0], due[1]
	if math.IsNaN(y) || mean < 0 || p90 < 0 {
		return
	}
	spread := p90 - mean
	if floor := 0.01 * max(mean, y); spread < floor {
		spread = floor
	}
	if !(spread > 0) {
		return // a zero forecast of a zero: nothing to learn
	}
	z := (y - mean) / spread
	i := int(math.Floor((z - zLo) / (zHi - zLo) * zBins))
	i = max(0, min(zBins-1, i))
	for j := range c.st.Bins {
		c.st.Bins[j] *= c.decay
	}
	c.st.Bins[i]++
	c.st.Total = c.st.Total*c.decay + 1
	c.st.Count++
}

// expect queues a forecast (mean, P90) due in lead steps.
//
// minSpread floors the forecast's spread P90 - mean (see
// CalibrationConfig.MinSpread), here and where the loop plans with it.
func (c *calibrator) expect(mean, p90 float64, lead int, minSpread float64) {
	for len(c.st.Pending) < lead {
		c.st.Pending = append(c.st.Pending, [2]float64{-1, -1})
	}
	if math.IsNaN(mean) || math.IsNaN(p90) || math.IsInf(mean, 0) || math.IsInf(p90, 0) {
		mean, p90 = -1, -1
	} else {
		mean = max(0, mean)
		p90 = mean + max(p90-mean, minSpread)
	}
	c.st.Pending[lead-1] = [2]float64{mean, p90}
}

// safety returns the calibrated multiplier, once there are enough errors.
func (c *calibrator) safety() (float64, bool) {
	if c.st.Count < int64(c.cfg.MinSamples) || c.st.Total <= 0 {
		return 0, false
	}
	target := c.cfg.Quantile * c.st.Total
	acc := 0.0
	z := zHi
	for i, b := range c.st.Bins {
		acc += b
		if acc >= target {
			z = zLo + float64(i+1)*(zHi-zLo)/zBins // the bin's upper edge
			break
		}
	}
	return max(c.cfg.MinSafety, min(c.cfg.MaxSafety, z)), true
}
