// Package trace loads load traces: CSV files of `timestamp,value` rows.
//
// A trace is the demand input of the simulator and the benchmarks. Loading is
// strict: a missing file, a non-numeric or non-finite value, timestamps that
// are unsorted or repeated, or a trace too short to use is an error that names
// the file and the line. Gaps (missing timestamps) are legal in a raw trace;
// Regular fills them onto the median-step grid by linear interpolation.
package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MinPoints is the fewest points a trace may have.
const MinPoints = 3

// ErrInvalid is wrapped by every validation error, so callers can tell bad
// input from I/O failures with errors.Is.
var ErrInvalid = errors.New("invalid trace")

// Trace is a validated series of strictly increasing timestamps and values.
type Trace struct {
	Name   string      // base name of the file, or the name given to Parse
	Times  []time.Time // strictly increasing, UTC
	Values []float64   // finite
}

// Len returns the number of points.
func (t Trace) Len() int { return len(t.Values) }

// Step returns the median spacing between consecutive timestamps.
func (t Trace) Step() time.Duration {
	if len(t.Times) < 2 {
		return 0
	}
	d := make([]time.Duration, len(t.Times)-1)
	for i := 1; i < len(t.Times); i++ {
		d[i-1] = t.Times[i].Sub(t.Times[i-1])
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// Gaps returns how many grid points at the median step are missing.
func (t Trace) Gaps() int {
	step := t.Step()
	if step <= 0 {
		return 0
	}
	missing := 0
	for i := 1; i < len(t.Times); i++ {
		k := int(math.Round(float64(t.Times[i].Sub(t.Times[i-1])) / float64(step)))
		if k > 1 {
			missing += k - 1
		}
	}
	return missing
}

// Regular returns the trace on its median-step grid: every missing grid point
// is filled by linear interpolation between its neighbours, and a point off
// the grid is snapped to its nearest grid slot. The first timestamp anchors
// the grid. A trace without gaps is returned unchanged (same slices).
func (t Trace) Regular() Trace {
	step := t.Step()
	if step <= 0 || t.Gaps() == 0 {
		return t
	}
	out := Trace{Name: t.Name}
	start := t.Times[0]
	prevSlot := 0
	out.Times = append(out.Times, start)
	out.Values = append(out.Values, t.Values[0])
	for i := 1; i < len(t.Times); i++ {
		slot := int(math.Round(float64(t.Times[i].Sub(start)) / float64(step)))
		if slot <= prevSlot {
			// Two points snapped into one slot: keep the later value.
			out.Values[len(out.Values)-1] = t.Values[i]
			continue
		}
		k := slot - prevSlot
		a, b := t.Values[i-1], t.Values[i]
		for j := 1; j < k; j++ {
			out.Times = append(out.Times, start.Add(time.Duration(prevSlot+j)*step))
			out.Values = append(out.Values, a+(b-a)*float64(j)/float64(k))
		}
		out.Times = append(out.Times, start.Add(time.Duration(slot)*step))
		out.Values = append(out.Values, b)
		prevSlot = slot
	}
	return out
}

// Load reads and validates the CSV trace at path.
func Load(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, fmt.Errorf("opening trace: %w", err)
	}
	defer f.Close()
	tr, err := Parse(f, filepath.Base(path))
	if err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	return tr, nil
}

// timeLayouts are the timestamp forms accepted, tried in order.
var timeLayouts = []string{
	"2006-01-02 15:04:05",
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	// Unix seconds, possibly fractional.
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not YYYY-MM-DD HH:MM:SS, RFC 3339 or Unix seconds", s)
}

// Parse reads a CSV trace from r. The first line may be a header; blank
// lines are skipped. Each data line is `timestamp,value`.
func Parse(r io.Reader, name string) (Trace, error) {
	tr := Trace{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		fields := strings.Split(text, ",")
		if len(fields) != 2 {
			return Trace{}, fmt.Errorf("line %d: want 2 comma-separated fields (timestamp,value), got %d: %w", line, len(fields), ErrInvalid)
		}
		ts, vs := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		if len(tr.Values) == 0 && isHeader(ts, vs) {
			continue // a header line, before any data
		}
		t, terr := parseTime(ts)
		v, verr := strconv.ParseFloat(vs, 64)
		if terr != nil {
			return Trace{}, fmt.Errorf("line %d: %v: %w", line, terr, ErrInvalid)
		}
		if verr != nil {
			return Trace{}, fmt.Errorf("line %d: value %q is not a number: %w", line, vs, ErrInvalid)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Trace{}, fmt.Errorf("line %d: value %q is not finite: %w", line, vs, ErrInvalid)
		}
		if n := len(tr.Times); n > 0 {
			prev := tr.Times[n-1]
			switch {
			case t.Equal(prev):
				return Trace{}, fmt.Errorf("line %d: duplicate timestamp %s: %w", line, ts, ErrInvalid)
			case t.Before(prev):
				return Trace{}, fmt.Errorf("line %d: timestamp %s is earlier than the line before (timestamps must be sorted): %w", line, ts, ErrInvalid)
			}
		}
		tr.Times = append(tr.Times, t)
		tr.Values = append(tr.Values, v)
	}
	if err := sc.Err(); err != nil {
		return Trace{}, fmt.Errorf("reading line %d: %w", line+1, err)
	}
	if len(tr.Values) < MinPoints {
		return Trace{}, fmt.Errorf("%d data points, need at least %d: %w", len(tr.Values), MinPoints, ErrInvalid)
	}
	return tr, nil
}

func isHeader(ts, vs string) bool {
	isWord := func(s string) bool {
		if s == "" {
			return false
		}
		for _, r := range s {
			if !(r == '_' || r == ' ' || r == '"' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
				return false
			}
		}
		return true
	}
	return isWord(ts) && isWord(vs)
}

// Cut returns the first n points of t (n clamped to its length).
func (t Trace) Cut(n int) Trace {
	n = max(0, min(n, len(t.Values)))
	return Trace{Name: t.Name, Times: t.Times[:n], Values: t.Values[:n]}
}
