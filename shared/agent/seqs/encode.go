package seqs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The JSON forms are compact, for the agent's store and snapshot header:
// a Range is [from, to], a Gap [from, to, since in unix nanoseconds].

// MarshalJSON writes [from, to].
func (r Range) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%d,%d]", r.From, r.To), nil
}

// UnmarshalJSON reads [from, to].
func (r *Range) UnmarshalJSON(b []byte) error {
	var a []uint64
	if err := json.Unmarshal(b, &a); err != nil || len(a) != 2 {
		return fmt.Errorf("%w: a range is [from, to]", ErrInvalid)
	}
	r.From, r.To = a[0], a[1]
	return nil
}

// MarshalJSON writes [from, to, since unix ns].
func (g Gap) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "[%d,%d,%d]", g.From, g.To, g.Since.UnixNano()), nil
}

// UnmarshalJSON reads [from, to, since unix ns].
func (g *Gap) UnmarshalJSON(b []byte) error {
	var a []json.Number
	if err := json.Unmarshal(b, &a); err != nil || len(a) != 3 {
		return fmt.Errorf("%w: a gap is [from, to, since unix ns]", ErrInvalid)
	}
	var err error
	if g.From, err = parseUint(a[0]); err != nil {
		return err
	}
	if g.To, err = parseUint(a[1]); err != nil {
		return err
	}
	ns, err := a[2].Int64()
	if err != nil {
		return fmt.Errorf("%w: gap time %q is not unix nanoseconds", ErrInvalid, a[2])
	}
	g.Since = time.Unix(0, ns).UTC()
	return nil
}

func parseUint(n json.Number) (uint64, error) {
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a seq", ErrInvalid, n)
	}
	return v, nil
}
