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
)

// writeScalingTrace writes a 2-day 5-minute trace with a daily wave and bursts.
func writeScalingTrace(t *testing.T, dir, name string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	start := time.Date(2014, 4, 10, 0, 0, 0, 0, time.UTC)
	for i := range 2 * 288 {
		v := 50 + 40*math.Sin(2*math.Pi*float64(i)/288)
		if i%97 < 3 {
			v *= 2.5
		}
		fmt.Fprintf(&b, "%s,%.3f\n", start.Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05"), v)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var lineRE = regexp.MustCompile(`^([^\t]+)\t(reactive|predictive|shadow|oracle|shadow-blind)\toverload_min=\d+\trisk_min=\d+\tunserved_pct=\d+\.\d{3}\tlive_inst_h=\d+\.\d\tshadow_inst_h=\d+\.\d\tcost_usd=\d+\.\d{2}\tactions=\d+\tlead_min=(-?\d+\.\d|NaN)$`)

func TestBenchScaling(t *testing.T) {
	dir := t.TempDir()
	good := writeScalingTrace(t, dir, "wave.csv")
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("timestamp,value\n2014-04-10 00:00:00,1\n2014-04-10 00:05:00,abc\n2014-04-10 00:10:00,3\n"), 0o644)
	tests := []struct {
		name      string
		args      []string
		code      int
		lines     int    // output lines in the SCALING.md format
		wantErr   string // in stderr
		wantLines []string
	}{
		{name: "all five policies", args: []string{good}, code: 0, lines: 5, wantErr: "what the shadows add (shadow vs shadow-blind)", wantLines: []string{"wave.csv\treactive\t", "wave.csv\tpredictive\t", "wave.csv\tshadow\t", "wave.csv\toracle\t", "wave.csv\tshadow-blind\t"}},
		{name: "the signal's warnings", args: []string{"--policies", "shadow-blind", good}, code: 0, lines: 1, wantErr: "wave.csv\tsignal\toverloads="},
		{name: "capacity drift", args: []string{"--capacity-drift", "0.4:0.7", "--policies", "shadow,shadow-blind", good}, code: 0, lines: 2, wantErr: "what the shadows add"},
		{name: "unknown capacity", args: []string{"--unknown-capacity", "--policies", "shadow", good}, code: 0, lines: 1},
		{name: "bad drift", args: []string{"--capacity-drift", "0.4", good}, code: 2, wantErr: "AT:FACTOR"},
		{name: "a policy JSON", args: []string{"--policy", `{"target_utilization": 0.8}`, "--policies", "shadow", good}, code: 0, lines: 1},
		{name: "a bad policy JSON", args: []string{"--policy", `{"target_utilization": 7}`, good}, code: 2, wantErr: "policy"},
		{name: "some policies, totals on stdout", args: []string{"--policies", "shadow,reactive", "--totals", good}, code: 0, lines: 2, wantLines: []string{"TOTAL\treactive\toverload_min="}},
		{name: "a bad trace is reported, the good one still runs", args: []string{good, bad}, code: 1, lines: 5, wantErr: `line 3: value "abc" is not a number`},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.csv")}, code: 1, wantErr: "no such file"},
		{name: "no file", args: nil, code: 2, wantErr: "name at least one trace"},
		{name: "unknown policy", args: []string{"--policies", "psychic", good}, code: 2, wantErr: `unknown policy "psychic"`},
		{name: "bad fleet flag", args: []string{"--max", "0", good}, code: 2, wantErr: "max 0"},
		{name: "unknown live type", args: []string{"--live-type", "z9.huge", good}, code: 2, wantErr: "unknown instance type"},
		{name: "the smoother forecaster", args: []string{"--policies", "shadow", "--shadow-forecaster", "smoother", good}, code: 0, lines: 1},
		{name: "ablations", args: []string{"--policies", "shadow", "--shadow-trip", "2", "--shadow-calibrate=false", good}, code: 0, lines: 1},
		{name: "unknown forecaster", args: []string{"--shadow-forecaster", "tea-leaves", good}, code: 2, wantErr: "tea-leaves"},
		{name: "synthetic traces", args: []string{"--synthetic", "daily,spiky", "--synthetic-days", "2", "--synthetic-seeds", "1", "--policies", "reactive"}, code: 0, lines: 2, wantLines: []string{"synthetic_daily_1.csv\treactive", "synthetic_spiky_1.csv\treactive"}},
		{name: "reversed second half", args: []string{"--reverse", "--slice", "0.5:1", "--policies", "oracle", good}, code: 0, lines: 1},
		{name: "bad slice", args: []string{"--slice", "0.7:0.2", good}, code: 2, wantErr: "FROM:TO"},
		{name: "unknown synthetic kind", args: []string{"--synthetic", "sawtooth"}, code: 2, wantErr: `unknown synthetic kind "sawtooth"`},
		{name: "bad shadow flag", args: []string{"--shadow-quantile", "1.5", good}, code: 2, wantErr: "quantile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"bench", "scaling"}, tc.args...), &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errOut.String())
			}
			n := 0
			for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
				if l == "" {
					continue
				}
				if !lineRE.MatchString(l) {
					t.Fatalf("line %q does not follow SCALING.md's format", l)
				}
				if !strings.HasPrefix(l, "TOTAL\t") {
					n++
				}
			}
			if n != tc.lines {
				t.Fatalf("%d result lines, want %d:\n%s", n, tc.lines, out.String())
			}
			for _, w := range tc.wantLines {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tc.wantErr)
			}
		})
	}
}
