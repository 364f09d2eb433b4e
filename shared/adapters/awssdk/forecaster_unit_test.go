package awssdk_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
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
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// asgStub is Auto Scaling for the Groups adapter: one group, its policies
// and scheduled actions; it records the writes' requests.
type asgStub struct {
	mu        sync.Mutex
	group     asgtypes.AutoScalingGroup
	policies  []asgtypes.ScalingPolicy
	scheduled []asgtypes.ScheduledUpdateGroupAction
	updates   []*autoscaling.UpdateAutoScalingGroupInput
	refreshes []*autoscaling.StartInstanceRefreshInput
	policyIn  []*autoscaling.DescribePoliciesInput
	refreshEr error
}

func (s *asgStub) DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: []asgtypes.AutoScalingGroup{s.group}}, nil
}

func (s *asgStub) DescribeAutoScalingInstances(context.Context, *autoscaling.DescribeAutoScalingInstancesInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingInstancesOutput, error) {
	return &autoscaling.DescribeAutoScalingInstancesOutput{}, nil
}

func (s *asgStub) SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	return &autoscaling.SetDesiredCapacityOutput{}, nil
}

func (s *asgStub) UpdateAutoScalingGroup(_ context.Context, in *autoscaling.UpdateAutoScalingGroupInput, _ ...func(*autoscaling.Options)) (*autoscaling.UpdateAutoScalingGroupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, in)
	return &autoscaling.UpdateAutoScalingGroupOutput{}, nil
}

func (s *asgStub) StartInstanceRefresh(_ context.Context, in *autoscaling.StartInstanceRefreshInput, _ ...func(*autoscaling.Options)) (*autoscaling.StartInstanceRefreshOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes = append(s.refreshes, in)
	if s.refreshEr != nil {
		return nil, s.refreshEr
	}
	return &autoscaling.StartInstanceRefreshOutput{InstanceRefreshId: aws.String("r-1")}, nil
}

// DescribePolicies pages by two.
func (s *asgStub) DescribePolicies(_ context.Context, in *autoscaling.DescribePoliciesInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribePoliciesOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policyIn = append(s.policyIn, in)
	var all []asgtypes.ScalingPolicy
	for _, p := range s.policies {
		if in.AutoScalingGroupName == nil || aws.ToString(p.AutoScalingGroupName) == aws.ToString(in.AutoScalingGroupName) {
			all = append(all, p)
		}
	}
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(aws.ToString(in.NextToken), &start)
	}
	out := &autoscaling.DescribePoliciesOutput{ScalingPolicies: all[start:min(start+2, len(all))]}
	if start+2 < len(all) {
		out.NextToken = aws.String(fmt.Sprint(start + 2))
	}
	return out, nil
}

func (s *asgStub) DescribeScheduledActions(_ context.Context, in *autoscaling.DescribeScheduledActionsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeScheduledActionsOutput, error) {
	var out []asgtypes.ScheduledUpdateGroupAction
	for _, a := range s.scheduled {
		if in.AutoScalingGroupName == nil || aws.ToString(a.AutoScalingGroupName) == aws.ToString(in.AutoScalingGroupName) {
			out = append(out, a)
		}
	}
	return &autoscaling.DescribeScheduledActionsOutput{ScheduledUpdateGroupActions: out}, nil
}

// ltStub is EC2's launch templates: one template, versions by number,
// $Latest the highest, $Default settable.
type ltStub struct {
	mu         sync.Mutex
	types      []string // version n has types[n-1]
	def        int
	describes  []string
	creates    []*ec2.CreateLaunchTemplateVersionInput
	modifies   []*ec2.ModifyLaunchTemplateInput
	describeEr error
}

func (l *ltStub) DescribeLaunchTemplateVersions(_ context.Context, in *ec2.DescribeLaunchTemplateVersionsInput, _ ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := in.Versions[0]
	l.describes = append(l.describes, v)
	if l.describeEr != nil {
		return nil, l.describeEr
	}
	n := 0
	switch v {
	case "$Latest":
		n = len(l.types)
	case "$Default":
		n = l.def
	default:
		fmt.Sscan(v, &n)
	}
	return &ec2.DescribeLaunchTemplateVersionsOutput{LaunchTemplateVersions: []ec2types.LaunchTemplateVersion{{
		LaunchTemplateId: aws.String("lt-1"), VersionNumber: aws.Int64(int64(n)),
		LaunchTemplateData: &ec2types.ResponseLaunchTemplateData{InstanceType: ec2types.InstanceType(l.types[n-1])},
	}}}, nil
}

func (l *ltStub) CreateLaunchTemplateVersion(_ context.Context, in *ec2.CreateLaunchTemplateVersionInput, _ ...func(*ec2.Options)) (*ec2.CreateLaunchTemplateVersionOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.creates = append(l.creates, in)
	l.types = append(l.types, string(in.LaunchTemplateData.InstanceType))
	return &ec2.CreateLaunchTemplateVersionOutput{LaunchTemplateVersion: &ec2types.LaunchTemplateVersion{VersionNumber: aws.Int64(int64(len(l.types)))}}, nil
}

func (l *ltStub) ModifyLaunchTemplate(_ context.Context, in *ec2.ModifyLaunchTemplateInput, _ ...func(*ec2.Options)) (*ec2.ModifyLaunchTemplateOutput, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.modifies = append(l.modifies, in)
	fmt.Sscan(aws.ToString(in.DefaultVersion), &l.def)
	return &ec2.ModifyLaunchTemplateOutput{}, nil
}

func enrolledGroup(version string) asgtypes.AutoScalingGroup {
	return asgtypes.AutoScalingGroup{
		AutoScalingGroupName: aws.String("web"), MinSize: aws.Int32(1), MaxSize: aws.Int32(10), DesiredCapacity: aws.Int32(4),
		Tags:           []asgtypes.TagDescription{{Key: aws.String("shadowscale:enrolled"), Value: aws.String("true")}},
		LaunchTemplate: &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String(version)},
	}
}

// TestResizeKeepsTheGroupsVersion: a resize makes a version with only the
// instance type changed and leaves the group naming its template the way
// it did: $Latest needs nothing more, $Default moves the template's
// default, a number is replaced by the new number.
func TestResizeKeepsTheGroupsVersion(t *testing.T) {
	for _, tc := range []struct {
		version      string
		wantUpdates  int
		wantModifies int
	}{
		{version: "$Latest"},
		{version: "$Default", wantModifies: 1},
		{version: "1", wantUpdates: 1},
	} {
		t.Run(tc.version, func(t *testing.T) {
			as := &asgStub{group: enrolledGroup(tc.version)}
			lt := &ltStub{types: []string{"m7g.xlarge"}, def: 1}
			g, err := awssdk.NewGroups(as, lt, awssdk.GroupsConfig{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := g.Resize(context.Background(), "web", "m7g.2xlarge")
			if err != nil {
				t.Fatal(err)
			}
			if ref.ID != "lt-1" || ref.Version != "2" || len(lt.creates) != 1 {
				t.Fatalf("ref %+v, %d versions created", ref, len(lt.creates))
			}
			c := lt.creates[0]
			if aws.ToString(c.SourceVersion) != "1" || c.LaunchTemplateData.InstanceType != "m7g.2xlarge" || c.LaunchTemplateData.ImageId != nil {
				t.Errorf("created from %s with %+v, want version 1 with only the type", aws.ToString(c.SourceVersion), c.LaunchTemplateData)
			}
			if len(as.updates) != tc.wantUpdates || len(lt.modifies) != tc.wantModifies {
				t.Errorf("%d group updates, %d template modifications; want %d, %d", len(as.updates), len(lt.modifies), tc.wantUpdates, tc.wantModifies)
			}
			if tc.wantUpdates == 1 {
				u := as.updates[0]
				if aws.ToString(u.LaunchTemplate.Version) != "2" || u.MinSize != nil || u.MaxSize != nil || u.VPCZoneIdentifier != nil || u.DesiredCapacity != nil {
					t.Errorf("update %+v: want only the launch template version", u)
				}
			}
			if tc.wantModifies == 1 && aws.ToString(lt.modifies[0].DefaultVersion) != "2" {
				t.Errorf("default version %s, want 2", aws.ToString(lt.modifies[0].DefaultVersion))
			}
			// The group as it now stands launches the new type, from the cache.
			before := len(lt.describes)
			typ, err := g.LaunchType(context.Background(), asg.Group{Name: "web", LaunchTemplate: asg.LaunchTemplateRef{ID: "lt-1", Version: tc.version}})
			if tc.wantUpdates == 1 {
				typ, err = g.LaunchType(context.Background(), asg.Group{Name: "web", LaunchTemplate: asg.LaunchTemplateRef{ID: "lt-1", Version: "2"}})
			}
			if err != nil || typ != "m7g.2xlarge" || len(lt.describes) != before {
				t.Errorf("launch type after the resize %q, %v (%d describes)", typ, err, len(lt.describes)-before)
			}
		})
	}
}

// TestStartRefreshRequest: the instance refresh replaces only what does
// not match, rolling, launching before terminating; one already running
// is asg.ErrInProgress.
func TestStartRefreshRequest(t *testing.T) {
	as := &asgStub{group: enrolledGroup("$Latest")}
	g, err := awssdk.NewGroups(as, &ltStub{types: []string{"m7g.xlarge"}}, awssdk.GroupsConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := g.StartRefresh(context.Background(), "web")
	if err != nil || id != "r-1" {
		t.Fatalf("StartRefresh = %q, %v", id, err)
	}
	in := as.refreshes[0]
	p := in.Preferences
	if aws.ToString(in.AutoScalingGroupName) != "web" || in.Strategy != asgtypes.RefreshStrategyRolling || in.DesiredConfiguration != nil ||
		aws.ToInt32(p.MinHealthyPercentage) != 100 || aws.ToInt32(p.MaxHealthyPercentage) != 150 || !aws.ToBool(p.SkipMatching) {
		t.Errorf("request %+v preferences %+v: want rolling, min 100, max 150, skip matching", in, p)
	}
	as.refreshEr = apiErr("InstanceRefreshInProgress")
	if _, err := g.StartRefresh(context.Background(), "web"); !errors.Is(err, asg.ErrInProgress) {
		t.Errorf("a refresh already running = %v, want ErrInProgress", err)
	}
	// Not enrolled: refused before any call.
	as.group.Tags = nil
	n := len(as.refreshes)
	if _, err := g.StartRefresh(context.Background(), "web"); !errors.Is(err, asg.ErrNotEnrolled) || len(as.refreshes) != n {
		t.Errorf("refresh of a group not enrolled = %v (%d calls)", err, len(as.refreshes)-n)
	}
	if _, err := awssdk.NewGroups(as, nil, awssdk.GroupsConfig{Refresh: awssdk.Refresh{MinHealthyPercentage: 90, MaxHealthyPercentage: 250}}, nil, nil); err == nil {
		t.Error("a max healthy percentage of 250 was accepted")
	}
}

// TestLaunchTypeCache: a numbered version is described once; $Latest
// again after five minutes.
func TestLaunchTypeCache(t *testing.T) {
	lt := &ltStub{types: []string{"m7g.xlarge", "m7g.2xlarge"}}
	c := clock.NewFake(u0)
	g, err := awssdk.NewGroups(&asgStub{}, lt, awssdk.GroupsConfig{Clock: c}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, step := range []struct {
		version string
		advance time.Duration
		want    string
	}{
		{"1", 0, "m7g.xlarge"}, {"1", time.Hour, "m7g.xlarge"},
		{"$Latest", 0, "m7g.2xlarge"}, {"$Latest", time.Minute, "m7g.2xlarge"}, {"$Latest", 5 * time.Minute, "m7g.2xlarge"},
	} {
		c.Advance(step.advance)
		typ, err := g.LaunchType(ctx, asg.Group{Name: "web", LaunchTemplate: asg.LaunchTemplateRef{ID: "lt-1", Version: step.version}})
		if err != nil || typ != step.want {
			t.Errorf("%s: %q, %v", step.version, typ, err)
		}
	}
	if got := fmt.Sprint(lt.describes); got != "[1 $Latest $Latest]" {
		t.Errorf("described %s, want 1 once and $Latest twice", got)
	}
	if _, err := g.LaunchType(ctx, asg.Group{Name: "lc"}); !errors.Is(err, asg.ErrUnsupported) {
		t.Errorf("no launch template = %v, want ErrUnsupported", err)
	}
}

// TestOwnScaling: policies and scheduled actions mapped to what conflicts;
// a few groups asked one by one, many listed region-wide, pages followed.
func TestOwnScaling(t *testing.T) {
	tt := func(group, name string, scaleInOff bool) asgtypes.ScalingPolicy {
		return asgtypes.ScalingPolicy{AutoScalingGroupName: aws.String(group), PolicyName: aws.String(name), PolicyType: aws.String("TargetTrackingScaling"),
			Enabled: aws.Bool(true), TargetTrackingConfiguration: &asgtypes.TargetTrackingConfiguration{DisableScaleIn: aws.Bool(scaleInOff)}}
	}
	as := &asgStub{
		policies: []asgtypes.ScalingPolicy{
			tt("web", "cpu50", false), tt("web", "backstop", true),
			{AutoScalingGroupName: aws.String("web"), PolicyName: aws.String("up"), PolicyType: aws.String("StepScaling"), Enabled: aws.Bool(false)},
			{AutoScalingGroupName: aws.String("api"), PolicyName: aws.String("p"), PolicyType: aws.String("PredictiveScaling"), Enabled: aws.Bool(true),
				PredictiveScalingConfiguration: &asgtypes.PredictiveScalingConfiguration{Mode: asgtypes.PredictiveScalingModeForecastAndScale}},
			{AutoScalingGroupName: aws.String("other"), PolicyName: aws.String("x"), PolicyType: aws.String("SimpleScaling")},
		},
		scheduled: []asgtypes.ScheduledUpdateGroupAction{
			{AutoScalingGroupName: aws.String("api"), ScheduledActionName: aws.String("nightly"), DesiredCapacity: aws.Int32(2)},
			{AutoScalingGroupName: aws.String("web"), ScheduledActionName: aws.String("floor"), MinSize: aws.Int32(2)},
		},
	}
	g, err := awssdk.NewGroups(as, nil, awssdk.GroupsConfig{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	describe := func(m map[string][]asg.Scaling) string {
		var out []string
		for grp, ss := range m {
			for _, s := range ss {
				out = append(out, fmt.Sprintf("%s %s %v", grp, s, s.Conflicts()))
			}
		}
		sort.Strings(out)
		return strings.Join(out, "; ")
	}
	want := `api predictive policy "p" true; api scheduled action "nightly" true; ` +
		`web scheduled action "floor" false; web step policy "up" false; web target-tracking policy "backstop" false; web target-tracking policy "cpu50" true`
	few, err := g.OwnScaling(context.Background(), []string{"web", "api"})
	if err != nil || describe(few) != want {
		t.Errorf("by group: %s, %v\nwant %s", describe(few), err, want)
	}
	for _, in := range as.policyIn {
		if in.AutoScalingGroupName == nil || aws.ToInt32(in.MaxRecords) != 100 {
			t.Errorf("asked %+v, want per group, 100 a page", in)
		}
	}
	as.policyIn = nil
	many := []string{"web", "api", "g3", "g4", "g5", "g6"}
	all, err := g.OwnScaling(context.Background(), many)
	if err != nil || describe(all) != want {
		t.Errorf("region-wide: %s, %v", describe(all), err)
	}
	if len(as.policyIn) != 3 || as.policyIn[0].AutoScalingGroupName != nil {
		t.Errorf("region-wide listing made %d calls (%+v), want 3 pages without a group name", len(as.policyIn), as.policyIn)
	}
}

// cwStub answers GetMetricData with one datapoint a query per minute
// (value = the query index), and records the requests.
type cwStub struct {
	mu  sync.Mutex
	ins []*cloudwatch.GetMetricDataInput
}

func (c *cwStub) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ins = append(c.ins, in)
	out := &cloudwatch.GetMetricDataOutput{}
	for i, q := range in.MetricDataQueries {
		r := cwtypes.MetricDataResult{Id: q.Id}
		for m := aws.ToTime(in.StartTime); m.Before(aws.ToTime(in.EndTime)); m = m.Add(time.Minute) {
			r.Timestamps = append(r.Timestamps, m)
			r.Values = append(r.Values, float64(i))
		}
		out.MetricDataResults = append(out.MetricDataResults, r)
	}
	return out, nil
}

// TestGroupCPURequests: CPUUtilization of AWS/EC2 by AutoScalingGroupName,
// Average over 60 s, 500 groups a call at most (fewer for long ranges).
func TestGroupCPURequests(t *testing.T) {
	cw := &cwStub{}
	c, err := awssdk.NewGroupCPU(cw)
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for i := range 1001 {
		groups = append(groups, fmt.Sprintf("g%04d", i))
	}
	from, to := u0, u0.Add(14*time.Minute)
	got, err := c.CPUUtilization(context.Background(), groups, from.Add(20*time.Second), to.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(cw.ins) != 3 || len(cw.ins[0].MetricDataQueries) != 500 || len(cw.ins[2].MetricDataQueries) != 1 {
		t.Fatalf("%d calls, want 3 of up to 500 queries", len(cw.ins))
	}
	in := cw.ins[0]
	q := in.MetricDataQueries[7]
	ms := q.MetricStat
	if !aws.ToTime(in.StartTime).Equal(from) || !aws.ToTime(in.EndTime).Equal(to.Add(time.Minute)) ||
		aws.ToString(ms.Metric.Namespace) != "AWS/EC2" || aws.ToString(ms.Metric.MetricName) != "CPUUtilization" ||
		aws.ToString(ms.Metric.Dimensions[0].Name) != "AutoScalingGroupName" || aws.ToString(ms.Metric.Dimensions[0].Value) != "g0007" ||
		aws.ToInt32(ms.Period) != 60 || aws.ToString(ms.Stat) != "Average" {
		t.Errorf("query %+v of %+v", ms, in)
	}
	if v := got["g0007"]; len(v) != 15 || v[from] != 7 || v[to] != 7 {
		t.Errorf("g0007: %v", v)
	}
	if v := got["g1000"]; len(v) != 15 || v[from] != 0 {
		t.Errorf("g1000 (first of the third call): %v", v)
	}
	// A day of minutes: at most 100,800 datapoints a call.
	cw.ins = nil
	if _, err := c.CPUUtilization(context.Background(), groups[:200], u0, u0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, in := range cw.ins {
		if n := len(in.MetricDataQueries) * 1441; n > 100800 {
			t.Errorf("a call of %d queries over 1,441 minutes: %d datapoints", len(in.MetricDataQueries), n)
		}
	}
}

// ddbQueryStub answers Query with the items of a map by partition key.
type ddbQueryStub struct {
	awssdk.DynamoDBAPI
	mu      sync.Mutex
	items   map[string][]map[string]ddbtypes.AttributeValue
	pks     []string
	updates []*dynamodb.UpdateItemInput
}

func (d *ddbQueryStub) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pk := in.ExpressionAttributeValues[":pk"].(*ddbtypes.AttributeValueMemberS).Value
	d.pks = append(d.pks, pk)
	return &dynamodb.QueryOutput{Items: d.items[pk]}, nil
}

func (d *ddbQueryStub) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.updates = append(d.updates, in)
	return &dynamodb.UpdateItemOutput{}, nil
}

// TestResourceMinutesSharded: a resource's minutes are written under its
// shard's partition key (RHIST#<group>#<shard>), and ResourceMinutes
// queries every shard and merges them in order.
func TestResourceMinutesSharded(t *testing.T) {
	st := &ddbQueryStub{items: map[string][]map[string]ddbtypes.AttributeValue{}}
	tb, err := awssdk.NewTable(st, "t", clock.NewFake(u0), awssdk.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[mutation.CountKey]mutation.Count{}
	shards := map[int]bool{}
	for i := range 40 {
		r := fmt.Sprintf("i-%017d", i)
		shards[awssdk.ResourceShard(r)] = true
		counts[mutation.CountKey{Group: "web", Resource: r, Target: mutation.Live, Minute: u0}] = mutation.Count{Accepted: 1, Applied: 1}
	}
	if len(shards) != awssdk.ResourceShards {
		t.Errorf("40 resources on %d shards, want all %d", len(shards), awssdk.ResourceShards)
	}
	if err := tb.History().Add(context.Background(), counts); err != nil {
		t.Fatal(err)
	}
	for _, u := range st.updates {
		pk := u.Key["pk"].(*ddbtypes.AttributeValueMemberS).Value
		sk := u.Key["sk"].(*ddbtypes.AttributeValueMemberS).Value
		if !strings.HasPrefix(pk, "RHIST#") {
			continue
		}
		_, res, _ := strings.Cut(sk, "#")
		if want := fmt.Sprintf("RHIST#web#%d", awssdk.ResourceShard(res)); pk != want {
			t.Errorf("%s written under %s, want %s", res, pk, want)
		}
		st.items[pk] = append(st.items[pk], map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "sk": &ddbtypes.AttributeValueMemberS{Value: sk},
			"live": &ddbtypes.AttributeValueMemberN{Value: "1"}, "live_applied": &ddbtypes.AttributeValueMemberN{Value: "1"},
		})
	}
	got, err := tb.History().ResourceMinutes(context.Background(), "web", u0, u0)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(st.pks)
	if len(st.pks) != awssdk.ResourceShards || st.pks[0] != "RHIST#web#0" || st.pks[7] != "RHIST#web#7" {
		t.Errorf("queried %v, want the %d shards", st.pks, awssdk.ResourceShards)
	}
	if len(got) != 40 || !sort.SliceIsSorted(got, func(a, b int) bool { return got[a].Resource < got[b].Resource }) {
		t.Errorf("%d resource minutes merged (sorted %v), want 40 in order", len(got), sort.SliceIsSorted(got, func(a, b int) bool { return got[a].Resource < got[b].Resource }))
	}
}
