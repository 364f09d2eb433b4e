package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// forecastState is the blob the forecaster saves per group (Table.States):
// its own bookkeeping around the loop's opaque state.
type forecastState struct {
	V int `json:"v"`
	// Last is the Unix minute of the last minute observed (0: none).
	Last int64 `json:"last"`
	// Totals are the agents' applied totals each resource last reported,
	// the baseline of the next minute's applied counts.
	Totals map[string]appliedTotals `json:"totals,omitempty"`
	// Loop is the loop's state.
	Loop json.RawMessage `json:"loop,omitempty"`
}

type appliedTotals struct {
	Minute int64  `json:"m"` // Unix minute of the report
	Live   uint64 `json:"l"`
	Shadow uint64 `json:"s"`
}

const forecastStateVersion = 1

// errStateVersion: a saved blob of another format.
var errStateVersion = errors.New("forecaster state of another version")

func decodeForecastState(blob []byte) (forecastState, error) {
	var st forecastState
	if len(blob) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(blob, &st); err != nil {
		return forecastState{}, fmt.Errorf("decoding forecaster state: %w", err)
	}
	if st.V != forecastStateVersion {
		return forecastState{}, fmt.Errorf("%w: %d", errStateVersion, st.V)
	}
	return st, nil
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

func minuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

// capacity is what Auto Scaling says of a group now. InService and
// Warming count instances in units of the launch template's type: an
// instance of another type (a group in the middle of a resize) counts its
// vCPUs' share of one of the template's type, rounded down over the
// group, so a group half-way from xlarge to 2xlarge is never taken for
// more than it is. Resizing counts those instances.
type capacity struct {
	Desired, InService, Warming int
	InstanceType                string
	Resizing                    int
}

// groupCapacity counts the group's in-service and warming instances.
// instanceType is the launch template's ("" unknown: the most common type
// running); sizes (may be nil: every instance counts 1) gives the vCPUs. A
// group with a mixed instances policy runs several types by design: its
// instances are weighed, but it is never taken as resizing.
func groupCapacity(g asg.Group, instanceType string, sizes InstanceSizes) capacity {
	c := capacity{Desired: g.Desired, InstanceType: instanceType}
	types := map[string]int{}
	for _, i := range g.Instances {
		if i.Lifecycle == "InService" || strings.HasPrefix(i.Lifecycle, "Pending") {
			types[i.Type]++
		}
	}
	if c.InstanceType == "" { // no launch template to ask: the most common type running
		best := 0
		for t, n := range types {
			if n > best || (n == best && t < c.InstanceType) {
				c.InstanceType, best = t, n
			}
		}
	}
	weight := func(typ string) float64 {
		if typ == c.InstanceType || typ == "" || sizes == nil {
			return 1
		}
		have, err1 := sizes.Lookup(typ)
		want, err2 := sizes.Lookup(c.InstanceType)
		if err1 != nil || err2 != nil || want.VCPU <= 0 {
			return 1
		}
		return float64(have.VCPU) / float64(want.VCPU)
	}
	var inService, warming float64
	for _, i := range g.Instances {
		switch {
		case i.Lifecycle == "InService":
			inService += weight(i.Type)
		case strings.HasPrefix(i.Lifecycle, "Pending"):
			warming += weight(i.Type)
		default:
			continue
		}
		if !g.MixedInstances && i.Type != "" && i.Type != c.InstanceType {
			c.Resizing++
		}
	}
	c.InService, c.Warming = int(math.Floor(inService+1e-9)), int(math.Floor(warming+1e-9))
	return c
}

// minuteDemand is a group minute's demand: the live agents' newly accepted
// mutations, or no data (NaN, false) when the fan-out recorded nothing for
// the group that minute (Seen 0 and no mutation counted). A minute with
// mutations but Seen 0 is data: history written before Seen was counted.
func minuteDemand(gc mutation.GroupCount) (float64, bool) {
	if gc.Seen == 0 && gc.Live == 0 && gc.Shadow == 0 {
		return math.NaN(), false
	}
	return float64(gc.Live), true
}

// observations turns a group's history between the minutes first and last
// (Unix minutes, both included) into one Observation a minute, from the
// first minute that has a group item (or last alone when none has), and
// advances totals, the per-resource applied baselines, past every
// resource item read.
//
// Demand is the group item's live count, NaN for a minute without data
// (no item, or Seen 0 and nothing counted: minuteDemand). Utilization is
// the minute's CPU utilization from util, NaN when absent. A resource's sample for minute m needs its live
// and shadow applied totals reported at m and earlier: the applied counts
// are the totals' growth, spread evenly over the minutes since the
// previous report; a total that went down (an agent replaced or resynced)
// restarts its baseline without a sample.
func observations(first, last int64, groups []mutation.GroupCount, resources []mutation.ResourceCount, totals map[string]appliedTotals, c capacity, util map[time.Time]float64) []Observation {
	demand := map[int64]float64{}
	start := last
	for _, g := range groups {
		m := unixMinute(g.Start)
		if m < first || m > last {
			continue
		}
		d, ok := minuteDemand(g)
		if !ok {
			continue
		}
		demand[m] = d
		start = min(start, m)
	}
	byMinute := map[int64][]mutation.ResourceCount{}
	for _, r := range resources {
		m := unixMinute(r.Minute)
		if m > last {
			continue
		}
		byMinute[m] = append(byMinute[m], r)
	}
	rmins := make([]int64, 0, len(byMinute))
	for m := range byMinute {
		rmins = append(rmins, m)
	}
	sort.Slice(rmins, func(a, b int) bool { return rmins[a] < rmins[b] })
	samples := map[int64][]ResourceSample{}
	for _, m := range rmins {
		for _, r := range byMinute[m] {
			liveReported := r.Live > 0 || r.LiveApplied > 0
			shadowReported := r.Shadow > 0 || r.ShadowApplied > 0 || r.ShadowBacklog > 0
			if !liveReported || !shadowReported {
				continue
			}
			prev, ok := totals[r.Resource]
			if ok && m <= prev.Minute {
				continue // already taken into account
			}
			totals[r.Resource] = appliedTotals{Minute: m, Live: r.LiveApplied, Shadow: r.ShadowApplied}
			if !ok || r.LiveApplied < prev.Live || r.ShadowApplied < prev.Shadow || m < first {
				continue
			}
			span := float64(m - prev.Minute)
			samples[m] = append(samples[m], ResourceSample{
				Resource:      r.Resource,
				LiveApplied:   float64(r.LiveApplied-prev.Live) / span,
				ShadowApplied: float64(r.ShadowApplied-prev.Shadow) / span,
				ShadowBacklog: float64(r.ShadowBacklog),
			})
		}
	}
	for m := range samples {
		start = min(start, m)
	}
	out := make([]Observation, 0, last-start+1)
	for m := start; m <= last; m++ {
		d, ok := demand[m]
		if !ok {
			d = math.NaN()
		}
		u, ok := util[minuteTime(m)]
		if !ok {
			u = math.NaN()
		}
		out = append(out, Observation{
			Minute: minuteTime(m), Demand: d, Utilization: u, Resources: samples[m],
			Desired: c.Desired, InService: c.InService, Warming: c.Warming, InstanceType: c.InstanceType,
		})
	}
	return out
}

// pruneTotals drops the baselines of resources silent since before m.
func pruneTotals(totals map[string]appliedTotals, before int64) {
	for r, t := range totals {
		if t.Minute < before {
			delete(totals, r)
		}
	}
}
