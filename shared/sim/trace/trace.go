// Package trace loads load traces: CSV files of `timestamp,value` rows, or
// exports with more columns (CloudWatch, Grafana) whose time and value
// columns are named.
//
// A trace is the demand input of the simulator and the benchmarks. Loading is
// strict: a missing file, a non-numeric or non-finite value, timestamps that
// are unsorted or repeated, or a trace too short to use is an error that names
// the file and the line. Gaps (missing timestamps) are legal in a raw trace;
// Regular fills them onto the median-step grid by linear interpolation.
package trace

import (
	"encoding/csv"
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
	// Reordered: the file was newest-first and was put oldest-first.
	Reordered bool
	// Merged counts rows whose timestamp repeated the one before (real
	// exports have them, e.g. around a daylight-saving change): each was
	// merged into that point, whose value is the mean of the rows.
	Merged int
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

// Options say where a trace's columns are. The zero value reads
// `timestamp,value` files: the first column is the time and the second the
// value, or, in a file with a header and more columns (a CloudWatch or
// Grafana export), the columns whose header is a time word (timestamp,
// time, date, datetime) and a value word (value, or one of CloudWatch's
// statistics: average, sum, maximum, minimum, samplecount).
type Options struct {
	// TimeColumn and ValueColumn name a column by its header (matched
	// without regard to case) or by its 1-based position ("3").
	TimeColumn, ValueColumn string
}

// Load reads and validates the CSV trace at path.
func Load(path string) (Trace, error) { return LoadWith(path, Options{}) }

// LoadWith reads and validates the CSV trace at path, its columns where
// opt says.
func LoadWith(path string, opt Options) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, fmt.Errorf("opening trace: %w", err)
	}
	defer f.Close()
	tr, err := ParseWith(f, filepath.Base(path), opt)
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
	"2006-01-02 15:04:05 MST", // 2014-02-14 14:27:00 UTC
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05.000Z0700",
	"2006/01/02 15:04:05",
}

// Epoch numbers are read as seconds, milliseconds, microseconds or
// nanoseconds by their size: a number of seconds above 1e11 would be past
// the year 5000, so it is taken as milliseconds, and so on.
const (
	epochMillisAbove = 1e11
	epochMicrosAbove = 1e14
	epochNanosAbove  = 1e17
)

// Timestamps must lie in these years: anything else is a misread unit or
// a broken export, and would make a run of absurd length.
const minYear, maxYear = 1970, 2200

func parseTime(s string) (time.Time, error) {
	t, err := parseTimeAny(s)
	if err != nil {
		return t, err
	}
	if y := t.Year(); y < minYear || y > maxYear {
		return time.Time{}, fmt.Errorf("timestamp %q is in the year %d (want %d to %d): a misread unit?", s, y, minYear, maxYear)
	}
	return t, nil
}

func parseTimeAny(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if l == "2006-01-02 15:04:05 MST" && t.Location().String() != "UTC" {
				if _, off := t.Zone(); off == 0 && !strings.HasSuffix(s, " UTC") && !strings.HasSuffix(s, " GMT") {
					continue // an abbreviation Go cannot place: not guessed
				}
			}
			return t.UTC(), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, fmt.Errorf("timestamp %q is not YYYY-MM-DD HH:MM:SS[ UTC], RFC 3339 or a Unix epoch number", s)
	}
	switch {
	case f > epochNanosAbove:
		return time.Unix(0, int64(f)).UTC(), nil
	case f > epochMicrosAbove:
		return time.UnixMicro(int64(f)).UTC(), nil
	case f > epochMillisAbove:
		return time.UnixMilli(int64(f)).UTC(), nil
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// Parse reads a `timestamp,value` CSV trace from r (see ParseWith).
func Parse(r io.Reader, name string) (Trace, error) { return ParseWith(r, name, Options{}) }

// ParseWith reads a CSV trace from r (RFC 4180: quoted fields, as Excel,
// Grafana and CloudWatch write them). The first row may be a header; blank
// rows are skipped. Rows in newest-first order are put oldest-first, and
// Trace.Reordered says so; any other order is an error. Rows repeating a
// timestamp are merged into one point, the mean of their values
// (Trace.Merged counts them).
func ParseWith(r io.Reader, name string, opt Options) (Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	tr := Trace{Name: name}
	cols := columns{time: -1, value: -1}
	var lines []int
	for row := 0; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil { // no record was read: its position is the error's
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Trace{}, fmt.Errorf("line %d: %v: %w", pe.Line, pe.Err, ErrInvalid)
			}
			return Trace{}, fmt.Errorf("reading: %v: %w", err, ErrInvalid)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if cols.time < 0 {
			header := len(tr.Values) == 0 && looksLikeHeader(rec)
			if cols, err = pickColumns(rec, header, opt); err != nil {
				return Trace{}, fmt.Errorf("line %d: %v: %w", line, err, ErrInvalid)
			}
			if header {
				continue
			}
		}
		if need := max(cols.time, cols.value) + 1; len(rec) < need {
			return Trace{}, fmt.Errorf("line %d: %d fields, want at least %d (time column %d, value column %d): %w", line, len(rec), need, cols.time+1, cols.value+1, ErrInvalid)
		}
		ts, vs := rec[cols.time], rec[cols.value]
		t, terr := parseTime(ts)
		if terr != nil {
			return Trace{}, fmt.Errorf("line %d: %v: %w", line, terr, ErrInvalid)
		}
		v, verr := strconv.ParseFloat(vs, 64)
		if verr != nil {
			return Trace{}, fmt.Errorf("line %d: value %q is not a number: %w", line, vs, ErrInvalid)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Trace{}, fmt.Errorf("line %d: value %q is not finite: %w", line, vs, ErrInvalid)
		}
		tr.Times = append(tr.Times, t)
		tr.Values = append(tr.Values, v)
		lines = append(lines, line)
	}
	if len(tr.Values) < MinPoints {
		return Trace{}, fmt.Errorf("%d data points, need at least %d: %w", len(tr.Values), MinPoints, ErrInvalid)
	}
	if tr.Times[1].Before(tr.Times[0]) {
		slices.Reverse(tr.Times)
		slices.Reverse(tr.Values)
		slices.Reverse(lines)
		tr.Reordered = true
	}
	for i := 1; i < len(tr.Times); i++ {
		if prev, t := tr.Times[i-1], tr.Times[i]; t.Before(prev) {
			return Trace{}, fmt.Errorf("line %d: timestamp %s is out of order (timestamps must be sorted, oldest or newest first): %w", lines[i], t.Format(time.RFC3339), ErrInvalid)
		}
	}
	tr = mergeRepeats(tr)
	if len(tr.Values) < MinPoints {
		return Trace{}, fmt.Errorf("%d distinct timestamps, need at least %d: %w", len(tr.Values), MinPoints, ErrInvalid)
	}
	return tr, nil
}

// mergeRepeats merges each run of rows with one timestamp into one point
// holding their mean.
func mergeRepeats(tr Trace) Trace {
	n := 0
	for i := 0; i < len(tr.Times); {
		j, sum := i, 0.0
		for j < len(tr.Times) && tr.Times[j].Equal(tr.Times[i]) {
			sum += tr.Values[j]
			j++
		}
		tr.Times[n], tr.Values[n] = tr.Times[i], sum/float64(j-i)
		tr.Merged += j - i - 1
		n++
		i = j
	}
	tr.Times, tr.Values = tr.Times[:n], tr.Values[:n]
	return tr
}

// columns are the 0-based positions of the time and value.
type columns struct{ time, value int }

var (
	timeWords  = []string{"timestamp", "time", "date", "datetime"}
	valueWords = []string{"value", "average", "sum", "maximum", "minimum", "samplecount"}
)

// pickColumns places the time and the value from opt and the first row
// (a header when header is true).
func pickColumns(first []string, header bool, opt Options) (columns, error) {
	find := func(flag, what string, words []string, dflt int) (int, error) {
		if flag != "" {
			if n, err := strconv.Atoi(flag); err == nil {
				if n < 1 {
					return 0, fmt.Errorf("%s column %d: columns count from 1", what, n)
				}
				return n - 1, nil
			}
			if !header {
				return 0, fmt.Errorf("%s column %q named, but the file has no header", what, flag)
			}
			for i, h := range first {
				if strings.EqualFold(h, flag) {
					return i, nil
				}
			}
			return 0, fmt.Errorf("no %s column %q in the header %q", what, flag, first)
		}
		if len(first) == 2 {
			return dflt, nil
		}
		if header {
			for _, w := range words {
				for i, h := range first {
					if strings.EqualFold(h, w) {
						return i, nil
					}
				}
			}
		}
		if !header {
			return 0, fmt.Errorf("%d fields and no header: want timestamp,value, or name the %s column with --%s-column", len(first), what, what)
		}
		return 0, fmt.Errorf("%d columns and no %s column recognized in the header %q: name it with --%s-column", len(first), what, first, what)
	}
	t, err := find(opt.TimeColumn, "time", timeWords, 0)
	if err != nil {
		return columns{}, err
	}
	v, err := find(opt.ValueColumn, "value", valueWords, 1)
	if err != nil {
		return columns{}, err
	}
	if t == v {
		return columns{}, fmt.Errorf("the time and the value are the same column %d", t+1)
	}
	return columns{time: t, value: v}, nil
}

// looksLikeHeader: a first row with no field that reads as a number or a
// timestamp.
func looksLikeHeader(rec []string) bool {
	for _, f := range rec {
		if f == "" {
			continue
		}
		if _, err := strconv.ParseFloat(f, 64); err == nil {
			return false
		}
		if _, err := parseTimeAny(f); err == nil {
			return false
		}
	}
	return true
}

// Cut returns the first n points of t (n clamped to its length).
func (t Trace) Cut(n int) Trace {
	n = max(0, min(n, len(t.Values)))
	return Trace{Name: t.Name, Times: t.Times[:n], Values: t.Values[:n]}
}
