//go:build e2e

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
	"github.com/shadowscale/shadowscale/shared/testing/faultproxy"
)

// The reliability scenarios share this rig: a world on moto, the plane's
// handlers in process wired as their mains wire them but with their AWS
// clients pointed at a fault-injecting proxy in front of moto (no rules:
// no faults), an SDK call counter on those clients, and an agents port
// that reaches the agent processes on the loopback (the instances moto
// makes have addresses nothing listens on). The test's own checks use
// env, straight to moto.

// rig is one scenario's world and plane.
type rig struct {
	w      *harness.World
	proxy  *faultproxy.Proxy
	calls  *harness.Calls
	fenv   *harness.Env // clients through the proxy
	table  *awssdk.Table
	agents *loopbackAgents
	client *agent.Client

	launch     *handlers.Launch
	terminate  *handlers.Terminate
	reconciler *handlers.Reconciler
	metrics    *metrics.Recorder
	fmetrics   *metrics.Recorder // the fanouts'
	logs       *syncBuffer

	dirOnce sync.Once
	tmp     string
	byName  sync.Map // agent name -> *harness.Agent
	// agentLogLevel of the agents the rig starts ("": warn).
	agentLogLevel string
}

// rigOptions shape a rig.
type rigOptions struct {
	world harness.WorldOptions
	rules []faultproxy.Rule
	seed  uint64
}

// Reconciler timings of the scenarios: an unowned shadow older than a
// second is an orphan, a launch stuck for 5 s is replaced (the deployed
// defaults, 10 and 5 minutes, would make a test wait that long).
const (
	testOrphanGrace   = time.Second
	testLaunchTimeout = 5 * time.Second
)

func newRig(t *testing.T, opt rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	w := env.NewWorld(t, opt.world)
	r := &rig{w: w, calls: harness.NewCalls(), metrics: metrics.NewRecorder(), fmetrics: metrics.NewRecorder(), logs: &syncBuffer{}}
	if opt.seed == 0 {
		opt.seed = 1
	}
	var err error
	// The fault proxy sits in front of the world's scope (see the
	// harness's package doc), not of the server itself.
	if r.proxy, err = faultproxy.New(w.Endpoint, opt.seed, opt.rules...); err != nil {
		t.Fatal(err)
	}
	url, stop, err := r.proxy.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if r.fenv, err = env.Through(ctx, url, r.calls.Option()); err != nil {
		t.Fatal(err)
	}
	if r.table, err = awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.client, err = agent.NewClient([]byte(w.AgentKey), clock.System{}, agent.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	r.agents = &loopbackAgents{inner: agent.ShadowAgents{Client: r.client}, addrs: map[string]string{}}
	cfg, err := lambdaenv.LoadReconciler(lambdaenv.Map(w.FunctionEnv(r.fenv)))
	if err != nil {
		t.Fatal(err)
	}
	log := lambdaenv.NewLogger(r.logs, slog.LevelDebug, "plane")
	deps, err := handlers.LifecycleDeps(r.fenv.Cfg, cfg.Common, cfg.Shadows, cfg.Agent.Port, r.agents, r.metrics, log)
	if err != nil {
		t.Fatal(err)
	}
	if r.launch, err = handlers.NewLaunch(deps); err != nil {
		t.Fatal(err)
	}
	if r.terminate, err = handlers.NewTerminate(deps); err != nil {
		t.Fatal(err)
	}
	ropt := handlers.DefaultReconcilerOptions()
	ropt.OrphanGrace, ropt.LaunchTimeout = testOrphanGrace, testLaunchTimeout
	if r.reconciler, err = handlers.NewReconciler(deps, ropt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "plane logs", r.logs.String())
			keepLogs(t, "proxy counters", r.proxy.Summary())
		}
	})
	return r
}

// loopbackAgents is the reconciler's agents port with each instance's
// agent address replaced by the loopback agent process standing in for it
// (what SHADOWSCALE_AGENT_ADDRESSES does for the fanout); an instance
// without one keeps its address (nothing answers there: an error).
type loopbackAgents struct {
	inner shadow.Agents
	mu    sync.Mutex
	addrs map[string]string
}

var _ shadow.Agents = (*loopbackAgents)(nil)

func (a *loopbackAgents) set(instance, addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addrs[instance] = addr
}

func (a *loopbackAgents) at(ep mutation.Endpoint) mutation.Endpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.addrs[ep.InstanceID]; ok {
		ep.Address = addr
	}
	return ep
}

func (a *loopbackAgents) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.addrs))
	for k, v := range a.addrs {
		out[k] = v
	}
	return out
}

func (a *loopbackAgents) State(ctx context.Context, at mutation.Endpoint, resource string) (shadow.AgentState, error) {
	return a.inner.State(ctx, a.at(at), resource)
}

func (a *loopbackAgents) Resync(ctx context.Context, from, to mutation.Endpoint, resource string) error {
	return a.inner.Resync(ctx, a.at(from), a.at(to), resource)
}

// retried delivers an event as EventBridge invokes a Lambda target
// asynchronously: an error is retried, twice. It returns the last answer
// and how many invocations failed; a third failure is left to the
// reconciler, as in AWS.
func retried(t *testing.T, h handlers.HandleFunc, event []byte) (handlers.Response, int) {
	t.Helper()
	failures := 0
	for attempt := 0; attempt < 3; attempt++ {
		resp, err := h(invocation(), event)
		if err == nil {
			return resp, failures
		}
		failures++
		t.Logf("invocation failed (EventBridge retries it): %v", err)
	}
	return handlers.Response{}, failures
}

// reconcile runs the reconciler (its schedule's event, retried as
// EventBridge would) and returns its answer.
func (r *rig) reconcile(t *testing.T) handlers.Response {
	t.Helper()
	resp, failed := retried(t, r.reconciler.Handle, harness.Scheduled("shadowscale-reconciler", time.Now()))
	if failed == 3 {
		t.Fatalf("the reconciler failed three times in a row")
	}
	return resp
}

// activeShadows runs the reconciler, as its schedule would (here every
// testOrphanGrace), until each of lives has an active shadow record whose
// shadow is not one of gone, and returns those shadows by live. A launch or
// a replacement that failed after its claim (a call that exhausted its
// retries) leaves the record launching until the launch timeout, and the
// run after that takes the launch over: so the wait is bounded by the
// launch timeout and a few runs, as on AWS. Every run's actions other than
// resyncs are logged (once each), so that a failure shows what the
// reconciler did.
func (r *rig) activeShadows(t *testing.T, lives []string, gone map[string]bool) map[string]string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(testLaunchTimeout + 30*time.Second)
	logged := map[string]bool{} // an action deferred run after run is logged once
	for run := 1; ; run++ {
		for _, a := range r.reconcile(t).Actions {
			if k := a.Kind + a.Live + a.Shadow + a.Error + a.Deferred; a.Kind != string(shadow.Resync) && !logged[k] {
				logged[k] = true
				t.Logf("reconcile run %d: %s %s %s (%s) error %q deferred %q", run, a.Kind, a.Live, a.Shadow, a.Reason, a.Error, a.Deferred)
			}
		}
		out := map[string]string{}
		var missing []string
		for _, id := range lives {
			rec, err := r.table.Records().Get(ctx, id)
			switch {
			case err != nil:
				missing = append(missing, fmt.Sprintf("%s (%v)", id, err))
			case rec.Status != shadow.Active || rec.ShadowID == "" || gone[rec.ShadowID]:
				missing = append(missing, fmt.Sprintf("%s (record %s, shadow %q)", id, rec.Status, rec.ShadowID))
			default:
				out[id] = rec.ShadowID
			}
		}
		if len(missing) == 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d reconcile runs, no new active shadow for %s", run, strings.Join(missing, ", "))
		}
		time.Sleep(testOrphanGrace)
	}
}

// world is what the scenarios check at the end: every live instance of
// the group, and every shadow of the stack not gone.
type worldState struct {
	lives   []string
	shadows map[string][]ec2types.Instance // live id -> its shadows
	orphans []string                       // shadows whose live is not running
}

func (r *rig) observe(t *testing.T) worldState {
	t.Helper()
	ctx := context.Background()
	lives, err := env.GroupInstances(ctx, r.w.Group, -1)
	if err != nil {
		t.Fatal(err)
	}
	running := map[string]bool{}
	var ws worldState
	for _, id := range lives {
		inst, ok, err := env.Instance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok && inst.State.Name == ec2types.InstanceStateNameRunning {
			running[id] = true
			ws.lives = append(ws.lives, id)
		}
	}
	insts, err := env.Shadows(ctx, r.w.Stack)
	if err != nil {
		t.Fatal(err)
	}
	ws.shadows = map[string][]ec2types.Instance{}
	for _, i := range insts {
		if i.State.Name == ec2types.InstanceStateNameShuttingDown {
			continue
		}
		live := harness.Tags(i.Tags)[shadow.TagLive]
		if !running[live] {
			ws.orphans = append(ws.orphans, aws.ToString(i.InstanceId))
			continue
		}
		ws.shadows[live] = append(ws.shadows[live], i)
	}
	return ws
}

// assertOneShadowEach: every running live instance has exactly one shadow,
// the one its active record names; no shadow without a running live; no
// record without a running live.
func (r *rig) assertOneShadowEach(t *testing.T) {
	t.Helper()
	ws := r.observe(t)
	for _, l := range ws.lives {
		sh := ws.shadows[l]
		var ids []string
		for _, s := range sh {
			ids = append(ids, aws.ToString(s.InstanceId))
		}
		rec, err := r.table.Records().Get(context.Background(), l)
		switch {
		case len(sh) != 1:
			t.Errorf("live %s has %d shadows %v, want 1", l, len(sh), ids)
		case err != nil:
			t.Errorf("live %s has no record: %v", l, err)
		case rec.Status != shadow.Active || rec.ShadowID != ids[0]:
			t.Errorf("live %s: record %+v, shadow %s", l, rec, ids[0])
		}
	}
	if len(ws.orphans) != 0 {
		t.Errorf("orphan shadows: %v", ws.orphans)
	}
	recs, err := r.table.Records().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(ws.lives) {
		t.Errorf("%d records for %d running live instances: %+v", len(recs), len(ws.lives), recs)
	}
}

// assertNoPanic: no handler logged a panic.
func assertNoPanic(t *testing.T, logs ...string) {
	t.Helper()
	for _, l := range logs {
		if strings.Contains(l, "panic") {
			t.Errorf("a panic was logged:\n%s", l)
		}
	}
}

// letter is one message of the dead-letter queue.
type letter map[string]string

// drainLetters receives (and deletes) every message of the queue.
func drainLetters(t *testing.T, url string) []letter {
	t.Helper()
	ctx := context.Background()
	var out []letter
	for empty := 0; empty < 2; {
		r, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 300})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range r.Messages {
			l := letter{"body": aws.ToString(m.Body)}
			for k, v := range m.MessageAttributes {
				l[k] = aws.ToString(v.StringValue)
			}
			out = append(out, l)
			if _, err := env.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// distinctLetters groups dead letters by the stream record they carry
// (its sequence number): a record is dead-lettered at least once (a
// redelivered batch, or a SendMessageBatch retried after it took effect,
// writes it again), and a consumer of the queue drops the repeats by
// sequence number. Every letter must carry a reason with its code.
func distinctLetters(t *testing.T, ls []letter) map[string]letter {
	t.Helper()
	out := map[string]letter{}
	for _, l := range ls {
		seq := l["sequence_number"]
		code, detail, _ := strings.Cut(l["reason"], ":")
		if seq == "" || code == "" || strings.TrimSpace(detail) == "" {
			t.Errorf("dead letter without its record's sequence number or a reason: %v", l)
			continue
		}
		if prev, ok := out[seq]; ok && prev["reason"] != l["reason"] {
			t.Errorf("record %s dead-lettered for two reasons: %q and %q", seq, prev["reason"], l["reason"])
		}
		out[seq] = l
	}
	return out
}

// accounting checks, per resource and in total, the identity every
// scenario must end with: produced = applied on the live + dead-lettered
// = applied on the shadow + dead-lettered, where produced counts distinct
// records (by resource and seq for mutations, by stream sequence number
// for the malformed ones), applied is the agent's own applied count, and
// dead-lettered counts distinct stream records in the queue. Each valid
// mutation must be applied exactly once on both agents: the agents'
// accepted counts equal the produced mutations (a duplicate is never
// accepted twice), and live and shadow hold the same digest.
type ledger struct {
	mu       sync.Mutex
	produced map[string]uint64 // resource -> highest seq produced (seqs 1..n)
	bad      int               // malformed records produced
	letters  []letter          // every dead letter drained so far
}

func newLedger() *ledger { return &ledger{produced: map[string]uint64{}} }

func (l *ledger) mutations(resource string, n int) []mutation.Mutation {
	l.mu.Lock()
	first := l.produced[resource] + 1
	l.produced[resource] += uint64(n)
	l.mu.Unlock()
	return mutations(resource, first, n)
}

func (l *ledger) total() (valid uint64, bad int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.produced {
		valid += n
	}
	return valid, l.bad
}

// pair names the agents of one resource.
type pair struct{ live, shadow mutation.Endpoint }

// settle waits until the agent holds want applied mutations of resource
// with nothing in its backlog and no seq missing, and returns its status.
func settle(t *testing.T, c *agent.Client, ep mutation.Endpoint, resource string, want uint64, timeout time.Duration) agent.ResourceStatus {
	t.Helper()
	ctx := context.Background()
	var st agent.ResourceStatus
	err := harness.Eventually(ctx, timeout, func() (bool, error) {
		out, err := c.Status(ctx, ep, resource)
		if err != nil {
			return false, err
		}
		if len(out.Resources) != 1 {
			return false, fmt.Errorf("status of %s: %+v", resource, out)
		}
		st = out.Resources[0]
		return st.AppliedCount == want && st.Backlog == 0 && st.Missing == 0,
			fmt.Errorf("agent %s holds %s: accepted %d applied %d backlog %d missing %d, want %d applied", ep.InstanceID, resource, st.AcceptedCount, st.AppliedCount, st.Backlog, st.Missing, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// check asserts the identity for every resource of the ledger, given the
// agents serving each, and returns a one-line summary.
func (l *ledger) check(t *testing.T, c *agent.Client, agents map[string]pair, letters map[string]letter, timeout time.Duration) string {
	t.Helper()
	valid, bad := l.total()
	deadValid := map[string]int{} // resource -> dead-lettered valid mutations
	deadBad := 0
	for _, lt := range letters {
		code, _, _ := strings.Cut(lt["reason"], ":")
		if code == handlers.ReasonUndecodable {
			deadBad++
			continue
		}
		deadValid[lt["partition_key"]]++
	}
	var liveApplied, shadowApplied uint64
	resources := make([]string, 0, len(l.produced))
	for res := range l.produced {
		resources = append(resources, res)
	}
	sort.Strings(resources)
	for _, res := range resources {
		n := l.produced[res]
		p, ok := agents[res]
		if !ok {
			// Not a live instance of the group: every one dead-lettered.
			if uint64(deadValid[res]) != n {
				t.Errorf("%s (no agents): %d produced, %d dead-lettered", res, n, deadValid[res])
			}
			continue
		}
		want := n - uint64(deadValid[res])
		ls := settle(t, c, p.live, res, want, timeout)
		ss := settle(t, c, p.shadow, res, want, timeout)
		if ls.AcceptedCount != want || ss.AcceptedCount != want {
			t.Errorf("%s: accepted %d on the live, %d on the shadow, want %d each (a mutation accepted twice, or one lost)", res, ls.AcceptedCount, ss.AcceptedCount, want)
		}
		ld, err := c.Digest(context.Background(), p.live, res)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := c.Digest(context.Background(), p.shadow, res)
		if err != nil {
			t.Fatal(err)
		}
		if !ld.Known || ld.AppliedSeq != sd.AppliedSeq || ld.Digest != sd.Digest || ld.Keys != sd.Keys {
			t.Errorf("%s: live %+v, shadow %+v: not the same state", res, ld, sd)
		}
		liveApplied += ls.AppliedCount
		shadowApplied += ss.AppliedCount
		if uint64(deadValid[res])+ls.AppliedCount != n || uint64(deadValid[res])+ss.AppliedCount != n {
			t.Errorf("%s: produced %d != applied on live %d + dead-lettered %d, or != applied on shadow %d + dead-lettered", res, n, ls.AppliedCount, deadValid[res], ss.AppliedCount)
		}
	}
	if deadBad != bad {
		t.Errorf("%d malformed records produced, %d dead-lettered", bad, deadBad)
	}
	dead := uint64(len(letters))
	produced := valid + uint64(bad)
	if produced != liveApplied+dead || produced != shadowApplied+dead {
		t.Errorf("accounting: produced %d, applied live %d, shadow %d, dead-lettered %d", produced, liveApplied, shadowApplied, dead)
	}
	return fmt.Sprintf("produced %d = applied on live %d + dead-lettered %d = applied on shadow %d + dead-lettered %d", produced, liveApplied, dead, shadowApplied, dead)
}

// kinesisJSON is a batch as the Lambda runtime hands it to the handler.
func kinesisJSON(t *testing.T, ev events.KinesisEvent) []byte {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forecaster is the forecaster handler in process, its AWS clients through
// the proxy, with the world's environment plus extra (act mode and the
// test policy by default).
func (r *rig) forecaster(t *testing.T, extra map[string]string) (*handlers.Forecaster, *metrics.Recorder) {
	t.Helper()
	fenv := r.w.FunctionEnv(r.fenv)
	fenv[lambdaenv.EnvMode] = "act"
	fenv[lambdaenv.EnvPolicy] = forecastPolicy
	for k, v := range extra {
		fenv[k] = v
	}
	cfg, err := lambdaenv.LoadForecaster(lambdaenv.Map(fenv))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	loops, err := handlers.ControlLoops(cfg.Policy, cat)
	if err != nil {
		t.Fatal(err)
	}
	rec := metrics.NewRecorder()
	deps, err := handlers.NewForecasterDeps(r.fenv.Cfg, cfg, loops, rec, lambdaenv.NewLogger(r.logs, slog.LevelDebug, "forecaster"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewForecaster(deps, handlers.ForecasterOptions{Mode: cfg.Mode})
	if err != nil {
		t.Fatal(err)
	}
	return h, rec
}

// startAgent starts an agent process standing in for the given instances
// (its own data dir and port), known to the reconciler's agents port.
func (r *rig) startAgent(t *testing.T, name string, instances ...string) *harness.Agent {
	t.Helper()
	a, err := harness.StartAgent(context.Background(), agentBinary(t), harness.AgentOptions{Name: name, DataDir: filepath.Join(r.dir(t), name), Key: r.w.AgentKey, Instances: instances, LogLevel: r.agentLogLevel})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent %s logs:\n%s", name, a.Logs())
		}
		_ = a.Stop()
	})
	for _, id := range instances {
		r.agents.set(id, a.Addr)
	}
	r.byName.Store(name, a)
	return a
}

// serve makes the agent of that name stand in for more instances: it
// answers for them (their keys added to its key file) and the reconciler's
// agents port sends them to it.
func (r *rig) serve(t *testing.T, name string, instances ...string) {
	t.Helper()
	if err := r.agent(t, name).Serve(context.Background(), instances...); err != nil {
		t.Fatal(err)
	}
	for _, id := range instances {
		r.agents.set(id, r.agent(t, name).Addr)
	}
}

// agent returns the agent process of that name.
func (r *rig) agent(t *testing.T, name string) *harness.Agent {
	t.Helper()
	a, ok := r.byName.Load(name)
	if !ok {
		t.Fatalf("no agent %s", name)
	}
	return a.(*harness.Agent)
}

// endpoint is the agent's endpoint, for the test's own queries.
func (r *rig) endpoint(name string) mutation.Endpoint {
	a, ok := r.byName.Load(name)
	if !ok {
		return mutation.Endpoint{InstanceID: name}
	}
	return mutation.Endpoint{InstanceID: name, Address: a.(*harness.Agent).Addr}
}

func (r *rig) dir(t *testing.T) string {
	t.Helper()
	r.dirOnce.Do(func() { r.tmp = t.TempDir() })
	return r.tmp
}

// fanout builds a fanout handler in process (as its main wires it, AWS
// through the proxy), addressing the agents the rig knows now. A fanout's
// agent addresses are fixed at init (SHADOWSCALE_AGENT_ADDRESSES): when an
// agent appears (a replaced shadow), build a new one and swap it in, as a
// configuration change starts new Lambda containers.
func (r *rig) fanout(t *testing.T) *handlers.Fanout {
	t.Helper()
	fenv := r.w.FunctionEnv(r.fenv)
	b, _ := json.Marshal(r.agents.snapshot())
	fenv[lambdaenv.EnvAgentAddresses] = string(b)
	cfg, err := lambdaenv.LoadFanout(lambdaenv.Map(fenv))
	if err != nil {
		t.Fatal(err)
	}
	deps, err := handlers.NewFanoutDeps(r.fenv.Cfg, cfg, r.client, r.fmetrics, lambdaenv.NewLogger(r.logs, slog.LevelDebug, "fanout"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := handlers.NewFanout(deps, handlers.FanoutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// stream is the fanout fed by a poller that does what Lambda's Kinesis
// event source mapping does (GetRecords through the proxy, one batch per
// shard at a time, redelivery from the reported failure), until stop.
type stream struct {
	current atomic.Pointer[handlers.Fanout]
	// before, when set, is called as each delivery starts, with its number
	// (from 1), in the poller's goroutine of that shard.
	before     atomic.Pointer[func(n int64)]
	stats      harness.PollStats
	deliveries atomic.Int64
	cancel     context.CancelFunc
	done       chan error
}

func (r *rig) startStream(t *testing.T, opt harness.PollerOptions) *stream {
	t.Helper()
	s := &stream{done: make(chan error, 1)}
	s.current.Store(r.fanout(t))
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	var n atomic.Int64
	go func() {
		s.done <- r.fenv.Poll(ctx, r.w.Stream, opt, &s.stats, func(ctx context.Context, _ string, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
			b, err := json.Marshal(ev)
			if err != nil {
				return events.KinesisEventResponse{}, err
			}
			i := n.Add(1)
			if f := s.before.Load(); f != nil {
				(*f)(i)
			}
			ictx, cancel := context.WithTimeout(lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("fanout-%d", i)}), time.Minute)
			defer cancel()
			resp, err := s.current.Load().Handle(ictx, b)
			s.deliveries.Add(1)
			return resp, err
		})
	}()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop stops the poller (idempotent) and fails the test if it gave up.
func (s *stream) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil {
		t.Errorf("the poller gave up: %v", err)
	}
}

// put puts mutations with the producer through the proxy, retrying the
// whole batch as a producer does when the call fails (what was written
// comes again: duplicates the agents acknowledge).
func (r *rig) put(t *testing.T, prod *libproducer.Producer, muts []mutation.Mutation) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if err = prod.PutAll(context.Background(), muts...); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("producing %d mutations: %v", len(muts), err)
}

// resync runs the reconciler until live's shadow has been synced from
// its live (its record's synced time is set: a new or replaced shadow has
// none, and a run resyncs it), at most four runs.
func (r *rig) resync(t *testing.T, live string) {
	t.Helper()
	for range 5 {
		rec, err := r.table.Records().Get(context.Background(), live)
		if err == nil && !rec.SyncedAt.IsZero() {
			return
		}
		for _, a := range r.reconcile(t).Actions {
			if a.Kind == string(shadow.Resync) && a.Live == live && a.Error != "" {
				t.Logf("resync of %s failed (the next run retries): %s", live, a.Error)
			}
		}
	}
	t.Fatalf("the shadow of %s was not resynced in five reconciler runs", live)
}

// drain waits, while the stream is still consumed, until every produced
// record has reached its end: each resource's mutations applied on both
// its agents (nothing in their backlogs, no seq missing) or dead-lettered,
// and every malformed record dead-lettered. It returns the dead letters
// (distinct by stream record), drained from the queue as they came.
func (l *ledger) drain(t *testing.T, c *agent.Client, agents map[string]pair, queueURL string, timeout time.Duration) map[string]letter {
	t.Helper()
	ctx := context.Background()
	var distinct map[string]letter
	err := harness.Eventually(ctx, timeout, func() (bool, error) {
		got := drainLetters(t, queueURL)
		l.mu.Lock()
		l.letters = append(l.letters, got...)
		all := append([]letter(nil), l.letters...)
		l.mu.Unlock()
		distinct = map[string]letter{}
		dead := map[string]uint64{}
		bad := 0
		for _, lt := range all {
			if _, seen := distinct[lt["sequence_number"]]; seen {
				continue
			}
			distinct[lt["sequence_number"]] = lt
			if code, _, _ := strings.Cut(lt["reason"], ":"); code == handlers.ReasonUndecodable {
				bad++
			} else {
				dead[lt["partition_key"]]++
			}
		}
		l.mu.Lock()
		produced := make(map[string]uint64, len(l.produced))
		for k, v := range l.produced {
			produced[k] = v
		}
		wantBad := l.bad
		l.mu.Unlock()
		if bad < wantBad {
			return false, fmt.Errorf("%d of %d malformed records dead-lettered", bad, wantBad)
		}
		for res, n := range produced {
			p, ok := agents[res]
			if !ok {
				if dead[res] < n {
					return false, fmt.Errorf("%s: %d of %d dead-lettered", res, dead[res], n)
				}
				continue
			}
			for _, ep := range []mutation.Endpoint{p.live, p.shadow} {
				st, err := c.Status(ctx, ep, res)
				if err != nil {
					return false, err
				}
				if len(st.Resources) != 1 {
					return false, fmt.Errorf("status %+v", st)
				}
				s := st.Resources[0]
				if s.AppliedCount+dead[res] < n || s.Backlog != 0 || s.Missing != 0 {
					return false, fmt.Errorf("%s on %s: applied %d + dead-lettered %d of %d produced, backlog %d, missing %d", res, ep.InstanceID, s.AppliedCount, dead[res], n, s.Backlog, s.Missing)
				}
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the stream did not drain: %v", err)
	}
	l.mu.Lock()
	all := append([]letter(nil), l.letters...)
	l.mu.Unlock()
	distinctLetters(t, all) // every letter carries its reason
	return distinct
}

// census reads the whole stream back (straight from moto) and reconciles
// the ledger with it: every mutation the ledger produced is on the stream
// (once or more: a put retried after it took effect writes it again),
// nothing else of those resources is; and the malformed records are
// counted as the stream holds them, one per stream record (a retried put
// of a malformed record writes a second record, dead-lettered in its own
// right). It sets the ledger's malformed count to the stream's and
// returns how many records the stream holds.
func (l *ledger) census(t *testing.T, stream string) int {
	t.Helper()
	rd, err := env.NewStreamReader(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := rd.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	records, bad := 0, 0
	seen := map[string]map[uint64]bool{}
	for _, ev := range evs {
		for _, rec := range ev.Records {
			records++
			m, err := mutation.Decode(rec.Kinesis.Data)
			if err != nil {
				bad++
				continue
			}
			if seen[m.Resource] == nil {
				seen[m.Resource] = map[uint64]bool{}
			}
			seen[m.Resource][m.Seq] = true
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for res, n := range l.produced {
		if uint64(len(seen[res])) != n {
			t.Errorf("%s: the ledger produced seqs 1..%d, the stream holds %d distinct seqs", res, n, len(seen[res]))
		}
	}
	if bad < l.bad {
		t.Errorf("%d malformed puts, %d malformed records on the stream", l.bad, bad)
	}
	l.bad = bad
	return records
}

// producer puts mutations on the stream in rounds (every 50 ms, per
// mutations for each active resource, one PutRecords through the proxy),
// and every badEvery rounds one malformed record, until stop.
type producer struct {
	mu      sync.Mutex
	active  []string
	rounds  int
	stopped chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (r *rig) produce(t *testing.T, led *ledger, resources []string, per, badEvery int) *producer {
	t.Helper()
	prod, err := libproducer.New(r.fenv.Kinesis, clock.System{}, libproducer.Options{Stream: r.w.Stream, NoAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &producer{active: append([]string(nil), resources...), stopped: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stopped:
				return
			case <-time.After(50 * time.Millisecond):
			}
			p.mu.Lock()
			res := append([]string(nil), p.active...)
			p.rounds++
			round := p.rounds
			p.mu.Unlock()
			if len(res) == 0 {
				continue
			}
			var muts []mutation.Mutation
			for _, id := range res {
				muts = append(muts, led.mutations(id, per)...)
			}
			r.put(t, prod, muts)
			if badEvery > 0 && round%badEvery == 0 {
				led.mu.Lock()
				led.bad++
				led.mu.Unlock()
				// A failed put may have taken effect, and the SDK's retry
				// of one that did writes a second record: the census
				// counts them on the stream at the end.
				if err := r.fenv.PutRaw(context.Background(), r.w.Stream, res[0], [][]byte{[]byte(`{"v":1,"resource":"` + res[0] + `","seq":`)}); err != nil {
					t.Logf("a malformed put failed: %v", err)
				}
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

// set replaces the resources produced to, and waits for the round in
// flight: what it returns after is all the removed ones get.
func (p *producer) set(resources ...string) {
	p.mu.Lock()
	p.active = append([]string(nil), resources...)
	n := p.rounds
	p.mu.Unlock()
	for {
		p.mu.Lock()
		m := p.rounds
		p.mu.Unlock()
		if m >= n+2 {
			return
		}
		select {
		case <-p.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *producer) stop() {
	p.once.Do(func() { close(p.stopped) })
	<-p.done
}
