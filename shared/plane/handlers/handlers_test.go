package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

const (
	stack = "shadowscale-test"
	// liveID is the instance the fixtures in events/ name.
	liveID = "i-0a1b2c3d4e5f60718"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fixture reads a sample event from events/.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// env is a handler test environment on in-memory adapters.
type env struct {
	clock   *clock.Fake
	fleet   *memory.Fleet
	records *memory.Records
	agents  *memory.Agents
	groups  *memory.Groups
	metrics *metrics.Recorder
	logs    *bytes.Buffer
	deps    handlers.Deps
	manager *shadow.Manager
	slept   int
	onSleep func(n int)
}

var subnets = map[string]string{
	"subnet-pool-a": "us-east-1a", "subnet-pool-b": "us-east-1b",
	"subnet-live-a": "us-east-1a", "subnet-live-b": "us-east-1b",
}

func newEnv(t testing.TB, capacity int) *env {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		clock: clock.NewFake(t0), records: memory.NewRecords(), agents: memory.NewAgents(), metrics: metrics.NewRecorder(), logs: &bytes.Buffer{},
		groups: memory.NewGroups(),
	}
	e.fleet = memory.NewFleet(stack, e.clock, subnets)
	log := lambdaenv.NewLogger(e.logs, slog.LevelDebug, "test")
	e.manager, err = shadow.NewManager(shadow.Config{
		Stack: stack, Fractions: catalog.DefaultFractions(), LaunchTimeout: 5 * time.Minute, AgentPort: 8470,
		Pools: shadow.Pools{
			"us-east-1a": {Subnets: []string{"subnet-pool-a"}, Capacity: capacity},
			"us-east-1b": {Subnets: []string{"subnet-pool-b"}, Capacity: capacity},
		},
	}, shadow.Deps{Fleet: e.fleet, Records: e.records, Catalog: cat, Clock: e.clock, Metrics: e.metrics, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e.deps = handlers.Deps{Manager: e.manager, Fleet: e.fleet, Records: e.records, Groups: e.groups, Clock: e.clock, Metrics: e.metrics, Log: log}
	e.enroll("web", true)
	return e
}

// sleep is the handlers' wait on the fake clock: it advances it, and runs
// onSleep (a test's way to change the world meanwhile).
func (e *env) sleep(_ context.Context, d time.Duration) error {
	e.clock.Advance(d)
	e.slept++
	if e.onSleep != nil {
		e.onSleep(e.slept)
	}
	return nil
}

func (e *env) enroll(group string, enrolled bool) {
	e.groups.Put(asg.Group{Name: group, EnrolledByTag: enrolled, Min: 0, Max: 10, Desired: 2})
}

// addLive adds a running live instance of group (its membership also known
// to Auto Scaling).
func (e *env) addLive(id, group, az string) shadow.Instance {
	sub := "subnet-live-a"
	if az == "us-east-1b" {
		sub = "subnet-live-b"
	}
	l := shadow.Instance{ID: id, Type: "m7g.xlarge", AZ: az, SubnetID: sub, PrivateIP: "10.0.1.7", Group: group, State: shadow.Running, LaunchedAt: e.clock.Now()}
	e.fleet.Add(l)
	if group != "" {
		e.groups.Update(group, func(gr *asg.Group) {
			gr.Instances = append(gr.Instances, asg.Instance{ID: id, AZ: az, Type: l.Type, Lifecycle: "InService"})
		})
	}
	return l
}

func (e *env) shadows(t *testing.T, live string) []shadow.Instance {
	t.Helper()
	s, err := e.fleet.Shadows(context.Background(), live)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ctx is an invocation context: the logger adds its request id.
func invocation() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
}

func TestRegistry(t *testing.T) {
	r := handlers.DefaultRegistry()
	for _, tc := range []struct {
		file    string
		want    string
		wantErr error
	}{
		{"ec2-running.json", "running", nil},
		{"ec2-pending.json", "pending", nil},
		{"ec2-shutting-down.json", "shutting-down", nil},
		{"ec2-terminated.json", "terminated", nil},
		{"scheduled.json", "scheduled", nil},
		{"kinesis-mutations.json", "", handlers.ErrMalformed},
		{"invalid-not-json.json", "", handlers.ErrMalformed},
		{"invalid-unknown-detail-type.json", "", handlers.ErrUnknownEvent},
		{"invalid-bad-instance-id.json", "", handlers.ErrMalformed},
		{"invalid-bad-state.json", "", handlers.ErrMalformed},
		{"invalid-no-detail.json", "", handlers.ErrMalformed},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := r.Parse(fixture(t, tc.file))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Parse = %v, %v; want %v", ev, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch e := ev.(type) {
			case handlers.InstanceStateChange:
				if string(e.State) != tc.want || e.InstanceID != liveID || e.Region != "us-east-1" || e.Time.IsZero() || e.EventID == "" {
					t.Errorf("parsed %+v", e)
				}
			case handlers.Scheduled:
				if tc.want != "scheduled" || !strings.HasSuffix(e.Rule, "rule/shadowscale-reconciler") {
					t.Errorf("parsed %+v", e)
				}
			default:
				t.Errorf("parsed %T", ev)
			}
		})
	}
	for name, payload := range map[string]string{
		"empty":          "",
		"null":           "null",
		"array":          "[1,2]",
		"trailing data":  string(fixture(t, "ec2-running.json")) + "{}",
		"detail is text": `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":"running"}`,
		"huge":           `{"source":"` + strings.Repeat("a", 300<<10) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := r.Parse([]byte(payload)); !errors.Is(err, handlers.ErrMalformed) && !errors.Is(err, handlers.ErrUnknownEvent) {
				t.Errorf("Parse = %v, want a parse error", err)
			}
		})
	}
}

func launch(t *testing.T, e *env) *handlers.Launch {
	t.Helper()
	opt := handlers.DefaultLaunchOptions()
	opt.Sleep = e.sleep
	h, err := handlers.NewLaunchWith(e.deps, opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLaunchEnsuresOneShadow(t *testing.T) {
	e := newEnv(t, 10)
	e.addLive(liveID, "web", "us-east-1b")
	h := launch(t, e)
	ev := fixture(t, "ec2-running.json")
	for i := range 2 { // the same event twice: still one shadow
		resp, err := h.Handle(invocation(), ev)
		if err != nil || resp.Outcome != handlers.OutcomeEnsured || resp.Shadow == "" {
			t.Fatalf("delivery %d: %+v, %v", i, resp, err)
		}
	}
	sh := e.shadows(t, liveID)
	if len(sh) != 1 {
		t.Fatalf("%d shadows, want 1", len(sh))
	}
	cat, _ := catalog.Default()
	want, _ := cat.ShadowFor("m7g.xlarge", catalog.DefaultFractions())
	if s := sh[0]; s.AZ != "us-east-1b" || s.SubnetID != "subnet-pool-b" || s.Type != want.Name || s.Tags[shadow.TagGroup] != "web" || s.Tags[shadow.TagLive] != liveID {
		t.Errorf("shadow %+v: want us-east-1b, subnet-pool-b, %s, tags of web/%s", s, want.Name, liveID)
	}
	if e.fleet.Launches != 1 {
		t.Errorf("%d launches, want 1", e.fleet.Launches)
	}
	for i, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if !strings.Contains(line, `"requestId":"req-1"`) {
			t.Errorf("log line %d has no request id: %s", i, line)
		}
	}
}

func TestLaunchIgnoresAndRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(e *env)
		event   string
		outcome string
		counter string // metric that must count it
	}{
		{"pending state", func(e *env) { e.addLive(liveID, "web", "us-east-1a") }, "ec2-pending.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"a terminate state", func(e *env) { e.addLive(liveID, "web", "us-east-1a") }, "ec2-terminated.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"unknown to EC2, long after the event", func(e *env) { e.clock.Advance(10 * time.Minute) }, "ec2-running.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"pending long after a running event", func(e *env) {
			e.addLive(liveID, "web", "us-east-1a")
			e.fleet.SetState(liveID, shadow.Pending)
			e.clock.Advance(10 * time.Minute)
		}, "ec2-running.json", handlers.OutcomeRefused, "EventsRefused"},
		{"launched into the warm pool", func(e *env) { e.addLive(liveID, "web", "us-east-1a") }, "asg-launch-warm-pool.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"a terminate successful", func(e *env) { e.addLive(liveID, "web", "us-east-1a") }, "asg-terminate-successful.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"event names another group", func(e *env) { e.enroll("api", true); e.addLive(liveID, "api", "us-east-1a") }, "asg-launch-successful.json", handlers.OutcomeRefused, "EventsRefused"},
		{"EC2 says stopped", func(e *env) {
			e.addLive(liveID, "web", "us-east-1a")
			e.fleet.SetState(liveID, shadow.Stopped)
		}, "ec2-running.json", handlers.OutcomeRefused, "EventsRefused"},
		{"a shadow", func(e *env) {
			e.fleet.Add(shadow.Instance{ID: liveID, Type: "t4g.small", AZ: "us-east-1a", State: shadow.Running, Tags: map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: stack}})
		}, "ec2-running.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"no group", func(e *env) { e.addLive(liveID, "", "us-east-1a") }, "ec2-running.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"group not enrolled", func(e *env) {
			e.enroll("batch", false)
			e.addLive(liveID, "batch", "us-east-1a")
		}, "ec2-running.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"pool full", func(e *env) {
			e.addLive("i-0other", "web", "us-east-1a")
			if _, err := e.manager.Ensure(context.Background(), e.addLive("i-0other", "web", "us-east-1a")); err != nil {
				panic(err)
			}
			e.addLive(liveID, "web", "us-east-1a")
		}, "ec2-running.json", handlers.OutcomeDeferred, "PoolFull"},
		{"malformed", func(*env) {}, "invalid-not-json.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"unknown detail-type", func(*env) {}, "invalid-unknown-detail-type.json", handlers.OutcomeIgnored, "EventsIgnored"},
		{"a scheduled event", func(*env) {}, "scheduled.json", handlers.OutcomeIgnored, "EventsIgnored"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			tc.setup(e)
			before := e.fleet.Launches
			resp, err := launch(t, e).Handle(invocation(), fixture(t, tc.event))
			if err != nil {
				t.Fatalf("error %v: an event that cannot succeed must not make Lambda retry", err)
			}
			if resp.Outcome != tc.outcome || resp.Reason == "" {
				t.Errorf("answer %+v, want %s with a reason", resp, tc.outcome)
			}
			if e.fleet.Launches != before {
				t.Errorf("%d launches, want none", e.fleet.Launches-before)
			}
			if e.metrics.Total(tc.counter) != 1 {
				t.Errorf("%s = %v, want 1", tc.counter, e.metrics.Total(tc.counter))
			}
		})
	}
}

func TestLaunchFindsTheGroupThroughAutoScaling(t *testing.T) {
	e := newEnv(t, 10)
	l := e.addLive(liveID, "", "us-east-1a") // no aws:autoscaling:groupName tag seen
	e.groups.Update("web", func(gr *asg.Group) {
		gr.Instances = append(gr.Instances, asg.Instance{ID: l.ID, AZ: l.AZ, Type: l.Type, Lifecycle: "InService"})
	})
	resp, err := launch(t, e).Handle(invocation(), fixture(t, "ec2-running.json"))
	if err != nil || resp.Outcome != handlers.OutcomeEnsured {
		t.Fatalf("%+v, %v", resp, err)
	}
	if s := e.shadows(t, liveID); len(s) != 1 || s[0].Tags[shadow.TagGroup] != "web" {
		t.Errorf("shadows %+v", s)
	}
}

func TestTransientFailuresAreErrors(t *testing.T) {
	e := newEnv(t, 10)
	e.addLive(liveID, "web", "us-east-1a")
	e.fleet.FailDescribe = func([]string) error { return fmt.Errorf("describing: %w", awssdk.ErrThrottled) }
	for _, h := range []handlers.HandleFunc{
		launch(t, e).Handle,
		must(handlers.NewTerminate(e.deps)).Handle,
	} {
		for _, ev := range []string{"ec2-running.json", "ec2-terminated.json"} {
			resp, err := h(invocation(), fixture(t, ev))
			if resp.Outcome == handlers.OutcomeIgnored {
				continue // not this handler's state
			}
			if !errors.Is(err, awssdk.ErrThrottled) {
				t.Errorf("%s: %+v, %v; want the throttling error (Lambda retries)", ev, resp, err)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func terminate(t *testing.T, e *env) *handlers.Terminate {
	t.Helper()
	h, err := handlers.NewTerminate(e.deps)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// withShadow adds the fixture's live instance with its shadow.
func withShadow(t *testing.T, e *env) shadow.Record {
	t.Helper()
	rec, err := e.manager.Ensure(context.Background(), e.addLive(liveID, "web", "us-east-1a"))
	if err != nil || rec.ShadowID == "" {
		t.Fatalf("Ensure = %+v, %v", rec, err)
	}
	return rec
}

func TestTerminateRetiresTheShadowOfAGoneLive(t *testing.T) {
	e := newEnv(t, 10)
	rec := withShadow(t, e)
	e.fleet.SetState(liveID, shadow.ShuttingDown)
	h := terminate(t, e)
	resp, err := h.Handle(invocation(), fixture(t, "ec2-shutting-down.json"))
	if err != nil || resp.Outcome != handlers.OutcomeRetired || resp.Shadow != rec.ShadowID {
		t.Fatalf("%+v, %v", resp, err)
	}
	if s, _ := e.fleet.Get(rec.ShadowID); s.State != shadow.Terminated {
		t.Errorf("shadow is %s, want terminated", s.State)
	}
	if _, err := e.records.Get(context.Background(), liveID); !errors.Is(err, shadow.ErrNotFound) {
		t.Errorf("record still there: %v", err)
	}
	// The terminated event that follows changes nothing more.
	e.fleet.SetState(liveID, shadow.Terminated)
	resp, err = h.Handle(invocation(), fixture(t, "ec2-terminated.json"))
	if err != nil || resp.Outcome != handlers.OutcomeNoop {
		t.Errorf("second event: %+v, %v", resp, err)
	}
}

func TestTerminateRefusesAForgedEvent(t *testing.T) {
	e := newEnv(t, 10)
	rec := withShadow(t, e)
	for _, ev := range []string{"ec2-shutting-down.json", "ec2-terminated.json"} {
		resp, err := terminate(t, e).Handle(invocation(), fixture(t, ev))
		if err != nil || resp.Outcome != handlers.OutcomeRefused {
			t.Fatalf("%s: %+v, %v; want refused", ev, resp, err)
		}
	}
	if s, _ := e.fleet.Get(rec.ShadowID); s.State != shadow.Running {
		t.Errorf("shadow is %s, want still running", s.State)
	}
	if l, _ := e.fleet.Get(liveID); l.State != shadow.Running {
		t.Errorf("live is %s", l.State)
	}
	if got, err := e.records.Get(context.Background(), liveID); err != nil || got.Version != rec.Version {
		t.Errorf("record changed: %+v, %v", got, err)
	}
	if n := e.metrics.Sum("EventsRefused", metricsDim("Function", "terminate"), metricsDim("Reason", "state-mismatch")); n != 2 {
		t.Errorf("EventsRefused = %v, want 2", n)
	}
	if !strings.Contains(e.logs.String(), `"level":"WARN","msg":"event refused"`) && !strings.Contains(e.logs.String(), `"message":"event refused"`) {
		t.Errorf("no refusal logged:\n%s", e.logs.String())
	}
}

func metricsDim(n, v string) metrics.Dim { return metrics.Dim{Name: n, Value: v} }

// stateEvent rewrites a fixture to name another instance.
func stateEvent(t *testing.T, file, id string) []byte {
	t.Helper()
	return bytes.ReplaceAll(fixture(t, file), []byte(liveID), []byte(id))
}

func TestTerminateReplacesAFailedShadow(t *testing.T) {
	e := newEnv(t, 10)
	rec := withShadow(t, e)
	e.fleet.SetState(rec.ShadowID, shadow.Terminated)
	h := terminate(t, e)
	resp, err := h.Handle(invocation(), stateEvent(t, "ec2-terminated.json", rec.ShadowID))
	if err != nil || resp.Outcome != handlers.OutcomeReplaced || resp.Shadow == "" || resp.Shadow == rec.ShadowID {
		t.Fatalf("%+v, %v", resp, err)
	}
	got, _ := e.records.Get(context.Background(), liveID)
	if got.Generation != 2 || got.ShadowID != resp.Shadow || got.Status != shadow.Active {
		t.Errorf("record %+v, want generation 2 active on %s", got, resp.Shadow)
	}
	// The old shadow's other event, and the same one again: nothing more.
	for _, ev := range []string{"ec2-shutting-down.json", "ec2-terminated.json"} {
		resp, err := h.Handle(invocation(), stateEvent(t, ev, rec.ShadowID))
		if err != nil || resp.Outcome != handlers.OutcomeNoop {
			t.Errorf("%s: %+v, %v", ev, resp, err)
		}
	}
	if live := e.shadows(t, liveID); len(live) != 1 {
		t.Errorf("%d shadows running, want 1", len(live))
	}
}

func TestTerminateOfAShadowEC2HasForgotten(t *testing.T) {
	e := newEnv(t, 10)
	rec := withShadow(t, e)
	// The record names a shadow EC2 no longer reports at all.
	rec.ShadowID = "i-0forgotten000000"
	rec, err := e.records.Update(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := terminate(t, e).Handle(invocation(), stateEvent(t, "ec2-terminated.json", rec.ShadowID))
	if err != nil || resp.Outcome != handlers.OutcomeReplaced {
		t.Fatalf("%+v, %v", resp, err)
	}
}

func TestTerminateIgnores(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(e *env)
		event   []byte
		outcome string
	}{
		{"a running state", func(e *env) { withShadow(t, e) }, fixture(t, "ec2-running.json"), handlers.OutcomeIgnored},
		{"another stack's shadow", func(e *env) {
			e.fleet.Add(shadow.Instance{ID: liveID, State: shadow.Terminated, Tags: map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: "other", shadow.TagLive: "i-0x"}})
		}, fixture(t, "ec2-terminated.json"), handlers.OutcomeIgnored},
		{"an instance nobody knows", func(*env) {}, fixture(t, "ec2-terminated.json"), handlers.OutcomeNoop},
		{"a bad instance id", func(*env) {}, fixture(t, "invalid-bad-instance-id.json"), handlers.OutcomeIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 10)
			tc.setup(e)
			resp, err := terminate(t, e).Handle(invocation(), tc.event)
			if err != nil || resp.Outcome != tc.outcome {
				t.Errorf("%+v, %v; want %s", resp, err, tc.outcome)
			}
			for _, s := range e.shadows(t, "") {
				if s.State != shadow.Running {
					t.Errorf("shadow %s is %s", s.ID, s.State)
				}
			}
		})
	}
}

func reconciler(t *testing.T, e *env) *handlers.Reconciler {
	t.Helper()
	h, err := handlers.NewReconciler(e.deps, handlers.DefaultReconcilerOptions())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReconciler(t *testing.T) {
	e := newEnv(t, 10)
	rec := withShadow(t, e)
	e.addLive("i-0b", "web", "us-east-1b")   // no shadow yet
	e.enroll("batch", false)                 // not enrolled: its instance gets nothing
	e.addLive("i-0c", "batch", "us-east-1a") //
	// An orphan: a shadow of ours no record owns, older than the grace.
	e.fleet.Add(shadow.Instance{ID: "i-0orphan", State: shadow.Running, AZ: "us-east-1a", LaunchedAt: t0.Add(-time.Hour), Tags: e.manager.Tags("i-0gone", "web", 1)})
	e.clock.Advance(time.Minute)

	resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
	if err != nil || resp.Outcome != handlers.OutcomeReconciled {
		t.Fatalf("%+v, %v", resp, err)
	}
	var kinds []string
	for _, a := range resp.Actions {
		if a.Error != "" {
			t.Errorf("action %+v failed", a)
		}
		kinds = append(kinds, a.Kind+":"+a.Live)
	}
	// The resync of the never-synced shadow is skipped: no agent client.
	if want := "[create:i-0b delete-orphan:i-0gone]"; fmt.Sprint(kinds) != want {
		t.Errorf("actions %v, want %s", kinds, want)
	}
	if len(e.shadows(t, "i-0b")) != 1 || len(e.shadows(t, "i-0c")) != 0 {
		t.Error("i-0b has no shadow, or i-0c (not enrolled) has one")
	}
	if o, _ := e.fleet.Get("i-0orphan"); o.State != shadow.Terminated {
		t.Errorf("orphan is %s", o.State)
	}
	if got := resp.Counts["web"]; got.Live != 2 || got.Shadows != 2 || got.Records != 1 {
		t.Errorf("counts %+v (observed before acting)", got)
	}
	if e.metrics.Sum("LiveCount", metricsDim("Group", "web")) != 2 || e.metrics.Sum("ShadowCount", metricsDim("Group", "web")) != 2 {
		t.Errorf("LiveCount/ShadowCount not reported")
	}
	if _, ok := resp.Counts["batch"]; ok {
		t.Error("a group that is not enrolled was counted")
	}
	_ = rec

	t.Run("with agents it resyncs", func(t *testing.T) {
		e.manager.Agents = e.agents
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil {
			t.Fatal(err)
		}
		var resyncs []string
		for _, a := range resp.Actions {
			if a.Kind == string(shadow.Resync) {
				resyncs = append(resyncs, a.Live)
			}
		}
		if fmt.Sprint(resyncs) != fmt.Sprint([]string{liveID, "i-0b"}) {
			t.Errorf("resyncs %v (actions %+v), want both never-synced shadows", resyncs, resp.Actions)
		}
		for _, a := range resp.Actions {
			if a.Error != "" {
				t.Errorf("action %+v failed", a)
			}
		}
		got, _ := e.records.Get(context.Background(), liveID)
		if !got.SyncedAt.Equal(e.clock.Now()) {
			t.Errorf("record not marked synced: %+v", got)
		}
	})
}

func TestReconcilerErrors(t *testing.T) {
	e := newEnv(t, 10)
	resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "ec2-running.json"))
	if err != nil || resp.Outcome != handlers.OutcomeIgnored {
		t.Errorf("a state change: %+v, %v", resp, err)
	}
	e.groups.Fail = func(string, string) error { return fmt.Errorf("auto scaling: %w", awssdk.ErrThrottled) }
	if _, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json")); !errors.Is(err, awssdk.ErrThrottled) {
		t.Errorf("an observation failure = %v, want the error", err)
	}
}

type flushCounter struct{ n int }

func (f *flushCounter) Flush() error { f.n++; return nil }

func TestLambdaAdapter(t *testing.T) {
	var logs bytes.Buffer
	fl := &flushCounter{}
	l := handlers.Lambda{Log: lambdaenv.NewLogger(&logs, slog.LevelInfo, "t"), Metrics: fl}
	l.Handle = func(context.Context, []byte) (handlers.Response, error) {
		return handlers.Response{Outcome: handlers.OutcomeNoop, Reason: "r"}, nil
	}
	out, err := l.Invoke(invocation(), []byte("{}"))
	var resp handlers.Response
	if err != nil || json.Unmarshal(out, &resp) != nil || resp.Outcome != handlers.OutcomeNoop {
		t.Errorf("Invoke = %s, %v", out, err)
	}
	l.Handle = func(context.Context, []byte) (handlers.Response, error) { panic("boom") }
	if _, err := l.Invoke(invocation(), nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a panic = %v, want an error", err)
	}
	l.Handle = func(context.Context, []byte) (handlers.Response, error) {
		return handlers.Response{}, errors.New("throttled")
	}
	if _, err := l.Invoke(invocation(), nil); err == nil {
		t.Error("an error was swallowed")
	}
	if fl.n != 3 {
		t.Errorf("metrics flushed %d times, want after each of 3 invocations", fl.n)
	}
	if !strings.Contains(logs.String(), `"message":"handler panicked"`) || !strings.Contains(logs.String(), `"requestId":"req-1"`) {
		t.Errorf("logs: %s", logs.String())
	}
}
