package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/sim"
	"github.com/shadowscale/shadowscale/shared/sim/embedded"
	"github.com/shadowscale/shadowscale/shared/sim/report"
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
	trace       string
	out         string
	liveType    string
	sampleEvery float64
	quiet       bool
	cfg         sim.Config
}

func runSimulate(ctx context.Context, e *env, args []string) error {
	c := &command{name: "simulate", usage: "simulate [--trace FILE] [flags]", summary: "" +
		"Replays a load trace (CSV timestamp,value; by default a bundled real one: requests on an AWS load balancer\n" +
		"over 14 days, from the NAB corpus) through the fleet model of ../shared/bench/SCALING.md under four policies:\n" +
		"reactive (AWS target tracking), predictive (AWS-style predictive scaling), shadow (shadowscale's control loop:\n" +
		"forecaster, shadow delta, guardrails, as the forecaster Lambda runs it) and oracle (the physical limit).\n" +
		"Under the shadow policy the control plane's own code runs on in-memory adapters: shadows are created and\n" +
		"retired as the group changes, a sample of the mutations is fanned out to live and shadow agents, and the\n" +
		"reconciler resyncs new shadows. It prints a summary and writes a report folder (SVG charts, index.html)."}
	fs := newFlagSet(e, c)
	def := sim.DefaultConfig()
	f := simulateFlags{cfg: def}
	fs.StringVar(&f.trace, "trace", "", "CSV trace to replay (default: the bundled "+bundledName+")")
	fs.StringVar(&f.out, "out", "report", "folder the report is written to")
	fs.StringVar(&f.liveType, "live-type", "m7g.xlarge", "live instance type (prices from the embedded catalog; the shadow type is sized from it)")
	fs.Float64Var(&f.cfg.P99Instances, "p99-instances", def.P99Instances, "the demand is scaled so that its 99th percentile is this many instance capacities")
	fs.Float64Var(&f.cfg.WriteShare, "write-share", def.WriteShare, "share of the demand that is mutations")
	fs.DurationVar(&f.cfg.WarmUp, "warmup", def.WarmUp, "instance warm-up after the 60 s pending, before it serves")
	fs.IntVar(&f.cfg.Max, "max", def.Max, "group maximum")
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
	return simulate(ctx, e, f)
}

func loadSimTrace(path string) (trace.Trace, error) {
	if path == "" {
		return trace.Parse(bytes.NewReader(bundledTrace), bundledName)
	}
	return trace.Load(path)
}

func simulate(ctx context.Context, e *env, f simulateFlags) error {
	started := time.Now()
	progress := func(format string, a ...any) {
		if !f.quiet {
			fmt.Fprintf(e.stderr, format+"\n", a...)
		}
	}
	tr, err := loadSimTrace(f.trace)
	if err != nil {
		return fmt.Errorf("loading the trace: %w", err)
	}
	cat, err := catalog.Default()
	if err != nil {
		return fmt.Errorf("loading the instance catalog: %w", err)
	}
	cfg := f.cfg
	fr := catalog.Fractions{CPU: cfg.ShadowCPU, Memory: cfg.ShadowMemory}
	livePrice, shadowType, err := sim.Prices(cat, f.liveType, fr)
	if err != nil {
		return usageErrorf("%v", err)
	}
	cfg.LivePrice, cfg.ShadowPrice = livePrice, shadowType.USDPerHour
	if err := cfg.Validate(); err != nil {
		return usageErrorf("%v", err)
	}
	d, err := sim.PrepareDemand(tr, cfg.Tick, 0.99, cfg.P99Instances*cfg.Capacity)
	if err != nil {
		return fmt.Errorf("preparing the demand: %w", err)
	}
	days := float64(d.Len()) * cfg.Tick.Hours() / 24
	progress("simulating %s: %d points, %.1f days at 1-minute ticks; live %s ($%.4f/h), shadow %s ($%.4f/h)",
		tr.Name, tr.Len(), days, f.liveType, livePrice, shadowType.Name, shadowType.USDPerHour)

	ps := sim.DefaultPolicySet(cfg)
	ps.InstanceType = f.liveType
	pols, err := ps.Build(cfg, d, sim.PolicyNames)
	if err != nil {
		return err
	}
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
		if s, ok := p.(*sim.Shadow); ok {
			shadowTrace = s.Record(d.Len())
			pols[i] = plane.Wrap(s)
		}
	}
	rec := sim.Recording{Config: cfg, Demand: d}
	for _, p := range pols {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("simulation interrupted: %w", err)
		}
		t0 := time.Now()
		res, series, err := sim.RunRecorded(cfg, d, []sim.Policy{p}, true)
		if err != nil {
			return fmt.Errorf("simulating %s: %w", p.Name(), err)
		}
		rec.Results = append(rec.Results, res[0])
		rec.Series = append(rec.Series, series[0])
		progress("  %-10s done in %.1f s", p.Name(), time.Since(t0).Seconds())
	}
	rec.Shadow = shadowTrace
	stats, planeErr := plane.Finish()

	printSummary(e, rec, stats, shadowType)
	index, err := writeReport(f.out, tr.Name, rec, stats, ps, shadowType)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nreport: %s (%.1f s)\n", index, time.Since(started).Seconds())
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

func printSummary(e *env, rec sim.Recording, st embedded.Stats, shadowType catalog.InstanceType) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(e.stdout, "\n%s: %d minutes\n\n", rec.Demand.Name, rec.Demand.Len())
	fmt.Fprintln(tw, strings.Join(resultHeader, "\t")+"\t")
	for _, r := range resultRows(rec) {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	tw.Flush()
	react, _, ok1 := byPolicy(rec, "reactive")
	shad, _, ok2 := byPolicy(rec, "shadow")
	orac, _, ok3 := byPolicy(rec, "oracle")
	if ok1 && ok2 && ok3 && react.CostUSD > 0 && orac.CostUSD > 0 {
		over := "n/a (reactive had none)"
		if react.OverloadMin > 0 {
			over = fmt.Sprintf("%.2f", float64(shad.OverloadMin)/float64(react.OverloadMin))
		}
		fmt.Fprintf(e.stdout, "\nshadow vs reactive: overload %s, cost %.2f; shadow vs oracle cost %.2f\n",
			over, shad.CostUSD/react.CostUSD, shad.CostUSD/orac.CostUSD)
	}
	fmt.Fprintf(e.stdout, "\nembedded control plane (shadow policy):\n")
	tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, r := range planeRows(st, shadowType) {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	tw.Flush()
}

// minutes returns the x values 0..n-1.
func minutes(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i)
	}
	return x
}

func capacitySeries(s sim.Series, perInstance float64) []float64 {
	y := make([]float64, len(s.InService))
	for i, n := range s.InService {
		y[i] = float64(n) * perInstance
	}
	return y
}

func writeReport(dir, name string, rec sim.Recording, st embedded.Stats, ps sim.PolicySet, shadowType catalog.InstanceType) (string, error) {
	d := rec.Demand
	n := d.Len()
	x := minutes(n)
	cfg := rec.Config
	page := report.Page{
		Title: "shadowscale simulation: " + name,
		Notes: []string{
			fmt.Sprintf("%d minutes from %s, demand scaled so its 99th percentile is %.0f instance capacities; instances take %s pending + %s warm-up; min %d, max %d.",
				n, d.Start.Format("2006-01-02 15:04 UTC"), cfg.P99Instances, cfg.Pending, cfg.WarmUp, cfg.Min, cfg.Max),
			"Policies: reactive is AWS target tracking at 60%; predictive adds AWS-style hourly predictive scaling; shadow is shadowscale's control loop " +
				"(forecast with a calibrated P90 margin, the live-vs-shadow delta as the fast trigger, a reactive backstop); oracle knows the demand and is the physical limit.",
			"Under the shadow policy the control plane's domain code ran on in-memory adapters: shadow lifecycle, fan-out of a sample of the mutations, reconciler and resyncs.",
		},
		Tables: []report.Table{
			{Caption: "Results (the fields of bench/SCALING.md)", Header: resultHeader, Rows: resultRows(rec)},
			{Caption: "Embedded control plane", Header: []string{"", ""}, Rows: planeRows(st, shadowType)},
		},
	}
	for _, pol := range sim.PolicyNames {
		r, s, ok := byPolicy(rec, pol)
		if !ok {
			continue
		}
		page.Figures = append(page.Figures, report.Figure{
			File:    "capacity-" + pol + ".svg",
			Caption: fmt.Sprintf("%s: demand vs in-service capacity. %d overloaded minutes, %d capacity changes, $%.2f.", pol, r.OverloadMin, r.Actions, r.CostUSD),
			Chart: report.Chart{Title: "Demand vs capacity: " + pol, XLabel: "time (UTC)", YLabel: "requests/s", Start: d.Start,
				Series: []report.Series{{Name: "demand", X: x, Y: d.Values}, {Name: "in-service capacity", X: x, Y: capacitySeries(s, cfg.Capacity), Step: true}}},
		})
	}
	if lo, hi := busiestDay(d); hi > lo {
		ch := report.Chart{Title: "Demand vs capacity on the busiest day, every policy", XLabel: "time (UTC)", YLabel: "requests/s", Start: d.Start,
			Series: []report.Series{{Name: "demand", X: minutes(hi)[lo:], Y: d.Values[lo:hi], Color: "#222"}}}
		for _, pol := range sim.PolicyNames {
			if _, s, ok := byPolicy(rec, pol); ok {
				ch.Series = append(ch.Series, report.Series{Name: pol, X: minutes(hi)[lo:], Y: capacitySeries(s, cfg.Capacity)[lo:hi], Step: true})
			}
		}
		page.Figures = append(page.Figures, report.Figure{File: "capacity-busiest-day.svg",
			Caption: "In-service capacity of every policy on the day of the highest demand.", Chart: ch})
	}
	if sh := rec.Shadow; sh != nil {
		page.Figures = append(page.Figures,
			report.Figure{
				File:    "shadow-rates.svg",
				Caption: "Applied mutation rates over the signal window: live instances vs their shadows. The shadows (25% of the CPU) fall behind first.",
				Chart: report.Chart{Title: "Live vs shadow applied rate", XLabel: "time (UTC)", YLabel: "mutations/min", Start: d.Start,
					Series: []report.Series{{Name: "live applied", X: x, Y: sh.Live}, {Name: "shadow applied", X: x, Y: sh.Shadow}}},
			},
			report.Figure{
				File:    "delta.svg",
				Caption: fmt.Sprintf("Normalized delta (live - shadow) / live. The signal trips at %.2f and clears at %.2f.", ps.Control.Signal.Trip, ps.Control.Signal.Clear),
				Chart: report.Chart{Title: "Shadow delta", XLabel: "time (UTC)", YLabel: "delta", Start: d.Start,
					Series: []report.Series{{Name: "delta", X: x, Y: sh.Delta}, {Name: "trip", X: []float64{0, float64(n - 1)}, Y: []float64{ps.Control.Signal.Trip, ps.Control.Signal.Trip}, Dashed: true}}},
			},
			report.Figure{
				File:    "forecast.svg",
				Caption: "Forecast made one launch lead earlier vs what came, with the P10-P90 band and the calibrated bound the plan used.",
				Chart:   forecastChart(sh, d.Start, 0, n),
			},
		)
		if lo, hi := busiestDay(d); hi > lo {
			page.Figures = append(page.Figures, report.Figure{
				File:    "forecast-busiest-day.svg",
				Caption: "The same, on the day of the highest demand.",
				Chart:   forecastChart(sh, d.Start, lo, hi),
			})
		}
	}
	if len(st.LiveCount) == n {
		live := make([]float64, n)
		shadows := make([]float64, n)
		for i := range live {
			live[i], shadows[i] = float64(st.LiveCount[i]), float64(st.ShadowCount[i])
		}
		page.Figures = append(page.Figures, report.Figure{
			File:    "shadows.svg",
			Caption: "In-service live instances and running shadows under the shadow policy: shadows follow their live instances.",
			Chart: report.Chart{Title: "Live instances and shadows", XLabel: "time (UTC)", YLabel: "instances", Start: d.Start,
				Series: []report.Series{{Name: "live in service", X: x, Y: live, Step: true}, {Name: "shadows", X: x, Y: shadows, Step: true, Dashed: true}}},
		})
	}
	if _, s, ok := byPolicy(rec, "shadow"); ok {
		t := report.Table{Caption: "The shadow policy's last capacity changes, with its reasons", Header: []string{"time", "from", "to", "reason"}}
		from := max(0, len(s.Decisions)-15)
		for _, dec := range s.Decisions[from:] {
			t.Rows = append(t.Rows, []string{d.Time(dec.Tick).Format("Jan 2 15:04"), strconv.Itoa(dec.From), strconv.Itoa(dec.To), dec.Reason})
		}
		page.Tables = append(page.Tables, t)
	}
	index, err := page.Write(dir)
	if err != nil {
		return "", fmt.Errorf("writing the report: %w", err)
	}
	if abs, err := filepath.Abs(index); err == nil {
		index = abs
	}
	return index, nil
}

func forecastChart(sh *sim.ShadowTrace, start time.Time, lo, hi int) report.Chart {
	x := minutes(hi)[lo:]
	return report.Chart{Title: "Forecast vs actual (mutations/min)", XLabel: "time (UTC)", YLabel: "mutations/min", Start: start,
		Bands: []report.Band{{Name: "forecast P10-P90", X: x, Lo: sh.P10[lo:hi], Hi: sh.P90[lo:hi]}},
		Series: []report.Series{
			{Name: "actual", X: x, Y: sh.Actual[lo:hi]},
			{Name: "forecast", X: x, Y: sh.Mean[lo:hi]},
			{Name: "calibrated bound", X: x, Y: sh.Upper[lo:hi], Dashed: true},
		}}
}

// busiestDay returns the tick range of the calendar day (UTC) holding the
// demand's maximum.
func busiestDay(d sim.Demand) (int, int) {
	best := 0
	for i, v := range d.Values {
		if v > d.Values[best] {
			best = i
		}
	}
	day := d.Time(best).Truncate(24 * time.Hour)
	lo := max(0, int(day.Sub(d.Start)/d.Tick))
	hi := min(d.Len(), lo+int(24*time.Hour/d.Tick))
	return lo, hi
}
