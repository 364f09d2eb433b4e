package control

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

// The per-instance capacity the loop plans with (mutations a step one live
// instance applies at 100%) comes from one of three places:
//
//   - configured: the operator's figure (Config.PerInstance);
//   - learned from the live group: with no figure configured, the demand
//     per in-service instance over the group's CPU utilization, minute by
//     minute (Observation.Utilization);
//   - corrected by the shadows: a shadow has a known fraction r of its live
//     instance's CPU and applies the same mutations at the same cost, so
//     while it is saturated (it had a backlog all minute) it applies
//     r·C_true mutations a second, whatever the operator believes C is. Its
//     saturated apply rate S measures what a mutation costs now, and the
//     live instance's capacity in mutations is (w/r)·S, w being the share
//     of the live instance's work that its mutations are. A release that
//     makes every request costlier shows there first: the shadows saturate
//     at r/(f·w) of their live instances' utilization (f: the share of
//     mutations sampled to them), before the live instances do.
//
// The estimates are robust: a minute gives one group sample, the median of
// the saturated shadows' rates, after dropping those that applied less
// than an unsaturated shadow of the group did (a broken or resyncing
// shadow, not a measurement); samples are weighed by how many shadows gave
// them and forgotten with a half-life, so that an old regime fades back to
// the configured figure (which is worth PriorWeight shadow-minutes). The
// estimate's Confidence is the weight of evidence behind it.

// ShadowModel is what the plane knows about its shadows.
type ShadowModel struct {
	// CPU is r: a shadow's CPU as a fraction of its live instance's.
	CPU float64 `json:"cpu"`
	// WriteShare is w: the share of a live instance's work (CPU) that the
	// mutations are.
	WriteShare float64 `json:"write_share"`
	// Sample is f: the share of the mutations sent to the shadows.
	Sample float64 `json:"sample"`
}

// Known reports whether the model is set (all three in (0, 1]).
func (m ShadowModel) Known() bool {
	in := func(v float64) bool { return v > 0 && v <= 1 }
	return in(m.CPU) && in(m.WriteShare) && in(m.Sample)
}

// SaturationUtilization is the live utilization at which a shadow
// saturates: r/(f·w). Below 1 the shadows fall behind before their live
// instances do; at or above 1 they cannot lead.
func (m ShadowModel) SaturationUtilization() float64 {
	return m.CPU / (m.Sample * m.WriteShare)
}

// CapacityConfig configures what the loop learns its capacity from.
type CapacityConfig struct {
	// FromShadows corrects the capacity by the shadows' saturated apply rate
	// (needs Shadows to be Known).
	FromShadows bool        `json:"from_shadows"`
	Shadows     ShadowModel `json:"shadows"`
	// HalfLife is how fast the shadows' evidence fades (toward the
	// configured figure).
	HalfLife time.Duration `json:"half_life"`
	// PriorWeight is what the configured figure is worth, in saturated
	// shadow-minutes.
	PriorWeight float64 `json:"prior_weight"`
	// UtilizationHalfLife is how fast evidence from the group's utilization
	// fades (when no figure is configured).
	UtilizationHalfLife time.Duration `json:"utilization_half_life"`
	// MinUtilization and MaxUtilization bound the utilization readings the
	// loop learns from, in percent: below, idle noise dominates; above, the
	// group is saturated and the reading is capped.
	MinUtilization float64 `json:"min_utilization"`
	MaxUtilization float64 `json:"max_utilization"`
}

// DefaultCapacityConfig learns from the shadows when it is given their
// model, with a 12-hour half-life, and from the group's utilization with a
// 30-minute one between 5% and 97%.
func DefaultCapacityConfig() CapacityConfig {
	return CapacityConfig{
		FromShadows: true, HalfLife: 12 * time.Hour, PriorWeight: 3,
		UtilizationHalfLife: 30 * time.Minute, MinUtilization: 5, MaxUtilization: 97,
	}
}

// Validate reports every problem at once.
func (c CapacityConfig) Validate() error {
	var errs []error
	if c.FromShadows && c.Shadows != (ShadowModel{}) && !c.Shadows.Known() {
		errs = append(errs, fmt.Errorf("shadow model cpu %v, write share %v, sample %v: each must be in (0, 1]", c.Shadows.CPU, c.Shadows.WriteShare, c.Shadows.Sample))
	}
	if c.HalfLife < time.Minute || c.UtilizationHalfLife < time.Minute {
		errs = append(errs, fmt.Errorf("half-lives %v and %v: must be at least a minute", c.HalfLife, c.UtilizationHalfLife))
	}
	if !(c.PriorWeight > 0) || math.IsInf(c.PriorWeight, 0) {
		errs = append(errs, fmt.Errorf("prior weight %v: must be positive", c.PriorWeight))
	}
	if !(c.MinUtilization > 0 && c.MinUtilization < c.MaxUtilization && c.MaxUtilization <= 100) {
		errs = append(errs, fmt.Errorf("utilization bounds [%v, %v]: want 0 < min < max <= 100", c.MinUtilization, c.MaxUtilization))
	}
	return errors.Join(errs...)
}

// CapacityState is the estimator's persisted state.
type CapacityState struct {
	// Shadow evidence: decayed weight and weighted sum of log capacity.
	ShadowWeight float64 `json:"shadow_weight,omitempty"`
	ShadowLogSum float64 `json:"shadow_log_sum,omitempty"`
	// Utilization evidence, the same.
	UtilWeight float64 `json:"util_weight,omitempty"`
	UtilLogSum float64 `json:"util_log_sum,omitempty"`
	// Backlogs are each shadow's backlog at the end of the last step, to
	// tell a shadow that stayed behind all of a step.
	Backlogs map[string]float64 `json:"backlogs,omitempty"`
	// LiveUtil is the live utilization the shadows showed at the last step
	// (NaN, stored as -1, when none was saturated).
	LiveUtil float64 `json:"live_util,omitempty"`
}

// Capacity is the estimate a step plans with.
type Capacity struct {
	// PerInstance in Demand's unit a step; NaN when nothing is known yet
	// (no figure configured and no utilization reading).
	PerInstance float64
	// Source is one of the Capacity* values.
	Source string
	// Factor is the shadows' correction of the configured or learned figure
	// (1: none).
	Factor float64
	// Confidence is the weight of evidence behind the learned part, in
	// samples (shadow-minutes, or utilization minutes).
	Confidence float64
	// Saturated counts the shadows that were behind all of the step;
	// LiveUtil is the live utilization they show, (Saturated's median):
	// r/(f·w)·(1 + backlog growth / applied), NaN when none was.
	Saturated int
	LiveUtil  float64
	// SaturationIn is when, in steps, the live instances reach 100% at the
	// rate their utilization (as the shadows show it) rose over the last
	// step; NaN when it is not rising or not shown.
	SaturationIn float64
}

type capacityEstimator struct {
	cfg       CapacityConfig
	perInst   float64 // configured, 0 when learned
	decayS    float64 // per step, shadow evidence
	decayU    float64 // per step, utilization evidence
	st        CapacityState
	prevUtil  float64   // the live utilization the shadows showed the step before (NaN: none)
	saturated []float64 // scratch
	bounds    []float64 // scratch
	utils     []float64 // scratch
}

func newCapacityEstimator(cfg CapacityConfig, perInstance float64, step time.Duration) *capacityEstimator {
	decay := func(hl time.Duration) float64 {
		return math.Pow(0.5, float64(step)/float64(max(hl, step)))
	}
	return &capacityEstimator{cfg: cfg, perInst: perInstance, decayS: decay(cfg.HalfLife), decayU: decay(cfg.UtilizationHalfLife), st: CapacityState{LiveUtil: math.NaN()}}
}

func (e *capacityEstimator) state() CapacityState {
	s := e.st
	s.Backlogs = make(map[string]float64, len(e.st.Backlogs))
	for k, v := range e.st.Backlogs {
		s.Backlogs[k] = v
	}
	if math.IsNaN(s.LiveUtil) {
		s.LiveUtil = -1
	}
	return s
}

func (e *capacityEstimator) restore(s CapacityState) error {
	for _, v := range []float64{s.ShadowWeight, s.ShadowLogSum, s.UtilWeight, s.UtilLogSum} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("capacity state holds %v: must be finite", v)
		}
	}
	if s.ShadowWeight < 0 || s.UtilWeight < 0 {
		return fmt.Errorf("capacity state weights %v, %v: must not be negative", s.ShadowWeight, s.UtilWeight)
	}
	if s.LiveUtil < 0 {
		s.LiveUtil = math.NaN()
	}
	e.st = s
	return nil
}

// skip ages the evidence by one step without a sample.
func (e *capacityEstimator) skip() {
	e.st.ShadowWeight *= e.decayS
	e.st.ShadowLogSum *= e.decayS
	e.st.UtilWeight *= e.decayU
	e.st.UtilLogSum *= e.decayU
}

// observe takes one step: the group's demand (NaN: unknown), in-service
// count, utilization (percent; NaN or 0: unknown) and the resources'
// samples, and returns the capacity to plan with.
func (e *capacityEstimator) observe(demand float64, inService int, util float64, samples []signal.Sample) Capacity {
	e.skip()
	// The group's utilization: demand per in-service instance over it.
	c := e.cfg
	if e.perInst == 0 && inService > 0 && demand > 0 && !math.IsInf(demand, 0) && util >= c.MinUtilization && util <= c.MaxUtilization {
		p := demand / float64(inService) / (util / 100)
		e.st.UtilWeight++
		e.st.UtilLogSum += math.Log(p)
	}
	e.prevUtil = math.NaN()
	sat, liveUtil := e.shadows(samples)
	out := e.estimate(sat, liveUtil)
	out.SaturationIn = math.NaN()
	if rise := liveUtil - e.prevUtil; rise > 0 && liveUtil < 1 {
		out.SaturationIn = (1 - liveUtil) / rise
	}
	return out
}

// shadows learns from the shadows' saturation; it returns how many were
// saturated and the live utilization they show.
func (e *capacityEstimator) shadows(samples []signal.Sample) (int, float64) {
	m := e.cfg.Shadows
	if !e.cfg.FromShadows || !m.Known() {
		return 0, math.NaN()
	}
	prev := e.st.Backlogs
	next := make(map[string]float64, len(samples))
	e.saturated, e.bounds, e.utils = e.saturated[:0], e.bounds[:0], e.utils[:0]
	prevUtil := e.st.LiveUtil
	for _, s := range samples {
		if s.ShadowApplied < 0 || s.ShadowBacklog < 0 || math.IsNaN(s.ShadowApplied) || math.IsNaN(s.ShadowBacklog) || math.IsInf(s.ShadowApplied+s.ShadowBacklog, 0) {
			continue
		}
		next[s.Resource] = s.ShadowBacklog
		before, seen := prev[s.Resource]
		switch {
		case seen && before > 0 && s.ShadowBacklog > 0 && s.ShadowApplied > 0:
			// Behind all step long: it applied as fast as it can.
			e.saturated = append(e.saturated, s.ShadowApplied)
			offered := s.ShadowApplied + s.ShadowBacklog - before
			e.utils = append(e.utils, m.SaturationUtilization()*offered/s.ShadowApplied)
		case s.ShadowBacklog == 0:
			// Kept up: it can apply at least what it applied.
			e.bounds = append(e.bounds, s.ShadowApplied)
		}
	}
	e.st.Backlogs = next
	e.st.LiveUtil = math.NaN()
	if len(e.saturated) == 0 {
		return 0, math.NaN()
	}
	floor := 0.0
	if len(e.bounds) > 0 {
		floor = slices.Max(e.bounds)
	}
	kept, utils := e.saturated[:0], e.utils[:0]
	for i, v := range e.saturated {
		if v >= floor {
			kept, utils = append(kept, v), append(utils, e.utils[i])
		}
	}
	if len(kept) == 0 {
		return 0, math.NaN()
	}
	e.prevUtil = prevUtil
	s := median(kept)
	p := m.WriteShare / m.CPU * s
	w := float64(len(kept))
	e.st.ShadowWeight += w
	e.st.ShadowLogSum += w * math.Log(p)
	e.st.LiveUtil = median(utils)
	return len(kept), e.st.LiveUtil
}

// estimate combines the evidence.
func (e *capacityEstimator) estimate(saturated int, liveUtil float64) Capacity {
	out := Capacity{PerInstance: math.NaN(), Source: CapacityConfigured, Factor: 1, Saturated: saturated, LiveUtil: liveUtil}
	base := e.perInst
	if base == 0 {
		if e.st.UtilWeight <= 0 {
			// Nothing from the group yet: the shadows alone, if they speak.
			if e.st.ShadowWeight > 0 {
				out.PerInstance = math.Exp(e.st.ShadowLogSum / e.st.ShadowWeight)
				out.Source, out.Confidence = CapacityFromShadows, e.st.ShadowWeight
			}
			return out
		}
		base = math.Exp(e.st.UtilLogSum / e.st.UtilWeight)
		out.Source, out.Confidence = CapacityFromUtilization, e.st.UtilWeight
		// The utilization already shows what a mutation costs now.
		out.PerInstance = base
		return out
	}
	out.PerInstance = base
	if e.st.ShadowWeight > 0 {
		w0 := e.cfg.PriorWeight
		logP := (w0*math.Log(base) + e.st.ShadowLogSum) / (w0 + e.st.ShadowWeight)
		out.PerInstance = math.Exp(logP)
		out.Factor = out.PerInstance / base
		out.Confidence = e.st.ShadowWeight
		if math.Abs(out.Factor-1) > 0.01 {
			out.Source = CapacityFromShadows
		}
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// TrippingSignal is the signal configuration the loop runs: Signal, with
// its trip delta chosen from the shadow model when it is known, so that
// the signal trips when the live instances reach TripUtilization. A
// saturated shadow applies r·C of the f·w·u·C mutations its live instance
// at utilization u sends it, so the delta (live - shadow)/live is
// 1 - r/(f·w·u): the trip delta for u = TripUtilization is 1 - u*/u with
// u* = r/(f·w), never below 0.01 (the shadows cannot trip before they
// saturate), and clears at 40% of it.
func (c Config) TrippingSignal() signal.Config {
	s := c.Signal
	m := c.Capacity.Shadows
	if !m.Known() {
		return s
	}
	trip := max(0.01, 1-m.SaturationUtilization()/c.TripUtilization)
	s.Trip, s.Clear = trip, 0.4*trip
	s.Window, s.MinDuration = time.Minute, 0
	return s
}
