package awssdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// EC2API is the part of *ec2.Client the Fleet uses.
type EC2API interface {
	RunInstances(ctx context.Context, params *ec2.RunInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	TerminateInstances(ctx context.Context, params *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeInstanceStatus(ctx context.Context, params *ec2.DescribeInstanceStatusInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstanceStatusOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// TagASGName is the tag EC2 Auto Scaling puts on the instances it launches
// (the aws: prefix is reserved: no user can set it).
const TagASGName = "aws:autoscaling:groupName"

// CPUCreditsStandard is the credit option of burstable shadows.
const CPUCreditsStandard = "standard"

// Page and filter limits of the EC2 API.
const (
	// filterValuesMax bounds the values of one filter in a
	// DescribeInstances call.
	filterValuesMax = 200
	// statusIDsMax is DescribeInstanceStatus' limit on explicit ids.
	statusIDsMax = 100
)

// FleetConfig is how the Fleet launches and recognises shadows.
type FleetConfig struct {
	// Stack is the owning stack: written into shadowscale:stack by the
	// Manager, required here on every instance we terminate.
	Stack string
	// LaunchTemplates are the shadow launch templates by architecture
	// (arm64, x86_64: SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES): AMI of that
	// architecture, user data, security group, instance profile. A shadow
	// launches from the one of its type's architecture (LaunchSpec.Arch):
	// an AMI of the other would fail RunInstances. They must not define
	// network interfaces: the Fleet passes SubnetId.
	LaunchTemplates map[string]string
	// LaunchTemplateVersion defaults to "$Default".
	LaunchTemplateVersion string
}

// Fleet is shadow.Fleet on EC2.
type Fleet struct {
	api     EC2API
	cfg     FleetConfig
	metrics metrics.Sink
	log     *slog.Logger
}

var _ shadow.Fleet = (*Fleet)(nil)

// NewFleet returns a Fleet. A nil sink or logger discards.
func NewFleet(api EC2API, cfg FleetConfig, sink metrics.Sink, log *slog.Logger) (*Fleet, error) {
	var errs []error
	if api == nil {
		errs = append(errs, errors.New("no EC2 client"))
	}
	if cfg.Stack == "" {
		errs = append(errs, errors.New("stack is empty"))
	}
	if len(cfg.LaunchTemplates) == 0 {
		errs = append(errs, errors.New("no shadow launch template"))
	}
	for _, arch := range slices.Sorted(maps.Keys(cfg.LaunchTemplates)) {
		if arch != "arm64" && arch != "x86_64" {
			errs = append(errs, fmt.Errorf("shadow launch template for %q: want arm64 or x86_64", arch))
		}
		if cfg.LaunchTemplates[arch] == "" {
			errs = append(errs, fmt.Errorf("shadow launch template id for %s is empty", arch))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: ec2 fleet: %w", shadow.ErrInvalid, err)
	}
	if cfg.LaunchTemplateVersion == "" {
		cfg.LaunchTemplateVersion = "$Default"
	}
	if sink == nil {
		sink = metrics.Discard{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fleet{api: api, cfg: cfg, metrics: sink, log: log}, nil
}

// Launch implements shadow.Fleet: one RunInstances with the shadow launch
// template of the spec's architecture, the spec's type, subnet (hence AZ)
// and ClientToken, every tag on the instance and its volumes at creation,
// and, for a burstable type, standard CPU credits (T3, T3a and T4g launch
// unlimited by default: a shadow's lag would then follow its credit
// balance, and its bill the surplus credits).
func (f *Fleet) Launch(ctx context.Context, spec shadow.LaunchSpec) (shadow.Instance, error) {
	if spec.SubnetID == "" || spec.InstanceType == "" || len(spec.Tags) == 0 {
		return shadow.Instance{}, fmt.Errorf("%w: launching a shadow of %s: subnet, type and tags are required", shadow.ErrInvalid, spec.LiveID)
	}
	lt, ok := f.cfg.LaunchTemplates[spec.Arch]
	if !ok {
		return shadow.Instance{}, fmt.Errorf("%w: launching a %s shadow of %s: no shadow launch template for architecture %q (have %v)",
			shadow.ErrInvalid, spec.InstanceType, spec.LiveID, spec.Arch, slices.Sorted(maps.Keys(f.cfg.LaunchTemplates)))
	}
	tags := toEC2Tags(spec.Tags)
	in := &ec2.RunInstancesInput{
		MinCount: aws.Int32(1),
		MaxCount: aws.Int32(1),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{
			LaunchTemplateId: aws.String(lt),
			Version:          aws.String(f.cfg.LaunchTemplateVersion),
		},
		InstanceType: ec2types.InstanceType(spec.InstanceType),
		SubnetId:     aws.String(spec.SubnetID),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: tags},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: tags},
		},
	}
	if spec.ClientToken != "" {
		in.ClientToken = aws.String(spec.ClientToken)
	}
	if spec.Burstable {
		in.CreditSpecification = &ec2types.CreditSpecificationRequest{CpuCredits: aws.String(CPUCreditsStandard)}
	}
	out, err := f.api.RunInstances(ctx, in)
	if err != nil {
		return shadow.Instance{}, fmt.Errorf("running shadow instance for %s in %s: %w", spec.LiveID, spec.SubnetID, Classify(err))
	}
	if len(out.Instances) != 1 {
		return shadow.Instance{}, fmt.Errorf("running shadow instance for %s: RunInstances returned %d instances", spec.LiveID, len(out.Instances))
	}
	return fromEC2(out.Instances[0]), nil
}

// Terminate implements shadow.Fleet. It describes the instance first and
// refuses, with shadow.ErrNotOwned (logged and counted as RefusedNotOwned),
// anything that does not carry this stack's shadow tags. An instance already
// gone is not an error.
func (f *Fleet) Terminate(ctx context.Context, id string) error {
	insts, err := f.describe(ctx, []string{id}, false)
	if err != nil {
		return fmt.Errorf("describing %s before terminating it: %w", id, err)
	}
	if len(insts) == 0 || insts[0].State == shadow.Terminated {
		return nil
	}
	inst := insts[0]
	if !inst.IsShadow(f.cfg.Stack) {
		f.metrics.Add("RefusedNotOwned", metrics.Count, 1)
		f.log.WarnContext(ctx, "refused to terminate an instance without our shadow tags",
			"instance", id, "role_tag", inst.Tags[shadow.TagRole], "stack_tag", inst.Tags[shadow.TagStack], "stack", f.cfg.Stack)
		return fmt.Errorf("terminating %s: %w", id, shadow.ErrNotOwned)
	}
	if inst.State == shadow.ShuttingDown {
		return nil
	}
	_, err = f.api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		err = Classify(err)
		if errors.Is(err, shadow.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("terminating shadow %s: %w", id, err)
	}
	return nil
}

// Describe implements shadow.Fleet: the instances with these ids that EC2
// still reports (terminated ones included), with their status checks.
// Unknown and malformed ids are absent, not an error: it filters by
// instance-id rather than naming the ids, which EC2 would reject whole.
func (f *Fleet) Describe(ctx context.Context, ids []string) ([]shadow.Instance, error) {
	return f.describe(ctx, ids, true)
}

// Instances reads EC2 instances and nothing else (no launch, no
// terminate): the fan-out's resolver.
type Instances struct{ f *Fleet }

// NewInstances returns an Instances reader.
func NewInstances(api EC2API) (*Instances, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: ec2 instances: no EC2 client", shadow.ErrInvalid)
	}
	return &Instances{f: &Fleet{api: api, metrics: metrics.Discard{}, log: slog.New(slog.DiscardHandler)}}, nil
}

// Lookup returns the instances with these ids that exist, like
// Fleet.Describe but without their status checks (one DescribeInstances
// call per 200 ids, no DescribeInstanceStatus): states, private addresses,
// Auto Scaling groups and tags. Unknown ids are absent, not an error.
func (i *Instances) Lookup(ctx context.Context, ids []string) ([]shadow.Instance, error) {
	return i.f.describe(ctx, ids, false)
}

func (f *Fleet) describe(ctx context.Context, ids []string, status bool) ([]shadow.Instance, error) {
	ids = uniq(ids)
	var out []shadow.Instance
	for chunk := range slices.Chunk(ids, filterValuesMax) {
		got, err := f.list(ctx, []ec2types.Filter{{Name: aws.String("instance-id"), Values: chunk}})
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	if status {
		if err := f.fillStatus(ctx, out); err != nil {
			return nil, err
		}
	}
	sortByID(out)
	return out, nil
}

// Shadows implements shadow.Fleet: this stack's shadows in every state but
// terminated (those of one live instance when liveID is set), with their
// status checks.
func (f *Fleet) Shadows(ctx context.Context, liveID string) ([]shadow.Instance, error) {
	filters := stackShadowFilters(f.cfg.Stack, "pending", "running", "shutting-down", "stopping", "stopped")
	if liveID != "" {
		filters = append(filters, ec2types.Filter{Name: aws.String("tag:" + shadow.TagLive), Values: []string{liveID}})
	}
	out, err := f.list(ctx, filters)
	if err != nil {
		return nil, fmt.Errorf("listing shadows: %w", err)
	}
	if err := f.fillStatus(ctx, out); err != nil {
		return nil, err
	}
	sortByID(out)
	return out, nil
}

// stackShadowFilters selects a stack's shadows (both shadow tags) in the
// given states.
func stackShadowFilters(stack string, states ...string) []ec2types.Filter {
	return []ec2types.Filter{
		{Name: aws.String("tag:" + shadow.TagRole), Values: []string{shadow.RoleShadow}},
		{Name: aws.String("tag:" + shadow.TagStack), Values: []string{stack}},
		{Name: aws.String("instance-state-name"), Values: states},
	}
}

// list pages through DescribeInstances.
func (f *Fleet) list(ctx context.Context, filters []ec2types.Filter) ([]shadow.Instance, error) {
	return listInstances(ctx, f.api, filters)
}

// listInstances pages through DescribeInstances.
func listInstances(ctx context.Context, api ec2.DescribeInstancesAPIClient, filters []ec2types.Filter) ([]shadow.Instance, error) {
	var out []shadow.Instance
	p := ec2.NewDescribeInstancesPaginator(api, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instances: %w", Classify(err))
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				out = append(out, fromEC2(i))
			}
		}
	}
	return out, nil
}

// fillStatus sets Impaired from DescribeInstanceStatus for the pending and
// running instances of insts.
func (f *Fleet) fillStatus(ctx context.Context, insts []shadow.Instance) error {
	idx := map[string]int{}
	var ids []string
	for i, inst := range insts {
		if inst.State == shadow.Running || inst.State == shadow.Pending {
			idx[inst.ID] = i
			ids = append(ids, inst.ID)
		}
	}
	for chunk := range slices.Chunk(ids, statusIDsMax) {
		st, err := f.statuses(ctx, chunk)
		if errors.Is(err, shadow.ErrNotFound) {
			// One of them vanished since DescribeInstances: ask one by one
			// and skip the missing.
			st = map[string]bool{}
			for _, id := range chunk {
				one, err := f.statuses(ctx, []string{id})
				if errors.Is(err, shadow.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				maps.Copy(st, one)
			}
		} else if err != nil {
			return err
		}
		for id, impaired := range st {
			if i, ok := idx[id]; ok {
				insts[i].Impaired = impaired
			}
		}
	}
	return nil
}

func (f *Fleet) statuses(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	p := ec2.NewDescribeInstanceStatusPaginator(f.api, &ec2.DescribeInstanceStatusInput{InstanceIds: ids, IncludeAllInstances: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing instance status: %w", Classify(err))
		}
		for _, s := range page.InstanceStatuses {
			out[aws.ToString(s.InstanceId)] = impaired(s.InstanceStatus) || impaired(s.SystemStatus)
		}
	}
	return out, nil
}

func impaired(s *ec2types.InstanceStatusSummary) bool {
	return s != nil && s.Status == ec2types.SummaryStatusImpaired
}

// fromEC2 converts an EC2 instance to the domain's.
func fromEC2(i ec2types.Instance) shadow.Instance {
	tags := make(map[string]string, len(i.Tags))
	for _, t := range i.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	out := shadow.Instance{
		ID:        aws.ToString(i.InstanceId),
		Type:      string(i.InstanceType),
		SubnetID:  aws.ToString(i.SubnetId),
		PrivateIP: aws.ToString(i.PrivateIpAddress),
		Group:     tags[TagASGName],
		Tags:      tags,
	}
	if i.Placement != nil {
		out.AZ = aws.ToString(i.Placement.AvailabilityZone)
	}
	if i.State != nil {
		out.State = shadow.State(i.State.Name)
	}
	if i.LaunchTime != nil {
		out.LaunchedAt = i.LaunchTime.UTC()
	}
	return out
}

// toEC2Tags converts a tag map, in key order (deterministic requests).
func toEC2Tags(m map[string]string) []ec2types.Tag {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func uniq(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

func sortByID(insts []shadow.Instance) {
	sort.Slice(insts, func(a, b int) bool { return insts[a].ID < insts[b].ID })
}
