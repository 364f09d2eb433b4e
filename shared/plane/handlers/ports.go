package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// Groups is Auto Scaling as the handlers need it (awssdk.Groups and memory.Groups in
// production).
type Groups interface {
	// Group returns a group with its instances, or an error wrapping
	// shadow.ErrNotFound.
	Group(ctx context.Context, name string) (asg.Group, error)
	// EnrolledGroups returns every enrolled group with its instances.
	EnrolledGroups(ctx context.Context) ([]asg.Group, error)
	// GroupOf returns the group an instance belongs to, "" when none.
	GroupOf(ctx context.Context, instanceID string) (string, error)
}

// LifecycleActions completes Auto Scaling lifecycle actions
// (awssdk.LifecycleActions).
type LifecycleActions interface {
	// Continue completes the launch lifecycle action of an instance with
	// CONTINUE: it goes on into service. An error wrapping
	// shadow.ErrNotOwned means the group may not be changed by the plane
	// (not tagged shadowscale:enrolled=true).
	Continue(ctx context.Context, group, hook, instanceID, token string) error
}

// Deps are what the lifecycle handlers use. The agents port is the
// Manager's (shadow.Deps.Agents): when it is nil (no agent client wired) the
// reconciler neither reads agent states nor resyncs.
type Deps struct {
	Registry *Registry
	Manager  *shadow.Manager
	Fleet    shadow.Fleet
	Records  shadow.Records
	Groups   Groups
	Clock    clock.Clock
	Metrics  metrics.Sink
	Log      *slog.Logger
	// Lifecycle and LaunchHook: the launch lifecycle hook whose actions
	// the launch handler completes once the shadow is ensured
	// (SHADOWSCALE_LAUNCH_HOOK); none when either is unset.
	Lifecycle  LifecycleActions
	LaunchHook string
	// Legacy moves the shadow records an earlier version stored where
	// this one no longer reads them; the reconciler runs it first (none:
	// nothing to move, as with the in-memory records).
	Legacy shadow.LegacyRecords
}

func (d *Deps) check(function string) error {
	errs := missing(
		dep{"shadow manager", d.Manager != nil},
		dep{"fleet", d.Fleet != nil},
		dep{"records", d.Records != nil},
		dep{"auto scaling groups", d.Groups != nil},
		dep{"clock", d.Clock != nil},
	)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %s handler: %w", shadow.ErrInvalid, function, err)
	}
	if d.Registry == nil {
		d.Registry = DefaultRegistry()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.Discard{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

func (d *Deps) base(function string) base {
	return base{function: function, metrics: d.Metrics, log: d.Log}
}

// eventCode names the reason an event was not parsed.
func eventCode(err error) string {
	if errors.Is(err, ErrUnknownEvent) {
		return "unknown-event"
	}
	return "malformed"
}

// missing returns an error for each dependency that is not set: pairs of
// a name and whether it is set, in the order they are checked.
func missing(deps ...dep) []error {
	var errs []error
	for _, d := range deps {
		if !d.set {
			errs = append(errs, errors.New("no "+d.name))
		}
	}
	return errs
}

// dep is a dependency a constructor checks for: its name in the error,
// and whether it is set.
type dep struct {
	name string
	set  bool
}
