// The operator commands against a deployed stack link the AWS SDK: the
// build tag sim leaves them out (make run builds the simulator alone, fast).

//go:build !sim

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

func init() {
	register(&command{
		name:    "enroll",
		usage:   "enroll --group G [--stack NAME] [--json]",
		summary: "enroll a group: tag it shadowscale:enrolled=true (shadows and forecasts; its capacity is not touched) and put the plane's launch lifecycle hook on it, if the stack has one",
		run:     runEnroll,
	})
	register(&command{
		name:    "unenroll",
		usage:   "unenroll --group G [--yes] [--stack NAME] [--json]",
		summary: "un-enroll a group: remove its shadowscale tags and the plane's launch lifecycle hook; the reconciler retires its shadows (its capacity is not touched; a group in act mode needs --yes)",
		run:     runUnenroll,
	})
	register(&command{
		name:    "mode",
		usage:   "mode --group G forecast-only|act [--yes] [--stack NAME] [--json]",
		summary: "set a group's mode (its shadowscale:mode tag); act shows what will happen and needs --yes",
		run:     runMode,
	})
}

// tagChange is what enroll and mode print with --json.
type tagChange struct {
	Group   string `json:"group"`
	Tag     string `json:"tag"`
	From    string `json:"from"`
	To      string `json:"to"`
	Changed bool   `json:"changed"`
	// NeedsYes: the change was not made because it needs --yes.
	NeedsYes bool     `json:"needs_confirmation,omitempty"`
	Desired  int      `json:"desired"`
	Min      int      `json:"min"`
	Max      int      `json:"max"`
	Capacity capacity `json:"capacity"`
	Lives    int      `json:"live_instances"`
	Mode     string   `json:"mode"`
	// Act is what switching to act means for the group (mode act only).
	Act *actPlan `json:"act,omitempty"`
	// LaunchHook is the group's launch lifecycle hook of the plane's name
	// (enroll, when the stack has one).
	LaunchHook *awssdk.LaunchHook `json:"launch_hook,omitempty"`
	// LaunchHookNotPut says why enroll did not put the stack's hook on the
	// group (its lifecycle actions would not reach the plane).
	LaunchHookNotPut string `json:"launch_hook_not_put,omitempty"`
}

// actPlan is what an operator sees before switching a group to act.
type actPlan struct {
	// Min and Max bound the desired capacity the forecaster sets;
	// MaxCeiling is how far it may raise the max (0: it may not).
	Min        int `json:"min"`
	Max        int `json:"max"`
	MaxCeiling int `json:"max_ceiling,omitempty"`
	// MayDo says, in words, what the forecaster may do to the group.
	MayDo            []string                 `json:"may_do"`
	Policies         []awssdk.ScalingPolicy   `json:"scaling_policies"`
	ScheduledActions []awssdk.ScheduledAction `json:"scheduled_actions"`
	LastDecisions    []decisionOut            `json:"last_decisions"`
	DecisionsSince   time.Time                `json:"decisions_since"`
	Warnings         []string                 `json:"warnings,omitempty"`
	// BlockedBy names the group's own policies and scheduled actions that
	// scale it: while one is there, the forecaster does not act on the
	// group (docs/ACT.md, section 2).
	BlockedBy []string `json:"blocked_by,omitempty"`
	decisions []control.AuditRecord
}

func runEnroll(ctx context.Context, e *env, args []string) error {
	pf, group, ok, err := groupFlags(e, "enroll", args)
	if !ok {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, g, err := openGroup(ctx, e, pf, group)
	if err != nil {
		return err
	}
	out := tagChange{Group: g.Name, Tag: shadow.TagEnrolled, From: g.Tags[shadow.TagEnrolled], To: "true",
		Desired: g.Desired, Min: g.Min, Max: g.Max, Capacity: p.capacityOf(g), Lives: len(g.InService())}
	out.Mode, _ = p.modeOf(g)
	if !g.EnrolledByTag {
		if err := awssdk.TagGroup(ctx, p.asg, g.Name, shadow.TagEnrolled, "true"); err != nil {
			return err
		}
		after, err := p.group(ctx, g.Name)
		if err != nil {
			return err
		}
		if !after.EnrolledByTag {
			return fmt.Errorf("group %s: the tag %s=true did not read back after it was set", g.Name, shadow.TagEnrolled)
		}
		if after.Desired != g.Desired || after.Min != g.Min || after.Max != g.Max {
			return fmt.Errorf("group %s: its capacity changed while it was enrolled (desired %d -> %d, min %d -> %d, max %d -> %d): not by this command, which only tags", g.Name, g.Desired, after.Desired, g.Min, after.Min, g.Max, after.Max)
		}
		out.Changed = true
	}
	tagged := out.Changed
	// The launch lifecycle hook the plane completes, when it has one: put
	// after the tag, which is what lets the launch function complete it.
	if name := p.launchHook(); name != "" {
		if ok, why := p.launchActionsReach(g); !ok {
			out.LaunchHookNotPut = why
			warn(e, "group %s: the launch lifecycle hook %s was not put: %s, so its lifecycle actions would never reach the plane and every launch would wait out the hook's timeout. Its shadows come as without a hook (from the reconciler within 5 minutes when the rules do not match the group); for the hook, deploy with -c asgEventsAllGroups=true or name the group in groups", g.Name, name, why)
		} else {
			h, err := awssdk.EnsureLaunchHook(ctx, p.asg, g.Name, name)
			if err != nil {
				return err
			}
			out.LaunchHook = &h
			out.Changed = out.Changed || h.Put
			if pr := h.Problem(); pr != "" {
				warn(e, "group %s: %s", g.Name, pr)
			}
		}
	}
	if pf.json {
		return printJSON(e.stdout, out)
	}
	hookLine := func() {
		if h := out.LaunchHook; h != nil && h.Put {
			fmt.Fprintf(e.stdout, "Launch lifecycle hook %s put on %s (%s, heartbeat %d s, default result %s): a new instance waits in Pending:Wait until its shadow is ensured, %d s at most.\n",
				h.Name, g.Name, h.Transition, h.HeartbeatSeconds, h.DefaultResult, h.HeartbeatSeconds)
		}
	}
	if !tagged {
		if !out.Changed {
			fmt.Fprintf(e.stdout, "%s is already enrolled (%s=true): nothing changed\n", g.Name, shadow.TagEnrolled)
			return nil
		}
		fmt.Fprintf(e.stdout, "%s is already enrolled (%s=true).\n", g.Name, shadow.TagEnrolled)
		hookLine()
		return nil
	}
	fmt.Fprintf(e.stdout, "%s enrolled: tagged %s=true. Its capacity is untouched (desired %d, min %d, max %d).\n", g.Name, shadow.TagEnrolled, g.Desired, g.Min, g.Max)
	hookLine()
	fmt.Fprintf(e.stdout, "What follows, from the plane (stack %s):\n", p.Stack)
	fmt.Fprintf(e.stdout, "  - each of its %d live instances gets a shadow in its AZ's shadow pool: new instances at launch, the running ones at the next reconcile (within 5 minutes);\n", out.Lives)
	fmt.Fprintf(e.stdout, "  - the forecaster forecasts it every minute, capacity %s, in mode %s;\n", out.Capacity, out.Mode)
	fmt.Fprintf(e.stdout, "  - it changes the group's capacity only in act mode: see `shadowscale mode --group %s act`.\n", g.Name)
	return nil
}

func runMode(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, commands["mode"])
	pf := addPlaneFlags(fs)
	group := fs.String("group", "", "the Auto Scaling `group` (required)")
	yes := fs.Bool("yes", false, "make a change that needs confirmation (switching to act)")
	since := fs.Duration("since", 6*time.Hour, "how far back the decisions shown before switching to act go")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	// The mode is positional; flags may follow it.
	target := fs.Arg(0)
	if fs.NArg() > 1 {
		if ok, err := parseFlags(fs, fs.Args()[1:]); !ok {
			return err
		}
		if fs.NArg() > 0 {
			return usageErrorf("unexpected argument %q", fs.Arg(0))
		}
	}
	if *group == "" {
		return usageErrorf("--group G is required")
	}
	if target != asg.ModeAct && target != asg.ModeForecastOnly {
		return usageErrorf("the mode %q: want %s or %s", target, asg.ModeForecastOnly, asg.ModeAct)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, g, err := openGroup(ctx, e, pf, *group)
	if err != nil {
		return err
	}
	cur, curSource := p.modeOf(g)
	out := tagChange{Group: g.Name, Tag: shadow.TagMode, From: g.Tags[shadow.TagMode], To: target,
		Desired: g.Desired, Min: g.Min, Max: g.Max, Capacity: p.capacityOf(g), Lives: len(g.InService()), Mode: cur}
	switch {
	case g.Tags[shadow.TagMode] == target:
		// Already so: nothing to do, nothing to confirm.
	case target == asg.ModeForecastOnly:
		if err := setMode(ctx, p, g, target); err != nil {
			return err
		}
		out.Changed, out.Mode = true, target
	default: // act
		if !g.EnrolledByTag {
			return noGroupf("group %s is not enrolled by its tag: the plane acts only on groups tagged %s=true (its IAM policy allows no other); enroll it first: shadowscale enroll --group %s", g.Name, shadow.TagEnrolled, g.Name)
		}
		if out.Act, err = planAct(ctx, p, g, *since); err != nil {
			return err
		}
		if cur != asg.ModeAct && !*yes {
			out.NeedsYes = true
			if pf.json {
				if err := printJSON(e.stdout, out); err != nil {
					return err
				}
			} else {
				printActPlan(e, g, cur, curSource, out)
			}
			return needConfirmf("%s stays %s; run again with --yes to switch it to act", g.Name, cur)
		}
		if err := setMode(ctx, p, g, target); err != nil {
			return err
		}
		out.Changed, out.Mode = true, target
	}
	if pf.json {
		return printJSON(e.stdout, out)
	}
	switch {
	case !out.Changed:
		fmt.Fprintf(e.stdout, "%s is already tagged %s=%s: nothing changed\n", g.Name, shadow.TagMode, target)
	case target == asg.ModeAct:
		fmt.Fprintf(e.stdout, "%s: mode act (was %s, %s). The forecaster acts on it from its next run (within a minute); back with `shadowscale mode --group %s forecast-only`.\n", g.Name, cur, curSource, g.Name)
	default:
		fmt.Fprintf(e.stdout, "%s: mode forecast-only (was %s, %s). The forecaster stops changing it from its next run; what it did stays.\n", g.Name, cur, curSource)
	}
	return nil
}

// setMode tags the group and reads the tag back; the group's capacity is
// not touched.
func setMode(ctx context.Context, p *plane, g asg.Group, mode string) error {
	if err := awssdk.TagGroup(ctx, p.asg, g.Name, shadow.TagMode, mode); err != nil {
		return err
	}
	after, err := p.group(ctx, g.Name)
	if err != nil {
		return err
	}
	if after.Tags[shadow.TagMode] != mode {
		return fmt.Errorf("group %s: the tag %s=%s did not read back after it was set", g.Name, shadow.TagMode, mode)
	}
	return nil
}

// planAct gathers what switching g to act means: the bounds the forecaster
// works in, the group's own scaling policies and scheduled actions (they
// keep running), and its recent decisions.
func planAct(ctx context.Context, p *plane, g asg.Group, since time.Duration) (*actPlan, error) {
	pl := &actPlan{DecisionsSince: time.Now().Add(-since).UTC()}
	cfg := control.DefaultConfig()
	cfg.PerInstance = 1 // validates before the group's own capacity is known, as the forecaster does
	cfg, err := control.ApplyOverrides(cfg, p.Settings.Policy)
	if err != nil {
		return nil, fmt.Errorf("the plane's policy: %w", err)
	}
	var o control.Overrides
	if len(p.Settings.Policy) > 0 {
		_ = json.Unmarshal(p.Settings.Policy, &o) // ApplyOverrides accepted it
	}
	pl.Min, pl.Max = g.Min, max(g.Max, 1)
	if o.Min != nil {
		pl.Min = *o.Min
	}
	if o.Max != nil {
		pl.Max = *o.Max
	}
	pol := cfg.Policy
	pl.MayDo = append(pl.MayDo, fmt.Sprintf("set the desired capacity between %d and %d (now %d), by at most %d instances up and %d down per decision", pl.Min, pl.Max, g.Desired, pol.MaxStepOut, pol.MaxStepIn))
	if pol.OverMax == scaling.RaiseMax {
		ceiling := pol.MaxCeiling
		if ceiling == 0 {
			ceiling = 2 * pl.Max
		}
		pl.MaxCeiling = ceiling
		pl.MayDo = append(pl.MayDo, fmt.Sprintf("raise the group's max size above %d, up to %d (policy over_max=raise)", pl.Max, ceiling))
	} else {
		pl.MayDo = append(pl.MayDo, fmt.Sprintf("never raise the max size %d (policy over_max=honour)", pl.Max))
	}
	if pol.AllowResize {
		pl.MayDo = append(pl.MayDo, "change the instance type of new instances to the next larger of the family, at the max (policy allow_resize): a new launch template version")
	}
	if c := p.capacityOf(g); c.PerInstance <= 0 {
		pl.Warnings = append(pl.Warnings, "the group has no capacity figure: the forecaster learns it from the group's CPU utilization, and holds the capacity until it has a reading ("+c.Source+")")
	}
	if pl.Policies, err = awssdk.GroupScalingPolicies(ctx, p.asg, g.Name); err != nil {
		return nil, err
	}
	if pl.ScheduledActions, err = awssdk.GroupScheduledActions(ctx, p.asg, g.Name); err != nil {
		return nil, err
	}
	if len(pl.Policies)+len(pl.ScheduledActions) > 0 {
		groups, err := awssdk.NewGroups(p.asg, nil, awssdk.GroupsConfig{}, nil, nil)
		if err != nil {
			return nil, err
		}
		own, err := groups.OwnScaling(ctx, []string{g.Name})
		if err != nil {
			return nil, err
		}
		pl.BlockedBy, pl.Warnings = ownScalingWarnings(own[g.Name], pl.Warnings)
	}
	ds, err := p.lastDecisions(ctx, g.Name, since, 10)
	if err != nil {
		return nil, err
	}
	pl.decisions = ds
	pl.LastDecisions = make([]decisionOut, 0, len(ds))
	for _, d := range ds {
		do := decisionOut{At: d.At, ID: d.ID, Action: d.Action, Mode: d.Mode}
		if json.Valid(d.Body) {
			do.Body = d.Body
		}
		pl.LastDecisions = append(pl.LastDecisions, do)
	}
	return pl, nil
}

func printActPlan(e *env, g asg.Group, cur, curSource string, out tagChange) {
	pl := out.Act
	w := e.stdout
	fmt.Fprintf(w, "Switching %s from %s (%s) to act: from its next run (within a minute) the forecaster may change the group.\n", g.Name, cur, curSource)
	fmt.Fprintf(w, "\nNow: desired %d, min %d, max %d, %d in service; capacity %s.\n", g.Desired, g.Min, g.Max, out.Lives, out.Capacity)
	fmt.Fprintf(w, "\nIn act mode it may:\n")
	for _, s := range pl.MayDo {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	fmt.Fprintf(w, "\nThe group's own scaling policies:")
	if len(pl.Policies) == 0 {
		fmt.Fprintf(w, " none\n")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, sp := range pl.Policies {
			state := "enabled"
			if !sp.Enabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", sp.Name, sp.Type, state, sp.Detail)
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "Its scheduled actions:")
	if len(pl.ScheduledActions) == 0 {
		fmt.Fprintf(w, " none\n")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, a := range pl.ScheduledActions {
			when := a.Recurrence
			if when == "" {
				when = "at " + hhmm(a.Start)
			} else if a.TimeZone != "" {
				when += " (" + a.TimeZone + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\tmin %s max %s desired %s\n", a.Name, when, optInt(a.Min), optInt(a.Max), optInt(a.Desired))
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(w, "\nIts decisions since %s UTC (newest first; in act mode they are carried out):", hhmm(pl.DecisionsSince))
	if len(pl.decisions) == 0 {
		fmt.Fprintf(w, " none\n")
	} else {
		fmt.Fprintln(w)
		for _, d := range pl.decisions {
			b := readBody(d)
			fmt.Fprintf(w, "  %s  %s: %s\n", hhmm(d.At), b.summary(), b.Reason)
		}
	}
	for _, s := range pl.Warnings {
		fmt.Fprintf(w, "\nWarning: %s.\n", s)
	}
	fmt.Fprintf(w, "\nNothing changed. To switch: shadowscale mode --group %s act --yes\n", g.Name)
}

func optInt(v *int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// ownScalingWarnings says which of a group's own policies and scheduled
// actions keep the forecaster from acting on it (asg.Scaling.Conflicts,
// the rule the forecaster applies at every run) and which do not.
func ownScalingWarnings(own []asg.Scaling, warnings []string) (blocked, out []string) {
	var fine []string
	for _, s := range own {
		if s.Conflicts() {
			blocked = append(blocked, s.String())
		} else {
			fine = append(fine, s.String())
		}
	}
	out = warnings
	if len(blocked) > 0 {
		out = append(out, fmt.Sprintf("the forecaster will NOT act on this group while it has %d scaling policies or scheduled actions that scale it (%s): it keeps forecasting and says so in the audit; delete them, or keep one target tracking policy with DisableScaleIn (docs/ACT.md, section 2)", len(blocked), strings.Join(blocked, "; ")))
	}
	if len(fine) > 0 {
		out = append(out, fmt.Sprintf("these of the group's own policies and scheduled actions do not block acting: %s", strings.Join(fine, "; ")))
	}
	return blocked, out
}

// unenrollOut is what unenroll prints with --json.
type unenrollOut struct {
	Group   string `json:"group"`
	Changed bool   `json:"changed"`
	// NeedsYes: the group acts (mode act) and --yes was not given: nothing
	// changed.
	NeedsYes    bool     `json:"needs_confirmation,omitempty"`
	TagsRemoved []string `json:"tags_removed"`
	// LaunchHookDeleted names the plane's launch lifecycle hook deleted
	// from the group ("" when there was none).
	LaunchHookDeleted string `json:"launch_hook_deleted,omitempty"`
	Mode              string `json:"mode"` // the group's mode before
	Desired           int    `json:"desired"`
	Min               int    `json:"min"`
	Max               int    `json:"max"`
	// ShadowsRetired is how many live instances' shadows the reconciler
	// retires (terminates) at its next run.
	ShadowsRetired int `json:"shadows_retired"`
	// OwnScaling names the group's own scaling policies and scheduled
	// actions: what sizes it once the forecaster no longer does.
	OwnScaling []string `json:"own_scaling"`
}

// waitingOnLaunch returns the members of g waiting on a launch lifecycle
// hook (Pending:Wait, or Warmed:Pending:Wait into a warm pool).
func waitingOnLaunch(g asg.Group) []string {
	var ids []string
	for _, i := range g.Instances {
		if strings.HasSuffix(i.Lifecycle, "Pending:Wait") {
			ids = append(ids, i.ID)
		}
	}
	return ids
}

// runUnenroll undoes enroll: the shadowscale tags go (enrolled and mode),
// then the plane's launch lifecycle hook, never while an instance waits on
// it (AWS would abandon its launch). The reconciler's next run retires the
// group's shadows; the group's capacity is not touched.
func runUnenroll(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, commands["unenroll"])
	pf := addPlaneFlags(fs)
	group := fs.String("group", "", "the Auto Scaling `group` (required)")
	yes := fs.Bool("yes", false, "un-enroll a group in act mode (the forecaster sizes it now; afterwards only its own scaling does)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if *group == "" {
		return usageErrorf("--group G is required")
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, g, err := openGroup(ctx, e, pf, *group)
	if err != nil {
		return err
	}
	if g.EnrolledByName {
		return noGroupf("group %s is enrolled by name (the stack's groups, SHADOWSCALE_GROUPS): remove it there and redeploy; removing its tags would not un-enroll it. Nothing changed", g.Name)
	}
	mode, _ := p.modeOf(g)
	out := unenrollOut{Group: g.Name, Mode: mode, Desired: g.Desired, Min: g.Min, Max: g.Max, TagsRemoved: []string{}, OwnScaling: []string{}}
	if g.EnrolledByTag {
		out.ShadowsRetired = len(g.InService())
	}
	var keys []string
	for _, k := range []string{shadow.TagEnrolled, shadow.TagMode} {
		if _, ok := g.Tags[k]; ok {
			keys = append(keys, k)
		}
	}
	hookName := p.launchHook()
	hookThere := false
	if hookName != "" {
		if _, hookThere, err = awssdk.FindLifecycleHook(ctx, p.asg, g.Name, hookName); err != nil {
			return err
		}
	}
	if len(keys) == 0 && !hookThere {
		if pf.json {
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "%s is not enrolled (no %s tag) and has no launch lifecycle hook of the plane: nothing changed\n", g.Name, shadow.TagEnrolled)
		return nil
	}
	pols, err := awssdk.GroupScalingPolicies(ctx, p.asg, g.Name)
	if err != nil {
		return err
	}
	acts, err := awssdk.GroupScheduledActions(ctx, p.asg, g.Name)
	if err != nil {
		return err
	}
	for _, sp := range pols {
		out.OwnScaling = append(out.OwnScaling, "policy "+sp.Name)
	}
	for _, a := range acts {
		out.OwnScaling = append(out.OwnScaling, "scheduled action "+a.Name)
	}
	if g.EnrolledByTag && mode == asg.ModeAct && !*yes {
		out.NeedsYes = true
		if pf.json {
			if err := printJSON(e.stdout, out); err != nil {
				return err
			}
		} else {
			own := "none: its capacity then stays where it is until someone changes it"
			if len(out.OwnScaling) > 0 {
				own = strings.Join(out.OwnScaling, ", ")
			}
			fmt.Fprintf(e.stdout, "%s is in act mode: the forecaster sizes it now (desired %d, min %d, max %d). Once it is un-enrolled nothing of the plane sizes it; its own scaling: %s.\n", g.Name, g.Desired, g.Min, g.Max, own)
		}
		return needConfirmf("%s stays enrolled; run again with --yes to un-enroll it", g.Name)
	}
	// A hook with a launch waiting on it cannot go (AWS abandons that
	// launch): say so before anything changes.
	if hookThere {
		if w := waitingOnLaunch(g); len(w) > 0 {
			return fmt.Errorf("group %s: %d instances wait on launch lifecycle hooks (Pending:Wait: %s); deleting the hook %s now would make AWS abandon (terminate) them. Nothing changed: run unenroll again once they are in service (%d s at most)", g.Name, len(w), strings.Join(w, ", "), hookName, awssdk.LaunchHookHeartbeatSeconds)
		}
	}
	if len(keys) > 0 {
		if err := awssdk.UntagGroup(ctx, p.asg, g.Name, keys...); err != nil {
			return err
		}
		out.TagsRemoved, out.Changed = keys, true
	}
	if hookThere {
		// Untagged, the plane can no longer complete the hook's actions:
		// look once more just before the deletion.
		after, err := p.group(ctx, g.Name)
		if err != nil {
			return err
		}
		if w := waitingOnLaunch(after); len(w) > 0 {
			return fmt.Errorf("group %s: untagged (%s), but %d instances now wait on launch lifecycle hooks (%s): the hook %s was left, as deleting it would make AWS abandon them; run unenroll again once they are in service (%d s at most)", g.Name, strings.Join(keys, ", "), len(w), strings.Join(w, ", "), hookName, awssdk.LaunchHookHeartbeatSeconds)
		}
		if err := awssdk.DeleteLifecycleHook(ctx, p.asg, g.Name, hookName); err != nil {
			return err
		}
		out.LaunchHookDeleted, out.Changed = hookName, true
	}
	if pf.json {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "%s un-enrolled. Its capacity is untouched (desired %d, min %d, max %d).\n", g.Name, g.Desired, g.Min, g.Max)
	if len(out.TagsRemoved) > 0 {
		fmt.Fprintf(e.stdout, "  - tags removed: %s;\n", strings.Join(out.TagsRemoved, ", "))
	}
	if out.LaunchHookDeleted != "" {
		fmt.Fprintf(e.stdout, "  - launch lifecycle hook %s deleted: new instances no longer wait for a shadow;\n", out.LaunchHookDeleted)
	}
	fmt.Fprintf(e.stdout, "  - the reconciler retires the shadows of its %d live instances at its next run (within 5 minutes); the forecaster stops forecasting it;\n", out.ShadowsRetired)
	if len(out.OwnScaling) == 0 {
		fmt.Fprintf(e.stdout, "  - it has no scaling policy or scheduled action of its own: its capacity stays where it is until someone changes it.\n")
	} else {
		fmt.Fprintf(e.stdout, "  - its own scaling goes on: %s.\n", strings.Join(out.OwnScaling, ", "))
	}
	return nil
}
