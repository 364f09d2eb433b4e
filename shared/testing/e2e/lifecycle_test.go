//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// newPlaneWith is newPlane with extra function environment (the
// lifecycle's settings).
func newPlaneWith(t *testing.T, opt harness.WorldOptions, extra map[string]string) *plane {
	t.Helper()
	w := env.NewWorld(t, opt)
	fenv := w.FunctionEnv(env)
	maps.Copy(fenv, extra)
	cfg, err := lambdaenv.LoadReconciler(lambdaenv.Map(fenv))
	if err != nil {
		t.Fatal(err)
	}
	p := &plane{w: w, metrics: metrics.NewRecorder(), logs: &bytes.Buffer{}}
	log := lambdaenv.NewLogger(p.logs, slog.LevelDebug, "e2e")
	deps, err := handlers.LifecycleDeps(w.Scoped.Cfg, cfg.Common, cfg.Shadows, cfg.Agent.Port, nil, p.metrics, log)
	if err != nil {
		t.Fatal(err)
	}
	if p.launch, err = handlers.NewLaunch(deps); err != nil {
		t.Fatal(err)
	}
	if p.terminate, err = handlers.NewTerminate(deps); err != nil {
		t.Fatal(err)
	}
	if p.reconciler, err = handlers.NewReconciler(deps, handlers.DefaultReconcilerOptions()); err != nil {
		t.Fatal(err)
	}
	if p.table, err = awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "plane logs", p.logs.String())
		}
	})
	return p
}

// groupEvent is Auto Scaling's "EC2 Instance Launch Successful" or
// "EC2 Instance Terminate Successful", shaped as EventBridge delivers it
// (events/asg-*.json; moto emits none).
func groupEvent(t *testing.T, launch bool, instanceID, group, az string) []byte {
	t.Helper()
	detailType, origin, dest, verb := "EC2 Instance Launch Successful", "EC2", "AutoScalingGroup", "Launching a new EC2 instance: "
	if !launch {
		detailType, origin, dest, verb = "EC2 Instance Terminate Successful", "AutoScalingGroup", "EC2", "Terminating EC2 instance: "
	}
	now := time.Now().UTC()
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": fmt.Sprintf("e2e-%d", now.UnixNano()), "detail-type": detailType, "source": "aws.autoscaling",
		"account": "123456789012", "time": now.Format(time.RFC3339), "region": harness.Region,
		"resources": []string{
			"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/" + group,
			"arn:aws:ec2:us-east-1:123456789012:instance/" + instanceID,
		},
		"detail": map[string]any{
			"StatusCode": "InProgress", "Description": verb + instanceID, "AutoScalingGroupName": group,
			"ActivityId": "11111111-2222-3333-4444-555555555555", "Details": map[string]string{"Availability Zone": az, "Subnet ID": "subnet-0"},
			"RequestId": "11111111-2222-3333-4444-555555555555", "StatusMessage": "", "EndTime": now.Format(time.RFC3339),
			"EC2InstanceId": instanceID, "StartTime": now.Add(-30 * time.Second).Format(time.RFC3339), "Cause": "e2e",
			"Origin": origin, "Destination": dest,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An x86 group (m5.xlarge) gets x86 shadows (t3a.small), launched from the
// x86_64 shadow launch template (its AMI), not the arm64 one. moto runs
// any AMI on any type, so the template and image are what prove it; the
// request's exact form is TestFleetLaunchRequestByArchitecture's.
func TestX86GroupGetsX86Shadows(t *testing.T) {
	ctx := context.Background()
	p := newPlane(t, harness.WorldOptions{LiveType: "m5.xlarge"})
	lives := p.lives(t, 2)
	p.launchAll(t, lives)
	cat, _ := catalog.Default()
	want, err := cat.ShadowFor("m5.xlarge", catalog.DefaultFractions())
	if err != nil || want.Arch != "x86_64" {
		t.Fatalf("catalog: %+v, %v", want, err)
	}
	byLive := p.shadowsByLive(t)
	for _, id := range lives {
		if len(byLive[id]) != 1 {
			t.Fatalf("live %s has %d shadows, want 1", id, len(byLive[id]))
		}
		s := byLive[id][0]
		tags := harness.Tags(s.Tags)
		if string(s.InstanceType) != want.Name || tags["aws:ec2launchtemplate:id"] != p.w.ShadowTemplateX86 || aws.ToString(s.ImageId) != harness.AMIx86 {
			t.Errorf("shadow of %s: %s from template %s image %s; want %s from the x86_64 template %s (%s)",
				id, s.InstanceType, tags["aws:ec2launchtemplate:id"], aws.ToString(s.ImageId), want.Name, p.w.ShadowTemplateX86, harness.AMIx86)
		}
	}
	// And an arm64 group's shadows still come from the arm64 template.
	q := newPlane(t, harness.WorldOptions{})
	arm := q.lives(t, 2)
	q.launchAll(t, arm[:1])
	s := q.shadowsByLive(t)[arm[0]]
	if len(s) != 1 || harness.Tags(s[0].Tags)["aws:ec2launchtemplate:id"] != q.w.ShadowTemplate || aws.ToString(s[0].ImageId) != harness.AMI {
		t.Errorf("arm64 shadow %+v: want the arm64 template %s", s, q.w.ShadowTemplate)
	}
	_ = ctx
}

// Auto Scaling's own events drive the lifecycle: launch successful ensures
// the shadow, terminate successful retires it.
func TestAutoScalingEventsDriveTheLifecycle(t *testing.T) {
	ctx := context.Background()
	p := newPlane(t, harness.WorldOptions{})
	lives := p.lives(t, 2)
	live := lives[0]
	inst, _, err := env.Instance(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	az := aws.ToString(inst.Placement.AvailabilityZone)
	resp := p.deliver(t, p.launch.Handle, groupEvent(t, true, live, p.w.Group, az), handlers.OutcomeEnsured)
	if resp.Shadow == "" {
		t.Fatalf("no shadow: %+v", resp)
	}
	// An event naming another group than the instance's is refused.
	p.deliver(t, p.launch.Handle, groupEvent(t, true, lives[1], "someone-else", az), handlers.OutcomeRefused)
	if err := env.TerminateInstance(ctx, live); err != nil {
		t.Fatal(err)
	}
	p.deliver(t, p.terminate.Handle, groupEvent(t, false, live, p.w.Group, az), handlers.OutcomeRetired)
	if _, ok := p.record(t, live); ok {
		t.Error("the record is still there")
	}
}

// A shadow that dies at boot in a loop: one replacement at once, then
// backoff; and a group's replacements stop at its hourly cap, with an
// audit record in DynamoDB saying why and the ReplacementsHalted metric.
func TestReplacementStormIsBounded(t *testing.T) {
	ctx := context.Background()
	p := newPlaneWith(t, harness.WorldOptions{Desired: 3}, map[string]string{lambdaenv.EnvReplacementsHour: "2"})
	lives := p.lives(t, 3)
	p.launchAll(t, lives)
	kill := func(live string) handlers.Response {
		t.Helper()
		rec, _ := p.record(t, live)
		if err := env.TerminateInstance(ctx, rec.ShadowID); err != nil {
			t.Fatal(err)
		}
		return p.deliver(t, p.terminate.Handle, harness.StateChange(rec.ShadowID, "terminated", time.Now()), "")
	}
	if r := kill(lives[0]); r.Outcome != handlers.OutcomeReplaced {
		t.Fatalf("first death: %+v, want replaced", r)
	}
	if r := kill(lives[0]); r.Outcome != handlers.OutcomeDeferred {
		t.Fatalf("second death within a minute: %+v, want deferred (backoff)", r)
	}
	if r := kill(lives[1]); r.Outcome != handlers.OutcomeReplaced {
		t.Fatalf("another live's shadow: %+v, want replaced (2 of 2 this hour)", r)
	}
	r := kill(lives[2])
	if r.Outcome != handlers.OutcomeDeferred {
		t.Fatalf("third replacement in the hour: %+v, want deferred (capped)", r)
	}
	halts, err := p.table.Records().Halts(ctx, p.w.Group)
	if err != nil || len(halts) != 1 || halts[0].LiveID != lives[2] || halts[0].Limit != 2 || halts[0].Cause == "" {
		t.Fatalf("halt records %+v, %v", halts, err)
	}
	if p.metrics.Total("ReplacementsHalted") != 1 {
		t.Errorf("ReplacementsHalted = %v", p.metrics.Total("ReplacementsHalted"))
	}
	rec, _ := p.record(t, lives[2])
	if rec.Generation != 1 || rec.Status != shadow.Active {
		t.Errorf("capped record %+v: want its generation 1 kept", rec)
	}
}
