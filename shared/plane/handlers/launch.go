package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// Launch handles the events of a live instance's arrival: Auto Scaling's
// "EC2 Instance Launch Successful" (the instance entered its group; EC2 may
// still report it pending) and EC2's state-change notification for the
// running state. An instance of an enrolled group that is not itself a
// shadow gets its shadow (shadow.Manager.Ensure, idempotent: a repeated or
// forged event for an instance that has one changes nothing). What the
// event claims is checked against EC2 first; EC2 is eventually consistent,
// so an instance it does not show yet (or shows pending where running was
// said) is looked at again, within LaunchOptions.ConsistencyWindow of the
// event's time, and then refused or ignored.
type Launch struct {
	d   Deps
	opt LaunchOptions
	base
}

// LaunchOptions tune the launch handler's patience with EC2's eventual
// consistency.
type LaunchOptions struct {
	// ConsistencyWindow is how long after the event's time an instance
	// EC2 does not show, or shows pending, is taken for EC2 lagging
	// behind the event rather than for a stale or forged event (5 minutes:
	// Lambda's two asynchronous retries come about 1 and 3 minutes later).
	ConsistencyWindow time.Duration
	// PollFor bounds the looking again within one invocation (10 s, the
	// first wait 1 s, doubling); past it, while still within the window,
	// the invocation fails so that Lambda retries it.
	PollFor   time.Duration
	PollFirst time.Duration
	// Sleep waits (the clock's time in tests); nil sleeps for real.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultLaunchOptions are the deployed ones.
func DefaultLaunchOptions() LaunchOptions {
	return LaunchOptions{ConsistencyWindow: 5 * time.Minute, PollFor: 10 * time.Second, PollFirst: time.Second}
}

// ErrNotYetVisible: EC2 does not show the instance (or not in the state
// the event says) yet, within the consistency window: retry.
var ErrNotYetVisible = errors.New("instance not yet visible as the event says")

// NewLaunch returns the launch handler with DefaultLaunchOptions.
func NewLaunch(d Deps) (*Launch, error) { return NewLaunchWith(d, DefaultLaunchOptions()) }

// NewLaunchWith returns the launch handler; zero options take their defaults.
func NewLaunchWith(d Deps, opt LaunchOptions) (*Launch, error) {
	if err := d.check("launch"); err != nil {
		return nil, err
	}
	def := DefaultLaunchOptions()
	if opt.ConsistencyWindow <= 0 {
		opt.ConsistencyWindow = def.ConsistencyWindow
	}
	if opt.PollFor <= 0 {
		opt.PollFor = def.PollFor
	}
	if opt.PollFirst <= 0 {
		opt.PollFirst = def.PollFirst
	}
	if opt.Sleep == nil {
		opt.Sleep = sleep
	}
	return &Launch{d: d, opt: opt, base: d.base("launch")}, nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Handle is the launch function's HandleFunc.
func (h *Launch) Handle(ctx context.Context, payload []byte) (Response, error) {
	ev, err := h.d.Registry.Parse(payload)
	if err != nil {
		return h.ignore(ctx, eventCode(err), err.Error()), nil
	}
	var id, eventID, eventGroup string
	var at time.Time
	fromGroup := false
	switch e := ev.(type) {
	case InstanceStateChange:
		if e.State != shadow.Running {
			return h.ignore(ctx, "state", "launch acts on running, not "+string(e.State), "instance", e.InstanceID), nil
		}
		id, eventID, at = e.InstanceID, e.EventID, e.Time
	case GroupInstanceEvent:
		if !e.Launch {
			return h.ignore(ctx, "unexpected-event", "launch acts on launch successful, not terminate successful", "instance", e.InstanceID), nil
		}
		if e.Destination != "" && e.Destination != PlaceGroup {
			return h.ignore(ctx, "warm-pool", "the instance went to "+e.Destination+", not into service", "instance", e.InstanceID, "group", e.Group), nil
		}
		id, eventID, at, eventGroup, fromGroup = e.InstanceID, e.EventID, e.Time, e.Group, true
	case LaunchAction:
		return h.launchAction(ctx, e)
	default:
		return h.ignore(ctx, "unexpected-event", fmt.Sprintf("launch handles instance launches, not %T", ev)), nil
	}
	return h.ensure(ctx, id, eventID, at, eventGroup, fromGroup)
}

// launchAction handles the plane's launch lifecycle hook: the instance
// waits in Pending:Wait until its shadow is ensured, then goes on
// (CompleteLifecycleAction CONTINUE), so the shadow exists before the
// instance is in service. The plane never holds a launch for its own
// sake: whatever Ensure answers (ensured, pool full, not enrolled...) the
// action is continued; only a transient error leaves it waiting, for
// Lambda's retry, bounded by the hook's own timeout (whose default result
// must be CONTINUE). Another hook's actions are not the plane's.
func (h *Launch) launchAction(ctx context.Context, e LaunchAction) (Response, error) {
	if h.d.Lifecycle == nil || h.d.LaunchHook == "" || e.Hook != h.d.LaunchHook {
		return h.ignore(ctx, "other-hook", "the plane completes only its own launch hook ("+h.d.LaunchHook+"), not "+clip(e.Hook), "instance", e.InstanceID, "group", e.Group), nil
	}
	resp := Response{Outcome: OutcomeNoop, Instance: e.InstanceID, Reason: "launched into the warm pool: no shadow"}
	if e.Destination == "" || e.Destination == PlaceGroup {
		var err error
		if resp, err = h.ensure(ctx, e.InstanceID, e.EventID, e.Time, e.Group, true); err != nil {
			return Response{}, err // retried; the hook waits (at most its timeout)
		}
	}
	err := h.d.Lifecycle.Continue(ctx, e.Group, e.Hook, e.InstanceID, e.Token)
	switch {
	case err == nil:
		resp.Reason = strings.TrimPrefix(resp.Reason+"; lifecycle action continued", "; ")
		h.log.InfoContext(ctx, "lifecycle action continued", "instance", e.InstanceID, "group", e.Group, "hook", e.Hook, "outcome", resp.Outcome)
	case errors.Is(err, shadow.ErrNotOwned), errors.Is(err, shadow.ErrNotFound), errors.Is(err, shadow.ErrInvalid):
		// Not ours to change (a group not tagged enrolled), or the action
		// is gone (completed, timed out): the hook's timeout or its
		// completion stands.
		h.log.WarnContext(ctx, "lifecycle action not completed", "instance", e.InstanceID, "group", e.Group, "hook", e.Hook, "err", err)
		resp.Reason = strings.TrimPrefix(resp.Reason+"; lifecycle action not completed: "+err.Error(), "; ")
	default:
		return Response{}, fmt.Errorf("continuing the launch of %s: %w", e.InstanceID, err)
	}
	return resp, nil
}

// ensure gives the instance an event names its shadow, after checking it
// against EC2 and Auto Scaling.
func (h *Launch) ensure(ctx context.Context, id, eventID string, at time.Time, eventGroup string, fromGroup bool) (Response, error) {
	inst, refused, err := h.observe(ctx, id, eventID, at, fromGroup)
	if err != nil || refused != nil {
		if refused != nil {
			return *refused, nil
		}
		return Response{}, err
	}
	if inst.LooksLikeShadow() {
		return h.ignore(ctx, "is-shadow", "the instance is a shadow", "instance", inst.ID), nil
	}
	group := inst.Group
	if group == "" {
		if group, err = h.d.Groups.GroupOf(ctx, inst.ID); err != nil {
			return Response{}, fmt.Errorf("finding the group of %s: %w", inst.ID, err)
		}
	}
	if group == "" {
		return h.ignore(ctx, "not-in-group", "the instance belongs to no Auto Scaling group", "instance", inst.ID), nil
	}
	if eventGroup != "" && eventGroup != group {
		r := h.refuse(ctx, "group-mismatch", fmt.Sprintf("event names group %s, the instance is in %s", clip(eventGroup), group), "instance", inst.ID, "event_id", eventID)
		r.Instance = inst.ID
		return r, nil
	}
	g, err := h.d.Groups.Group(ctx, group)
	if errors.Is(err, shadow.ErrNotFound) {
		return h.ignore(ctx, "not-in-group", "the instance's Auto Scaling group does not exist", "instance", inst.ID, "group", group), nil
	}
	if err != nil {
		return Response{}, fmt.Errorf("describing group %s: %w", group, err)
	}
	if !g.Enrolled() {
		return h.ignore(ctx, "not-enrolled", "the instance's group is not enrolled", "instance", inst.ID, "group", group), nil
	}
	inst.Group = group
	rec, err := h.d.Manager.Ensure(ctx, inst)
	switch {
	case err == nil:
		h.log.InfoContext(ctx, "shadow ensured", "live", inst.ID, "shadow", rec.ShadowID, "status", rec.Status, "generation", rec.Generation)
		return Response{Outcome: OutcomeEnsured, Instance: inst.ID, Live: inst.ID, Shadow: rec.ShadowID, Reason: "shadow " + string(rec.Status)}, nil
	case errors.Is(err, shadow.ErrPoolFull), errors.Is(err, shadow.ErrNoPool):
		h.log.WarnContext(ctx, "shadow deferred", "live", inst.ID, "az", inst.AZ, "err", err)
		return Response{Outcome: OutcomeDeferred, Instance: inst.ID, Live: inst.ID, Reason: err.Error()}, nil
	case errors.Is(err, shadow.ErrRetiring):
		return Response{Outcome: OutcomeNoop, Instance: inst.ID, Live: inst.ID, Reason: err.Error()}, nil
	case errors.Is(err, shadow.ErrIsShadow):
		return h.ignore(ctx, "is-shadow", err.Error(), "instance", inst.ID), nil
	case errors.Is(err, shadow.ErrInvalid), errors.Is(err, catalog.ErrUnknownType), errors.Is(err, catalog.ErrNoFit):
		return h.ignore(ctx, "invalid", err.Error(), "instance", inst.ID), nil
	}
	return Response{}, fmt.Errorf("ensuring the shadow of %s: %w", inst.ID, err)
}

// observe describes the instance the event names, looking again while EC2
// may lag behind the event: not shown yet, or pending where the event said
// running (pending is what a launch-successful event expects: accepted
// when acceptPending). It answers the instance, or a refusal or ignore, or
// an error for Lambda to retry.
func (h *Launch) observe(ctx context.Context, id, eventID string, at time.Time, acceptPending bool) (shadow.Instance, *Response, error) {
	start := h.d.Clock.Now()
	if at.IsZero() || at.After(start) {
		at = start
	}
	wait := h.opt.PollFirst
	for {
		found, err := h.d.Fleet.Describe(ctx, []string{id})
		if err != nil {
			return shadow.Instance{}, nil, fmt.Errorf("describing instance %s: %w", id, err)
		}
		var inst shadow.Instance
		if len(found) > 0 {
			inst = found[0]
			if inst.State == shadow.Running || (acceptPending && inst.State == shadow.Pending) {
				return inst, nil, nil
			}
			if inst.State != shadow.Pending {
				r := h.refuse(ctx, "state-mismatch", fmt.Sprintf("event says running, EC2 says %s", inst.State), "instance", id, "event_id", eventID)
				r.Instance = id
				return shadow.Instance{}, &r, nil
			}
		}
		now := h.d.Clock.Now()
		if now.Sub(at) > h.opt.ConsistencyWindow {
			if inst.ID == "" {
				r := h.ignore(ctx, "not-found", "EC2 does not know the instance", "instance", id, "event_age", now.Sub(at).String())
				return shadow.Instance{}, &r, nil
			}
			r := h.refuse(ctx, "state-mismatch", "event says running, EC2 still says pending", "instance", id, "event_id", eventID)
			r.Instance = id
			return shadow.Instance{}, &r, nil
		}
		if now.Add(wait).Sub(start) > h.opt.PollFor {
			what := "unknown to EC2"
			if inst.ID != "" {
				what = "still pending"
			}
			h.metrics.Add("EventsRetried", metrics.Count, 1, metrics.Dim{Name: "Function", Value: h.function}, metrics.Dim{Name: "Reason", Value: "not-yet-visible"})
			h.log.InfoContext(ctx, "instance not yet as the event says; retried", "instance", id, "ec2", what, "event_age", now.Sub(at).String())
			return shadow.Instance{}, nil, fmt.Errorf("instance %s is %s %s after the event: %w", id, what, now.Sub(at).Round(time.Millisecond), ErrNotYetVisible)
		}
		if err := h.opt.Sleep(ctx, wait); err != nil {
			return shadow.Instance{}, nil, fmt.Errorf("waiting for instance %s: %w", id, err)
		}
		wait *= 2
	}
}
