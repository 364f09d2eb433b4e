// Package forecast predicts a load series a short horizon ahead, with a
// prediction interval, for the scaler.
//
// Every model works on a regular series (oldest first) and sees nothing but
// the values it is given: no look-ahead is possible through this API.
package forecast

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Input is what a model sees.
type Input struct {
	// Values is the history on a regular grid, oldest first. NaN marks a
	// missing point; models must cope with them.
	Values []float64
	// Step is the grid spacing.
	Step time.Duration
	// Season is the number of points in a day (0 when there is no daily
	// season to use, e.g. a step longer than a day).
	Season int
	// Horizon is how many points ahead to forecast (at least 1).
	Horizon int
}

// Forecast is a model's prediction for the Horizon points after the input.
type Forecast struct {
	Mean []float64 // point forecast (len Horizon)
	P90  []float64 // 90th percentile of the predictive distribution (len Horizon)
	P10  []float64 // 10th percentile (len Horizon)
	// Model names the model or combination that produced the forecast.
	Model string
	// Why explains the choice in words, e.g. the backtest errors behind it.
	Why string
}

// Model is one forecasting method.
type Model interface {
	Name() string
	Forecast(in Input) (Forecast, error)
}

// ErrTooShort is returned when the input is too short for a model.
var ErrTooShort = errors.New("history too short")

// Validate checks an Input's shape.
func (in Input) Validate() error {
	if in.Horizon < 1 {
		return fmt.Errorf("horizon %d: must be at least 1", in.Horizon)
	}
	if in.Step <= 0 {
		return fmt.Errorf("step %v: must be positive", in.Step)
	}
	if in.Season < 0 {
		return fmt.Errorf("season %d: must not be negative", in.Season)
	}
	if len(in.Values) < 2 {
		return fmt.Errorf("%d points: %w", len(in.Values), ErrTooShort)
	}
	return nil
}

// SeasonFor returns the number of points in a day at step (0 when a day is
// not a whole number of steps or is shorter than two steps).
func SeasonFor(step time.Duration) int {
	if step <= 0 || (24*time.Hour)%step != 0 {
		return 0
	}
	n := int((24 * time.Hour) / step)
	if n < 2 {
		return 0
	}
	return n
}

// lastFinite returns the last non-NaN value of v, or NaN.
func lastFinite(v []float64) float64 {
	for i := len(v) - 1; i >= 0; i-- {
		if !math.IsNaN(v[i]) {
			return v[i]
		}
	}
	return math.NaN()
}

// Persistence repeats the last seen value: what a reactive scaler assumes.
type Persistence struct{}

// Name implements Model.
func (Persistence) Name() string { return "persistence" }

// Forecast implements Model. Its interval comes from the spread of the
// history's h-step changes.
func (Persistence) Forecast(in Input) (Forecast, error) {
	if err := in.Validate(); err != nil {
		return Forecast{}, err
	}
	last := lastFinite(in.Values)
	if math.IsNaN(last) {
		return Forecast{}, fmt.Errorf("no finite value in history: %w", ErrTooShort)
	}
	f := Forecast{Model: "persistence", Why: "last value repeated"}
	for h := 1; h <= in.Horizon; h++ {
		q10, q90 := changeQuantiles(in.Values, h)
		f.Mean = append(f.Mean, last)
		f.P10 = append(f.P10, last+min(0, q10))
		f.P90 = append(f.P90, last+max(0, q90))
	}
	if nonNegative(in.Values) {
		clampNonNegative(&f)
	}
	return f, nil
}

// SeasonalNaive repeats the value one season (a day) earlier.
type SeasonalNaive struct{}

// Name implements Model.
func (SeasonalNaive) Name() string { return "seasonal_naive" }

// Forecast implements Model. It needs at least one full season of history;
// where the value a season ago is missing it falls back to the last value.
func (SeasonalNaive) Forecast(in Input) (Forecast, error) {
	if err := in.Validate(); err != nil {
		return Forecast{}, err
	}
	m := in.Season
	n := len(in.Values)
	if m == 0 || n < m {
		return Forecast{}, fmt.Errorf("seasonal naive needs a season of %d points, have %d: %w", m, n, ErrTooShort)
	}
	last := lastFinite(in.Values)
	if math.IsNaN(last) {
		return Forecast{}, fmt.Errorf("no finite value in history: %w", ErrTooShort)
	}
	f := Forecast{Model: "seasonal_naive", Why: "value one day earlier"}
	for h := 1; h <= in.Horizon; h++ {
		i := n - m + (h-1)%m
		v := in.Values[i]
		if math.IsNaN(v) {
			v = last
		}
		q10, q90 := seasonalChangeQuantiles(in.Values, m)
		f.Mean = append(f.Mean, v)
		f.P10 = append(f.P10, v+min(0, q10))
		f.P90 = append(f.P90, v+max(0, q90))
	}
	if nonNegative(in.Values) {
		clampNonNegative(&f)
	}
	return f, nil
}

// changeQuantiles returns the 10th and 90th percentiles of y[t+h]-y[t] over
// the history (zero when there are too few pairs).
func changeQuantiles(v []float64, h int) (float64, float64) {
	return diffQuantiles(v, h)
}

func seasonalChangeQuantiles(v []float64, m int) (float64, float64) {
	return diffQuantiles(v, m)
}

func diffQuantiles(v []float64, lag int) (float64, float64) {
	var d []float64
	for i := lag; i < len(v); i++ {
		if a, b := v[i-lag], v[i]; !math.IsNaN(a) && !math.IsNaN(b) {
			d = append(d, b-a)
		}
	}
	if len(d) < 5 {
		return 0, 0
	}
	return quantile(d, 0.1), quantile(d, 0.9)
}
