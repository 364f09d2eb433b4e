package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Launch handles EC2 state-change notifications for the running state: an
// instance of an enrolled group that is not itself a shadow gets its shadow
// (shadow.Manager.Ensure, idempotent: a repeated or forged event for an
// instance that has one changes nothing). What the event claims is checked
// against EC2 first: an event saying running for an instance that is not
// running is refused.
type Launch struct {
	d Deps
	base
}

// NewLaunch returns the launch handler.
func NewLaunch(d Deps) (*Launch, error) {
	if err := d.check("launch"); err != nil {
		return nil, err
	}
	return &Launch{d: d, base: d.base("launch")}, nil
}

// Handle is the launch function's HandleFunc.
func (h *Launch) Handle(ctx context.Context, payload []byte) (Response, error) {
	ev, err := h.d.Registry.Parse(payload)
	if err != nil {
		return h.ignore(ctx, eventCode(err), err.Error()), nil
	}
	sc, ok := ev.(InstanceStateChange)
	if !ok {
		return h.ignore(ctx, "unexpected-event", fmt.Sprintf("launch handles instance state changes, not %T", ev)), nil
	}
	if sc.State != shadow.Running {
		return h.ignore(ctx, "state", "launch acts on running, not "+string(sc.State), "instance", sc.InstanceID), nil
	}
	found, err := h.d.Fleet.Describe(ctx, []string{sc.InstanceID})
	if err != nil {
		return Response{}, fmt.Errorf("describing instance %s: %w", sc.InstanceID, err)
	}
	if len(found) == 0 {
		return h.ignore(ctx, "not-found", "EC2 does not know the instance", "instance", sc.InstanceID), nil
	}
	inst := found[0]
	if inst.State != shadow.Running {
		r := h.refuse(ctx, "state-mismatch", fmt.Sprintf("event says running, EC2 says %s", inst.State), "instance", inst.ID, "event_id", sc.EventID)
		r.Instance = inst.ID
		return r, nil
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
