package embedded

import (
	"math"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim"
)

// demand is a synthetic day and a half: a daily wave with a burst, so the
// group scales out and in and shadows come and go.
func demand(ticks int) sim.Demand {
	d := sim.Demand{Name: "synthetic", Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Tick: time.Minute, Scale: 1}
	for t := range ticks {
		v := 400 + 300*math.Sin(2*math.Pi*float64(t)/1440)
		if t > 900 && t < 960 {
			v += 500
		}
		d.Values = append(d.Values, v)
	}
	return d
}

func TestPlaneFollowsTheFleet(t *testing.T) {
	d := demand(2160)
	cfg := sim.DefaultConfig()
	cfg.LivePrice, cfg.ShadowPrice = 0.1632, 0.0168
	ps := sim.DefaultPolicySet(cfg)
	pols, err := ps.Build(cfg, d, []string{"shadow"})
	if err != nil {
		t.Fatal(err)
	}
	pc := DefaultConfig()
	pc.SampleEvery = 20
	plane, err := New(pc, d.Len(), d.Start)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := sim.Run(cfg, d, pols)
	if err != nil {
		t.Fatal(err)
	}
	pols, _ = ps.Build(cfg, d, []string{"shadow"})
	wrapped, err := sim.Run(cfg, d, []sim.Policy{plane.Wrap(pols[0])})
	if err != nil {
		t.Fatal(err)
	}
	// The plane watches; it does not change the policy's decisions.
	if bare[0].Actions != wrapped[0].Actions || bare[0].CostUSD != wrapped[0].CostUSD || bare[0].OverloadMin != wrapped[0].OverloadMin {
		t.Fatalf("wrapping changed the run: %+v vs %+v", bare[0], wrapped[0])
	}
	st, err := plane.Finish()
	if err != nil {
		t.Fatalf("invariants: %v", err)
	}
	if st.ShadowsCreated < 3 || st.ShadowsRetired < 1 {
		t.Fatalf("the fleet did not churn: %+v", st)
	}
	if st.TicksShadowsMismatch != 0 {
		t.Fatalf("%d ticks with a shadow count different from the live count", st.TicksShadowsMismatch)
	}
	if st.MutationsRouted == 0 || st.MutationsFailed != 0 {
		t.Fatalf("routed %d, failed %d", st.MutationsRouted, st.MutationsFailed)
	}
	if st.DigestsCompared == 0 || st.DigestsEqual != st.DigestsCompared {
		t.Fatalf("digests: %d equal of %d", st.DigestsEqual, st.DigestsCompared)
	}
	if st.Resyncs < st.ShadowsCreated {
		t.Fatalf("%d resyncs for %d new shadows: each new shadow is resynced from its live", st.Resyncs, st.ShadowsCreated)
	}
	if st.ShadowType != "t4g.small" {
		t.Fatalf("shadow type %s", st.ShadowType)
	}
	if len(st.LiveCount) != d.Len() || len(st.ShadowCount) != d.Len() {
		t.Fatalf("per-tick counts: %d, %d", len(st.LiveCount), len(st.ShadowCount))
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.AZs = nil },
		func(c *Config) { c.SampleEvery = 0 },
		func(c *Config) { c.ReconcileEvery = 0 },
		func(c *Config) { c.LiveType = "zz9.huge" },
	}
	for i, mod := range bad {
		c := DefaultConfig()
		mod(&c)
		if _, err := New(c, 10, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
			t.Errorf("case %d: New accepted %+v", i, c)
		}
	}
}
