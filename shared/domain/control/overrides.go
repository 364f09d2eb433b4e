package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
)

// Overrides is the JSON an operator gives to change the loop's defaults
// (SHADOWSCALE_POLICY in the forecaster Lambda). Every field is optional;
// durations are Go duration strings ("90s", "10m").
//
//	{"mode": "act", "min": 2, "max": 40, "max_step_out": 6, "scale_in_window": "15m",
//	 "target_utilization": 0.9, "over_max": "raise", "max_buffer_pct": 10,
//	 "signal_trip": 0.08, "calibration_quantile": 0.99,
//	 "shadow_cpu": 0.25, "write_share": 0.3, "sample": 1, "trip_utilization": 0.9}
//
// per_instance 0 (or absent, with no shadowscale:per-instance tag) makes
// the loop learn the capacity from the group's utilization. shadow_cpu,
// write_share and sample describe the shadows (r, w, f): with all three the
// loop corrects its capacity by the shadows' saturation (learn_from_shadows,
// default true) and trips the shadows' signal at trip_utilization.
type Overrides struct {
	Mode                *string  `json:"mode"`
	Min                 *int     `json:"min"`
	Max                 *int     `json:"max"`
	MaxStepOut          *int     `json:"max_step_out"`
	MaxStepIn           *int     `json:"max_step_in"`
	ScaleOutWindow      *string  `json:"scale_out_window"`
	ScaleInWindow       *string  `json:"scale_in_window"`
	ScaleInCooldown     *string  `json:"scale_in_cooldown"`
	TargetUtilization   *float64 `json:"target_utilization"`
	Safety              *float64 `json:"safety"`
	BackstopUtilization *float64 `json:"backstop_utilization"`
	OverMax             *string  `json:"over_max"`
	MaxBufferPct        *float64 `json:"max_buffer_pct"`
	AllowResize         *bool    `json:"allow_resize"`
	Lead                *string  `json:"lead"`
	Horizon             *string  `json:"horizon"`
	PerInstance         *float64 `json:"per_instance"`
	SignalWindow        *string  `json:"signal_window"`
	SignalTrip          *float64 `json:"signal_trip"`
	SignalClear         *float64 `json:"signal_clear"`
	SignalMinDuration   *string  `json:"signal_min_duration"`
	CalibrationQuantile *float64 `json:"calibration_quantile"`
	CalibrationHalfLife *string  `json:"calibration_half_life"`
	CalibrationSpread   *float64 `json:"calibration_min_spread"`
	CalibrationWarmup   *string  `json:"calibration_warmup"`
	TripUtilization     *float64 `json:"trip_utilization"`
	ShadowCPU           *float64 `json:"shadow_cpu"`
	WriteShare          *float64 `json:"write_share"`
	Sample              *float64 `json:"sample"`
	LearnFromShadows    *bool    `json:"learn_from_shadows"`
	CapacityHalfLife    *string  `json:"capacity_half_life"`
}

// ApplyOverrides decodes raw (empty: no change) onto cfg and validates the
// result. Unknown fields, bad durations and invalid values are errors that
// name the field; cfg is changed only when everything is valid.
func ApplyOverrides(cfg Config, raw []byte) (Config, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return cfg, cfg.Validate()
	}
	var o Overrides
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return cfg, fmt.Errorf("decoding policy overrides: %w", err)
	}
	c := cfg
	var errs []error
	dur := func(name string, s *string, dst *time.Duration) {
		if s == nil {
			return
		}
		d, err := time.ParseDuration(*s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, *s, err))
			return
		}
		*dst = d
	}
	set := func(src *int, dst *int) {
		if src != nil {
			*dst = *src
		}
	}
	setF := func(src *float64, dst *float64) {
		if src != nil {
			*dst = *src
		}
	}
	if o.Mode != nil {
		c.Policy.Mode = scaling.Mode(*o.Mode)
	}
	set(o.Min, &c.Policy.Min)
	set(o.Max, &c.Policy.Max)
	set(o.MaxStepOut, &c.Policy.MaxStepOut)
	set(o.MaxStepIn, &c.Policy.MaxStepIn)
	dur("scale_out_window", o.ScaleOutWindow, &c.Policy.ScaleOutWindow)
	dur("scale_in_window", o.ScaleInWindow, &c.Policy.ScaleInWindow)
	dur("scale_in_cooldown", o.ScaleInCooldown, &c.Policy.ScaleInCooldown)
	setF(o.TargetUtilization, &c.Policy.TargetUtilization)
	setF(o.Safety, &c.Policy.Safety)
	setF(o.BackstopUtilization, &c.Policy.BackstopUtilization)
	if o.OverMax != nil {
		c.Policy.OverMax = scaling.OverMax(*o.OverMax)
	}
	setF(o.MaxBufferPct, &c.Policy.MaxBufferPct)
	if o.AllowResize != nil {
		c.Policy.AllowResize = *o.AllowResize
	}
	dur("lead", o.Lead, &c.Lead)
	dur("horizon", o.Horizon, &c.Horizon)
	setF(o.PerInstance, &c.PerInstance)
	dur("signal_window", o.SignalWindow, &c.Signal.Window)
	setF(o.SignalTrip, &c.Signal.Trip)
	setF(o.SignalClear, &c.Signal.Clear)
	dur("signal_min_duration", o.SignalMinDuration, &c.Signal.MinDuration)
	setF(o.CalibrationQuantile, &c.Calibration.Quantile)
	dur("calibration_half_life", o.CalibrationHalfLife, &c.Calibration.HalfLife)
	setF(o.CalibrationSpread, &c.Calibration.MinSpread)
	dur("calibration_warmup", o.CalibrationWarmup, &c.Calibration.Warmup)
	setF(o.TripUtilization, &c.TripUtilization)
	setF(o.ShadowCPU, &c.Capacity.Shadows.CPU)
	setF(o.WriteShare, &c.Capacity.Shadows.WriteShare)
	setF(o.Sample, &c.Capacity.Shadows.Sample)
	if o.LearnFromShadows != nil {
		c.Capacity.FromShadows = *o.LearnFromShadows
	}
	dur("capacity_half_life", o.CapacityHalfLife, &c.Capacity.HalfLife)
	if len(errs) > 0 {
		return cfg, fmt.Errorf("policy overrides: %w", errors.Join(errs...))
	}
	if err := c.Validate(); err != nil {
		return cfg, fmt.Errorf("policy overrides: %w", err)
	}
	return c, nil
}

// DefaultPredictor returns the constructor of the predictor the loop runs by
// default for cfg: the forecast package's online default model (a
// backtested combination of Holt-Winters, ARIMA, Holt, seasonal naive and
// persistence, refitted daily on a 7-day window), forecasting lead +
// horizon steps. The simulator and the Lambda call the same one. It keeps
// no snapshot: after a Restore, give the loop the recent demand history
// (RestoreWithHistory) or rebuild it.
func DefaultPredictor(cfg Config) func() (Predictor, error) {
	h := horizonSteps(cfg)
	return func() (Predictor, error) {
		o, err := forecast.NewOnline(forecast.OnlineConfig{Step: cfg.Step, Horizon: h})
		if err != nil {
			return nil, fmt.Errorf("making the online forecaster: %w", err)
		}
		return o, nil
	}
}

// SmootherPredictor returns the constructor of the loop's built-in
// Smoother for cfg (scored at the lead, a day's half-life and season). It is
// cheaper than the default and its state fits in the loop's State, so a
// restored loop needs no history.
func SmootherPredictor(cfg Config) func() (Predictor, error) {
	lead := max(1, int((cfg.Lead+cfg.Step-1)/cfg.Step))
	season := 0
	if cfg.Step > 0 && (24*time.Hour)%cfg.Step == 0 {
		season = int(24 * time.Hour / cfg.Step)
	}
	if season <= lead {
		season = 0
	}
	return func() (Predictor, error) {
		return NewSmoother(SmootherConfig{Score: lead, HalfLife: float64(24*time.Hour) / float64(max(cfg.Step, time.Second)), Season: season})
	}
}

// horizonSteps is the lead plus the horizon, in steps.
func horizonSteps(cfg Config) int {
	if cfg.Step <= 0 {
		return 1
	}
	lead := max(1, int((cfg.Lead+cfg.Step-1)/cfg.Step))
	return lead + int((cfg.Horizon+cfg.Step-1)/cfg.Step)
}

var (
	_ Predictor = (*forecast.Online)(nil)
	_ Replayer  = (*forecast.Online)(nil)
)
