//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// forecastPolicy is the SHADOWSCALE_POLICY of these scenarios: one live
// instance serves 600 mutations a minute.
const forecastPolicy = `{"per_instance": 600}`

// writeRisingHistory writes, as the fanout would (History.Add of the
// Router's counters), the last 70 minutes of a group of two live
// instances: 900 mutations a minute (1.5 instances' worth) climbing to
// 2,400 (4 instances) over the last 20, the shadows keeping up.
func writeRisingHistory(t *testing.T, table *awssdk.Table, group string, lives []string) {
	t.Helper()
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	counts := map[mutation.CountKey]mutation.Count{}
	applied := map[string]uint64{}
	for i := 69; i >= 0; i-- {
		m := end.Add(-time.Duration(i) * time.Minute)
		d := 900.0
		if i < 20 {
			d = 900 + 1500*float64(20-i)/20
		}
		per := int(d) / len(lives)
		for _, l := range lives {
			applied[l] += uint64(per)
			for _, tg := range []mutation.Target{mutation.Live, mutation.Shadow} {
				counts[mutation.CountKey{Group: group, Resource: l, Target: tg, Minute: m}] = mutation.Count{Accepted: per, Applied: applied[l]}
			}
		}
	}
	if err := table.History().Add(context.Background(), counts); err != nil {
		t.Fatal(err)
	}
}

// forecaster is the handler in process, wired as its main wires it, with
// the world's environment plus extra.
func forecaster(t *testing.T, w *harness.World, extra map[string]string) (*handlers.Forecaster, *metrics.Recorder, *bytes.Buffer) {
	t.Helper()
	fenv := w.FunctionEnv(env)
	for k, v := range extra {
		fenv[k] = v
	}
	rec, logs := metrics.NewRecorder(), &bytes.Buffer{}
	h := wireForecaster(t, fenv, w.Scoped.Cfg, rec, lambdaenv.NewLogger(logs, slog.LevelDebug, "forecaster"))
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "forecaster logs", logs.String())
		}
	})
	return h, rec, logs
}

// wireForecaster builds the handler from a function environment and an
// AWS config, as functions/forecaster's main does.
func wireForecaster(t *testing.T, fenv map[string]string, awsCfg aws.Config, rec metrics.Sink, log *slog.Logger) *handlers.Forecaster {
	t.Helper()
	cfg, err := lambdaenv.LoadForecaster(lambdaenv.Map(fenv))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	loops, err := handlers.ControlLoops(cfg.Policy, cat)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := handlers.NewForecasterDeps(awsCfg, cfg, loops, rec, log)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := handlers.ForecasterOptionsFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewForecaster(deps, opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func desiredOf(t *testing.T, group string) int {
	t.Helper()
	out, err := env.ASG.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Fatalf("describing %s: %v", group, err)
	}
	return int(aws.ToInt32(out.AutoScalingGroups[0].DesiredCapacity))
}

type auditBody struct {
	Mode    string `json:"mode"`
	Action  string `json:"action"`
	From    int    `json:"from"`
	To      int    `json:"to"`
	Reason  string `json:"reason"`
	Acted   bool   `json:"acted"`
	Outcome string `json:"outcome"`
}

// lastAudit returns the group's newest audit record and its body.
func lastAudit(t *testing.T, table *awssdk.Table, group string) (control.AuditRecord, auditBody) {
	t.Helper()
	ds, err := table.Audit().List(context.Background(), group, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), 1)
	if err != nil || len(ds) != 1 {
		t.Fatalf("audit of %s: %v, %v", group, ds, err)
	}
	var b auditBody
	if err := json.Unmarshal(ds[0].Body, &b); err != nil {
		t.Fatal(err)
	}
	return ds[0], b
}

// TestForecasterScenarios: history written, the forecaster run: in act
// mode SetDesiredCapacity is visible on the group in moto; in
// forecast-only mode, and for a group enrolled by name only in act mode,
// only an audit record.
func TestForecasterScenarios(t *testing.T) {
	for _, tc := range []struct {
		name      string
		world     harness.WorldOptions
		extra     map[string]string
		wantActed bool
		wantWhy   string
	}{
		{name: "act mode", extra: map[string]string{lambdaenv.EnvMode: "act"}, wantActed: true, wantWhy: "desired capacity set from 2 to"},
		{name: "act by the group's tag", world: harness.WorldOptions{Mode: "act"}, wantActed: true, wantWhy: "desired capacity set"},
		{name: "forecast-only mode", wantWhy: "not acted: forecast-only mode"},
		{name: "act mode, group enrolled by name only", world: harness.WorldOptions{NotEnrolled: true}, extra: map[string]string{lambdaenv.EnvMode: "act"}, wantWhy: "enrolled by name only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := env.NewWorld(t, tc.world)
			lives, err := env.GroupInstances(ctx, w.Group, 2)
			if err != nil {
				t.Fatal(err)
			}
			table, err := awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			writeRisingHistory(t, table, w.Group, lives)
			extra := map[string]string{lambdaenv.EnvPolicy: forecastPolicy}
			for k, v := range tc.extra {
				extra[k] = v
			}
			if tc.world.NotEnrolled {
				extra[lambdaenv.EnvGroups] = w.Group
			}
			h, rec, _ := forecaster(t, w, extra)
			// The two runs below must see the same last complete minute.
			clearOfSettledMinuteEdge(10 * time.Second)
			resp, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Outcome != handlers.OutcomeForecasted || len(resp.Groups) != 1 {
				t.Fatalf("answer %+v", resp)
			}
			gf := resp.Groups[0]
			if gf.Error != "" || gf.Minutes < 60 || gf.Acted != tc.wantActed || !strings.Contains(gf.Outcome, tc.wantWhy) {
				t.Fatalf("group %+v, want acted %v (%s)", gf, tc.wantActed, tc.wantWhy)
			}
			if gf.Action != handlers.ActionLaunchOne && gf.Action != handlers.ActionLaunchCluster {
				t.Errorf("rising demand gave %s: %s", gf.Action, gf.Reason)
			}
			wantDesired := 2
			if tc.wantActed {
				wantDesired = gf.To
				if gf.To <= 2 {
					t.Errorf("acted to %d", gf.To)
				}
			}
			if got := desiredOf(t, w.Group); got != wantDesired {
				t.Errorf("desired capacity in moto %d, want %d", got, wantDesired)
			}
			d, b := lastAudit(t, table, w.Group)
			if d.Action != gf.Action || b.Acted != tc.wantActed || !strings.Contains(b.Outcome, tc.wantWhy) || b.Reason == "" || b.From != 2 {
				t.Errorf("audit %+v body %+v", d, b)
			}
			if st, err := table.States().Load(ctx, w.Group); err != nil || st.Version != 1 || len(st.Blob) == 0 {
				t.Errorf("state %d bytes at version %d, %v", len(st.Blob), st.Version, err)
			}
			if rec.Sum("Decisions", metrics.Dim{Name: "Group", Value: w.Group}, metrics.Dim{Name: "Action", Value: gf.Action}) != 1 {
				t.Error("no Decisions metric")
			}
			// A second run in the same minute changes nothing.
			again, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
			if err != nil || again.Groups[0].Minutes != 0 || again.Groups[0].Acted {
				t.Errorf("second run %+v, %v", again, err)
			}
			if gf.Decided <= 2 {
				t.Errorf("the loop decided %d", gf.Decided)
			}
			figures.Store("forecaster on the rising history ("+tc.name+")", fmt.Sprintf("%s %d -> %d, acted %v: %s", gf.Action, gf.From, gf.Decided, gf.Acted, gf.Reason))
		})
	}
}

// TestForecasterBinaryUnderRIE runs the real forecaster bootstrap under the
// Runtime Interface Emulator on the rising history, in act mode: the
// group's desired capacity changes in moto and the decision is audited.
func TestForecasterBinaryUnderRIE(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{})
	lives, err := env.GroupInstances(ctx, w.Group, 2)
	if err != nil {
		t.Fatal(err)
	}
	table, err := awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writeRisingHistory(t, table, w.Group, lives)
	rie, err := harness.RIE(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := harness.BuildFunctions(ctx, t.TempDir(), "forecaster")
	if err != nil {
		t.Fatal(err)
	}
	fenv := w.FunctionEnv(env)
	fenv[lambdaenv.EnvMode] = "act"
	fenv[lambdaenv.EnvPolicy] = forecastPolicy
	f, err := harness.StartFunction(ctx, rie, "forecaster", bins["forecaster"], fenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "forecaster logs", f.Logs())
		}
		_ = f.Stop()
	})
	out, err := f.Invoke(ctx, harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var resp handlers.ForecastResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.Groups) != 1 || !resp.Groups[0].Acted {
		t.Fatalf("answer %s", out)
	}
	if got := desiredOf(t, w.Group); got != resp.Groups[0].To || got <= 2 {
		t.Errorf("desired capacity in moto %d, answer %+v", got, resp.Groups[0])
	}
	if _, b := lastAudit(t, table, w.Group); !b.Acted || b.Mode != "act" {
		t.Errorf("audit %+v", b)
	}
	out, err = f.Invoke(ctx, []byte(`{"not":"an event"}`))
	if err != nil || !strings.Contains(string(out), `"outcome":"ignored"`) {
		t.Errorf("a malformed event: %s, %v", out, err)
	}
	logs := f.Logs()
	for _, want := range []string{`"requestId":`, `"function":"forecaster"`, `"_aws":{`, `"DesiredCapacity"`, `"ForecastP90"`, `"message":"group forecast"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("forecaster logs lack %s", want)
		}
	}
	if fi, err := os.Stat(bins["forecaster"]); err == nil {
		figures.Store("bootstrap size (linux/"+runtimeArch()+", stripped): forecaster", fmt.Sprint(fi.Size())+" bytes")
	}
}

// clearOfSettledMinuteEdge waits, when the forecaster's last complete
// minute (the minute before now minus its Settle, 5 s by default) is
// due to turn within margin, until it has turned: runs made in the next
// seconds then all see the same last complete minute. (A first run at
// 12:08:04.9 and a second at 12:08:05.2 see different ones, and the
// second finds a new minute to forecast.)
func clearOfSettledMinuteEdge(margin time.Duration) {
	const settle = 5 * time.Second // handlers.ForecasterOptions' default
	settled := time.Now().Add(-settle)
	if next := settled.Truncate(time.Minute).Add(time.Minute); next.Sub(settled) < margin {
		time.Sleep(next.Sub(settled) + 100*time.Millisecond)
	}
}
