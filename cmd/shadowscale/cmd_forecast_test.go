package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim/forecastbench"
)

// writeTrace writes a CSV trace of n points at step from a fixed start,
// value f(i), and returns its path.
func writeTrace(t *testing.T, name string, n int, step time.Duration, f func(i int) float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "%s,%g\n", start.Add(time.Duration(i)*step).Format(time.DateTime), f(i))
	}
	return writeFile(t, name, b.String())
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// daily is a 30-minute load with a daily cycle and a little deterministic
// noise.
func daily(i int) float64 {
	return 100 + 30*math.Sin(2*math.Pi*float64(i)/48) + float64((i*7919)%13) - 6
}

func TestForecastCommand(t *testing.T) {
	good := writeTrace(t, "good.csv", 5*48, 30*time.Minute, daily)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		wantErr  string
	}{
		{name: "forecast", args: []string{"forecast", "--trace", good}, wantCode: 0,
			wantOut: []string{"good.csv: 240 rows, step 30m0s", "model ", "why ", "least backtest MAE", "backtest on this trace (FORECAST.md protocol", "% of actuals below P10", "origin by origin against persistence: worse at ", "2024-03-06 00:00:00", "2024-03-06 00:30:00", "P10", "P90"}},
		{name: "horizon", args: []string{"forecast", "--trace", good, "--horizon", "3h"}, wantCode: 0,
			wantOut: []string{"2024-03-06 02:30:00"}},
		{name: "too short for the protocol's backtest", args: []string{"forecast", "--trace", writeTrace(t, "short5m.csv", 100, 5*time.Minute, daily)}, wantCode: 0,
			wantOut: []string{"backtest none: the trace leaves no origin", "P10"}},
		{name: "no trace", args: []string{"forecast"}, wantCode: 2, wantErr: "--trace FILE is required"},
		{name: "bad horizon", args: []string{"forecast", "--trace", good, "--horizon", "-1h"}, wantCode: 2, wantErr: "must be positive"},
		{name: "stray argument", args: []string{"forecast", "--trace", good, "extra"}, wantCode: 2, wantErr: "unexpected argument"},
		{name: "missing file", args: []string{"forecast", "--trace", filepath.Join(t.TempDir(), "nope.csv")}, wantCode: 1, wantErr: "no such file"},
		{name: "non-numeric", args: []string{"forecast", "--trace", writeFile(t, "nan.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,abc\n2024-01-01 00:10:00,3\n")},
			wantCode: 1, wantErr: `line 3: value "abc" is not a number`},
		{name: "unsorted", args: []string{"forecast", "--trace", writeFile(t, "unsorted.csv", "timestamp,value\n2024-01-01 00:10:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:15:00,3\n")},
			wantCode: 1, wantErr: "out of order"},
		{name: "duplicate", args: []string{"forecast", "--trace", writeFile(t, "dup.csv", "timestamp,value\n2024-01-01 00:05:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:15:00,3\n")},
			wantCode: 1, wantErr: "2 distinct timestamps"},
		{name: "too short", args: []string{"forecast", "--trace", writeFile(t, "short.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:10:00,3\n")},
			wantCode: 1, wantErr: "too short"},
		{name: "empty", args: []string{"forecast", "--trace", writeFile(t, "empty.csv", "")}, wantCode: 1, wantErr: "0 data points"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d (stderr: %s)", code, tc.wantCode, errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout does not contain %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.wantErr)
			}
			if strings.Contains(errOut.String(), "panic") {
				t.Errorf("stderr mentions a panic: %s", errOut.String())
			}
		})
	}
}

// TestForecastCommandTable checks the table's numbers: P10 <= mean <= P90
// on every row, one row a step of the horizon.
func TestForecastCommandTable(t *testing.T) {
	path := writeTrace(t, "t.csv", 6*48, 30*time.Minute, daily)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"forecast", "--trace", path, "--horizon", "2h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	row := regexp.MustCompile(`(?m)^\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)
	rows := row.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		var p10, mean, p90 float64
		fmt.Sscan(r[2], &p10)
		fmt.Sscan(r[3], &mean)
		fmt.Sscan(r[4], &p90)
		if !(p10 <= mean && mean <= p90) {
			t.Errorf("row %s: P10 %v, mean %v, P90 %v out of order", r[1], p10, mean, p90)
		}
		if mean < 50 || mean > 150 {
			t.Errorf("row %s: mean %v far outside the series' range", r[1], mean)
		}
	}
}

func TestPairedText(t *testing.T) {
	tests := []struct {
		name string
		p    forecastbench.Paired
		want string
	}{
		{"better", forecastbench.Paired{Origins: 120, Worse: 30, Better: 90, T: -7.3, WorstOrigin: 3356, RelWithoutWorst: 0.457},
			"origin by origin against persistence: worse at 30, better at 90 of 120, paired t -7.30 (better beyond noise), rel 0.457 without its worst origin (t=3356)"},
		{"noise", forecastbench.Paired{Origins: 120, Worse: 69, Better: 51, T: 0.85, WorstOrigin: 2604, RelWithoutWorst: 0.976},
			"origin by origin against persistence: worse at 69, better at 51 of 120, paired t +0.85 (within noise), rel 0.976 without its worst origin (t=2604)"},
		{"worse everywhere alike", forecastbench.Paired{Origins: 4, Worse: 4, T: math.Inf(1), WorstOrigin: 10, RelWithoutWorst: 3},
			"origin by origin against persistence: worse at 4, better at 0 of 4, paired t +Inf (worse beyond noise), rel 3.000 without its worst origin (t=10)"},
		{"never worse", forecastbench.Paired{Origins: 2, Better: 2, T: -2, WorstOrigin: -1, RelWithoutWorst: 0.5},
			"origin by origin against persistence: worse at 0, better at 2 of 2, paired t -2.00 (better beyond noise)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pairedText(tc.p); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
