//go:build e2e

package e2e_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestWorldsAreNamespaces proves the harness's namespacing rule (its
// package doc) on the server every e2e package shares: two worlds share
// no name; the plane's clients of a world list only that world's enrolled
// groups while the server holds the other's too; a shared server is never
// reset; the scope refuses an Auto Scaling call it could not scope; and
// Teardown removes a world and may run twice.
func TestWorldsAreNamespaces(t *testing.T) {
	ctx := context.Background()
	a := env.NewWorld(t, harness.WorldOptions{Desired: 1})
	b := env.NewWorld(t, harness.WorldOptions{Desired: 1})
	for _, pair := range [][2]string{
		{a.ID, b.ID}, {a.Stack, b.Stack}, {a.Group, b.Group}, {a.Table, b.Table}, {a.Stream, b.Stream},
		{a.QueueURL, b.QueueURL}, {a.SecretARN, b.SecretARN}, {a.VPC, b.VPC}, {a.ShadowTemplate, b.ShadowTemplate}, {a.Endpoint, b.Endpoint},
	} {
		if pair[0] == pair[1] {
			t.Errorf("two worlds share %q", pair[0])
		}
	}
	if !strings.Contains(a.Group, a.ID) || !strings.Contains(a.Table, a.ID) || a.Name("x") != "x-"+a.ID {
		t.Errorf("world %s: names without its id: group %s, table %s", a.ID, a.Group, a.Table)
	}
	enrolled := func(api awssdk.AutoScalingAPI) []string {
		t.Helper()
		g, err := awssdk.NewGroups(api, nil, awssdk.GroupsConfig{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		gs, err := g.EnrolledGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, gr := range gs {
			names = append(names, gr.Name)
		}
		return names
	}
	t.Run("the plane of a world sees its groups only", func(t *testing.T) {
		all := strings.Join(enrolled(env.ASG), " ")
		if !strings.Contains(all, a.Group) || !strings.Contains(all, b.Group) {
			t.Fatalf("the server's enrolled groups %s lack %s or %s", all, a.Group, b.Group)
		}
		if got := enrolled(a.Scoped.ASG); len(got) != 1 || got[0] != a.Group {
			t.Errorf("world %s's plane lists %v, want only %s", a.ID, got, a.Group)
		}
		extra := a.Name("extra")
		if _, err := env.ASG.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(extra), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
			LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(a.LiveTemplate), Version: aws.String("$Latest")},
			VPCZoneIdentifier: aws.String(a.LiveSubnets[harness.AZs[0]]),
			Tags:              []asgtypes.Tag{{ResourceId: aws.String(extra), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(shadow.TagEnrolled), Value: aws.String("true"), PropagateAtLaunch: aws.Bool(false)}},
		}); err != nil {
			t.Fatal(err)
		}
		a.ScopeGroups(extra)
		got := enrolled(a.Scoped.ASG)
		sort.Strings(got)
		want := []string{a.Group, extra}
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("with a group added to its scope, world %s's plane lists %v, want %v", a.ID, got, want)
		}
		// The functions of a world get its scope, not the server.
		if ep := a.FunctionEnv(env)["AWS_ENDPOINT_URL"]; ep != a.Endpoint {
			t.Errorf("a function of world %s calls %s, want its scope %s", a.ID, ep, a.Endpoint)
		}
	})
	t.Run("a shared server is never reset", func(t *testing.T) {
		if !env.Server.External {
			t.Skip("this package's own server (make e2e-own): Reset would clear it")
		}
		if err := env.Reset(ctx); !errors.Is(err, harness.ErrSharedServer) {
			t.Errorf("Reset on %s = %v, want ErrSharedServer", env.Server.URL, err)
		}
		if got := enrolled(env.ASG); len(got) < 2 {
			t.Errorf("the server's groups after the refused reset: %v", got)
		}
	})
	t.Run("an Auto Scaling call the scope cannot read is refused", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Endpoint+"/", strings.NewReader(`{"Filters":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261128/us-east-1/autoscaling/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "query protocol") {
			t.Errorf("a JSON Auto Scaling call through the scope: %d %s, want 400 naming the protocol", resp.StatusCode, body)
		}
	})
	t.Run("teardown removes the world, twice over", func(t *testing.T) {
		c, err := env.Setup(ctx, harness.WorldOptions{Desired: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if err := env.Teardown(ctx, c); err != nil {
				t.Errorf("teardown %d: %v", i+1, err)
			}
		}
		gs, err := env.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{c.Group}})
		if err != nil || len(gs.AutoScalingGroups) != 0 {
			t.Errorf("group %s after teardown: %v, %v", c.Group, gs, err)
		}
		if _, err := env.DDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(c.Table)}); awssdk.ErrorCode(err) != "ResourceNotFoundException" {
			t.Errorf("table %s after teardown: %v", c.Table, err)
		}
		insts, err := env.WorldInstances(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range insts {
			if i.State.Name != ec2types.InstanceStateNameTerminated && i.State.Name != ec2types.InstanceStateNameShuttingDown {
				t.Errorf("instance %s of the world is %s after teardown", aws.ToString(i.InstanceId), i.State.Name)
			}
		}
		vpcs, err := env.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{c.VPC}}}})
		if err != nil || len(vpcs.Vpcs) != 0 {
			t.Errorf("vpc %s after teardown: %v, %v", c.VPC, vpcs, err)
		}
	})
}
