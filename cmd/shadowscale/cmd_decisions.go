// The operator commands against a deployed stack link the AWS SDK: the
// build tag sim leaves them out (make run builds the simulator alone, fast).

//go:build !sim

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"
)

func init() {
	register(&command{
		name:    "decisions",
		usage:   "decisions --group G [--since 6h] [--limit N] [--stack NAME] [--json]",
		summary: "a deployed group's audit trail: the forecaster's decisions, newest first, with their reasons",
		run:     runDecisions,
	})
}

// decisionOut is one audited decision as `decisions --json` prints it:
// the record's fields and its body as the forecaster wrote it.
type decisionOut struct {
	At     time.Time       `json:"at"`
	ID     string          `json:"id"`
	Action string          `json:"action"`
	Mode   string          `json:"mode"`
	Body   json.RawMessage `json:"body,omitempty"`
}

func runDecisions(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, commands["decisions"])
	pf := addPlaneFlags(fs)
	group := fs.String("group", "", "the Auto Scaling `group` (required)")
	since := fs.Duration("since", 6*time.Hour, "how far back to look")
	limit := fs.Int("limit", 0, "at most `N` decisions, the newest (0: all in --since)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if err := requireGroup(fs, *group); err != nil {
		return err
	}
	if *since <= 0 {
		return usageErrorf("--since %v: must be positive", *since)
	}
	if *limit < 0 {
		return usageErrorf("--limit %d: must not be negative", *limit)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, err := openPlane(ctx, e, pf)
	if err != nil {
		return err
	}
	if _, err := p.group(ctx, *group); err != nil {
		return err
	}
	ds, err := p.lastDecisions(ctx, *group, *since, *limit)
	if err != nil {
		return err
	}
	if pf.json {
		out := make([]decisionOut, len(ds))
		for i, d := range ds {
			out[i] = decisionOut{At: d.At, ID: d.ID, Action: d.Action, Mode: d.Mode}
			if json.Valid(d.Body) {
				out[i].Body = d.Body
			}
		}
		return printJSON(e.stdout, struct {
			Group     string        `json:"group"`
			Since     time.Time     `json:"since"`
			Decisions []decisionOut `json:"decisions"`
		}{*group, time.Now().Add(-*since).UTC(), out})
	}
	if len(ds) == 0 {
		fmt.Fprintf(e.stdout, "no decisions for %s in the last %v\n", *group, *since)
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "TIME (UTC)\tMODE\tDECISION\tP50/P90\tDELTA\tOUTCOME\tREASON\n")
	for _, d := range ds {
		b := readBody(d)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", hhmm(d.At), b.Mode, b.summary(), optNum(b.ForecastP50), optNum(b.ForecastP90), optNum(b.Delta), b.Outcome, b.Reason)
	}
	return tw.Flush()
}
