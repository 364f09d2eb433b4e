//go:build e2e

package e2e_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// At-least-once delivery and ordering: EventBridge and Kinesis deliver
// at least once and not always in order; agents die; shadows are lost.
// Every scenario ends converged, with its accounting asserted.

// TestEC2EventsDuplicatedReorderedLate: EC2 state-change events
// duplicated, out of order and late, and a shadow's own events. Each is
// checked against EC2 before it changes anything:
//   - running twice (and concurrently) for a live: one shadow;
//   - pending after running: ignored;
//   - an instance terminated before any of its events arrive: terminated
//     first (no record: nothing), then the late running: refused (EC2 says
//     terminated), no shadow;
//   - a live's terminated before its shutting-down: the first retires its
//     shadow, the second is a no-op; a late running after that: refused;
//   - a shadow's running: ignored; a shadow's shutting-down while it runs:
//     refused; a shadow lost out of band: its terminated replaces it, the
//     late shutting-down and a duplicate terminated of the old one are
//     no-ops, and the new one's running is ignored.
//
// Converged: one shadow per running live (the recorded one), no orphan
// after one reconcile. The identity of this scenario is on instances, not
// mutations (none flows): running lives = records = shadows.
func TestEC2EventsDuplicatedReorderedLate(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 3}})
	lives := r.lives(t)
	a, b, c := lives[0], lives[1], lives[2]
	deliver := func(h handlers.HandleFunc, id, state, want string) handlers.Response {
		t.Helper()
		resp, err := h(invocation(), harness.StateChange(id, state, time.Now()))
		if err != nil {
			t.Fatalf("%s %s: %v", id, state, err)
		}
		if resp.Outcome != want {
			t.Fatalf("%s %s: %+v, want %s", id, state, resp, want)
		}
		return resp
	}
	// c goes before any of its events arrive.
	if _, err := env.ASG.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(c), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c+" terminated", func() bool {
		i, ok, err := env.Instance(ctx, c)
		return err == nil && ok && (i.State.Name == "terminated" || i.State.Name == "shutting-down")
	})
	deliver(r.terminate.Handle, c, "terminated", handlers.OutcomeNoop)
	deliver(r.launch.Handle, c, "running", handlers.OutcomeRefused)
	deliver(r.launch.Handle, c, "pending", handlers.OutcomeIgnored)

	// a and b: running twice, pending after running.
	sa := deliver(r.launch.Handle, a, "running", handlers.OutcomeEnsured).Shadow
	if again := deliver(r.launch.Handle, a, "running", handlers.OutcomeEnsured).Shadow; again != sa {
		t.Fatalf("running twice gave shadows %s and %s", sa, again)
	}
	deliver(r.launch.Handle, a, "pending", handlers.OutcomeIgnored)
	done := make(chan handlers.Response, 3)
	for range 3 {
		go func() {
			resp, err := r.launch.Handle(invocation(), harness.StateChange(b, "running", time.Now()))
			if err != nil {
				t.Errorf("concurrent running of %s: %v", b, err)
			}
			done <- resp
		}()
	}
	var sb string
	for range 3 {
		if resp := <-done; resp.Shadow != "" {
			if sb != "" && resp.Shadow != sb {
				t.Fatalf("concurrent running events gave shadows %s and %s", sb, resp.Shadow)
			}
			sb = resp.Shadow
		}
	}
	// A shadow's own events.
	deliver(r.launch.Handle, sa, "running", handlers.OutcomeIgnored)
	deliver(r.terminate.Handle, sa, "shutting-down", handlers.OutcomeRefused)

	// b goes: terminated arrives before shutting-down; then a late running.
	if _, err := env.ASG.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(b), ShouldDecrementDesiredCapacity: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	deliver(r.terminate.Handle, b, "terminated", handlers.OutcomeRetired)
	deliver(r.terminate.Handle, b, "shutting-down", handlers.OutcomeNoop)
	deliver(r.launch.Handle, b, "running", handlers.OutcomeRefused)
	if sb != "" {
		deliver(r.terminate.Handle, sb, "terminated", handlers.OutcomeNoop) // the retired shadow's own event
	}

	// a's shadow is lost out of band: its terminated replaces it; the
	// old one's late and duplicate events change nothing.
	if err := env.TerminateInstance(ctx, sa); err != nil {
		t.Fatal(err)
	}
	next := deliver(r.terminate.Handle, sa, "terminated", handlers.OutcomeReplaced).Shadow
	deliver(r.terminate.Handle, sa, "shutting-down", handlers.OutcomeNoop)
	deliver(r.terminate.Handle, sa, "terminated", handlers.OutcomeNoop)
	deliver(r.launch.Handle, next, "running", handlers.OutcomeIgnored)
	deliver(r.launch.Handle, a, "running", handlers.OutcomeEnsured)

	rec, err := r.table.Records().Get(ctx, a)
	if err != nil || rec.ShadowID != next || rec.Generation != 2 || rec.Status != shadow.Active {
		t.Fatalf("a's record %+v, %v: want generation 2 with %s", rec, err, next)
	}
	time.Sleep(testOrphanGrace)
	for _, act := range r.reconcile(t).Actions {
		if act.Kind != string(shadow.Resync) { // no agent answers: resyncs fail, nothing else may be wanted
			t.Errorf("the reconciler found something to do: %+v", act)
		}
	}
	r.assertOneShadowEach(t)
	if ws := r.observe(t); len(ws.lives) != 1 || ws.lives[0] != a {
		t.Errorf("running lives %v, want only %s", ws.lives, a)
	}
	if n := r.metrics.Total("EventsRefused"); n != 3 {
		t.Errorf("EventsRefused = %v, want 3 (c running, a's shadow shutting-down, b running)", n)
	}
	assertNoPanic(t, r.logs.String())
}

// TestKinesisRedeliveryAfterPartialFailure: two live instances on one
// shard, their mutations interleaved with malformed records. The shadow
// agent of the second is down: the batch fails from that instance's first
// record; the malformed records before that point are dead-lettered and
// reported done, those after it are left to the redelivery. Lambda
// redelivers from the failure point once the agent is back: every
// mutation ends applied exactly once on each of the four copies, each
// malformed record dead-lettered (at least once, counted once by its
// sequence number). Then, with the poller doing what the mapping does, the
// same agent is down long enough for the fanout's breaker to leave it out:
// its live goes on, the shadow misses mutations, and the reconciler
// resyncs it from a live snapshot plus the stream's catch-up.
func TestKinesisRedeliveryAfterPartialFailure(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 2, StreamShards: 1}})
	lives := r.lives(t)
	a, b := lives[0], lives[1]
	for _, id := range lives {
		if _, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now())); f != 0 {
			t.Fatal("launch failed")
		}
	}
	sa, _ := r.table.Records().Get(ctx, a)
	sb, _ := r.table.Records().Get(ctx, b)
	r.startAgent(t, "live", a, b)
	r.startAgent(t, "shadow-a", sa.ShadowID)
	shB := r.startAgent(t, "shadow-b", sb.ShadowID)
	led := newLedger()
	prod, err := libproducer.New(r.fenv.Kinesis, clock.System{}, libproducer.Options{Stream: r.w.Stream, NoAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	bad := func() {
		t.Helper()
		if err := r.fenv.PutRaw(ctx, r.w.Stream, a, [][]byte{[]byte("not a mutation")}); err != nil {
			t.Fatal(err)
		}
		led.mu.Lock()
		led.bad++
		led.mu.Unlock()
	}
	bad()
	r.put(t, prod, led.mutations(a, 60))
	r.put(t, prod, led.mutations(b, 60))
	bad()
	r.put(t, prod, led.mutations(a, 60))
	r.put(t, prod, led.mutations(b, 60))
	bad()
	reader, err := env.NewStreamReader(ctx, r.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	evs := readAll(t, reader)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	firstB := -1
	for i, rec := range ev.Records {
		if rec.Kinesis.PartitionKey == b && firstB < 0 {
			firstB = i
		}
	}
	fan := r.fanout(t)
	handle := func(ev events.KinesisEvent) events.KinesisEventResponse {
		t.Helper()
		resp, err := fan.Handle(invocation(), kinesisJSON(t, ev))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if err := shB.Stop(); err != nil {
		t.Fatal(err)
	}
	resp := handle(ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[firstB].Kinesis.SequenceNumber {
		t.Fatalf("answer %+v, want a retry from record %d (the first of %s)", resp.BatchItemFailures, firstB, b)
	}
	if err := shB.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if resp := handle(events.KinesisEvent{Records: ev.Records[firstB:]}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v", resp.BatchItemFailures)
	}
	pairs := map[string]pair{a: {r.endpoint("live"), r.endpoint("shadow-a")}, b: {r.endpoint("live"), r.endpoint("shadow-b")}}
	r.census(t, led)
	distinct := led.drain(t, r.client, pairs, r.w.QueueURL, time.Minute)
	t.Logf("redelivery after a partial failure: %s", led.check(t, r.client, pairs, distinct, 30*time.Second))
	if n := r.fmetrics.Total("FanoutErrors"); n != 120 {
		t.Errorf("FanoutErrors = %v, want 120 (b's records on the shadow agent that was down)", n)
	}

	// Down long enough for the breaker: the live goes on, the shadow misses
	// a stretch, the reconciler resyncs it.
	// The poller reads the shard from its start: what phase one delivered
	// comes once more (acknowledged as duplicates, the malformed records
	// dead-lettered again under the same sequence numbers).
	st := r.startStream(t, harness.PollerOptions{BatchSize: 50, RetryWait: 100 * time.Millisecond})
	pr := r.produce(t, led, []string{a, b}, 5, 0)
	waitProduced(t, led, 400)
	if err := shB.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the breaker to open on shadow-b", func() bool { return r.fmetrics.Total("ShadowBreakerOpen") > 0 })
	mark, _ := led.total()
	waitProduced(t, led, mark+200)
	if err := shB.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitProduced(t, led, mark+400)
	pr.stop()
	// The live has every mutation; the shadow lacks the stretch it was left
	// out of: it waits on that gap, then gives it up and diverges.
	liveDone := map[string]pair{a: pairs[a], b: {r.endpoint("live"), r.endpoint("live")}}
	led.drain(t, r.client, liveDone, r.w.QueueURL, time.Minute)
	r.resync(t, b)
	r.census(t, led)
	distinct2 := led.drain(t, r.client, pairs, r.w.QueueURL, time.Minute) // the letters of both phases
	st.stop(t)
	t.Logf("after the breaker and a resync: %s", led.check(t, r.client, pairs, distinct2, 30*time.Second))
	assertNoPanic(t, r.logs.String())
}

// census reconciles the ledger with what the stream holds (see
// ledger.census).
func (r *rig) census(t *testing.T, led *ledger) int {
	t.Helper()
	return led.census(t, r.w.Stream)
}

// TestAgentKilledMidBatch: while the stream flows, the shadow agent and
// then the live agent are killed with SIGKILL while a batch is at them:
// a loopback proxy in front of each agent forwards the fanout's next
// apply request to it and kills the agent while that request is in
// flight, so the agent dies mid-batch (before or after it synced the
// batch: either way the fanout gets no answer). The delivery fails, the
// mapping redelivers once the agent is back on its data dir, and every
// mutation ends applied exactly once on both (accepted once: what the
// agent had synced before it died comes again and is acknowledged as a
// duplicate), with the same digests and the accounting identity.
// Deliveries that start while the agent is down wait for it (the
// mapping's retry, however long the restart takes), so only those in
// flight fail: too few to open the fanout's breaker; redelivery alone
// must repair.
func TestAgentKilledMidBatch(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 2}})
	lives := r.lives(t)
	shadows := map[string]string{}
	for _, id := range lives {
		resp, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now()))
		if f != 0 || resp.Shadow == "" {
			t.Fatalf("launch %+v", resp)
		}
		shadows[id] = resp.Shadow
	}
	live := r.startAgent(t, "live", lives...)
	sh := r.startAgent(t, "shadow", shadows[lives[0]], shadows[lives[1]])
	kills := map[*harness.Agent]*killer{}
	for a, insts := range map[*harness.Agent][]string{live: lives, sh: {shadows[lives[0]], shadows[lives[1]]}} {
		k := startKiller(t, a, []byte(r.w.AgentKey), insts...)
		kills[a] = k
		for _, id := range insts {
			r.agents.set(id, k.addr) // the fanout reaches the agent through it
		}
	}
	st := r.startStream(t, harness.PollerOptions{BatchSize: 200})
	led := newLedger()
	pr := r.produce(t, led, lives, 20, 0)
	for _, victim := range []*harness.Agent{sh, live} {
		waitProduced(t, led, func() uint64 { v, _ := led.total(); return v + 1000 }())
		down, back := make(chan struct{}), make(chan struct{})
		var downOnce sync.Once
		gate := func(int64) {
			select {
			case <-down:
				<-back
			default:
			}
		}
		st.before.Store(&gate)
		kills[victim].arm(func() {
			if err := victim.Kill(); err != nil {
				t.Error(err)
			}
			downOnce.Do(func() { close(down) })
		})
		<-down
		if err := victim.Start(ctx); err != nil {
			t.Fatal(err)
		}
		close(back)
		st.before.Store(nil)
		t.Logf("agent %s killed with SIGKILL with a batch in flight, and restarted", victim.Name)
	}
	waitProduced(t, led, func() uint64 { v, _ := led.total(); return v + 1000 }())
	pr.stop()
	pairs := map[string]pair{lives[0]: {r.endpoint("live"), r.endpoint("shadow")}, lives[1]: {r.endpoint("live"), r.endpoint("shadow")}}
	r.census(t, led)
	distinct := led.drain(t, r.client, pairs, r.w.QueueURL, 2*time.Minute)
	st.stop(t)
	summary := led.check(t, r.client, pairs, distinct, 30*time.Second)
	if n := r.fmetrics.Total("ShadowBreakerOpen"); n != 0 {
		t.Errorf("the breaker opened %v times: the shadow was left out (the scenario meant redelivery alone)", n)
	}
	if n := r.fmetrics.Total("FanoutErrors"); n == 0 {
		t.Error("no delivery failed: the kills did not hit a batch")
	}
	t.Logf("agents killed mid-batch: %s; %d failed records redelivered, %d batch retries", summary, int(r.fmetrics.Total("FanoutErrors")), st.stats.Retries.Load())
	assertNoPanic(t, r.logs.String(), live.Logs(), sh.Logs())
}

// killer is a loopback proxy in front of an agent process, ending the
// plane's TLS with the certificates of the agent's instances
// (harness.AgentFront). Armed, it forwards the next apply request to the
// agent, and while the request is at the agent runs its kill; it answers
// that request 502 (the agent died before answering). Everything else
// passes through.
type killer struct {
	addr  string
	agent *harness.Agent
	rp    *httputil.ReverseProxy
	armed atomic.Pointer[func()]
}

func startKiller(t *testing.T, a *harness.Agent, master []byte, instances ...string) *killer {
	t.Helper()
	front, forward, err := harness.AgentFront(master, a.Addr, instances...)
	if err != nil {
		t.Fatal(err)
	}
	k := &killer{agent: a, rp: &httputil.ReverseProxy{Rewrite: func(*httputil.ProxyRequest) {}, Transport: forward}}
	k.rp.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: k, ReadHeaderTimeout: 10 * time.Second, TLSConfig: front, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	k.addr = ln.Addr().String()
	return k
}

func (k *killer) arm(kill func()) { k.armed.Store(&kill) }

func (k *killer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == agent.PathApply {
		if kill := k.armed.Swap(nil); kill != nil {
			done := make(chan struct{})
			go func() {
				defer close(done)
				k.rp.ServeHTTP(discardWriter{h: http.Header{}}, r) // the batch goes to the agent
			}()
			time.Sleep(time.Millisecond) // let it get there
			(*kill)()
			<-done
			http.Error(w, "agent killed", http.StatusBadGateway)
			return
		}
	}
	k.rp.ServeHTTP(w, r)
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// TestShadowReplacedMidStream: while mutations flow, a live instance's
// shadow is lost; its terminated event makes the terminate handler launch
// the next generation; a new agent (an empty disk) stands in for it and
// starts receiving the stream from where it is (its first seq opens a gap
// from 1); the reconciler resyncs it from a live snapshot while the
// stream goes on; it catches up and ends with exactly its live's state,
// counts and digest.
func TestShadowReplacedMidStream(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 2}})
	lives := r.lives(t)
	shadows := map[string]string{}
	for _, id := range lives {
		resp, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now()))
		if f != 0 || resp.Shadow == "" {
			t.Fatalf("launch %+v", resp)
		}
		shadows[id] = resp.Shadow
	}
	r.startAgent(t, "live", lives...)
	r.startAgent(t, "shadow", shadows[lives[0]], shadows[lives[1]])
	// The shadows start from the live's (empty) state: mark them synced.
	for _, id := range lives {
		r.resync(t, id)
	}
	st := r.startStream(t, harness.PollerOptions{BatchSize: 100})
	led := newLedger()
	pr := r.produce(t, led, lives, 10, 10)
	waitProduced(t, led, 800)

	victim := lives[0]
	old := shadows[victim]
	if err := env.TerminateInstance(ctx, old); err != nil {
		t.Fatal(err)
	}
	resp, f := retried(t, r.terminate.Handle, harness.StateChange(old, "terminated", time.Now()))
	if f != 0 || resp.Outcome != handlers.OutcomeReplaced || resp.Shadow == "" || resp.Shadow == old {
		t.Fatalf("terminate answered %+v", resp)
	}
	r.startAgent(t, "shadow-2", resp.Shadow)
	st.current.Store(r.fanout(t))
	before := st.deliveries.Load()
	waitFor(t, "the new shadow to receive the stream", func() bool {
		s, err := r.client.Status(ctx, r.endpoint("shadow-2"), victim)
		return err == nil && len(s.Resources) == 1 && s.Resources[0].Known && st.deliveries.Load() > before
	})
	r.resync(t, victim)
	waitProduced(t, led, func() uint64 { v, _ := led.total(); return v + 600 }())
	pr.stop()
	pairs := map[string]pair{victim: {r.endpoint("live"), r.endpoint("shadow-2")}, lives[1]: {r.endpoint("live"), r.endpoint("shadow")}}
	r.census(t, led)
	distinct := led.drain(t, r.client, pairs, r.w.QueueURL, 2*time.Minute)
	st.stop(t)
	summary := led.check(t, r.client, pairs, distinct, 30*time.Second)
	ss, err := r.client.Status(ctx, r.endpoint("shadow-2"), victim)
	if err != nil || ss.Resources[0].Imports < 1 {
		t.Errorf("the new shadow's status %+v, %v: want an import", ss, err)
	}
	time.Sleep(testOrphanGrace)
	for _, act := range r.reconcile(t).Actions {
		if act.Kind != string(shadow.Resync) || act.Error != "" {
			t.Errorf("after the catch-up the reconciler wants %+v", act)
		}
	}
	r.assertOneShadowEach(t)
	t.Logf("shadow replaced mid-stream, resynced and caught up: %s", summary)
	if got := r.metrics.Sum("ShadowsReplaced", metrics.Dim{Name: "Group", Value: r.w.Group}); got != 1 {
		t.Errorf("ShadowsReplaced = %v", got)
	}
	assertNoPanic(t, r.logs.String())
}
