//go:build e2e

package awssdk_test

import (
	"context"
	"fmt"
	"math"
	"sort"
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
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestOwnScalingOnMoto: the group's target-tracking and step policies and
// scheduled actions, stored in moto, come back mapped to what conflicts.
func TestOwnScalingOnMoto(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{Mode: asg.ModeAct})
	name := aws.String(w.Group)
	if _, err := env.ASG.PutScalingPolicy(ctx, &autoscaling.PutScalingPolicyInput{
		AutoScalingGroupName: name, PolicyName: aws.String("cpu50"), PolicyType: aws.String("TargetTrackingScaling"),
		TargetTrackingConfiguration: &asgtypes.TargetTrackingConfiguration{TargetValue: aws.Float64(50),
			PredefinedMetricSpecification: &asgtypes.PredefinedMetricSpecification{PredefinedMetricType: asgtypes.MetricTypeASGAverageCPUUtilization}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ASG.PutScalingPolicy(ctx, &autoscaling.PutScalingPolicyInput{
		AutoScalingGroupName: name, PolicyName: aws.String("up"), PolicyType: aws.String("StepScaling"), AdjustmentType: aws.String("ChangeInCapacity"),
		StepAdjustments: []asgtypes.StepAdjustment{{MetricIntervalLowerBound: aws.Float64(0), ScalingAdjustment: aws.Int32(1)}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ASG.PutScheduledUpdateGroupAction(ctx, &autoscaling.PutScheduledUpdateGroupActionInput{
		AutoScalingGroupName: name, ScheduledActionName: aws.String("nightly"), Recurrence: aws.String("0 22 * * *"), DesiredCapacity: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	g, err := awssdk.NewGroups(env.ASG, env.EC2, awssdk.GroupsConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	own, err := g.OwnScaling(ctx, []string{w.Group, "other"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range own[w.Group] {
		got = append(got, fmt.Sprintf("%s %v", s, s.Conflicts()))
	}
	sort.Strings(got)
	want := `[scheduled action "nightly" true step policy "up" true target-tracking policy "cpu50" true]`
	if fmt.Sprint(got) != want || len(own) != 1 {
		t.Errorf("own scaling %v (%d groups), want %s", got, len(own), want)
	}
}

// TestResizeByVersionOnMoto: a group on a numbered version is pointed at
// the new one; a group on $Default gets it as the template's default.
func TestResizeByVersionOnMoto(t *testing.T) {
	ctx := context.Background()
	for _, version := range []string{"1", "$Default"} {
		t.Run(version, func(t *testing.T) {
			w := world(t, harness.WorldOptions{Mode: asg.ModeAct})
			if _, err := env.ASG.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
				AutoScalingGroupName: aws.String(w.Group),
				LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.LiveTemplate), Version: aws.String(version)},
			}); err != nil {
				t.Fatal(err)
			}
			g, err := awssdk.NewGroups(env.ASG, env.EC2, awssdk.GroupsConfig{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := g.Resize(ctx, w.Group, "m7g.2xlarge")
			if err != nil || ref.Version != "2" {
				t.Fatalf("Resize = %+v, %v", ref, err)
			}
			gr, err := g.Group(ctx, w.Group)
			if err != nil {
				t.Fatal(err)
			}
			wantVersion := "2"
			if version == "$Default" {
				wantVersion = "$Default"
			}
			if gr.LaunchTemplate.Version != wantVersion {
				t.Errorf("group on version %q, want %q", gr.LaunchTemplate.Version, wantVersion)
			}
			fresh, _ := awssdk.NewGroups(env.ASG, env.EC2, awssdk.GroupsConfig{}, nil, nil) // no cache
			if typ, err := fresh.LaunchType(ctx, gr); err != nil || typ != "m7g.2xlarge" {
				t.Errorf("the group launches %q, %v; want m7g.2xlarge", typ, err)
			}
			if version == "$Default" {
				out, err := env.EC2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{w.LiveTemplate}})
				if err != nil || len(out.LaunchTemplates) != 1 || aws.ToInt64(out.LaunchTemplates[0].DefaultVersionNumber) != 2 {
					t.Errorf("template default version: %+v, %v; want 2", out, err)
				}
			}
		})
	}
}

// TestGroupCPUOnMoto: CPUUtilization datapoints put by group come back
// per minute through GetMetricData on the JSON protocol; minutes without
// one are absent.
func TestGroupCPUOnMoto(t *testing.T) {
	ctx := context.Background()
	world(t, harness.WorldOptions{Desired: 1})
	end := time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	var data []cwtypes.MetricDatum
	for i, g := range []string{"web", "api"} {
		for m := 0; m < 5; m++ {
			if g == "api" && m == 2 {
				continue
			}
			data = append(data, cwtypes.MetricDatum{
				MetricName: aws.String("CPUUtilization"), Unit: cwtypes.StandardUnitPercent,
				Dimensions: []cwtypes.Dimension{{Name: aws.String("AutoScalingGroupName"), Value: aws.String(g)}},
				Timestamp:  aws.Time(end.Add(time.Duration(m-4)*time.Minute + 10*time.Second)), Value: aws.Float64(float64(10*(i+1) + m)),
			})
		}
	}
	if _, err := env.CW.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/EC2"), MetricData: data}); err != nil {
		t.Fatal(err)
	}
	c, err := awssdk.NewGroupCPU(env.CW)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CPUUtilization(ctx, []string{"web", "api", "idle"}, end.Add(-4*time.Minute), end)
	if err != nil {
		t.Fatalf("GetMetricData on the JSON protocol: %v", err)
	}
	web, api := got["web"], got["api"]
	if len(web) != 5 || web[end] != 14 || web[end.Add(-4*time.Minute)] != 10 || len(api) != 4 || api[end] != 24 || len(got["idle"]) != 0 {
		t.Errorf("utilization %v", got)
	}
	if _, ok := api[end.Add(-2*time.Minute)]; ok || math.IsNaN(web[end]) {
		t.Errorf("api's missing minute present: %v", api)
	}
}

// TestHistoryShardsAndSeenOnMoto: a resource's minutes are stored under
// its shard's partition, a group's minutes carry seen, and the reads merge
// the shards.
func TestHistoryShardsAndSeenOnMoto(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t)
	m0 := t0.Add(5 * time.Minute)
	counts := map[mutation.CountKey]mutation.Count{}
	for i := range 24 {
		counts[mutation.CountKey{Group: "web", Resource: fmt.Sprintf("i-%02d", i), Target: mutation.Live, Minute: m0}] = mutation.Count{Accepted: 1, Applied: uint64(i)}
	}
	if err := tb.History().Add(ctx, counts); err != nil {
		t.Fatal(err)
	}
	res, err := tb.History().ResourceMinutes(ctx, "web", m0, m0)
	if err != nil || len(res) != 24 || res[0].Resource != "i-00" || res[23].Resource != "i-23" {
		t.Fatalf("ResourceMinutes = %d items, %v", len(res), err)
	}
	raw, err := env.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.Name()), Key: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("RHIST#web#%d", awssdk.ResourceShard("i-07"))},
		"sk": &ddbtypes.AttributeValueMemberS{Value: m0.Format("2006-01-02T15:04Z") + "#i-07"},
	}})
	if err != nil || raw.Item == nil {
		t.Errorf("i-07's minute not under its shard's partition: %v", err)
	}
	// seen, as the fan-out writes it next to live and shadow.
	if _, err := env.DDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(tb.Name()),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "HIST#web"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "M#" + m0.Add(time.Minute).Format("2006-01-02T15:04Z")},
		},
		UpdateExpression:          aws.String("ADD seen :n"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":n": &ddbtypes.AttributeValueMemberN{Value: "9"}},
	}); err != nil {
		t.Fatal(err)
	}
	mins, err := tb.History().GroupMinutes(ctx, "web", m0, m0.Add(time.Minute))
	if err != nil || len(mins) != 2 || mins[0].Live != 24 || mins[0].Seen != 0 || mins[1].Seen != 9 || mins[1].Live != 0 {
		t.Errorf("GroupMinutes = %+v, %v; want m0 with 24 live, m1 with seen 9 and nothing counted", mins, err)
	}
	if !strings.HasPrefix(fmt.Sprint(mins[1].Start), m0.Add(time.Minute).Format("2006-01-02 15:04")) {
		t.Errorf("minute %v", mins[1].Start)
	}
}
