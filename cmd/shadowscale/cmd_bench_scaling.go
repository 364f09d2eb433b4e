package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/shadowscale/shadowscale/shared/sim"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

func init() {
	registerBench(&command{
		name:  "scaling",
		usage: "bench scaling [flags] FILE...",
		summary: "closed-loop scaling benchmark (../shared/bench/SCALING.md): replays each trace through a simulated fleet " +
			"under the reactive, predictive, shadow, oracle and shadow-blind policies and prints one line a trace and policy",
		run: runBenchScaling,
	})
}

// scalingFlags are bench scaling's flags: the simulation's knobs and the
// run's.
type scalingFlags struct {
	simFlags
	policies string
	workers  int
	totals   bool
	// Generality checks: synthetic traces, time reversal, slices.
	synthetic string
	synDays   int
	synSeeds  int
	reverse   bool
	slice     string
}

func runBenchScaling(ctx context.Context, e *env, args []string) error {
	c := &command{name: "bench scaling", usage: "bench scaling [flags] FILE...",
		summary: "Replays each CSV trace (timestamp,value) through the fleet model of SCALING.md under every policy, on a virtual clock.\n" +
			"Output, one line a trace and policy (tab separated):\n" +
			"  NAME POLICY overload_min=N risk_min=N unserved_pct=x live_inst_h=x shadow_inst_h=x cost_usd=x actions=N lead_min=x\n" +
			"On stderr: the sums over the traces, the shadow policy's ratios to reactive and oracle, what the shadows add\n" +
			"(shadow vs shadow-blind), and per trace how the shadows' signal warned of the overloads of the shadow-blind run\n" +
			"(open loop): NAME signal overloads=N preceded=N late=N missed=N lead_min=x trips=N false_alarms=N.\n" +
			glossary +
			"Gaps in a trace are filled by linear interpolation on its median-step grid; rows repeating a timestamp are merged into\n" +
			"their mean; unsorted timestamps are an error (that trace is skipped, the others run, the exit code says so)."}
	fs := newFlagSet(e, c)
	var f scalingFlags
	f.simFlags.register(fs)
	fs.StringVar(&f.policies, "policies", strings.Join(sim.PolicyNames, ","), "comma-separated policies to run")
	fs.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "simulations run in parallel")
	fs.BoolVar(&f.totals, "totals", false, "also print the sums as NAME TOTAL lines on stdout")
	fs.StringVar(&f.synthetic, "synthetic", "", "also run synthetic traces of these kinds (comma-separated, or all: "+strings.Join(sim.SyntheticKinds, ",")+")")
	fs.IntVar(&f.synDays, "synthetic-days", 21, "days of each synthetic trace")
	fs.IntVar(&f.synSeeds, "synthetic-seeds", 2, "synthetic traces of each kind (seeds 1..N)")
	fs.BoolVar(&f.reverse, "reverse", false, "run every FILE reversed in time (a generality check: same statistics, another sequence)")
	fs.StringVar(&f.slice, "slice", "", "run only a slice of every FILE, as fractions FROM:TO of its points (e.g. 0.5:1, the second half)")
	ok, err := parseFlags(fs, args)
	if !ok || err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 && f.synthetic == "" {
		return usageErrorf("name at least one trace FILE (or --synthetic KINDS)")
	}
	return benchScaling(ctx, e, f, files)
}

type scalingJob struct {
	trace  int
	policy string
}

func benchScaling(ctx context.Context, e *env, f scalingFlags, files []string) error {
	cfg, ps, names, err := scalingSetup(e, f)
	if err != nil {
		return err
	}
	demands, loadErrs, err := scalingDemands(e, f, cfg, files)
	if err != nil {
		return err
	}
	results, runErrs, err := runScalingJobs(ctx, f.workers, cfg, ps, names, demands)
	if err != nil {
		return err
	}
	for j, r := range results {
		if runErrs[j] != nil {
			loadErrs = append(loadErrs, runErrs[j])
			continue
		}
		fmt.Fprintln(e.stdout, r.Line())
	}
	writeTotals(e, f.totals, names, results, runErrs)
	if len(loadErrs) > 0 {
		return fmt.Errorf("%d of %d traces or runs failed: %w", len(loadErrs), len(demands)+len(loadErrs), errors.Join(loadErrs...))
	}
	return nil
}

// scalingSetup prices the fleet and builds the policies from the flags.
func scalingSetup(e *env, f scalingFlags) (sim.Config, sim.PolicySet, []string, error) {
	cfg, ps, shadowType, err := f.setup()
	if err != nil {
		return cfg, ps, nil, err
	}
	names, err := parsePolicies(f.policies)
	if err != nil {
		return cfg, ps, nil, err
	}
	if f.workers < 1 {
		return cfg, ps, nil, usageErrorf("workers %d: must be at least 1", f.workers)
	}
	e.log.Info("bench scaling", "live_type", f.liveType, "live_usd_h", cfg.LivePrice, "shadow_type", shadowType.Name, "shadow_usd_h", shadowType.USDPerHour)
	return cfg, ps, names, nil
}

// scalingDemands loads every trace (a bad one is reported and the others
// still run) and adds the synthetic ones; it returns the demands and the
// load errors.
func scalingDemands(e *env, f scalingFlags, cfg sim.Config, files []string) ([]sim.Demand, []error, error) {
	from, to, err := parseSlice(f.slice)
	if err != nil {
		return nil, nil, err
	}
	synth, err := syntheticTraces(f)
	if err != nil {
		return nil, nil, err
	}
	var (
		demands  []sim.Demand
		loadErrs []error
	)
	for _, path := range files {
		tr, err := trace.LoadWith(path, f.traceOptions())
		if err == nil {
			tr, err = transform(tr, f.reverse, from, to)
		}
		var d sim.Demand
		if err == nil {
			d, err = f.demand(tr, cfg)
		}
		if err != nil {
			loadErrs = append(loadErrs, fmt.Errorf("trace %s: %w", path, err))
			fmt.Fprintf(e.stderr, "shadowscale bench scaling: skipping %s: %v\n", path, err)
			continue
		}
		demands = append(demands, d)
	}
	for _, tr := range synth {
		d, err := f.demand(tr, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("synthetic trace %s: %w", tr.Name, err)
		}
		demands = append(demands, d)
	}
	return demands, loadErrs, nil
}

// runScalingJobs simulates every trace under every policy on workers
// goroutines; results and errors are in trace-then-policy order.
func runScalingJobs(ctx context.Context, workers int, cfg sim.Config, ps sim.PolicySet, names []string, demands []sim.Demand) ([]sim.Result, []error, error) {
	var jobs []scalingJob
	for i := range demands {
		for _, n := range names {
			jobs = append(jobs, scalingJob{trace: i, policy: n})
		}
	}
	results := make([]sim.Result, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(1, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				d := demands[jobs[j].trace]
				pols, err := ps.Build(cfg, d, []string{jobs[j].policy})
				if err != nil {
					errs[j] = err
					continue
				}
				res, err := sim.Run(cfg, d, pols)
				if err != nil {
					errs[j] = fmt.Errorf("simulating %s under %s: %w", d.Name, jobs[j].policy, err)
					continue
				}
				results[j] = res[0]
			}
		}()
	}
feed:
	for j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("bench scaling interrupted: %w", err)
	}
	return results, errs, nil
}

func parsePolicies(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		known := false
		for _, n := range sim.PolicyNames {
			known = known || n == p
		}
		if !known {
			return nil, usageErrorf("unknown policy %q (want some of %s)", p, strings.Join(sim.PolicyNames, ","))
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("no policy to run")
	}
	return out, nil
}

// writeTotals prints the sums over the traces per policy and the shadow
// policy's ratios to reactive and oracle.
func writeTotals(e *env, toStdout bool, names []string, results []sim.Result, errs []error) {
	type sum struct {
		sim.Result
		traces int
	}
	sums := map[string]*sum{}
	var sig *sim.SignalStats
	for j, r := range results {
		if errs[j] != nil {
			continue
		}
		if r.Signal != nil {
			fmt.Fprintln(e.stderr, r.Signal.Line(r.Trace))
			if sig == nil {
				sig = &sim.SignalStats{}
			}
			sig.Add(*r.Signal)
		}
		s := sums[r.Policy]
		if s == nil {
			s = &sum{Result: sim.Result{Trace: "TOTAL", Policy: r.Policy, LeadMin: math.NaN()}}
			sums[r.Policy] = s
		}
		s.traces++
		s.OverloadMin += r.OverloadMin
		s.RiskMin += r.RiskMin
		s.LiveInstH += r.LiveInstH
		s.ShadowInstH += r.ShadowInstH
		s.CostUSD += r.CostUSD
		s.Actions += r.Actions
		s.DemandSum += r.DemandSum
		s.UnservedSum += r.UnservedSum
	}
	if len(sums) == 0 {
		return
	}
	var w io.Writer = e.stderr
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nsums over the traces\tpolicy\toverload_min\trisk_min\tlive_inst_h\tshadow_inst_h\tcost_usd\tactions\n")
	for _, n := range names {
		s := sums[n]
		if s == nil {
			continue
		}
		fmt.Fprintf(tw, "%d traces\t%s\t%d\t%d\t%.1f\t%.1f\t%.2f\t%d\n", s.traces, n, s.OverloadMin, s.RiskMin, s.LiveInstH, s.ShadowInstH, s.CostUSD, s.Actions)
		if toStdout {
			if s.DemandSum > 0 {
				s.UnservedPct = 100 * s.UnservedSum / s.DemandSum
			}
			fmt.Fprintln(e.stdout, s.Line())
		}
	}
	tw.Flush()
	ratio := func(a, b float64) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.3f", a/b)
	}
	if sh, re, or := sums["shadow"], sums["reactive"], sums["oracle"]; sh != nil && re != nil && or != nil {
		fmt.Fprintf(w, "shadow / reactive: overload %s (goal <= 0.30), risk %s (goal <= 0.30), cost %s (goal <= 1.00); shadow / oracle cost %s (goal <= 1.30)\n",
			ratio(float64(sh.OverloadMin), float64(re.OverloadMin)), ratio(float64(sh.RiskMin), float64(re.RiskMin)), ratio(sh.CostUSD, re.CostUSD), ratio(sh.CostUSD, or.CostUSD))
	}
	if sh, bl := sums["shadow"], sums["shadow-blind"]; sh != nil && bl != nil {
		fmt.Fprintf(w, "what the shadows add (shadow vs shadow-blind): overload %s (%d vs %d), risk %s (%d vs %d), cost %s ($%.2f vs $%.2f, shadows included)\n",
			change(float64(sh.OverloadMin), float64(bl.OverloadMin)), sh.OverloadMin, bl.OverloadMin,
			change(float64(sh.RiskMin), float64(bl.RiskMin)), sh.RiskMin, bl.RiskMin,
			change(sh.CostUSD, bl.CostUSD), sh.CostUSD, bl.CostUSD)
	}
	if sig != nil {
		fmt.Fprintf(w, "the shadows' signal as a warning (open loop, in the shadow-blind runs): %d overload episodes, %d preceded by a trip (median lead %s min), %d tripped late, %d missed; %d trips, %d false alarms (no overload within 15 min)\n",
			sig.Overloads, sig.Preceded, fmtMinutes(sig.LeadMin), sig.Late, sig.Missed, sig.Trips, sig.FalseAlarms)
	}
}

func fmtMinutes(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// change says how a differs from b, as a signed percentage ("-95%",
// "+3.1%", "0%"; "n/a" when b is 0 and a is not).
func change(a, b float64) string {
	switch {
	case a == b:
		return "0%"
	case b == 0:
		return "n/a"
	}
	pct := 100 * (a - b) / b
	if math.Abs(pct) >= 10 {
		return fmt.Sprintf("%+.0f%%", pct)
	}
	return fmt.Sprintf("%+.1f%%", pct)
}

// parseSlice reads FROM:TO fractions (empty: the whole trace).
func parseSlice(s string) (from, to float64, err error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if ok {
		from, err = strconv.ParseFloat(a, 64)
		if err == nil {
			to, err = strconv.ParseFloat(b, 64)
		}
	}
	if !ok || err != nil || !(from >= 0 && from < to && to <= 1) {
		return 0, 0, usageErrorf("slice %q: want FROM:TO with 0 <= FROM < TO <= 1", s)
	}
	return from, to, nil
}

// transform reverses and slices a trace for the generality checks.
func transform(tr trace.Trace, reverse bool, from, to float64) (trace.Trace, error) {
	n := tr.Len()
	if reverse {
		v := make([]float64, n)
		for i := range v {
			v[i] = tr.Values[n-1-i]
		}
		tr.Values = v
	}
	if from > 0 || to < 1 {
		i, j := int(from*float64(n)), int(to*float64(n))
		if j-i < trace.MinPoints {
			return trace.Trace{}, fmt.Errorf("slice %v:%v leaves %d points: %w", from, to, j-i, trace.ErrInvalid)
		}
		tr = trace.Trace{Name: tr.Name, Times: tr.Times[i:j], Values: tr.Values[i:j]}
	}
	return tr, nil
}

// syntheticTraces makes the --synthetic traces.
func syntheticTraces(f scalingFlags) ([]trace.Trace, error) {
	if f.synthetic == "" {
		return nil, nil
	}
	kinds := strings.Split(f.synthetic, ",")
	if f.synthetic == "all" {
		kinds = sim.SyntheticKinds
	}
	if f.synSeeds < 1 || f.synSeeds > 100 {
		return nil, usageErrorf("synthetic-seeds %d: must be 1 to 100", f.synSeeds)
	}
	var out []trace.Trace
	for _, k := range kinds {
		for seed := 1; seed <= f.synSeeds; seed++ {
			tr, err := sim.Synthetic(strings.TrimSpace(k), f.synDays, uint64(seed))
			if err != nil {
				return nil, usageErrorf("%v", err)
			}
			out = append(out, tr)
		}
	}
	return out, nil
}
