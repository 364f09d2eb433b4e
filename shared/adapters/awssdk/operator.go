package awssdk

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// What the operator CLI (cmd/shadowscale: groups, status, forecast,
// decisions, enroll, mode) reads of a deployed stack beyond the plane's own
// adapters: the stack's outputs, a function's environment, a group's own
// scaling policies and scheduled actions; and the one write it makes, a
// tag on a group. The plane never calls these.

// CloudFormationAPI is the part of *cloudformation.Client the operator
// helpers use.
type CloudFormationAPI interface {
	DescribeStacks(ctx context.Context, params *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// LambdaConfigAPI is the part of *lambda.Client the operator helpers use.
type LambdaConfigAPI interface {
	GetFunctionConfiguration(ctx context.Context, params *lambda.GetFunctionConfigurationInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionConfigurationOutput, error)
}

// GroupPoliciesAPI is the part of *autoscaling.Client that reads a group's
// own scaling policies and scheduled actions.
type GroupPoliciesAPI interface {
	DescribePolicies(ctx context.Context, params *autoscaling.DescribePoliciesInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribePoliciesOutput, error)
	DescribeScheduledActions(ctx context.Context, params *autoscaling.DescribeScheduledActionsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeScheduledActionsOutput, error)
}

// GroupTagAPI is the part of *autoscaling.Client that tags a group.
type GroupTagAPI interface {
	CreateOrUpdateTags(ctx context.Context, params *autoscaling.CreateOrUpdateTagsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CreateOrUpdateTagsOutput, error)
}

// GroupUntagAPI is the part of *autoscaling.Client UntagGroup uses.
type GroupUntagAPI interface {
	DeleteTags(ctx context.Context, params *autoscaling.DeleteTagsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DeleteTagsOutput, error)
}

var _ GroupUntagAPI = (*autoscaling.Client)(nil)

var (
	_ CloudFormationAPI = (*cloudformation.Client)(nil)
	_ LambdaConfigAPI   = (*lambda.Client)(nil)
	_ GroupPoliciesAPI  = (*autoscaling.Client)(nil)
	_ GroupTagAPI       = (*autoscaling.Client)(nil)
)

// StackOutputs returns a CloudFormation stack's outputs, key -> value. A
// stack that does not exist (or whose deletion completed) is an error
// wrapping shadow.ErrNotFound; so is a stack whose creation failed or was
// rolled back (it has no usable outputs).
func StackOutputs(ctx context.Context, api CloudFormationAPI, stack string) (map[string]string, error) {
	if stack == "" {
		return nil, fmt.Errorf("%w: stack name is empty", shadow.ErrInvalid)
	}
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		// CloudFormation says "Stack with id X does not exist" as a
		// ValidationError: the one validation error a name can cause.
		if ErrorCode(err) == "ValidationError" && strings.Contains(err.Error(), "does not exist") {
			return nil, fmt.Errorf("stack %s: %w: %w", stack, shadow.ErrNotFound, err)
		}
		return nil, fmt.Errorf("describing stack %s: %w", stack, Classify(err))
	}
	for _, s := range out.Stacks {
		if aws.ToString(s.StackName) != stack && aws.ToString(s.StackId) != stack {
			continue
		}
		switch s.StackStatus {
		case cfntypes.StackStatusDeleteComplete, cfntypes.StackStatusCreateFailed, cfntypes.StackStatusRollbackComplete,
			cfntypes.StackStatusRollbackFailed, cfntypes.StackStatusRollbackInProgress, cfntypes.StackStatusDeleteInProgress:
			return nil, fmt.Errorf("stack %s is %s: %w", stack, s.StackStatus, shadow.ErrNotFound)
		}
		outs := make(map[string]string, len(s.Outputs))
		for _, o := range s.Outputs {
			outs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
		return outs, nil
	}
	return nil, fmt.Errorf("stack %s: %w", stack, shadow.ErrNotFound)
}

// FunctionEnvironment returns a Lambda function's environment variables.
func FunctionEnvironment(ctx context.Context, api LambdaConfigAPI, function string) (map[string]string, error) {
	if function == "" {
		return nil, fmt.Errorf("%w: function name is empty", shadow.ErrInvalid)
	}
	out, err := api.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(function)})
	if err != nil {
		return nil, fmt.Errorf("reading the configuration of function %s: %w", function, Classify(err))
	}
	env := map[string]string{}
	if out.Environment != nil {
		for k, v := range out.Environment.Variables {
			env[k] = v
		}
	}
	return env, nil
}

// ScalingPolicy is one of a group's own scaling policies, as an operator
// reads it.
type ScalingPolicy struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // SimpleScaling, StepScaling, TargetTrackingScaling, PredictiveScaling
	Enabled bool   `json:"enabled"`
	// Detail says what it does, in words (target, adjustment, mode).
	Detail string `json:"detail,omitempty"`
}

// GroupScalingPolicies returns the group's scaling policies, by name.
func GroupScalingPolicies(ctx context.Context, api GroupPoliciesAPI, group string) ([]ScalingPolicy, error) {
	var out []ScalingPolicy
	p := autoscaling.NewDescribePoliciesPaginator(api, &autoscaling.DescribePoliciesInput{AutoScalingGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing the scaling policies of %s: %w", group, Classify(err))
		}
		for _, sp := range page.ScalingPolicies {
			if n := aws.ToString(sp.AutoScalingGroupName); n != "" && n != group {
				continue // the filter, re-checked: an emulator may ignore it
			}
			out = append(out, ScalingPolicy{
				Name: aws.ToString(sp.PolicyName), Type: aws.ToString(sp.PolicyType),
				Enabled: sp.Enabled == nil || *sp.Enabled, Detail: policyDetail(sp),
			})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func policyDetail(sp asgtypes.ScalingPolicy) string {
	var parts []string
	if tt := sp.TargetTrackingConfiguration; tt != nil {
		metric := "a custom metric"
		if m := tt.PredefinedMetricSpecification; m != nil {
			metric = string(m.PredefinedMetricType)
		}
		parts = append(parts, fmt.Sprintf("keeps %s at %s", metric, strconv.FormatFloat(aws.ToFloat64(tt.TargetValue), 'g', -1, 64)))
		if aws.ToBool(tt.DisableScaleIn) {
			parts = append(parts, "never scales in")
		}
	}
	if sp.ScalingAdjustment != nil {
		parts = append(parts, fmt.Sprintf("adjusts by %d (%s)", *sp.ScalingAdjustment, aws.ToString(sp.AdjustmentType)))
	}
	if n := len(sp.StepAdjustments); n > 0 {
		parts = append(parts, fmt.Sprintf("%d steps (%s)", n, aws.ToString(sp.AdjustmentType)))
	}
	if pc := sp.PredictiveScalingConfiguration; pc != nil && aws.ToString(sp.PolicyType) == "PredictiveScaling" {
		mode := string(pc.Mode)
		if mode == "" {
			mode = "ForecastOnly" // the API's default
		}
		parts = append(parts, "predictive, mode "+mode)
	}
	if n := len(sp.Alarms); n > 0 {
		parts = append(parts, fmt.Sprintf("%d alarms", n))
	}
	return strings.Join(parts, "; ")
}

// ScheduledAction is one of a group's scheduled actions. A nil size is
// one the action leaves alone.
type ScheduledAction struct {
	Name       string    `json:"name"`
	Recurrence string    `json:"recurrence,omitempty"` // cron, in TimeZone (UTC when empty)
	TimeZone   string    `json:"time_zone,omitempty"`
	Start      time.Time `json:"start,omitzero"`
	End        time.Time `json:"end,omitzero"`
	Min        *int      `json:"min,omitempty"`
	Max        *int      `json:"max,omitempty"`
	Desired    *int      `json:"desired,omitempty"`
}

// GroupScheduledActions returns the group's scheduled actions, by name.
func GroupScheduledActions(ctx context.Context, api GroupPoliciesAPI, group string) ([]ScheduledAction, error) {
	var out []ScheduledAction
	p := autoscaling.NewDescribeScheduledActionsPaginator(api, &autoscaling.DescribeScheduledActionsInput{AutoScalingGroupName: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing the scheduled actions of %s: %w", group, Classify(err))
		}
		for _, a := range page.ScheduledUpdateGroupActions {
			if n := aws.ToString(a.AutoScalingGroupName); n != "" && n != group {
				continue
			}
			sa := ScheduledAction{Name: aws.ToString(a.ScheduledActionName), Recurrence: aws.ToString(a.Recurrence), TimeZone: aws.ToString(a.TimeZone),
				Min: intPtr(a.MinSize), Max: intPtr(a.MaxSize), Desired: intPtr(a.DesiredCapacity)}
			if a.StartTime != nil {
				sa.Start = a.StartTime.UTC()
			}
			if a.EndTime != nil {
				sa.End = a.EndTime.UTC()
			}
			out = append(out, sa)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func intPtr(v *int32) *int {
	if v == nil {
		return nil
	}
	i := int(*v)
	return &i
}

// TagGroup sets one tag on an Auto Scaling group (not propagated to its
// instances): how an operator enrolls a group or sets its mode. It changes
// nothing else of the group.
func TagGroup(ctx context.Context, api GroupTagAPI, group, key, value string) error {
	if group == "" || key == "" {
		return fmt.Errorf("%w: tagging a group: group and key are required", shadow.ErrInvalid)
	}
	_, err := api.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []asgtypes.Tag{{
		ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"),
		Key: aws.String(key), Value: aws.String(value), PropagateAtLaunch: aws.Bool(false),
	}}})
	if err != nil {
		return fmt.Errorf("tagging group %s with %s=%s: %w", group, key, value, Classify(err))
	}
	return nil
}

// UntagGroup removes the tags keys from the group (a key it does not
// carry is no error).
func UntagGroup(ctx context.Context, api GroupUntagAPI, group string, keys ...string) error {
	if group == "" || len(keys) == 0 {
		return fmt.Errorf("%w: untagging a group: group and keys are required", shadow.ErrInvalid)
	}
	tags := make([]asgtypes.Tag, len(keys))
	for i, k := range keys {
		tags[i] = asgtypes.Tag{ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(k)}
	}
	if _, err := api.DeleteTags(ctx, &autoscaling.DeleteTagsInput{Tags: tags}); err != nil {
		return fmt.Errorf("removing the tags %s from group %s: %w", strings.Join(keys, ", "), group, Classify(err))
	}
	return nil
}

// TableDescribeAPI is the part of *dynamodb.Client that tells whether a
// table is there.
type TableDescribeAPI interface {
	DescribeTable(ctx context.Context, params *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ TableDescribeAPI = (*dynamodb.Client)(nil)

// TableExists returns nil when the table is there, an error wrapping
// shadow.ErrNotFound when it is not.
func TableExists(ctx context.Context, api TableDescribeAPI, name string) error {
	if name == "" {
		return fmt.Errorf("%w: table name is empty", shadow.ErrInvalid)
	}
	if _, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}); err != nil {
		return fmt.Errorf("describing table %s: %w", name, Classify(err))
	}
	return nil
}
