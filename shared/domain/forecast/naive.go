package forecast

import "fmt"

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
// last value where that one is missing.
type seasonalNaiveMethod struct{}

func (seasonalNaiveMethod) name() string { return "seasonal_naive" }

func (seasonalNaiveMethod) fit(h *history) (stepper, int, error) {
	y, season := h.y, h.season
	if season < 2 || len(y) < season {
		return nil, 0, fmt.Errorf("seasonal naive needs a season of %d points, have %d: %w", season, len(y), ErrTooShort)
	}
	st := &snState{ring: newRing(season), last: nan}
	for i := range st.ring.v {
		st.ring.v[i] = nan
	}
	for _, v := range y[:season] {
		st.observe(v)
	}
	return st, season, nil
}

type snState struct {
	ring ring // the last season of raw values (NaN kept)
	last float64
}

func (s *snState) observe(y float64) {
	s.ring.push(y)
	if finite(y) {
		s.last = y
	}
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

func (s *snState) clone() stepper { c := *s; c.ring = s.ring.clone(); return &c }
