package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/sim/plan"
)

func runPlanCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"plan"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// planLines parses `plan`'s output: name -> value (quotes removed).
func planLines(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		i := strings.LastIndex(rest, " ")
		if i < 0 {
			t.Fatalf("line %q: want name value unit", line)
		}
		v := strings.TrimSpace(rest[:i])
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		m[name] = v
	}
	return m
}

// TestPlanCommand: the target (10,000 instances, a million
// mutations a second) prints every line, for both live types; the shadows
// under 12% of the live fleet; --json carries the same and every
// parameter; bad flags are refused with exit 2, every problem named.
func TestPlanCommand(t *testing.T) {
	for _, c := range []struct{ live, shadow string }{{"m7g.xlarge", "t4g.small"}, {"m5.xlarge", "t3a.small"}} {
		t.Run(c.live, func(t *testing.T) {
			code, out, errOut := runPlanCmd(t, "--instances", "10000", "--mutations-per-second", "1000000", "--live-type", c.live)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			m := planLines(t, out)
			for _, name := range []string{"stream.mode", "stream.shards", "stream.records_per_second", "fanout.concurrency", "fanout.lambda_gb_seconds_month",
				"dynamodb.writes_per_second", "dynamodb.reads_per_second", "dynamodb.hottest_partition_wcu", "dynamodb.hottest_partition_rcu",
				"shadow.instance_type", "shadow.fleet_usd_month", "shadow.ratio_to_live", "cost.kinesis_usd_month", "cost.lambda_usd_month",
				"cost.dynamodb_usd_month", "cost.cloudwatch_usd_month", "cost.s3_usd_month", "cost.sqs_usd_month", "cost.total_usd_month",
				"prices.date", "prices.source", "limit.first", "limit.first_raise"} {
				if m[name] == "" {
					t.Errorf("no line %s in\n%s", name, out)
				}
			}
			if m["shadow.instance_type"] != c.shadow {
				t.Errorf("shadow type %s, want %s", m["shadow.instance_type"], c.shadow)
			}
			ratio, _ := strconv.ParseFloat(m["shadow.ratio_to_live"], 64)
			wcu, _ := strconv.ParseFloat(m["dynamodb.hottest_partition_wcu"], 64)
			rcu, _ := strconv.ParseFloat(m["dynamodb.hottest_partition_rcu"], 64)
			if !(ratio > 0 && ratio <= 0.12) || !(wcu > 0 && wcu < 1000) || !(rcu > 0 && rcu < 3000) {
				t.Errorf("shadow ratio %v, hottest partition %v WCU/s and %v RCU/s", ratio, wcu, rcu)
			}
			if m["prices.date"] != plan.PriceDate || !strings.Contains(errOut, "note:") {
				t.Errorf("prices of %q; notes %q", m["prices.date"], errOut)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		code, out, errOut := runPlanCmd(t, "--instances", "10000", "--mutations-per-second", "1000000", "--set", "put_latency_ms=10", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc struct {
			Lines      []plan.Line            `json:"lines"`
			Parameters map[string]any         `json:"parameters"`
			Names      []string               `json:"parameter_names"`
			Sources    []plan.PriceSource     `json:"price_sources"`
			Limits     []plan.Limit           `json:"limits"`
			Calls      map[string]float64     `json:"calls_per_second"`
			Prices     map[string]interface{} `json:"prices"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if len(doc.Lines) < 30 || len(doc.Sources) == 0 || len(doc.Limits) == 0 || doc.Calls["kinesis.PutRecords"] <= 0 || doc.Prices["date"] != plan.PriceDate {
			t.Errorf("json: %d lines, %d sources, %d limits, calls %v, prices %v", len(doc.Lines), len(doc.Sources), len(doc.Limits), doc.Calls, doc.Prices)
		}
		if doc.Parameters["put_latency_ms"] != 10.0 || len(doc.Names) != len(doc.Parameters) {
			t.Errorf("parameters %v (names %d)", doc.Parameters, len(doc.Names))
		}
	})
	bad := []struct {
		name string
		args []string
		want []string
	}{
		{"no instances", []string{"--instances", "0"}, []string{"instances 0"}},
		{"groups over instances", []string{"--instances", "5", "--groups", "6"}, []string{"groups 6"}},
		{"negative rate", []string{"--mutations-per-second", "-3"}, []string{"mutations_per_second -3"}},
		{"huge mutation", []string{"--mutation-bytes", "2000000"}, []string{"mutation_bytes 2000000"}},
		{"unknown type", []string{"--live-type", "z9.huge"}, []string{`unknown instance type "z9.huge"`}},
		{"unknown parameter", []string{"--set", "warp=9"}, []string{`no parameter "warp"`}},
		{"set without a value", []string{"--set", "linger_ms"}, []string{"want NAME=VALUE"}},
		{"not a number", []string{"--set", "linger_ms=soon"}, []string{"linger_ms"}},
		{"stream mode", []string{"--stream-mode", "fast"}, []string{`stream_mode "fast"`}},
		{"a fraction", []string{"--shadow-cpu-fraction", "2"}, []string{"shadow_cpu_fraction 2"}},
		{"every problem at once", []string{"--instances", "0", "--set", "warp=9", "--stream-mode", "fast"}, []string{"instances 0", `no parameter "warp"`, "stream_mode"}},
		{"an argument", []string{"extra"}, []string{`unexpected argument "extra"`}},
		{"a bad flag", []string{"--frob"}, []string{"flag provided but not defined"}},
	}
	for _, c := range bad {
		t.Run("refused: "+c.name, func(t *testing.T) {
			code, out, errOut := runPlanCmd(t, c.args...)
			if code != exitUsage || out != "" {
				t.Fatalf("exit %d, stdout %q: want 2 and nothing", code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not name %q", errOut, w)
				}
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		code, out, _ := runPlanCmd(t, "-h")
		if code != 0 || !strings.Contains(out, "--set NAME=VALUE") || !strings.Contains(out, "-mutations-per-second") {
			t.Errorf("exit %d, help %q", code, out)
		}
	})
}

// TestPlanParametersDocumented: docs/OPERATIONS.md names every parameter
// of the plan and every line it prints.
func TestPlanParametersDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "OPERATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, n := range plan.Names() {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/OPERATIONS.md does not document the parameter `%s`", n)
		}
	}
	cat := mustCatalog(t)
	pl, err := plan.Compute(plan.Defaults(), cat, plan.DefaultPrices())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range pl.Lines() {
		if !strings.Contains(doc, "`"+l.Name+"`") && !strings.Contains(doc, l.Name+" ") {
			t.Errorf("docs/OPERATIONS.md does not name the line %s", l.Name)
		}
	}
}

func mustCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}
