package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/forecast"
	"github.com/shadowscale/shadowscale/shared/sim"
	"github.com/shadowscale/shadowscale/shared/sim/embedded"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

// The default trace, bundled with its license (data/LICENSE.txt).
//
//go:embed data/elb_request_count_8c0756.csv
var bundledTrace []byte

const bundledName = "elb_request_count_8c0756.csv"

func init() {
	register(&command{
		name:    "simulate",
		usage:   "simulate [--trace FILE] [flags]",
		summary: "replay a real trace through the whole control loop on a virtual clock (no AWS needed) and write a report",
		run:     runSimulate,
	})
}

type simulateFlags struct {
	simFlags
	trace       string
	out         string
	sampleEvery float64
	quiet       bool
}

func runSimulate(ctx context.Context, e *env, args []string) error {
	c := &command{name: "simulate", usage: "simulate [--trace FILE] [flags]", summary: "" +
		"Replays a load trace (CSV timestamp,value, or an export with --time-column/--value-column; by default a bundled\n" +
		"real one: requests on an AWS load balancer over 14 days, from the NAB corpus) through the fleet model of\n" +
		"bench/SCALING.md under five policies: reactive (AWS target tracking), predictive (AWS-style predictive scaling),\n" +
		"shadow (shadowscale's control loop as the forecaster Lambda runs it: forecaster, shadows, guardrails), oracle (the\n" +
		"physical limit) and shadow-blind (the same loop told nothing by the shadows: what the shadows add).\n" +
		"Under the shadow policy the control plane's own code runs on in-memory adapters: shadows are created and\n" +
		"retired as the group changes, a sample of the mutations is fanned out to live and shadow agents, and the\n" +
		"reconciler resyncs new shadows. It prints a summary and writes a report folder (SVG charts, index.html).\n" +
		"As a dry run of your group: --trace your CloudWatch export, --capacity what one instance serves in the trace's\n" +
		"unit a second (the demand is then not rescaled unless --p99-instances is given), --policy your forecaster policy.\n" +
		"Ctrl-C stops the run within a second and writes the report of what was done.\n" + glossary}
	fs := newFlagSet(e, c)
	var f simulateFlags
	f.simFlags.register(fs)
	fs.StringVar(&f.trace, "trace", "", "CSV trace to replay (default: the bundled "+bundledName+")")
	fs.StringVar(&f.out, "out", "report", "folder the report is written to")
	fs.Float64Var(&f.sampleEvery, "sample-every", 100, "fan out one mutation through the embedded plane for every N the model counts")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	ok, err := parseFlags(fs, args)
	if !ok || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %q (the trace is given with --trace)", fs.Args())
	}
	if !(f.sampleEvery >= 1) {
		return usageErrorf("sample-every %v: must be at least 1", f.sampleEvery)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["capacity"] && !set["p99-instances"] {
		f.cfg.P99Instances = 0 // real units: the trace is in the capacity's unit
	}
	return simulate(ctx, e, f)
}

func loadSimTrace(path string, opt trace.Options) (trace.Trace, error) {
	if path == "" {
		return trace.Parse(bytes.NewReader(bundledTrace), bundledName)
	}
	return trace.LoadWith(path, opt)
}

// checkOut makes sure the report can be written to dir before a run.
func checkOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usageErrorf("report folder %s: %v", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return usageErrorf("report folder %s is not writable: %v", dir, err)
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// checkForecastable refuses a trace the forecaster cannot forecast, as the
// forecast command does.
func checkForecastable(tr trace.Trace) error {
	step := tr.Step()
	h := max(1, int(math.Ceil(float64(time.Hour)/float64(step)))) // the forecast command's default horizon
	in := forecast.Input{Values: tr.Values, Step: step, Season: forecast.SeasonFor(step), Horizon: h}
	if _, err := forecast.Default().Forecast(in); errors.Is(err, forecast.ErrTooShort) {
		return fmt.Errorf("%s: %d points of history is too short to forecast: %w", tr.Name, tr.Len(), err)
	}
	return nil
}

func simulate(ctx context.Context, e *env, f simulateFlags) error {
	started := time.Now()
	progress := func(format string, a ...any) {
		if !f.quiet {
			fmt.Fprintf(e.stderr, format+"\n", a...)
		}
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	cfg, ps, shadowType, err := f.setup()
	if err != nil {
		return err
	}
	tr, err := loadSimTrace(f.trace, f.traceOptions())
	if err != nil {
		return fmt.Errorf("loading the trace: %w", err)
	}
	if tr.Reordered {
		progress("%s is newest-first: sorted oldest-first", tr.Name)
	}
	if err := checkForecastable(tr); err != nil {
		return err
	}
	d, err := f.demand(tr, cfg)
	if err != nil {
		return fmt.Errorf("preparing the demand: %w", err)
	}
	days := float64(d.Len()) * cfg.Tick.Hours() / 24
	progress("simulating %s: %d points, %.1f days at 1-minute ticks; live %s ($%.4f/h), shadow %s ($%.4f/h); %s",
		tr.Name, tr.Len(), days, f.liveType, cfg.LivePrice, shadowType.Name, shadowType.USDPerHour, scaleText(cfg, d))

	pols, err := ps.Build(cfg, d, sim.PolicyNames)
	if err != nil {
		return err
	}
	fr := catalog.Fractions{CPU: cfg.ShadowCPU, Memory: cfg.ShadowMemory}
	pc := embedded.DefaultConfig()
	pc.LiveType, pc.SampleEvery, pc.Fractions = f.liveType, f.sampleEvery, fr
	pc.ProgressEvery = max(1, d.Len()/10)
	pc.Progress = func(tick, ticks int) {
		if tick > 0 {
			progress("  shadow: %3.0f%% (day %.0f of %.0f)", 100*float64(tick)/float64(ticks), float64(tick)*cfg.Tick.Hours()/24, days)
		}
	}
	plane, err := embedded.New(pc, d.Len(), d.Start)
	if err != nil {
		return err
	}
	var shadowTrace *sim.ShadowTrace
	for i, p := range pols {
		if s, ok := p.(*sim.Shadow); ok && !s.Blind() {
			shadowTrace = s.Record(d.Len())
			pols[i] = plane.Wrap(s)
		}
	}
	rec := sim.Recording{Config: cfg, Demand: d, Shadow: shadowTrace}
	var runErr error
	for _, p := range pols {
		t0 := time.Now()
		res, series, err := sim.RunContext(ctx, cfg, d, []sim.Policy{p}, true)
		rec.Results = append(rec.Results, res...)
		rec.Series = append(rec.Series, series...)
		if err != nil {
			runErr = err
			break
		}
		progress("  %-12s done in %.1f s", p.Name(), time.Since(t0).Seconds())
	}
	var stats embedded.Stats
	var planeErr error
	if runErr == nil {
		stats, planeErr = plane.Finish()
	}
	printSummary(e, rec, stats, shadowType, runErr != nil)
	index, err := writeReport(f.out, tr.Name, rec, stats, ps, shadowType)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nreport: %s (%.1f s)\n", index, time.Since(started).Seconds())
	if runErr != nil {
		return fmt.Errorf("interrupted; the report shows what was done: %w", runErr)
	}
	if planeErr != nil {
		return fmt.Errorf("the embedded control plane broke an invariant: %w", planeErr)
	}
	return nil
}

func byPolicy(rec sim.Recording, name string) (sim.Result, sim.Series, bool) {
	for i, r := range rec.Results {
		if r.Policy == name {
			return r, rec.Series[i], true
		}
	}
	return sim.Result{}, sim.Series{}, false
}

func resultRows(rec sim.Recording) [][]string {
	var rows [][]string
	for _, r := range rec.Results {
		lead := "-"
		if !math.IsNaN(r.LeadMin) {
			lead = strconv.FormatFloat(r.LeadMin, 'f', 1, 64)
		}
		rows = append(rows, []string{r.Policy, strconv.Itoa(r.OverloadMin), strconv.Itoa(r.RiskMin),
			fmt.Sprintf("%.3f", r.UnservedPct), fmt.Sprintf("%.1f", r.LiveInstH), fmt.Sprintf("%.1f", r.ShadowInstH),
			fmt.Sprintf("%.2f", r.CostUSD), strconv.Itoa(r.Actions), lead})
	}
	return rows
}

var resultHeader = []string{"policy", "overload_min", "risk_min", "unserved_pct", "live_inst_h", "shadow_inst_h", "cost_usd", "actions", "lead_min"}

func planeRows(st embedded.Stats, shadowType catalog.InstanceType) [][]string {
	return [][]string{
		{"shadow type", fmt.Sprintf("%s ($%.4f/h)", shadowType.Name, shadowType.USDPerHour)},
		{"shadows created / retired / replaced", fmt.Sprintf("%d / %d / %d", st.ShadowsCreated, st.ShadowsRetired, st.ShadowsReplaced)},
		{"most live instances at once", strconv.Itoa(st.MaxLive)},
		{"minutes with shadows != live instances", strconv.Itoa(st.TicksShadowsMismatch)},
		{"mutations fanned out (sample) / failed", fmt.Sprintf("%d / %d", st.MutationsRouted, st.MutationsFailed)},
		{"reconciles / actions / resyncs", fmt.Sprintf("%d / %d / %d", st.Reconciles, st.ReconcileActions, st.Resyncs)},
		{"live and shadow digests equal at the end", fmt.Sprintf("%d of %d", st.DigestsEqual, st.DigestsCompared)},
		{"orphan shadows at the end", strconv.Itoa(st.Orphans)},
	}
}

func printSummary(e *env, rec sim.Recording, st embedded.Stats, shadowType catalog.InstanceType, interrupted bool) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(e.stdout, "\n%s: %d minutes\n\n", rec.Demand.Name, rec.Demand.Len())
	fmt.Fprintln(tw, strings.Join(resultHeader, "\t")+"\t")
	for _, r := range resultRows(rec) {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
	if interrupted {
		fmt.Fprintf(e.stdout, "\ninterrupted: the last policy's figures cover the minutes it reached, the policies after it did not run\n")
		return
	}
	fmt.Fprintln(e.stdout)
	for _, line := range comparisons(rec) {
		fmt.Fprintln(e.stdout, line)
	}
	fmt.Fprintf(e.stdout, "\nembedded control plane (shadow policy):\n")
	tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, r := range planeRows(st, shadowType) {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	tw.Flush()
}

// comparisons say, in changes, how shadow does against reactive and the
// oracle, and what the shadows add (shadow against shadow-blind).
func comparisons(rec sim.Recording) []string {
	shad, _, ok := byPolicy(rec, "shadow")
	if !ok {
		return nil
	}
	var out []string
	for _, other := range []string{"reactive", "oracle", "shadow-blind"} {
		o, _, ok := byPolicy(rec, other)
		if !ok {
			continue
		}
		what := "shadow vs " + other
		if other == "shadow-blind" {
			what = "what the shadows add (shadow vs shadow-blind)"
		}
		out = append(out, fmt.Sprintf("%s: overload %s, risk %s, cost %s", what,
			change(float64(shad.OverloadMin), float64(o.OverloadMin)), change(float64(shad.RiskMin), float64(o.RiskMin)), change(shad.CostUSD, o.CostUSD)))
	}
	return out
}

// scaleText says how the demand relates to the trace.
func scaleText(cfg sim.Config, d sim.Demand) string {
	if cfg.P99Instances == 0 {
		return fmt.Sprintf("demand in the trace's unit (not rescaled), an instance serving %g a second", cfg.Capacity)
	}
	return fmt.Sprintf("demand scaled x%.4g so its 99th percentile is %g instance capacities", d.Scale, cfg.P99Instances)
}

func driftText(ds []sim.Drift) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("from %.0f%% of the trace on, %.2f x C", 100*d.At, d.Factor))
	}
	return strings.Join(parts, "; ")
}
