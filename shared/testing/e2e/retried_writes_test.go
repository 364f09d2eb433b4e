//go:build e2e

package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
	"github.com/shadowscale/shadowscale/shared/testing/faultproxy"
)

// Writes that took effect while their answer was lost, then retried by
// the SDK: the cases where a retry is not harmless.

// TestRunInstancesRetriedAfterItTookEffect: the first RunInstances of a
// shadow launch takes effect, its connection drops, the SDK retries, and
// moto (which ignores ClientToken) launches a second instance of the same
// generation. The launch adopts one (the record names it), the other is
// this stack's shadow of the same live instance that no record owns: one
// reconcile after its grace period deletes it, and nothing else.
func TestRunInstancesRetriedAfterItTookEffect(t *testing.T) {
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 1}, rules: []faultproxy.Rule{
		{Service: "ec2", Operation: "RunInstances", Rate: 1, Fault: faultproxy.DropAfter, Limit: 1},
	}})
	live := r.lives(t)[0]
	resp, failures := retried(t, r.launch.Handle, harness.StateChange(live, "running", time.Now()))
	if failures != 0 || resp.Outcome != handlers.OutcomeEnsured || resp.Shadow == "" {
		t.Fatalf("launch answered %+v after %d failures", resp, failures)
	}
	if st := r.calls.Stats()["ec2.RunInstances"]; st.Calls != 1 || st.Attempts != 2 {
		t.Fatalf("RunInstances %+v: want one call the SDK retried once", st)
	}
	ws := r.observe(t)
	if n := len(ws.shadows[live]); n != 2 {
		t.Fatalf("%d shadows after a RunInstances retried after it took effect: moto no longer launches twice? (the scenario proves nothing then)", n)
	}
	time.Sleep(testOrphanGrace)
	out := r.reconcile(t)
	deleted := 0
	for _, a := range out.Actions {
		switch {
		case a.Kind == string(shadow.DeleteOrphan) && a.Error == "" && a.Shadow != resp.Shadow && a.Live == live:
			deleted++
		case a.Kind == string(shadow.Resync):
		default:
			t.Errorf("unexpected action %+v", a)
		}
	}
	if deleted != 1 {
		t.Errorf("one reconcile deleted %d duplicates: %+v", deleted, out.Actions)
	}
	r.assertOneShadowEach(t)
}

func (r *rig) lives(t *testing.T) []string {
	t.Helper()
	return r.observe(t).lives
}

// TestRecordWritesRetriedAfterTheyTookEffect: a conditional write of the
// shadow record (the claim, then the update that marks it active) takes
// effect, its answer is lost, and the SDK retries it: the retry's
// condition fails against the write itself. The plane must take that for
// its own write, not for another caller's: the shadow is launched at once
// and recorded active, not left "launching" for the reconciler to replace
// after its launch timeout (5 minutes deployed).
func TestRecordWritesRetriedAfterTheyTookEffect(t *testing.T) {
	for _, tc := range []struct {
		name string
		skip int // PutItems let through before the dropped one
	}{
		{"the claim (create)", 0},
		{"the activation (update)", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 1}})
			live := r.lives(t)[0]
			rules := []faultproxy.Rule{{Service: "dynamodb", Operation: "PutItem", Rate: 1, Fault: faultproxy.DropAfter, Limit: 1}}
			if tc.skip > 0 {
				// Let the first PutItems through: a latency rule of rate
				// 1 with a limit takes them first.
				rules = append([]faultproxy.Rule{{Service: "dynamodb", Operation: "PutItem", Rate: 1, Fault: faultproxy.Latency, Latency: time.Millisecond, Limit: tc.skip}}, rules...)
			}
			if err := r.proxy.SetRules(rules...); err != nil {
				t.Fatal(err)
			}
			resp, failures := retried(t, r.launch.Handle, harness.StateChange(live, "running", time.Now()))
			if st := r.proxy.Stats()["dynamodb.PutItem"]; st.Injected[faultproxy.DropAfter] != 1 {
				t.Fatalf("PutItem stats %+v: the fault was not injected", st)
			}
			if failures != 0 || resp.Outcome != handlers.OutcomeEnsured || resp.Shadow == "" {
				t.Errorf("launch answered %+v after %d failed invocations: want the shadow ensured at once", resp, failures)
			}
			rec, err := r.table.Records().Get(t.Context(), live)
			if err != nil || rec.Status != shadow.Active || rec.ShadowID == "" {
				t.Errorf("record %+v (%v), want active with its shadow", rec, err)
			}
			r.assertOneShadowEach(t)
		})
	}
}

// TestReplacementLaunchFailedAfterItsClaim: a shadow dies; the
// reconciler claims its replacement (the record goes to launching, its
// old shadow forgotten), and then RunInstances fails every attempt the
// retryer allows. The claim is left to expire: the runs before the launch
// timeout leave it alone (a launch may yet be on its way), and the first
// run after it takes the stuck launch over (Manager.Replace on a launching
// record): the same generation, no new replacement in the streak, so no
// backoff. The live instance ends with one active shadow, and no run
// launched twice.
func TestReplacementLaunchFailedAfterItsClaim(t *testing.T) {
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 1}})
	live := r.lives(t)[0]
	resp, failures := retried(t, r.launch.Handle, harness.StateChange(live, "running", time.Now()))
	if failures != 0 || resp.Shadow == "" {
		t.Fatalf("launch answered %+v after %d failures", resp, failures)
	}
	old := resp.Shadow
	if err := env.TerminateInstance(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := r.proxy.SetRules(faultproxy.Rule{Service: "ec2", Operation: "RunInstances", Rate: 1, Fault: faultproxy.ServerError, Limit: maxAttempts}); err != nil {
		t.Fatal(err)
	}
	claimed := time.Now()
	out := r.reconcile(t)
	if len(out.Actions) != 1 || out.Actions[0].Kind != string(shadow.Replace) || !strings.Contains(out.Actions[0].Error, "launching shadow") {
		t.Fatalf("first run %+v: want one replacement failing at its launch", out.Actions)
	}
	claim, err := r.table.Records().Get(t.Context(), live)
	if err != nil || claim.Status != shadow.Launching || claim.ShadowID != "" || claim.Generation != 2 || claim.Replacements != 1 {
		t.Fatalf("record after the failed launch %+v (%v): want the claim of generation 2, launching, with no shadow", claim, err)
	}
	time.Sleep(testOrphanGrace)
	if out := r.reconcile(t); len(out.Actions) != 0 {
		t.Errorf("a run before the launch timeout acted: %+v", out.Actions)
	}
	got := r.activeShadows(t, []string{live}, map[string]bool{old: true})[live]
	if took := time.Since(claimed); took < testLaunchTimeout {
		t.Errorf("replaced by %s %s after the failed claim, before the launch timeout %s", got, took, testLaunchTimeout)
	}
	if rec, err := r.table.Records().Get(t.Context(), live); err != nil || rec.Generation != claim.Generation || rec.Replacements != claim.Replacements {
		t.Errorf("record %+v (%v): want the claim's generation %d taken over, streak still %d", rec, err, claim.Generation, claim.Replacements)
	}
	st := r.calls.Stats()["ec2.RunInstances"]
	if st.Calls != 3 || st.Failed != 1 || st.Attempts != 2+maxAttempts {
		t.Errorf("RunInstances %+v: want the launch, the failed one (%d attempts) and the replacement", st, maxAttempts)
	}
	r.assertOneShadowEach(t)
	t.Logf("shadow %s replaced by %s %s after the claim whose launch failed (taken over at the launch timeout, %s)", old, got, time.Since(claimed).Round(time.Second), testLaunchTimeout)
}

// TestForecasterStateSaveRetriedAfterItTookEffect: the forecaster's save
// of the group's control state takes effect, its answer is lost and the
// SDK retries it. Taken for a lost race with another run, the run would
// neither act nor audit, and the next run would find the minutes observed:
// that minute's decision would be lost. It must act on it.
func TestForecasterStateSaveRetriedAfterItTookEffect(t *testing.T) {
	r := newRig(t, rigOptions{world: harness.WorldOptions{}})
	writeRisingHistory(t, r.table, r.w.Group, r.lives(t))
	h, _ := r.forecaster(t, nil)
	// The run's first PutItem is the state's save (the audit record
	// follows the action).
	if err := r.proxy.SetRules(faultproxy.Rule{Service: "dynamodb", Operation: "PutItem", Rate: 1, Fault: faultproxy.DropAfter, Limit: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := h.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
	if err != nil || len(resp.Groups) != 1 {
		t.Fatalf("answer %+v, %v", resp, err)
	}
	if st := r.proxy.Stats()["dynamodb.PutItem"]; st.Injected[faultproxy.DropAfter] != 1 {
		t.Fatalf("PutItem stats %+v: the fault was not injected", st)
	}
	gf := resp.Groups[0]
	if !gf.Acted || gf.To <= 2 || desiredOf(t, r.w.Group) != gf.To {
		t.Errorf("group %+v, desired %d in moto: want the decision acted on", gf, desiredOf(t, r.w.Group))
	}
	if _, b := lastAudit(t, r.table, r.w.Group); !b.Acted {
		t.Errorf("audit %+v, want the acted decision", b)
	}
}
