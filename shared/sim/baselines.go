package sim

import (
	"fmt"
	"math"
	"time"
)

// need is how many instances carry demand at utilization util.
func need(demand, capacity, util float64) int {
	if !(demand > 0) {
		return 0
	}
	n := math.Ceil(demand / (capacity * util))
	if n > 1e6 {
		return 1e6
	}
	return int(n)
}

// ReactiveConfig is AWS target tracking as SCALING.md specifies it.
type ReactiveConfig struct {
	Target         float64 // target utilization T (0.6)
	ScaleOutPoints int     // consecutive datapoints above T before a scale-out (3)
	ScaleInPoints  int     // consecutive datapoints below ScaleInFactor*T before a scale-in (15)
	ScaleInFactor  float64 // 0.9
}

// Reactive is AWS target tracking: scale out after ScaleOutPoints datapoints
// above the target, to max(desired, ceil(demand/(T·C))); scale in after
// ScaleInPoints datapoints below ScaleInFactor·T, to ceil(demand/(T·C)). The
// utilization is over in-service instances; warming ones count toward the
// desired count only.
type Reactive struct {
	cfg          ReactiveConfig
	above, below int
	// floor, when set, is a lower bound for scale-in (predictive scaling's
	// scheduled capacity).
	floor func(v View) int
}

// NewReactive returns the reactive baseline.
func NewReactive(cfg ReactiveConfig) *Reactive { return &Reactive{cfg: cfg} }

// Name implements Policy.
func (r *Reactive) Name() string { return "reactive" }

// Decide implements Policy.
func (r *Reactive) Decide(v View) Order {
	o := Order{Desired: v.Desired}
	util := v.Utilization // the true utilization: target tracking's metric
	if util > r.cfg.Target {
		r.above++
	} else {
		r.above = 0
	}
	if util < r.cfg.ScaleInFactor*r.cfg.Target {
		r.below++
	} else {
		r.below = 0
	}
	n := need(v.Demand, v.TrueCapacity, r.cfg.Target) // ceil(in service · utilization / T)
	switch {
	case r.above >= r.cfg.ScaleOutPoints:
		if want := clamp(max(v.Desired, n), v.Min, v.Max); want != v.Desired {
			o.Desired = want
			o.Reason = fmt.Sprintf("utilization %.0f%% above the %.0f%% target for %d datapoints", 100*util, 100*r.cfg.Target, r.above)
		}
		r.above, r.below = 0, 0
	case r.below >= r.cfg.ScaleInPoints:
		want := n
		if r.floor != nil {
			want = max(want, r.floor(v))
		}
		if want = clamp(want, v.Min, v.Max); want < v.Desired {
			o.Desired = want
			o.Reason = fmt.Sprintf("utilization %.0f%% below %.0f%% for %d datapoints", 100*util, 100*r.cfg.ScaleInFactor*r.cfg.Target, r.below)
		}
		r.above, r.below = 0, 0
	}
	return o
}

func clamp(n, lo, hi int) int { return max(lo, min(hi, n)) }

// PredictiveConfig is AWS-style predictive scaling.
type PredictiveConfig struct {
	Reactive   ReactiveConfig
	Days       int           // days of history averaged per hour of the day (14)
	Buffer     time.Duration // capacity is in place this long before the hour (300 s)
	MinHistory time.Duration // history needed before the first forecast (24 h)
}

// Predictive is AWS-style predictive scaling on top of target tracking: for
// each clock hour (UTC), the mean demand of that hour over the previous (up
// to) Days days; capacity ceil(forecast/(T·C)) is ordered Buffer before the
// hour starts, and replaced by the next hour's Buffer before that one (the
// reading of SCALING.md that agrees best with SCALING_REFERENCE.md: see
// docs/SCALING.md). The reactive policy keeps its own desired count, whose
// scale-in never goes below the scheduled capacity, and the group holds the
// larger of the two.
type Predictive struct {
	cfg   PredictiveConfig
	react *Reactive
	start time.Time
	// Demand sums per clock hour (hours since the Unix epoch).
	sums   map[int64]float64
	counts map[int64]int
	sched  int // the scheduled capacity in force
	r      int // the reactive policy's own desired count
}

// NewPredictive returns the predictive baseline.
func NewPredictive(cfg PredictiveConfig) *Predictive {
	p := &Predictive{cfg: cfg, react: NewReactive(cfg.Reactive), sums: map[int64]float64{}, counts: map[int64]int{}}
	p.react.floor = func(View) int { return p.sched }
	return p
}

// Name implements Policy.
func (p *Predictive) Name() string { return "predictive" }

func hourOf(t time.Time) int64 { return t.Unix() / 3600 }

// forecast returns the mean demand of clock hour h over the previous days
// whose same hour has data, and whether there was any.
func (p *Predictive) forecast(h int64) (float64, bool) {
	var sum float64
	n := 0
	for k := 1; k <= p.cfg.Days; k++ {
		hh := h - int64(24*k)
		if c := p.counts[hh]; c > 0 {
			sum += p.sums[hh] / float64(c)
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// Decide implements Policy.
func (p *Predictive) Decide(v View) Order {
	if v.Tick == 0 {
		p.start = v.Time
		p.r = v.Desired
	}
	h := hourOf(v.Time)
	p.sums[h] += v.Demand
	p.counts[h]++
	// The capacity of the hour that starts within Buffer (or has started).
	target := hourOf(v.Time.Add(p.cfg.Buffer))
	p.sched = 0
	if v.Time.Sub(p.start) >= p.cfg.MinHistory {
		if f, ok := p.forecast(target); ok {
			p.sched = need(f, v.Capacity, p.cfg.Reactive.Target)
		}
	}
	rv := v
	rv.Desired = p.r
	o := p.react.Decide(rv)
	p.r = o.Desired
	want := clamp(max(p.r, p.sched), v.Min, v.Max)
	reason := o.Reason
	if p.sched > p.r {
		reason = fmt.Sprintf("scheduled capacity %d for the hour from %s", clamp(p.sched, v.Min, v.Max), time.Unix(target*3600, 0).UTC().Format("15:04"))
	}
	return Order{Desired: want, Reason: reason}
}

// OracleConfig is the physical limit.
type OracleConfig struct {
	MaxUtil float64 // 0.9
}

// Oracle knows the demand and the true capacity: it launches each
// instance exactly one launch-plus-warm-up before it is needed, keeping
// utilization at most MaxUtil, and lets an instance go when no tick within
// one launch-plus-warm-up needs it.
type Oracle struct {
	cfg      OracleConfig
	demand   []float64
	capacity func(tick int) float64
	lead     int
}

// NewOracle returns the oracle for a demand series, the true per-instance
// capacity at each tick and a launch-to-service lead in ticks.
func NewOracle(cfg OracleConfig, d Demand, capacity func(tick int) float64, lead int) *Oracle {
	return &Oracle{cfg: cfg, demand: d.Values, capacity: capacity, lead: lead}
}

// Name implements Policy.
func (o *Oracle) Name() string { return "oracle" }

// Decide implements Policy.
func (o *Oracle) Decide(v View) Order {
	want := 0
	for s := v.Tick; s <= v.Tick+o.lead && s < len(o.demand); s++ {
		want = max(want, need(o.demand[s], o.capacity(s), o.cfg.MaxUtil))
	}
	want = clamp(want, v.Min, v.Max)
	if want == v.Desired {
		return Order{Desired: want}
	}
	return Order{Desired: want, Reason: "known demand"}
}
