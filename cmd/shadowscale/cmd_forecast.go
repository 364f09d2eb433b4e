package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"text/tabwriter"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/sim/forecastbench"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

func init() {
	register(&command{
		name:    "forecast",
		usage:   "forecast --trace FILE [--horizon 1h] [--window 168h]",
		summary: "forecast a trace's next hour with the default model: mean, P10, P90, the model, why, and its accuracy and coverage on the trace's own backtest",
		run:     runForecast,
	})
}

// forecastMaxPoints caps the history handed to the model (what the
// forecaster Lambda keeps): beyond it, older points are dropped.
const forecastMaxPoints = 100_000

func runForecast(ctx context.Context, e *env, args []string) error {
	c := commands["forecast"]
	fs := newFlagSet(e, c)
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(e.stderr, "\nThe trace is put on its median-step grid: missing points stay missing (the\n"+
			"models skip them; rows repeating a timestamp are merged into their mean;\n"+
			"unsorted timestamps are errors), and the\n"+
			"forecast starts one step after the last row.\n\n"+
			"The backtest line scores the default model on the trace itself by the\n"+
			"protocol of shared/bench/FORECAST.md (rolling origins, no look-ahead, the\n"+
			"same as bench forecast): its rel against persistence, the share of\n"+
			"actuals below its P10 and at or below its P90, and how it did against\n"+
			"persistence origin by origin (bench forecast -paired: a paired t\n"+
			"statistic, within noise below 2 in size, and the rel without the one\n"+
			"origin where it lost most).\n")
	}
	path := fs.String("trace", "", "CSV trace `FILE` (timestamp,value), required")
	horizon := fs.Duration("horizon", time.Hour, "how far ahead to forecast")
	window := fs.Duration("window", 7*24*time.Hour, "how much recent history the model sees (0: all of it)")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q (the trace goes in --trace)", fs.Arg(0))
	}
	if *path == "" {
		return usageErrorf("--trace FILE is required")
	}
	if *horizon <= 0 {
		return usageErrorf("--horizon %v: must be positive", *horizon)
	}
	if *window < 0 {
		return usageErrorf("--window %v: must not be negative", *window)
	}
	tr, err := trace.Load(*path)
	if err != nil {
		return fmt.Errorf("loading trace: %w", err)
	}
	step := tr.Step()
	if step <= 0 {
		return fmt.Errorf("%s: cannot tell the step of the trace", *path)
	}
	times, values := onGrid(tr, step)
	if *window > 0 {
		keep := int(*window / step)
		if keep < len(values) {
			times, values = times[len(times)-keep:], values[len(values)-keep:]
		}
	}
	if len(values) > forecastMaxPoints {
		times, values = times[len(times)-forecastMaxPoints:], values[len(values)-forecastMaxPoints:]
	}
	h := max(1, int(math.Ceil(float64(*horizon)/float64(step))))
	in := forecast.Input{Values: values, Step: step, Season: forecast.SeasonFor(step), Horizon: h}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := forecast.Default().Forecast(in)
	if err != nil {
		if errors.Is(err, forecast.ErrTooShort) {
			return fmt.Errorf("%s: %d points of history is too short to forecast: %w", *path, len(values), err)
		}
		return fmt.Errorf("forecasting %s: %w", *path, err)
	}
	last := times[len(times)-1]
	fmt.Fprintf(e.stdout, "trace    %s: %d rows, step %v, last %s\n", tr.Name, tr.Len(), step, last.Format(time.DateTime))
	fmt.Fprintf(e.stdout, "history  %d points (%v)", len(values), time.Duration(len(values))*step)
	if missing := len(values) - countFinite(values); missing > 0 {
		fmt.Fprintf(e.stdout, ", %d missing", missing)
	}
	fmt.Fprintf(e.stdout, ", season %d points\n", in.Season)
	fmt.Fprintf(e.stdout, "model    %s (weights from a backtest on the history)\n", f.Model)
	fmt.Fprintf(e.stdout, "why      %s\n", f.Why)
	bt, err := traceBacktest(ctx, tr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(e.stdout, "backtest none: %v\n\n", err)
	} else {
		fmt.Fprintf(e.stdout, "backtest %s\n\n", bt)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "time (UTC)\tP10\tmean\tP90\t\n")
	for k := range f.Mean {
		at := last.Add(time.Duration(k+1) * step)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", at.Format(time.DateTime), num(f.P10[k]), num(f.Mean[k]), num(f.P90[k]))
	}
	return tw.Flush()
}

// traceBacktest scores the default model on tr by the benchmark's protocol
// (shared/bench/FORECAST.md) and describes its accuracy and coverage.
func traceBacktest(ctx context.Context, tr trace.Trace) (string, error) {
	plan, err := forecastbench.NewPlan(tr.Len(), tr.Step(), forecastbench.Config{})
	if err != nil {
		return "", fmt.Errorf("the trace leaves no origin for the benchmark's protocol: %w", err)
	}
	base, err := forecastbench.Score(ctx, clock.System{}, tr.Values, plan, forecast.Persistence{})
	if err != nil {
		return "", fmt.Errorf("scoring persistence: %w", err)
	}
	s, err := forecastbench.Score(ctx, clock.System{}, tr.Values, plan, forecast.Default())
	if err != nil {
		return "", fmt.Errorf("scoring the default model: %w", err)
	}
	rel := "n/a (persistence is exact)"
	if base.MAE > 0 {
		rel = fmt.Sprintf("%.3f", s.MAE/base.MAE)
	}
	out := fmt.Sprintf("on this trace (FORECAST.md protocol: %d origins, window %d, horizon %d points): rel %s (MAE over persistence's), %.1f%% of actuals below P10 (target 5-15%%), %.1f%% at or below P90 (target 85-95%%)",
		len(plan.Origins), plan.Window, plan.Horizon, rel, 100*s.P10Coverage, 100*s.P90Coverage)
	return out + "; " + pairedText(forecastbench.Compare(plan.Origins, s.OriginErr, base.OriginErr)), nil
}

// pairedText says how the default did against persistence origin by
// origin (bench forecast -paired).
func pairedText(p forecastbench.Paired) string {
	verdict := "within noise"
	switch {
	case p.T <= -2:
		verdict = "better beyond noise"
	case p.T >= 2:
		verdict = "worse beyond noise"
	}
	out := fmt.Sprintf("origin by origin against persistence: worse at %d, better at %d of %d, paired t %+.2f (%s)", p.Worse, p.Better, p.Origins, p.T, verdict)
	if p.WorstOrigin >= 0 && !math.IsNaN(p.RelWithoutWorst) {
		out += fmt.Sprintf(", rel %.3f without its worst origin (t=%d)", p.RelWithoutWorst, p.WorstOrigin)
	}
	return out
}

// onGrid puts tr on the grid of its first timestamp at step: a row off the
// grid goes to its nearest slot (the later row wins a shared slot), and a
// slot with no row is NaN.
func onGrid(tr trace.Trace, step time.Duration) ([]time.Time, []float64) {
	start := tr.Times[0]
	last := int(math.Round(float64(tr.Times[len(tr.Times)-1].Sub(start)) / float64(step)))
	times := make([]time.Time, last+1)
	values := make([]float64, last+1)
	for i := range values {
		times[i] = start.Add(time.Duration(i) * step)
		values[i] = math.NaN()
	}
	for i, t := range tr.Times {
		slot := int(math.Round(float64(t.Sub(start)) / float64(step)))
		values[slot] = tr.Values[i]
	}
	return times, values
}

func countFinite(v []float64) int {
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			n++
		}
	}
	return n
}

// num formats a forecast value readably: four significant digits, no
// exponent below a billion.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return fmt.Sprintf("%.4g", v)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}
