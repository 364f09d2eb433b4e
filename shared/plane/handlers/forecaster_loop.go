package handlers

import (
	"encoding/json"
	"errors"
	"time"
)

// The control loop, as the forecaster drives it. The loop itself (forecast,
// delta signal, scaling policy and its guardrails) lives in its own
// package; the forecaster only feeds it observations, persists its state,
// audits and carries out its decisions. These types are the seam.

// Observation is one minute of a group, as the loop takes it.
type Observation struct {
	// Minute is the start of the minute the counts cover.
	Minute time.Time
	// Demand is the mutations the group's live agents newly accepted in
	// the minute (the fan-out's group counter); NaN when the minute has no
	// data: the fan-out recorded nothing for the group (an outage of the
	// fan-out or of its counters), which is not zero demand.
	Demand float64
	// Resources are the minute's per-resource samples, for the live/shadow
	// delta (only resources whose live and shadow applied totals were
	// reported this minute and before).
	Resources []ResourceSample
	// Utilization is the group's average CPU utilization in the minute, in
	// percent, as CloudWatch reports it (CPUUtilization of the group's
	// instances, 1-minute); NaN when it was not read (a per-instance
	// capacity is configured) or is not available.
	//
	// Desired is the group's desired count; InService and Warming count
	// its instances in units of InstanceType (an instance of another type,
	// in the middle of a resize, by its vCPUs' share).
	Utilization float64
	// The group now (the same for every minute of one run: Auto Scaling
	// reports only the present).
	Desired, InService, Warming int
	InstanceType                string
}

// ResourceSample is one resource's minute: what its live and its shadow
// agent applied during it, and the shadow's backlog at its end.
type ResourceSample struct {
	Resource      string
	LiveApplied   float64
	ShadowApplied float64
	ShadowBacklog float64
}

// Actions a Decision may carry (the control loop's vocabulary).
const (
	ActionNone          = "none"
	ActionLaunchOne     = "launch-one"
	ActionLaunchCluster = "launch-cluster"
	ActionScaleIn       = "scale-in"
	ActionResize        = "resize"
)

// Decision is what the loop decided for a group, and why.
type Decision struct {
	Action string
	// From and To are the desired capacity before and after.
	From, To int
	// Max is the group's maximum the decision assumes: above the group's
	// own when the policy raises it (the forecaster sets it first).
	Max int
	// InstanceType is the type new instances get (a resize changes it).
	InstanceType string
	// Reason says why, in words.
	Reason string
}

// Changes reports whether the decision would change the group (an action
// other than none).
func (d Decision) Changes() bool { return d.Action != "" && d.Action != ActionNone }

// LoopResult is one minute's outcome.
type LoopResult struct {
	Decision Decision
	// ForecastP50 and ForecastP90 are the demand forecast at the loop's
	// lead horizon, in mutations a minute; NaN when it could not forecast.
	ForecastP50, ForecastP90 float64
	// Delta is the live/shadow delta signal; NaN when unknown.
	Delta float64
	// PerInstance is the per-instance capacity the step planned with
	// (mutations a minute) and CapacitySource where that figure came from
	// (control.Capacity*): every audit record says both.
	PerInstance    float64
	CapacitySource string
	// Detail is the loop's full result, stored in the audit record (any
	// JSON-encodable value; may be nil).
	Detail any
}

// Loop is one group's control loop.
//
// Contract: Step takes the minutes in order, each once; State returns what
// to pass back to the LoopFactory next run (JSON, at most a few hundred KB).
type Loop interface {
	Step(o Observation) (LoopResult, error)
	State() (json.RawMessage, error)
}

// LoopGroup is what a loop is configured with for a group.
type LoopGroup struct {
	Name     string
	Min, Max int
	// Mode is "act" or "forecast-only", as decided for this run.
	Mode         string
	InstanceType string
	// Tags are the group's Auto Scaling tags.
	Tags map[string]string
}

// LoopFactory returns a group's loop restored from saved (nil: a fresh
// one). A loop whose predictor keeps no state of its own resumes from the
// demand history (DemandHistory), which it reads only when it needs it.
// An error wrapping ErrNeedHistory says the saved state cannot be used
// (another version): the forecaster then takes a fresh loop and rebuilds it
// by stepping it through the history. Any other error fails the group's
// run.
type LoopFactory func(g LoopGroup, saved json.RawMessage, demand DemandHistory) (Loop, error)

// DemandHistory returns the group's demand a minute, oldest first, ending
// with the last minute the saved state observed and starting at most the
// forecaster's rebuild window before it (NaN for a minute without data, as
// Observation.Demand).
type DemandHistory func() ([]float64, error)

// ErrNeedHistory: a saved loop state the loop cannot resume from.
var ErrNeedHistory = errors.New("control loop state unusable: rebuild from history")
