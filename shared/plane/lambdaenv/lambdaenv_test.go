package lambdaenv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

func good() map[string]string {
	return map[string]string{
		"SHADOWSCALE_STACK":                   "prod",
		"SHADOWSCALE_TABLE":                   "prod-table",
		"SHADOWSCALE_GROUPS":                  " web, api ,,",
		"SHADOWSCALE_POOLS":                   `{"us-east-1a":{"subnets":["subnet-1"],"capacity":50}}`,
		"SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES": `{"arm64":"lt-0123","x86_64":"lt-0456"}`,
		"SHADOWSCALE_SHADOW_CPU_FRACTION":     "0.5",
		"SHADOWSCALE_AGENT_SECRET_ARN":        "arn:aws:secretsmanager:us-east-1:1:secret:k",
		"SHADOWSCALE_DLQ_URL":                 "https://sqs.us-east-1.amazonaws.com/1/dlq",
		"LOG_LEVEL":                           "debug",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestLoadGood(t *testing.T) {
	r, err := lambdaenv.LoadReconciler(lambdaenv.Map(good()))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stack != "prod" || strings.Join(r.Groups, "|") != "web|api" || r.Namespace != "ShadowScale" || r.LogLevel != slog.LevelDebug {
		t.Errorf("common: %+v", r.Common)
	}
	if r.Fractions.CPU != 0.5 || r.Fractions.Memory != 0.10 || r.LaunchTemplates["arm64"] != "lt-0123" || r.LaunchTemplates["x86_64"] != "lt-0456" || r.Fractions.ExcludeBurstable || r.ReplacementsPerHour != 20 || r.Pools["us-east-1a"].Capacity != 50 {
		t.Errorf("shadows: %+v", r.Shadows)
	}
	if r.Agent.Port != 8470 {
		t.Errorf("agent port default: %d", r.Agent.Port)
	}
	f, err := lambdaenv.LoadForecaster(lambdaenv.Map(with(good(), "SHADOWSCALE_POLICY", `{"max_step":3}`)))
	if err != nil || f.Mode != "forecast-only" || string(f.Policy) != `{"max_step":3}` {
		t.Errorf("forecaster: %+v, %v", f, err)
	}
	if fo, err := lambdaenv.LoadFanout(lambdaenv.Map(good())); err != nil || fo.AgentAddresses != nil || fo.DLQURL == "" || fo.UnknownGrace != 2*time.Minute {
		t.Errorf("fanout: %+v, %v", fo, err)
	}
	fo, err := lambdaenv.LoadFanout(lambdaenv.Map(with(good(), "SHADOWSCALE_AGENT_ADDRESSES", `{"i-0a":"127.0.0.1:9001","i-0b":"[::1]:9002"}`)))
	if err != nil || len(fo.AgentAddresses) != 2 || fo.AgentAddresses["i-0b"] != "[::1]:9002" {
		t.Errorf("fanout with agent addresses: %+v, %v", fo.AgentAddresses, err)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		load func(lambdaenv.Getenv) error
		env  map[string]string
		want []string
	}{
		{"launch with nothing", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadLaunch(g); return err }, map[string]string{},
			[]string{"SHADOWSCALE_STACK", "SHADOWSCALE_TABLE", "SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES is required", "SHADOWSCALE_POOLS"}},
		{"launch with the lifecycle's settings wrong", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadLaunch(g); return err },
			with(good(), "SHADOWSCALE_SHADOW_LAUNCH_TEMPLATE", "lt-1", "SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES", `{"arm64":"lt-1","sparc":"lt-2","x86_64":""}`,
				"SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE", "maybe", "SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR", "0"),
			[]string{"SHADOWSCALE_SHADOW_LAUNCH_TEMPLATE is replaced", `architecture "sparc"`, "x86_64 launch template id is empty", "SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE", "SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR=0"}},
		{"terminate with bad values", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadTerminate(g); return err },
			with(good(), "SHADOWSCALE_SHADOW_CPU_FRACTION", "lots", "SHADOWSCALE_SHADOW_MEMORY_FRACTION", "2", "SHADOWSCALE_POOLS", `{"us-east-1a":{"subnets":[],"capacity":0}}`, "LOG_LEVEL", "loud"),
			[]string{"SHADOWSCALE_SHADOW_CPU_FRACTION", "memory fraction 2", "no subnets", "capacity 0", "LOG_LEVEL"}},
		{"reconciler agent", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadReconciler(g); return err },
			with(good(), "SHADOWSCALE_AGENT_PORT", "70000", "SHADOWSCALE_AGENT_SECRET_ARN", ""),
			[]string{"SHADOWSCALE_AGENT_PORT=70000", "SHADOWSCALE_AGENT_SECRET_ARN is required"}},
		{"fanout without a queue", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadFanout(g); return err },
			with(good(), "SHADOWSCALE_DLQ_URL", ""), []string{"SHADOWSCALE_DLQ_URL"}},
		{"fanout agent addresses not an object", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadFanout(g); return err },
			with(good(), "SHADOWSCALE_AGENT_ADDRESSES", `["127.0.0.1:1"]`), []string{"SHADOWSCALE_AGENT_ADDRESSES is not a JSON object"}},
		{"fanout agent addresses without ports", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadFanout(g); return err },
			with(good(), "SHADOWSCALE_AGENT_ADDRESSES", `{"i-1":"127.0.0.1","i-2":"127.0.0.1:8470","":"h:1"}`), []string{`"i-1" -> "127.0.0.1"`, `"" -> "h:1"`}},
		{"forecaster", func(g lambdaenv.Getenv) error { _, err := lambdaenv.LoadForecaster(g); return err },
			with(good(), "SHADOWSCALE_MODE", "yolo", "SHADOWSCALE_POLICY", "[1]"), []string{"SHADOWSCALE_MODE", "SHADOWSCALE_POLICY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.load(lambdaenv.Map(tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoggerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := lambdaenv.NewLogger(&buf, slog.LevelInfo, "launch")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-42"})
	log.InfoContext(ctx, "shadow launched", "live", "i-1")
	log.With("k", "v").WarnContext(ctx, "second")
	log.DebugContext(ctx, "filtered")
	log.Info("outside an invocation")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", buf.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["function"] != "launch" || m["message"] == nil || m["timestamp"] == nil {
			t.Errorf("line %d lacks function/message/timestamp: %s", i, l)
		}
		if want := i < 2; (m["requestId"] == "req-42") != want {
			t.Errorf("line %d requestId = %v", i, m["requestId"])
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := lambdaenv.ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
}

func TestLoadShadowSettings(t *testing.T) {
	l, err := lambdaenv.LoadLaunch(lambdaenv.Map(with(good(), "SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE", "true", "SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR", "5",
		"SHADOWSCALE_LAUNCH_HOOK", "prod-shadow")))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Fractions.ExcludeBurstable || l.ReplacementsPerHour != 5 || l.LaunchHook != "prod-shadow" {
		t.Errorf("exclude burstable %v, replacements per hour %d: want true, 5", l.Fractions.ExcludeBurstable, l.ReplacementsPerHour)
	}
}

func TestLoadRouteTTL(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{"", lambdaenv.DefaultRouteTTL, false}, {"1s", time.Second, false}, {"120s", 2 * time.Minute, false}, {"10m", 10 * time.Minute, false},
		{"0s", 0, true}, {"500ms", 0, true}, {"11m", 0, true}, {"-5s", 0, true}, {"30", 0, true},
	} {
		f, err := lambdaenv.LoadFanout(lambdaenv.Map(with(good(), "SHADOWSCALE_ROUTE_TTL", tc.value)))
		if tc.bad != (err != nil) || (!tc.bad && f.RouteTTL != tc.want) {
			t.Errorf("%q: %v, %v", tc.value, f.RouteTTL, err)
		}
		if tc.bad && err != nil && !strings.Contains(err.Error(), "SHADOWSCALE_ROUTE_TTL") {
			t.Errorf("%q: the error does not name the variable: %v", tc.value, err)
		}
	}
}

func TestLoadUnknownGrace(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  time.Duration
		bad   bool
	}{
		{"0s", 0, false}, {"45s", 45 * time.Second, false}, {"16m", 0, true}, {"-1s", 0, true}, {"soon", 0, true},
	} {
		f, err := lambdaenv.LoadFanout(lambdaenv.Map(with(good(), "SHADOWSCALE_UNKNOWN_INSTANCE_GRACE", tc.value)))
		if tc.bad != (err != nil) || (!tc.bad && f.UnknownGrace != tc.want) {
			t.Errorf("%q: %v, %v", tc.value, f.UnknownGrace, err)
		}
	}
}
