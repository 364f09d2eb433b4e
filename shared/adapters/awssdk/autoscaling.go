package awssdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// AutoScalingAPI is the part of *autoscaling.Client the Groups adapter uses.
type AutoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, params *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	DescribeAutoScalingInstances(ctx context.Context, params *autoscaling.DescribeAutoScalingInstancesInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error)
	SetDesiredCapacity(ctx context.Context, params *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	UpdateAutoScalingGroup(ctx context.Context, params *autoscaling.UpdateAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error)
	StartInstanceRefresh(ctx context.Context, params *autoscaling.StartInstanceRefreshInput, optFns ...func(*autoscaling.Options)) (*autoscaling.StartInstanceRefreshOutput, error)
	DescribePolicies(ctx context.Context, params *autoscaling.DescribePoliciesInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribePoliciesOutput, error)
	DescribeScheduledActions(ctx context.Context, params *autoscaling.DescribeScheduledActionsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeScheduledActionsOutput, error)
}

// LaunchTemplateAPI is the part of *ec2.Client a resize uses.
type LaunchTemplateAPI interface {
	DescribeLaunchTemplateVersions(ctx context.Context, params *ec2.DescribeLaunchTemplateVersionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	CreateLaunchTemplateVersion(ctx context.Context, params *ec2.CreateLaunchTemplateVersionInput, optFns ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error)
	ModifyLaunchTemplate(ctx context.Context, params *ec2.ModifyLaunchTemplateInput, optFns ...func(*ec2.Options)) (*ec2.ModifyLaunchTemplateOutput, error)
}

var (
	_ AutoScalingAPI    = (*autoscaling.Client)(nil)
	_ LaunchTemplateAPI = (*ec2.Client)(nil)
)

// GroupsConfig is how the Groups adapter decides enrollment, and how it
// resizes.
type GroupsConfig struct {
	// Names are the groups of SHADOWSCALE_GROUPS.
	Names []string
	// Refresh is the instance refresh a resize starts (zero: DefaultRefresh).
	Refresh Refresh
	// Clock times the cache of $Latest and $Default template versions
	// (clock.System when nil).
	Clock clock.Clock
}

// Refresh is how an instance refresh replaces a group's instances: it
// keeps at least MinHealthyPercentage of the desired capacity in service
// and launches up to MaxHealthyPercentage (100 and 150: new instances are
// launched before old ones are terminated, half the group at a time).
type Refresh struct {
	MinHealthyPercentage int
	MaxHealthyPercentage int
}

// DefaultRefresh launches before it terminates: capacity never drops
// during a resize, which the plane starts because the group needs more.
func DefaultRefresh() Refresh { return Refresh{MinHealthyPercentage: 100, MaxHealthyPercentage: 150} }

// templateTTL is how long a $Latest or $Default template version's type is
// taken as known (numbered versions are immutable and kept).
const templateTTL = 5 * time.Minute

// Groups reads Auto Scaling groups and changes enrolled ones.
type Groups struct {
	asg     AutoScalingAPI
	lt      LaunchTemplateAPI
	names   map[string]bool
	refresh Refresh
	clock   clock.Clock
	metrics metrics.Sink
	log     *slog.Logger

	mu    sync.Mutex
	types map[string]cachedType // template id or name + version -> its instance type
}

type cachedType struct {
	typ string
	at  time.Time
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
	if cfg.Refresh == (Refresh{}) {
		cfg.Refresh = DefaultRefresh()
	}
	if r := cfg.Refresh; r.MinHealthyPercentage < 0 || r.MinHealthyPercentage > 100 || r.MaxHealthyPercentage < 100 || r.MaxHealthyPercentage > 200 ||
		r.MaxHealthyPercentage-r.MinHealthyPercentage > 100 {
		return nil, fmt.Errorf("%w: auto scaling groups: instance refresh healthy percentages %d..%d: want min 0-100, max 100-200, at most 100 apart",
			shadow.ErrInvalid, r.MinHealthyPercentage, r.MaxHealthyPercentage)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	return &Groups{asg: asg, lt: lt, names: names, refresh: cfg.Refresh, clock: cfg.Clock, metrics: sink, log: log, types: map[string]cachedType{}}, nil
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
	return g.LaunchType(ctx, gr)
}

// LaunchType returns the instance type the launch template of a group
// already described gives its new instances: one DescribeLaunchTemplateVersions
// per template version, numbered versions (immutable) cached for good,
// $Latest and $Default for templateTTL (a resize by this adapter updates
// the cache). A group without a launch template (a launch configuration,
// a mixed instances policy): asg.ErrUnsupported.
func (g *Groups) LaunchType(ctx context.Context, gr asg.Group) (string, error) {
	ref := gr.LaunchTemplate
	if ref.ID == "" && ref.Name == "" {
		return "", fmt.Errorf("instance type of group %s (no launch template): %w", gr.Name, asg.ErrUnsupported)
	}
	k := typeKey(ref)
	g.mu.Lock()
	c, ok := g.types[k]
	g.mu.Unlock()
	if ok && (isNumber(ref.Version) || g.clock.Now().Sub(c.at) < templateTTL) {
		return c.typ, nil
	}
	v, err := g.templateVersion(ctx, ref)
	if err != nil {
		return "", err
	}
	typ := string(v.LaunchTemplateData.InstanceType)
	g.cacheType(ref, typ)
	return typ, nil
}

func typeKey(ref asg.LaunchTemplateRef) string {
	id := ref.ID
	if id == "" {
		id = "name:" + ref.Name
	}
	v := ref.Version
	if v == "" {
		v = "$Default"
	}
	return id + "@" + v
}

func (g *Groups) cacheType(ref asg.LaunchTemplateRef, typ string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.types[typeKey(ref)] = cachedType{typ: typ, at: g.clock.Now()}
}

func isNumber(v string) bool {
	_, err := strconv.ParseInt(v, 10, 64)
	return err == nil
}

// Resize makes an enrolled group's new instances instanceType: a new
// version of its launch template that differs from the current one only by
// the instance type, which the group then uses the way it used the old one:
// a group on $Latest gets it by being created (nothing else to change), a
// group on $Default by making it the template's default version
// (ModifyLaunchTemplate), a group on a numbered version by being pointed
// at the new number (UpdateAutoScalingGroup). The version the group names
// is kept: a group on $Latest or $Default keeps following the template. A
// template shared by several groups changes for all those on the same
// $Latest or $Default: give each enrolled group its own template.
// Instances running keep their type: StartRefresh replaces them. A group
// already launching instanceType gets no new version. It returns the
// template and the new (or current) version number.
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
	if string(cur.LaunchTemplateData.InstanceType) == instanceType {
		return ref, nil
	}
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
	switch gr.LaunchTemplate.Version {
	case "$Latest":
		// The new version is the latest: the group launches it already.
	case "", "$Default":
		if _, err := g.lt.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: aws.String(ref.ID), DefaultVersion: aws.String(ref.Version)}); err != nil {
			return asg.LaunchTemplateRef{}, fmt.Errorf("making version %s the default of launch template %s: %w", ref.Version, ref.ID, Classify(err))
		}
	default:
		_, err = g.asg.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name),
			LaunchTemplate:       &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ref.ID), Version: aws.String(ref.Version)},
		})
		if err != nil {
			return asg.LaunchTemplateRef{}, fmt.Errorf("pointing group %s at launch template %s version %s: %w", name, ref.ID, ref.Version, Classify(err))
		}
	}
	g.cacheType(gr.LaunchTemplate, instanceType)
	g.cacheType(ref, instanceType)
	g.log.InfoContext(ctx, "group resized", "group", name, "type", instanceType, "launch_template", ref.ID, "version", ref.Version, "group_version", gr.LaunchTemplate.Version)
	return ref, nil
}

// StartRefresh starts an instance refresh of an enrolled group: its
// instances that do not match its launch template (SkipMatching) are
// replaced, rolling, keeping the configured healthy percentages
// (DefaultRefresh: new instances first). A refresh already running is
// asg.ErrInProgress (it replaces what does not match when it gets there).
// It returns the refresh's id.
func (g *Groups) StartRefresh(ctx context.Context, name string) (string, error) {
	if _, err := g.writable(ctx, name, "refreshing instances"); err != nil {
		return "", err
	}
	out, err := g.asg.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{
		AutoScalingGroupName: aws.String(name),
		Strategy:             asgtypes.RefreshStrategyRolling,
		Preferences: &asgtypes.RefreshPreferences{
			MinHealthyPercentage: aws.Int32(int32(g.refresh.MinHealthyPercentage)),
			MaxHealthyPercentage: aws.Int32(int32(g.refresh.MaxHealthyPercentage)),
			SkipMatching:         aws.Bool(true),
		},
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InstanceRefreshInProgress" {
			return "", fmt.Errorf("instance refresh of %s: %w: %w", name, asg.ErrInProgress, err)
		}
		return "", fmt.Errorf("starting the instance refresh of %s: %w", name, Classify(err))
	}
	id := aws.ToString(out.InstanceRefreshId)
	g.log.InfoContext(ctx, "instance refresh started", "group", name, "refresh", id,
		"min_healthy_pct", g.refresh.MinHealthyPercentage, "max_healthy_pct", g.refresh.MaxHealthyPercentage)
	return id, nil
}

// OwnScaling returns the named groups' own scaling policies
// (DescribePolicies) and scheduled actions (DescribeScheduledActions),
// by group. Up to ownScalingPerGroup names it asks group by group; above,
// it lists the region's (one paginated listing of each, 100 a page) and
// keeps the named groups'.
func (g *Groups) OwnScaling(ctx context.Context, names []string) (map[string][]asg.Scaling, error) {
	out := map[string][]asg.Scaling{}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	add := func(s asg.Scaling) {
		if want[s.Group] {
			out[s.Group] = append(out[s.Group], s)
		}
	}
	scopes := []*string{nil}
	if len(names) <= ownScalingPerGroup {
		scopes = scopes[:0]
		for _, n := range names {
			scopes = append(scopes, aws.String(n))
		}
	}
	for _, scope := range scopes {
		pp := autoscaling.NewDescribePoliciesPaginator(g.asg, &autoscaling.DescribePoliciesInput{AutoScalingGroupName: scope, MaxRecords: aws.Int32(100)})
		for pp.HasMorePages() {
			page, err := pp.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describing scaling policies: %w", Classify(err))
			}
			for _, p := range page.ScalingPolicies {
				add(policyOf(p))
			}
		}
		sp := autoscaling.NewDescribeScheduledActionsPaginator(g.asg, &autoscaling.DescribeScheduledActionsInput{AutoScalingGroupName: scope, MaxRecords: aws.Int32(100)})
		for sp.HasMorePages() {
			page, err := sp.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describing scheduled actions: %w", Classify(err))
			}
			for _, a := range page.ScheduledUpdateGroupActions {
				add(asg.Scaling{
					Group: aws.ToString(a.AutoScalingGroupName), Name: aws.ToString(a.ScheduledActionName),
					Kind: asg.ScalingScheduled, Enabled: true, SetsDesired: a.DesiredCapacity != nil,
				})
			}
		}
	}
	return out, nil
}

// ownScalingPerGroup: up to this many groups, OwnScaling asks per group
// (two calls each); above, a region-wide listing is cheaper.
const ownScalingPerGroup = 5

func policyOf(p asgtypes.ScalingPolicy) asg.Scaling {
	s := asg.Scaling{Group: aws.ToString(p.AutoScalingGroupName), Name: aws.ToString(p.PolicyName), Enabled: p.Enabled == nil || aws.ToBool(p.Enabled)}
	switch aws.ToString(p.PolicyType) {
	case "TargetTrackingScaling":
		s.Kind = asg.ScalingTargetTracking
		if c := p.TargetTrackingConfiguration; c != nil {
			s.DisableScaleIn = aws.ToBool(c.DisableScaleIn)
		}
	case "StepScaling":
		s.Kind = asg.ScalingStep
	case "PredictiveScaling":
		s.Kind = asg.ScalingPredictive
		s.PredictiveMode = "ForecastOnly" // Auto Scaling's default mode
		if c := p.PredictiveScalingConfiguration; c != nil && c.Mode != "" {
			s.PredictiveMode = string(c.Mode)
		}
	default: // SimpleScaling, and the type of a policy created without one
		s.Kind = asg.ScalingSimple
	}
	return s
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
