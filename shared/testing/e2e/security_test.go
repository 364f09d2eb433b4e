//go:build e2e

package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestPlaneRefusesWhatItDoesNotOwn: against moto, the terminate and
// reconciler paths never terminate an instance that does not carry this
// stack's shadow tags, whatever the records or the events say:
//   - a shadow record tampered with to name a live instance as its shadow:
//     when its live goes, the retire refuses to terminate that instance
//     (logged, counted RefusedNotOwned and EventsRefused{not-owned});
//   - the reconciler retiring that record later refuses again;
//   - an instance tagged as another stack's shadow, naming one of our live
//     instances: its events are ignored, the reconciler never counts or
//     deletes it;
//   - forged state-change events naming running lives (see also
//     TestForgedEventsChangeNothing): refused, nothing changes.
//
// Every instance that is not ours ends running.
func TestPlaneRefusesWhatItDoesNotOwn(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 3}})
	lives := r.lives(t)
	for _, id := range lives {
		if resp, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now())); f != 0 || resp.Shadow == "" {
			t.Fatalf("launch %+v", resp)
		}
	}
	victim, gone := lives[1], lives[0]
	// The record of gone now names victim (a live) as its shadow.
	rec, err := r.table.Records().Get(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	rec.ShadowID = victim
	if _, err := r.table.Records().Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Another stack's shadow of one of our lives.
	foreign, err := env.EC2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(harness.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT4gNano,
		SubnetId: aws.String(r.w.PoolSubnets[harness.AZs[0]]),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
			{Key: aws.String(shadow.TagRole), Value: aws.String(shadow.RoleShadow)},
			{Key: aws.String(shadow.TagStack), Value: aws.String("someone-else")},
			{Key: aws.String(shadow.TagLive), Value: aws.String(lives[2])},
			{Key: aws.String(shadow.TagGeneration), Value: aws.String("1")},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	other := aws.ToString(foreign.Instances[0].InstanceId)

	// gone really goes: its retire meets the tampered record.
	if err := env.TerminateInstance(ctx, gone); err != nil {
		t.Fatal(err)
	}
	resp, f := retried(t, r.terminate.Handle, harness.StateChange(gone, "terminated", time.Now()))
	if f != 0 || resp.Outcome != handlers.OutcomeRefused || !strings.Contains(resp.Reason, "not") {
		t.Errorf("terminate of %s with a record naming the live %s: %+v", gone, victim, resp)
	}
	// Forged events and the foreign shadow's own.
	for _, tc := range []struct {
		h           handlers.HandleFunc
		id, state   string
		wantOutcome string
	}{
		{r.terminate.Handle, victim, "terminated", handlers.OutcomeRefused},
		{r.terminate.Handle, other, "terminated", handlers.OutcomeRefused}, // still running
		{r.launch.Handle, other, "running", handlers.OutcomeIgnored},
	} {
		if resp, _ := retried(t, tc.h, harness.StateChange(tc.id, tc.state, time.Now())); resp.Outcome != tc.wantOutcome {
			t.Errorf("%s %s: %+v, want %s", tc.id, tc.state, resp, tc.wantOutcome)
		}
	}
	// The reconciler, after the orphan grace: it retires the tampered
	// record (its live is gone), refusing again to terminate the live it
	// names, and neither counts nor touches the foreign shadow.
	time.Sleep(testOrphanGrace)
	out := r.reconcile(t)
	refusedRetire := false
	for _, a := range out.Actions {
		switch {
		case a.Shadow == other:
			t.Errorf("reconciler action on another stack's shadow: %+v", a)
		case a.Shadow == victim && a.Error == "":
			t.Errorf("reconciler action on a live instance named as a shadow went through: %+v", a)
		}
		if a.Kind == string(shadow.Retire) && a.Live == gone && strings.Contains(a.Error, "not") {
			refusedRetire = true
		}
	}
	if !refusedRetire {
		t.Errorf("the reconciler's retire of %s did not report the refusal: %+v", gone, out.Actions)
	}
	for _, id := range []string{victim, other, lives[2]} {
		inst, ok, err := env.Instance(ctx, id)
		if err != nil || !ok || inst.State.Name != ec2types.InstanceStateNameRunning {
			t.Errorf("%s is %v (found %v, %v): the plane touched what is not ours", id, inst.State, ok, err)
		}
	}
	if n := r.metrics.Total("RefusedNotOwned"); n < 2 {
		t.Errorf("RefusedNotOwned = %v, want the terminate's and the reconciler's refusals", n)
	}
	if n := r.metrics.Total("EventsRefused"); n < 3 {
		t.Errorf("EventsRefused = %v, want at least 3", n)
	}
	logs := r.logs.String()
	if strings.Count(logs, "refused to terminate") < 2 {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}
