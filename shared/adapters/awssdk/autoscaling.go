package awssdk

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// AutoScalingAPI is the part of *autoscaling.Client the Groups adapter uses.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, params *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DescribeAutoScalingInstances(ctx context.Context, params *autoscaling.DescribeAutoScalingInstancesInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error)
	SetDesiredCapacity(ctx context.Context, params *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	UpdateAutoScalingGroup(ctx context.Context, params *autoscaling.UpdateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error)
}

// LaunchTemplateAPI is the part of *ec2.Client a resize uses.
type LaunchTemplateAPI interface {
	DescribeLaunchTemplateVersions(ctx context.Context, params *ec2.DescribeLaunchTemplateVersionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	CreateLaunchTemplateVersion(ctx context.Context, params *ec2.CreateLaunchTemplateVersionInput, optFns ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error)
}

var (
	_ AutoScalingAPI    = (*autoscaling.Client)(nil)
	_ LaunchTemplateAPI = (*ec2.Client)(nil)
)

// GroupsConfig is how the Groups adapter decides enrollment.
type GroupsConfig struct {
	// Names are the groups of SHADOWSCALE_GROUPS.
	Names []string
}

// Groups reads Auto Scaling groups and changes enrolled ones.
type Groups struct {
	asg     AutoScalingAPI
	lt      LaunchTemplateAPI
	names   map[string]bool
	metrics metrics.Sink
	log     *slog.Logger
}

// NewGroups returns a Groups adapter. lt may be nil where no resize
// happens; a nil sink or logger discards.
func NewGroups(asg AutoScalingAPI, lt LaunchTemplateAPI, cfg GroupsConfig, sink metrics.Sink, log *slog.Logger) (*Groups, error) {
	if asg == nil {
		return nil, fmt.Errorf("%w: auto scaling groups: no Auto Scaling client", shadow.ErrInvalid)
	}
	names := map[string]bool{}
	for _, n := range cfg.Names {
		if n = strings.TrimSpace(n); n != "" {
			names[n] = true
		}
	}
	if sink == nil {
		sink = metrics.Discard{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Groups{asg: asg, lt: lt, names: names, metrics: sink, log: log}, nil
}

// namesPerCall is DescribeAutoScalingGroups' default limit on names.
const namesPerCall = 50

// EnrolledGroups returns every enrolled group, with its instances, ordered
// by name: those tagged shadowscale:enrolled=true and those named in
// SHADOWSCALE_GROUPS (a named group that does not exist is skipped).
func (g *Groups) EnrolledGroups(ctx context.Context) ([]asg.Group, error) {
	byName := map[string]asg.Group{}
	tagged, err := g.describe(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		Filters: []asgtypes.Filter{{Name: aws.String("tag:" + shadow.TagEnrolled), Values: []string{"true"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("listing groups tagged %s=true: %w", shadow.TagEnrolled, err)
	}
	for _, gr := range tagged {
		if gr.Enrolled() { // the filter, re-checked: an emulator may ignore it
			byName[gr.Name] = gr
		}
	}
	names := make([]string, 0, len(g.names))
	for n := range g.names {
		if _, ok := byName[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for chunk := range slices.Chunk(names, namesPerCall) {
		named, err := g.describe(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: chunk})
		if err != nil {
			return nil, fmt.Errorf("describing enrolled groups %v: %w", chunk, err)
		}
		for _, gr := range named {
			byName[gr.Name] = gr
		}
	}
	out := make([]asg.Group, 0, len(byName))
	for _, gr := range byName {
		out = append(out, gr)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// asg.Group returns one group with its instances, or an error wrapping
// shadow.ErrNotFound.
func (g *Groups) Group(ctx context.Context, name string) (asg.Group, error) {
	if name == "" {
		return asg.Group{}, fmt.Errorf("%w: auto scaling group name is empty", shadow.ErrInvalid)
	}
	got, err := g.describe(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		return asg.Group{}, fmt.Errorf("describing group %s: %w", name, err)
	}
	for _, gr := range got {
		if gr.Name == name {
			return gr, nil
		}
	}
	return asg.Group{}, fmt.Errorf("auto scaling group %s: %w", name, shadow.ErrNotFound)
}

// GroupOf returns the name of the Auto Scaling group an instance belongs
// to, "" when it belongs to none.
func (g *Groups) GroupOf(ctx context.Context, instanceID string) (string, error) {
	out, err := g.asg.DescribeAutoScalingInstances(ctx, &autoscaling.DescribeAutoScalingInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return "", fmt.Errorf("describing auto scaling membership of %s: %w", instanceID, Classify(err))
	}
	for _, i := range out.AutoScalingInstances {
		if aws.ToString(i.InstanceId) == instanceID {
			return aws.ToString(i.AutoScalingGroupName), nil
		}
	}
	return "", nil
}

func (g *Groups) describe(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput) ([]asg.Group, error) {
	var out []asg.Group
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(g.asg, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, Classify(err)
		}
		for _, ag := range page.AutoScalingGroups {
			out = append(out, g.fromASG(ag))
		}
	}
	return out, nil
}

func (g *Groups) fromASG(ag asgtypes.AutoScalingGroup) asg.Group {
	gr := asg.Group{
		Name:            aws.ToString(ag.AutoScalingGroupName),
		Min:             int(aws.ToInt32(ag.MinSize)),
		Max:             int(aws.ToInt32(ag.MaxSize)),
		Desired:         int(aws.ToInt32(ag.DesiredCapacity)),
		DefaultCooldown: int(aws.ToInt32(ag.DefaultCooldown)),
		Tags:            map[string]string{},
		AZs:             append([]string(nil), ag.AvailabilityZones...),
	}
	for _, t := range ag.Tags {
		gr.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	gr.EnrolledByTag = gr.Tags[shadow.TagEnrolled] == "true"
	gr.EnrolledByName = g.names[gr.Name]
	gr.Mode = gr.Tags[shadow.TagMode]
	if lt := ag.LaunchTemplate; lt != nil {
		gr.LaunchTemplate = asg.LaunchTemplateRef{ID: aws.ToString(lt.LaunchTemplateId), Name: aws.ToString(lt.LaunchTemplateName), Version: aws.ToString(lt.Version)}
	}
	gr.MixedInstances = ag.MixedInstancesPolicy != nil
	if s := aws.ToString(ag.VPCZoneIdentifier); s != "" {
		gr.SubnetIDs = strings.Split(s, ",")
	}
	for _, i := range ag.Instances {
		gi := asg.Instance{
			ID:        aws.ToString(i.InstanceId),
			AZ:        aws.ToString(i.AvailabilityZone),
			Type:      aws.ToString(i.InstanceType),
			Lifecycle: string(i.LifecycleState),
			Health:    aws.ToString(i.HealthStatus),
		}
		if lt := i.LaunchTemplate; lt != nil {
			gi.LaunchTemplate = asg.LaunchTemplateRef{ID: aws.ToString(lt.LaunchTemplateId), Name: aws.ToString(lt.LaunchTemplateName), Version: aws.ToString(lt.Version)}
		}
		gr.Instances = append(gr.Instances, gi)
	}
	sort.Slice(gr.Instances, func(a, b int) bool { return gr.Instances[a].ID < gr.Instances[b].ID })
	return gr
}

// writable returns the group after checking that it carries
// shadowscale:enrolled=true; otherwise it logs, counts RefusedNotOwned and
// returns an error wrapping asg.ErrNotEnrolled.
func (g *Groups) writable(ctx context.Context, name, action string) (asg.Group, error) {
	gr, err := g.Group(ctx, name)
	if err != nil {
		return asg.Group{}, err
	}
	if !gr.EnrolledByTag {
		g.metrics.Add("RefusedNotOwned", metrics.Count, 1)
		g.log.WarnContext(ctx, "refused an auto scaling write on a group not tagged enrolled", "group", name, "action", action, "enrolled_by_name", gr.EnrolledByName)
		return gr, fmt.Errorf("%s on group %s: %w", action, name, asg.ErrNotEnrolled)
	}
	return gr, nil
}

// SetDesiredCapacity sets an enrolled group's desired capacity (cooldowns
// not honoured: the control loop has its own guardrails). AWS rejects a
// value outside [min, max] (shadow.ErrInvalid).
func (g *Groups) SetDesiredCapacity(ctx context.Context, name string, desired int) error {
	gr, err := g.writable(ctx, name, "setting desired capacity")
	if err != nil {
		return err
	}
	if desired < gr.Min || desired > gr.Max {
		// AWS rejects it too (ValidationError); emulators may not.
		return fmt.Errorf("%w: desired capacity %d of group %s outside [%d, %d]", shadow.ErrInvalid, desired, name, gr.Min, gr.Max)
	}
	_, err = g.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(name),
		DesiredCapacity:      aws.Int32(int32(desired)),
		HonorCooldown:        aws.Bool(false),
	})
	if err != nil {
		return fmt.Errorf("setting desired capacity of %s to %d: %w", name, desired, Classify(err))
	}
	g.log.InfoContext(ctx, "desired capacity set", "group", name, "desired", desired)
	return nil
}

// SetMaxSize changes an enrolled group's maximum size.
func (g *Groups) SetMaxSize(ctx context.Context, name string, maxSize int) error {
	gr, err := g.writable(ctx, name, "updating max size")
	if err != nil {
		return err
	}
	if maxSize < gr.Min || maxSize < 0 {
		return fmt.Errorf("%w: max size %d of group %s below its min %d", shadow.ErrInvalid, maxSize, name, gr.Min)
	}
	_, err = g.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		MaxSize:              aws.Int32(int32(maxSize)),
	})
	if err != nil {
		return fmt.Errorf("updating max size of %s to %d: %w", name, maxSize, Classify(err))
	}
	g.log.InfoContext(ctx, "max size set", "group", name, "max", maxSize)
	return nil
}

// InstanceType returns the instance type the group's launch template
// version gives its new instances.
func (g *Groups) InstanceType(ctx context.Context, name string) (string, error) {
	gr, err := g.Group(ctx, name)
	if err != nil {
		return "", err
	}
	if gr.LaunchTemplate.ID == "" && gr.LaunchTemplate.Name == "" {
		return "", fmt.Errorf("instance type of group %s (no launch template): %w", name, asg.ErrUnsupported)
	}
	v, err := g.templateVersion(ctx, gr.LaunchTemplate)
	if err != nil {
		return "", err
	}
	return string(v.LaunchTemplateData.InstanceType), nil
}

// Resize points an enrolled group at a new version of its launch template
// that differs from the current one only by instanceType, and returns it.
// Instances running keep their type; new launches get the new one. A group
// already launching instanceType gets no new version.
func (g *Groups) Resize(ctx context.Context, name, instanceType string) (asg.LaunchTemplateRef, error) {
	if instanceType == "" {
		return asg.LaunchTemplateRef{}, fmt.Errorf("%w: resizing group %s: instance type is empty", shadow.ErrInvalid, name)
	}
	if g.lt == nil {
		return asg.LaunchTemplateRef{}, fmt.Errorf("%w: resizing group %s: no EC2 client for launch templates", shadow.ErrInvalid, name)
	}
	gr, err := g.writable(ctx, name, "resizing")
	if err != nil {
		return asg.LaunchTemplateRef{}, err
	}
	if gr.MixedInstances || (gr.LaunchTemplate.ID == "" && gr.LaunchTemplate.Name == "") {
		return asg.LaunchTemplateRef{}, fmt.Errorf("resizing group %s: only groups with a single launch template: %w", name, asg.ErrUnsupported)
	}
	cur, err := g.templateVersion(ctx, gr.LaunchTemplate)
	if err != nil {
		return asg.LaunchTemplateRef{}, err
	}
	ref := asg.LaunchTemplateRef{ID: aws.ToString(cur.LaunchTemplateId), Name: aws.ToString(cur.LaunchTemplateName), Version: strconv.FormatInt(aws.ToInt64(cur.VersionNumber), 10)}
	if string(cur.LaunchTemplateData.InstanceType) != instanceType {
		out, err := g.lt.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
			LaunchTemplateId:   aws.String(ref.ID),
			SourceVersion:      aws.String(ref.Version),
			VersionDescription: aws.String("shadowscale: resize to " + instanceType),
			LaunchTemplateData: &ec2types.RequestLaunchTemplateData{InstanceType: ec2types.InstanceType(instanceType)},
		})
		if err != nil {
			return asg.LaunchTemplateRef{}, fmt.Errorf("creating launch template version of %s with %s: %w", ref.ID, instanceType, Classify(err))
		}
		if out.LaunchTemplateVersion == nil || out.LaunchTemplateVersion.VersionNumber == nil {
			return asg.LaunchTemplateRef{}, fmt.Errorf("creating launch template version of %s: no version in the answer", ref.ID)
		}
		ref.Version = strconv.FormatInt(aws.ToInt64(out.LaunchTemplateVersion.VersionNumber), 10)
	}
	if gr.LaunchTemplate.ID == ref.ID && gr.LaunchTemplate.Version == ref.Version {
		return ref, nil
	}
	_, err = g.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name),
		LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ref.ID), Version: aws.String(ref.Version)},
	})
	if err != nil {
		return asg.LaunchTemplateRef{}, fmt.Errorf("pointing group %s at launch template %s version %s: %w", name, ref.ID, ref.Version, Classify(err))
	}
	g.log.InfoContext(ctx, "group resized", "group", name, "type", instanceType, "launch_template", ref.ID, "version", ref.Version)
	return ref, nil
}

// templateVersion resolves a template reference ($Latest, $Default or a
// number) to its version.
func (g *Groups) templateVersion(ctx context.Context, ref asg.LaunchTemplateRef) (ec2types.LaunchTemplateVersion, error) {
	if g.lt == nil {
		return ec2types.LaunchTemplateVersion{}, fmt.Errorf("%w: no EC2 client for launch templates", shadow.ErrInvalid)
	}
	v := ref.Version
	if v == "" {
		v = "$Default"
	}
	in := &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{v}}
	if ref.ID != "" {
		in.LaunchTemplateId = aws.String(ref.ID)
	} else {
		in.LaunchTemplateName = aws.String(ref.Name)
	}
	out, err := g.lt.DescribeLaunchTemplateVersions(ctx, in)
	if err != nil {
		return ec2types.LaunchTemplateVersion{}, fmt.Errorf("describing launch template %s%s version %s: %w", ref.ID, ref.Name, v, Classify(err))
	}
	if len(out.LaunchTemplateVersions) != 1 || out.LaunchTemplateVersions[0].LaunchTemplateData == nil {
		return ec2types.LaunchTemplateVersion{}, fmt.Errorf("launch template %s%s version %s: %w", ref.ID, ref.Name, v, shadow.ErrNotFound)
	}
	return out.LaunchTemplateVersions[0], nil
}
