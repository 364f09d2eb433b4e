package awssdk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// cfnStub answers DescribeStacks with a stack or an error.
type cfnStub struct {
	out *cloudformation.DescribeStacksOutput
	err error
}

func (s cfnStub) DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	return s.out, s.err
}

func TestStackOutputs(t *testing.T) {
	stack := func(status cfntypes.StackStatus) *cloudformation.DescribeStacksOutput {
		return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{{StackName: aws.String("ShadowScale"), StackStatus: status, Outputs: []cfntypes.Output{
			{OutputKey: aws.String("TableName"), OutputValue: aws.String("ShadowScale-Table-1")},
		}}}}
	}
	for _, tc := range []struct {
		name    string
		stub    cfnStub
		want    string
		wantErr error
	}{
		{name: "deployed", stub: cfnStub{out: stack(cfntypes.StackStatusCreateComplete)}, want: "ShadowScale-Table-1"},
		{name: "updating", stub: cfnStub{out: stack(cfntypes.StackStatusUpdateInProgress)}, want: "ShadowScale-Table-1"},
		// CloudFormation's answer for a name it does not know.
		{name: "not deployed", stub: cfnStub{err: fmt.Errorf("operation error: %w", &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id ShadowScale does not exist"})}, wantErr: shadow.ErrNotFound},
		{name: "rolled back", stub: cfnStub{out: stack(cfntypes.StackStatusRollbackComplete)}, wantErr: shadow.ErrNotFound},
		{name: "deleted", stub: cfnStub{out: stack(cfntypes.StackStatusDeleteComplete)}, wantErr: shadow.ErrNotFound},
		{name: "throttled", stub: cfnStub{err: apiErr("Throttling")}, wantErr: awssdk.ErrThrottled},
		{name: "another validation error", stub: cfnStub{err: apiErr("ValidationError")}, wantErr: shadow.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := awssdk.StackOutputs(context.Background(), tc.stub, "ShadowScale")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if got["TableName"] != tc.want {
				t.Errorf("outputs %v, want TableName %q", got, tc.want)
			}
		})
	}
}

// asgOpStub records the tag request and answers the policy reads.
type asgOpStub struct {
	tags     *autoscaling.CreateOrUpdateTagsInput
	policies []asgtypes.ScalingPolicy
	actions  []asgtypes.ScheduledUpdateGroupAction
}

func (s *asgOpStub) CreateOrUpdateTags(_ context.Context, in *autoscaling.CreateOrUpdateTagsInput, _ ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error) {
	s.tags = in
	return &autoscaling.CreateOrUpdateTagsOutput{}, nil
}

func (s *asgOpStub) DescribePolicies(context.Context, *autoscaling.DescribePoliciesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribePoliciesOutput, error) {
	return &autoscaling.DescribePoliciesOutput{ScalingPolicies: s.policies}, nil
}

func (s *asgOpStub) DescribeScheduledActions(context.Context, *autoscaling.DescribeScheduledActionsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeScheduledActionsOutput, error) {
	return &autoscaling.DescribeScheduledActionsOutput{ScheduledUpdateGroupActions: s.actions}, nil
}

func TestTagGroupSendsOneGroupTag(t *testing.T) {
	s := &asgOpStub{}
	if err := awssdk.TagGroup(context.Background(), s, "web", shadow.TagMode, "act"); err != nil {
		t.Fatal(err)
	}
	if s.tags == nil || len(s.tags.Tags) != 1 {
		t.Fatalf("request %+v", s.tags)
	}
	tg := s.tags.Tags[0]
	if aws.ToString(tg.ResourceId) != "web" || aws.ToString(tg.ResourceType) != "auto-scaling-group" || aws.ToString(tg.Key) != shadow.TagMode ||
		aws.ToString(tg.Value) != "act" || tg.PropagateAtLaunch == nil || *tg.PropagateAtLaunch {
		t.Errorf("tag %+v: want the group's own, not propagated to its instances", tg)
	}
	if err := awssdk.TagGroup(context.Background(), s, "", shadow.TagMode, "act"); !errors.Is(err, shadow.ErrInvalid) {
		t.Errorf("no group: %v", err)
	}
}

func TestGroupPoliciesAndScheduledActions(t *testing.T) {
	s := &asgOpStub{
		policies: []asgtypes.ScalingPolicy{
			{AutoScalingGroupName: aws.String("web"), PolicyName: aws.String("steps"), PolicyType: aws.String("StepScaling"), AdjustmentType: aws.String("ChangeInCapacity"),
				StepAdjustments: []asgtypes.StepAdjustment{{ScalingAdjustment: aws.Int32(1)}, {ScalingAdjustment: aws.Int32(2)}}, Enabled: aws.Bool(false)},
			{AutoScalingGroupName: aws.String("web"), PolicyName: aws.String("cpu"), PolicyType: aws.String("TargetTrackingScaling"),
				TargetTrackingConfiguration: &asgtypes.TargetTrackingConfiguration{TargetValue: aws.Float64(40), DisableScaleIn: aws.Bool(true),
					PredefinedMetricSpecification: &asgtypes.PredefinedMetricSpecification{PredefinedMetricType: asgtypes.MetricTypeASGAverageCPUUtilization}}},
			{AutoScalingGroupName: aws.String("other"), PolicyName: aws.String("not-ours")},
		},
		actions: []asgtypes.ScheduledUpdateGroupAction{
			{AutoScalingGroupName: aws.String("web"), ScheduledActionName: aws.String("night"), Recurrence: aws.String("0 22 * * *"), DesiredCapacity: aws.Int32(1)},
		},
	}
	ps, err := awssdk.GroupScalingPolicies(context.Background(), s, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name != "cpu" || ps[0].Detail != "keeps ASGAverageCPUUtilization at 40; never scales in" || !ps[0].Enabled ||
		ps[1].Name != "steps" || ps[1].Enabled || ps[1].Detail != "2 steps (ChangeInCapacity)" {
		t.Errorf("policies %+v", ps)
	}
	as, err := awssdk.GroupScheduledActions(context.Background(), s, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Recurrence != "0 22 * * *" || as[0].Desired == nil || *as[0].Desired != 1 || as[0].Min != nil {
		t.Errorf("scheduled actions %+v", as)
	}
}
