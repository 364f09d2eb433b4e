package shadowscaling

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// StackProps configure the shadowscale stack.
type StackProps struct {
	awscdk.StackProps
	Config Config
}

// NewShadowScaleStack returns the stack named by props.Config.StackName
// holding one ShadowScaling and the outputs an operator (and the smoke
// script) needs. The stack is environment-agnostic: it synthesizes
// offline, and the CLI's credentials choose account and region.
func NewShadowScaleStack(scope constructs.Construct, props StackProps) (awscdk.Stack, *ShadowScaling, error) {
	if err := props.Config.Validate(); err != nil {
		return nil, nil, err
	}
	sp := props.StackProps
	sp.StackName = jsii.String(props.Config.StackName)
	if sp.Description == nil {
		sp.Description = jsii.String("shadowscale: predictive scaling for EC2 Auto Scaling groups with shadow instances")
	}
	stack := awscdk.NewStack(scope, jsii.String(props.Config.StackName), &sp)
	plane, err := NewShadowScaling(stack, "Plane", Props{Config: props.Config, StackName: props.Config.StackName})
	if err != nil {
		return nil, nil, err
	}

	out := func(id, desc string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out("TableName", "SHADOWSCALE_TABLE", plane.Table.TableName())
	out("StreamName", "SHADOWSCALE_STREAM: the mutation stream producers put to (partition key = live instance id)", plane.Stream.StreamName())
	out("DeadLetterQueueUrl", "SHADOWSCALE_DLQ_URL", plane.DeadLetters.QueueUrl())
	out("DeadLetterBucketName", "SHADOWSCALE_DLQ_BUCKET: dead letters too large for a message (dead-letters/), the fan-out mapping's on-failure records (aws/lambda/)", plane.DeadLetterBucket.BucketName())
	out("AgentSecretName", "SHADOWSCALE_AGENT_SECRET_ARN (a name is accepted): the agents' master key, read by the fanout and reconciler only", jsii.String(plane.AgentSecretName))
	out("AgentEnrollmentKeyArn", "SHADOWSCALE_AGENT_KMS_KEY and the agents' --kms-key: seals each instance's agent key for that instance", plane.AgentEnrollmentKey.KeyArn())
	out("ShadowLaunchTemplateId", "the arm64 shadow launch template (SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES)", plane.LaunchTemplates["arm64"].LaunchTemplateId())
	out("ShadowLaunchTemplateX86Id", "the x86_64 shadow launch template (SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES)", plane.LaunchTemplates["x86_64"].LaunchTemplateId())
	out("ShadowSecurityGroupId", "security group of the shadows", plane.ShadowSG.SecurityGroupId())
	out("PlaneSecurityGroupId", "allow this group on the agent port of your live instances", plane.PlaneSG.SecurityGroupId())
	out("ShadowPools", "SHADOWSCALE_POOLS", plane.PoolsJSON)
	out("DashboardName", "CloudWatch dashboard", plane.Dashboard.DashboardName())
	out("LiveAgentPolicyArn", "attach to your live instances' role (read the agent binary, open the instance's own agent enrollment)", plane.LiveAgentPolicy.ManagedPolicyArn())
	out("LiveAgentUserData", "add to your live launch template's user data (bash) to run the agent on live instances", plane.LiveUserData)
	for _, fn := range Functions {
		id := strings.ToUpper(fn[:1]) + fn[1:]
		out(id+"FunctionName", "the "+fn+" function", plane.Functions[fn].FunctionName())
	}
	out("VpcId", "VPC of the plane and the shadows", plane.Vpc.VpcId())
	if plane.DemoLiveSG != nil {
		live := plane.Vpc.SelectSubnets(subnetGroup(demoLiveGroup))
		out("DemoLiveSubnetIds", "demo VPC: subnets for a demo live Auto Scaling group", jsii.String(strings.Join(derefAll(*live.SubnetIds), ",")))
		out("DemoLiveSecurityGroupId", "demo VPC: security group for demo live instances", plane.DemoLiveSG.SecurityGroupId())
	}
	// Which groups the Auto Scaling rules match: the CLI's enroll puts the
	// launch hook only on a group whose lifecycle actions reach the plane.
	eventGroups := "*"
	if cfg := props.Config; len(cfg.Groups) > 0 && !cfg.AsgEventsAllGroups {
		eventGroups = strings.Join(orderedGroups(cfg.Groups), ",")
	}
	out("AutoScalingEventGroups", "the groups whose Auto Scaling events (launches, terminations, launch lifecycle actions) reach the plane: * for every group, else the named groups (asgEventsAllGroups)", jsii.String(eventGroups))
	if hook := props.Config.LaunchLifecycleHook; hook != "" {
		out("LaunchLifecycleHookName", "SHADOWSCALE_LAUNCH_HOOK: the launch lifecycle hook whose actions the plane completes; `shadowscale enroll` puts it on the group", jsii.String(hook))
	}
	if plane.AlarmTopic != nil {
		out("AlarmTopicArn", "SNS topic of the alarms", plane.AlarmTopic.TopicArn())
	}
	return stack, plane, nil
}

func derefAll(in []*string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = *s
	}
	return out
}

func subnetGroup(name string) *awsec2.SubnetSelection {
	return &awsec2.SubnetSelection{SubnetGroupName: jsii.String(name)}
}
