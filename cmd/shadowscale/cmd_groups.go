// The operator commands against a deployed stack link the AWS SDK: the
// build tag sim leaves them out (make run builds the simulator alone, fast).

//go:build !sim

package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

func init() {
	register(&command{
		name:    "groups",
		usage:   "groups [--stack NAME] [--json]",
		summary: "the deployed plane's enrolled groups: mode, capacity figure, last decision",
		run:     runGroups,
	})
}

// groupRow is one enrolled group as `groups` shows it.
type groupRow struct {
	Name       string        `json:"name"`
	EnrolledBy []string      `json:"enrolled_by"` // "tag", "name"
	Mode       string        `json:"mode"`
	ModeSource string        `json:"mode_source"` // "tag" or "stack"
	Desired    int           `json:"desired"`
	Min        int           `json:"min"`
	Max        int           `json:"max"`
	InService  int           `json:"in_service"`
	Capacity   capacity      `json:"capacity"`
	Last       *lastDecision `json:"last_decision,omitempty"`
}

// lastDecision is a group's newest audited decision, in brief.
type lastDecision struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"`
	From    int       `json:"from"`
	To      int       `json:"to"`
	Acted   bool      `json:"acted"`
	Mode    string    `json:"mode"`
	Reason  string    `json:"reason,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
}

// lookback is how far back `groups` and `status` look for a group's last
// decision: a group forecast every minute has one in the last minutes; a
// week covers a forecaster stopped for days (and says so).
const lookback = 7 * 24 * time.Hour

func runGroups(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, commands["groups"])
	pf := addPlaneFlags(fs)
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, err := openPlane(ctx, e, pf)
	if err != nil {
		return err
	}
	groups, err := p.groups.EnrolledGroups(ctx)
	if err != nil {
		return err
	}
	rows := make([]groupRow, 0, len(groups))
	for _, g := range groups {
		r := groupRow{Name: g.Name, Desired: g.Desired, Min: g.Min, Max: g.Max, InService: len(g.InService()), Capacity: p.capacityOf(g)}
		if g.EnrolledByTag {
			r.EnrolledBy = append(r.EnrolledBy, "tag")
		}
		if g.EnrolledByName {
			r.EnrolledBy = append(r.EnrolledBy, "name")
		}
		r.Mode, r.ModeSource = p.modeOf(g)
		ds, err := p.lastDecisions(ctx, g.Name, lookback, 1)
		if err != nil {
			return err
		}
		if len(ds) == 1 {
			b := readBody(ds[0])
			r.Last = &lastDecision{At: ds[0].At, Action: b.Action, From: b.From, To: b.To, Acted: b.Acted, Mode: b.Mode, Reason: b.Reason, Outcome: b.Outcome}
		}
		rows = append(rows, r)
	}
	if pf.json {
		return printJSON(e.stdout, struct {
			*plane
			Groups []groupRow `json:"groups"`
		}{p, rows})
	}
	fmt.Fprintf(e.stdout, "stack %s (%s), table %s; the plane's mode: %s (%s)\n", p.Stack, p.Region, p.Table, p.Settings.Mode, p.Settings.Source)
	if len(rows) == 0 {
		fmt.Fprintf(e.stdout, "no enrolled groups: enroll one with `shadowscale enroll --group G`\n")
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "GROUP\tENROLLED BY\tMODE\tDESIRED\tMIN-MAX\tIN SERVICE\tCAPACITY\tLAST DECISION\n")
	for _, r := range rows {
		last := "none yet"
		if r.Last != nil {
			b := decisionBody{Action: r.Last.Action, From: r.Last.From, To: r.Last.To, Acted: r.Last.Acted}
			last = fmt.Sprintf("%s, %s", b.summary(), ago(now, r.Last.At))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s (%s)\t%d\t%d-%d\t%d\t%s\t%s\n", r.Name, strings.Join(r.EnrolledBy, "+"), r.Mode, r.ModeSource,
			r.Desired, r.Min, r.Max, r.InService, r.Capacity, last)
	}
	return tw.Flush()
}
