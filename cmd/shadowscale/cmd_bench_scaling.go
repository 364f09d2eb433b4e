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
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/control"
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

// scalingFlags are the fleet model's and the policies' knobs.
type scalingFlags struct {
	cfg        sim.Config
	liveType   string
	policies   string
	quantile   float64
	targetUtil float64
	inWindow   time.Duration
	forecaster string
	trip       float64
	calibrate  bool
	oracleUtil float64
	days       int
	buffer     time.Duration
	workers    int
	totals     bool
	// Generality checks: synthetic traces, time reversal, slices.
	synthetic string
	synDays   int
	synSeeds  int
	reverse   bool
	slice     string
	// Scenarios of SCALING.md.
	drift string
}

func runBenchScaling(ctx context.Context, e *env, args []string) error {
	c := &command{name: "bench scaling", usage: "bench scaling [flags] FILE...",
		summary: "Replays each CSV trace (timestamp,value) through the fleet model of SCALING.md under every policy, on a virtual clock.\n" +
			"Output, one line a trace and policy (tab separated):\n" +
			"  NAME POLICY overload_min=N risk_min=N unserved_pct=x live_inst_h=x shadow_inst_h=x cost_usd=x actions=N lead_min=x\n" +
			"Sums over the traces and ratios to reactive and oracle go to stderr (or stdout as NAME TOTAL lines with --totals).\n" +
			"Gaps in a trace are filled by linear interpolation on its median-step grid; unsorted or duplicate timestamps are errors."}
	fs := newFlagSet(e, c)
	def := sim.DefaultConfig()
	var f scalingFlags
	fs.DurationVar(&f.cfg.Tick, "tick", def.Tick, "simulation tick (the demand is interpolated to it)")
	fs.Float64Var(&f.cfg.Capacity, "capacity", def.Capacity, "requests per second one live instance serves (C)")
	fs.Float64Var(&f.cfg.P99Instances, "p99-instances", def.P99Instances, "the demand is scaled so that its 99th percentile is this many instance capacities")
	fs.Float64Var(&f.cfg.WriteShare, "write-share", def.WriteShare, "share of the demand that is mutations (w)")
	fs.Float64Var(&f.cfg.ShadowCPU, "shadow-cpu", def.ShadowCPU, "shadow CPU as a fraction of its live instance's (r)")
	fs.Float64Var(&f.cfg.ShadowMemory, "shadow-memory", def.ShadowMemory, "shadow memory as a fraction of its live instance's")
	fs.Float64Var(&f.cfg.Sample, "sample", def.Sample, "fraction of the mutations sent to the shadow (f)")
	fs.DurationVar(&f.cfg.Pending, "pending", def.Pending, "time from launch to running")
	fs.DurationVar(&f.cfg.WarmUp, "warmup", def.WarmUp, "instance warm-up after pending, before it serves")
	fs.IntVar(&f.cfg.Min, "min", def.Min, "group minimum")
	fs.IntVar(&f.cfg.Max, "max", def.Max, "group maximum")
	fs.Float64Var(&f.cfg.Target, "target", def.Target, "target utilization T of reactive and predictive (and of lead_min)")
	fs.Float64Var(&f.cfg.RiskUtil, "risk", def.RiskUtil, "a minute is at risk above this utilization")
	fs.StringVar(&f.liveType, "live-type", "m7g.xlarge", "live instance type (prices from the embedded catalog; the shadow type is sized from it)")
	fs.StringVar(&f.policies, "policies", strings.Join(sim.PolicyNames, ","), "comma-separated policies to run")
	fs.Float64Var(&f.oracleUtil, "oracle-util", 0.9, "the oracle's maximum utilization")
	fs.IntVar(&f.days, "predictive-days", 14, "days of history the predictive policy averages")
	fs.DurationVar(&f.buffer, "predictive-buffer", 300*time.Second, "the predictive policy orders each hour's capacity this long before it")
	fs.Float64Var(&f.quantile, "shadow-quantile", 0, "shadow: quantile of the forecast's standardized errors it plans for (0: default)")
	fs.Float64Var(&f.targetUtil, "shadow-target-util", 0, "shadow: utilization it plans for at the forecast's upper bound (0: default)")
	fs.DurationVar(&f.inWindow, "shadow-scale-in-window", -1, "shadow: scale-in stabilization window (-1: default)")
	fs.Float64Var(&f.trip, "shadow-trip", 0, "shadow: the delta at which the signal trips (0: default; 1: never, to measure the signal's part)")
	fs.BoolVar(&f.calibrate, "shadow-calibrate", true, "shadow: size the margin on the forecaster's record (false: plan for its raw P90)")
	fs.StringVar(&f.forecaster, "shadow-forecaster", "default", "shadow: the loop's forecaster, default (the forecast package's online model) or smoother (the loop's built-in one)")
	fs.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "simulations run in parallel")
	fs.BoolVar(&f.totals, "totals", false, "also print the sums as NAME TOTAL lines on stdout")
	fs.StringVar(&f.synthetic, "synthetic", "", "also run synthetic traces of these kinds (comma-separated, or all: "+strings.Join(sim.SyntheticKinds, ",")+")")
	fs.IntVar(&f.synDays, "synthetic-days", 21, "days of each synthetic trace")
	fs.IntVar(&f.synSeeds, "synthetic-seeds", 2, "synthetic traces of each kind (seeds 1..N)")
	fs.BoolVar(&f.reverse, "reverse", false, "run every FILE reversed in time (a generality check: same statistics, another sequence)")
	fs.StringVar(&f.slice, "slice", "", "run only a slice of every FILE, as fractions FROM:TO of its points (e.g. 0.5:1, the second half)")
	fs.StringVar(&f.drift, "capacity-drift", "", "scenario: from the fraction AT of each trace on, an instance serves FACTOR x C (AT:FACTOR[,AT:FACTOR...], e.g. 0.4:0.7 or 0.4:0.7,0.7:1); the policies are told only C")
	fs.BoolVar(&f.cfg.UnknownCapacity, "unknown-capacity", false, "scenario: the shadow policy is not told C; it learns it from the fan-out's counts and the group's utilization")
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
	cat, err := catalog.Default()
	if err != nil {
		return sim.Config{}, sim.PolicySet{}, nil, fmt.Errorf("loading the instance catalog: %w", err)
	}
	cfg := f.cfg
	livePrice, shadowType, err := sim.Prices(cat, f.liveType, catalog.Fractions{CPU: cfg.ShadowCPU, Memory: cfg.ShadowMemory})
	if err != nil {
		return cfg, sim.PolicySet{}, nil, usageErrorf("%v", err)
	}
	cfg.LivePrice, cfg.ShadowPrice = livePrice, shadowType.USDPerHour
	if cfg.Drift, err = sim.ParseDrift(f.drift); err != nil {
		return cfg, sim.PolicySet{}, nil, usageErrorf("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, sim.PolicySet{}, nil, usageErrorf("%v", err)
	}
	names, err := parsePolicies(f.policies)
	if err != nil {
		return cfg, sim.PolicySet{}, nil, err
	}
	if f.workers < 1 {
		return cfg, sim.PolicySet{}, nil, usageErrorf("workers %d: must be at least 1", f.workers)
	}
	ps, err := scalingPolicies(f, cfg)
	if err != nil {
		return cfg, ps, nil, err
	}
	e.log.Info("bench scaling", "live_type", f.liveType, "live_usd_h", livePrice, "shadow_type", shadowType.Name, "shadow_usd_h", shadowType.USDPerHour)
	return cfg, ps, names, nil
}

// scalingPolicies is the policy set with the flags' overrides.
func scalingPolicies(f scalingFlags, cfg sim.Config) (sim.PolicySet, error) {
	ps := sim.DefaultPolicySet(cfg)
	ps.InstanceType = f.liveType
	ps.Oracle.MaxUtil = f.oracleUtil
	ps.Predictive.Days = f.days
	ps.Predictive.Buffer = f.buffer
	if f.quantile != 0 {
		ps.Control.Calibration.Quantile = f.quantile
	}
	if f.targetUtil != 0 {
		ps.Control.Policy.TargetUtilization = f.targetUtil
	}
	if f.inWindow >= 0 {
		ps.Control.Policy.ScaleInWindow = f.inWindow
	}
	if f.trip != 0 {
		ps.Control.TripUtilization = f.trip
	}
	if !f.calibrate {
		ps.Control.Calibration.MinSamples = math.MaxInt32
	}
	if !(f.oracleUtil > 0 && f.oracleUtil <= 1) || f.days < 1 || f.buffer < 0 {
		return ps, usageErrorf("oracle-util %v must be in (0, 1], predictive-days %d at least 1, predictive-buffer %v not negative", f.oracleUtil, f.days, f.buffer)
	}
	if err := ps.ControlConfig(cfg).Validate(); err != nil {
		return ps, usageErrorf("shadow policy: %v", err)
	}
	switch f.forecaster {
	case "default":
	case "smoother":
		ps.NewPredictor = control.SmootherPredictor(ps.ControlConfig(cfg))
	default:
		return ps, usageErrorf("shadow forecaster %q: want default or smoother", f.forecaster)
	}
	return ps, nil
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
		tr, err := trace.Load(path)
		if err == nil {
			tr, err = transform(tr, f.reverse, from, to)
		}
		var d sim.Demand
		if err == nil {
			d, err = sim.PrepareDemand(tr, cfg.Tick, 0.99, cfg.P99Instances*cfg.Capacity)
		}
		if err != nil {
			loadErrs = append(loadErrs, fmt.Errorf("trace %s: %w", path, err))
			fmt.Fprintf(e.stderr, "shadowscale bench scaling: skipping %s: %v\n", path, err)
			continue
		}
		demands = append(demands, d)
	}
	for _, tr := range synth {
		d, err := sim.PrepareDemand(tr, cfg.Tick, 0.99, cfg.P99Instances*cfg.Capacity)
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
