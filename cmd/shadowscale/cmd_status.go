// The operator commands against a deployed stack link the AWS SDK: the
// build tag sim leaves them out (make run builds the simulator alone, fast).

//go:build !sim

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

func init() {
	register(&command{
		name:    "status",
		usage:   "status --group G [--stack NAME] [--json]",
		summary: "a deployed group now: live and shadow instances, shadow health and lag, the current delta",
		run:     runStatus,
	})
}

// lagWindow is how far back status reads the per-instance minutes: the
// forecaster reads 30 minutes for the delta (ForecasterOptions).
const lagWindow = 30 * time.Minute

type statusOut struct {
	Group      string        `json:"group"`
	Enrolled   bool          `json:"enrolled"`
	EnrolledBy []string      `json:"enrolled_by,omitempty"`
	Mode       string        `json:"mode"`
	ModeSource string        `json:"mode_source"`
	Desired    int           `json:"desired"`
	Min        int           `json:"min"`
	Max        int           `json:"max"`
	Capacity   capacity      `json:"capacity"`
	Lives      []liveRow     `json:"lives"`
	Orphans    []shadowRow   `json:"orphan_shadows,omitempty"`
	Signal     *signalOut    `json:"signal,omitempty"`
	Last       *lastDecision `json:"last_decision,omitempty"`
}

type liveRow struct {
	ID        string     `json:"id"`
	AZ        string     `json:"az"`
	Type      string     `json:"type"`
	Lifecycle string     `json:"lifecycle"`
	Health    string     `json:"health"`
	Shadow    *shadowRow `json:"shadow,omitempty"`
	Record    *recordRow `json:"record,omitempty"`
	Lag       *lagRow    `json:"lag,omitempty"`
	// ShadowHealth sums the shadow up: "ok", or what is wrong.
	ShadowHealth string `json:"shadow_health"`
}

type shadowRow struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	AZ         string    `json:"az"`
	State      string    `json:"state"`
	Impaired   bool      `json:"impaired"`
	Generation int       `json:"generation"`
	Live       string    `json:"live"`
	LaunchedAt time.Time `json:"launched_at,omitzero"`
}

type recordRow struct {
	Status     string    `json:"status"`
	ShadowID   string    `json:"shadow_id,omitempty"`
	Generation int       `json:"generation"`
	SyncedAt   time.Time `json:"synced_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// lagRow is a live instance's newest reported minute: how many mutations
// its shadow has applied fewer than it (Behind), and the shadow's backlog.
type lagRow struct {
	Minute        time.Time `json:"minute"`
	LiveApplied   uint64    `json:"live_applied"`
	ShadowApplied uint64    `json:"shadow_applied"`
	Behind        int64     `json:"behind"`
	ShadowBacklog uint64    `json:"shadow_backlog"`
}

// signalOut is the group's live/shadow signal as the forecaster last read
// it (from its newest audited decision).
type signalOut struct {
	At         time.Time `json:"at"`
	Delta      *float64  `json:"delta"`
	Live       *float64  `json:"live_per_min"`
	Shadow     *float64  `json:"shadow_per_min"`
	Backlog    *float64  `json:"backlog"`
	LagMinutes *float64  `json:"lag_minutes"`
	Tripped    bool      `json:"tripped"`
	Behind     int       `json:"behind"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	pf, group, ok, err := groupFlags(e, "status", args)
	if !ok {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, g, err := openGroup(ctx, e, pf, group)
	if err != nil {
		return err
	}
	g.EnrolledByName = contains(p.Settings.Groups, g.Name)
	out := statusOut{Group: g.Name, Enrolled: g.Enrolled(), Desired: g.Desired, Min: g.Min, Max: g.Max, Capacity: p.capacityOf(g)}
	if g.EnrolledByTag {
		out.EnrolledBy = append(out.EnrolledBy, "tag")
	}
	if g.EnrolledByName {
		out.EnrolledBy = append(out.EnrolledBy, "name")
	}
	out.Mode, out.ModeSource = p.modeOf(g)

	fleet, err := awssdk.NewFleet(p.ec2, awssdk.FleetConfig{Stack: p.Stack, LaunchTemplates: map[string]string{"arm64": p.template}}, nil, nil)
	if err != nil {
		return err
	}
	all, err := fleet.Shadows(ctx, "")
	if err != nil {
		return err
	}
	shadows := map[string]shadowRow{} // live -> its shadow (the newest generation)
	for _, s := range all {
		if s.Tags[shadow.TagGroup] != g.Name {
			continue
		}
		r := shadowRow{ID: s.ID, Type: s.Type, AZ: s.AZ, State: string(s.State), Impaired: s.Impaired, Generation: s.Generation(), Live: s.Tags[shadow.TagLive], LaunchedAt: s.LaunchedAt}
		if prev, ok := shadows[r.Live]; !ok || prev.Generation < r.Generation {
			if ok {
				out.Orphans = append(out.Orphans, prev)
			}
			shadows[r.Live] = r
		} else {
			out.Orphans = append(out.Orphans, r)
		}
	}
	recs, err := p.table.Records().List(ctx)
	if err != nil {
		return err
	}
	records := map[string]shadow.Record{}
	for _, r := range recs {
		if r.Group == g.Name {
			records[r.LiveID] = r
		}
	}
	now := time.Now()
	mins, err := p.table.History().ResourceMinutes(ctx, g.Name, now.Add(-lagWindow), now)
	if err != nil {
		return err
	}
	lags := newestMinutes(mins)
	inGroup := map[string]bool{}
	for _, i := range g.Instances {
		inGroup[i.ID] = true
		lr := liveRow{ID: i.ID, AZ: i.AZ, Type: i.Type, Lifecycle: i.Lifecycle, Health: i.Health}
		if s, ok := shadows[i.ID]; ok {
			lr.Shadow = &s
		}
		if r, ok := records[i.ID]; ok {
			lr.Record = &recordRow{Status: string(r.Status), ShadowID: r.ShadowID, Generation: r.Generation, SyncedAt: r.SyncedAt, UpdatedAt: r.UpdatedAt}
		}
		if m, ok := lags[i.ID]; ok {
			lr.Lag = &lagRow{Minute: m.Minute, LiveApplied: m.LiveApplied, ShadowApplied: m.ShadowApplied, Behind: int64(m.LiveApplied) - int64(m.ShadowApplied), ShadowBacklog: m.ShadowBacklog}
		}
		lr.ShadowHealth = shadowHealth(out.Enrolled, lr)
		out.Lives = append(out.Lives, lr)
	}
	for live, s := range shadows {
		if !inGroup[live] {
			out.Orphans = append(out.Orphans, s)
		}
	}
	sort.Slice(out.Orphans, func(a, b int) bool { return out.Orphans[a].ID < out.Orphans[b].ID })
	ds, err := p.lastDecisions(ctx, g.Name, lookback, 1)
	if err != nil {
		return err
	}
	if len(ds) == 1 {
		b := readBody(ds[0])
		out.Last = &lastDecision{At: ds[0].At, Action: b.Action, From: b.From, To: b.To, Acted: b.Acted, Mode: b.Mode, Reason: b.Reason, Outcome: b.Outcome}
		sig := b.Loop.Signal
		out.Signal = &signalOut{At: ds[0].At, Delta: b.Delta, Live: sig.Live, Shadow: sig.Shadow, Backlog: sig.Backlog, LagMinutes: sig.LagMinutes, Tripped: sig.Tripped, Behind: sig.Behind}
		if out.Signal.Delta == nil {
			out.Signal.Delta = sig.Delta
		}
	}
	if pf.json {
		return printJSON(e.stdout, out)
	}
	return printStatus(e, out, now)
}

// newestMinutes keeps each resource's newest minute.
func newestMinutes(mins []mutation.ResourceCount) map[string]mutation.ResourceCount {
	out := map[string]mutation.ResourceCount{}
	for _, m := range mins {
		if prev, ok := out[m.Resource]; !ok || m.Minute.After(prev.Minute) {
			out[m.Resource] = m
		}
	}
	return out
}

// shadowHealth sums a live instance's shadow up.
func shadowHealth(enrolled bool, l liveRow) string {
	switch {
	case l.Shadow == nil && l.Record == nil && !enrolled:
		return "none (group not enrolled)"
	case l.Shadow == nil && l.Record == nil:
		return "no shadow yet (the launch handler or the next reconcile makes it)"
	case l.Record == nil:
		return "no record (the reconciler adopts or retires the shadow)"
	case l.Record.Status != string(shadow.Active):
		return "record " + l.Record.Status
	case l.Shadow == nil || (l.Record.ShadowID != "" && l.Shadow.ID != l.Record.ShadowID):
		return "shadow gone (the next reconcile replaces it)"
	case l.Shadow.State != string(shadow.Running):
		return "shadow " + l.Shadow.State
	case l.Shadow.Impaired:
		return "shadow impaired (status checks)"
	}
	return "ok"
}

func printStatus(e *env, s statusOut, now time.Time) error {
	enrolled := "not enrolled"
	if s.Enrolled {
		enrolled = "enrolled by " + strings.Join(s.EnrolledBy, "+")
	}
	fmt.Fprintf(e.stdout, "group %s: %s, mode %s (%s), desired %d (min %d, max %d), capacity %s\n", s.Group, enrolled, s.Mode, s.ModeSource, s.Desired, s.Min, s.Max, s.Capacity)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "LIVE\tAZ\tTYPE\tSTATE\tSHADOW\tSHADOW TYPE\tSHADOW STATE\tGEN\tSHADOW HEALTH\tBEHIND\tBACKLOG\tREPORTED\n")
	for _, l := range s.Lives {
		sid, stype, sstate, gen := "-", "-", "-", "-"
		if l.Shadow != nil {
			sid, stype, sstate, gen = l.Shadow.ID, l.Shadow.Type, l.Shadow.State, fmt.Sprint(l.Shadow.Generation)
		}
		behind, backlog, reported := "-", "-", "-"
		if l.Lag != nil {
			behind, backlog, reported = fmt.Sprint(l.Lag.Behind), fmt.Sprint(l.Lag.ShadowBacklog), ago(now, l.Lag.Minute.Add(time.Minute))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.AZ, l.Type, l.Lifecycle, sid, stype, sstate, gen, l.ShadowHealth, behind, backlog, reported)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Lives) == 0 {
		fmt.Fprintln(e.stdout, "no live instances")
	}
	if len(s.Orphans) > 0 {
		var ids []string
		for _, o := range s.Orphans {
			ids = append(ids, fmt.Sprintf("%s (of %s, %s)", o.ID, o.Live, o.State))
		}
		fmt.Fprintf(e.stdout, "shadows without their live instance (the reconciler retires them): %s\n", strings.Join(ids, ", "))
	}
	if sig := s.Signal; sig != nil {
		fmt.Fprintf(e.stdout, "signal at the last decision (%s, %s): delta %s, live %s/min, shadow %s/min, shadow backlog %s, lag %s min, tripped %v, %d instances behind\n",
			hhmm(sig.At), ago(now, sig.At), optNum(sig.Delta), optNum(sig.Live), optNum(sig.Shadow), optNum(sig.Backlog), optNum(sig.LagMinutes), sig.Tripped, sig.Behind)
	}
	if d := s.Last; d != nil {
		b := decisionBody{Action: d.Action, From: d.From, To: d.To, Acted: d.Acted}
		fmt.Fprintf(e.stdout, "last decision (%s): %s: %s\n", hhmm(d.At), b.summary(), d.Reason)
	} else {
		fmt.Fprintln(e.stdout, "no decision in the last 7 days (the forecaster has not run on this group)")
	}
	return nil
}
