package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/sim"
	"github.com/shadowscale/shadowscale/shared/sim/trace"
)

// simFlags are the fleet model's, the policies' and the scenarios' knobs,
// shared by `simulate` and `bench scaling`.
type simFlags struct {
	cfg        sim.Config
	liveType   string
	quantile   float64
	targetUtil float64
	inWindow   time.Duration
	forecaster string
	trip       float64
	calibrate  bool
	oracleUtil float64
	days       int
	buffer     time.Duration
	drift      string
	// policy is the forecaster Lambda's policy JSON (SHADOWSCALE_POLICY),
	// inline or @FILE, applied to the shadow loop before the other knobs.
	policy string
	// Columns of the traces.
	timeColumn, valueColumn string
}

// register declares the knobs on fs.
func (f *simFlags) register(fs *flag.FlagSet) {
	def := sim.DefaultConfig()
	f.cfg = def
	fs.DurationVar(&f.cfg.Tick, "tick", def.Tick, "simulation tick (the demand is interpolated to it)")
	fs.Float64Var(&f.cfg.Capacity, "capacity", def.Capacity, "what one live instance serves at 100%, in the demand's unit a second (C)")
	fs.Float64Var(&f.cfg.P99Instances, "p99-instances", def.P99Instances, "the demand is scaled so that its 99th percentile is this many instance capacities (0: not scaled)")
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
	fs.Float64Var(&f.oracleUtil, "oracle-util", 0.9, "the oracle's maximum utilization")
	fs.IntVar(&f.days, "predictive-days", 14, "days of history the predictive policy averages")
	fs.DurationVar(&f.buffer, "predictive-buffer", 300*time.Second, "the predictive policy orders each hour's capacity this long before it")
	fs.StringVar(&f.policy, "policy", "", "shadow: the forecaster Lambda's policy JSON (SHADOWSCALE_POLICY), inline or @FILE; the flags below override it")
	fs.Float64Var(&f.quantile, "shadow-quantile", 0, "shadow: quantile of the forecast's standardized errors it plans for (0: default)")
	fs.Float64Var(&f.targetUtil, "shadow-target-util", 0, "shadow: utilization it plans for at the forecast's upper bound (0: default)")
	fs.DurationVar(&f.inWindow, "shadow-scale-in-window", -1, "shadow: scale-in stabilization window (-1: default)")
	fs.Float64Var(&f.trip, "shadow-trip", 0, "shadow: the live utilization at which the shadows' signal trips (0: default; above 1: never)")
	fs.BoolVar(&f.calibrate, "shadow-calibrate", true, "shadow: size the margin on the forecaster's record (false: plan for its raw P90)")
	fs.StringVar(&f.forecaster, "shadow-forecaster", "default", "shadow: the loop's forecaster, default (the forecast package's online model) or smoother (the loop's built-in one)")
	fs.StringVar(&f.drift, "capacity-drift", "", "scenario: from the fraction AT of each trace on, an instance serves FACTOR x C (AT:FACTOR[,AT:FACTOR...], e.g. 0.4:0.7 or 0.4:0.7,0.7:1); the policies are told only C")
	fs.BoolVar(&f.cfg.UnknownCapacity, "unknown-capacity", false, "scenario: the shadow policy is not told C; it learns it from the fan-out's counts and the group's utilization")
	fs.StringVar(&f.timeColumn, "time-column", "", "the traces' time column, by header or 1-based position (default: timestamp, time, date or the first)")
	fs.StringVar(&f.valueColumn, "value-column", "", "the traces' value column, by header or 1-based position (default: value, average, sum, ... or the second)")
}

// setup prices the fleet, reads the scenario and builds the policies.
func (f *simFlags) setup() (sim.Config, sim.PolicySet, catalog.InstanceType, error) {
	cat, err := catalog.Default()
	if err != nil {
		return sim.Config{}, sim.PolicySet{}, catalog.InstanceType{}, fmt.Errorf("loading the instance catalog: %w", err)
	}
	cfg := f.cfg
	livePrice, shadowType, err := sim.Prices(cat, f.liveType, catalog.Fractions{CPU: cfg.ShadowCPU, Memory: cfg.ShadowMemory})
	if err != nil {
		return cfg, sim.PolicySet{}, shadowType, usageErrorf("%v", err)
	}
	cfg.LivePrice, cfg.ShadowPrice = livePrice, shadowType.USDPerHour
	if cfg.Drift, err = sim.ParseDrift(f.drift); err != nil {
		return cfg, sim.PolicySet{}, shadowType, usageErrorf("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, sim.PolicySet{}, shadowType, usageErrorf("%v", err)
	}
	ps, err := f.policies(cfg)
	return cfg, ps, shadowType, err
}

// policies is the policy set with the knobs' overrides.
func (f *simFlags) policies(cfg sim.Config) (sim.PolicySet, error) {
	ps := sim.DefaultPolicySet(cfg)
	ps.InstanceType = f.liveType
	ps.Oracle.MaxUtil = f.oracleUtil
	ps.Predictive.Days = f.days
	ps.Predictive.Buffer = f.buffer
	if f.policy != "" {
		raw := []byte(f.policy)
		if name, ok := strings.CutPrefix(f.policy, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return ps, fmt.Errorf("reading the policy: %w", err)
			}
			raw = b
		}
		if !json.Valid(raw) {
			return ps, usageErrorf("policy: not JSON (give the JSON inline or @FILE)")
		}
		cc, err := control.ApplyOverrides(ps.Control, raw)
		if err != nil {
			return ps, usageErrorf("policy: %v", err)
		}
		ps.Control = cc
	}
	if f.quantile != 0 {
		ps.Control.Calibration.Quantile = f.quantile
	}
	if f.targetUtil != 0 {
		ps.Control.Policy.TargetUtilization = f.targetUtil
	}
	if f.inWindow >= 0 {
		ps.Control.Policy.ScaleInWindow = f.inWindow
	}
	if f.trip > 1 {
		ps.Control.TripUtilization = 1
		ps.Control.Signal.Trip, ps.Control.Signal.Clear = 1, 0.5
		ps.Control.Capacity.Shadows = control.ShadowModel{} // no model: the fixed trip of 1 never fires
	} else if f.trip != 0 {
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

// traceOptions are the traces' columns.
func (f *simFlags) traceOptions() trace.Options {
	return trace.Options{TimeColumn: f.timeColumn, ValueColumn: f.valueColumn}
}

// demand turns a trace into the run's demand: scaled so that its 99th
// percentile is P99Instances capacities, or as it is when that is 0 (the
// trace then is in the unit of --capacity).
func (f *simFlags) demand(tr trace.Trace, cfg sim.Config) (sim.Demand, error) {
	if cfg.P99Instances == 0 {
		return sim.PrepareDemand(tr, cfg.Tick, 0, 0)
	}
	return sim.PrepareDemand(tr, cfg.Tick, 0.99, cfg.P99Instances*cfg.Capacity)
}

// glossary explains the result fields (bench/SCALING.md), for -h and the
// report.
const glossary = `Fields:
  overload_min   minutes with demand above the in-service capacity (utilization over 100%)
  risk_min       minutes with utilization above 90% (-risk)
  unserved_pct   demand above capacity, summed, as a percentage of all demand
  live_inst_h    live instance-hours paid, launch to termination; shadow_inst_h the same for shadows
  cost_usd       both, at on-demand prices (the shadow policy pays for its shadows)
  actions        capacity changes ordered
  lead_min       median, over scale-outs, of the minutes from the order to the first minute the added
                 capacity was needed (demand above the target without it); negative: the order came late
`

// glossaryRows is the glossary as table rows, for the report.
func glossaryRows() [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(glossary), "\n")[1:] {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		line = strings.TrimSpace(line)
		if indent > 2 && len(rows) > 0 { // the field's text, continued
			rows[len(rows)-1][1] += " " + line
			continue
		}
		name, text, ok := strings.Cut(line, " ")
		if !ok || name == "" {
			continue
		}
		rows = append(rows, []string{name, strings.TrimSpace(text)})
	}
	return rows
}
