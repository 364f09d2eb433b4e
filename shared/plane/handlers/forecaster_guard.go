package handlers

import (
	"fmt"
	"math"
)

// guard holds what the forecaster must not act on, whatever the loop
// decided, and says why in the decision's reason:
//
//   - a minute without data (Observation.Demand NaN: the fan-out recorded
//     nothing for the group, an outage of the fan-out or of its counters)
//     never scales in or resizes: a blind minute must not read as a quiet
//     one. A scale-out the forecast asks for still goes ahead (the safe
//     direction); every decision of such a minute says it had no data.
//   - a group in the middle of a resize (instances of another type than
//     its launch template's, c.Resizing) is not scaled in nor resized
//     again until the instance refresh has replaced them: its desired
//     count mixes two sizes, and a scale-in would remove capacity the
//     plan still counts on.
//
// The loop's own decision stays in the reason ("the loop proposed ...").
func guard(o Observation, c capacity, d Decision) Decision {
	noData := math.IsNaN(o.Demand)
	shrinks := d.Action == ActionScaleIn || d.Action == ActionResize
	hold := func(why string) Decision {
		proposed := d.Action
		if d.Reason != "" {
			proposed += ": " + d.Reason
		}
		return Decision{Action: ActionNone, From: d.From, To: d.From, Max: d.Max, InstanceType: o.InstanceType,
			Reason: fmt.Sprintf("%s: holding %d (the loop proposed %s)", why, d.From, proposed)}
	}
	switch {
	case noData && shrinks:
		return hold("no data for this minute (the fan-out recorded nothing for the group: an outage of the fan-out or of its counters), and no scale-in or resize without data")
	case c.Resizing > 0 && shrinks:
		return hold(fmt.Sprintf("in the middle of a resize: %d instances are not yet %s; no scale-in or further resize until the instance refresh has replaced them", c.Resizing, c.InstanceType))
	case noData:
		d.Reason = "no data for this minute (demand unknown: the fan-out recorded nothing for the group); " + d.Reason
	}
	return d
}
