// Package asg is an EC2 Auto Scaling group as the control plane sees it:
// its bounds, enrollment, mode, launch template and members. It holds no SDK
// types; the awssdk adapter builds it from DescribeAutoScalingGroups and the
// memory adapter keeps it in a map, and the handlers' ports speak it.
package asg

import (
	"errors"
	"strconv"
	"strings"
)

// Errors of the Auto Scaling ports (test with errors.Is).
var (
	// ErrNotEnrolled: a write on a group that does not carry
	// shadowscale:enrolled=true. The plane refuses it.
	ErrNotEnrolled = errors.New("auto scaling group is not enrolled (tag shadowscale:enrolled=true)")
	// ErrUnsupported: the group is in a shape the plane does not handle
	// (e.g. a resize of a group with a mixed instances policy, or no
	// launch template to read an instance type from).
	ErrUnsupported = errors.New("unsupported")
	// ErrInProgress: the change is already under way (e.g. an instance
	// refresh already running).
	ErrInProgress = errors.New("already in progress")
)

// Group modes (tag shadowscale:mode).
const (
	ModeAct          = "act"
	ModeForecastOnly = "forecast-only"
)

// Group is an Auto Scaling group.
type Group struct {
	Name    string
	Min     int
	Max     int
	Desired int
	Tags    map[string]string
	// EnrolledByTag: the group carries shadowscale:enrolled=true, the only
	// enrollment that allows writes. EnrolledByName: it is listed in
	// SHADOWSCALE_GROUPS.
	EnrolledByTag  bool
	EnrolledByName bool
	// Mode is the shadowscale:mode tag ("act", "forecast-only"), "" when
	// absent: the caller applies SHADOWSCALE_MODE then.
	Mode string
	// LaunchTemplate is the group's template; empty ID when the group uses a
	// launch configuration or a mixed instances policy (MixedInstances).
	LaunchTemplate  LaunchTemplateRef
	MixedInstances  bool
	AZs             []string
	Instances       []Instance
	SubnetIDs       []string
	DefaultCooldown int
}

// Enrolled reports whether the group gets shadows and forecasts.
func (g Group) Enrolled() bool { return g.EnrolledByTag || g.EnrolledByName }

// InService returns the ids of the instances that count as the group's live
// instances: every lifecycle state but terminating, detached, detaching and
// the warm pool's.
func (g Group) InService() []string {
	var out []string
	for _, i := range g.Instances {
		if i.Live() {
			out = append(out, i.ID)
		}
	}
	return out
}

// Instance is one member of a group.
type Instance struct {
	ID             string
	AZ             string
	Type           string
	Lifecycle      string
	Health         string
	LaunchTemplate LaunchTemplateRef
}

// Live reports whether the member is (or is becoming) one of the group's
// serving instances.
func (i Instance) Live() bool {
	l := i.Lifecycle
	return !strings.HasPrefix(l, "Terminat") && !strings.HasPrefix(l, "Detach") && !strings.HasPrefix(l, "Warmed")
}

// LaunchTemplateRef names a launch template version.
type LaunchTemplateRef struct {
	ID      string
	Name    string
	Version string // a number, "$Latest" or "$Default"
}

// Kinds of a group's own scaling (Scaling.Kind): Auto Scaling's policy
// types and its scheduled actions.
const (
	ScalingTargetTracking = "target-tracking"
	ScalingStep           = "step"
	ScalingSimple         = "simple"
	ScalingPredictive     = "predictive"
	ScalingScheduled      = "scheduled"
)

// Scaling is one of a group's own scaling policies or scheduled actions:
// another controller of the group's capacity.
type Scaling struct {
	Group string
	Name  string
	// Kind is one of the Scaling* kinds.
	Kind string
	// Enabled: a policy Auto Scaling runs (a scheduled action always is).
	Enabled bool
	// DisableScaleIn: a target-tracking policy that only ever adds
	// capacity.
	DisableScaleIn bool
	// PredictiveMode is a predictive policy's mode: "ForecastOnly" or
	// "ForecastAndScale".
	PredictiveMode string
	// SetsDesired: a scheduled action that sets the desired capacity (one
	// that changes only the min or the max does not).
	SetsDesired bool
}

// Conflicts reports whether the policy or action sets the group's desired
// capacity itself, so that it and the plane would both steer it: an
// enabled target-tracking policy that may scale in, an enabled step or
// simple policy, a predictive policy that scales (ForecastAndScale), a
// scheduled action that sets the desired capacity. What coexists: disabled
// policies, target tracking with DisableScaleIn (it only adds capacity: a
// reactive backstop above the plane's plan, which the plane sees as
// capacity the next minute), predictive policies in ForecastOnly mode,
// scheduled actions that change only the min or the max (the plane reads
// both every run and stays inside them).
func (s Scaling) Conflicts() bool {
	switch s.Kind {
	case ScalingScheduled:
		return s.SetsDesired
	case ScalingTargetTracking:
		return s.Enabled && !s.DisableScaleIn
	case ScalingPredictive:
		return s.Enabled && s.PredictiveMode != "ForecastOnly"
	default:
		return s.Enabled
	}
}

// String names the policy or action for an audit reason, e.g.
// `target-tracking policy "cpu50"`.
func (s Scaling) String() string {
	if s.Kind == ScalingScheduled {
		return "scheduled action " + strconv.Quote(s.Name)
	}
	return s.Kind + " policy " + strconv.Quote(s.Name)
}
