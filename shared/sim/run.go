package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the fleet model of SCALING.md. DefaultConfig gives its values.
type Config struct {
	Tick         time.Duration // 60 s
	Capacity     float64       // requests/s one live instance serves (C)
	P99Instances float64       // the demand's 99th percentile, in instance capacities (8; 0: not scaled)
	WriteShare   float64       // share of the demand that is mutations (w = 0.3)
	ShadowCPU    float64       // shadow CPU fraction r (0.25): it applies at most r·C mutations/s
	ShadowMemory float64       // shadow memory fraction (0.10), for sizing its type
	Sample       float64       // fraction of mutations sent to the shadow (f = 1.0)
	Pending      time.Duration // 60 s
	WarmUp       time.Duration // 240 s
	Min, Max     int           // 1, 20
	RiskUtil     float64       // a tick is at risk above this utilization (0.9)
	Target       float64       // the T of the baselines and of lead_min (0.6)
	LivePrice    float64       // USD per live instance-hour
	ShadowPrice  float64       // USD per shadow instance-hour
	// Drift is SCALING.md's -capacity-drift: from the fraction At of the
	// trace on, an instance serves Factor·C (ordered by At; 1 before the
	// first). Live utilization and the shadows' apply rate follow it; the
	// policies are told only C.
	Drift []Drift
	// UnknownCapacity is SCALING.md's -unknown-capacity: the shadow policy
	// is not told C and learns it from the fan-out's counts and the group's
	// utilization as CloudWatch reports it.
	UnknownCapacity bool
}

// Drift is one change of the true per-instance capacity.
type Drift struct {
	At     float64 // fraction of the trace, in [0, 1)
	Factor float64 // true capacity over C from At on (> 0)
}

// ParseDrift reads -capacity-drift's AT:FACTOR[,AT:FACTOR...].
func ParseDrift(s string) ([]Drift, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Drift
	for _, part := range strings.Split(s, ",") {
		at, factor, ok := strings.Cut(strings.TrimSpace(part), ":")
		a, aerr := strconv.ParseFloat(at, 64)
		f, ferr := strconv.ParseFloat(factor, 64)
		if !ok || aerr != nil || ferr != nil {
			return nil, fmt.Errorf("capacity drift %q: want AT:FACTOR[,AT:FACTOR...], e.g. 0.4:0.7: %w", part, ErrBadInput)
		}
		out = append(out, Drift{At: a, Factor: f})
	}
	return out, nil
}

// CapacityAt is the true per-instance capacity at tick t of a run of n
// ticks (C, or its drift).
func (c Config) CapacityAt(t, n int) float64 { return c.Capacity * c.factorAt(t, n) }

// factorAt is the true capacity over C at tick t of n.
func (c Config) factorAt(t, n int) float64 {
	f := 1.0
	for _, d := range c.Drift {
		if float64(t) >= d.At*float64(n) {
			f = d.Factor
		}
	}
	return f
}

// DefaultConfig returns SCALING.md's fleet model. Prices are left zero: the
// caller takes them from the catalog (see cmd/shadowscale).
func DefaultConfig() Config {
	return Config{
		Tick: time.Minute, Capacity: 100, P99Instances: 8, WriteShare: 0.3,
		ShadowCPU: 0.25, ShadowMemory: 0.10, Sample: 1.0,
		Pending: time.Minute, WarmUp: 4 * time.Minute, Min: 1, Max: 20,
		RiskUtil: 0.9, Target: 0.6,
	}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	pos := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", name, v))
		}
	}
	frac := func(name string, v float64) {
		if !(v > 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s %v: must be in (0, 1]", name, v))
		}
	}
	if c.Tick <= 0 {
		errs = append(errs, fmt.Errorf("tick %v: must be positive", c.Tick))
	}
	pos("capacity", c.Capacity)
	if !(c.P99Instances >= 0) || math.IsInf(c.P99Instances, 0) {
		errs = append(errs, fmt.Errorf("p99 instances %v: must be positive, or 0 for a demand not scaled", c.P99Instances))
	}
	frac("write share", c.WriteShare)
	frac("shadow cpu fraction", c.ShadowCPU)
	frac("shadow memory fraction", c.ShadowMemory)
	frac("sample fraction", c.Sample)
	frac("risk utilization", c.RiskUtil)
	frac("target utilization", c.Target)
	if c.Pending < 0 || c.WarmUp < 0 {
		errs = append(errs, fmt.Errorf("pending %v and warm-up %v: must not be negative", c.Pending, c.WarmUp))
	}
	if c.Min < 1 {
		errs = append(errs, fmt.Errorf("min %d: must be at least 1", c.Min))
	}
	if c.Max < c.Min {
		errs = append(errs, fmt.Errorf("max %d: must be at least min %d", c.Max, c.Min))
	}
	if c.LivePrice < 0 || c.ShadowPrice < 0 || math.IsNaN(c.LivePrice) || math.IsNaN(c.ShadowPrice) {
		errs = append(errs, fmt.Errorf("prices %v/%v: must not be negative", c.LivePrice, c.ShadowPrice))
	}
	for i, d := range c.Drift {
		if !(d.At >= 0 && d.At < 1) || !(d.Factor > 0) || math.IsInf(d.Factor, 0) || (i > 0 && d.At <= c.Drift[i-1].At) {
			errs = append(errs, fmt.Errorf("capacity drift %v:%v: want AT in [0, 1), increasing, and FACTOR positive", d.At, d.Factor))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return nil
}

// Lead is the number of ticks from a launch order to in service.
func (c Config) Lead() int {
	return int(math.Ceil(float64(c.Pending+c.WarmUp) / float64(c.Tick)))
}

// Initial is the count every policy starts with in service:
// ceil(first tick's demand / (T·C)) within [Min, Max].
func (c Config) Initial(d Demand) int {
	return clamp(need(d.Values[0], c.Capacity, c.Target), c.Min, c.Max)
}

// Result is one policy's figures over one run.
type Result struct {
	Trace, Policy string
	// Ticks is how many ticks the run covered (all of the demand unless it
	// was stopped).
	Ticks       int
	OverloadMin int     // minutes with demand above in-service capacity
	RiskMin     int     // minutes with utilization above RiskUtil
	UnservedPct float64 // demand above capacity, summed, as % of all demand
	LiveInstH   float64 // live instance-hours paid
	ShadowInstH float64 // shadow instance-hours paid
	CostUSD     float64
	Actions     int     // capacity changes ordered
	LeadMin     float64 // median lead of scale-out orders, minutes (NaN without any)
	ScaleOuts   int     // scale-out orders (lead_min's sample size)
	// DemandSum and UnservedSum are the demand and the demand above capacity
	// summed over the ticks (requests/s x ticks), for sums over traces.
	DemandSum, UnservedSum float64
	// Signal is how the shadows' signal warned of this run's overloads:
	// set for the shadow-blind policy (open loop), nil otherwise.
	Signal *SignalStats
}

// Line formats r as SCALING.md's output line.
func (r Result) Line() string {
	return fmt.Sprintf("%s\t%s\toverload_min=%d\trisk_min=%d\tunserved_pct=%.3f\tlive_inst_h=%.1f\tshadow_inst_h=%.1f\tcost_usd=%.2f\tactions=%d\tlead_min=%s",
		r.Trace, r.Policy, r.OverloadMin, r.RiskMin, r.UnservedPct, r.LiveInstH, r.ShadowInstH, r.CostUSD, r.Actions, fmtLead(r.LeadMin))
}

func fmtLead(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// Decision is one capacity change a policy ordered.
type Decision struct {
	Tick     int
	From, To int
	Reason   string
}

// Series is the per-tick record of one policy, for reports.
type Series struct {
	Policy    string
	InService []int32 // in-service instances at each tick
	Desired   []int32 // desired count after the tick's decision
	Decisions []Decision
}

// Run replays demand through the fleet model under each policy (each gets
// its own group) and returns one Result per policy, in the order given.
func Run(cfg Config, d Demand, policies []Policy) ([]Result, error) {
	res, _, err := RunRecorded(cfg, d, policies, false)
	return res, err
}

// RunRecorded is Run that can also return each policy's per-tick series.
func RunRecorded(cfg Config, d Demand, policies []Policy, record bool) ([]Result, []Series, error) {
	return RunContext(context.Background(), cfg, d, policies, record)
}

// RunContext is RunRecorded that stops soon after ctx ends: it returns
// the results so far, the run under way cut at the tick it reached
// (Result.Ticks), and ctx's error.
func RunContext(ctx context.Context, cfg Config, d Demand, policies []Policy, record bool) ([]Result, []Series, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	if d.Len() == 0 {
		return nil, nil, fmt.Errorf("demand %s has no ticks: %w", d.Name, ErrBadInput)
	}
	for i, v := range d.Values {
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, nil, fmt.Errorf("demand %s at tick %d is %v: must be finite and not negative: %w", d.Name, i, v, ErrBadInput)
		}
	}
	var results []Result
	var series []Series
	for _, p := range policies {
		r, s := runOne(ctx, cfg, d, p, record)
		results = append(results, r)
		if record {
			series = append(series, s)
		}
		if err := ctx.Err(); err != nil {
			return results, series, fmt.Errorf("simulating %s: stopped at tick %d of %d: %w", p.Name(), r.Ticks, d.Len(), err)
		}
	}
	return results, series, nil
}

// checkEvery is how often (in ticks) a run looks at its context.
const checkEvery = 1024

func runOne(ctx context.Context, cfg Config, d Demand, p Policy, record bool) (Result, Series) {
	lead := cfg.Lead()
	f := newFleet(cfg.Min, cfg.Max, lead, cfg.Initial(d))
	shadows := false
	if sr, ok := p.(shadowRunner); ok {
		shadows = sr.RunsShadows()
	}
	n := d.Len()
	desired := make([]int32, n)
	var inSvc []int32
	s := Series{Policy: p.Name()}
	if record {
		inSvc = make([]int32, n)
	}
	res := Result{Trace: d.Name, Policy: p.Name(), Ticks: n}
	var total, unserved float64
	type order struct{ tick, from, to int }
	var outs []order
	tickSec := cfg.Tick.Seconds()
	var rc []ResourceCount
	watch, _ := p.(signalWatcher)
	var overloaded []bool
	if watch != nil && watch.Watching() {
		overloaded = make([]bool, n)
	}
	for t := 0; t < n; t++ {
		if t%checkEvery == 0 && ctx.Err() != nil {
			n = t // what is done is the run
			desired = desired[:n]
			if inSvc != nil {
				inSvc = inSvc[:n]
			}
			if overloaded != nil {
				overloaded = overloaded[:n]
			}
			break
		}
		inService, warming := f.counts(t)
		dem := d.Values[t]
		trueCap := cfg.Capacity * cfg.factorAt(t, n)
		shadowRate := cfg.ShadowCPU * trueCap * tickSec // mutations a shadow applies per tick at most
		capa := float64(inService) * trueCap
		total += dem
		if dem > capa {
			res.OverloadMin++
			unserved += dem - capa
			if overloaded != nil {
				overloaded[t] = true
			}
		}
		if dem > cfg.RiskUtil*capa {
			res.RiskMin++
		}
		v := View{Tick: t, Time: d.Time(t), Demand: dem, Capacity: cfg.Capacity, TrueCapacity: trueCap, Utilization: math.Inf(1),
			InService: inService, Warming: warming, Desired: f.desired(), Min: cfg.Min, Max: cfg.Max}
		if inService > 0 {
			v.Utilization = dem / capa
		}
		{
			rc = rc[:0]
			per := 0.0
			if inService > 0 {
				per = dem / float64(inService) // requests/s offered to each in-service instance
			}
			served := min(per, trueCap)
			for i := range f.insts {
				in := &f.insts[i]
				if in.ready > t {
					continue
				}
				offered := cfg.WriteShare * per * tickSec
				applied := cfg.WriteShare * served * tickSec
				toShadow := applied * cfg.Sample
				avail := in.shadowBacklog + toShadow
				sApplied := min(avail, shadowRate)
				in.shadowBacklog = avail - sApplied
				rc = append(rc, ResourceCount{ID: "i-" + strconv.Itoa(in.id), LiveAccepted: offered, LiveApplied: applied, ShadowApplied: sApplied, ShadowBacklog: in.shadowBacklog})
			}
			v.Resources = rc
		}
		o := p.Decide(v)
		from := f.desired()
		to := f.setDesired(t, o.Desired)
		if to != from {
			res.Actions++
			if to > from {
				outs = append(outs, order{t, from, to})
			}
			if record {
				s.Decisions = append(s.Decisions, Decision{Tick: t, From: from, To: to, Reason: o.Reason})
			}
		}
		desired[t] = int32(to)
		if record {
			inSvc[t] = int32(inService)
		}
		f.pay()
	}
	res.Ticks = n
	// The minute figures count ticks of Tick.
	res.OverloadMin = int(math.Round(float64(res.OverloadMin) * cfg.Tick.Minutes()))
	res.RiskMin = int(math.Round(float64(res.RiskMin) * cfg.Tick.Minutes()))
	hours := float64(f.instTicks) * cfg.Tick.Hours()
	res.LiveInstH = hours
	if shadows {
		res.ShadowInstH = hours
	}
	res.CostUSD = res.LiveInstH*cfg.LivePrice + res.ShadowInstH*cfg.ShadowPrice
	if overloaded != nil {
		st := signalStats(watch.Trips(), overloaded, cfg.Tick.Minutes())
		res.Signal = &st
	}
	res.DemandSum, res.UnservedSum = total, unserved
	if total > 0 {
		res.UnservedPct = 100 * unserved / total
	}
	// lead_min: for each scale-out from a to b at tick t, the first tick the
	// added capacity was needed (demand above T·C·a). Where demand was already
	// above it at t, the start of that run while the group held a (negative
	// lead); otherwise the first later tick, searched while the group still
	// holds more than a. Orders whose capacity was never needed are left out.
	var leads []float64
	for _, o := range outs {
		limit := cfg.Target * cfg.Capacity * float64(o.from)
		if d.Values[o.tick] > limit {
			// Late: the run of ticks above the limit while the group held
			// `from` began before the order.
			s := o.tick
			for s > 0 && d.Values[s-1] > limit && int(desired[s-1]) == o.from {
				s--
			}
			leads = append(leads, float64(s-o.tick))
			continue
		}
		for s := o.tick + 1; s < n && int(desired[s-1]) > o.from; s++ {
			if d.Values[s] > limit {
				leads = append(leads, float64(s-o.tick))
				break
			}
		}
	}
	res.ScaleOuts = len(outs)
	res.LeadMin = math.NaN()
	if len(leads) > 0 {
		slices.Sort(leads)
		m := len(leads) / 2
		if len(leads)%2 == 1 {
			res.LeadMin = leads[m]
		} else {
			res.LeadMin = (leads[m-1] + leads[m]) / 2
		}
	}
	res.LeadMin *= cfg.Tick.Minutes()
	if record {
		s.InService = inSvc
		s.Desired = desired
	}
	return res, s
}
