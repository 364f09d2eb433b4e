// Package asg is an EC2 Auto Scaling group as the control plane sees it:
// its bounds, enrollment, mode, launch template and members. It holds no SDK
// types; the awssdk adapter builds it from DescribeAutoScalingGroups and the
// memory adapter keeps it in a map, and the handlers' ports speak it.
package asg

import (
	"errors"
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
