//go:build e2e

// The end-to-end suite of the control plane against moto server: the
// handlers in process with the real AWS adapters, and the real bootstrap
// binaries under the Lambda Runtime Interface Emulator. moto emits no
// EventBridge events, so the tests build them exactly as EventBridge sends
// them and deliver them, as AWS would.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

var (
	env     *harness.Env
	started = time.Now()
	figures sync.Map // name -> string, printed at the end
)

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
	var lines []string
	figures.Range(func(k, v any) bool { lines = append(lines, fmt.Sprintf("  %s: %s", k, v)); return true })
	sort.Strings(lines)
	fmt.Printf("e2e figures (suite %s):\n%s\n", time.Since(started).Round(time.Millisecond), strings.Join(lines, "\n"))
	os.Exit(code)
}

// plane is the three lifecycle handlers in process, wired as the mains
// wire them, against moto.
type plane struct {
	w          *harness.World
	launch     *handlers.Launch
	terminate  *handlers.Terminate
	reconciler *handlers.Reconciler
	metrics    *metrics.Recorder
	logs       *bytes.Buffer
	table      *awssdk.Table
}

func newPlane(t *testing.T, opt harness.WorldOptions) *plane {
	t.Helper()
	return newPlaneWith(t, opt, nil)
}

var requests int

func invocation() context.Context {
	requests++
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("e2e-%d", requests)})
}

func (p *plane) deliver(t *testing.T, h handlers.HandleFunc, event []byte, want string) handlers.Response {
	t.Helper()
	resp, err := h(invocation(), event)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	if want != "" && resp.Outcome != want {
		t.Fatalf("outcome %+v, want %s", resp, want)
	}
	return resp
}

// lives returns the group's instance ids.
func (p *plane) lives(t *testing.T, want int) []string {
	t.Helper()
	ids, err := env.GroupInstances(context.Background(), p.w.Group, want)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// shadowsByLive returns the stack's live-or-pending shadows per live id.
func (p *plane) shadowsByLive(t *testing.T) map[string][]ec2types.Instance {
	t.Helper()
	insts, err := env.Shadows(context.Background(), p.w.Stack)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]ec2types.Instance{}
	for _, i := range insts {
		if i.State.Name == ec2types.InstanceStateNameShuttingDown {
			continue
		}
		live := harness.Tags(i.Tags)[shadow.TagLive]
		out[live] = append(out[live], i)
	}
	return out
}

func (p *plane) record(t *testing.T, live string) (shadow.Record, bool) {
	t.Helper()
	r, err := p.table.Records().Get(context.Background(), live)
	if err != nil {
		return shadow.Record{}, false
	}
	return r, true
}

func (p *plane) launchAll(t *testing.T, lives []string) {
	t.Helper()
	for _, id := range lives {
		p.deliver(t, p.launch.Handle, harness.StateChange(id, "running", time.Now()), handlers.OutcomeEnsured)
	}
}

func TestLaunchEventsGiveOneShadowEach(t *testing.T) {
	ctx := context.Background()
	p := newPlane(t, harness.WorldOptions{})
	lives := p.lives(t, 2)
	cat, _ := catalog.Default()
	want, err := cat.ShadowFor(p.w.LiveType, catalog.DefaultFractions())
	if err != nil {
		t.Fatal(err)
	}
	// Each event delivered twice in a row, and once more concurrently with
	// itself: EventBridge delivers at least once.
	for _, id := range lives {
		ev := harness.StateChange(id, "running", time.Now())
		p.deliver(t, p.launch.Handle, ev, handlers.OutcomeEnsured)
		p.deliver(t, p.launch.Handle, ev, handlers.OutcomeEnsured)
	}
	var wg sync.WaitGroup
	for _, id := range lives {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := p.launch.Handle(invocation(), harness.StateChange(id, "running", time.Now())); err != nil {
					t.Errorf("concurrent delivery: %v", err)
				}
			}()
		}
	}
	wg.Wait()

	byLive := p.shadowsByLive(t)
	for _, id := range lives {
		sh := byLive[id]
		if len(sh) != 1 {
			t.Fatalf("live %s has %d shadows, want 1", id, len(sh))
		}
		s := sh[0]
		live, _, err := env.Instance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		az := aws.ToString(live.Placement.AvailabilityZone)
		tags := harness.Tags(s.Tags)
		switch {
		case aws.ToString(s.Placement.AvailabilityZone) != az:
			t.Errorf("shadow of %s in %s, live in %s", id, aws.ToString(s.Placement.AvailabilityZone), az)
		case aws.ToString(s.SubnetId) != p.w.PoolSubnets[az]:
			t.Errorf("shadow of %s in subnet %s, want the pool subnet %s", id, aws.ToString(s.SubnetId), p.w.PoolSubnets[az])
		case string(s.InstanceType) != want.Name:
			t.Errorf("shadow of %s is %s, want %s", id, s.InstanceType, want.Name)
		case tags[shadow.TagRole] != shadow.RoleShadow || tags[shadow.TagLive] != id || tags[shadow.TagGroup] != p.w.Group || tags[shadow.TagStack] != p.w.Stack || tags[shadow.TagGeneration] != "1":
			t.Errorf("shadow of %s tags %v", id, tags)
		case tags["aws:ec2launchtemplate:id"] != p.w.ShadowTemplate:
			t.Errorf("shadow of %s not from the shadow launch template: %v", id, tags)
		}
		rec, ok := p.record(t, id)
		if !ok || rec.Status != shadow.Active || rec.ShadowID != aws.ToString(s.InstanceId) || rec.Generation != 1 {
			t.Errorf("record of %s: %+v (found %v)", id, rec, ok)
		}
	}
	if n := p.metrics.Total("ShadowsLaunched"); n != 2 {
		t.Errorf("ShadowsLaunched = %v, want 2", n)
	}
	if !strings.Contains(p.logs.String(), `"requestId":"e2e-`) {
		t.Error("no request id in the logs")
	}
}

func TestReconcilerReplacesAndCreates(t *testing.T) {
	ctx := context.Background()
	p := newPlane(t, harness.WorldOptions{})
	lives := p.lives(t, 2)
	p.launchAll(t, lives)
	before, _ := p.record(t, lives[0])
	// A shadow terminated out of band (its events lost), and a third live
	// instance that never got its launch event.
	if err := env.TerminateInstance(ctx, before.ShadowID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ASG.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(p.w.Group), DesiredCapacity: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	lives = p.lives(t, 3)

	resp := p.deliver(t, p.reconciler.Handle, harness.Scheduled("shadowscale-reconciler", time.Now()), handlers.OutcomeReconciled)
	var kinds []string
	for _, a := range resp.Actions {
		if a.Error != "" {
			t.Errorf("action failed: %+v", a)
		}
		kinds = append(kinds, a.Kind)
	}
	sort.Strings(kinds)
	if fmt.Sprint(kinds) != "[create replace]" {
		t.Errorf("actions %+v, want one replace and one create", resp.Actions)
	}
	// The third instance's id may sort before the first: look the replaced
	// one up by its id, not its position.
	after, _ := p.record(t, before.LiveID)
	if after.Generation != 2 || after.ShadowID == "" || after.ShadowID == before.ShadowID || after.Status != shadow.Active {
		t.Errorf("record after the replace: %+v (before %+v)", after, before)
	}
	byLive := p.shadowsByLive(t)
	for _, id := range lives {
		if len(byLive[id]) != 1 {
			t.Errorf("live %s has %d shadows, want 1", id, len(byLive[id]))
		}
	}
	if got := harness.Tags(byLive[before.LiveID][0].Tags)[shadow.TagGeneration]; got != "2" {
		t.Errorf("the replacement is tagged generation %s", got)
	}
	if resp.Counts[p.w.Group].Live != 3 {
		t.Errorf("counts %+v", resp.Counts)
	}
	// A second run finds nothing to do (resyncs are skipped: no agents).
	resp = p.deliver(t, p.reconciler.Handle, harness.Scheduled("shadowscale-reconciler", time.Now()), handlers.OutcomeReconciled)
	if len(resp.Actions) != 0 {
		t.Errorf("second run: %+v", resp.Actions)
	}
	if got := p.metrics.Sum("LiveCount", metrics.Dim{Name: "Group", Value: p.w.Group}); got != 6 {
		t.Errorf("LiveCount summed over two runs = %v, want 3+3", got)
	}
}

func TestLiveTerminatedRetiresItsShadow(t *testing.T) {
	ctx := context.Background()
	p := newPlane(t, harness.WorldOptions{})
	lives := p.lives(t, 2)
	p.launchAll(t, lives)
	gone, kept := lives[0], lives[1]
	rec, _ := p.record(t, gone)
	if err := env.TerminateInstance(ctx, gone); err != nil {
		t.Fatal(err)
	}
	p.deliver(t, p.terminate.Handle, harness.StateChange(gone, "shutting-down", time.Now()), handlers.OutcomeRetired)
	p.deliver(t, p.terminate.Handle, harness.StateChange(gone, "terminated", time.Now()), handlers.OutcomeNoop)
	// And the shadow's own events, which follow: nothing to do.
	p.deliver(t, p.terminate.Handle, harness.StateChange(rec.ShadowID, "shutting-down", time.Now()), handlers.OutcomeNoop)
	p.deliver(t, p.terminate.Handle, harness.StateChange(rec.ShadowID, "terminated", time.Now()), handlers.OutcomeNoop)

	sh, ok, err := env.Instance(ctx, rec.ShadowID)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if st := sh.State.Name; st != ec2types.InstanceStateNameTerminated && st != ec2types.InstanceStateNameShuttingDown {
		t.Errorf("the shadow is %s", st)
	}
	if _, ok := p.record(t, gone); ok {
		t.Error("the record is still there")
	}
	if r, ok := p.record(t, kept); !ok || r.Status != shadow.Active {
		t.Errorf("the other live's record: %+v", r)
	}
	if byLive := p.shadowsByLive(t); len(byLive[kept]) != 1 || len(byLive[gone]) != 0 {
		t.Errorf("shadows %v", byLive)
	}
}

// snapshot is what a forged event must not change.
type snapshot struct {
	instances map[string]string // id -> state
	records   map[string]int64  // live -> version
}

func (p *plane) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	insts, err := env.WorldInstances(ctx, p.w)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{instances: map[string]string{}, records: map[string]int64{}}
	for _, i := range insts {
		s.instances[aws.ToString(i.InstanceId)] = string(i.State.Name)
	}
	recs, err := p.table.Records().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		s.records[r.LiveID] = r.Version
	}
	return s
}

func TestForgedEventsChangeNothing(t *testing.T) {
	p := newPlane(t, harness.WorldOptions{})
	lives := p.lives(t, 2)
	p.launchAll(t, lives)
	rec, _ := p.record(t, lives[0])
	before := p.snapshot(t)
	for _, tc := range []struct {
		name    string
		h       handlers.HandleFunc
		event   []byte
		outcome string
	}{
		{"terminated, naming a running live", p.terminate.Handle, harness.StateChange(lives[0], "terminated", time.Now()), handlers.OutcomeRefused},
		{"shutting-down, naming a running live", p.terminate.Handle, harness.StateChange(lives[1], "shutting-down", time.Now()), handlers.OutcomeRefused},
		{"terminated, naming a running shadow", p.terminate.Handle, harness.StateChange(rec.ShadowID, "terminated", time.Now()), handlers.OutcomeRefused},
		{"running, naming a live that has its shadow", p.launch.Handle, harness.StateChange(lives[0], "running", time.Now()), handlers.OutcomeEnsured},
		{"running, naming a shadow", p.launch.Handle, harness.StateChange(rec.ShadowID, "running", time.Now()), handlers.OutcomeIgnored},
		// An unknown instance named by a fresh event may be EC2 lagging
		// behind (launch retries it: TestLaunchEventualConsistency); one
		// named by an event past the 5-minute window is ignored.
		{"running, naming an unknown instance", p.launch.Handle, harness.StateChange("i-0123456789abcdef0", "running", time.Now().Add(-10*time.Minute)), handlers.OutcomeIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.deliver(t, tc.h, tc.event, tc.outcome)
		})
	}
	after := p.snapshot(t)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("forged events changed the world:\nbefore %v\nafter  %v", before, after)
	}
	if n := p.metrics.Total("EventsRefused"); n != 3 {
		t.Errorf("EventsRefused = %v, want 3", n)
	}
	refusals := strings.Count(p.logs.String(), `"message":"event refused"`)
	if refusals != 3 {
		t.Errorf("%d refusals logged, want 3", refusals)
	}
}

// TestBinariesUnderRIE runs the real bootstraps under the Lambda Runtime
// Interface Emulator, each on its own pair of loopback ports, with their
// environment pointed at moto, through a whole lifecycle.
func TestBinariesUnderRIE(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{})
	rie, err := harness.RIE(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := harness.BuildFunctions(ctx, t.TempDir(), "launch", "terminate", "reconciler")
	if err != nil {
		t.Fatal(err)
	}
	fenv := w.FunctionEnv(env)
	fns := map[string]*harness.Function{}
	for _, name := range []string{"launch", "terminate", "reconciler"} {
		f, err := harness.StartFunction(ctx, rie, name, bins[name], fenv)
		if err != nil {
			t.Fatal(err)
		}
		fns[name] = f
		t.Cleanup(func() {
			if t.Failed() {
				keepLogs(t, name+" logs", f.Logs())
			}
			_ = f.Stop()
		})
	}
	invoke := func(fn string, event []byte, want string) handlers.Response {
		t.Helper()
		out, err := fns[fn].Invoke(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		var resp handlers.Response
		if err := json.Unmarshal(out, &resp); err != nil || resp.Outcome != want {
			t.Fatalf("%s answered %s, want outcome %s", fn, out, want)
		}
		return resp
	}
	lives, err := env.GroupInstances(ctx, w.Group, 2)
	if err != nil {
		t.Fatal(err)
	}
	var shadowIDs []string
	for _, id := range lives {
		r := invoke("launch", harness.StateChange(id, "running", time.Now()), handlers.OutcomeEnsured)
		again := invoke("launch", harness.StateChange(id, "running", time.Now()), handlers.OutcomeEnsured)
		if r.Shadow == "" || again.Shadow != r.Shadow {
			t.Fatalf("launch gave %q then %q", r.Shadow, again.Shadow)
		}
		shadowIDs = append(shadowIDs, r.Shadow)
	}
	// Out of band: the first shadow dies; the reconciler replaces it.
	if err := env.TerminateInstance(ctx, shadowIDs[0]); err != nil {
		t.Fatal(err)
	}
	// The deployed reconciler has the agent client wired: no agent runs
	// behind moto's instance addresses, so its resyncs fail (reported, not
	// fatal) while the replace goes through.
	r := invoke("reconciler", harness.Scheduled("shadowscale-reconciler", time.Now()), handlers.OutcomeReconciled)
	replaced := 0
	for _, a := range r.Actions {
		switch {
		case a.Kind == string(shadow.Replace) && a.Error == "" && a.Live == lives[0]:
			replaced++
		case a.Kind == string(shadow.Resync):
		default:
			t.Errorf("unexpected reconciler action %+v", a)
		}
	}
	if replaced != 1 {
		t.Fatalf("reconciler actions %+v, want the replace of %s's shadow", r.Actions, lives[0])
	}
	// A forged terminate naming the second live: refused.
	invoke("terminate", harness.StateChange(lives[1], "terminated", time.Now()), handlers.OutcomeRefused)
	// The second live really goes: its shadow is retired.
	if err := env.TerminateInstance(ctx, lives[1]); err != nil {
		t.Fatal(err)
	}
	invoke("terminate", harness.StateChange(lives[1], "terminated", time.Now()), handlers.OutcomeRetired)
	if sh, _, _ := env.Instance(ctx, shadowIDs[1]); sh.State == nil || (sh.State.Name != ec2types.InstanceStateNameTerminated && sh.State.Name != ec2types.InstanceStateNameShuttingDown) {
		t.Errorf("the retired shadow is %v", sh.State)
	}
	// Malformed input: an answer, not an error.
	invoke("launch", []byte(`{"hello":`), handlers.OutcomeIgnored)
	invoke("terminate", []byte(`[]`), handlers.OutcomeIgnored)

	for name, f := range fns {
		logs := f.Logs()
		if !strings.Contains(logs, `"requestId":`) || !strings.Contains(logs, `"function":"`+name+`"`) {
			t.Errorf("%s logs lack request ids or the function name:\n%s", name, logs)
		}
		if !strings.Contains(logs, `"_aws":{`) {
			t.Errorf("%s printed no embedded metric format line:\n%s", name, logs)
		}
		if fi, err := os.Stat(bins[name]); err == nil {
			figures.Store("bootstrap size (linux/"+runtime.GOARCH+", stripped): "+name, strconv.FormatInt(fi.Size(), 10)+" bytes")
		}
	}
	p := &plane{w: w}
	if p.table, err = awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.record(t, lives[1]); ok {
		t.Error("the retired live still has a record")
	}
	if rec, ok := p.record(t, lives[0]); !ok || rec.Generation != 2 || rec.Status != shadow.Active {
		t.Errorf("the replaced shadow's record: %+v", rec)
	}
}

// TestColdInitUnderRIE starts each bootstrap fresh under the emulator five
// times and reports the median and worst cold init (target: under 50 ms).
func TestColdInitUnderRIE(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{Desired: 1})
	names := []string{"launch", "terminate", "reconciler"}
	bins, err := harness.BuildFunctions(ctx, t.TempDir(), names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		coldInit(t, name, bins[name], w.FunctionEnv(env))
	}
}

// TestStreamReadBack puts mutations with the producer and reads them back
// as the Lambda Kinesis events a mapping would deliver: what the fanout
// scenarios will feed their handler.
func TestStreamReadBack(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{Desired: 1})
	prod, err := libproducer.New(env.Kinesis, clock.System{}, libproducer.Options{Stream: w.Stream, NoAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := env.NewStreamReader(ctx, w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	put := func(res string, from, to uint64) {
		var ms []mutation.Mutation
		for s := from; s <= to; s++ {
			ms = append(ms, mutation.Mutation{V: 1, Resource: res, Seq: s, Op: mutation.OpPut, Key: fmt.Sprint("k", s), Value: []byte("v"), ProducedAt: time.Now().UTC()})
		}
		if err := prod.PutAll(ctx, ms...); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string][]uint64 {
		evs, err := reader.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]uint64{}
		for shard, ev := range evs {
			b, _ := json.Marshal(ev) // as Lambda would serialise it
			var back events.KinesisEvent
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			for _, r := range back.Records {
				m, err := mutation.Decode(r.Kinesis.Data)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(r.EventID, shard+":") || r.EventSourceArn != w.StreamARN || r.Kinesis.PartitionKey != m.Resource {
					t.Errorf("record %+v", r)
				}
				got[m.Resource] = append(got[m.Resource], m.Seq)
			}
		}
		return got
	}
	put("i-0a", 1, 3)
	put("i-0b", 1, 2)
	if got := fmt.Sprint(read()); got != "map[i-0a:[1 2 3] i-0b:[1 2]]" {
		t.Errorf("first read %s", got)
	}
	put("i-0a", 4, 4)
	if got := fmt.Sprint(read()); got != "map[i-0a:[4]]" {
		t.Errorf("second read %s, want only what is new", got)
	}
}
