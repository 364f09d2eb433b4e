package trace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantN   int
		wantErr string
	}{
		{name: "header and rows", in: "timestamp,value\n2014-04-10 00:04:00,94.0\n2014-04-10 00:09:00,56\n2014-04-10 00:14:00,187\n", wantN: 3},
		{name: "no header, blank lines", in: "\n2014-04-10 00:04:00,1\n\n2014-04-10 00:09:00,2\n2014-04-10 00:14:00,3\n", wantN: 3},
		{name: "rfc3339 and unix", in: "2014-04-10T00:04:00Z,1\n1397088540,2\n1397088840.5,3\n", wantN: 3},
		{name: "non numeric value", in: "2014-04-10 00:04:00,1\n2014-04-10 00:09:00,abc\n2014-04-10 00:14:00,3\n", wantErr: `line 2: value "abc" is not a number`},
		{name: "nan value", in: "2014-04-10 00:04:00,1\n2014-04-10 00:09:00,NaN\n2014-04-10 00:14:00,3\n", wantErr: "not finite"},
		{name: "bad timestamp", in: "2014-04-10 00:04:00,1\nyesterday,2\n2014-04-10 00:14:00,3\n", wantErr: `line 2: timestamp "yesterday"`},
		{name: "duplicate timestamp", in: "2014-04-10 00:04:00,1\n2014-04-10 00:04:00,2\n2014-04-10 00:14:00,3\n", wantErr: "line 2: duplicate timestamp"},
		{name: "unsorted", in: "2014-04-10 00:09:00,1\n2014-04-10 00:04:00,2\n2014-04-10 00:14:00,3\n", wantErr: "line 2: timestamp 2014-04-10 00:04:00 is earlier"},
		{name: "three fields", in: "2014-04-10 00:04:00,1,2\n", wantErr: "want 2 comma-separated fields"},
		{name: "too short", in: "timestamp,value\n2014-04-10 00:04:00,1\n", wantErr: "1 data points, need at least 3"},
		{name: "empty", in: "", wantErr: "0 data points"},
		{name: "header after data", in: "2014-04-10 00:04:00,1\ntimestamp,value\n", wantErr: "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Parse(strings.NewReader(tc.in), "x.csv")
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse succeeded with %d points, want error containing %q", tr.Len(), tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %q does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tr.Len() != tc.wantN {
				t.Fatalf("Len() = %d, want %d", tr.Len(), tc.wantN)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.csv"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: err = %v, want os.ErrNotExist", err)
	}
}

func TestRegularFillsGaps(t *testing.T) {
	in := "2014-04-10 00:00:00,0\n2014-04-10 00:05:00,10\n2014-04-10 00:20:00,40\n2014-04-10 00:25:00,50\n"
	tr, err := Parse(strings.NewReader(in), "g")
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Step(); got != 5*time.Minute {
		t.Fatalf("Step() = %v", got)
	}
	if got := tr.Gaps(); got != 2 {
		t.Fatalf("Gaps() = %d, want 2", got)
	}
	r := tr.Regular()
	want := []float64{0, 10, 20, 30, 40, 50}
	if len(r.Values) != len(want) {
		t.Fatalf("Regular has %d points, want %d", len(r.Values), len(want))
	}
	for i, v := range want {
		if r.Values[i] != v {
			t.Errorf("Values[%d] = %v, want %v", i, r.Values[i], v)
		}
		if wantT := tr.Times[0].Add(time.Duration(i) * 5 * time.Minute); !r.Times[i].Equal(wantT) {
			t.Errorf("Times[%d] = %v, want %v", i, r.Times[i], wantT)
		}
	}
}

func TestCut(t *testing.T) {
	tr := Trace{Values: []float64{1, 2, 3}, Times: make([]time.Time, 3)}
	if got := tr.Cut(2).Len(); got != 2 {
		t.Fatalf("Cut(2).Len() = %d", got)
	}
	if got := tr.Cut(10).Len(); got != 3 {
		t.Fatalf("Cut(10).Len() = %d", got)
	}
}
