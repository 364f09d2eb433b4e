//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestForecasterLeavesGroupsWithTheirOwnPolicies: a group in act mode
// with a target-tracking policy of its own (stored in moto) is forecast
// but not changed, and the answer and the audit name the policy; made
// scale-out only (DisableScaleIn), the policy coexists and the plane acts.
func TestForecasterLeavesGroupsWithTheirOwnPolicies(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{Mode: "act"})
	lives, err := env.GroupInstances(ctx, w.Group, 2)
	if err != nil {
		t.Fatal(err)
	}
	table, err := awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writeRisingHistory(t, table, w.Group, lives)
	put := func(disableScaleIn bool) {
		t.Helper()
		if _, err := env.ASG.PutScalingPolicy(ctx, &autoscaling.PutScalingPolicyInput{
			AutoScalingGroupName: aws.String(w.Group), PolicyName: aws.String("cpu50"), PolicyType: aws.String("TargetTrackingScaling"),
			TargetTrackingConfiguration: &asgtypes.TargetTrackingConfiguration{TargetValue: aws.Float64(50), DisableScaleIn: aws.Bool(disableScaleIn),
				PredefinedMetricSpecification: &asgtypes.PredefinedMetricSpecification{PredefinedMetricType: asgtypes.MetricTypeASGAverageCPUUtilization}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(false)
	h, _, _ := forecaster(t, w, map[string]string{lambdaenv.EnvPolicy: forecastPolicy})
	resp, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	gf := resp.Groups[0]
	if gf.Error != "" || gf.Acted || !strings.Contains(gf.Outcome, `target-tracking policy "cpu50"`) || len(gf.OwnScaling) != 1 {
		t.Fatalf("group %+v: want forecast, not acted, the policy named", gf)
	}
	if got := desiredOf(t, w.Group); got != 2 {
		t.Errorf("desired capacity in moto %d, want 2 untouched", got)
	}
	if _, b := lastAudit(t, table, w.Group); b.Acted || !strings.Contains(b.Outcome, "own scaling") {
		t.Errorf("audit %+v", b)
	}

	// Scale-out only: it cannot fight a scale-in, and the plane acts (a
	// fresh state, so that the run decides again on the same history).
	put(true)
	if _, err := env.DDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.Table), Key: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "STATE#" + w.Group}, "sk": &ddbtypes.AttributeValueMemberS{Value: "STATE"},
	}}); err != nil {
		t.Fatal(err)
	}
	h2, _, _ := forecaster(t, w, map[string]string{lambdaenv.EnvPolicy: forecastPolicy})
	third, err := h2.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if g := third.Groups[0]; !g.Acted || len(g.OwnScaling) != 0 || desiredOf(t, w.Group) <= 2 {
		t.Errorf("with target tracking scale-out only: %+v, desired %d; want acted", g, desiredOf(t, w.Group))
	}
}

// TestForecasterOutageInTheTableHolds: three hours of steady history in
// DynamoDB, then the last 30 minutes without a group item (the fan-out
// down): the forecaster in act mode, rebuilding from the table, does not
// scale the group in, and its decision says the minute had no data.
func TestForecasterOutageInTheTableHolds(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{Mode: "act", Desired: 3})
	lives, err := env.GroupInstances(ctx, w.Group, 3)
	if err != nil {
		t.Fatal(err)
	}
	table, err := awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 1,800 a minute on three instances of 600: exactly the group's size.
	end := time.Now().UTC().Truncate(time.Minute).Add(-31 * time.Minute)
	counts := map[mutation.CountKey]mutation.Count{}
	for i := 180; i >= 0; i-- {
		m := end.Add(-time.Duration(i) * time.Minute)
		for _, l := range lives {
			counts[mutation.CountKey{Group: w.Group, Resource: l, Target: mutation.Live, Minute: m}] = mutation.Count{Accepted: 600, Applied: uint64(600 * (181 - i))}
		}
	}
	if err := table.History().Add(ctx, counts); err != nil {
		t.Fatal(err)
	}
	h, _, _ := forecaster(t, w, map[string]string{lambdaenv.EnvPolicy: forecastPolicy})
	resp, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	gf := resp.Groups[0]
	if gf.Error != "" || gf.Minutes < 200 {
		t.Fatalf("group %+v", gf)
	}
	if gf.Action == "scale-in" || desiredOf(t, w.Group) < 3 {
		t.Errorf("an outage scaled the group in: %+v, desired %d", gf, desiredOf(t, w.Group))
	}
	if _, b := lastAudit(t, table, w.Group); !strings.Contains(b.Reason, "no data for this minute") {
		t.Errorf("the outage minute's reason %q does not say it had no data", b.Reason)
	}
}

// TestForecasterScalesAGroupWithoutAFigure: a
// group with neither per_instance nor the shadowscale:per-instance tag,
// its CPU utilization in moto's CloudWatch, is forecast (not failed), and
// its audit record says the figure was learned from the utilization.
func TestForecasterScalesAGroupWithoutAFigure(t *testing.T) {
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
	end := time.Now().UTC().Truncate(time.Minute)
	var data []cwtypes.MetricDatum
	for m := 1; m <= 14; m++ {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String("CPUUtilization"), Unit: cwtypes.StandardUnitPercent, Value: aws.Float64(60),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("AutoScalingGroupName"), Value: aws.String(w.Group)}},
			Timestamp:  aws.Time(end.Add(-time.Duration(m) * time.Minute)),
		})
	}
	if _, err := env.CW.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: data}); err != nil {
		t.Fatal(err)
	}
	h, _, _ := forecaster(t, w, nil)
	resp, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if gf := resp.Groups[0]; gf.Error != "" || gf.CapacitySource == "" {
		t.Fatalf("group without a figure: %+v", gf)
	}
	d, _ := lastAudit(t, table, w.Group)
	var body struct {
		Capacity struct {
			Source string `json:"source"`
		} `json:"capacity"`
	}
	if err := json.Unmarshal(d.Body, &body); err != nil || body.Capacity.Source != control.CapacityFromUtilization {
		t.Errorf("audit capacity source %q, %v; want learned from the utilization", body.Capacity.Source, err)
	}
}
