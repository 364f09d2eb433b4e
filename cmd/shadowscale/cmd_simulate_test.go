package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/sim"
	"github.com/shadowscale/shadowscale/shared/sim/report"
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
	for _, f := range append([]string{"index.html"}, wantFigures...) {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, "index.html"))
	for _, f := range wantFigures {
		if !strings.Contains(string(page), `<img src="`+f+`"`) {
			t.Errorf("index.html does not show %s", f)
		}
	}
	// The results table carries the changes; the glossary explains the
	// fields in full (lead_min's text runs over two lines in -h).
	for _, want := range []string{"capacity changes, with its reasons", "in brackets, the change against reactive / shadow-blind",
		"<td>overload_min</td>", "<td>risk_min</td>", "<td>unserved_pct</td>", "<td>lead_min</td>", "negative: the order came late", "<td>(a / b)</td>"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if got := regexp.MustCompile(`<td class="num">[0-9.]+ \((?:—|(?:&#43;|−)?[0-9.]+%|n/a) / (?:—|(?:&#43;|−)?[0-9.]+%|n/a)\)</td>`).FindAllString(string(page), -1); len(got) != 3*5 {
		t.Errorf("%d result cells with their changes, want 15 (overload, risk and cost of five policies): %q", len(got), got)
	}
	// The burst chart tells the story in its panels and legend.
	burst, _ := os.ReadFile(filepath.Join(out, "burst.svg"))
	for _, want := range []string{">requests/s<", ">mutations/min<", ">backlog<", ">delta<", ">demand<", ">reactive<", ">predictive<", ">shadow<", ">oracle<", ">shadow-blind<",
		">overloaded (shadow policy)<", ">shadows behind<", ">signal tripped<", ">trip at "} {
		if !strings.Contains(string(burst), want) {
			t.Errorf("burst.svg lacks %q", want)
		}
	}
}

// wantFigures are the charts of a report of a full run.
var wantFigures = []string{"burst.svg", "capacity-reactive.svg", "capacity-predictive.svg", "capacity-shadow.svg", "capacity-oracle.svg", "capacity-shadow-blind.svg",
	"capacity-busiest-day.svg", "shadow-rates.svg", "delta.svg", "shadows.svg", "forecast.svg", "forecast-busiest-day.svg", "capacity-estimate.svg"}

// TestGlossary: the fields the table shows are explained in -h and on the
// page, each in full.
func TestGlossary(t *testing.T) {
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"simulate", "-h"}, &stdout, &stderr)
	help := stdout.String() + stderr.String()
	rows := map[string]string{}
	for _, r := range glossaryTable().Rows {
		rows[r[0]] = r[1]
	}
	for _, field := range []string{"overload_min", "risk_min", "unserved_pct", "live_inst_h", "cost_usd", "actions", "lead_min"} {
		if !strings.Contains(help, "  "+field+" ") {
			t.Errorf("-h does not explain %s", field)
		}
		if rows[field] == "" {
			t.Errorf("the page's glossary does not explain %s", field)
		}
	}
	if !strings.HasSuffix(rows["lead_min"], "negative: the order came late") {
		t.Errorf("lead_min's text is cut: %q", rows["lead_min"])
	}
	for _, h := range resultHeader[1:] {
		found := false
		for name, text := range rows {
			found = found || name == h || strings.Contains(text, h)
		}
		if !found {
			t.Errorf("result field %s is not in the glossary", h)
		}
	}
}

// TestResultTableChanges: each policy's overload, risk and cost carry the
// change against reactive and against shadow-blind.
func TestResultTableChanges(t *testing.T) {
	rec := sim.Recording{Results: []sim.Result{
		{Policy: "reactive", OverloadMin: 200, RiskMin: 100, CostUSD: 10, LeadMin: math.NaN()},
		{Policy: "shadow", OverloadMin: 10, RiskMin: 156, CostUSD: 15.6, LeadMin: 1},
		{Policy: "oracle", OverloadMin: 0, RiskMin: 0, CostUSD: 10, LeadMin: 3},
		{Policy: "shadow-blind", OverloadMin: 0, RiskMin: 100, CostUSD: 12, LeadMin: 1},
	}, Series: make([]sim.Series, 4)}
	tab := resultTable(rec)
	col := func(name string) int {
		for i, h := range tab.Header {
			if h == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	tests := []struct {
		row                  int
		overload, risk, cost string
	}{
		{0, "200 (— / n/a)", "100 (— / 0%)", "10.00 (— / −17%)"},
		{1, "10 (−95% / n/a)", "156 (+56% / +56%)", "15.60 (+56% / +30%)"},
		{2, "0 (−100% / 0%)", "0 (−100% / −100%)", "10.00 (0% / −17%)"},
		{3, "0 (−100% / —)", "100 (0% / —)", "12.00 (+20% / —)"},
	}
	for _, tc := range tests {
		r := tab.Rows[tc.row]
		t.Run(r[0], func(t *testing.T) {
			if got := [3]string{r[col("overload_min")], r[col("risk_min")], r[col("cost_usd")]}; got != [3]string{tc.overload, tc.risk, tc.cost} {
				t.Errorf("got %q, want %q", got, [3]string{tc.overload, tc.risk, tc.cost})
			}
		})
	}
	// Without shadow-blind (a stopped run), only the change against reactive.
	rec.Results, rec.Series = rec.Results[:2], rec.Series[:2]
	if got := resultTable(rec).Rows[1][col("overload_min")]; got != "10 (−95%)" {
		t.Errorf("without shadow-blind: %q, want 10 (−95%%)", got)
	}
}

// TestForecastBandNotBelowZero: the demand is never negative, nor is its
// drawn forecast.
func TestForecastBandNotBelowZero(t *testing.T) {
	sh := &sim.ShadowTrace{
		P10:    []float64{-50, 10, math.NaN(), -1},
		P90:    []float64{40, 90, math.NaN(), 5},
		Mean:   []float64{-5, 50, math.NaN(), 2},
		Upper:  []float64{60, 120, math.NaN(), 8},
		Actual: []float64{0, 55, 3, 1},
	}
	d := sim.Demand{Values: make([]float64, 4), Tick: time.Minute, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := forecastChart("f", sh, d, 0, 4)
	for _, b := range c.Bands {
		for i, v := range b.Lo {
			if v < 0 || b.Hi[i] < 0 {
				t.Errorf("band %s at %d: %v..%v below zero", b.Name, i, v, b.Hi[i])
			}
		}
		if !math.IsNaN(b.Lo[2]) {
			t.Errorf("a missing forecast became %v, want a gap", b.Lo[2])
		}
	}
	for _, s := range c.Series {
		for i, v := range s.Y {
			if v < 0 {
				t.Errorf("series %s at %d: %v below zero", s.Name, i, v)
			}
		}
	}
	if c.Bands[0].Lo[1] != 10 || c.Series[1].Y[1] != 50 {
		t.Error("values above zero changed")
	}
}

// TestOverloadSpans: the shaded minutes are the minutes overload_min
// counts.
func TestOverloadSpans(t *testing.T) {
	cfg := sim.DefaultConfig()
	d := sim.Demand{Values: []float64{50, 150, 250, 90, 310, 320, 100}, Tick: 5 * time.Minute}
	s := sim.Series{InService: []int32{1, 1, 2, 1, 3, 3, 1}} // C = 100
	got := overloadSpans(cfg, d, s, 0, d.Len())
	want := []report.Span{{From: 5, To: 15}, {From: 20, To: 30}}
	if !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v", got, want)
	}
	if got := overloadSpans(cfg, d, s, 2, 5); !slices.Equal(got, []report.Span{{From: 10, To: 15}, {From: 20, To: 25}}) {
		t.Errorf("spans of ticks 2..4: %v", got)
	}
	cfg.Drift = []sim.Drift{{At: 0.5, Factor: 2}} // from tick 3.5 on an instance serves 200
	if got := overloadSpans(cfg, d, s, 0, d.Len()); !slices.Equal(got, []report.Span{{From: 5, To: 15}}) {
		t.Errorf("with drift: %v", got)
	}
}

// TestSharpestRise: the busiest burst is the steepest climb, not the
// highest but slow peak.
func TestSharpestRise(t *testing.T) {
	d := sim.Demand{Tick: 5 * time.Minute}
	for i := range 200 {
		d.Values = append(d.Values, 500+400*math.Sin(2*math.Pi*float64(i)/200)) // a slow peak of 900 at 50
	}
	d.Values[150], d.Values[151] = 700, 750 // from about 100: a burst of +650
	top, from := sharpestRise(d, d.Len())
	if top != 151 || from > 110 {
		t.Errorf("burst at tick %d from %.0f, want tick 151 from about 100", top, from)
	}
	if top, _ := sharpestRise(d, 100); top == 151 {
		t.Error("a rise past the ticks run was chosen")
	}
}

// TestDrawOrder: the charts of every policy draw each policy once.
func TestDrawOrder(t *testing.T) {
	a, b := slices.Clone(drawOrder), slices.Clone(sim.PolicyNames)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Fatalf("drawOrder %v is not a permutation of sim.PolicyNames %v", drawOrder, sim.PolicyNames)
	}
	for _, p := range sim.PolicyNames {
		if policyColors[p] == "" {
			t.Errorf("policy %s has no colour", p)
		}
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

// TestMain runs the real main when the test binary is re-executed as the
// CLI (TestSimulateSIGTERM), and the tests otherwise.
func TestMain(m *testing.M) {
	if os.Getenv("SHADOWSCALE_TEST_AS_CLI") == "1" {
		os.Args = append([]string{"shadowscale"}, strings.Fields(os.Getenv("SHADOWSCALE_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// TestSimulateSIGTERM: the CLI process, sent SIGTERM mid-simulation,
// stops, says it was interrupted, exits 1 and keeps the report of what it
// simulated (main's signal handling, not only a cancelled context).
func TestSimulateSIGTERM(t *testing.T) {
	path := writeTrace(t, "long.csv", 60*288, 5*time.Minute, wave)
	out := filepath.Join(t.TempDir(), "r")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHADOWSCALE_TEST_AS_CLI=1", "SHADOWSCALE_TEST_ARGS=simulate --trace "+path+" --out "+out)
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	started := time.After(time.Minute)
	for !strings.Contains(stderr.String(), "simulating") {
		select {
		case err := <-done:
			t.Fatalf("the CLI ended before simulating: %v\n%s", err, stderr.String())
		case <-started:
			_ = cmd.Process.Kill()
			t.Fatalf("the CLI did not start simulating:\n%s", stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit %v, want 1\n%s\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(time.Minute): // a hang guard, not a speed target
		_ = cmd.Process.Kill()
		t.Fatalf("the CLI did not stop on SIGTERM:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
		t.Errorf("no report after SIGTERM: %v", err)
	}
}
