package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Terminate handles EC2 state-change notifications for shutting-down and
// terminated:
//   - a live instance gone: its shadow is retired (terminated, record
//     deleted; stray shadows of it terminated too);
//   - one of our shadows gone while its live instance runs: it is replaced
//     (the next generation launched);
//   - anything else: nothing.
//
// EC2 is asked first: an event naming an instance that EC2 still reports
// running (a forged or confused event) is refused, logged and counted, and
// changes nothing. Only instances carrying our shadow tags are ever
// terminated (checked by the Manager and again by the Fleet).
type Terminate struct {
	d Deps
	base
	stack string
}

// NewTerminate returns the terminate handler.
func NewTerminate(d Deps) (*Terminate, error) {
	if err := d.check("terminate"); err != nil {
		return nil, err
	}
	return &Terminate{d: d, base: d.base("terminate"), stack: d.Manager.Config().Stack}, nil
}

// Handle is the terminate function's HandleFunc.
func (h *Terminate) Handle(ctx context.Context, payload []byte) (Response, error) {
	ev, err := h.d.Registry.Parse(payload)
	if err != nil {
		return h.ignore(ctx, eventCode(err), err.Error()), nil
	}
	var sc InstanceStateChange
	switch e := ev.(type) {
	case InstanceStateChange:
		if !e.State.Gone() {
			return h.ignore(ctx, "state", "terminate acts on shutting-down and terminated, not "+string(e.State), "instance", e.InstanceID), nil
		}
		sc = e
	case GroupInstanceEvent:
		// Auto Scaling's terminate successful: the instance left its group
		// for EC2 (terminated). Into the warm pool it is stopped, not
		// gone: the reconciler retires its shadow (not in service).
		if e.Launch {
			return h.ignore(ctx, "unexpected-event", "terminate acts on terminate successful, not launch successful", "instance", e.InstanceID), nil
		}
		if e.Destination == PlaceWarmPool {
			return h.ignore(ctx, "warm-pool", "the instance went to the warm pool; the reconciler retires its shadow", "instance", e.InstanceID, "group", e.Group), nil
		}
		sc = InstanceStateChange{EventID: e.EventID, InstanceID: e.InstanceID, State: shadow.Terminated, Time: e.Time, Region: e.Region, Account: e.Account}
	default:
		return h.ignore(ctx, "unexpected-event", fmt.Sprintf("terminate handles instance state changes, not %T", ev)), nil
	}
	id := sc.InstanceID
	found, err := h.d.Fleet.Describe(ctx, []string{id})
	if err != nil {
		return Response{}, fmt.Errorf("describing instance %s: %w", id, err)
	}
	var inst shadow.Instance
	if len(found) > 0 {
		inst = found[0]
		if !inst.State.Gone() {
			r := h.refuse(ctx, "state-mismatch", fmt.Sprintf("event says %s, EC2 says %s", sc.State, inst.State), "instance", id, "event_id", sc.EventID)
			r.Instance = id
			return r, nil
		}
	}
	// Which shadow record, if any, knows this instance as its shadow? EC2
	// tags tell while EC2 still reports the instance; the records tell after.
	var rec shadow.Record
	owner := ""
	switch {
	case inst.ID != "" && inst.LooksLikeShadow() && !inst.IsShadow(h.stack):
		return h.ignore(ctx, "other-stack", "the instance is another stack's shadow", "instance", id, "stack_tag", inst.Tags[shadow.TagStack]), nil
	case inst.ID != "" && inst.IsShadow(h.stack):
		owner = inst.Tags[shadow.TagLive]
	case inst.ID == "":
		recs, err := h.d.Records.List(ctx)
		if err != nil {
			return Response{}, fmt.Errorf("listing shadow records: %w", err)
		}
		for _, r := range recs {
			if r.ShadowID == id {
				owner = r.LiveID
				break
			}
		}
	}
	if owner != "" {
		return h.shadowGone(ctx, id, owner, sc.State)
	}
	if inst.ID != "" && inst.LooksLikeShadow() {
		return Response{Outcome: OutcomeNoop, Instance: id, Reason: "a shadow without a live instance tag"}, nil
	}
	// A live instance (or one EC2 has forgotten): retire its shadow.
	rec, err = h.d.Records.Get(ctx, id)
	hadRecord := err == nil
	if err != nil && !errors.Is(err, shadow.ErrNotFound) {
		return Response{}, fmt.Errorf("reading the shadow record of %s: %w", id, err)
	}
	if err := h.d.Manager.Retire(ctx, id); err != nil {
		if errors.Is(err, shadow.ErrNotOwned) {
			r := h.refuse(ctx, "not-owned", err.Error(), "instance", id)
			r.Instance = id
			return r, nil
		}
		return Response{}, fmt.Errorf("retiring the shadow of %s: %w", id, err)
	}
	if !hadRecord {
		return Response{Outcome: OutcomeNoop, Instance: id, Live: id, Reason: "no shadow record; stray shadows checked"}, nil
	}
	h.log.InfoContext(ctx, "live instance gone, shadow retired", "live", id, "shadow", rec.ShadowID)
	return Response{Outcome: OutcomeRetired, Instance: id, Live: id, Shadow: rec.ShadowID}, nil
}

// shadowGone handles one of our shadows going away.
func (h *Terminate) shadowGone(ctx context.Context, id, live string, state shadow.State) (Response, error) {
	rec, err := h.d.Records.Get(ctx, live)
	if errors.Is(err, shadow.ErrNotFound) {
		return Response{Outcome: OutcomeNoop, Instance: id, Live: live, Shadow: id, Reason: "no shadow record for its live instance"}, nil
	}
	if err != nil {
		return Response{}, fmt.Errorf("reading the shadow record of %s: %w", live, err)
	}
	if rec.ShadowID != id {
		return Response{Outcome: OutcomeNoop, Instance: id, Live: live, Shadow: id, Reason: "not the recorded shadow (replaced or stray)"}, nil
	}
	if rec.Status == shadow.Retiring {
		return Response{Outcome: OutcomeNoop, Instance: id, Live: live, Shadow: id, Reason: "its live instance is being retired"}, nil
	}
	lives, err := h.d.Fleet.Describe(ctx, []string{live})
	if err != nil {
		return Response{}, fmt.Errorf("describing live instance %s: %w", live, err)
	}
	if len(lives) == 0 || lives[0].State.Gone() {
		if err := h.d.Manager.Retire(ctx, live); err != nil {
			return Response{}, fmt.Errorf("retiring the shadow of %s: %w", live, err)
		}
		return Response{Outcome: OutcomeRetired, Instance: id, Live: live, Shadow: id, Reason: "the live instance is gone too"}, nil
	}
	next, err := h.d.Manager.Replace(ctx, live, "shadow "+id+" is "+string(state))
	switch {
	case err == nil:
		return Response{Outcome: OutcomeReplaced, Instance: id, Live: live, Shadow: next.ShadowID, Reason: "shadow " + string(state)}, nil
	case errors.Is(err, shadow.ErrConflict):
		// Another invocation (the other state's event) replaced it first.
		return Response{Outcome: OutcomeNoop, Instance: id, Live: live, Reason: "replacement already under way"}, nil
	case errors.Is(err, shadow.ErrPoolFull), errors.Is(err, shadow.ErrNoPool):
		return Response{Outcome: OutcomeDeferred, Instance: id, Live: live, Reason: err.Error()}, nil
	case errors.Is(err, shadow.ErrBackoff), errors.Is(err, shadow.ErrReplaceLimit):
		// A shadow that keeps dying: the reconciler replaces it once its
		// backoff is over (or, past the group's hourly cap, the next hour).
		h.log.WarnContext(ctx, "shadow replacement deferred", "live", live, "shadow", id, "err", err)
		return Response{Outcome: OutcomeDeferred, Instance: id, Live: live, Reason: err.Error()}, nil
	}
	return Response{}, fmt.Errorf("replacing the shadow of %s: %w", live, err)
}
