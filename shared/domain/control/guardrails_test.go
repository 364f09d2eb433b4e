package control

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/scaling"
	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

// Guardrails under bad signals: the whole control loop (the forecaster's
// default predictor, the delta signal, the calibration and the policy, as
// the forecaster Lambda runs them) fed garbage history for simulated days.
// Every minute: no decision moves the group by more than the max step, the
// group never goes outside [min, max] unless the policy is configured to
// raise the max (and then only by the plan plus its buffer), a scale-in
// waits out its window and cooldown; over the run the actions are counted
// and bounded (no flapping).

// simGroup is an Auto Scaling group as the loop sees it: a scale-out's
// instances are warming for lead minutes, then in service; a scale-in
// takes warming ones first.
type simGroup struct {
	desired, inSvc int
	launches       []int // minute each warming instance enters service
}

func (g *simGroup) apply(m int, d scaling.Decision, lead int) {
	switch {
	case d.To > g.desired:
		for range d.To - g.desired {
			g.launches = append(g.launches, m+lead)
		}
	case d.To < g.desired:
		n := g.desired - d.To
		k := min(n, len(g.launches))
		g.launches = g.launches[:len(g.launches)-k]
		g.inSvc -= n - k
	}
	g.desired = d.To
	var left []int
	for _, at := range g.launches {
		if at <= m+1 {
			g.inSvc++
		} else {
			left = append(left, at)
		}
	}
	g.launches = left
}

// garbage is one bad history: the group's demand for minute m (NaN when
// the minute has no value), whether the minute is observed at all (a gap
// in the forecaster's runs), and the per-resource samples.
type garbage struct {
	name    string
	demand  func(m int, rng *rand.Rand) float64
	skipped func(m int) bool // minute not observed
	// shadow returns the shadow's applied count for a live applied count
	// (nil: the shadow keeps up).
	shadow func(m int, live float64) float64
	// maxActions bounds the actions over the run, maxOut the scale-outs,
	// maxFlips the changes of direction (flapping: out, in, out...).
	maxActions, maxOut, maxFlips int
	// raiseActions, when set, replaces maxActions and maxOut when the
	// policy may raise the max (see "random garbage").
	raiseActions int
}

const guardDays = 3

func garbageHistories() []garbage {
	base := 3000.0 // under 2 instances of 1800 a minute
	return []garbage{
		// Unusable values are unknown demand: nothing to act on.
		{name: "NaN", demand: func(int, *rand.Rand) float64 { return math.NaN() }},
		{name: "negative", demand: func(int, *rand.Rand) float64 { return -5000 }},
		{name: "infinite", demand: func(m int, _ *rand.Rand) float64 { return []float64{math.Inf(1), math.Inf(-1)}[m%2] }},
		// Nothing applied: the group is scaled in to its min, once, and
		// stays.
		{name: "flat zero", demand: func(int, *rand.Rand) float64 { return 0 }, maxActions: 1},
		// One minute of 10^12 after a day of steady demand: a burst out,
		// each step at most the max step, and the way back in.
		{name: "one huge spike", demand: func(m int, _ *rand.Rand) float64 {
			if m == 1440+600 {
				return 1e12
			}
			return base
		}, maxActions: 8, maxOut: 3, maxFlips: 3},
		// The forecaster not run for 6 hours at a time, twice a day.
		{name: "long gaps", demand: func(int, *rand.Rand) float64 { return base }, skipped: func(m int) bool { return (m/360)%2 == 1 }},
		// No run for more than the max gap (a day): the predictor starts over.
		{name: "gap longer than a day", demand: func(int, *rand.Rand) float64 { return base }, skipped: func(m int) bool { return m >= 1000 && m < 1000+1500 }},
		// A history outage read as empty minutes (the forecaster reads a
		// minute without an item as 0): two hours of zeros in steady
		// demand. The group is scaled in during it (2 -> 1) and, when the
		// demand comes back, out past its need for a while (the forecast
		// reads the return as a steep rise), then in again.
		{name: "history outage read as zeros", demand: func(m int, _ *rand.Rand) float64 {
			if m >= 1440+300 && m < 1440+420 {
				return 0
			}
			return base
		}, maxActions: 5, maxOut: 2, maxFlips: 2},
		// Stuck counters: the demand repeats one value for days (its source
		// froze) and the shadows' applied counters are stuck at zero:
		// nothing to act on.
		{name: "stuck counters", demand: func(int, *rand.Rand) float64 { return base }, shadow: func(int, float64) float64 { return 0 }},
		// Garbage of every kind, minute after minute. With the max
		// honoured, the group goes to its max and stays. Allowed to raise
		// the max, the policy raises it toward the plan plus its buffer
		// (10^9 a minute plans hundreds of thousands of instances) but never
		// above the ceiling (max_ceiling, twice the max by default), and
		// grows the group by the max step to it: no flapping.
		{name: "random garbage", demand: func(m int, rng *rand.Rand) float64 {
			switch rng.IntN(6) {
			case 0:
				return math.NaN()
			case 1:
				return -rng.Float64() * 1e9
			case 2:
				return rng.Float64() * 1e9
			case 3:
				return 0
			default:
				return base * rng.Float64() * 2
			}
		}, maxActions: 4, maxOut: 4, raiseActions: guardDays * 1440},
	}
}

func TestGuardrailsUnderBadSignals(t *testing.T) {
	for _, over := range []scaling.OverMax{scaling.HonourMax, scaling.RaiseMax} {
		for _, g := range garbageHistories() {
			t.Run(fmt.Sprintf("%s/%s", over, g.name), func(t *testing.T) {
				t.Parallel()
				runGarbage(t, g, over)
			})
		}
	}
}

func runGarbage(t *testing.T, g garbage, over scaling.OverMax) {
	cfg := DefaultConfig()
	cfg.PerInstance = 1800
	cfg.Policy.Mode = scaling.Act
	cfg.Policy.Min, cfg.Policy.Max = 1, 12
	cfg.Policy.MaxStepOut, cfg.Policy.MaxStepIn = 3, 2
	cfg.Policy.OverMax = over
	l, err := New(cfg, DefaultPredictor(cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(g.name))))
	grp := &simGroup{desired: 2, inSvc: 2}
	lead := int(cfg.Lead / time.Minute)
	actions, outs, flips := 0, 0, 0
	lastDir := 0
	lastOut, lastIn := -1<<30, -1<<30
	maxSeen, maxPlan := 0, 0
	for m := 0; m < guardDays*1440; m++ {
		if g.skipped != nil && g.skipped(m) {
			grp.apply(m, scaling.Decision{To: grp.desired}, lead) // instances still come up
			continue
		}
		d := g.demand(m, rng)
		o := Observation{Minute: t0.Add(time.Duration(m) * time.Minute), Demand: d, Desired: grp.desired, InService: grp.inSvc, Warming: len(grp.launches)}
		per := d / float64(max(1, grp.inSvc))
		for k := range min(50, max(1, grp.inSvc)) {
			sh := per
			if g.shadow != nil {
				sh = g.shadow(m, per)
			}
			o.Resources = append(o.Resources, signal.Sample{Resource: fmt.Sprintf("i-%02d", k), LiveApplied: per, ShadowApplied: sh, ShadowBacklog: math.Max(0, per-sh)})
		}
		r, err := l.Step(o)
		if err != nil {
			t.Fatalf("minute %d: garbage made the loop fail: %v", m, err)
		}
		dec := r.Decision
		if dec.From != grp.desired {
			t.Fatalf("minute %d: decision from %d, the group wants %d", m, dec.From, grp.desired)
		}
		if dec.To-dec.From > cfg.Policy.MaxStepOut || dec.From-dec.To > cfg.Policy.MaxStepIn {
			t.Fatalf("minute %d: %d -> %d exceeds the max step (+%d/-%d): %s", m, dec.From, dec.To, cfg.Policy.MaxStepOut, cfg.Policy.MaxStepIn, dec.Reason)
		}
		if dec.To < cfg.Policy.Min {
			t.Fatalf("minute %d: %d under the min %d", m, dec.To, cfg.Policy.Min)
		}
		switch over {
		case scaling.HonourMax:
			if dec.To > cfg.Policy.Max || dec.Max != cfg.Policy.Max {
				t.Fatalf("minute %d: to %d with max %d, the configured max is %d and may not be raised", m, dec.To, dec.Max, cfg.Policy.Max)
			}
		case scaling.RaiseMax:
			// Raised only to a plan the loop made plus its buffer: the max
			// is never above the highest plan so far plus the buffer, and
			// the group never above the max.
			maxPlan = max(maxPlan, dec.Plan)
			ceiling := int(math.Ceil(float64(maxPlan)*(1+cfg.Policy.MaxBufferPct/100))) + 1
			hard := cfg.Policy.MaxCeiling
			if hard == 0 {
				hard = 2 * cfg.Policy.Max
			}
			if dec.To > dec.Max || dec.Max > hard || (dec.Max > cfg.Policy.Max && dec.Max > ceiling) {
				t.Fatalf("minute %d: to %d, max %d (plan %d, highest plan %d, ceiling %d)", m, dec.To, dec.Max, dec.Plan, maxPlan, ceiling)
			}
		}
		if dec.Action == scaling.ScaleIn {
			if m-lastOut < int(cfg.Policy.ScaleInWindow/time.Minute) {
				t.Fatalf("minute %d: scale-in %d minutes after a scale-out (window %v)", m, m-lastOut, cfg.Policy.ScaleInWindow)
			}
			if m-lastIn < int(cfg.Policy.ScaleInCooldown/time.Minute) {
				t.Fatalf("minute %d: scale-in %d minutes after the last (cooldown %v)", m, m-lastIn, cfg.Policy.ScaleInCooldown)
			}
			lastIn = m
		}
		if dec.To != dec.From {
			actions++
			dir := 1
			if dec.To < dec.From {
				dir = -1
			} else {
				outs++
				lastOut = m
			}
			if lastDir != 0 && dir != lastDir {
				flips++
			}
			lastDir = dir
		}
		maxSeen = max(maxSeen, dec.To)
		grp.apply(m, dec, lead)
	}
	t.Logf("%s, over max %s, %d days: %d actions (%d out, %d direction changes), largest group %d", g.name, over, guardDays, actions, outs, flips, maxSeen)
	maxActions, maxOut := g.maxActions, g.maxOut
	if over == scaling.RaiseMax && g.raiseActions > 0 {
		maxActions, maxOut = g.raiseActions, g.raiseActions
	}
	if actions > maxActions || outs > maxOut || flips > g.maxFlips {
		t.Errorf("%d actions, %d of them out, %d changes of direction, in %d days: want at most %d, %d and %d", actions, outs, flips, guardDays, maxActions, maxOut, g.maxFlips)
	}
}
