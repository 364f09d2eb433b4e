package handlers_test

import (
	"errors"
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
