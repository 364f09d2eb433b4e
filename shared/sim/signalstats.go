package sim

import (
	"fmt"
	"math"
	"slices"
)

// SignalStats is how the shadows' signal did as a warning of overload,
// measured open-loop: in the shadow-blind run, whose decisions do not use
// the shadows, so that acting on a warning cannot hide the overload it
// warned of. The shadows are modeled there all the same (and not billed).
type SignalStats struct {
	// Overloads are the overload episodes (maximal runs of overloaded
	// ticks). Preceded counts those the signal tripped before, within
	// Lookback of their start and tripped still at the tick before it;
	// Late those it tripped for only once they had begun; Missed those it
	// never tripped during.
	Overloads, Preceded, Late, Missed int
	// LeadMin is the median, over the preceded episodes, of the minutes
	// from the trip to the episode's start (NaN with none).
	LeadMin float64
	// Trips counts the times the signal tripped; FalseAlarms those not
	// followed by an overload within Horizon of the trip (and not during
	// one).
	Trips, FalseAlarms int
	// Leads are the preceded episodes' leads in minutes (for medians over
	// several runs).
	Leads []float64
}

// Add sums o into s (the median lead is recomputed from both runs' leads).
func (s *SignalStats) Add(o SignalStats) {
	s.Overloads += o.Overloads
	s.Preceded += o.Preceded
	s.Late += o.Late
	s.Missed += o.Missed
	s.Trips += o.Trips
	s.FalseAlarms += o.FalseAlarms
	s.Leads = append(s.Leads, o.Leads...)
	s.LeadMin = medianOf(s.Leads)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 0 {
		return (s[m-1] + s[m]) / 2
	}
	return s[m]
}

// The windows of SignalStats, in ticks.
const (
	signalLookback = 30
	signalHorizon  = 15
)

// signalStats scores trips against overloaded ticks.
func signalStats(tripped, overloaded []bool, tickMin float64) SignalStats {
	var st SignalStats
	n := min(len(tripped), len(overloaded))
	var leads []float64
	tripStart := -1 // start of the trip run in force at t (-1: none)
	var starts []int
	for t := 0; t < n; t++ {
		if tripped[t] && (t == 0 || !tripped[t-1]) {
			starts = append(starts, t)
		}
	}
	for t := 0; t < n; t++ {
		if !overloaded[t] || (t > 0 && overloaded[t-1]) {
			continue
		}
		st.Overloads++
		end := t
		for end+1 < n && overloaded[end+1] {
			end++
		}
		tripStart = -1
		if t > 0 && tripped[t-1] {
			s := t - 1
			for s > 0 && tripped[s-1] {
				s--
			}
			tripStart = s
		}
		switch {
		case tripStart >= 0 && t-tripStart <= signalLookback:
			st.Preceded++
			leads = append(leads, float64(t-tripStart)*tickMin)
		case slices.Contains(tripped[t:end+1], true):
			st.Late++
		default:
			st.Missed++
		}
	}
	st.Trips = len(starts)
	for _, s := range starts {
		hit := false
		for u := s; u < n && u <= s+signalHorizon; u++ {
			if overloaded[u] {
				hit = true
				break
			}
		}
		if !hit {
			st.FalseAlarms++
		}
	}
	st.Leads = leads
	st.LeadMin = medianOf(leads)
	return st
}

// Line formats the stats as one tab-separated line for a trace.
func (s SignalStats) Line(trace string) string {
	return fmt.Sprintf("%s\tsignal\toverloads=%d\tpreceded=%d\tlate=%d\tmissed=%d\tlead_min=%s\ttrips=%d\tfalse_alarms=%d",
		trace, s.Overloads, s.Preceded, s.Late, s.Missed, fmtLead(s.LeadMin), s.Trips, s.FalseAlarms)
}
