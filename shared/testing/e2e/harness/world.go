//go:build e2e

package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

// The two Availability Zones of the world.
var AZs = []string{"us-east-1a", "us-east-1b"}

// AMI is an image moto knows: the live instances' and the arm64 shadow
// template's. AMIx86 is another, the x86_64 shadow template's, so a test
// can tell which template a shadow came from by its image.
const (
	AMI    = "ami-12c6146b"
	AMIx86 = "ami-03cf127a"
)

// WorldOptions shape the world.
type WorldOptions struct {
	// Stack and Group are prefixes: the world appends its ID to every name
	// (see the package doc).
	Stack    string // default "shadowscale-e2e"
	Group    string // default "web"
	LiveType string // default "m7g.xlarge"
	Desired  int    // default 2
	// NotEnrolled leaves the group without shadowscale:enrolled=true.
	NotEnrolled bool
	// Mode is the group's shadowscale:mode tag ("" for none).
	Mode string
	// PoolCapacity per AZ (default 50).
	PoolCapacity int
	// StreamShards of the mutation stream (default 2).
	StreamShards int
}

// World is the AWS side the plane runs against: one test's namespace.
type World struct {
	// ID is in every name of the world (Name).
	ID             string
	Stack          string
	Group          string
	LiveType       string
	VPC            string
	LiveSubnets    map[string]string // AZ -> subnet
	PoolSubnets    map[string]string // AZ -> shadow pool subnet
	ShadowTemplate string            // the arm64 shadow launch template's id
	LiveTemplate   string
	Table          string
	Stream         string
	StreamARN      string
	QueueURL       string
	SecretARN      string
	AgentKey       string
	Pools          shadow.Pools
	// ShadowTemplateX86 is the x86_64 shadow launch template's id (image AMIx86).
	ShadowTemplateX86 string
	// Endpoint is the world's scope on the server (see the package doc):
	// what w.FunctionEnv gives the functions.
	Endpoint string
	// Scoped has the SDK clients through the world's scope: build the
	// plane's handlers in process on Scoped.Cfg.
	Scoped *Env
	// CFNStack is the CloudFormation stack DeployStack made ("": none).
	CFNStack string
	base     string // the endpoint the world was set up on
	scope    *scopeProxy
}

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// NewWorld sets a world up for a test (Setup) and tears it down at the
// test's cleanup, best effort: what it could not remove is logged. It is
// the way a test gets its world (see the package doc).
func (e *Env) NewWorld(t TB, opt WorldOptions) *World {
	t.Helper()
	ctx := context.Background()
	w, err := e.Setup(ctx, opt)
	if err != nil {
		t.Fatalf("setting the world up: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Teardown(context.Background(), w); err != nil {
			t.Logf("world %s: teardown left something behind (best effort): %v", w.ID, err)
		}
	})
	return w
}

// Name returns what plus the world's ID: the name of anything else a test
// creates in the world.
func (w *World) Name(what string) string { return what + "-" + w.ID }

// ScopeGroups adds Auto Scaling groups to the world: the plane's clients
// through the world's scope list them with the world's own group when
// they list the enrolled groups, and Teardown deletes them.
func (w *World) ScopeGroups(names ...string) {
	if w.scope != nil {
		w.scope.add(names...)
	}
}

// Groups returns the world's Auto Scaling groups: its own and those added
// with ScopeGroups.
func (w *World) Groups() []string {
	if w.scope == nil {
		return []string{w.Group}
	}
	return w.scope.names()
}

// newWorldID returns 8 random hex digits: no two worlds share one, on one
// server or across the test processes sharing it.
func newWorldID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("making a world id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Setup creates the world and waits for the group's instances to run.
// Every name carries a fresh world ID. On an error it removes, best effort,
// what it had made. Tests use NewWorld, which also tears the world down.
func (e *Env) Setup(ctx context.Context, opt WorldOptions) (*World, error) {
	w, err := e.setup(ctx, opt)
	if err != nil && w != nil {
		_ = e.Teardown(context.WithoutCancel(ctx), w)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (e *Env) setup(ctx context.Context, opt WorldOptions) (*World, error) {
	if opt.Stack == "" {
		opt.Stack = "shadowscale-e2e"
	}
	if opt.Group == "" {
		opt.Group = "web"
	}
	if opt.LiveType == "" {
		opt.LiveType = "m7g.xlarge"
	}
	if opt.Desired == 0 {
		opt.Desired = 2
	}
	if opt.PoolCapacity == 0 {
		opt.PoolCapacity = 50
	}
	if opt.StreamShards == 0 {
		opt.StreamShards = 2
	}
	id, err := newWorldID()
	if err != nil {
		return nil, err
	}
	w := &World{
		ID: id, LiveType: opt.LiveType,
		LiveSubnets: map[string]string{}, PoolSubnets: map[string]string{}, Pools: shadow.Pools{},
		AgentKey: "e2e-agent-key-0123456789abcdef", base: e.Endpoint,
	}
	w.Stack, w.Group = w.Name(opt.Stack), w.Name(opt.Group)
	w.Table, w.Stream = w.Stack+"-table", w.Stack+"-mutations"
	if w.scope, err = startScopeProxy(e.Endpoint, w.Group); err != nil {
		return nil, err
	}
	w.Endpoint = w.scope.URL
	if w.Scoped, err = clients(ctx, e.Server, w.Endpoint); err != nil {
		return w, err
	}
	vpc, err := e.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16"), TagSpecifications: []ec2types.TagSpecification{{
		ResourceType: ec2types.ResourceTypeVpc, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(w.Stack)}},
	}}})
	if err != nil {
		return w, fmt.Errorf("creating vpc: %w", err)
	}
	w.VPC = aws.ToString(vpc.Vpc.VpcId)
	for i, az := range AZs {
		live, err := e.subnet(ctx, w.VPC, az, fmt.Sprintf("10.20.%d.0/24", i+1), w.Name("live-"+az))
		if err != nil {
			return w, err
		}
		w.LiveSubnets[az] = live
		pool, err := e.subnet(ctx, w.VPC, az, fmt.Sprintf("10.20.%d.0/24", 101+i), w.Name("shadow-pool-"+az))
		if err != nil {
			return w, err
		}
		w.PoolSubnets[az] = pool
		w.Pools[az] = shadow.Pool{Subnets: []string{pool}, Capacity: opt.PoolCapacity}
	}
	if w.ShadowTemplate, err = e.template(ctx, w.Stack+"-shadow", "t4g.nano", AMI); err != nil {
		return w, err
	}
	if w.ShadowTemplateX86, err = e.template(ctx, w.Stack+"-shadow-x86", "t3.nano", AMIx86); err != nil {
		return w, err
	}
	if w.LiveTemplate, err = e.template(ctx, w.Stack+"-live", opt.LiveType, AMI); err != nil {
		return w, err
	}
	var tags []asgtypes.Tag
	if !opt.NotEnrolled {
		tags = append(tags, asgTag(w.Group, shadow.TagEnrolled, "true"))
	}
	if opt.Mode != "" {
		tags = append(tags, asgTag(w.Group, shadow.TagMode, opt.Mode))
	}
	subnets := []string{w.LiveSubnets[AZs[0]], w.LiveSubnets[AZs[1]]}
	if _, err := e.ASG.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(w.Group),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.LiveTemplate), Version: aws.String("$Latest")},
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(int32(max(4, opt.Desired*2))),
		DesiredCapacity:      aws.Int32(int32(opt.Desired)),
		VPCZoneIdentifier:    aws.String(strings.Join(subnets, ",")),
		Tags:                 tags,
	}); err != nil {
		return w, fmt.Errorf("creating group %s: %w", w.Group, err)
	}
	if err := awssdk.CreateTable(ctx, e.DDB, w.Table); err != nil {
		return w, err
	}
	if _, err := e.Kinesis.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(w.Stream), ShardCount: aws.Int32(int32(opt.StreamShards))}); err != nil {
		return w, fmt.Errorf("creating stream %s: %w", w.Stream, err)
	}
	ds, err := e.Kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(w.Stream)})
	if err != nil {
		return w, fmt.Errorf("describing stream %s: %w", w.Stream, err)
	}
	w.StreamARN = aws.ToString(ds.StreamDescriptionSummary.StreamARN)
	q, err := e.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(w.Stack + "-dead-letters")})
	if err != nil {
		return w, fmt.Errorf("creating queue: %w", err)
	}
	w.QueueURL = aws.ToString(q.QueueUrl)
	sec, err := e.Secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(w.Stack + "/agent-key"), SecretString: aws.String(w.AgentKey)})
	if err != nil {
		return w, fmt.Errorf("creating agent secret: %w", err)
	}
	w.SecretARN = aws.ToString(sec.ARN)
	if _, err := e.GroupInstances(ctx, w.Group, opt.Desired); err != nil {
		return w, err
	}
	return w, nil
}

func asgTag(group, k, v string) asgtypes.Tag {
	return asgtypes.Tag{ResourceId: aws.String(group), ResourceType: aws.String("auto-scaling-group"), Key: aws.String(k), Value: aws.String(v), PropagateAtLaunch: aws.Bool(false)}
}

func (e *Env) subnet(ctx context.Context, vpc, az, cidr, name string) (string, error) {
	out, err := e.EC2.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: aws.String(vpc), CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(az),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSubnet, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String(name)}}}},
	})
	if err != nil {
		return "", fmt.Errorf("creating subnet %s in %s: %w", cidr, az, err)
	}
	return aws.ToString(out.Subnet.SubnetId), nil
}

func (e *Env) template(ctx context.Context, name, itype, ami string) (string, error) {
	out, err := e.EC2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String(ami), InstanceType: ec2types.InstanceType(itype)},
	})
	if err != nil {
		return "", fmt.Errorf("creating launch template %s: %w", name, err)
	}
	return aws.ToString(out.LaunchTemplate.LaunchTemplateId), nil
}

// GroupInstances returns the ids of a group's instances (sorted), waiting
// until it has want of them (want < 0: no wait).
func (e *Env) GroupInstances(ctx context.Context, group string, want int) ([]string, error) {
	var ids []string
	err := Eventually(ctx, 30*time.Second, func() (bool, error) {
		out, err := e.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{group}})
		if err != nil {
			return false, err
		}
		ids = ids[:0]
		for _, g := range out.AutoScalingGroups {
			for _, i := range g.Instances {
				if !strings.HasPrefix(string(i.LifecycleState), "Terminat") {
					ids = append(ids, aws.ToString(i.InstanceId))
				}
			}
		}
		return want < 0 || len(ids) == want, fmt.Errorf("group %s has %d instances, want %d", group, len(ids), want)
	})
	sort.Strings(ids)
	return ids, err
}

// Instance describes one instance (ok false when EC2 does not know it).
func (e *Env) Instance(ctx context.Context, id string) (ec2types.Instance, bool, error) {
	out, err := e.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: []string{id}}}})
	if err != nil {
		return ec2types.Instance{}, false, err
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			return i, true, nil
		}
	}
	return ec2types.Instance{}, false, nil
}

// Shadows returns the stack's shadow instances in any state but
// terminated, by id.
func (e *Env) Shadows(ctx context.Context, stack string) ([]ec2types.Instance, error) {
	out, err := e.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + shadow.TagRole), Values: []string{shadow.RoleShadow}},
		{Name: aws.String("tag:" + shadow.TagStack), Values: []string{stack}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "shutting-down", "stopping", "stopped"}},
	}})
	if err != nil {
		return nil, err
	}
	var insts []ec2types.Instance
	for _, r := range out.Reservations {
		insts = append(insts, r.Instances...)
	}
	sort.Slice(insts, func(a, b int) bool { return aws.ToString(insts[a].InstanceId) < aws.ToString(insts[b].InstanceId) })
	return insts, nil
}

// WorldInstances returns every instance in the world's VPC (its live
// instances, its shadows, and whatever else a test launched in its
// subnets), in any state, by id.
func (e *Env) WorldInstances(ctx context.Context, w *World) ([]ec2types.Instance, error) {
	var insts []ec2types.Instance
	p := ec2.NewDescribeInstancesPaginator(e.EC2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{w.VPC}}}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing the instances of vpc %s: %w", w.VPC, err)
		}
		for _, r := range out.Reservations {
			insts = append(insts, r.Instances...)
		}
	}
	sort.Slice(insts, func(a, b int) bool { return aws.ToString(insts[a].InstanceId) < aws.ToString(insts[b].InstanceId) })
	return insts, nil
}

// Teardown removes the world, best effort: its groups (with their
// instances), every other instance in its VPC, its launch templates,
// table, stream, queue, secret, subnets and VPC, and stops its scope. It
// carries on past a failure and returns them all; what is already gone
// counts as removed.
func (e *Env) Teardown(ctx context.Context, w *World) error {
	if w == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var errs []error
	try := func(what string, err error) {
		if err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	if w.CFNStack != "" {
		_, err := e.CFN.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(w.CFNStack)})
		try("deleting stack "+w.CFNStack, err)
	}
	for _, g := range w.Groups() {
		_, err := e.ASG.DeleteAutoScalingGroup(ctx, &autoscaling.DeleteAutoScalingGroupInput{AutoScalingGroupName: aws.String(g), ForceDelete: aws.Bool(true)})
		try("deleting group "+g, err)
	}
	if w.VPC != "" {
		insts, err := e.WorldInstances(ctx, w)
		try("listing instances", err)
		var ids []string
		for _, i := range insts {
			if i.State == nil || i.State.Name != ec2types.InstanceStateNameTerminated {
				ids = append(ids, aws.ToString(i.InstanceId))
			}
		}
		if len(ids) > 0 {
			_, err := e.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
			try(fmt.Sprintf("terminating %d instances", len(ids)), err)
		}
	}
	for _, lt := range []string{w.ShadowTemplate, w.LiveTemplate} {
		if lt != "" {
			_, err := e.EC2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateId: aws.String(lt)})
			try("deleting launch template "+lt, err)
		}
	}
	if w.Table != "" {
		_, err := e.DDB.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(w.Table)})
		try("deleting table "+w.Table, err)
	}
	if w.Stream != "" {
		_, err := e.Kinesis.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(w.Stream), EnforceConsumerDeletion: aws.Bool(true)})
		try("deleting stream "+w.Stream, err)
	}
	if w.QueueURL != "" {
		_, err := e.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(w.QueueURL)})
		try("deleting queue", err)
	}
	if w.SecretARN != "" {
		_, err := e.Secrets.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(w.SecretARN), ForceDeleteWithoutRecovery: aws.Bool(true)})
		try("deleting secret", err)
	}
	for _, m := range []map[string]string{w.LiveSubnets, w.PoolSubnets} {
		for _, sn := range m {
			_, err := e.EC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(sn)})
			try("deleting subnet "+sn, err)
		}
	}
	if w.VPC != "" {
		_, err := e.EC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(w.VPC)})
		try("deleting vpc "+w.VPC, err)
	}
	try("stopping the scope proxy", w.scope.stop())
	return errors.Join(errs...)
}

// gone reports an error saying the thing is not there (any more).
func gone(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	code := ae.ErrorCode()
	return strings.HasSuffix(code, "NotFound") || strings.HasSuffix(code, "NotFoundException") ||
		code == "AWS.SimpleQueueService.NonExistentQueue" || code == "QueueDoesNotExist" ||
		(code == "ValidationError" && strings.Contains(strings.ToLower(ae.ErrorMessage()), "not found"))
}

// TerminateInstance terminates any instance behind the plane's back.
func (e *Env) TerminateInstance(ctx context.Context, id string) error {
	_, err := e.EC2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	return err
}

// Tags returns an EC2 resource's tags as a map.
func Tags(ts []ec2types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// ShadowTemplates are the shadow launch templates by architecture
// (SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES).
func (w *World) ShadowTemplates() map[string]string {
	return map[string]string{"arm64": w.ShadowTemplate, "x86_64": w.ShadowTemplateX86}
}

// FunctionEnv is the environment of a plane function in this world. Given
// the Env the world was set up on, the function calls the server through
// the world's scope (see the package doc); given another (a fault proxy's,
// itself in front of w.Endpoint), that one.
func (w *World) FunctionEnv(e *Env) map[string]string {
	pools, _ := json.Marshal(w.Pools)
	templates, _ := json.Marshal(w.ShadowTemplates())
	env := e.FunctionEnv()
	if e.Endpoint == w.base && w.Endpoint != "" {
		env["AWS_ENDPOINT_URL"] = w.Endpoint
	}
	for k, v := range map[string]string{
		lambdaenv.EnvStack:           w.Stack,
		lambdaenv.EnvTable:           w.Table,
		lambdaenv.EnvPools:           string(pools),
		lambdaenv.EnvLaunchTemplates: string(templates),
		lambdaenv.EnvAgentSecret:     w.SecretARN,
		lambdaenv.EnvDLQURL:          w.QueueURL,
		lambdaenv.EnvStream:          w.Stream,
		lambdaenv.EnvAgentPort:       strconv.Itoa(shadow.DefaultAgentPort),
		lambdaenv.EnvLogLevel:        "debug",
		// The suite's fan-out tests expect an instance EC2 does not know
		// to be dead-lettered at once (moto is consistent); the grace
		// itself is proven by TestResolverRetriesAnInstanceEC2DoesNotShowYet.
		lambdaenv.EnvUnknownGrace: "0s",
	} {
		env[k] = v
	}
	return env
}
