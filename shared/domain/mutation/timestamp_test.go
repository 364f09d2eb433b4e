package mutation

import (
	"encoding/json"
	"testing"
	"time"
)

// TestParseUTC: the timestamps Encode writes take the fast path, and the
// fast path gives what time.Time's UnmarshalJSON gives, or declines.
func TestParseUTC(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 28, 12, 0, 0, 5, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 100, time.UTC),
	} {
		b, err := json.Marshal(at)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseUTC(b[1 : len(b)-1])
		if !ok || got != at {
			t.Errorf("parseUTC(%s) = %v, %v; want %v, true (the form Encode writes)", b, got, ok, at)
		}
	}
	tests := []struct {
		in     string
		fastOK bool
	}{
		{"2026-11-28T12:00:00Z", true},
		{"2026-11-28T12:00:00.5Z", true},
		{"2026-11-28T12:00:00.123456789Z", true},
		{"2026-11-28T12:00:00.1234567891Z", false}, // ten digits: UnmarshalJSON decides
		{"2026-11-28T12:00:00.Z", false},
		{"2026-11-28T12:00:00+01:00", false},
		{"2026-11-28t12:00:00z", false},
		{"2026-02-29T12:00:00Z", false}, // no such day
		{"2024-02-29T12:00:00Z", true},
		{"2000-02-29T00:00:00Z", true},  // divisible by 400: leap
		{"1900-02-29T00:00:00Z", false}, // by 100 only: common
		{"0000-02-29T00:00:00Z", true},
		{"0000-03-01T00:00:00Z", true},
		{"2026-12-31T23:59:59Z", true},
		{"2026-01-31T00:00:00Z", true},
		{"9999-12-31T23:59:59.999999999Z", true},
		{"2026-04-31T12:00:00Z", false},
		{"2026-13-01T12:00:00Z", false},
		{"2026-00-01T12:00:00Z", false},
		{"2026-11-00T12:00:00Z", false},
		{"2026-11-28T24:00:00Z", false},
		{"2026-11-28T23:60:00Z", false},
		{"2026-11-28T23:59:60Z", false},
		{"2026-11-28T1:00:00Z", false},
		{"+026-11-28T12:00:00Z", false},
		{"0000-01-01T00:00:00Z", true},
		{"2026-11-28 12:00:00Z", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseUTC([]byte(tc.in))
			if ok != tc.fastOK {
				t.Errorf("fast path %v, want %v", ok, tc.fastOK)
			}
			sameTime(t, []byte(tc.in), got, ok)
		})
	}
}

// sameTime fails when parseUTC accepted s but UnmarshalJSON gives another
// time or refuses it.
func sameTime(t *testing.T, s []byte, got time.Time, ok bool) {
	t.Helper()
	if !ok {
		return
	}
	var want time.Time
	if err := want.UnmarshalJSON(append(append([]byte{'"'}, s...), '"')); err != nil {
		t.Fatalf("parseUTC accepted %q, UnmarshalJSON refuses it: %v", s, err)
	}
	if got != want {
		t.Fatalf("parseUTC(%q) = %v, UnmarshalJSON gives %v", s, got, want)
	}
}

// TestParseUTCEveryDay: every day of 1899 to 2101 and of the first and
// last years RFC 3339 has, at a time of day that moves with the day, is
// parsed by the fast path to what UnmarshalJSON gives.
func TestParseUTCEveryDay(t *testing.T) {
	spans := [][2]time.Time{
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(4, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(1899, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(9996, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	n := 0
	for _, sp := range spans {
		for d := sp[0]; !d.After(sp[1]); d = d.AddDate(0, 0, 1) {
			at := d.Add(time.Duration(n%86400)*time.Second + time.Duration(n%1000)*time.Microsecond)
			n += 7919
			s := []byte(at.Format(time.RFC3339Nano))
			got, ok := parseUTC(s)
			if !ok {
				t.Fatalf("parseUTC(%s) declined a time in the form Encode writes", s)
			}
			sameTime(t, s, got, ok)
		}
	}
}

func BenchmarkParseUTC(b *testing.B) {
	s := []byte("2026-11-28T12:34:56.123456789Z")
	q := []byte(`"2026-11-28T12:34:56.123456789Z"`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, ok := parseUTC(s); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("unmarshal-json", func(b *testing.B) {
		var t time.Time
		for b.Loop() {
			if err := t.UnmarshalJSON(q); err != nil {
				b.Fatal(err)
			}
		}
	})
}
