//go:build e2e

package awssdk_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	"github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// env is this package's moto server, started once (each test suite on its
// own port), or AWS_ENDPOINT_URL: a server other tests use at the same
// time. Every test works in a world of its own (harness.Env.NewWorld) and
// looks up only what is its own: see the harness's package doc.
var env *harness.Env

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	env, err = harness.Start(ctx, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting moto:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// world sets up a fresh world for the test (torn down at its cleanup).
func world(t *testing.T, opt harness.WorldOptions) *harness.World {
	t.Helper()
	return env.NewWorld(t, opt)
}

func newFleet(t *testing.T, w *harness.World, rec *metrics.Recorder) *awssdk.Fleet {
	t.Helper()
	f, err := awssdk.NewFleet(env.EC2, awssdk.FleetConfig{Stack: w.Stack, LaunchTemplates: w.ShadowTemplates()}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func shadowTags(stack, live, group string, gen int) map[string]string {
	return map[string]string{
		shadow.TagRole: shadow.RoleShadow, shadow.TagLive: live, shadow.TagGroup: group,
		shadow.TagStack: stack, shadow.TagGeneration: fmt.Sprint(gen), "Name": "shadow-of-" + live,
	}
}

func TestFleetLaunchTagsAndPlacement(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{})
	f := newFleet(t, w, nil)
	tags := shadowTags(w.Stack, "i-0123456789abcdef0", w.Group, 1)
	inst, err := f.Launch(ctx, shadow.LaunchSpec{
		LiveID: "i-0123456789abcdef0", Group: w.Group, AZ: "us-east-1b", SubnetID: w.PoolSubnets["us-east-1b"],
		InstanceType: "m7g.medium", Arch: "arm64", Generation: 1, ClientToken: "tok-1", Tags: tags,
	})
	if err != nil {
		t.Fatal(err)
	}
	if inst.AZ != "us-east-1b" || inst.SubnetID != w.PoolSubnets["us-east-1b"] || inst.Type != "m7g.medium" {
		t.Errorf("launched %+v: want us-east-1b, pool subnet %s, m7g.medium", inst, w.PoolSubnets["us-east-1b"])
	}
	for k, v := range tags {
		if inst.Tags[k] != v {
			t.Errorf("instance tag %s = %q, want %q", k, inst.Tags[k], v)
		}
	}
	// The volumes carry the tags from creation too.
	vols, err := env.EC2.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []ec2types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{inst.ID}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(vols.Volumes) == 0 {
		t.Fatal("the shadow has no volume")
	}
	for _, v := range vols.Volumes {
		vt := harness.Tags(v.Tags)
		for k, want := range tags {
			if vt[k] != want {
				t.Errorf("volume %s tag %s = %q, want %q", aws.ToString(v.VolumeId), k, vt[k], want)
			}
		}
	}
	// The launch template is the shadow one.
	raw, _, err := env.Instance(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := harness.Tags(raw.Tags)["aws:ec2launchtemplate:id"]; got != w.ShadowTemplate {
		t.Errorf("launched from template %q, want the shadow template %s", got, w.ShadowTemplate)
	}

	for _, tc := range []struct {
		name string
		live string
		want []string
	}{
		{"all shadows", "", []string{inst.ID}},
		{"shadows of the live", "i-0123456789abcdef0", []string{inst.ID}},
		{"shadows of another", "i-0fffffffffffffff0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.Shadows(ctx, tc.live)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("Shadows(%q) = %v, want %v", tc.live, ids, tc.want)
			}
		})
	}
}

func TestFleetDescribe(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{})
	f := newFleet(t, w, nil)
	lives, err := env.GroupInstances(ctx, w.Group, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Describe(ctx, []string{lives[1], "i-0000000000000dead", "not-an-id", lives[0], lives[0]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != lives[0] || got[1].ID != lives[1] {
		t.Fatalf("Describe = %+v, want exactly %v in order", got, lives)
	}
	for _, i := range got {
		if i.Group != w.Group || i.State != shadow.Running || i.AZ == "" || i.Type != w.LiveType || i.PrivateIP == "" || i.Impaired {
			t.Errorf("live %+v: want group %s, running, an AZ, type %s, an address, not impaired", i, w.Group, w.LiveType)
		}
	}
	none, err := f.Describe(ctx, nil)
	if err != nil || len(none) != 0 {
		t.Errorf("Describe(nil) = %v, %v; want nothing", none, err)
	}
}

func TestFleetTerminateRefusesWhatIsNotOurs(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{})
	rec := metrics.NewRecorder()
	f := newFleet(t, w, rec)
	lives, err := env.GroupInstances(ctx, w.Group, 2)
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.Launch(ctx, shadow.LaunchSpec{LiveID: lives[0], SubnetID: w.PoolSubnets["us-east-1a"], InstanceType: "m7g.medium", Arch: "arm64", Tags: shadowTags("another-stack", lives[0], w.Group, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := f.Launch(ctx, shadow.LaunchSpec{LiveID: lives[0], SubnetID: w.PoolSubnets["us-east-1a"], InstanceType: "m7g.medium", Arch: "arm64", Tags: shadowTags(w.Stack, lives[0], w.Group, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		id      string
		wantErr error
		state   ec2types.InstanceStateName
	}{
		{"a live instance", lives[1], shadow.ErrNotOwned, ec2types.InstanceStateNameRunning},
		{"another stack's shadow", other.ID, shadow.ErrNotOwned, ec2types.InstanceStateNameRunning},
		{"our shadow", ours.ID, nil, ec2types.InstanceStateNameTerminated},
		{"our shadow again", ours.ID, nil, ec2types.InstanceStateNameTerminated},
		{"an unknown instance", "i-0000000000000dead", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.Terminate(ctx, tc.id)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Terminate(%s) = %v, want %v", tc.id, err, tc.wantErr)
			}
			if tc.state == "" {
				return
			}
			raw, ok, err := env.Instance(ctx, tc.id)
			if err != nil || !ok {
				t.Fatalf("describing %s: %v %v", tc.id, ok, err)
			}
			if raw.State.Name != tc.state && !(tc.state == ec2types.InstanceStateNameTerminated && raw.State.Name == ec2types.InstanceStateNameShuttingDown) {
				t.Errorf("%s is %s, want %s", tc.id, raw.State.Name, tc.state)
			}
		})
	}
	if got := rec.Sum("RefusedNotOwned"); got != 2 {
		t.Errorf("RefusedNotOwned = %v, want 2", got)
	}
}

func TestGroups(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{Mode: asg.ModeAct})
	// A second group, enrolled only by name (SHADOWSCALE_GROUPS), and a
	// third not enrolled at all; both the world's (removed with it).
	byName, bystander, missing := w.Name("by-name"), w.Name("bystander"), w.Name("missing")
	w.ScopeGroups(byName, bystander)
	for _, name := range []string{byName, bystander} {
		if _, err := env.ASG.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
			AutoScalingGroupName: aws.String(name), MinSize: aws.Int32(0), MaxSize: aws.Int32(2), DesiredCapacity: aws.Int32(1),
			LaunchTemplate:    &asgtypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(w.LiveTemplate), Version: aws.String("$Latest")},
			VPCZoneIdentifier: aws.String(w.LiveSubnets["us-east-1a"]),
		}); err != nil {
			t.Fatal(err)
		}
	}
	rec := metrics.NewRecorder()
	g, err := awssdk.NewGroups(env.ASG, env.EC2, awssdk.GroupsConfig{Names: []string{byName, missing}}, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	enrolled, err := g.EnrolledGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Other tests' enrolled groups may be there too: look at this world's.
	var names []string
	var ours []asg.Group
	for _, gr := range enrolled {
		if gr.Name == w.Group || gr.Name == byName || gr.Name == bystander || gr.Name == missing {
			names = append(names, gr.Name)
			ours = append(ours, gr)
		}
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{byName, w.Group}) {
		t.Fatalf("EnrolledGroups (this world's) = %v, want [%s %s]", names, byName, w.Group)
	}
	enrolled = ours
	web := enrolled[1]
	if !web.EnrolledByTag || web.Mode != asg.ModeAct || web.Desired != 2 || len(web.InService()) != 2 || web.LaunchTemplate.ID != w.LiveTemplate {
		t.Errorf("group %+v: want enrolled by tag, mode act, desired 2, two instances, template %s", web, w.LiveTemplate)
	}
	if enrolled[0].EnrolledByTag || !enrolled[0].EnrolledByName {
		t.Errorf("by-name: %+v, want enrolled by name only", enrolled[0])
	}
	of, err := g.GroupOf(ctx, web.Instances[0].ID)
	if err != nil || of != w.Group {
		t.Errorf("GroupOf(%s) = %q, %v; want %s", web.Instances[0].ID, of, err, w.Group)
	}
	if of, err := g.GroupOf(ctx, "i-0000000000000dead"); err != nil || of != "" {
		t.Errorf("GroupOf(unknown) = %q, %v; want none", of, err)
	}
	if _, err := g.Group(ctx, missing); !errors.Is(err, shadow.ErrNotFound) {
		t.Errorf("Group(missing) = %v, want ErrNotFound", err)
	}

	t.Run("writes refused on groups without the tag", func(t *testing.T) {
		for _, name := range []string{byName, bystander} {
			if err := g.SetDesiredCapacity(ctx, name, 2); !errors.Is(err, asg.ErrNotEnrolled) {
				t.Errorf("SetDesiredCapacity(%s) = %v, want ErrNotEnrolled", name, err)
			}
			if err := g.SetMaxSize(ctx, name, 5); !errors.Is(err, asg.ErrNotEnrolled) {
				t.Errorf("SetMaxSize(%s) = %v, want ErrNotEnrolled", name, err)
			}
			if _, err := g.Resize(ctx, name, "m7g.2xlarge"); !errors.Is(err, asg.ErrNotEnrolled) {
				t.Errorf("Resize(%s) = %v, want ErrNotEnrolled", name, err)
			}
			gr, err := g.Group(ctx, name)
			if err != nil || gr.Desired != 1 || gr.Max != 2 {
				t.Errorf("%s changed: %+v %v", name, gr, err)
			}
		}
		if got := rec.Sum("RefusedNotOwned"); got != 6 {
			t.Errorf("RefusedNotOwned = %v, want 6", got)
		}
	})
	t.Run("max, desired and resize on the enrolled group", func(t *testing.T) {
		if err := g.SetMaxSize(ctx, w.Group, 6); err != nil {
			t.Fatal(err)
		}
		if err := g.SetDesiredCapacity(ctx, w.Group, 3); err != nil {
			t.Fatal(err)
		}
		if _, err := env.GroupInstances(ctx, w.Group, 3); err != nil {
			t.Fatalf("moto did not launch the third instance: %v", err)
		}
		if err := g.SetDesiredCapacity(ctx, w.Group, 9); !errors.Is(err, shadow.ErrInvalid) {
			t.Errorf("desired above max = %v, want ErrInvalid", err)
		}
		ref, err := g.Resize(ctx, w.Group, "m7g.2xlarge")
		if err != nil {
			t.Fatal(err)
		}
		if ref.ID != w.LiveTemplate || ref.Version != "2" {
			t.Errorf("Resize = %+v, want version 2 of %s", ref, w.LiveTemplate)
		}
		typ, err := g.InstanceType(ctx, w.Group)
		if err != nil || typ != "m7g.2xlarge" {
			t.Errorf("InstanceType after resize = %q, %v", typ, err)
		}
		again, err := g.Resize(ctx, w.Group, "m7g.2xlarge")
		if err != nil || again != ref {
			t.Errorf("a repeated resize = %+v, %v; want %+v and no new version", again, err, ref)
		}
		gr, err := g.Group(ctx, w.Group)
		if err != nil || gr.Max != 6 || gr.Desired != 3 || gr.LaunchTemplate.Version != "$Latest" {
			t.Errorf("group after writes: %+v, %v; want it still on $Latest (now version 2)", gr, err)
		}
	})
}

func newTable(t *testing.T) *awssdk.Table {
	t.Helper()
	w := world(t, harness.WorldOptions{Desired: 1})
	tb, err := awssdk.NewTable(env.DDB, w.Table, clock.NewFake(t0), awssdk.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// TestRecordsContract runs one contract against the DynamoDB adapter and
// the in-memory one: the semantics must match.
func TestRecordsContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(t *testing.T) shadow.Records
	}{
		{"dynamodb", func(t *testing.T) shadow.Records { return newTable(t).Records() }},
		{"memory", func(*testing.T) shadow.Records { return memory.NewRecords() }},
	} {
		t.Run(tc.name, func(t *testing.T) { recordsContract(t, tc.new(t)) })
	}
}

func recordsContract(t *testing.T, rs shadow.Records) {
	ctx := context.Background()
	r := shadow.Record{
		LiveID: "i-0b", Group: "web", AZ: "us-east-1a", LiveType: "m7g.xlarge", ShadowType: "m7g.medium",
		SubnetID: "subnet-1", Status: shadow.Launching, Generation: 1,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second),
	}
	got, err := rs.Create(ctx, r)
	if err != nil || got.Version != 1 {
		t.Fatalf("Create = %+v, %v; want version 1", got, err)
	}
	if _, err := rs.Create(ctx, r); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("a second Create = %v, want ErrConflict", err)
	}
	got.ShadowID, got.Status, got.SyncedAt = "i-0s", shadow.Active, t0.Add(time.Minute+123*time.Nanosecond)
	up, err := rs.Update(ctx, got)
	if err != nil || up.Version != 2 {
		t.Fatalf("Update = %+v, %v; want version 2", up, err)
	}
	if _, err := rs.Update(ctx, got); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("Update at a stale version = %v, want ErrConflict", err)
	}
	if _, err := rs.Update(ctx, shadow.Record{LiveID: "i-0none", Version: 1}); !errors.Is(err, shadow.ErrNotFound) {
		t.Errorf("Update of a missing record = %v, want ErrNotFound", err)
	}
	back, err := rs.Get(ctx, "i-0b")
	if err != nil {
		t.Fatal(err)
	}
	if !back.CreatedAt.Equal(up.CreatedAt) || !back.UpdatedAt.Equal(up.UpdatedAt) || !back.SyncedAt.Equal(up.SyncedAt) {
		t.Errorf("times did not round-trip: %+v vs %+v", back, up)
	}
	back.CreatedAt, back.UpdatedAt, back.SyncedAt = up.CreatedAt, up.UpdatedAt, up.SyncedAt
	if back != up {
		t.Errorf("Get = %+v, want %+v", back, up)
	}
	if _, err := rs.Get(ctx, "i-0none"); !errors.Is(err, shadow.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := rs.Create(ctx, shadow.Record{LiveID: "i-0a", Group: "web", Status: shadow.Launching, Generation: 1}); err != nil {
		t.Fatal(err)
	}
	list, err := rs.List(ctx)
	if err != nil || len(list) != 2 || list[0].LiveID != "i-0a" || list[1].LiveID != "i-0b" {
		t.Errorf("List = %+v, %v; want i-0a then i-0b", list, err)
	}
	if err := rs.Delete(ctx, "i-0b", 1); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("Delete at a stale version = %v, want ErrConflict", err)
	}
	if err := rs.Delete(ctx, "i-0b", 2); err != nil {
		t.Errorf("Delete = %v", err)
	}
	if err := rs.Delete(ctx, "i-0b", 2); !errors.Is(err, shadow.ErrNotFound) {
		t.Errorf("Delete of a deleted record = %v, want ErrNotFound", err)
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t)
	h := tb.History()
	m0, m1 := t0.Add(59*time.Minute), t0.Add(60*time.Minute) // two hours, consecutive minutes
	batch := map[mutation.CountKey]mutation.Count{
		{Group: "web", Resource: "i-1", Target: mutation.Live, Minute: m0}:   {Accepted: 10, Applied: 100, Backlog: 1},
		{Group: "web", Resource: "i-1", Target: mutation.Shadow, Minute: m0}: {Accepted: 7, Applied: 97, Backlog: 4},
		{Group: "web", Resource: "i-2", Target: mutation.Live, Minute: m0}:   {Accepted: 5, Applied: 50},
		{Group: "web", Resource: "i-1", Target: mutation.Live, Minute: m1}:   {Accepted: 3, Applied: 103},
		{Group: "api", Resource: "i-9", Target: mutation.Live, Minute: m1}:   {Accepted: 1, Applied: 1},
		// records seen: a group count only, never a resource item
		{Group: "web", Resource: "i-1", Target: mutation.SeenTarget, Minute: m0}: {Seen: 10},
		{Group: "web", Resource: "i-2", Target: mutation.SeenTarget, Minute: m0}: {Seen: 6},
		{Group: "web", Resource: "i-3", Target: mutation.SeenTarget, Minute: m1}: {Seen: 2}, // heartbeats only
	}
	for range 2 { // ADD accumulates across flushes
		if err := h.Add(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	mins, err := h.GroupMinutes(ctx, "web", m0, m1)
	if err != nil {
		t.Fatal(err)
	}
	want := []mutation.GroupCount{{Start: m0, Live: 30, Shadow: 14, Seen: 32}, {Start: m1, Live: 6, Shadow: 0, Seen: 4}}
	if fmt.Sprint(mins) != fmt.Sprint(want) {
		t.Errorf("GroupMinutes = %v, want %v", mins, want)
	}
	if only, err := h.GroupMinutes(ctx, "web", m1, m1.Add(time.Hour)); err != nil || len(only) != 1 || only[0].Live != 6 {
		t.Errorf("GroupMinutes from m1 = %v, %v; want just m1", only, err)
	}
	hours, err := h.GroupHours(ctx, "web", t0, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantH := []mutation.GroupCount{{Start: t0, Live: 30, Shadow: 14, Seen: 32}, {Start: t0.Add(time.Hour), Live: 6, Seen: 4}}
	if fmt.Sprint(hours) != fmt.Sprint(wantH) {
		t.Errorf("GroupHours = %v, want %v", hours, wantH)
	}
	res, err := h.ResourceMinutes(ctx, "web", m0, m0)
	if err != nil {
		t.Fatal(err)
	}
	wantR := []mutation.ResourceCount{
		{Minute: m0, Resource: "i-1", Live: 20, Shadow: 14, LiveApplied: 100, ShadowApplied: 97, LiveBacklog: 1, ShadowBacklog: 4},
		{Minute: m0, Resource: "i-2", Live: 10, LiveApplied: 50},
	}
	if fmt.Sprint(res) != fmt.Sprint(wantR) {
		t.Errorf("ResourceMinutes = %+v, want %+v", res, wantR)
	}
	// Every item carries its TTL, counted from its own minute.
	raw, err := env.DDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.Name()), Key: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "HIST#web"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "M#" + m0.Format("2006-01-02T15:04Z")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	exp, ok := raw.Item["expires_at"].(*ddbtypes.AttributeValueMemberN)
	if !ok || exp.Value != fmt.Sprint(m0.Add(awssdk.DefaultTableOptions().MinuteTTL).Unix()) {
		t.Errorf("expires_at = %v, want minute + 35 days", raw.Item["expires_at"])
	}
	if err := h.Add(ctx, map[mutation.CountKey]mutation.Count{{Resource: "i-1", Target: mutation.Live, Minute: m0}: {Accepted: 1}}); !errors.Is(err, shadow.ErrInvalid) {
		t.Errorf("a counter without a group = %v, want ErrInvalid", err)
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	a := newTable(t).Audit()
	for i, action := range []string{"none", "scale-out", "raise-max"} {
		d := control.AuditRecord{Group: "web", At: t0.Add(time.Duration(i) * time.Minute), ID: fmt.Sprintf("req-%d", i), Action: action, Mode: asg.ModeForecastOnly, Body: json.RawMessage(`{"desired":` + fmt.Sprint(2+i) + `}`)}
		if err := a.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	dup := control.AuditRecord{Group: "web", At: t0, ID: "req-0", Action: "none"}
	if err := a.Put(ctx, dup); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("a repeated decision = %v, want ErrConflict", err)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		limit    int
		want     []string
	}{
		{"all, newest first", t0, t0.Add(time.Hour), 0, []string{"raise-max", "scale-out", "none"}},
		{"latest only", t0, t0.Add(time.Hour), 1, []string{"raise-max"}},
		{"a window", t0.Add(time.Minute), t0.Add(time.Minute), 0, []string{"scale-out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := a.List(ctx, "web", tc.from, tc.to, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range ds {
				got = append(got, d.Action)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("actions %v, want %v", got, tc.want)
			}
		})
	}
	ds, _ := a.List(ctx, "web", t0, t0, 0)
	if len(ds) != 1 || string(ds[0].Body) != `{"desired":2}` || !ds[0].At.Equal(t0) || ds[0].Mode != asg.ModeForecastOnly {
		t.Errorf("round trip: %+v", ds)
	}
}

func TestStates(t *testing.T) {
	ctx := context.Background()
	st := newTable(t).States()
	if _, err := st.Load(ctx, "web"); !errors.Is(err, shadow.ErrNotFound) {
		t.Fatalf("Load before any Save = %v, want ErrNotFound", err)
	}
	v1, err := st.Save(ctx, "web", []byte("state-1"), 0)
	if err != nil || v1 != 1 {
		t.Fatalf("Save = %d, %v", v1, err)
	}
	if _, err := st.Save(ctx, "web", []byte("other"), 0); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("a second first Save = %v, want ErrConflict", err)
	}
	v2, err := st.Save(ctx, "web", []byte{0, 1, 2, 255}, v1)
	if err != nil || v2 != 2 {
		t.Fatalf("Save at v1 = %d, %v", v2, err)
	}
	if _, err := st.Save(ctx, "web", []byte("stale"), v1); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("Save at a stale version = %v, want ErrConflict", err)
	}
	got, err := st.Load(ctx, "web")
	if err != nil || !bytes.Equal(got.Blob, []byte{0, 1, 2, 255}) || got.Version != 2 || !got.UpdatedAt.Equal(t0) {
		t.Errorf("Load = %+v, %v", got, err)
	}
	if _, err := st.Save(ctx, "web", make([]byte, control.MaxStateBlob+1), 2); !errors.Is(err, awssdk.ErrTooLarge) {
		t.Errorf("an oversized blob = %v, want ErrTooLarge", err)
	}
}

func TestProducer(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{Desired: 1})
	// The producer library (shared/producer) against the emulator's
	// PutRecords: numbered, aggregated, partition key = resource.
	p, err := producer.New(env.Kinesis, clock.System{}, producer.Options{Stream: w.Stream})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put(ctx, mutation.Mutation{Resource: "i-0a", Op: "upsert", Key: "bad"}); !errors.Is(err, mutation.ErrInvalid) {
		t.Fatalf("an invalid mutation: %v, want ErrInvalid", err)
	}
	if err := p.PutAll(ctx,
		mutation.Mutation{Resource: "i-0a", Op: mutation.OpPut, Key: "k1", Value: []byte("v1")},
		mutation.Mutation{Resource: "i-0b", Op: mutation.OpPut, Key: "k1", Value: []byte("w1")},
		mutation.Mutation{Resource: "i-0a", Op: mutation.OpDelete, Key: "k1"},
	); err != nil {
		t.Fatal(err)
	}
	// Read everything back: partition key = resource, records decode.
	shards, err := env.Kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(w.Stream)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]uint64{}
	for _, sh := range shards.Shards {
		it, err := env.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(w.Stream), ShardId: sh.ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := env.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs.Records {
			datas := [][]byte{r.Data}
			if mutation.IsAggregated(r.Data) {
				users, err := mutation.Deaggregate(nil, r.Data)
				if err != nil {
					t.Fatal(err)
				}
				datas = datas[:0]
				for _, u := range users {
					datas = append(datas, u.Data)
				}
			}
			for _, d := range datas {
				m, err := mutation.Decode(d)
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(r.PartitionKey) != m.Resource {
					t.Errorf("partition key %q for resource %q", aws.ToString(r.PartitionKey), m.Resource)
				}
				got[m.Resource] = append(got[m.Resource], m.Seq)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(map[string][]uint64{"i-0a": {1, 2}, "i-0b": {1}}) {
		t.Errorf("stream holds %v", got)
	}
}

func TestPutMetrics(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{Desired: 1})
	ns := w.Name("ShadowScaleTest")
	pm := awssdk.NewPutMetrics(env.CW, ns, clock.NewFake(time.Now().UTC()))
	pm.Add("Delta", metrics.None, 0.25, metrics.Dim{Name: "Group", Value: "web"})
	pm.Add("Delta", metrics.None, 0.5, metrics.Dim{Name: "Group", Value: "web"})
	pm.Add("DeadLettered", metrics.Count, 3)
	if err := pm.Flush(ctx); err != nil {
		t.Fatalf("PutMetricData on the JSON protocol: %v", err)
	}
	out, err := env.CW.ListMetrics(ctx, &cloudwatch.ListMetricsInput{Namespace: aws.String(ns)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range out.Metrics {
		names = append(names, aws.ToString(m.MetricName))
	}
	if !strings.Contains(fmt.Sprint(names), "Delta") || !strings.Contains(fmt.Sprint(names), "DeadLettered") {
		t.Errorf("metrics in moto: %v", names)
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{Desired: 1})
	dl, err := awssdk.NewDeadLetters(env.SQS, w.QueueURL, awssdk.DeadLetterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), awssdk.SQSMaxMessageBytes+10)
	letters := []mutation.DeadLetter{
		{Data: []byte(`{"v":1,"resource":`), Reason: "undecodable: unexpected end of JSON input", PartitionKey: "i-0a", SequenceNumber: "4959", EventID: "shardId-0:4959", Source: w.StreamARN, At: t0},
		{Data: []byte{0xff, 0x00, 0x01}, Reason: "not UTF-8"},
		{Data: big, Reason: "oversized"},
	}
	for i := 3; i < 12; i++ { // more than one batch of ten
		letters = append(letters, mutation.DeadLetter{Data: []byte(fmt.Sprint("record ", i)), Reason: "unknown resource"})
	}
	if err := dl.Send(ctx, letters...); err != nil {
		t.Fatal(err)
	}
	byReason := map[string]sqstypes.Message{}
	for len(byReason) < 3 {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.QueueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			byReason[aws.ToString(m.MessageAttributes["reason"].StringValue)] = m
		}
	}
	attr := func(m sqstypes.Message, k string) string { return aws.ToString(m.MessageAttributes[k].StringValue) }
	if m := byReason["undecodable: unexpected end of JSON input"]; aws.ToString(m.Body) != `{"v":1,"resource":` || attr(m, "encoding") != "raw" || attr(m, "partition_key") != "i-0a" || attr(m, "source") != w.StreamARN {
		t.Errorf("undecodable letter: body %q attrs %v", aws.ToString(m.Body), m.MessageAttributes)
	}
	if m := byReason["not UTF-8"]; attr(m, "encoding") != "base64" || aws.ToString(m.Body) != base64.StdEncoding.EncodeToString([]byte{0xff, 0, 1}) {
		t.Errorf("binary letter: body %q attrs %v", aws.ToString(m.Body), m.MessageAttributes)
	}
	// The cut prefix and the attributes together fit one message (SQS
	// counts every attribute's name, type and value).
	size := func(m sqstypes.Message) int {
		n := len(aws.ToString(m.Body))
		for k, v := range m.MessageAttributes {
			n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue))
		}
		return n
	}
	if m := byReason["oversized"]; attr(m, "encoding") != "raw-prefix" || attr(m, "original_bytes") != fmt.Sprint(len(big)) || size(m) > awssdk.SQSMaxMessageBytes || size(m) < awssdk.SQSMaxMessageBytes-4096 {
		t.Errorf("oversized letter without a bucket: %d body bytes, attrs encoding=%q original_bytes=%q", len(aws.ToString(m.Body)), attr(m, "encoding"), attr(m, "original_bytes"))
	}

	// With a bucket, the oversized letter is whole in S3, the message
	// names it.
	s3c := s3.NewFromConfig(env.Cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := "dead-letters-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dl, err = awssdk.NewDeadLetters(env.SQS, w.QueueURL, awssdk.DeadLetterOptions{S3: s3c, Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Send(ctx, mutation.DeadLetter{Data: big, Reason: "in s3", SequenceNumber: "4960", SubSequence: -1, At: t0}); err != nil {
		t.Fatal(err)
	}
	var m sqstypes.Message
	for m.Body == nil {
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.QueueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil || len(out.Messages) == 0 {
			t.Fatalf("the letter naming its object: %v", err)
		}
		for _, x := range out.Messages {
			if attr(x, "reason") == "in s3" {
				m = x
			}
		}
	}
	var loc struct{ Bucket, Key string }
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &loc); err != nil || attr(m, "encoding") != "s3" || loc.Bucket != bucket {
		t.Fatalf("letter body %q, encoding %q: %v", aws.ToString(m.Body), attr(m, "encoding"), err)
	}
	obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(loc.Key)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	got, _ := io.ReadAll(obj.Body)
	if !bytes.Equal(got, big) {
		t.Errorf("the object holds %d bytes, want the %d of the record", len(got), len(big))
	}
}

func TestReadSecret(t *testing.T) {
	ctx := context.Background()
	w := world(t, harness.WorldOptions{Desired: 1})
	got, err := awssdk.ReadSecret(ctx, env.Secrets, w.SecretARN)
	if err != nil || string(got) != w.AgentKey {
		t.Errorf("ReadSecret = %q, %v", got, err)
	}
	if _, err := awssdk.ReadSecret(ctx, env.Secrets, "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"); !errors.Is(err, shadow.ErrNotFound) {
		t.Errorf("a missing secret = %v, want ErrNotFound", err)
	}
}
