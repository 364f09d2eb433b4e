package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim/trace"
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
	for _, want := range []string{"reactive", "predictive", "shadow", "oracle", "shadow-blind", "overload_min", "shadows created / retired", "digests equal at the end", "report: ",
		"what the shadows add (shadow vs shadow-blind): overload ", "shadow vs reactive: overload "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "shadow: ") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
	for _, f := range []string{"index.html", "capacity-reactive.svg", "capacity-shadow.svg", "capacity-busiest-day.svg", "shadow-rates.svg", "delta.svg", "forecast.svg", "forecast-busiest-day.svg", "shadows.svg", "capacity-estimate.svg", "capacity-shadow-blind.svg"} {
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
	fewer := writeTrace(t, "fewer.csv", 10, 5*time.Minute, wave)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing file", []string{"--trace", filepath.Join(dir, "nope.csv")}, 1, "no such file"},
		{"non-numeric value", []string{"--trace", bad}, 1, `value "x" is not a number`},
		{"too short", []string{"--trace", short}, 1, "need at least 3"},
		{"too short to forecast", []string{"--trace", fewer}, 1, "too short to forecast"},
		{"report folder not writable", []string{"--out", "/proc/not-here"}, 2, "report folder /proc/not-here"},
		{"bad drift", []string{"--capacity-drift", "x"}, 2, "AT:FACTOR"},
		{"stray argument", []string{"extra.csv"}, 2, "unexpected arguments"},
		{"bad sampling", []string{"--sample-every", "0"}, 2, "sample-every 0"},
		{"unknown live type", []string{"--live-type", "zz9.huge"}, 2, "unknown instance type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"simulate", "--quiet", "--out", filepath.Join(dir, "r")}, tc.args...) // a later --out wins
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.wantCode || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.wantCode, tc.wantErr)
			}
		})
	}
}

// TestSimulateAsADryRun: an export with extra columns, in real units (no
// rescaling with --capacity), the forecaster's policy JSON and a scenario.
func TestSimulateAsADryRun(t *testing.T) {
	var b strings.Builder
	b.WriteString("\"Label\",\"Timestamp\",\"Average\",\"Unit\"\n")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 3 * 288; i > 0; i-- { // newest first, as CloudWatch exports can be
		fmt.Fprintf(&b, "\"req\",\"%s\",\"%.2f\",\"Count/Second\"\n", start.Add(time.Duration(i)*5*time.Minute).Format(time.RFC3339), wave(i))
	}
	path := writeFile(t, "export.csv", b.String())
	out := filepath.Join(t.TempDir(), "r")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"simulate", "--trace", path, "--out", out, "--capacity", "50", "--policy", `{"target_utilization": 0.8, "scale_in_window": "5m"}`,
		"--capacity-drift", "0.5:0.8", "--sample-every", "50"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"newest-first: sorted oldest-first", "demand in the trace's unit (not rescaled), an instance serving 50 a second"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, "index.html"))
	if !strings.Contains(string(page), "from 50% of the trace on, 0.80 x C") {
		t.Error("the report does not state the scenario")
	}
}

// TestSimulateInterrupted: a cancelled run stops, says so and still writes
// the report of what it did.
func TestSimulateInterrupted(t *testing.T) {
	path := writeTrace(t, "long.csv", 60*288, 5*time.Minute, wave)
	out := filepath.Join(t.TempDir(), "r")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	go func() {
		for !strings.Contains(stderr.String(), "simulating") { // started
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	code := run(ctx, []string{"simulate", "--trace", path, "--out", out}, &stdout, stderr)
	if code != 1 || !strings.Contains(stderr.String(), "interrupted") || !strings.Contains(stdout.String(), "interrupted:") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Fatalf("no report after the interruption: %v", err)
	}
}

func TestBundledTraceLoads(t *testing.T) {
	tr, err := loadSimTrace("", trace.Options{})
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

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
