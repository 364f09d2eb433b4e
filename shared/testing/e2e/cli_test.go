//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// cliBinary builds cmd/shadowscale once per test process, into .cache/e2e
// of the repository.
func cliBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			cliErr = err
			return
		}
		dir := filepath.Join(root, ".cache", "e2e")
		if cliErr = os.MkdirAll(dir, 0o755); cliErr == nil {
			cliBin, cliErr = harness.BuildCLI(context.Background(), dir)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// cliResult is one run of the CLI process.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the shadowscale binary with args against endpoint, with the
// test credentials and extra in its environment.
func cli(t *testing.T, endpoint string, extra map[string]string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), args...)
	cmd.Env = harness.CLIEnv(endpoint, extra)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running shadowscale %v: %v", args, err)
	}
	return r
}

// want checks the exit code and that each of the strings is in stdout.
func (r cliResult) want(t *testing.T, code int, stdout ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

// wantErr checks a failure: its exit code, nothing on stdout, and each
// string in the message on stderr.
func (r cliResult) wantErr(t *testing.T, code int, stderr ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("a failure printed on stdout:\n%s", r.stdout)
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

func (r cliResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("stdout is not the JSON expected: %v\n%s", err, r.stdout)
	}
}

// writeHours writes, as the fanout would, the last n minutes of a group
// of live instances: 900 mutations a minute climbing to 2,400 over the
// last 20, the shadows keeping up except lagging's, which ends 7
// mutations behind its live with 3 in its backlog.
func writeHours(t *testing.T, table *awssdk.Table, group string, lives []string, n int, lagging string) time.Time {
	t.Helper()
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	counts := map[mutation.CountKey]mutation.Count{}
	applied := map[string]uint64{}
	for i := n - 1; i >= 0; i-- {
		m := end.Add(-time.Duration(i) * time.Minute)
		d := 900.0
		if i < 20 {
			d = 900 + 1500*float64(20-i)/20
		}
		per := int(d) / len(lives)
		for _, l := range lives {
			applied[l] += uint64(per)
			counts[mutation.CountKey{Group: group, Resource: l, Target: mutation.Live, Minute: m}] = mutation.Count{Accepted: per, Applied: applied[l]}
			sc := mutation.Count{Accepted: per, Applied: applied[l]}
			if l == lagging {
				sc = mutation.Count{Accepted: per - 1, Applied: applied[l] - 7, Backlog: 3}
			}
			counts[mutation.CountKey{Group: group, Resource: l, Target: mutation.Shadow, Minute: m}] = sc
		}
	}
	if err := table.History().Add(context.Background(), counts); err != nil {
		t.Fatal(err)
	}
	return end
}

func groupTag(t *testing.T, group, key string) (string, int) {
	t.Helper()
	out, err := env.ASG.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describing %s: %v", group, err)
	}
	g := out.AutoScalingGroups[0]
	for _, tg := range g.Tags {
		if aws.ToString(tg.Key) == key {
			return aws.ToString(tg.Value), int(aws.ToInt32(g.DesiredCapacity))
		}
	}
	return "", int(aws.ToInt32(g.DesiredCapacity))
}

// lifecycleHooks lists a group's lifecycle hooks as "name transition
// heartbeat default-result".
func lifecycleHooks(t *testing.T, group string) []string {
	t.Helper()
	out, err := env.ASG.DescribeLifecycleHooks(context.Background(), &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("describing the lifecycle hooks of %s: %v", group, err)
	}
	var hooks []string
	for _, h := range out.LifecycleHooks {
		hooks = append(hooks, fmt.Sprintf("%s %s %d %s", aws.ToString(h.LifecycleHookName), aws.ToString(h.LifecycleTransition), aws.ToInt32(h.HeartbeatTimeout), aws.ToString(h.DefaultResult)))
	}
	return hooks
}

// TestOperatorCLI drives the shadowscale binary, as an operator runs it,
// against moto: a world whose plane ran (shadows launched, four hours of
// history, the forecaster in forecast-only mode, older decisions audited)
// and a CloudFormation stack standing in for the deployed one (its outputs
// and its forecaster function's environment). The CLI reaches moto
// through the world's scope, so `groups` lists this world's groups only.
// One subtest per command: version/help, groups, status, forecast --group,
// decisions, enroll, mode; and the missing stack, table and group, each
// with its exit code.
func TestOperatorCLI(t *testing.T) {
	ctx := context.Background()
	p := newPlane(t, harness.WorldOptions{Desired: 2})
	w := p.w
	lives := p.lives(t, 2)
	p.launchAll(t, lives)
	hook := w.Name("shadow-hook")
	if _, err := env.DeployStack(ctx, w, map[string]string{
		lambdaenv.EnvStack: w.Stack, lambdaenv.EnvTable: w.Table, lambdaenv.EnvMode: asg.ModeForecastOnly, lambdaenv.EnvPolicy: forecastPolicy,
	}, map[string]string{"LaunchLifecycleHookName": hook, "AutoScalingEventGroups": "*"}); err != nil {
		t.Fatal(err)
	}
	end := writeHours(t, p.table, w.Group, lives, 240, lives[1])
	h, _, _ := forecaster(t, w, map[string]string{lambdaenv.EnvPolicy: forecastPolicy})
	resp, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].Error != "" || resp.Groups[0].Minutes < 200 {
		t.Fatalf("the forecaster: %+v, %v", resp, err)
	}
	decided := resp.Groups[0]
	now := time.Now().UTC()
	for _, d := range []struct {
		ago    time.Duration
		id     string
		reason string
	}{{5 * time.Hour, "e2e-older", "older: demand within capacity"}, {9 * time.Hour, "e2e-oldest", "oldest: demand within capacity"}} {
		body := `{"mode":"forecast-only","action":"none","from":2,"to":2,"reason":"` + d.reason + `","acted":false,"outcome":"no change needed"}`
		if err := p.table.Audit().Put(ctx, control.AuditRecord{Group: w.Group, At: now.Add(-d.ago), ID: d.id, Action: "none", Mode: asg.ModeForecastOnly, Body: json.RawMessage(body)}); err != nil {
			t.Fatal(err)
		}
	}
	policy, action := w.Name("cpu-target"), w.Name("nightly")
	if _, err := env.ASG.PutScalingPolicy(ctx, &autoscaling.PutScalingPolicyInput{
		AutoScalingGroupName: aws.String(w.Group), PolicyName: aws.String(policy), PolicyType: aws.String("TargetTrackingScaling"),
		TargetTrackingConfiguration: &asgtypes.TargetTrackingConfiguration{TargetValue: aws.Float64(50),
			PredefinedMetricSpecification: &asgtypes.PredefinedMetricSpecification{PredefinedMetricType: asgtypes.MetricTypeASGAverageCPUUtilization}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ASG.PutScheduledUpdateGroupAction(ctx, &autoscaling.PutScheduledUpdateGroupActionInput{
		AutoScalingGroupName: aws.String(w.Group), ScheduledActionName: aws.String(action), Recurrence: aws.String("0 22 * * *"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	// addGroup creates a group of the world's template in its first AZ,
	// in the world's scope, and returns its name.
	addGroup := func(t *testing.T, base string, max, desired int32) string {
		t.Helper()
		name := w.Name(base)
		w.ScopeGroups(name)
		if _, err := env.ASG.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(0), MaxSize: aws.Int32(max), DesiredCapacity: aws.Int32(desired),
			LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.LiveTemplate), Version: aws.String("$Latest")},
			VPCZoneIdentifier: aws.String(w.LiveSubnets[harness.AZs[0]]),
		}); err != nil {
			t.Fatal(err)
		}
		return name
	}
	second := addGroup(t, "batch", 2, 1)
	ep := w.Endpoint
	stack := "--stack=" + w.Stack
	run := func(t *testing.T, args ...string) cliResult { t.Helper(); return cli(t, ep, nil, args...) }

	t.Run("version and help", func(t *testing.T) {
		run(t, "version").want(t, 0, "shadowscale ")
		var v struct{ Version, Go, Platform string }
		r := run(t, "version", "--json")
		r.want(t, 0)
		if r.json(t, &v); v.Version == "" || !strings.HasPrefix(v.Go, "go") || v.Platform == "" {
			t.Errorf("version --json: %+v", v)
		}
		run(t, "help").want(t, 0, "groups", "status", "forecast --group", "decisions", "enroll", "mode", "version")
		for _, args := range [][]string{{"groups", "-h"}, {"help", "status"}, {"decisions", "--help"}, {"mode", "-h"}} {
			r := run(t, args...)
			r.want(t, 0)
			if !strings.Contains(r.stdout, "Usage: shadowscale") || r.stderr != "" {
				t.Errorf("%v: help on stdout %q, stderr %q", args, r.stdout, r.stderr)
			}
		}
		run(t, "forecast", "-h").want(t, 0, "--trace", "--group")
		run(t, "status").wantErr(t, 2, "--group G is required")
		run(t, "mode", "--group", w.Group, "sometimes").wantErr(t, 2, `the mode "sometimes"`)
		run(t, "frobnicate").wantErr(t, 2, "unknown command")
	})

	t.Run("groups", func(t *testing.T) {
		run(t, "groups", stack).want(t, 0, w.Group, "forecast-only (stack)", "600/min (policy)", decided.Action, "(not acted)")
		var out struct {
			Stack, Table string
			Settings     struct {
				Mode        string
				PerInstance float64 `json:"per_instance"`
				Source      string
			}
			Groups []struct {
				Name       string
				EnrolledBy []string `json:"enrolled_by"`
				Mode       string
				InService  int `json:"in_service"`
				Capacity   struct {
					PerInstance float64 `json:"per_instance"`
					Source      string
				}
				Last *struct {
					Action string
					From   int
					To     int
					Acted  bool
				} `json:"last_decision"`
			}
		}
		r := run(t, "groups", stack, "--json")
		r.want(t, 0)
		r.json(t, &out)
		if out.Stack != w.Stack || out.Table != w.Table || out.Settings.Mode != asg.ModeForecastOnly || out.Settings.PerInstance != 600 || !strings.Contains(out.Settings.Source, "forecaster function") {
			t.Errorf("the plane: %+v", out)
		}
		if len(out.Groups) != 1 {
			t.Fatalf("groups %+v, want this world's one enrolled group", out.Groups)
		}
		g := out.Groups[0]
		if g.Name != w.Group || strings.Join(g.EnrolledBy, ",") != "tag" || g.Mode != asg.ModeForecastOnly || g.InService != 2 || g.Capacity.PerInstance != 600 || g.Capacity.Source != "policy" {
			t.Errorf("group %+v", g)
		}
		if g.Last == nil || g.Last.Action != decided.Action || g.Last.From != decided.From || g.Last.To != decided.Decided || g.Last.Acted {
			t.Errorf("last decision %+v, the forecaster decided %+v", g.Last, decided)
		}
	})

	t.Run("status", func(t *testing.T) {
		var out struct {
			Group    string
			Enrolled bool
			Lives    []struct {
				ID     string
				Shadow *struct {
					ID    string
					State string
				}
				Record *struct {
					Status   string
					ShadowID string `json:"shadow_id"`
				}
				Lag *struct {
					Behind        int64
					ShadowBacklog uint64 `json:"shadow_backlog"`
					Minute        time.Time
				}
				ShadowHealth string `json:"shadow_health"`
			}
			Orphans []any `json:"orphan_shadows"`
			Signal  *struct {
				Delta *float64
			}
		}
		r := run(t, "status", stack, "--group", w.Group, "--json")
		r.want(t, 0)
		r.json(t, &out)
		if out.Group != w.Group || !out.Enrolled || len(out.Lives) != 2 || len(out.Orphans) != 0 || out.Signal == nil {
			t.Fatalf("status %+v", out)
		}
		for _, l := range out.Lives {
			rec, ok := p.record(t, l.ID)
			switch {
			case !ok || l.Shadow == nil || l.Record == nil:
				t.Errorf("live %s: shadow %+v record %+v", l.ID, l.Shadow, l.Record)
			case l.Shadow.ID != rec.ShadowID || l.Record.ShadowID != rec.ShadowID || l.Record.Status != string(shadow.Active) || l.ShadowHealth != "ok":
				t.Errorf("live %s: shadow %+v, record %+v, health %q; the table says %+v", l.ID, l.Shadow, l.Record, l.ShadowHealth, rec)
			case l.Lag == nil || !l.Lag.Minute.Equal(end):
				t.Errorf("live %s: lag %+v, want the minute %v", l.ID, l.Lag, end)
			case l.ID == lives[1] && (l.Lag.Behind != 7 || l.Lag.ShadowBacklog != 3):
				t.Errorf("the lagging live %s: %+v, want 7 behind, 3 in the backlog", l.ID, l.Lag)
			case l.ID == lives[0] && (l.Lag.Behind != 0 || l.Lag.ShadowBacklog != 0):
				t.Errorf("live %s: %+v, want its shadow level with it", l.ID, l.Lag)
			}
		}
		rec0, _ := p.record(t, lives[0])
		run(t, "status", stack, "--group", w.Group).want(t, 0, "SHADOW HEALTH", lives[0], lives[1], rec0.ShadowID, "signal at the last decision", "last decision")
	})

	t.Run("forecast --group", func(t *testing.T) {
		var out struct {
			State struct {
				Version int64
				Last    time.Time `json:"last_minute"`
				Steps   int64
			}
			HistoryMinutes int `json:"history_minutes"`
			Model, Why     string
			Points         []struct {
				At             time.Time
				P10, Mean, P90 float64
			}
			NeedP90 int `json:"need_at_p90"`
		}
		// The forecaster's last minute: the history's end, or the minute
		// after when a minute turned between the write and the run (a
		// minute without a count is one without demand, to the forecaster
		// and to the CLI alike).
		st, err := p.table.States().Load(ctx, w.Group)
		if err != nil {
			t.Fatal(err)
		}
		saved, err := handlers.DecodeSavedForecast(st.Blob)
		if err != nil {
			t.Fatal(err)
		}
		last, first := saved.Last, end.Add(-239*time.Minute)
		r := run(t, "forecast", stack, "--group", w.Group, "--json")
		r.want(t, 0)
		r.json(t, &out)
		if out.State.Version != 1 || !out.State.Last.Equal(last) || out.State.Steps < 200 || out.HistoryMinutes != int(last.Sub(first)/time.Minute)+1 || out.Model == "" || !strings.Contains(out.Why, "backtest") {
			t.Errorf("forecast: state %+v, %d minutes of history, model %q, why %q; want the state's last minute %v, history from %v", out.State, out.HistoryMinutes, out.Model, out.Why, last, first)
		}
		if len(out.Points) != 60 {
			t.Fatalf("%d points, want the next hour's 60", len(out.Points))
		}
		for k, pt := range out.Points {
			if !pt.At.Equal(last.Add(time.Duration(k+1)*time.Minute)) || pt.P10 > pt.Mean || pt.Mean > pt.P90 {
				t.Errorf("point %d: %+v", k, pt)
			}
		}
		if out.NeedP90 < 1 {
			t.Errorf("need at P90 %d", out.NeedP90)
		}
		r = run(t, "forecast", stack, "--group", w.Group)
		r.want(t, 0, "model    "+out.Model, "why", "P10", "P90")
		if rows := regexp.MustCompile(`(?m)^\s*\d\d:\d\d\s`).FindAllString(r.stdout, -1); len(rows) != 12 {
			t.Errorf("%d rows, want one every 5 minutes:\n%s", len(rows), r.stdout)
		}
		run(t, "forecast", stack, "--group", w.Group, "--every", "90m").wantErr(t, 2, "--every")
	})

	t.Run("decisions", func(t *testing.T) {
		type decisions struct {
			Group     string
			Decisions []struct {
				At     time.Time
				ID     string
				Action string
				Body   json.RawMessage
			}
		}
		// The audit trail as the table holds it: the forecaster's
		// decisions of its run, and the older one (5 hours ago).
		audit, err := p.table.Audit().List(ctx, w.Group, time.Now().Add(-6*time.Hour), time.Now().Add(time.Minute), 0)
		if err != nil || len(audit) < 2 {
			t.Fatalf("the audit of the last 6 hours: %d records, %v", len(audit), err)
		}
		var out decisions
		r := run(t, "decisions", stack, "--group", w.Group, "--json")
		r.want(t, 0)
		r.json(t, &out)
		if len(out.Decisions) != len(audit) {
			t.Fatalf("%d decisions in the last 6 hours, the table holds %d", len(out.Decisions), len(audit))
		}
		for i, d := range out.Decisions {
			if d.ID != audit[i].ID || !d.At.Equal(audit[i].At) || d.Action != audit[i].Action || string(d.Body) != string(audit[i].Body) && !json.Valid(d.Body) {
				t.Errorf("decision %d: %s %s %s, the table's: %s %s %s", i, d.At, d.ID, d.Action, audit[i].At, audit[i].ID, audit[i].Action)
			}
		}
		if out.Decisions[0].Action != decided.Action || out.Decisions[len(out.Decisions)-1].ID != "e2e-older" || !strings.Contains(string(out.Decisions[0].Body), `"reason"`) {
			t.Errorf("newest %s %s, oldest %s: want the forecaster's last and e2e-older", out.Decisions[0].ID, out.Decisions[0].Action, out.Decisions[len(out.Decisions)-1].ID)
		}
		r = run(t, "decisions", stack, "--group", w.Group, "--since", "12h")
		r.want(t, 0, "REASON", "older: demand within capacity", "oldest: demand within capacity", decided.Reason)
		if n := strings.Count(r.stdout, "\n"); n != len(audit)+2 {
			t.Errorf("%d lines over 12 hours, want a header and %d decisions", n, len(audit)+1)
		}
		out = decisions{}
		r = run(t, "decisions", stack, "--group", w.Group, "--limit", "1", "--json")
		r.want(t, 0)
		if r.json(t, &out); len(out.Decisions) != 1 || out.Decisions[0].ID != audit[0].ID {
			t.Errorf("--limit 1: %d decisions, want the newest", len(out.Decisions))
		}
	})

	t.Run("missing stack, table or group", func(t *testing.T) {
		run(t, "groups", "--stack", w.Name("nope")).wantErr(t, 3, "not deployed", w.Name("nope"))
		run(t, "status", "--stack", w.Name("nope"), "--group", w.Group).wantErr(t, 3, "not deployed")
		run(t, "groups", "--table", w.Name("nope-table")).wantErr(t, 3, "table", "is not there")
		// Explicit configuration instead of the stack: the table, and the
		// plane's policy from the environment.
		r := cli(t, ep, map[string]string{"SHADOWSCALE_TABLE": w.Table, "SHADOWSCALE_POLICY": forecastPolicy, "SHADOWSCALE_STACK": w.Stack}, "groups")
		r.want(t, 0, w.Group, "600/min (policy)", "environment")
		nope := w.Name("nope")
		for _, args := range [][]string{
			{"status", "--group", nope}, {"forecast", "--group", nope}, {"decisions", "--group", nope},
			{"enroll", "--group", nope}, {"mode", "--group", nope, "forecast-only"},
		} {
			run(t, append([]string{args[0], stack}, args[1:]...)...).wantErr(t, 4, nope)
		}
		run(t, "forecast", stack, "--group", second).wantErr(t, 4, "not enrolled")
		run(t, "mode", stack, "--group", second, "act", "--yes").wantErr(t, 4, "not enrolled by its tag")
		if v, _ := groupTag(t, second, shadow.TagMode); v != "" {
			t.Errorf("a refused mode change tagged %s %s=%s", second, shadow.TagMode, v)
		}
	})

	t.Run("enroll", func(t *testing.T) {
		// The stack has a launch hook: enroll puts it on the group.
		run(t, "enroll", stack, "--group", second).want(t, 0, "enrolled", "capacity is untouched", "shadow", "Launch lifecycle hook "+hook+" put", "default result CONTINUE")
		if v, desired := groupTag(t, second, shadow.TagEnrolled); v != "true" || desired != 1 {
			t.Errorf("%s after enroll: tag %q, desired %d; want true and 1", second, v, desired)
		}
		if got := lifecycleHooks(t, second); len(got) != 1 || got[0] != hook+" autoscaling:EC2_INSTANCE_LAUNCHING 120 CONTINUE" {
			t.Errorf("%s's lifecycle hooks after enroll: %v, want %s on launch, 120 s, CONTINUE", second, got, hook)
		}
		var out struct {
			Changed    bool
			LaunchHook struct {
				Name string
				Put  bool
			} `json:"launch_hook"`
		}
		r := run(t, "enroll", stack, "--group", second, "--json")
		r.want(t, 0)
		if r.json(t, &out); out.Changed || out.LaunchHook.Name != hook || out.LaunchHook.Put {
			t.Errorf("enrolling an enrolled group with its hook: %+v, want nothing changed", out)
		}
		// An operator's own hook of that name is never changed: a default
		// result of ABANDON is warned about and left.
		if _, err := env.ASG.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
			AutoScalingGroupName: aws.String(w.Group), LifecycleHookName: aws.String(hook),
			LifecycleTransition: aws.String("autoscaling:EC2_INSTANCE_LAUNCHING"), HeartbeatTimeout: aws.Int32(300), DefaultResult: aws.String("ABANDON"),
		}); err != nil {
			t.Fatal(err)
		}
		r = run(t, "enroll", stack, "--group", w.Group)
		r.want(t, 0, "nothing changed")
		if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, `default result is "ABANDON"`) {
			t.Errorf("an ABANDON hook was not warned about: %s", r.stderr)
		}
		if got := lifecycleHooks(t, w.Group); len(got) != 1 || got[0] != hook+" autoscaling:EC2_INSTANCE_LAUNCHING 300 ABANDON" {
			t.Errorf("the operator's hook was changed: %v", got)
		}
		// Without a hook in the stack (the CLI's SHADOWSCALE_LAUNCH_HOOK
		// set empty overrides the output), enroll puts none.
		third := addGroup(t, "cron", 1, 0)
		cli(t, ep, map[string]string{lambdaenv.EnvLaunchHook: ""}, "enroll", stack, "--group", third).want(t, 0, "enrolled")
		if got := lifecycleHooks(t, third); len(got) != 0 {
			t.Errorf("a hook was put without one configured: %v", got)
		}
		if _, err := env.ASG.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(third), ForceDelete: aws.Bool(true)}); err != nil {
			t.Error(err)
		}
		var gs struct{ Groups []struct{ Name string } }
		r = run(t, "groups", stack, "--json")
		r.want(t, 0)
		if r.json(t, &gs); len(gs.Groups) != 2 {
			t.Errorf("groups after enroll: %+v", gs.Groups)
		}
	})

	t.Run("mode", func(t *testing.T) {
		r := run(t, "mode", stack, "--group", w.Group, "act")
		if r.code != 5 || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("act without --yes: exit %d, stderr %s", r.code, r.stderr)
		}
		for _, s := range []string{"desired 2, min 0, max 4", policy, "TargetTrackingScaling", "keeps ASGAverageCPUUtilization at 50", action, "0 22 * * *", decided.Action, decided.Reason, "Nothing changed", "--yes"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("the act plan lacks %q:\n%s", s, r.stdout)
			}
		}
		if v, desired := groupTag(t, w.Group, shadow.TagMode); v != "" || desired != 2 {
			t.Fatalf("unconfirmed: tag %q, desired %d; want no tag, 2", v, desired)
		}
		var plan struct {
			NeedsYes bool `json:"needs_confirmation"`
			Changed  bool
			Act      struct {
				Policies  []awssdk.ScalingPolicy   `json:"scaling_policies"`
				Scheduled []awssdk.ScheduledAction `json:"scheduled_actions"`
				Decisions []json.RawMessage        `json:"last_decisions"`
			}
		}
		r = run(t, "mode", stack, "--group", w.Group, "act", "--json")
		if r.code != 5 {
			t.Fatalf("act --json without --yes: exit %d", r.code)
		}
		r.json(t, &plan)
		if !plan.NeedsYes || plan.Changed || len(plan.Act.Policies) != 1 || plan.Act.Policies[0].Name != policy || len(plan.Act.Scheduled) != 1 || len(plan.Act.Decisions) != 10 {
			t.Errorf("the act plan: needs yes %v, changed %v, policies %+v, scheduled %d, decisions %d (want the newest 10)", plan.NeedsYes, plan.Changed, plan.Act.Policies, len(plan.Act.Scheduled), len(plan.Act.Decisions))
		}
		run(t, "mode", stack, "--group", w.Group, "act", "--yes").want(t, 0, "mode act")
		if v, desired := groupTag(t, w.Group, shadow.TagMode); v != asg.ModeAct || desired != 2 {
			t.Errorf("after act --yes: tag %q, desired %d; want act, 2", v, desired)
		}
		run(t, "mode", stack, "--group", w.Group, "act").want(t, 0, "already")
		run(t, "mode", stack, "--group", w.Group, "forecast-only").want(t, 0, "mode forecast-only")
		if v, desired := groupTag(t, w.Group, shadow.TagMode); v != asg.ModeForecastOnly || desired != 2 {
			t.Errorf("after forecast-only: tag %q, desired %d", v, desired)
		}
		run(t, "groups", stack).want(t, 0, "forecast-only (tag)")
	})

	t.Run("unenroll", func(t *testing.T) {
		// second: enrolled by its tag, with the plane's hook (enroll above).
		cli(t, ep, map[string]string{lambdaenv.EnvGroups: second}, "unenroll", stack, "--group", second).wantErr(t, 4, "enrolled by name", "Nothing changed")
		run(t, "mode", stack, "--group", second, "act", "--yes").want(t, 0, "mode act")
		r := run(t, "unenroll", stack, "--group", second)
		if r.code != 5 || !strings.Contains(r.stdout, "act mode") || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("unenroll of a group in act mode without --yes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if v, _ := groupTag(t, second, shadow.TagEnrolled); v != "true" || len(lifecycleHooks(t, second)) != 1 {
			t.Fatalf("an unconfirmed unenroll changed %s: tag %q, hooks %v", second, v, lifecycleHooks(t, second))
		}
		run(t, "unenroll", stack, "--group", second, "--yes").want(t, 0, "un-enrolled", "capacity is untouched", "tags removed: "+shadow.TagEnrolled+", "+shadow.TagMode, "launch lifecycle hook "+hook+" deleted", "retires the shadows of its 1 live instances")
		for _, k := range []string{shadow.TagEnrolled, shadow.TagMode} {
			if v, desired := groupTag(t, second, k); v != "" || desired != 1 {
				t.Errorf("%s after unenroll: tag %s=%q, desired %d; want no tag, 1", second, k, v, desired)
			}
		}
		if got := lifecycleHooks(t, second); len(got) != 0 {
			t.Errorf("%s's hooks after unenroll: %v", second, got)
		}
		var out struct{ Changed bool }
		r = run(t, "unenroll", stack, "--group", second, "--json")
		r.want(t, 0)
		if r.json(t, &out); out.Changed {
			t.Error("un-enrolling a group that is not enrolled changed it")
		}
		run(t, "unenroll", stack, "--group", second).want(t, 0, "not enrolled", "nothing changed")
	})

	t.Run("teardown", func(t *testing.T) {
		// The world's stack is deployed: its reconciler would relaunch.
		run(t, "teardown", stack, "--yes").wantErr(t, 1, "still deployed", "nothing changed")
		gone := w.Name("gone")
		launch := func(tags map[string]string) string {
			t.Helper()
			var ts []ec2types.Tag
			for k, v := range tags {
				ts = append(ts, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
			out, err := env.EC2.RunInstances(ctx, &ec2.RunInstancesInput{
				ImageId: aws.String(harness.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT4gNano,
				SubnetId:          aws.String(w.PoolSubnets[harness.AZs[0]]),
				TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: ts}},
			})
			if err != nil {
				t.Fatal(err)
			}
			return aws.ToString(out.Instances[0].InstanceId)
		}
		mine := []string{
			launch(map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: gone, shadow.TagLive: "i-0live1"}),
			launch(map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: gone, shadow.TagLive: "i-0live2"}),
		}
		others := []string{
			launch(map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: w.Name("other")}), // another stack's shadow
			launch(map[string]string{shadow.TagStack: gone}),                                               // the stack's tag, not a shadow
			launch(map[string]string{"Name": "bystander"}),                                                 // no shadowscale tag
		}
		r := run(t, "teardown", "--stack", gone)
		if r.code != 5 || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("teardown without --yes: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, id := range mine {
			if !strings.Contains(r.stdout, id) {
				t.Errorf("the listing lacks the shadow %s:\n%s", id, r.stdout)
			}
		}
		for _, id := range others {
			if strings.Contains(r.stdout, id) {
				t.Errorf("the listing names %s, not a shadow of %s:\n%s", id, gone, r.stdout)
			}
		}
		if st := instanceStates(t, mine...); st[mine[0]] != "running" || st[mine[1]] != "running" {
			t.Fatalf("an unconfirmed teardown changed the shadows: %v", st)
		}
		var out struct {
			Shadows    []struct{ ID string }
			Terminated int
		}
		r = run(t, "teardown", "--stack", gone, "--yes", "--json")
		r.want(t, 0)
		if r.json(t, &out); out.Terminated != 2 || len(out.Shadows) != 2 {
			t.Errorf("teardown --yes: %+v, want the 2 shadows terminated", out)
		}
		st := instanceStates(t, append(slices.Clone(mine), others...)...)
		for _, id := range mine {
			if st[id] != "shutting-down" && st[id] != "terminated" {
				t.Errorf("shadow %s after teardown: %s", id, st[id])
			}
		}
		for _, id := range others {
			if st[id] != "running" {
				t.Errorf("%s (not a shadow of %s) after teardown: %s", id, gone, st[id])
			}
		}
		run(t, "teardown", "--stack", gone).want(t, 0, "nothing to do")
		for _, id := range others {
			if err := env.TerminateInstance(ctx, id); err != nil {
				t.Error(err)
			}
		}
	})

	// Last, as it ends the world's enrollment: unenroll, then the
	// reconciler's next run retires the group's shadows (and nothing of
	// the live instances).
	t.Run("unenroll, then the reconciler retires the shadows", func(t *testing.T) {
		before := p.shadowsByLive(t)
		for _, l := range lives {
			if len(before[l]) != 1 {
				t.Fatalf("live %s has shadows %v before, want one", l, before[l])
			}
		}
		// w.Group is in forecast-only mode and carries the operator's
		// ABANDON hook of the plane's name (enroll above): both go.
		run(t, "unenroll", stack, "--group", w.Group).want(t, 0, "un-enrolled", "launch lifecycle hook "+hook+" deleted", "retires the shadows of its 2 live instances", "its own scaling goes on: policy "+policy)
		resp := p.deliver(t, p.reconciler.Handle, harness.Scheduled("shadowscale-reconciler", time.Now()), handlers.OutcomeReconciled)
		st := instanceStates(t, lives...)
		for _, l := range lives {
			if st[l] != "running" {
				t.Errorf("live %s after unenroll and a reconcile: %s, want running", l, st[l])
			}
			if _, ok := p.record(t, l); ok {
				t.Errorf("live %s still has its shadow record after the reconcile (%+v)", l, resp)
			}
		}
		after := instanceStates(t, aws.ToString(before[lives[0]][0].InstanceId), aws.ToString(before[lives[1]][0].InstanceId))
		for id, s := range after {
			if s != "shutting-down" && s != "terminated" {
				t.Errorf("shadow %s after unenroll and a reconcile: %s, want terminated (%+v)", id, s, resp)
			}
		}
	})
}

// instanceStates returns the EC2 state of each instance.
func instanceStates(t *testing.T, ids ...string) map[string]string {
	t.Helper()
	out, err := env.EC2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("describing %v: %v", ids, err)
	}
	st := map[string]string{}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			st[aws.ToString(i.InstanceId)] = string(i.State.Name)
		}
	}
	return st
}
