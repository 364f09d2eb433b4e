// Package control is the control loop that both the simulator's `shadow`
// policy and the forecaster Lambda run: each step (a minute) it takes what
// the fan-out counted (the group's offered mutations, and per resource the
// live and shadow applied counts and the shadow backlog) and the group's
// capacity, feeds the forecaster and the delta signal, calibrates the
// forecast's interval on its own recent errors, and asks the scaling policy
// for a decision.
//
// Everything the loop remembers is in State, which is JSON-serializable: the
// Lambda loads it (e.g. from DynamoDB) each minute, calls Step, and saves it.
// When the state is lost, Rebuild replays history into a fresh loop. The loop
// has no clock (time comes with each observation) and no AWS.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

// Predictor is the forecaster the loop drives.
//
// Contract: Observe takes the next step's value, in order, one call a step
// (NaN for a missing step) and is cheap (O(1) amortized). Forecast(h)
// returns h points (Mean, P10, P90) for the steps right after the last
// observed one, using nothing but the observed values; it returns an error
// (wrapping forecast.ErrTooShort while history is too short) when it cannot.
type Predictor interface {
	Observe(v float64)
	Forecast(h int) (forecast.Forecast, error)
}

// Replayer is implemented by predictors that take a run of observations
// faster than one Observe call each, leaving the same state (the default's
// forecast.Online: it fits only where a fit survives the run).
// RestoreWithHistory uses it to replay the history.
type Replayer interface {
	ObserveAll(vs []float64)
}

// Snapshotter is implemented by predictors whose state fits in the loop's
// State. A loop with a predictor that is not a Snapshotter must be rebuilt
// from history after a Restore.
type Snapshotter interface {
	Snapshot() (json.RawMessage, error)
	RestoreSnapshot(json.RawMessage) error
}

// Config configures the loop. DefaultConfig gives the defaults.
type Config struct {
	// Step is the loop's period (a minute).
	Step time.Duration `json:"step"`
	// Lead is how long a launched instance takes to serve: pending plus
	// warm-up. Horizon is how far past it the plan looks.
	Lead    time.Duration `json:"lead"`
	Horizon time.Duration `json:"horizon"`
	// PerInstance is what one live instance serves in a Step at 100%, in the
	// unit of Observation.Demand (mutations a step). 0: not known, learned
	// from the group's utilization (Observation.Utilization).
	PerInstance float64 `json:"per_instance"`
	// TripUtilization is the live utilization at which the shadows' signal
	// trips: with a known shadow model (Capacity.Shadows) the signal's trip
	// delta is chosen so that it trips there (1 - r/(f·w)/TripUtilization),
	// and no earlier than the shadows saturate.
	TripUtilization float64 `json:"trip_utilization"`
	// MaxGap is the longest run of missing steps fed to the predictor as
	// missing values; after a longer gap the predictor starts over.
	MaxGap time.Duration `json:"max_gap"`
	// KeepDecisions is how many recent decisions the State keeps.
	KeepDecisions int `json:"keep_decisions"`

	Signal      signal.Config     `json:"signal"`
	Policy      scaling.Config    `json:"policy"`
	Calibration CalibrationConfig `json:"calibration"`
	Capacity    CapacityConfig    `json:"capacity"`
}

// CalibrationConfig sizes the safety margin on the forecaster's own record:
// at the lead horizon the loop compares each forecast with what came,
// standardized by its P90 margin, z = (actual - mean) / (P90 - mean), and
// plans for the Quantile of z: mean + z_q·(P90 - mean).
type CalibrationConfig struct {
	Quantile float64 `json:"quantile"`
	// HalfLife of the error record, in steps' time.
	HalfLife time.Duration `json:"half_life"`
	// MinSamples before the calibrated value replaces the policy's Safety.
	MinSamples int `json:"min_samples"`
	// Warmup is how long the loop runs before the forecasts it makes count
	// toward the calibration: a forecaster fitted on minutes or hours of
	// history errs wildly, and those errors, standardized by a spread that
	// is not yet known either, would set the margin to its maximum for the
	// calibration's half-life (the group at its max on its first day).
	// During the warm-up the plan uses the policy's Safety on the
	// forecaster's own P90.
	Warmup time.Duration `json:"warmup"`
	// MinSpread floors the forecast's spread (P90 - mean), as a fraction of
	// the per-instance capacity, where errors are standardized and where
	// the plan adds its margin: a spread finer than a fraction of an
	// instance changes no instance count, and standardizing by a spread
	// near zero (a flat, idle series) makes every switch-on look like a
	// hundred-sigma error that then inflates the margin for days.
	MinSpread float64 `json:"min_spread"`
	// MinSafety and MaxSafety bound the calibrated multiplier.
	MinSafety float64 `json:"min_safety"`
	MaxSafety float64 `json:"max_safety"`
}

// DefaultConfig is the loop the simulator and the Lambda run by default:
// 1-minute steps, 5 minutes from launch to service, forecast-only policy.
func DefaultConfig() Config {
	return Config{
		Step: time.Minute, Lead: 5 * time.Minute, Horizon: time.Minute,
		MaxGap: 24 * time.Hour, KeepDecisions: 20,
		TripUtilization: 0.9,
		Signal:          signal.DefaultConfig(), Policy: scaling.DefaultConfig(), Capacity: DefaultCapacityConfig(),
		Calibration: CalibrationConfig{Quantile: 0.975, HalfLife: 3 * 24 * time.Hour, MinSamples: 60, MinSafety: 0.5, MaxSafety: 12, MinSpread: 0.05, Warmup: 24 * time.Hour},
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Step < time.Minute || c.Step%time.Minute != 0 {
		errs = append(errs, fmt.Errorf("step %v: must be a whole number of minutes (the fan-out counts by the minute)", c.Step))
	}
	if c.Lead < 0 || c.Horizon < 0 {
		errs = append(errs, fmt.Errorf("lead %v and horizon %v: must not be negative", c.Lead, c.Horizon))
	}
	if c.Step > 0 && (c.Lead+c.Horizon)/c.Step > 10000 {
		errs = append(errs, fmt.Errorf("lead %v plus horizon %v: more than 10000 steps", c.Lead, c.Horizon))
	}
	if !(c.PerInstance >= 0) || math.IsInf(c.PerInstance, 0) {
		errs = append(errs, fmt.Errorf("per-instance capacity %v: must be positive, or 0 to learn it from the group's utilization", c.PerInstance))
	}
	if !(c.TripUtilization > 0 && c.TripUtilization <= 1) {
		errs = append(errs, fmt.Errorf("trip utilization %v: must be in (0, 1]", c.TripUtilization))
	}
	if err := c.Capacity.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("capacity: %w", err))
	}
	if c.MaxGap < c.Step {
		errs = append(errs, fmt.Errorf("max gap %v: must be at least a step", c.MaxGap))
	}
	if c.KeepDecisions < 0 {
		errs = append(errs, fmt.Errorf("keep decisions %d: must not be negative", c.KeepDecisions))
	}
	k := c.Calibration
	if !(k.Quantile > 0.5 && k.Quantile < 1) {
		errs = append(errs, fmt.Errorf("calibration quantile %v: must be in (0.5, 1)", k.Quantile))
	}
	if k.HalfLife < c.Step {
		errs = append(errs, fmt.Errorf("calibration half-life %v: must be at least a step", k.HalfLife))
	}
	if k.Warmup < 0 {
		errs = append(errs, fmt.Errorf("calibration warm-up %v: must not be negative", k.Warmup))
	}
	if !(k.MinSpread >= 0 && k.MinSpread <= 1) {
		errs = append(errs, fmt.Errorf("calibration min spread %v: must be in [0, 1] (a fraction of the per-instance capacity)", k.MinSpread))
	}
	if k.MinSamples < 1 {
		errs = append(errs, fmt.Errorf("calibration min samples %d: must be at least 1", k.MinSamples))
	}
	if !(k.MinSafety >= 0 && k.MaxSafety >= k.MinSafety) || math.IsInf(k.MaxSafety, 0) {
		errs = append(errs, fmt.Errorf("calibration safety bounds [%v, %v]: want 0 <= min <= max, finite", k.MinSafety, k.MaxSafety))
	}
	if err := c.Signal.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("signal: %w", err))
	}
	if err := c.Policy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("policy: %w", err))
	}
	return errors.Join(errs...)
}

// Observation is one step of what the fan-out and Auto Scaling report.
type Observation struct {
	// Minute is the start of the step the counts cover.
	Minute time.Time `json:"minute"`
	// Demand is the group's load in the step: the mutations its live
	// instances applied (the fan-out's per-minute counts, summed). It cannot
	// exceed what the group serves: when the group is overloaded the loop
	// sees it at capacity and plans above that. NaN when unknown.
	Demand float64 `json:"demand"`
	// Resources are the per-resource counts of the step (live and shadow
	// applied, shadow backlog).
	Resources []signal.Sample `json:"resources,omitempty"`
	// Utilization is the live group's average utilization in the step, in
	// percent (CloudWatch CPUUtilization): what the loop learns its
	// per-instance capacity from when it is not told one. NaN (or 0 in
	// JSON written before it existed) when unknown.
	Utilization float64 `json:"utilization,omitempty"`
	// The group at the end of the step.
	Desired      int    `json:"desired"`
	InService    int    `json:"in_service"`
	Warming      int    `json:"warming"`
	InstanceType string `json:"instance_type,omitempty"`
}

// Result is one step's outcome: the decision and what it was based on.
type Result struct {
	Decision scaling.Decision
	Forecast forecast.Forecast // empty when the predictor could not forecast
	Signal   signal.Reading
	// Safety is the multiplier of the P90 margin the plan used; Upper the
	// planned-for demand at the lead horizon (NaN without a forecast).
	Safety, Upper float64
	// PerInstance is the per-instance capacity the step planned with (in
	// Demand's unit a step), and CapacitySource where that figure came
	// from (one of the Capacity* values).
	PerInstance    float64
	CapacitySource string
	// Warm: the loop has run for its calibration warm-up (before it, the
	// margin is the policy's Safety on the forecaster's P90).
	Warm bool
	// Capacity is the estimate in full (shadows saturated, the live
	// utilization they show, when the live instances saturate).
	Capacity Capacity
}

// Where a step's per-instance capacity came from.
const (
	// CapacityConfigured: the figure the loop was configured with.
	CapacityConfigured = "configured"
	// CapacityFromUtilization: learned from the demand and the live
	// group's CPU utilization (no figure configured).
	CapacityFromUtilization = "learned from the group's utilization"
	// CapacityFromShadows: the configured or learned figure, corrected by
	// what the shadows' saturated apply rate says a mutation costs now.
	CapacityFromShadows = "corrected by the shadows' saturation"
)

// State is everything the loop remembers, JSON-serializable.
type State struct {
	Version int `json:"version"`
	// Last is the Unix minute of the last step observed (0: none).
	Last int64 `json:"last"`
	// Steps counts the steps observed.
	Steps int64 `json:"steps"`
	// Predictor is the predictor's snapshot (empty when it has none).
	Predictor   json.RawMessage    `json:"predictor,omitempty"`
	Signal      signal.State       `json:"signal"`
	Policy      scaling.State      `json:"policy"`
	Calibration CalibrationState   `json:"calibration"`
	Capacity    CapacityState      `json:"capacity"`
	Decisions   []scaling.Decision `json:"decisions,omitempty"`
	// Recent are the last few demands (-1: missing), oldest first, for the
	// demand's trend.
	Recent []float64 `json:"recent,omitempty"`
}

const stateVersion = 1

// Loop is the control loop. It is not safe for concurrent use.
type Loop struct {
	cfg    Config
	sizes  scaling.Sizes
	newP   func() (Predictor, error)
	pred   Predictor
	sig    *signal.Tracker
	pol    *scaling.Policy
	cal    *calibrator
	capE   *capacityEstimator
	last   int64
	steps  int64
	decs   []scaling.Decision
	recent []float64 // the last trendSteps+1 demands, NaN when missing
	lead   int
	h      int
	needHx bool
}

// Errors of the loop.
var (
	// ErrStale: an observation for a step at or before the last one.
	ErrStale = errors.New("step already observed")
	// ErrNeedHistory: the restored state had no predictor snapshot; call
	// Rebuild with the history before stepping.
	ErrNeedHistory = errors.New("predictor state missing: rebuild from history")
)

// New returns a loop with an empty state. newPredictor makes a fresh
// predictor (called again when the loop must start it over); sizes is the
// instance catalog for resizes (may be nil when the policy does not resize).
func New(cfg Config, newPredictor func() (Predictor, error), sizes scaling.Sizes) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("control config: %w", err)
	}
	if newPredictor == nil {
		return nil, errors.New("control config: a predictor constructor is required")
	}
	pred, err := newPredictor()
	if err != nil {
		return nil, fmt.Errorf("making the predictor: %w", err)
	}
	sig, err := signal.NewTracker(cfg.TrippingSignal())
	if err != nil {
		return nil, err
	}
	pol, err := scaling.New(cfg.Policy, sizes)
	if err != nil {
		return nil, err
	}
	l := &Loop{cfg: cfg, sizes: sizes, newP: newPredictor, pred: pred, sig: sig, pol: pol, cal: newCalibrator(cfg.Calibration, cfg.Step),
		capE: newCapacityEstimator(cfg.Capacity, cfg.PerInstance, cfg.Step)}
	l.lead = max(1, int((cfg.Lead+cfg.Step-1)/cfg.Step))
	l.h = l.lead + int((cfg.Horizon+cfg.Step-1)/cfg.Step)
	return l, nil
}

// Config returns the loop's configuration.
func (l *Loop) Config() Config { return l.cfg }

// State returns the loop's state for persisting.
func (l *Loop) State() (State, error) {
	st := State{Version: stateVersion, Last: l.last, Steps: l.steps, Signal: l.sig.State(), Policy: l.pol.State(), Calibration: l.cal.state(), Capacity: l.capE.state()}
	st.Decisions = append([]scaling.Decision(nil), l.decs...)
	st.Recent = encodeNaN(l.recent)
	if s, ok := l.pred.(Snapshotter); ok {
		raw, err := s.Snapshot()
		if err != nil {
			return State{}, fmt.Errorf("saving the predictor: %w", err)
		}
		st.Predictor = raw
	}
	return st, nil
}

// Restore loads a saved state. When the state holds no predictor snapshot
// (or the predictor cannot take it) the loop keeps its signal, policy and
// calibration state but returns ErrNeedHistory: Rebuild before stepping.
func (l *Loop) Restore(st State) error {
	if st.Version != stateVersion {
		return fmt.Errorf("restoring loop state version %d (want %d): %w", st.Version, stateVersion, ErrNeedHistory)
	}
	if err := l.cal.restore(st.Calibration); err != nil {
		return fmt.Errorf("restoring calibration: %w", err)
	}
	if err := l.capE.restore(st.Capacity); err != nil {
		return fmt.Errorf("restoring the capacity estimate: %w", err)
	}
	l.sig.Restore(st.Signal)
	l.pol.Restore(st.Policy)
	l.last, l.steps = st.Last, st.Steps
	l.decs = append([]scaling.Decision(nil), st.Decisions...)
	l.recent = decodeNaN(st.Recent)
	s, ok := l.pred.(Snapshotter)
	if !ok || len(st.Predictor) == 0 {
		l.needHx = true
		return ErrNeedHistory
	}
	if err := s.RestoreSnapshot(st.Predictor); err != nil {
		l.needHx = true
		return fmt.Errorf("restoring the predictor (%w): %w", ErrNeedHistory, err)
	}
	l.needHx = false
	return nil
}

// RestoreWithHistory loads a saved state and replays the demand history
// into a fresh predictor: the way to restore a loop whose predictor keeps no
// snapshot (the default). demand holds one value a step, oldest first,
// ending with the step of st.Last (NaN for a missing one); the signal,
// policy and calibration state come from st. A predictor with a snapshot in
// st restores from it and ignores demand.
func (l *Loop) RestoreWithHistory(st State, demand []float64) error {
	err := l.Restore(st)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrNeedHistory) || st.Version != stateVersion {
		return err
	}
	pred, perr := l.newP()
	if perr != nil {
		return fmt.Errorf("making the predictor: %w", perr)
	}
	vals := make([]float64, len(demand))
	for i, v := range demand {
		if math.IsInf(v, 0) || v < 0 {
			v = math.NaN()
		}
		vals[i] = v
	}
	if r, ok := pred.(Replayer); ok {
		r.ObserveAll(vals)
	} else {
		for _, v := range vals {
			pred.Observe(v)
		}
	}
	l.pred = pred
	l.needHx = false
	return nil
}

// Rebuild starts the loop over from history (oldest first), as after a lost
// state: every observation goes through Step, and the last step's Result is
// returned. Stale observations in the history are skipped.
func (l *Loop) Rebuild(history []Observation) (Result, error) {
	fresh, err := New(l.cfg, l.newP, l.sizes)
	if err != nil {
		return Result{}, err
	}
	*l = *fresh
	var res Result
	for _, o := range history {
		r, err := l.Step(o)
		if errors.Is(err, ErrStale) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		res = r
	}
	return res, nil
}

// Step feeds one step's observation and returns the decision. An
// observation at or before the last step is refused with ErrStale and
// changes nothing. Missing steps before it are fed to the predictor as
// missing values (up to MaxGap; after a longer gap it starts over).
func (l *Loop) Step(o Observation) (Result, error) {
	if l.needHx {
		return Result{}, ErrNeedHistory
	}
	stepMin := int64(l.cfg.Step / time.Minute)
	m := o.Minute.Unix() / 60 / stepMin * stepMin // the step's first minute
	if l.last != 0 && m <= l.last {
		return Result{}, fmt.Errorf("step %s: %w", o.Minute.UTC().Format(time.RFC3339), ErrStale)
	}
	if o.Desired < 0 || o.InService < 0 || o.Warming < 0 {
		return Result{}, fmt.Errorf("step %s: group counts desired %d, in service %d, warming %d: must not be negative", o.Minute.UTC().Format(time.RFC3339), o.Desired, o.InService, o.Warming)
	}
	if l.last != 0 {
		missing := (m-l.last)/stepMin - 1
		if time.Duration(missing)*l.cfg.Step > l.cfg.MaxGap {
			pred, err := l.newP()
			if err != nil {
				return Result{}, fmt.Errorf("restarting the predictor after a gap: %w", err)
			}
			l.pred = pred
			l.cal.reset()
		} else {
			for i := int64(0); i < missing; i++ {
				l.pred.Observe(math.NaN())
				l.cal.skip()
				l.capE.skip()
				l.remember(math.NaN())
			}
		}
	}
	l.last = m
	l.steps++
	demand := o.Demand
	if math.IsInf(demand, 0) || demand < 0 {
		demand = math.NaN()
	}
	noData := math.IsNaN(demand)
	l.cal.observe(demand)
	l.pred.Observe(demand)
	l.remember(demand)
	rd, err := l.sig.Observe(time.Unix(m*60, 0), o.Resources)
	if err != nil {
		return Result{}, fmt.Errorf("step %s: %w", o.Minute.UTC().Format(time.RFC3339), err)
	}
	cp := l.capE.observe(demand, o.InService, o.Utilization, o.Resources)
	res := Result{Signal: rd, Upper: math.NaN(), PerInstance: cp.PerInstance, CapacitySource: cp.Source, Capacity: cp}
	minSpread := 0.0
	if !math.IsNaN(cp.PerInstance) {
		minSpread = l.cfg.Calibration.MinSpread * cp.PerInstance
	}
	f, ferr := l.pred.Forecast(l.h)
	warm := time.Duration(l.steps)*l.cfg.Step >= l.cfg.Calibration.Warmup
	if ferr == nil && len(f.Mean) >= l.lead && len(f.P90) >= l.lead {
		res.Forecast = f
	}
	if warm && len(res.Forecast.Mean) >= l.lead {
		l.cal.expect(f.Mean[l.lead-1], f.P90[l.lead-1], l.lead, minSpread)
	} else {
		l.cal.expect(math.NaN(), math.NaN(), l.lead, minSpread)
	}
	res.Warm = warm
	safety := l.cfg.Policy.Safety
	if s, ok := l.cal.safety(); ok {
		safety = s
	}
	res.Safety = safety
	if len(res.Forecast.Mean) >= l.lead {
		mean, p90 := res.Forecast.Mean[l.lead-1], res.Forecast.P90[l.lead-1]
		res.Upper = mean + safety*max(0, p90-mean, minSpread)
	}
	in := scaling.Input{
		Now: time.Unix(m*60, 0).UTC(), Forecast: res.Forecast, Safety: safety, MinSpread: minSpread,
		Step: l.cfg.Step, Lead: l.cfg.Lead, Horizon: l.cfg.Horizon,
		Demand: demand, PerInstance: cp.PerInstance, Trend: l.trend(),
		Desired: o.Desired, InService: o.InService, Warming: o.Warming, InstanceType: o.InstanceType,
		Signal: scaling.Signal{Tripped: rd.Tripped, Delta: rd.Delta, LagMinutes: rd.LagMinutes, LiveUtil: cp.LiveUtil, SaturationIn: cp.SaturationIn},
		NoData: noData,
	}
	var d scaling.Decision
	if math.IsNaN(cp.PerInstance) {
		d = l.pol.Hold(in, "no per-instance capacity configured and no usable utilization reading yet: holding while it is learned")
	} else if d, err = l.pol.Decide(in); err != nil {
		return Result{}, fmt.Errorf("deciding at %s: %w", in.Now.Format(time.RFC3339), err)
	}
	if !warm {
		d.Reason += fmt.Sprintf("; cold start: %v of the %v warm-up, the margin is the forecaster's P90 (not yet calibrated)",
			time.Duration(l.steps)*l.cfg.Step, l.cfg.Calibration.Warmup)
	}
	res.Decision = d
	if d.Changes() && l.cfg.KeepDecisions > 0 {
		l.decs = append(l.decs, d)
		if len(l.decs) > l.cfg.KeepDecisions {
			l.decs = append(l.decs[:0], l.decs[len(l.decs)-l.cfg.KeepDecisions:]...)
		}
	}
	return res, nil
}

// Decisions returns the recent decisions that changed (or, in forecast-only
// mode, would have changed) the group, oldest first.
func (l *Loop) Decisions() []scaling.Decision { return append([]scaling.Decision(nil), l.decs...) }

// trendSteps is how many steps back the demand's trend is measured.
const trendSteps = 3

func (l *Loop) remember(v float64) {
	l.recent = append(l.recent, v)
	if len(l.recent) > trendSteps+1 {
		l.recent = append(l.recent[:0], l.recent[len(l.recent)-trendSteps-1:]...)
	}
}

// trend is the demand's change a step over the last trendSteps steps (NaN
// when either end is missing).
func (l *Loop) trend() float64 {
	if len(l.recent) < trendSteps+1 {
		return math.NaN()
	}
	return (l.recent[len(l.recent)-1] - l.recent[0]) / trendSteps
}
