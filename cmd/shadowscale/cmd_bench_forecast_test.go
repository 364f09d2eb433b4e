package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var benchLine = regexp.MustCompile(`^([^\t]+)\t([a-z_]+)\tn=(\d+)\tstep=(\d+)s\torigins=(\d+)\tMAE=[-+0-9.e]+\trel=[0-9.]+\tfit_ms=[0-9.]+$`)

func TestBenchForecastCommand(t *testing.T) {
	// Five days of 30-minute points: season 48, horizon 2; shorter than a
	// 7-day window, so window = max(2 seasons, N/2) = 120.
	a := writeTrace(t, "a.csv", 5*48, 30*time.Minute, daily)
	b := writeTrace(t, "b.csv", 6*48, 30*time.Minute, func(i int) float64 { return daily(i) * 2 })
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench", "forecast", a, b}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	models := map[string][]string{}
	for _, l := range lines {
		m := benchLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q does not match NAME MODEL n= step= origins= MAE= rel= fit_ms=", l)
		}
		models[m[1]] = append(models[m[1]], m[2])
		if m[4] != "1800" {
			t.Errorf("line %q: step %ss, want 1800s", l, m[4])
		}
		if m[1] == "a.csv" && (m[3] != "240" || m[5] != "59") { // origins 120, 122, ... 236
			t.Errorf("line %q: want n=240 origins=59", l)
		}
	}
	want := []string{"persistence", "seasonal_naive", "holt", "holt_winters", "arima", "default"}
	for _, name := range []string{"a.csv", "b.csv"} {
		if strings.Join(models[name], ",") != strings.Join(want, ",") {
			t.Errorf("%s: models %v, want %v", name, models[name], want)
		}
	}
}

func TestBenchForecastCommandErrors(t *testing.T) {
	good := writeTrace(t, "good.csv", 5*48, 30*time.Minute, daily)
	short := writeTrace(t, "short.csv", 20, 30*time.Minute, daily)
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantErr   string
		othersRun bool // a good trace in the same run still runs
	}{
		{name: "no file", args: []string{"bench", "forecast"}, wantCode: 2, wantErr: "name at least one trace"},
		{name: "missing file", args: []string{"bench", "forecast", good, filepath.Join(t.TempDir(), "nope.csv")}, wantCode: 1, wantErr: "no such file", othersRun: true},
		{name: "too short", args: []string{"bench", "forecast", short}, wantCode: 1, wantErr: "no origin to score"},
		{name: "bad value", args: []string{"bench", "forecast", writeFile(t, "bad.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,x\n2024-01-01 00:10:00,3\n")}, wantCode: 1, wantErr: "is not a number"},
		{name: "too few distinct timestamps", args: []string{"bench", "forecast", writeFile(t, "dup.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:00,2\n2024-01-01 00:10:00,3\n")}, wantCode: 1, wantErr: "2 distinct timestamps"},
		{name: "unknown model", args: []string{"bench", "forecast", "-models", "prophet", good}, wantCode: 2, wantErr: `unknown model "prophet"`},
		{name: "bad flag", args: []string{"bench", "forecast", "-horizon", "-3", good}, wantCode: 2, wantErr: "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d (stderr: %s)", code, tc.wantCode, errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Fatalf("stderr %q does not contain %q", errOut.String(), tc.wantErr)
			}
			if out.Len() != 0 && !tc.othersRun {
				t.Errorf("printed results despite the error: %q", out.String())
			}
			if tc.othersRun && !strings.Contains(out.String(), "good.csv\tdefault\t") {
				t.Errorf("the good trace did not run: %q", out.String())
			}
		})
	}
}

func TestBenchForecastHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench", "forecast", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, w := range []string{"Missing and repeated timestamps", "-horizon", "-window"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("help does not mention %q:\n%s", w, errOut.String())
		}
	}
}

// TestBenchForecastPaired: on a straight line persistence errs by 1 and 2
// at each origin (horizon 2), the seasonal naive by a day's rise (48) at
// both horizons: worse at every origin by the same amount.
func TestBenchForecastPaired(t *testing.T) {
	line := writeTrace(t, "line.csv", 5*48, 30*time.Minute, func(i int) float64 { return float64(i) })
	var out, errOut bytes.Buffer
	args := []string{"bench", "forecast", "-paired", "-models", "persistence,seasonal_naive", line}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !benchLine.MatchString(l) {
			t.Errorf("stdout line %q is not a protocol line", l)
		}
	}
	paired := regexp.MustCompile(`(?m)^line\.csv\t([a-z_]+)\tvs_persistence\tworse_origins=(\d+)/(\d+)\tbetter_origins=(\d+)/\d+\tpaired_t=(\S+)\tworst_origin=(\d+)\trel_without_worst=([0-9.]+)$`)
	got := paired.FindAllStringSubmatch(errOut.String(), -1)
	if len(got) != 1 {
		t.Fatalf("want one vs_persistence line (seasonal_naive; none for persistence itself), got %d in %q", len(got), errOut.String())
	}
	m := got[0]
	if m[1] != "seasonal_naive" || m[2] != "59" || m[3] != "59" || m[4] != "0" || m[5] != "+Inf" || m[7] != "32.0000" {
		t.Errorf("line %q: want seasonal_naive worse at 59/59 origins, better at none, t +Inf, rel without the worst 32 (96/3)", m[0])
	}
}
