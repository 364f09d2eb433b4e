//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
	"github.com/shadowscale/shadowscale/shared/testing/faultproxy"
)

// faultRate is the fraction of AWS calls the proxy fails in the fault
// scenario: throttling (each service's own code), 500, 503, a connection
// dropped before the request reaches moto and one dropped after it took
// effect, in equal shares; 5% more get 150 ms of added latency.
const faultRate = 0.20

// maxAttempts is the SDK retryer's bound (lambdaenv.MaxAttempts): no call
// may take more HTTP attempts.
var maxAttempts = lambdaenv.MaxAttempts

// TestLifecycleUnderFaults runs the e2e suite's whole lifecycle with every
// AWS call of the plane (the handlers, the producer, the stream's poller)
// going through a proxy that fails 20% of them:
//   - launch events for the group's three instances, each delivered twice
//     (EventBridge retries a failed invocation twice);
//   - mutations produced to Kinesis (retried whole when a put fails: the
//     stream holds duplicates), read back like the event source mapping,
//     delivered by the fanout to two real agent processes (live, shadow),
//     with malformed records and a mutation of an unknown instance among
//     them;
//   - a shadow terminated out of band mid-stream, replaced by the
//     reconciler, its new agent resynced from a live snapshot while the
//     stream goes on;
//   - a live instance terminated: its shadow retired;
//   - the forecaster run on the group's history, in act mode;
//   - then the reconciler until a run has nothing but resyncs to do.
//
// It ends with: one shadow per running live instance and no orphan; every
// produced mutation applied exactly once on its live and its shadow agent
// (accepted once, same digest and counts), the rest dead-lettered with a
// reason (the accounting identity); no panic; and every SDK call within
// the retryer's bound, with at most 1.5 HTTP attempts per call overall (no
// retry storm).
func TestLifecycleUnderFaults(t *testing.T) {
	rules, err := faultproxy.Mix(faultRate, map[faultproxy.Fault]float64{
		faultproxy.Throttle: 1, faultproxy.ServerError: 1, faultproxy.Unavailable: 1, faultproxy.Drop: 1, faultproxy.DropAfter: 1,
	}, 0.05, 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 3}, seed: 20261128})
	ctx := context.Background()
	lives := r.lives(t)
	if len(lives) != 3 {
		t.Fatalf("lives %v", lives)
	}
	writeRisingHistory(t, r.table, r.w.Group, lives[:2]) // for the forecaster, at the end
	if err := r.proxy.SetRules(rules...); err != nil {
		t.Fatal(err)
	}
	eventFailures := 0

	// 1. Launch events, each twice.
	for _, id := range lives {
		for range 2 {
			_, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now()))
			eventFailures += f
		}
	}
	// What three failed invocations in a row left undone, the reconciler
	// does (its 5-minute run, here every second).
	shadows := r.activeShadows(t, lives, nil)

	// 2. Two agent processes, the stream, the producer.
	r.startAgent(t, "live", lives...)
	r.startAgent(t, "shadow", shadows[lives[0]], shadows[lives[1]], shadows[lives[2]])
	st := r.startStream(t, harness.PollerOptions{BatchSize: 100})
	led := newLedger()
	prod, err := libproducer.New(r.fenv.Kinesis, clock.System{}, libproducer.Options{Stream: r.w.Stream, NoAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	// One producer at a time: moto's put_record is not safe for concurrent
	// puts to a shard.
	r.put(t, prod, led.mutations("i-0123456789abcdef0", 3)) // no such instance: dead-lettered
	pr := r.produce(t, led, lives, 8, 25)
	waitProduced(t, led, 600)

	// 3. A shadow dies out of band; the reconciler replaces it; its agent
	// (a fresh disk) joins the stream and is resynced from the live.
	victim := lives[0]
	if err := env.TerminateInstance(ctx, shadows[victim]); err != nil {
		t.Fatal(err)
	}
	replaced := r.activeShadows(t, []string{victim}, map[string]bool{shadows[victim]: true})[victim]
	shadows[victim] = replaced
	r.startAgent(t, "shadow-2", replaced)
	before := st.deliveries.Load()
	st.current.Store(r.fanout(t))
	waitFor(t, "the new fanout to deliver", func() bool { return st.deliveries.Load() >= before+4 })
	// The replaced shadow was never synced: the next run resyncs it.
	r.resync(t, victim)
	waitProduced(t, led, 1800)

	// 4. A live instance goes: stop its mutations, let them drain (the
	// ones arriving after it is gone would be dead-lettered as of an
	// unknown instance, which the accounting also covers, but only on the
	// side that did not apply them first), then terminate it.
	gone := lives[2]
	pr.set(lives[:2]...)
	led.mu.Lock()
	n := led.produced[gone]
	led.mu.Unlock()
	settle(t, r.client, r.endpoint("live"), gone, n, time.Minute)
	settle(t, r.client, r.endpoint("shadow"), gone, n, time.Minute)
	if _, err := env.ASG.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(gone), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{"shutting-down", "terminated"} {
		_, f := retried(t, r.terminate.Handle, harness.StateChange(gone, state, time.Now()))
		eventFailures += f
	}

	// 5. The forecaster, in act mode, on the group's history.
	fc, frec := r.forecaster(t, nil)
	var gf handlers.GroupForecast
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := fc.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now()))
		if err != nil {
			t.Logf("forecaster invocation failed (retried): %v", err)
			continue
		}
		if len(resp.Groups) == 1 {
			gf = resp.Groups[0]
		}
		if gf.Error == "" {
			break
		}
		t.Logf("forecaster group failure (the next minute retries): %+v", gf)
	}
	if gf.Error != "" || gf.Minutes == 0 {
		t.Fatalf("forecaster %+v", gf)
	}
	if gf.Acted && desiredOf(t, r.w.Group) != gf.To {
		t.Errorf("the forecaster acted to %d, moto's group wants %d", gf.To, desiredOf(t, r.w.Group))
	}
	// The decision is audited, unless the audit write failed all its
	// attempts (counted, and the next minute audits again).
	if ds, err := r.table.Audit().List(ctx, r.w.Group, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), 1); err != nil || (len(ds) == 0 && frec.Total("AuditErrors") == 0) {
		t.Errorf("no audit record (%v) and no audit error counted", err)
	} else if len(ds) == 1 && ds[0].Action != gf.Action {
		t.Errorf("audit %+v for the decision %+v", ds[0], gf)
	}
	// New instances of the group (the forecaster's scale-out) get their
	// launch events.
	// Their agents are the same two processes (they get no mutations: the
	// reconciler's resync of a resource neither agent holds is a no-op).
	lastLaunch := time.Now()
	for _, id := range r.lives(t) {
		if _, ok := shadows[id]; ok || id == gone {
			continue
		}
		_, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now()))
		eventFailures += f
		lastLaunch = time.Now()
		r.serve(t, "live", id)
		if rec, err := r.table.Records().Get(ctx, id); err == nil && rec.ShadowID != "" {
			r.serve(t, "shadow", rec.ShadowID)
		}
	}

	// 6. Production stops; everything produced reaches both agents.
	pr.stop()
	onStream := led.census(t, r.w.Stream)
	pairs := map[string]pair{
		lives[0]: {r.endpoint("live"), r.endpoint("shadow-2")},
		lives[1]: {r.endpoint("live"), r.endpoint("shadow")},
		lives[2]: {r.endpoint("live"), r.endpoint("shadow")},
	}
	distinct := led.drain(t, r.client, pairs, r.w.QueueURL, 2*time.Minute)
	st.stop(t)
	summary := led.check(t, r.client, pairs, distinct, 30*time.Second)

	// 7. The reconciler, after the orphan grace period and the launch
	// timeout of the last launch event, until a run finds nothing but
	// resyncs to do: no duplicate, no orphan. Usually one run. A launch
	// whose record write failed every attempt of its delivery stays
	// claimed (launching) until the timeout; the reconciler then takes it
	// over and adopts the instance that launch made. Faults are still
	// injected, so an action whose AWS call exhausted its retries (about
	// 0.2^4 of calls) is left to the next run, as on AWS; an action may
	// fail for no other reason. When that call came after a claim, the
	// claim waits out the launch timeout: activeShadows runs the
	// reconciler through that first.
	time.Sleep(max(testOrphanGrace, time.Until(lastLaunch.Add(testLaunchTimeout))))
	r.activeShadows(t, r.lives(t), nil)
	var last handlers.Response
	for run := 1; ; run++ {
		last = r.reconcile(t)
		exhausted, acted := 0, 0
		for _, a := range last.Actions {
			switch {
			case a.Error == "" && a.Kind == string(shadow.Resync):
			case a.Error == "":
				acted++
				t.Logf("reconcile run %d: %s %s (%s)", run, a.Kind, a.Live, a.Reason)
			case strings.Contains(a.Error, "exceeded maximum number of attempts"):
				exhausted++
				t.Logf("reconcile run %d: %s %s left to the next run, its call exhausted its retries on injected faults", run, a.Kind, a.Live)
			default:
				t.Errorf("the last reconcile failed an action: %+v", a)
			}
		}
		if exhausted == 0 && acted == 0 {
			break
		}
		if run == 4 {
			t.Errorf("four reconcile runs in a row left actions to do: %+v", last.Actions)
			break
		}
		time.Sleep(testOrphanGrace)
	}
	t.Logf("forecaster: %s %d -> %d, acted %v (%s); last reconcile: %+v", gf.Action, gf.From, gf.Decided, gf.Acted, gf.Outcome, last.Actions)
	r.proxy.SetRules() // checks read moto directly; stop counting faults
	r.assertOneShadowEach(t)
	assertNoPanic(t, r.logs.String())

	// Retries: bounded per call, no storm overall. The figures are logged
	// first, so that a failed check's message is the last thing before the
	// test's FAIL line.
	calls := r.calls.Stats()
	var nCalls, nAttempts int
	var worst []string
	for op, c := range calls {
		nCalls += c.Calls
		nAttempts += c.Attempts
		worst = append(worst, fmt.Sprintf("%s %d", op, c.MaxAttempts))
	}
	requests, injected := r.proxy.Total()
	kinds := map[faultproxy.Fault]int{}
	for _, s := range r.proxy.Stats() {
		for f, n := range s.Injected {
			kinds[f] += n
		}
	}
	sort.Strings(worst)
	t.Logf("under %.0f%% faults: %s (%d records on the stream); %d requests, %d faults injected %v; %d SDK calls, %d attempts (%.3f a call), %d calls failed after their retries; %d event invocations failed and were retried; poller: %d invocations, %d batch retries, %d GetRecords errors",
		100*faultRate, summary, onStream, requests, injected, kinds, nCalls, nAttempts, float64(nAttempts)/float64(nCalls), failedCalls(calls), eventFailures,
		st.stats.Invocations.Load(), st.stats.Retries.Load(), st.stats.ReadErrors.Load())
	t.Logf("max attempts of one call, per operation: %s", strings.Join(worst, ", "))
	t.Logf("calls:\n%s", r.calls.Summary())
	figures.Store("faults: lifecycle at 20% injected", fmt.Sprintf("%s; %d requests, injected %v; %.3f attempts a call, max %d", summary, requests, kinds, float64(nAttempts)/float64(nCalls), maxOf(calls)))
	for op, c := range calls {
		if c.MaxAttempts > maxAttempts {
			t.Errorf("%s: a call took %d attempts, the retryer allows %d", op, c.MaxAttempts, maxAttempts)
		}
	}
	if requests != nAttempts {
		t.Errorf("the proxy saw %d requests, the SDK made %d attempts", requests, nAttempts)
	}
	if ratio := float64(nAttempts) / float64(nCalls); ratio > 1.5 {
		t.Errorf("%d attempts for %d calls (%.2f each): a retry storm", nAttempts, nCalls, ratio)
	}
	if float64(injected) < 0.15*float64(requests) {
		t.Errorf("only %d of %d requests got a fault: the scenario did not test much", injected, requests)
	}
}

func failedCalls(cs map[string]harness.CallStats) int {
	n := 0
	for _, c := range cs {
		n += c.Failed
	}
	return n
}

func maxOf(cs map[string]harness.CallStats) int {
	m := 0
	for _, c := range cs {
		m = max(m, c.MaxAttempts)
	}
	return m
}

// waitProduced waits until the producer has produced n mutations.
func waitProduced(t *testing.T, l *ledger, n uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d mutations produced", n), func() bool { v, _ := l.total(); return v >= n })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := harness.Eventually(context.Background(), 2*time.Minute, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
