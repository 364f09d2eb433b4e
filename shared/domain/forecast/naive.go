package forecast

import (
	"fmt"
	"slices"
)

// naiveMethod is persistence as a stepper: the last finite value.
type naiveMethod struct{}

func (naiveMethod) name() string { return "persistence" }

func (naiveMethod) fit(h *history) (stepper, int, error) {
	y := h.y
	if countFinite(y) == 0 {
		return nil, 0, fmt.Errorf("persistence: no finite value: %w", ErrTooShort)
	}
	st := &naiveState{}
	start := 0
	for start < len(y) && !finite(y[start]) {
		start++
	}
	st.last = y[start]
	return st, start + 1, nil
}

type naiveState struct{ last float64 }

func (s *naiveState) observe(y float64) {
	if finite(y) {
		s.last = y
	}
}

func (s *naiveState) predict(dst []float64) {
	for k := range dst {
		dst[k] = s.last
	}
}

func (s *naiveState) clone() stepper { c := *s; return &c }

// seasonalNaiveMethod repeats the value one season (a day) earlier, or the
// last value where that one is missing. What it remembers of a day is
// cleaned of gross errors: a value further than plainClip running median
// absolute seasonal changes from the one a season before it is remembered
// as that one plus the clipped change, unless such changes come in a run
// (a level that changed) or at the same time of day on seasonShiftRun days
// running (a daily pattern that changed, or a daily spike: repeated, it is
// the pattern), so that an absurd value (10^12 in a load of 3000) is not
// forecast again a day later.
type seasonalNaiveMethod struct{}

func (seasonalNaiveMethod) name() string { return "seasonal_naive" }

func (seasonalNaiveMethod) fit(h *history) (stepper, int, error) {
	y, season := h.y, h.season
	if season < 2 || len(y) < season {
		return nil, 0, fmt.Errorf("seasonal naive needs a season of %d points, have %d: %w", season, len(y), ErrTooShort)
	}
	st := &snState{ring: newRing(season), last: nan, scale: newRobustScale(h.scale, h.floor, defaultShiftRun), runs: make([]int8, season)}
	st.scale.k = plainClip
	for i := range st.ring.v {
		st.ring.v[i] = nan
	}
	for _, v := range y[:season] {
		st.observe(v)
	}
	return st, season, nil
}

type snState struct {
	ring  ring // the last season of values, gross errors cleaned (NaN kept)
	last  float64
	scale robustScale // of the seasonal changes
	// runs counts, for each phase of the season, the seasons in a row its
	// change was clipped on the same side (signed).
	runs  []int8
	phase int // the phase of the next observation
}

func (s *snState) observe(y float64) {
	ph := s.phase
	if s.phase++; s.phase == len(s.runs) {
		s.phase = 0
	}
	if !finite(y) {
		s.ring.push(y)
		return
	}
	s.last = y
	prev := s.ring.at(len(s.ring.v))
	if !finite(prev) {
		s.ring.push(y)
		return
	}
	raw := y - prev
	e, shift := s.scale.filter(raw)
	r := &s.runs[ph]
	switch {
	case shift != 0:
		// A run of large changes: the level changed, keep the value.
		*r = 0
		s.ring.push(y)
		return
	case e == raw:
		*r = 0
	case raw > 0:
		*r = max(*r, 0) + 1
	default:
		*r = min(*r, 0) - 1
	}
	if *r >= seasonShiftRun || *r <= -seasonShiftRun {
		// Clipped at this time of day on consecutive days: the pattern.
		*r = 0
		s.ring.push(y)
		return
	}
	s.ring.push(prev + e)
}

func (s *snState) predict(dst []float64) {
	m := len(s.ring.v)
	for k := range dst {
		v := s.ring.at(m - k%m)
		if !finite(v) {
			v = s.last
		}
		dst[k] = v
	}
}

func (s *snState) clone() stepper {
	c := *s
	c.ring = s.ring.clone()
	c.runs = slices.Clone(s.runs)
	return &c
}
