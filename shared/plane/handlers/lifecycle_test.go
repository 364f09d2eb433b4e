package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

func TestRegistryParsesAutoScalingEvents(t *testing.T) {
	r := handlers.DefaultRegistry()
	for _, tc := range []struct {
		file                string
		launch              bool
		origin, destination string
	}{
		{"asg-launch-successful.json", true, "EC2", "AutoScalingGroup"},
		{"asg-launch-warm-pool.json", true, "EC2", "WarmPool"},
		{"asg-terminate-successful.json", false, "AutoScalingGroup", "EC2"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := r.Parse(fixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			g, ok := ev.(handlers.GroupInstanceEvent)
			if !ok {
				t.Fatalf("parsed as %T", ev)
			}
			if g.InstanceID != liveID || g.Group != "web" || g.Launch != tc.launch || g.Origin != tc.origin || g.Destination != tc.destination ||
				g.AZ != "us-east-1a" || g.SubnetID == "" || g.StatusCode != "InProgress" || g.EventID == "" || g.Time.IsZero() {
				t.Errorf("parsed %+v", g)
			}
		})
	}
	for _, bad := range []string{
		`{"source":"aws.autoscaling","detail-type":"EC2 Instance Launch Successful","detail":{"EC2InstanceId":"x-1","AutoScalingGroupName":"web"}}`,
		`{"source":"aws.autoscaling","detail-type":"EC2 Instance Launch Successful","detail":{"EC2InstanceId":"i-0a1b","AutoScalingGroupName":""}}`,
		`{"source":"aws.autoscaling","detail-type":"EC2 Instance Terminate Successful","detail":{"EC2InstanceId":"i-0a1b","AutoScalingGroupName":"web","Destination":"Mars"}}`,
		`{"source":"aws.autoscaling","detail-type":"EC2 Instance Terminate Successful"}`,
	} {
		if _, err := r.Parse([]byte(bad)); !errors.Is(err, handlers.ErrMalformed) {
			t.Errorf("Parse(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

// Auto Scaling's launch event comes while EC2 may still say pending: the
// shadow is ensured then (before the instance is in service).
func TestLaunchOnAutoScalingEvent(t *testing.T) {
	e := newEnv(t, 10)
	e.addLive(liveID, "web", "us-east-1a")
	e.fleet.SetState(liveID, shadow.Pending)
	resp, err := launch(t, e).Handle(invocation(), fixture(t, "asg-launch-successful.json"))
	if err != nil || resp.Outcome != handlers.OutcomeEnsured || resp.Shadow == "" {
		t.Fatalf("%+v, %v", resp, err)
	}
	if e.slept != 0 {
		t.Errorf("waited %d times for a pending instance the event expects pending", e.slept)
	}
}

// EC2 lags behind the event: the instance is unknown, then pending, then
// running. The handler looks again (bounded), and when the lag outlasts
// one invocation's patience it fails so Lambda retries; long after the
// event it gives up (ignored).
func TestLaunchEventualConsistency(t *testing.T) {
	t.Run("appears after two waits", func(t *testing.T) {
		e := newEnv(t, 10)
		e.onSleep = func(n int) {
			switch n {
			case 1:
				e.addLive(liveID, "web", "us-east-1a")
				e.fleet.SetState(liveID, shadow.Pending)
			case 2:
				e.fleet.SetState(liveID, shadow.Running)
			}
		}
		resp, err := launch(t, e).Handle(invocation(), fixture(t, "ec2-running.json"))
		if err != nil || resp.Outcome != handlers.OutcomeEnsured {
			t.Fatalf("%+v, %v", resp, err)
		}
		if e.slept != 2 {
			t.Errorf("waited %d times, want 2", e.slept)
		}
	})
	t.Run("still unknown: retried, then ignored after the window", func(t *testing.T) {
		e := newEnv(t, 10)
		h := launch(t, e)
		_, err := h.Handle(invocation(), fixture(t, "ec2-running.json"))
		if !errors.Is(err, handlers.ErrNotYetVisible) {
			t.Fatalf("err = %v, want ErrNotYetVisible (Lambda retries)", err)
		}
		if e.metrics.Total("EventsRetried") != 1 {
			t.Errorf("EventsRetried = %v", e.metrics.Total("EventsRetried"))
		}
		// Lambda's retries come 1 and 3 minutes later; past 5 minutes the
		// event is taken for stale.
		e.clock.Advance(6 * time.Minute)
		resp, err := h.Handle(invocation(), fixture(t, "ec2-running.json"))
		if err != nil || resp.Outcome != handlers.OutcomeIgnored {
			t.Fatalf("after the window: %+v, %v", resp, err)
		}
	})
}

// Auto Scaling's terminate event retires the shadow, like EC2's.
func TestTerminateOnAutoScalingEvent(t *testing.T) {
	e := newEnv(t, 10)
	l := e.addLive(liveID, "web", "us-east-1a")
	rec, err := e.manager.Ensure(invocation(), l)
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewTerminate(e.deps)
	if err != nil {
		t.Fatal(err)
	}
	// Still running: a confused event is refused.
	if resp, err := h.Handle(invocation(), fixture(t, "asg-terminate-successful.json")); err != nil || resp.Outcome != handlers.OutcomeRefused {
		t.Fatalf("while running: %+v, %v", resp, err)
	}
	e.fleet.SetState(liveID, shadow.Terminated)
	resp, err := h.Handle(invocation(), fixture(t, "asg-terminate-successful.json"))
	if err != nil || resp.Outcome != handlers.OutcomeRetired || resp.Shadow != rec.ShadowID {
		t.Fatalf("%+v, %v", resp, err)
	}
	if sh, _ := e.fleet.Get(rec.ShadowID); sh.State != shadow.Terminated {
		t.Errorf("shadow %s", sh.State)
	}
}

// A shadow that dies at boot, again and again: its terminate events
// replace it once, then answer deferred (backoff) instead of replacing it
// in a loop.
func TestTerminateDefersAReplacementStorm(t *testing.T) {
	e := newEnv(t, 10)
	rec := withShadow(t, e)
	h := terminate(t, e)
	var outcomes []string
	for range 3 {
		e.fleet.SetState(rec.ShadowID, shadow.Terminated)
		resp, err := h.Handle(invocation(), stateEvent(t, "ec2-terminated.json", rec.ShadowID))
		if err != nil {
			t.Fatal(err)
		}
		outcomes = append(outcomes, resp.Outcome)
		if cur, err := e.records.Get(invocation(), liveID); err == nil {
			rec = cur
		}
	}
	if want := []string{handlers.OutcomeReplaced, handlers.OutcomeDeferred, handlers.OutcomeDeferred}; !equal(outcomes, want) {
		t.Fatalf("outcomes %v, want %v", outcomes, want)
	}
	if e.fleet.Launches != 2 {
		t.Errorf("%d launches, want 2 (the first shadow and one replacement)", e.fleet.Launches)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lifecycleFake records the lifecycle actions completed.
type lifecycleFake struct {
	calls []string
	err   error
}

func (f *lifecycleFake) Continue(_ context.Context, group, hook, instanceID, token string) error {
	f.calls = append(f.calls, group+"/"+hook+"/"+instanceID+"/"+token)
	return f.err
}

// The plane's launch hook: the shadow is ensured while the instance waits
// in Pending:Wait, then the action is continued; whatever Ensure answers
// for good, the launch is never held; a transient failure leaves it to
// Lambda's retry (the hook's timeout bounds the wait); another hook's
// actions are not the plane's.
func TestLaunchLifecycleHook(t *testing.T) {
	const hook = "shadowscale-test-shadow"
	action := "web/" + hook + "/" + liveID + "/71514b9d-6a40-4b26-8523-05e7ee35fa40"
	for _, tc := range []struct {
		name       string
		hook       string
		setup      func(e *env, f *lifecycleFake)
		event      []byte
		outcome    string
		wantErr    bool
		continued  bool
		wantLaunch int
	}{
		{name: "our hook: ensured, then continued", hook: hook, outcome: handlers.OutcomeEnsured, continued: true, wantLaunch: 1},
		{name: "another hook: not ours", hook: "someone-elses-hook", outcome: handlers.OutcomeIgnored},
		{name: "no hook configured", outcome: handlers.OutcomeIgnored},
		{name: "pool full: deferred, still continued", hook: hook, setup: func(e *env, _ *lifecycleFake) {
			if _, err := e.manager.Ensure(invocation(), e.addLive("i-0other", "web", "us-east-1a")); err != nil {
				t.Fatal(err)
			}
		}, outcome: handlers.OutcomeDeferred, continued: true},
		{name: "group not enrolled: ignored, still continued", hook: hook, setup: func(e *env, _ *lifecycleFake) { e.enroll("web", false) },
			outcome: handlers.OutcomeIgnored, continued: true},
		{name: "EC2 failing: retried, not continued", hook: hook, setup: func(e *env, _ *lifecycleFake) {
			e.fleet.FailDescribe = func([]string) error { return errors.New("RequestLimitExceeded") }
		}, wantErr: true},
		{name: "not ours to complete: ensured, the hook's timeout continues", hook: hook, setup: func(_ *env, f *lifecycleFake) {
			f.err = fmt.Errorf("denied: %w", shadow.ErrNotOwned)
		}, outcome: handlers.OutcomeEnsured, continued: true, wantLaunch: 1},
		{name: "completing throttled: retried", hook: hook, setup: func(_ *env, f *lifecycleFake) { f.err = errors.New("Throttling") },
			wantErr: true, continued: true, wantLaunch: 1},
		{name: "into the warm pool: no shadow, continued", hook: hook,
			event:   bytes.Replace(fixture(t, "asg-launch-lifecycle-action.json"), []byte(`"Destination": "AutoScalingGroup"`), []byte(`"Destination": "WarmPool"`), 1),
			outcome: handlers.OutcomeNoop, continued: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			f := &lifecycleFake{}
			e.addLive(liveID, "web", "us-east-1a")
			e.fleet.SetState(liveID, shadow.Pending) // Pending:Wait
			if tc.setup != nil {
				tc.setup(e, f)
			}
			before := e.fleet.Launches
			e.deps.Lifecycle, e.deps.LaunchHook = f, tc.hook
			ev := tc.event
			if ev == nil {
				ev = fixture(t, "asg-launch-lifecycle-action.json")
			}
			resp, err := launch(t, e).Handle(invocation(), ev)
			if tc.wantErr != (err != nil) || (!tc.wantErr && resp.Outcome != tc.outcome) {
				t.Fatalf("answer %+v, %v; want %s (error %v)", resp, err, tc.outcome, tc.wantErr)
			}
			if got := len(f.calls) == 1 && f.calls[0] == action; got != tc.continued || len(f.calls) > 1 {
				t.Errorf("continued %v, want %v", f.calls, tc.continued)
			}
			if n := e.fleet.Launches - before; n != tc.wantLaunch {
				t.Errorf("%d shadows launched, want %d", n, tc.wantLaunch)
			}
		})
	}
}

func TestRegistryParsesLaunchAction(t *testing.T) {
	ev, err := handlers.DefaultRegistry().Parse(fixture(t, "asg-launch-lifecycle-action.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := ev.(handlers.LaunchAction)
	if !ok || a.InstanceID != liveID || a.Group != "web" || a.Hook != "shadowscale-test-shadow" || a.Token != "71514b9d-6a40-4b26-8523-05e7ee35fa40" ||
		a.Transition != handlers.TransitionLaunching || a.Destination != "AutoScalingGroup" {
		t.Fatalf("parsed %T %+v", ev, ev)
	}
	bad := bytes.Replace(fixture(t, "asg-launch-lifecycle-action.json"), []byte("EC2_INSTANCE_LAUNCHING"), []byte("EC2_INSTANCE_TERMINATING"), 1)
	if _, err := handlers.DefaultRegistry().Parse(bad); !errors.Is(err, handlers.ErrMalformed) {
		t.Errorf("a terminating transition under the launch detail-type: %v, want ErrMalformed", err)
	}
}
