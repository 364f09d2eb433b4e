// Package signal turns the per-minute applied counts of live instances and
// their shadows into the delta signal: per resource, the live and shadow
// applied rates over a sliding window, the normalized delta
// (live - shadow) / live, the shadow's backlog and its growth, and a tripped
// state with hysteresis (trip at a high delta held for a minimum duration,
// clear at a low one).
//
// A shadow has a fraction of its live instance's CPU and applies every
// mutation the live instance applies, so it falls behind first: a widening
// delta says the live instance is nearing saturation before it is there.
//
// The Tracker is plain data plus arithmetic: no clock, no I/O. Its State is
// JSON-serializable so a Lambda can persist it between invocations.
package signal

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Config tunes the signal. DefaultConfig gives sane values.
type Config struct {
	// Window is the sliding window the rates are computed over.
	Window time.Duration
	// Trip is the delta at or above which a resource (and the group) counts
	// as falling behind; Clear is the delta at or below which it recovers.
	// Clear < Trip gives hysteresis.
	Trip, Clear float64
	// MinDuration is how long the delta must stay at or above Trip before the
	// signal trips (0: at once).
	MinDuration time.Duration
	// MinLiveRate is the live rate (mutations a minute) below which the delta
	// is not computed: at an idle resource it is noise (0/0).
	MinLiveRate float64
	// Expire drops a resource not reported for this long (its instance is gone).
	Expire time.Duration
}

// DefaultConfig: a 3-minute window, trip at 5% held 2 minutes, clear at 2%.
func DefaultConfig() Config {
	return Config{Window: 3 * time.Minute, Trip: 0.05, Clear: 0.02, MinDuration: 2 * time.Minute, MinLiveRate: 1, Expire: 10 * time.Minute}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Window < time.Minute {
		errs = append(errs, fmt.Errorf("window %v: must be at least a minute", c.Window))
	}
	if !(c.Trip > 0 && c.Trip <= 1) {
		errs = append(errs, fmt.Errorf("trip %v: must be in (0, 1]", c.Trip))
	}
	if !(c.Clear >= 0 && c.Clear < c.Trip) {
		errs = append(errs, fmt.Errorf("clear %v: must be in [0, trip %v)", c.Clear, c.Trip))
	}
	if c.MinDuration < 0 {
		errs = append(errs, fmt.Errorf("min duration %v: must not be negative", c.MinDuration))
	}
	if !(c.MinLiveRate >= 0) || math.IsInf(c.MinLiveRate, 0) {
		errs = append(errs, fmt.Errorf("min live rate %v: must be finite and not negative", c.MinLiveRate))
	}
	if c.Expire < c.Window {
		errs = append(errs, fmt.Errorf("expire %v: must be at least the window %v", c.Expire, c.Window))
	}
	return errors.Join(errs...)
}

// Sample is what the fan-out counted for one resource in one minute.
type Sample struct {
	Resource      string  `json:"resource"`
	LiveApplied   float64 `json:"live_applied"`   // mutations the live instance applied in the minute
	ShadowApplied float64 `json:"shadow_applied"` // mutations its shadow applied in the minute
	ShadowBacklog float64 `json:"shadow_backlog"` // mutations the shadow holds unapplied at the minute's end
}

// point is one minute of one resource.
type point struct {
	Minute int64   `json:"m"` // Unix minutes
	Live   float64 `json:"l"`
	Shadow float64 `json:"s"`
	Back   float64 `json:"b"`
}

// ResourceState is the persisted state of one resource.
type ResourceState struct {
	Points  []point `json:"points"`            // the window, oldest first
	Tripped bool    `json:"tripped"`           // falling behind
	Above   int64   `json:"above,omitempty"`   // Unix minute since which delta >= Trip (0: not above)
	Changed int64   `json:"changed,omitempty"` // Unix minute of the last trip or clear
	Seen    int64   `json:"seen,omitempty"`    // Unix minute last reported
}

// State is the Tracker's persisted state.
type State struct {
	Resources map[string]*ResourceState `json:"resources"`
	Group     ResourceState             `json:"group"`
	Last      int64                     `json:"last"` // last Unix minute observed
}

// Reading is the signal after one minute's samples.
type Reading struct {
	Minute time.Time
	// Group figures, summed over the resources: rates in mutations a minute.
	Live, Shadow float64
	// Delta is (Live - Shadow) / Live over the window (NaN when Live is below
	// MinLiveRate). Negative while shadows catch up on a backlog.
	Delta float64
	// Backlog is the shadows' summed backlog now; BacklogGrowth its change a
	// minute over the window; LagMinutes the backlog in minutes of shadow
	// applying (how far behind the shadows are).
	Backlog, BacklogGrowth, LagMinutes float64
	// Tripped is the group state with hysteresis; Since when it last changed.
	Tripped bool
	Since   time.Time
	// Behind counts resources currently tripped; MaxDelta is the largest
	// resource delta.
	Behind   int
	MaxDelta float64
	// KeepUp is what one shadow applies a minute while it is behind (the
	// mean shadow rate of the tripped resources; 0 when none is): the most
	// a shadow can take, so the live rate per instance at which shadows
	// keep up.
	KeepUp float64
	// Resources has one entry per resource seen in the window, sorted by name.
	Resources []ResourceReading
}

// ResourceReading is one resource's signal.
type ResourceReading struct {
	Resource                           string
	Live, Shadow, Delta                float64
	Backlog, BacklogGrowth, LagMinutes float64
	Tripped                            bool
}

// Tracker computes the signal minute by minute.
type Tracker struct {
	cfg Config
	st  State
}

// NewTracker returns a Tracker with an empty state.
func NewTracker(cfg Config) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("signal config: %w", err)
	}
	return &Tracker{cfg: cfg, st: State{Resources: map[string]*ResourceState{}}}, nil
}

// State returns a deep copy of the tracker's state, for persisting.
func (t *Tracker) State() State {
	out := State{Resources: make(map[string]*ResourceState, len(t.st.Resources)), Last: t.st.Last}
	for k, r := range t.st.Resources {
		c := *r
		c.Points = append([]point(nil), r.Points...)
		out.Resources[k] = &c
	}
	out.Group = t.st.Group
	out.Group.Points = append([]point(nil), t.st.Group.Points...)
	return out
}

// Restore replaces the tracker's state (e.g. loaded from storage).
func (t *Tracker) Restore(st State) {
	if st.Resources == nil {
		st.Resources = map[string]*ResourceState{}
	}
	for k, r := range st.Resources {
		if r == nil {
			delete(st.Resources, k)
		}
	}
	t.st = st
}

// ErrStale is returned for a minute at or before the last one observed.
var ErrStale = errors.New("minute already observed")

func clean(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// Observe adds one minute's samples (one per resource; a resource missing
// from a minute contributes nothing to it) and returns the reading. Values
// that are NaN, infinite or negative count as zero. A minute at or before
// the last observed is refused with ErrStale and changes nothing.
func (t *Tracker) Observe(minute time.Time, samples []Sample) (Reading, error) {
	m := minute.Unix() / 60
	if t.st.Last != 0 && m <= t.st.Last {
		return Reading{}, fmt.Errorf("observing %s: %w (last %s)", minute.UTC().Format(time.RFC3339), ErrStale, time.Unix(t.st.Last*60, 0).UTC().Format(time.RFC3339))
	}
	t.st.Last = m
	win := int64(t.cfg.Window / time.Minute)
	var g point
	g.Minute = m
	for _, s := range samples {
		r := t.st.Resources[s.Resource]
		if r == nil {
			r = &ResourceState{}
			t.st.Resources[s.Resource] = r
		}
		r.Seen = m
		p := point{Minute: m, Live: clean(s.LiveApplied), Shadow: clean(s.ShadowApplied), Back: clean(s.ShadowBacklog)}
		if n := len(r.Points); n > 0 && r.Points[n-1].Minute == m {
			// The same resource twice in a minute: add the counts.
			q := &r.Points[n-1]
			q.Live += p.Live
			q.Shadow += p.Shadow
			q.Back = p.Back
		} else {
			r.Points = append(r.Points, p)
		}
		g.Live += p.Live
		g.Shadow += p.Shadow
		g.Back += p.Back
	}
	t.st.Group.Points = append(t.st.Group.Points, g)
	expire := int64(t.cfg.Expire / time.Minute)
	rd := Reading{Minute: time.Unix(m*60, 0).UTC(), MaxDelta: math.NaN()}
	names := make([]string, 0, len(t.st.Resources))
	for name, r := range t.st.Resources {
		r.Points = trim(r.Points, m-win)
		if m-r.Seen > expire {
			delete(t.st.Resources, name)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := t.st.Resources[name]
		rr := t.evaluate(r, m)
		rr.Resource = name
		rd.Resources = append(rd.Resources, rr)
		if rr.Tripped {
			rd.Behind++
			rd.KeepUp += rr.Shadow
		}
		if !math.IsNaN(rr.Delta) && (math.IsNaN(rd.MaxDelta) || rr.Delta > rd.MaxDelta) {
			rd.MaxDelta = rr.Delta
		}
	}
	if rd.Behind > 0 {
		rd.KeepUp /= float64(rd.Behind)
	}
	t.st.Group.Points = trim(t.st.Group.Points, m-win)
	gr := t.evaluate(&t.st.Group, m)
	rd.Live, rd.Shadow, rd.Delta = gr.Live, gr.Shadow, gr.Delta
	rd.Backlog, rd.BacklogGrowth, rd.LagMinutes = gr.Backlog, gr.BacklogGrowth, gr.LagMinutes
	rd.Tripped = gr.Tripped
	if t.st.Group.Changed != 0 {
		rd.Since = time.Unix(t.st.Group.Changed*60, 0).UTC()
	}
	return rd, nil
}

// trim drops points at or before minute cut.
func trim(ps []point, cut int64) []point {
	i := 0
	for i < len(ps) && ps[i].Minute <= cut {
		i++
	}
	if i == 0 {
		return ps
	}
	return append(ps[:0], ps[i:]...)
}

// evaluate computes a resource's rates over its window and advances its
// hysteresis at minute m.
func (t *Tracker) evaluate(r *ResourceState, m int64) ResourceReading {
	var rr ResourceReading
	rr.Delta = math.NaN()
	n := len(r.Points)
	if n == 0 {
		t.advance(r, m, math.NaN())
		rr.Tripped = r.Tripped
		return rr
	}
	// Rates over the minutes the window actually holds.
	span := float64(m - r.Points[0].Minute + 1)
	var live, shadow float64
	for _, p := range r.Points {
		live += p.Live
		shadow += p.Shadow
	}
	rr.Live, rr.Shadow = live/span, shadow/span
	last := r.Points[n-1]
	if last.Minute == m {
		rr.Backlog = last.Back
	}
	if n > 1 {
		first := r.Points[0]
		rr.BacklogGrowth = (last.Back - first.Back) / float64(last.Minute-first.Minute)
	}
	if rr.Shadow > 0 {
		rr.LagMinutes = rr.Backlog / rr.Shadow
	} else if rr.Backlog > 0 {
		rr.LagMinutes = math.Inf(1)
	}
	if rr.Live >= t.cfg.MinLiveRate && rr.Live > 0 {
		rr.Delta = (rr.Live - rr.Shadow) / rr.Live
	}
	t.advance(r, m, rr.Delta)
	rr.Tripped = r.Tripped
	return rr
}

// advance moves the hysteresis: trip once delta has been at or above Trip
// for MinDuration, clear when it is at or below Clear. An unknown delta
// (NaN: idle) clears a tripped state and resets the run.
func (t *Tracker) advance(r *ResourceState, m int64, delta float64) {
	switch {
	case math.IsNaN(delta):
		r.Above = 0
		if r.Tripped {
			r.Tripped, r.Changed = false, m
		}
	case delta >= t.cfg.Trip:
		if r.Above == 0 {
			r.Above = m
		}
		held := time.Duration(m-r.Above+1) * time.Minute
		if !r.Tripped && held >= t.cfg.MinDuration {
			r.Tripped, r.Changed = true, m
		}
	default:
		r.Above = 0
		if r.Tripped && delta <= t.cfg.Clear {
			r.Tripped, r.Changed = false, m
		}
	}
}
