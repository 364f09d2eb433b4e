package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/scaling"
	"github.com/shadowscale/shadowscale/shared/domain/signal"
)

// TagPerInstance is an Auto Scaling group tag giving what one of its live
// instances applies at 100%, in mutations a minute: the control loop's
// per-instance capacity for that group, over SHADOWSCALE_POLICY's
// per_instance.
const TagPerInstance = "shadowscale:per-instance"

// ControlLoops returns the forecaster's LoopFactory over the control loop
// (shared/domain/control): its defaults, the operator's overrides
// (SHADOWSCALE_POLICY, control.Overrides), and per group the group's min
// and max (unless the overrides set them), its mode, and its per-instance
// capacity: TagPerInstance, else the overrides' per_instance, else 0, which
// the control loop reads as "learn it" (from the demand and the group's
// CPU utilization, Observation.Utilization; control.Result.CapacitySource
// says which). A configured figure stays an override. The predictor is
// control.DefaultPredictor (the backtested combination), which keeps no
// snapshot: a restored loop replays the demand history. sizes is the
// instance catalog for resizes.
func ControlLoops(policy json.RawMessage, sizes scaling.Sizes) (LoopFactory, error) {
	base, err := control.ApplyOverrides(withCapacity(control.DefaultConfig()), policy)
	if err != nil {
		return nil, fmt.Errorf("SHADOWSCALE_POLICY: %w", err)
	}
	var o control.Overrides
	if len(bytes.TrimSpace(policy)) > 0 {
		if err := json.Unmarshal(policy, &o); err != nil {
			return nil, fmt.Errorf("SHADOWSCALE_POLICY: %w", err)
		}
	}
	hasCapacity := o.PerInstance != nil
	return func(g LoopGroup, saved json.RawMessage, demand DemandHistory) (Loop, error) {
		cfg := base
		cfg.Policy.Mode = scaling.Mode(g.Mode)
		if o.Min == nil {
			cfg.Policy.Min = g.Min
		}
		if o.Max == nil {
			cfg.Policy.Max = max(g.Max, 1)
		}
		switch per, ok, err := tagCapacity(g.Tags); {
		case err != nil:
			return nil, err
		case ok:
			cfg.PerInstance = per
		case !hasCapacity:
			cfg.PerInstance = 0 // learned by the loop from the group's utilization
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("control loop of group %s: %w", g.Name, err)
		}
		l, err := control.New(cfg, control.DefaultPredictor(cfg), sizes)
		if err != nil {
			return nil, fmt.Errorf("control loop of group %s: %w", g.Name, err)
		}
		cl := &controlLoop{l: l, lead: max(1, int((cfg.Lead+cfg.Step-1)/cfg.Step))}
		if saved == nil {
			return cl, nil
		}
		var st control.State
		if err := json.Unmarshal(saved, &st); err != nil {
			return nil, fmt.Errorf("%w: decoding the loop state of %s: %v", ErrNeedHistory, g.Name, err)
		}
		err = l.Restore(st)
		if errors.Is(err, control.ErrNeedHistory) && demand != nil {
			d, herr := demand()
			if herr != nil {
				return nil, herr
			}
			err = l.RestoreWithHistory(st, d)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: restoring the loop of %s: %v", ErrNeedHistory, g.Name, err)
		}
		return cl, nil
	}, nil
}

// PolicyPerInstance returns the per_instance of a SHADOWSCALE_POLICY (0
// when it has none): ForecasterOptions.PerInstance.
func PolicyPerInstance(policy json.RawMessage) (float64, error) {
	var o control.Overrides
	if len(bytes.TrimSpace(policy)) == 0 {
		return 0, nil
	}
	if err := json.Unmarshal(policy, &o); err != nil {
		return 0, fmt.Errorf("SHADOWSCALE_POLICY: %w", err)
	}
	if o.PerInstance == nil {
		return 0, nil
	}
	return *o.PerInstance, nil
}

// withCapacity gives the defaults a placeholder capacity so that they
// validate before the group's own is known (each group's loop sets it).
func withCapacity(c control.Config) control.Config {
	if c.PerInstance <= 0 {
		c.PerInstance = 1
	}
	return c
}

// tagCapacity reads TagPerInstance.
func tagCapacity(tags map[string]string) (float64, bool, error) {
	v, ok := tags[TagPerInstance]
	if !ok || strings.TrimSpace(v) == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("tag %s=%q is not a positive number of mutations a minute", TagPerInstance, clip(v))
	}
	return f, true, nil
}

// controlLoop adapts control.Loop to Loop.
type controlLoop struct {
	l    *control.Loop
	lead int
}

func (c *controlLoop) Step(o Observation) (LoopResult, error) {
	co := control.Observation{
		Minute: o.Minute, Demand: o.Demand, Utilization: o.Utilization,
		Desired: o.Desired, InService: o.InService, Warming: o.Warming, InstanceType: o.InstanceType,
	}
	for _, r := range o.Resources {
		co.Resources = append(co.Resources, signal.Sample{Resource: r.Resource, LiveApplied: r.LiveApplied, ShadowApplied: r.ShadowApplied, ShadowBacklog: r.ShadowBacklog})
	}
	res, err := c.l.Step(co)
	if err != nil {
		return LoopResult{}, err
	}
	d := res.Decision
	out := LoopResult{
		Decision:    Decision{Action: string(d.Action), From: d.From, To: d.To, Max: d.Max, InstanceType: d.InstanceType, Reason: d.Reason},
		ForecastP50: math.NaN(), ForecastP90: math.NaN(), Delta: res.Signal.Delta,
		PerInstance: res.PerInstance, CapacitySource: res.CapacitySource,
	}
	if f := res.Forecast; len(f.Mean) >= c.lead && len(f.P90) >= c.lead {
		out.ForecastP50, out.ForecastP90 = f.Mean[c.lead-1], f.P90[c.lead-1]
	}
	out.Detail = loopDetail{
		Plan: d.Plan, Mode: string(d.Mode), Safety: number(res.Safety), Upper: number(res.Upper),
		Model: res.Forecast.Model, Why: res.Forecast.Why, LeadMinutes: c.lead,
		Signal: signalDetail{
			Live: number(res.Signal.Live), Shadow: number(res.Signal.Shadow), Delta: number(res.Signal.Delta),
			Backlog: number(res.Signal.Backlog), BacklogGrowth: number(res.Signal.BacklogGrowth), LagMinutes: number(res.Signal.LagMinutes),
			Tripped: res.Signal.Tripped, Behind: res.Signal.Behind, KeepUp: number(res.Signal.KeepUp),
		},
	}
	return out, nil
}

func (c *controlLoop) State() (json.RawMessage, error) {
	st, err := c.l.State()
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

// loopDetail is what the audit record keeps of a step (NaN-safe).
type loopDetail struct {
	Plan        int          `json:"plan"`
	Mode        string       `json:"mode"`
	Safety      number       `json:"safety"`
	Upper       number       `json:"upper"`
	LeadMinutes int          `json:"lead_minutes"`
	Model       string       `json:"model,omitempty"`
	Why         string       `json:"why,omitempty"`
	Signal      signalDetail `json:"signal"`
}

type signalDetail struct {
	Live          number `json:"live"`
	Shadow        number `json:"shadow"`
	Delta         number `json:"delta"`
	Backlog       number `json:"backlog"`
	BacklogGrowth number `json:"backlog_growth"`
	LagMinutes    number `json:"lag_minutes"`
	Tripped       bool   `json:"tripped"`
	Behind        int    `json:"behind"`
	KeepUp        number `json:"keep_up"`
}
