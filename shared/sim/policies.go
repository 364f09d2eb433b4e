package sim

import (
	"fmt"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
)

// PolicyNames are the five policies of SCALING.md, in output order.
var PolicyNames = []string{"reactive", "predictive", "shadow", "oracle", "shadow-blind"}

// PolicySet configures the four policies.
type PolicySet struct {
	Reactive   ReactiveConfig
	Predictive PredictiveConfig
	Oracle     OracleConfig
	// Control is the shadow policy's loop. Its PerInstance, Lead, Step and
	// the policy's Min, Max and Mode are set from the fleet Config by Build.
	Control control.Config
	// NewPredictor makes the shadow loop's forecaster (nil: the loop's
	// default, control.DefaultPredictor, as the Lambda runs it).
	NewPredictor func() (control.Predictor, error)
	// InstanceType is the live type the shadow loop reports (for resizes).
	InstanceType string
	// Sizes is the catalog for resizes (nil: no resize).
	Sizes scaling.Sizes
}

// DefaultPolicySet returns SCALING.md's baselines and the shadow loop's
// defaults for fleet cfg.
func DefaultPolicySet(cfg Config) PolicySet {
	rc := ReactiveConfig{Target: cfg.Target, ScaleOutPoints: 3, ScaleInPoints: 15, ScaleInFactor: 0.9}
	cc := control.DefaultConfig()
	return PolicySet{
		Reactive:   rc,
		Predictive: PredictiveConfig{Reactive: rc, Days: 14, Buffer: 300 * time.Second, MinHistory: 24 * time.Hour},
		Oracle:     OracleConfig{MaxUtil: 0.9},
		Control:    cc,
		// Set from the loop's step and lead in Build when nil: the same
		// predictor the Lambda runs (control.DefaultPredictor).
		NewPredictor: nil,
		InstanceType: "m7g.xlarge",
	}
}

// ControlConfig returns the shadow loop's configuration for fleet cfg: the
// set's Control with the fleet's step, lead, capacity and bounds, acting,
// and what the plane knows of its shadows (r, w, f): the shadows' evidence
// corrects the capacity. Under -unknown-capacity the loop is told no
// capacity (it learns it from the group's utilization).
func (ps PolicySet) ControlConfig(cfg Config) control.Config {
	cc := ps.BlindControlConfig(cfg)
	cc.Capacity.FromShadows = ps.Control.Capacity.FromShadows
	cc.Capacity.Shadows = control.ShadowModel{CPU: cfg.ShadowCPU, WriteShare: cfg.WriteShare, Sample: cfg.Sample}
	if cfg.UnknownCapacity {
		cc.PerInstance = 0
	}
	return cc
}

// BlindControlConfig is the shadow-blind policy's loop: the shadow
// policy's own, with the nominal capacity and nothing from the shadows.
func (ps PolicySet) BlindControlConfig(cfg Config) control.Config {
	cc := ps.Control
	cc.Step = cfg.Tick
	cc.Lead = time.Duration(cfg.Lead()) * cfg.Tick
	cc.PerInstance = cfg.WriteShare * cfg.Capacity * cfg.Tick.Seconds()
	cc.Policy.Min, cc.Policy.Max = cfg.Min, cfg.Max
	cc.Policy.Mode = scaling.Act
	cc.Capacity.FromShadows = false
	cc.Capacity.Shadows = control.ShadowModel{}
	return cc
}

// Build returns the named policies for a run of d (the oracle is handed d).
func (ps PolicySet) Build(cfg Config, d Demand, names []string) ([]Policy, error) {
	var out []Policy
	for _, n := range names {
		switch n {
		case "reactive":
			out = append(out, NewReactive(ps.Reactive))
		case "predictive":
			out = append(out, NewPredictive(ps.Predictive))
		case "oracle":
			ticks := d.Len()
			out = append(out, NewOracle(ps.Oracle, d, func(t int) float64 { return cfg.Capacity * cfg.factorAt(t, ticks) }, cfg.Lead()))
		case "shadow", "shadow-blind":
			cc := ps.ControlConfig(cfg)
			if n == "shadow-blind" {
				cc = ps.BlindControlConfig(cfg)
			}
			np := ps.NewPredictor
			if np == nil {
				np = control.DefaultPredictor(cc)
			}
			loop, err := control.New(cc, np, ps.Sizes)
			if err != nil {
				return nil, fmt.Errorf("building the %s policy: %w", n, err)
			}
			if n == "shadow-blind" {
				b := NewShadowBlind(loop, ps.InstanceType)
				if err := b.Watch(ps.ControlConfig(cfg).TrippingSignal()); err != nil {
					return nil, fmt.Errorf("building the %s policy: %w", n, err)
				}
				out = append(out, b)
			} else {
				s := NewShadow(loop, ps.InstanceType)
				s.readUtilization = cfg.UnknownCapacity
				out = append(out, s)
			}
		default:
			return nil, fmt.Errorf("unknown policy %q (want one of %v): %w", n, PolicyNames, ErrBadInput)
		}
	}
	return out, nil
}

// Prices returns the on-demand hourly prices of a live type and of its
// shadow (sized by fractions) from the catalog.
func Prices(cat *catalog.Catalog, live string, fr catalog.Fractions) (livePrice float64, shadow catalog.InstanceType, err error) {
	lt, err := cat.Lookup(live)
	if err != nil {
		return 0, catalog.InstanceType{}, fmt.Errorf("pricing the live type: %w", err)
	}
	st, err := cat.ShadowFor(live, fr)
	if err != nil {
		return 0, catalog.InstanceType{}, fmt.Errorf("pricing the shadow type: %w", err)
	}
	return lt.USDPerHour, st, nil
}

// Recording is one simulation with everything a report draws: the demand,
// each policy's figures and per-tick series (in-service capacity, desired
// count, decisions with their reasons), and the shadow policy's own trace
// (live vs shadow applied rates, the delta, forecast vs actual with the P90
// band and the calibrated bound).
type Recording struct {
	Config  Config
	Demand  Demand
	Results []Result
	Series  []Series     // one a policy, in the order of Results
	Shadow  *ShadowTrace // nil when the shadow policy did not run
}

// Simulate runs the named policies over d, recording the series when record
// is set. It is what `bench scaling` runs per trace and what a report
// writer calls.
func (ps PolicySet) Simulate(cfg Config, d Demand, names []string, record bool) (Recording, error) {
	pols, err := ps.Build(cfg, d, names)
	if err != nil {
		return Recording{}, err
	}
	rec := Recording{Config: cfg, Demand: d}
	if record {
		for _, p := range pols {
			if s, ok := p.(*Shadow); ok && !s.blind {
				rec.Shadow = s.Record(d.Len())
			}
		}
	}
	rec.Results, rec.Series, err = RunRecorded(cfg, d, pols, record)
	if err != nil {
		return Recording{}, err
	}
	return rec, nil
}
