package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wave is a daily wave of 5-minute points with a burst every afternoon.
func wave(i int) float64 {
	v := 100 + 80*math.Sin(2*math.Pi*float64(i)/288)
	if i%288 > 200 && i%288 < 210 {
		v += 150
	}
	return v
}

func TestSimulateWritesTheReport(t *testing.T) {
	path := writeTrace(t, "wave.csv", 3*288, 5*time.Minute, wave)
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"simulate", "--trace", path, "--out", out, "--sample-every", "50"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"reactive", "predictive", "shadow", "oracle", "overload_min", "shadows created / retired", "digests equal at the end", "report: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "shadow: ") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
	for _, f := range []string{"index.html", "capacity-reactive.svg", "capacity-shadow.svg", "capacity-busiest-day.svg", "shadow-rates.svg", "delta.svg", "forecast.svg", "forecast-busiest-day.svg", "shadows.svg"} {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, "index.html"))
	if !strings.Contains(string(page), `<img src="forecast.svg"`) || !strings.Contains(string(page), "capacity changes, with its reasons") {
		t.Error("index.html does not show the charts and the decisions")
	}
}

func TestSimulateBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, "bad.csv", "timestamp,value\n2014-04-10 00:00:00,1\n2014-04-10 00:05:00,x\n2014-04-10 00:10:00,3\n")
	short := writeFile(t, "short.csv", "2014-04-10 00:00:00,1\n2014-04-10 00:05:00,2\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing file", []string{"--trace", filepath.Join(dir, "nope.csv")}, 1, "no such file"},
		{"non-numeric value", []string{"--trace", bad}, 1, `value "x" is not a number`},
		{"too short", []string{"--trace", short}, 1, "need at least 3"},
		{"stray argument", []string{"extra.csv"}, 2, "unexpected arguments"},
		{"bad sampling", []string{"--sample-every", "0"}, 2, "sample-every 0"},
		{"unknown live type", []string{"--live-type", "zz9.huge"}, 2, "unknown instance type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"simulate", "--quiet", "--out", filepath.Join(dir, "r")}, tc.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestBundledTraceLoads(t *testing.T) {
	tr, err := loadSimTrace("")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name != bundledName || tr.Len() != 4032 {
		t.Fatalf("bundled trace %s with %d points", tr.Name, tr.Len())
	}
	// The license travels with the trace.
	if _, err := os.Stat(filepath.Join("data", "LICENSE.txt")); err != nil {
		t.Fatalf("the bundled trace's license: %v", err)
	}
}
