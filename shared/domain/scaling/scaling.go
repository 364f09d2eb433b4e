// Package scaling is the scaling policy: from the load forecast, the shadow
// delta signal and the group's capacity it decides, and explains in words,
// one of: no change, launch one instance, launch a cluster of N, scale in, or
// resize to the next larger instance type, inside guardrails (min/max, max
// step, per-direction stabilization windows, forecast-only mode, and what to
// do when the forecast exceeds the max).
//
// The Policy holds only small, JSON-serializable state (the stabilization
// timers and the recent plans), so the forecaster Lambda can persist it
// between invocations. It takes its time from its Input: no clock, no I/O.
package scaling

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/forecast"
)

// Mode says whether decisions are carried out.
type Mode string

// Modes. ForecastOnly (the default, like AWS predictive scaling's
// ForecastOnly) recommends without acting; Act lets the caller change the
// group.
const (
	ForecastOnly Mode = "forecast-only"
	Act          Mode = "act"
)

// OverMax says what to do when the plan exceeds the group's max.
type OverMax string

// HonourMax keeps the max; RaiseMax raises it, AWS-style, to the plan plus
// MaxBufferPct percent.
const (
	HonourMax OverMax = "honour"
	RaiseMax  OverMax = "raise"
)

// Action is the kind of a decision.
type Action string

// Actions.
const (
	NoChange      Action = "none"
	LaunchOne     Action = "launch-one"
	LaunchCluster Action = "launch-cluster"
	ScaleIn       Action = "scale-in"
	Resize        Action = "resize"
)

// Config holds the policy's guardrails and sizing. DefaultConfig gives sane
// values; every field can be overridden (SHADOWSCALE_POLICY in the Lambda).
type Config struct {
	Mode     Mode `json:"mode"`
	Min, Max int  `json:"-"`
	// MaxStepOut and MaxStepIn bound the instances one decision adds or
	// removes.
	MaxStepOut int `json:"max_step_out"`
	MaxStepIn  int `json:"max_step_in"`
	// ScaleOutWindow: the plan must stay above the desired count this long
	// before a scale-out (0: at once). ScaleInWindow: a scale-in goes no lower
	// than the highest plan of this window, so it waits until the need has
	// been lower for that long; its default is the launch lead (5 minutes):
	// no capacity is given back that the plan wanted within the time it
	// takes to get it back. Scale-in is meant to be the slower.
	ScaleOutWindow time.Duration `json:"scale_out_window"`
	ScaleInWindow  time.Duration `json:"scale_in_window"`
	// TargetUtilization is the utilization the plan sizes the group for at
	// the forecast's upper bound. The default, 0.9, is the line above which
	// a minute counts as at risk: the calibrated upper bound (the control
	// loop's 97.5% quantile of the forecast's errors) lands on it, so that
	// demand crosses it in about 1 minute in 40, and the typical minute runs
	// well below it. (Planning the bound at 100%, as before, ran most
	// minutes above 90%.)
	TargetUtilization float64 `json:"target_utilization"`
	// Safety sizes the upper bound from the forecast: mean + Safety·(P90 -
	// mean); 1 plans for the P90 itself. An Input may carry a calibrated
	// value that replaces it.
	Safety float64 `json:"safety"`
	// BackstopUtilization: when the in-service instances run above it now,
	// the group is sized for the current demand at once, whatever the
	// forecast says (the reactive backstop).
	BackstopUtilization float64 `json:"backstop_utilization"`
	// OverMax and MaxBufferPct: what to do when the plan exceeds Max.
	OverMax      OverMax `json:"over_max"`
	MaxBufferPct float64 `json:"max_buffer_pct"`
	// MaxCeiling bounds a raised max (OverMax = raise): the max is never
	// raised above it, whatever the plan (a safety net against a runaway
	// forecast). 0 means twice Max.
	MaxCeiling int `json:"max_ceiling"`
	// AllowResize lets the policy resize to the family's next larger type
	// when the group is at its max and the larger type would hold the plan.
	AllowResize bool `json:"allow_resize"`
	// ScaleInCooldown is the least time between two scale-ins.
	ScaleInCooldown time.Duration `json:"scale_in_cooldown"`
}

// DefaultConfig returns forecast-only defaults for a group of 1 to 20.
func DefaultConfig() Config {
	return Config{
		Mode: ForecastOnly, Min: 1, Max: 20,
		MaxStepOut: 10, MaxStepIn: 5,
		ScaleOutWindow: 0, ScaleInWindow: 5 * time.Minute, ScaleInCooldown: 5 * time.Minute,
		TargetUtilization: 0.9, Safety: 1, BackstopUtilization: 1,
		OverMax: HonourMax, MaxBufferPct: 10,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Mode != ForecastOnly && c.Mode != Act {
		errs = append(errs, fmt.Errorf("mode %q: must be %q or %q", c.Mode, ForecastOnly, Act))
	}
	if c.Min < 0 {
		errs = append(errs, fmt.Errorf("min %d: must not be negative", c.Min))
	}
	if c.Max < max(c.Min, 1) {
		errs = append(errs, fmt.Errorf("max %d: must be at least min %d and at least 1", c.Max, c.Min))
	}
	if c.MaxStepOut < 1 || c.MaxStepIn < 1 {
		errs = append(errs, fmt.Errorf("max step out %d / in %d: must be at least 1", c.MaxStepOut, c.MaxStepIn))
	}
	if c.ScaleOutWindow < 0 || c.ScaleInWindow < 0 || c.ScaleInCooldown < 0 {
		errs = append(errs, fmt.Errorf("windows out %v / in %v and scale-in cooldown %v: must not be negative", c.ScaleOutWindow, c.ScaleInWindow, c.ScaleInCooldown))
	}
	if !(c.TargetUtilization > 0 && c.TargetUtilization <= 1) {
		errs = append(errs, fmt.Errorf("target utilization %v: must be in (0, 1]", c.TargetUtilization))
	}
	if !(c.Safety >= 0) || math.IsInf(c.Safety, 0) {
		errs = append(errs, fmt.Errorf("safety %v: must be finite and not negative", c.Safety))
	}
	if !(c.BackstopUtilization > 0) || math.IsInf(c.BackstopUtilization, 0) {
		errs = append(errs, fmt.Errorf("backstop utilization %v: must be positive", c.BackstopUtilization))
	}
	if c.OverMax != HonourMax && c.OverMax != RaiseMax {
		errs = append(errs, fmt.Errorf("over max %q: must be %q or %q", c.OverMax, HonourMax, RaiseMax))
	}
	if !(c.MaxBufferPct >= 0 && c.MaxBufferPct <= 1000) {
		errs = append(errs, fmt.Errorf("max buffer %v%%: must be in [0, 1000]", c.MaxBufferPct))
	}
	if c.MaxCeiling != 0 && c.MaxCeiling < c.Max {
		errs = append(errs, fmt.Errorf("max ceiling %d: must be 0 (twice max) or at least max %d", c.MaxCeiling, c.Max))
	}
	return errors.Join(errs...)
}

// ceiling is the highest a raised max may go.
func (c Config) ceiling() int {
	if c.MaxCeiling > 0 {
		return c.MaxCeiling
	}
	return 2 * c.Max
}

// Sizes is the part of the instance catalog a resize needs.
//
// Contract: Lookup returns the named type or an error; NextLarger returns
// the next larger type of the same family, or an error when there is none.
// *catalog.Catalog satisfies it.
type Sizes interface {
	Lookup(name string) (catalog.InstanceType, error)
	NextLarger(name string) (catalog.InstanceType, error)
}

var _ Sizes = (*catalog.Catalog)(nil)

// Signal is what the policy uses of the shadow delta.
type Signal struct {
	Tripped    bool    // shadows are falling behind (with hysteresis)
	Delta      float64 // (live - shadow) / live over the window; NaN when unknown
	LagMinutes float64 // how far behind the shadows are
	// LiveUtil is the live instances' utilization as the saturated shadows
	// show it, and SaturationIn when (in steps) it reaches 100% at its
	// current rise; NaN when not known.
	LiveUtil, SaturationIn float64
}

// Input is one decision's view of the world.
type Input struct {
	Now time.Time
	// Forecast is the demand forecast, one point a Step, starting one Step
	// after Now (Mean, P10, P90; the same unit as Demand).
	Forecast forecast.Forecast
	// Safety, when positive, replaces Config.Safety (e.g. a value the
	// control loop calibrated on the forecaster's recent errors).
	Safety float64
	// MinSpread floors the forecast's spread P90 - mean the margin is a
	// multiple of (0: none).
	MinSpread float64
	// Step is the spacing of the forecast points and of the decisions.
	Step time.Duration
	// Lead is how long a launched instance takes to serve (pending plus
	// warm-up); Horizon is how far past that the plan looks.
	Lead, Horizon time.Duration
	// Demand is the demand of the last Step (e.g. mutations a minute);
	// PerInstance what one instance serves in a Step at 100%.
	Demand, PerInstance float64
	// Trend is the demand's recent change a Step (e.g. over the signal
	// window; 0 or NaN when unknown). When the shadows fall behind, the
	// policy extrapolates it over the lead: the fast trigger.
	Trend float64
	// The group now.
	Desired, InService, Warming int
	InstanceType                string
	Signal                      Signal
	// NoData: the step's demand is unknown (the counters had an outage),
	// not zero. The policy may still scale out on its forecast, but never
	// scales in on a step it did not see.
	NoData bool
}

// Decision is what the policy decided, and why.
type Decision struct {
	At           time.Time `json:"at"`
	Action       Action    `json:"action"`
	From         int       `json:"from"`
	To           int       `json:"to"`
	InstanceType string    `json:"instance_type,omitempty"`
	// Max is the group's max the decision assumes (raised above the
	// configured max only with OverMax = raise).
	Max    int    `json:"max"`
	Reason string `json:"reason"`
	Mode   Mode   `json:"mode"`
	// Plan is the instance count the forecast and the signals asked for,
	// before the guardrails.
	Plan int `json:"plan"`
}

// Changes reports whether the decision changes the group.
func (d Decision) Changes() bool { return d.Action != NoChange }

// State is the policy's persisted state.
type State struct {
	// Plans are the recent scale-in plans, newest last.
	Plans []PlanPoint `json:"plans,omitempty"`
	// OutSince is the Unix minute since which the plan has exceeded the
	// desired count (0: it does not).
	OutSince int64 `json:"out_since,omitempty"`
	// Max is the effective max when it was raised (0: the configured one).
	Max int `json:"max,omitempty"`
	// LastIn is the Unix minute of the last scale-in (0: none).
	LastIn int64 `json:"last_in,omitempty"`
}

// PlanPoint is one decision's scale-in plan.
type PlanPoint struct {
	Minute int64 `json:"m"`
	Plan   int   `json:"p"`
}

// Policy decides. It is not safe for concurrent use.
type Policy struct {
	cfg   Config
	sizes Sizes
	st    State
}

// New returns a Policy. sizes may be nil when AllowResize is off.
func New(cfg Config, sizes Sizes) (*Policy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scaling config: %w", err)
	}
	if cfg.AllowResize && sizes == nil {
		return nil, errors.New("scaling config: allow resize needs an instance catalog")
	}
	return &Policy{cfg: cfg, sizes: sizes}, nil
}

// Config returns the policy's configuration.
func (p *Policy) Config() Config { return p.cfg }

// State returns a copy of the persisted state.
func (p *Policy) State() State {
	s := p.st
	s.Plans = append([]PlanPoint(nil), p.st.Plans...)
	return s
}

// Restore replaces the state.
func (p *Policy) Restore(s State) { p.st = s }

// ErrBadInput is returned for an input the policy cannot decide on.
var ErrBadInput = errors.New("bad policy input")

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// instances returns how many instances serve demand at utilization u.
func instances(demand, per, u float64) int {
	if !(demand > 0) {
		return 0
	}
	n := math.Ceil(demand/(per*u) - 1e-9)
	if n > 1e6 || math.IsInf(n, 0) {
		return 1e6
	}
	return int(n)
}

func steps(d, step time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + step - 1) / step)
}

// Decide returns the decision for in and advances the stabilization state.
// Bad forecast values (NaN, infinite, negative) are ignored; with no usable
// forecast point the policy sizes for the current demand (reactive). An
// input it cannot decide on at all (no step, no per-instance capacity) is an
// error and changes nothing.
func (p *Policy) Decide(in Input) (Decision, error) {
	if err := in.validate(); err != nil {
		return Decision{}, err
	}
	minute := in.Now.Unix() / 60
	d := Decision{At: in.Now, Action: NoChange, From: in.Desired, To: in.Desired, InstanceType: in.InstanceType, Mode: p.cfg.Mode}
	pl, ok := p.plan(in)
	if !ok {
		d.Reason = "no usable forecast and no usable demand: no change"
		if in.NoData {
			d.Reason = "no data for this step (a counter outage, not zero demand) and no usable forecast: no change"
		}
		p.remember(minute, in.Desired)
		return p.finish(d, in, nil), nil
	}
	d.Plan = pl.out
	d.Max = p.effectiveMax(in, pl.out)
	p.remember(minute, pl.in)
	why := pl.why
	switch {
	case pl.out > in.Desired:
		why = p.scaleOut(&d, in, pl.out, minute, why)
	case pl.in < in.Desired:
		why = p.scaleIn(&d, in, pl.in, minute, why)
	default:
		why = p.hold(&d, in, why)
	}
	if d.Action != NoChange && d.Action != Resize {
		p.st.OutSince = 0
	}
	return p.finish(d, in, why), nil
}

// Hold is a decision to change nothing, for a step the policy cannot size
// (e.g. no capacity figure is known yet): the group's count is remembered
// as the step's plan, so a later scale-in still waits out its window.
func (p *Policy) Hold(in Input, reason string) Decision {
	minute := in.Now.Unix() / 60
	p.remember(minute, in.Desired)
	p.st.OutSince = 0
	d := Decision{At: in.Now, Action: NoChange, From: in.Desired, To: in.Desired, InstanceType: in.InstanceType, Mode: p.cfg.Mode, Plan: in.Desired}
	return p.finish(d, in, []string{reason})
}

// validate refuses inputs the policy cannot size from.
func (in Input) validate() error {
	if in.Step <= 0 {
		return fmt.Errorf("step %v: must be positive: %w", in.Step, ErrBadInput)
	}
	if !(in.PerInstance > 0) || !finite(in.PerInstance) {
		return fmt.Errorf("per-instance capacity %v: must be positive: %w", in.PerInstance, ErrBadInput)
	}
	if in.Desired < 0 || in.InService < 0 || in.Warming < 0 {
		return fmt.Errorf("group counts desired %d, in service %d, warming %d: must not be negative: %w", in.Desired, in.InService, in.Warming, ErrBadInput)
	}
	return nil
}

// sizing is what the inputs call for: out, the instances needed from the
// lead on (what a scale-out aims at); in, the most needed over the whole
// horizon (below which no scale-in goes); why, in words.
type sizing struct {
	out, in int
	why     []string
}

// plan sizes the group from the forecast, then lets the reactive backstop
// and the shadows' signal raise it. It reports false when neither the
// forecast nor the demand is usable.
func (p *Policy) plan(in Input) (sizing, bool) {
	c := p.cfg
	fp := p.forecastPlan(in)
	demand := in.Demand
	if !finite(demand) || demand < 0 {
		demand = math.NaN()
	}
	cur := instances(demand, in.PerInstance, c.TargetUtilization)
	var pl sizing
	switch {
	case fp.out < 0 && math.IsNaN(demand):
		return sizing{}, false
	case fp.out < 0:
		pl = sizing{out: cur, in: cur}
		pl.why = append(pl.why, fmt.Sprintf("no usable forecast: sizing for the current demand %.0f at %.0f%%", demand, 100*c.TargetUtilization))
	default:
		pl = sizing{out: fp.out, in: fp.in}
		// Every step says this: built without fmt, the same text (a week's
		// rebuild of a loop formats it ten thousand times).
		pl.why = append(pl.why, "forecast upper bound "+formatRound(fp.peakUpper)+" in "+(time.Duration(fp.peakH)*in.Step).String()+
			" needs "+strconv.Itoa(fp.out)+" at "+formatRound(100*c.TargetUtilization)+"%")
	}
	// Where demand is heading: the current demand plus its recent trend
	// over the lead and the horizon (never below the current demand).
	ahead := demand
	if finite(in.Trend) && in.Trend > 0 && !math.IsNaN(demand) {
		ahead = demand + in.Trend*float64(fp.end)
	}
	fast := instances(ahead, in.PerInstance, c.TargetUtilization)
	// The reactive backstop: overloaded now, whatever the forecast said.
	if !math.IsNaN(demand) && in.InService > 0 {
		util := demand / (float64(in.InService) * in.PerInstance)
		if util > c.BackstopUtilization && fast > pl.out {
			pl.out = fast
			pl.why = append(pl.why, fmt.Sprintf("in-service instances at %.0f%% now: sizing for the demand a lead ahead on its trend (%d)", 100*util, fast))
		}
	} else if !math.IsNaN(demand) && in.InService == 0 && cur > pl.out {
		pl.out = cur
	}
	// The fast trigger: shadows falling behind say the live instances are
	// near saturation. Size at least for where the demand is heading on its
	// recent trend. (It does not hold scale-ins: a shadow sized too small
	// for the write share is behind all the time, and would pin the group.)
	if in.Signal.Tripped {
		msg := fmt.Sprintf("shadows falling behind (delta %.1f%%, %.1f min lag)", 100*in.Signal.Delta, in.Signal.LagMinutes)
		if !math.IsNaN(demand) && fast > pl.out {
			pl.out = fast
			msg += fmt.Sprintf(": sizing for the demand a lead ahead on its trend (%d)", fast)
		}
		pl.why = append(pl.why, msg)
	}
	pl.in = max(pl.in, pl.out)
	if in.NoData {
		pl.in = max(pl.in, in.Desired)
		pl.why = append(pl.why, "no data for this step (a counter outage, not zero demand): no scale-in")
	}
	return pl, true
}

// fplan is the forecast's plan: out and in as in sizing (-1: no usable
// forecast), the step and upper bound of the peak that sets out, and end,
// the lead plus the horizon in steps.
type fplan struct {
	out, in, peakH, end int
	peakUpper           float64
}

// forecastPlan sizes for the forecast's upper bound: scale-out looks from
// the lead on, scale-in over all of the lead plus the horizon.
func (p *Policy) forecastPlan(in Input) fplan {
	safety := p.cfg.Safety
	if in.Safety > 0 && finite(in.Safety) {
		safety = in.Safety
	}
	lead := max(1, steps(in.Lead, in.Step))
	fp := fplan{out: -1, in: -1, end: lead + steps(in.Horizon, in.Step)}
	f := in.Forecast
	for h := 1; h <= fp.end && h <= len(f.Mean); h++ {
		mean := f.Mean[h-1]
		if !finite(mean) {
			continue
		}
		mean = max(0, mean)
		upper := mean
		if h <= len(f.P90) && finite(f.P90[h-1]) {
			if spread := max(f.P90[h-1]-mean, in.MinSpread); spread > 0 {
				upper = mean + safety*spread
			}
		}
		n := instances(upper, in.PerInstance, p.cfg.TargetUtilization)
		fp.in = max(fp.in, n)
		if (h >= lead || h == len(f.Mean)) && n > fp.out {
			fp.out, fp.peakH, fp.peakUpper = n, h, upper
		}
	}
	return fp
}

// effectiveMax is the max the decision may go to: the configured max, or
// (OverMax RaiseMax) the plan plus the buffer, up to the ceiling, kept
// while the group is above the configured max.
func (p *Policy) effectiveMax(in Input, planOut int) int {
	c := p.cfg
	effMax := c.Max
	if c.OverMax == RaiseMax && planOut > c.Max {
		effMax = max(c.Max, min(c.ceiling(), int(math.Ceil(float64(planOut)*(1+c.MaxBufferPct/100)-1e-9))))
	} else if c.OverMax == RaiseMax && p.st.Max > c.Max && in.Desired > c.Max {
		effMax = p.st.Max // keep a raised max while the group is above the configured one
	}
	p.st.Max = 0
	if effMax > c.Max {
		p.st.Max = effMax
	}
	return effMax
}

// scaleOut grows the group toward planOut: after the scale-out window, by
// at most the max step, up to the effective max (d.Max), or resizes when
// the max is reached.
func (p *Policy) scaleOut(d *Decision, in Input, planOut int, minute int64, why []string) []string {
	c := p.cfg
	if p.st.OutSince == 0 {
		p.st.OutSince = minute
	}
	if held := time.Duration(minute-p.st.OutSince+1) * in.Step; c.ScaleOutWindow > 0 && held < c.ScaleOutWindow {
		return append(why, fmt.Sprintf("above %d for %v of the %v scale-out window: waiting", in.Desired, held, c.ScaleOutWindow))
	}
	to := min(planOut, in.Desired+c.MaxStepOut, d.Max)
	if planOut > in.Desired+c.MaxStepOut {
		why = append(why, fmt.Sprintf("max step %d", c.MaxStepOut))
	}
	if to <= in.Desired {
		if r, ok := p.resize(in, planOut, d.Max); ok {
			d.Action, d.To, d.InstanceType = Resize, r.count, r.typ
			return append(why, r.why)
		}
		return append(why, fmt.Sprintf("the plan %d exceeds the max %d: holding the max", planOut, d.Max))
	}
	if planOut > d.Max {
		why = append(why, fmt.Sprintf("capped at the max %d", d.Max))
	}
	d.To = to
	if to-in.Desired == 1 {
		d.Action = LaunchOne
		return append(why, fmt.Sprintf("launch one instance (%d -> %d)", in.Desired, to))
	}
	d.Action = LaunchCluster
	return append(why, fmt.Sprintf("launch a cluster of %d (%d -> %d)", to-in.Desired, in.Desired, to))
}

// scaleIn shrinks the group toward planIn: no lower than any plan of the
// scale-in window nor the min, by at most the max step, after the
// cooldown.
func (p *Policy) scaleIn(d *Decision, in Input, planIn int, minute int64, why []string) []string {
	c := p.cfg
	p.st.OutSince = 0
	floor := c.Min
	for _, pp := range p.st.Plans {
		floor = max(floor, pp.Plan)
	}
	to := min(max(floor, in.Desired-c.MaxStepIn, c.Min), d.Max)
	if to >= in.Desired {
		return append(why, fmt.Sprintf("need %d, but the plan was %d within the %v scale-in window: holding %d", planIn, floor, c.ScaleInWindow, in.Desired))
	}
	if since := time.Duration(minute-p.st.LastIn) * time.Minute; p.st.LastIn != 0 && since < c.ScaleInCooldown {
		return append(why, "need "+strconv.Itoa(planIn)+", but the last scale-in was "+since.String()+" ago (cooldown "+c.ScaleInCooldown.String()+"): holding "+strconv.Itoa(in.Desired))
	}
	p.st.LastIn = minute
	d.Action, d.To = ScaleIn, to
	return append(why, fmt.Sprintf("scale in %d -> %d (the need stayed at or below %d for %v)", in.Desired, to, floor, c.ScaleInWindow))
}

// hold keeps the group as it is, or brings it up to the min.
func (p *Policy) hold(d *Decision, in Input, why []string) []string {
	p.st.OutSince = 0
	if in.Desired < p.cfg.Min {
		d.Action, d.To = LaunchCluster, p.cfg.Min
		if p.cfg.Min-in.Desired == 1 {
			d.Action = LaunchOne
		}
		return append(why, fmt.Sprintf("below the min %d", p.cfg.Min))
	}
	return append(why, fmt.Sprintf("holding %d", in.Desired))
}

// remember records a scale-in plan and drops those older than the window.
func (p *Policy) remember(minute int64, plan int) {
	win := int64(p.cfg.ScaleInWindow / time.Minute)
	ps := p.st.Plans[:0]
	for _, pp := range p.st.Plans {
		if pp.Minute > minute-win && pp.Minute < minute {
			ps = append(ps, pp)
		}
	}
	p.st.Plans = append(ps, PlanPoint{Minute: minute, Plan: plan})
}

func (p *Policy) finish(d Decision, in Input, why []string) Decision {
	if d.Max == 0 {
		d.Max = p.cfg.Max
	}
	if len(why) > 0 {
		d.Reason = strings.Join(why, "; ")
	}
	if d.Mode == ForecastOnly && d.Action != NoChange {
		d.Reason += " (forecast-only: recommended, not acted on)"
	}
	return d
}

type resizeTo struct {
	typ   string
	count int
	why   string
}

// resize finds the next larger type that holds the plan within the max.
func (p *Policy) resize(in Input, plan, effMax int) (resizeTo, bool) {
	if !p.cfg.AllowResize || p.sizes == nil || in.InstanceType == "" {
		return resizeTo{}, false
	}
	cur, err := p.sizes.Lookup(in.InstanceType)
	if err != nil {
		return resizeTo{}, false
	}
	next, err := p.sizes.NextLarger(in.InstanceType)
	if err != nil {
		return resizeTo{}, false
	}
	ratio := float64(next.VCPU) / float64(cur.VCPU)
	count := int(math.Ceil(float64(plan)/ratio - 1e-9))
	if count > effMax {
		return resizeTo{}, false
	}
	count = max(count, p.cfg.Min)
	return resizeTo{typ: next.Name, count: count, why: fmt.Sprintf("at the max %d and the plan needs %d %s: resize to %d %s (%.0fx the capacity each)", effMax, plan, cur.Name, count, next.Name, ratio)}, true
}

// formatRound is fmt's %.0f (both round with strconv): v rounded to a
// whole number; NaN, +Inf and -Inf as such.
func formatRound(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
