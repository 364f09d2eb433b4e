// The operator commands against a deployed stack link the AWS SDK: the
// build tag sim leaves them out (make run builds the simulator alone, fast).

//go:build !sim

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"text/tabwriter"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

func init() {
	// `forecast --trace FILE` forecasts a file (cmd_forecast.go); with
	// --group the command reads a deployed group instead.
	registerVariant("forecast", "group", &command{
		name:    "forecast",
		usage:   "forecast --group G [--every 5m] [--stack NAME] [--json]",
		summary: "a deployed group's next hour from its saved state: mean, P10, P90, the model weights",
		run:     runPlaneForecast,
	})
}

// The forecast's step and horizon: the plane counts by the minute, and an
// operator asks for the next hour.
const (
	planeStep    = time.Minute
	planeHorizon = 60
)

// forecastWindow is how much demand history is replayed: what the
// forecaster rebuilds a loop from (ForecasterOptions.Rebuild, 7 days).
const forecastWindow = 7 * 24 * time.Hour

type planeForecastOut struct {
	Group string `json:"group"`
	// State is the saved loop state the forecast starts from.
	State struct {
		Version   int64     `json:"version"`
		SavedAt   time.Time `json:"saved_at"`
		Last      time.Time `json:"last_minute"`
		Steps     int64     `json:"steps"`
		Decisions int       `json:"decisions"`
	} `json:"state"`
	HistoryFrom    time.Time       `json:"history_from"`
	HistoryMinutes int             `json:"history_minutes"`
	Missing        int             `json:"missing_minutes"`
	Model          string          `json:"model"`
	Why            string          `json:"why"`
	Points         []forecastPoint `json:"points"`
	Capacity       capacity        `json:"capacity"`
	Desired        int             `json:"desired"`
	// NeedP90 is the instances the highest P90 of the hour needs at the
	// capacity figure (0 without one).
	NeedP90 int `json:"need_at_p90,omitempty"`
	// LastDecision is the loop's newest decision that changed (or would
	// have changed) the group.
	LastDecision *json.RawMessage `json:"last_loop_decision,omitempty"`
}

type forecastPoint struct {
	At   time.Time `json:"at"`
	P10  float64   `json:"p10"`
	Mean float64   `json:"mean"`
	P90  float64   `json:"p90"`
}

func runPlaneForecast(ctx context.Context, e *env, args []string) error {
	c := &command{name: "forecast", usage: "forecast --group G [--every 5m] [--stack NAME] [--json]",
		summary: "a deployed group's next hour from its saved state: mean, P10, P90, the model weights"}
	fs := newFlagSet(e, c)
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(e.stderr, "\nThe forecaster's loop keeps no model between runs: it is restored by replaying\n"+
			"the group's demand history up to the last minute it observed. This does the\n"+
			"same with the default model (docs/FORECAST.md) and asks it for the next hour.\n")
	}
	pf := addPlaneFlags(fs)
	group := fs.String("group", "", "the Auto Scaling `group` (required)")
	every := fs.Duration("every", 5*time.Minute, "print one row per this much of the hour (--json has every minute)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if err := requireGroup(fs, *group); err != nil {
		return err
	}
	if *every < planeStep || *every > time.Hour {
		return usageErrorf("--every %v: from 1m to 1h", *every)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	p, err := openPlane(ctx, e, pf)
	if err != nil {
		return err
	}
	g, err := p.enrolledGroup(ctx, *group)
	if err != nil {
		return err
	}
	st, err := p.table.States().Load(ctx, g.Name)
	if errors.Is(err, shadow.ErrNotFound) {
		return fmt.Errorf("group %s has no saved forecaster state yet: the forecaster saves one at its first run on the group (every minute, once the group has a capacity figure: %s)", g.Name, p.capacityOf(g))
	}
	if err != nil {
		return err
	}
	saved, err := handlers.DecodeSavedForecast(st.Blob)
	if err != nil {
		return fmt.Errorf("reading the saved state of %s: %w", g.Name, err)
	}
	out := planeForecastOut{Group: g.Name, Capacity: p.capacityOf(g), Desired: g.Desired}
	out.State.Version, out.State.SavedAt, out.State.Last = st.Version, st.UpdatedAt, saved.Last
	if len(saved.Loop) > 0 {
		var loop control.State
		if err := json.Unmarshal(saved.Loop, &loop); err != nil {
			return fmt.Errorf("reading the loop state of %s: %w", g.Name, err)
		}
		out.State.Steps, out.State.Decisions = loop.Steps, len(loop.Decisions)
		if n := len(loop.Decisions); n > 0 {
			raw, _ := json.Marshal(loop.Decisions[n-1])
			msg := json.RawMessage(raw)
			out.LastDecision = &msg
		}
	}
	if saved.Last.IsZero() {
		return fmt.Errorf("group %s: the forecaster has observed no minute yet", g.Name)
	}
	values, from, missing, err := demand(ctx, p, g.Name, saved.Last)
	if err != nil {
		return err
	}
	out.HistoryFrom, out.HistoryMinutes, out.Missing = from, len(values), missing
	f, err := forecast.Default().Forecast(forecast.Input{Values: values, Step: planeStep, Season: forecast.SeasonFor(planeStep), Horizon: planeHorizon})
	if errors.Is(err, forecast.ErrTooShort) {
		return fmt.Errorf("group %s has %d minutes of demand history; the next hour's forecast needs %d: %w", g.Name, len(values), forecast.MinHistory(planeHorizon), err)
	}
	if err != nil {
		return fmt.Errorf("forecasting %s: %w", g.Name, err)
	}
	out.Model, out.Why = f.Model, f.Why
	peak := 0.0
	for k := range f.Mean {
		at := saved.Last.Add(time.Duration(k+1) * planeStep)
		out.Points = append(out.Points, forecastPoint{At: at, P10: f.P10[k], Mean: f.Mean[k], P90: f.P90[k]})
		peak = math.Max(peak, f.P90[k])
	}
	if out.Capacity.PerInstance > 0 {
		out.NeedP90 = int(math.Ceil(peak / out.Capacity.PerInstance))
	}
	if pf.json {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "group %s: state version %d saved %s, last minute observed %s UTC, %d loop steps\n",
		out.Group, out.State.Version, hhmm(out.State.SavedAt), out.State.Last.Format("15:04"), out.State.Steps)
	fmt.Fprintf(e.stdout, "history  %d minutes from %s UTC", out.HistoryMinutes, hhmm(out.HistoryFrom))
	if out.Missing > 0 {
		fmt.Fprintf(e.stdout, ", %d without data", out.Missing)
	}
	fmt.Fprintf(e.stdout, "\nmodel    %s (weights from a backtest on the history)\n", out.Model)
	fmt.Fprintf(e.stdout, "why      %s\n", out.Why)
	if out.NeedP90 > 0 {
		fmt.Fprintf(e.stdout, "capacity %s: the hour's highest P90 (%s/min) needs %d instances; desired now %d\n", out.Capacity, num(peak), out.NeedP90, out.Desired)
	} else {
		fmt.Fprintf(e.stdout, "capacity %s\n", out.Capacity)
	}
	fmt.Fprintln(e.stdout)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "time (UTC)\tP10\tmean\tP90\t\n")
	stride := int(*every / planeStep)
	for k := stride - 1; k < len(out.Points); k += stride {
		pt := out.Points[k]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", pt.At.UTC().Format("15:04"), num(pt.P10), num(pt.Mean), num(pt.P90))
	}
	return tw.Flush()
}

// demand is the group's demand a minute (the fan-out's live count), from
// its first counted minute within forecastWindow up to last; a minute
// without a count inside that span is 0, as the forecaster reads it
// (missing counts them).
func demand(ctx context.Context, p *plane, group string, last time.Time) (values []float64, from time.Time, missing int, err error) {
	first := last.Add(-forecastWindow + planeStep)
	mins, err := p.table.History().GroupMinutes(ctx, group, first, last)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("reading the demand history of %s: %w", group, err)
	}
	if len(mins) == 0 {
		return nil, time.Time{}, 0, fmt.Errorf("group %s has no demand history up to %s UTC: no mutation counted", group, hhmm(last))
	}
	from = mins[0].Start
	for _, m := range mins {
		if m.Start.Before(from) {
			from = m.Start
		}
	}
	n := int(last.Sub(from)/planeStep) + 1
	values = make([]float64, n)
	seen := make([]bool, n)
	for _, m := range mins {
		if i := int(m.Start.Sub(from) / planeStep); i >= 0 && i < n {
			values[i], seen[i] = float64(m.Live), true
		}
	}
	for _, ok := range seen {
		if !ok {
			missing++
		}
	}
	return values, from, missing, nil
}
