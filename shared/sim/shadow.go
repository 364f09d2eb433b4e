package sim

import (
	"fmt"
	"math"

	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

// Shadow is the project's own policy: the control loop the forecaster
// Lambda runs, fed only what the Lambda sees each minute: per resource the
// live and shadow applied counts and the shadow backlog, the group's demand
// as the sum of the mutations the live agents accepted (the fan-out's
// per-minute "accepted" counters: what was offered, even while an
// overloaded live instance applies less), and the group's counts.
// It runs (and pays for) a shadow per live instance.
type Shadow struct {
	loop         *control.Loop
	instanceType string
	// blind: the shadow-blind ablation, the same loop with nothing from the
	// shadows (no counts, no backlog, no capacity) and no shadows paid.
	blind bool
	// readUtilization: the loop reads the group's utilization as CloudWatch
	// reports it (capped at 100%), for -unknown-capacity.
	readUtilization bool
	// passive is, for shadow-blind, the shadows' signal computed on the
	// side (never fed to the loop), and trips its state a tick.
	passive *signal.Tracker
	trips   []bool
	// trace, when set, records what the loop saw and forecast each tick.
	trace   *ShadowTrace
	samples []signal.Sample
}

// ShadowTrace is the shadow policy's per-tick record, for reports. Index i
// is tick i.
type ShadowTrace struct {
	// Live and Shadow are the group's applied mutation rates (a minute, over
	// the signal window); Delta the normalized delta (NaN when idle);
	// Backlog the shadows' summed backlog; Tripped the signal state.
	Live, Shadow, Delta, Backlog []float64
	Tripped                      []bool
	// The forecast made Lead ticks earlier for this tick, in mutations a
	// minute: Mean, P10, P90, and Upper, the calibrated bound the plan used
	// (NaN where there was none). Actual is the tick's mutations the live
	// agents accepted (the demand the loop sees).
	Mean, P10, P90, Upper, Actual []float64
	// Safety is the calibrated P90-margin multiplier in force at the tick.
	Safety []float64
	// PerInstance is the per-instance capacity the loop planned with at the
	// tick (mutations a tick: the configured figure, or what it learned from
	// the shadows or the group's utilization; NaN while unknown).
	PerInstance []float64
	// Lead is the forecast lead in ticks.
	Lead int
}

// NewShadow returns the shadow policy around a control loop. The loop's
// PerInstance must be in mutations a tick (WriteShare·C·tick).
func NewShadow(loop *control.Loop, instanceType string) *Shadow {
	return &Shadow{loop: loop, instanceType: instanceType}
}

// NewShadowBlind returns the shadow-blind ablation: the same loop fed the
// group's demand and counts but nothing the shadows tell; it runs no
// shadows.
func NewShadowBlind(loop *control.Loop, instanceType string) *Shadow {
	return &Shadow{loop: loop, instanceType: instanceType, blind: true}
}

// Watch makes a blind policy compute the shadows' signal on the side, with
// cfg, for Result.Signal.
func (s *Shadow) Watch(cfg signal.Config) error {
	t, err := signal.NewTracker(cfg)
	if err != nil {
		return err
	}
	s.passive = t
	return nil
}

// Blind reports whether this is the shadow-blind ablation.
func (s *Shadow) Blind() bool { return s.blind }

// Watching implements signalWatcher.
func (s *Shadow) Watching() bool { return s.passive != nil }

// Trips implements signalWatcher.
func (s *Shadow) Trips() []bool { return s.trips }

// Record makes the policy keep a ShadowTrace of n ticks.
func (s *Shadow) Record(n int) *ShadowTrace {
	lead := max(1, int((s.loop.Config().Lead+s.loop.Config().Step-1)/s.loop.Config().Step))
	nan := func() []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.NaN()
		}
		return v
	}
	s.trace = &ShadowTrace{Live: nan(), Shadow: nan(), Delta: nan(), Backlog: nan(), Tripped: make([]bool, n),
		Mean: nan(), P10: nan(), P90: nan(), Upper: nan(), Actual: nan(), Safety: nan(), PerInstance: nan(), Lead: lead}
	return s.trace
}

// Name implements Policy.
func (s *Shadow) Name() string {
	if s.blind {
		return "shadow-blind"
	}
	return "shadow"
}

// RunsShadows implements shadowRunner.
func (s *Shadow) RunsShadows() bool { return !s.blind }

// Decide implements Policy.
func (s *Shadow) Decide(v View) Order {
	s.samples = s.samples[:0]
	offered := 0.0
	for _, r := range v.Resources {
		offered += r.LiveAccepted
		if !s.blind || s.passive != nil {
			s.samples = append(s.samples, signal.Sample{Resource: r.ID, LiveApplied: r.LiveApplied, ShadowApplied: r.ShadowApplied, ShadowBacklog: r.ShadowBacklog})
		}
	}
	if s.blind && s.passive != nil {
		rd, err := s.passive.Observe(v.Time, s.samples)
		s.trips = append(s.trips, err == nil && rd.Tripped)
		s.samples = s.samples[:0]
	}
	o := control.Observation{
		Minute: v.Time, Demand: offered, Resources: s.samples, Utilization: math.NaN(),
		Desired: v.Desired, InService: v.InService, Warming: v.Warming, InstanceType: s.instanceType,
	}
	if s.readUtilization && v.InService > 0 {
		o.Utilization = 100 * min(1, v.Utilization)
	}
	res, err := s.loop.Step(o)
	if err != nil {
		return Order{Desired: v.Desired, Reason: fmt.Sprintf("control loop: %v", err)}
	}
	if tr := s.trace; tr != nil && v.Tick < len(tr.Live) {
		t := v.Tick
		rd := res.Signal
		tr.Live[t], tr.Shadow[t], tr.Delta[t], tr.Backlog[t], tr.Tripped[t] = rd.Live, rd.Shadow, rd.Delta, rd.Backlog, rd.Tripped
		tr.Actual[t] = offered
		tr.Safety[t] = res.Safety
		tr.PerInstance[t] = res.PerInstance
		if f := res.Forecast; len(f.Mean) >= tr.Lead && t+tr.Lead < len(tr.Mean) {
			k := tr.Lead - 1
			tr.Mean[t+tr.Lead], tr.P10[t+tr.Lead], tr.P90[t+tr.Lead], tr.Upper[t+tr.Lead] = f.Mean[k], f.P10[k], f.P90[k], res.Upper
		}
	}
	d := res.Decision
	if d.Mode != scaling.Act {
		return Order{Desired: v.Desired, Reason: d.Reason}
	}
	return Order{Desired: d.To, Reason: d.Reason}
}
