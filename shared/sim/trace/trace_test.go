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
		{name: "a repeated timestamp is merged", in: "2014-04-10 00:04:00,1\n2014-04-10 00:04:00,2\n2014-04-10 00:14:00,3\n2014-04-10 00:19:00,3\n", wantN: 3},
		{name: "too few distinct timestamps", in: "2014-04-10 00:04:00,1\n2014-04-10 00:04:00,2\n2014-04-10 00:14:00,3\n", wantErr: "2 distinct timestamps"},
		{name: "unsorted", in: "2014-04-10 00:09:00,1\n2014-04-10 00:04:00,2\n2014-04-10 00:14:00,3\n", wantErr: "line 2: timestamp 2014-04-10T00:04:00Z is out of order"},
		{name: "three fields", in: "2014-04-10 00:04:00,1,2\n", wantErr: "3 fields and no header"},
		{name: "quoted fields", in: "\"timestamp\",\"value\"\n\"2014-04-10 00:04:00\",\"1,5\"\n", wantErr: `value "1,5" is not a number`},
		{name: "a bare quote (the CSV reader reads no record)", in: "2014-04-10 00:04:00,1\n2014-04-10 00:09:00,2\"x\n", wantErr: `line 2: bare " in non-quoted-field`},
		{name: "quoted fields (Grafana)", in: "\"Time\",\"Value\"\n\"2014-04-10 00:04:00\",\"1\"\n\"2014-04-10 00:09:00\",\"2.5\"\n\"2014-04-10 00:14:00\",\"3\"\n", wantN: 3},
		{name: "UTC suffix", in: "2014-02-14 14:27:00 UTC,1\n2014-02-14 14:32:00 UTC,2\n2014-02-14 14:37:00 UTC,3\n", wantN: 3},
		{name: "epoch milliseconds", in: "1397088240000,1\n1397088540000,2\n1397088840000,3\n", wantN: 3},
		{name: "a year beyond reason", in: "99999999999,1\n99999999999.5,2\n", wantErr: "in the year 5138"},
		{name: "newest first", in: "2014-04-10 00:14:00,3\n2014-04-10 00:09:00,2\n2014-04-10 00:04:00,1\n", wantN: 3},
		{name: "CloudWatch export", in: "Label,Timestamp,Average,Unit\nCPU,2014-04-10T00:04:00Z,1,Percent\nCPU,2014-04-10T00:09:00Z,2,Percent\nCPU,2014-04-10T00:14:00Z,3,Percent\n", wantN: 3},
		{name: "export without a value column", in: "Label,Timestamp,Reading,Unit\nCPU,2014-04-10T00:04:00Z,1,Percent\n", wantErr: "no value column recognized"},
		{name: "a short row", in: "Label,Timestamp,Average\nCPU,2014-04-10T00:04:00Z,1\nCPU,2014-04-10T00:09:00Z\n", wantErr: "line 3: 2 fields, want at least 3"},
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

func TestParseWithColumns(t *testing.T) {
	in := "host,when,p50,p99\na,2014-04-10 00:04:00,1,10\na,2014-04-10 00:09:00,2,20\na,2014-04-10 00:14:00,3,30\n"
	for _, tc := range []struct {
		name    string
		opt     Options
		want    float64 // the last value
		wantErr string
	}{
		{name: "by name", opt: Options{TimeColumn: "WHEN", ValueColumn: "p99"}, want: 30},
		{name: "by position", opt: Options{TimeColumn: "2", ValueColumn: "3"}, want: 3},
		{name: "no such name", opt: Options{TimeColumn: "when", ValueColumn: "p95"}, wantErr: `no value column "p95"`},
		{name: "position zero", opt: Options{TimeColumn: "0", ValueColumn: "3"}, wantErr: "count from 1"},
		{name: "one column twice", opt: Options{TimeColumn: "when", ValueColumn: "2"}, wantErr: "same column 2"},
		{name: "unnamed", wantErr: "no time column recognized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := ParseWith(strings.NewReader(in), "x.csv", tc.opt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || tr.Values[2] != tc.want {
				t.Fatalf("%v, %v: want last value %v", tr.Values, err, tc.want)
			}
		})
	}
}

func TestParseTimes(t *testing.T) {
	want := time.Date(2014, 2, 14, 14, 27, 0, 0, time.UTC)
	for _, in := range []string{"2014-02-14 14:27:00", "2014-02-14 14:27:00 UTC", "2014-02-14T14:27:00Z", "2014-02-14T15:27:00+01:00",
		"1392388020", "1392388020000", "1392388020000000", "1392388020000000000", "2014-02-14 15:27:00 +0100"} {
		got, err := parseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestNewestFirstIsReordered(t *testing.T) {
	tr, err := Parse(strings.NewReader("2014-04-10 00:14:00,3\n2014-04-10 00:09:00,2\n2014-04-10 00:04:00,1\n"), "x")
	if err != nil || !tr.Reordered || tr.Values[0] != 1 || !tr.Times[0].Before(tr.Times[1]) {
		t.Fatalf("%+v, %v", tr, err)
	}
	tr, err = Parse(strings.NewReader("2014-04-10 00:04:00,1\n2014-04-10 00:09:00,2\n2014-04-10 00:14:00,3\n"), "x")
	if err != nil || tr.Reordered {
		t.Fatalf("an oldest-first trace: %+v, %v", tr, err)
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

// TestRepeatsAreMerged: a daylight-saving export repeats a timestamp; the
// rows become one point with their mean, and the count is reported.
func TestRepeatsAreMerged(t *testing.T) {
	in := "timestamp,value\n2014-03-09 02:55:00,10\n2014-03-09 03:00:00,20\n2014-03-09 03:00:00,40\n2014-03-09 03:05:00,50\n"
	tr, err := Parse(strings.NewReader(in), "dst.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 3 || tr.Values[1] != 30 || tr.Merged != 1 {
		t.Fatalf("%+v", tr)
	}
}
