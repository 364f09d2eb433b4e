package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/sim/forecastbench"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

func init() {
	registerBench(&command{
		name:    "forecast",
		usage:   "bench forecast [flags] FILE...",
		summary: "forecast accuracy of every model and the default on traces (shared/bench/FORECAST.md)",
		run:     runBenchForecast,
	})
}

const benchForecastHelp = `Prints one line a trace and model, tab separated:
NAME MODEL n=N step=300s origins=K MAE=x rel=x fit_ms=x
with MODEL default the forecaster the Lambda and the simulator use, rel its
MAE over persistence's, fit_ms the fit-and-forecast time per origin.

Missing and repeated timestamps are handled the same way for every model:
the rows are taken as they are, consecutive rows being consecutive points (a
missing timestamp is not filled in; step is the median spacing), except that
rows repeating a timestamp (a daylight-saving change in an export) are
merged into one point, their mean, and said so on stderr. Unsorted
timestamps, non-numeric values and traces too short for one origin are
errors that name the file and line: that trace is skipped, the others run,
and the command exits non-zero.

Origins are t = window, window+h, ... while t+h < N (the reading of
FORECAST.md that reproduces the reference figures; -inclusive-end adds the
origin with t+h == N), at most 120 of them evenly spaced.

-paired says whether a model's rel is its own across the trace or a few
origins': each origin's error (summed over the horizons) minus
persistence's is a difference; the line gives how many are positive
(worse) and negative (better), their paired t statistic (mean over standard
error; positive is worse, |t| below 2 is within noise), the origin t with
the largest loss, and the rel with that one origin left out.
`

// benchModels are the models the forecast benchmark scores, in print order.
func benchModels() []forecastbench.Named {
	return []forecastbench.Named{
		{Name: "persistence", Model: forecast.Persistence{}},
		{Name: "seasonal_naive", Model: forecast.SeasonalNaive{}},
		{Name: "holt", Model: forecast.Holt{}},
		{Name: "holt_winters", Model: forecast.HoltWinters{}},
		{Name: "arima", Model: forecast.ARIMA{}},
		{Name: "default", Model: forecast.Default()},
	}
}

func runBenchForecast(ctx context.Context, e *env, args []string) error {
	c := benchCommands["forecast"]
	fs := newFlagSet(e, c)
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(e.stderr, "\n%s", benchForecastHelp)
	}
	var cfg forecastbench.Config
	fs.IntVar(&cfg.Horizon, "horizon", 0, "horizon in points (0: one hour of points, the protocol)")
	fs.IntVar(&cfg.Window, "window", 0, "window in points (0: the protocol's 7 days, or max(2 x season, N/2) for short traces)")
	fs.IntVar(&cfg.MaxOrigins, "max-origins", 0, "origins scored at most, evenly spaced (0: 120, the protocol; -1: all)")
	fs.BoolVar(&cfg.InclusiveEnd, "inclusive-end", false, "also score the origin t with t+h == N (FORECAST.md's literal text; the reference figures exclude it)")
	only := fs.String("models", "", "comma-separated model names to run (default: all)")
	fs.BoolVar(&cfg.Online, "online", false, "add a line for MODEL online: the streaming forecaster the simulator uses, fed the trace point by point (refits daily on its window; fit_ms is its cost per point)")
	coverage := fs.Bool("coverage", false, "also print each model's P10/P90 coverage (share of actuals below P10 and at or below P90) on stderr")
	paired := fs.Bool("paired", false, "also print each model's origin-by-origin comparison with persistence on stderr: origins worse and better, the paired t statistic, the origin it lost most at and its rel without that origin")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if cfg.Horizon < 0 {
		return usageErrorf("-horizon %d: must not be negative", cfg.Horizon)
	}
	if cfg.Window < 0 {
		return usageErrorf("-window %d: must not be negative", cfg.Window)
	}
	if fs.NArg() == 0 {
		return usageErrorf("name at least one trace FILE")
	}
	models := benchModels()
	if *only != "" {
		want := strings.Split(*only, ",")
		var names []string
		for _, m := range models {
			names = append(names, m.Name)
		}
		for _, w := range want {
			if !slices.Contains(names, w) {
				return usageErrorf("-models: unknown model %q (have %s)", w, strings.Join(names, ", "))
			}
		}
		models = slices.DeleteFunc(models, func(m forecastbench.Named) bool { return !slices.Contains(want, m.Name) })
	}
	// Load every trace first: a bad one is reported and skipped before any
	// work is done, and the others run.
	traces := make([]trace.Trace, 0, fs.NArg())
	var failed []string
	for _, path := range fs.Args() {
		tr, err := trace.Load(path)
		if err == nil {
			_, err = forecastbench.NewPlan(tr.Len(), tr.Step(), cfg)
			err = fmtErr(path, err)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "shadowscale bench forecast: skipping %v\n", err)
			failed = append(failed, path)
			continue
		}
		if tr.Merged > 0 {
			fmt.Fprintf(e.stderr, "shadowscale bench forecast: %s: %d rows repeating a timestamp merged into their point's mean\n", path, tr.Merged)
		}
		traces = append(traces, tr)
	}
	for _, tr := range traces {
		res, errs, err := forecastbench.Run(ctx, clock.System{}, tr, models, cfg)
		if err != nil {
			return fmt.Errorf("benchmarking %s: %w", tr.Name, err)
		}
		for _, r := range res {
			fmt.Fprintln(e.stdout, r.String())
			if *coverage {
				fmt.Fprintf(e.stderr, "%s\t%s\tP10_below=%.3f\tP90_at_or_below=%.3f\n", r.Trace, r.Model, r.P10Coverage, r.P90Coverage)
			}
			if *paired && r.Model != "persistence" {
				p := r.VsPersistence
				fmt.Fprintf(e.stderr, "%s\t%s\tvs_persistence\tworse_origins=%d/%d\tbetter_origins=%d/%d\tpaired_t=%.2f\tworst_origin=%d\trel_without_worst=%.4f\n",
					r.Trace, r.Model, p.Worse, p.Origins, p.Better, p.Origins, p.T, p.WorstOrigin, p.RelWithoutWorst)
			}
		}
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(e.stderr, "shadowscale bench forecast: %v\n", errs[k])
			failed = append(failed, tr.Name+"/"+k)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d traces or model runs failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// fmtErr names path in err (nil stays nil).
func fmtErr(path string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
