//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

var (
	agentOnce sync.Once
	agentBin  string
	agentErr  error
)

// agentBinary builds cmd/shadow-agent once per test process, into
// .cache/e2e of the repository.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			agentErr = err
			return
		}
		dir := filepath.Join(root, ".cache", "e2e")
		if agentErr = os.MkdirAll(dir, 0o755); agentErr == nil {
			agentBin, agentErr = harness.BuildAgent(context.Background(), dir)
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentBin
}

// pipeline is a plane whose live instances got their shadows, real agent
// processes standing in for the instances' agents, and the fanout handler
// in process pointed at them.
type pipeline struct {
	*plane
	lives   []string
	shadows map[string]string // live -> shadow instance
	agents  map[string]*harness.Agent
	addrs   map[string]string // instance -> agent address
	client  *agent.Client
	fanout  *handlers.Fanout
	fmet    *metrics.Recorder
	flogs   *syncBuffer
	prod    *libproducer.Producer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newPipeline sets the world up, gives every live instance its shadow
// (launch handler), and starts the agents: placement maps an agent name to
// the instances it serves ("live" and "shadow" name every live and every
// shadow instance; other names are given instance ids by the caller via
// place).
func newPipeline(t *testing.T, opt harness.WorldOptions, place func(lives []string, shadows map[string]string) map[string][]string) *pipeline {
	t.Helper()
	ctx := context.Background()
	p := &pipeline{plane: newPlane(t, opt), shadows: map[string]string{}, agents: map[string]*harness.Agent{}, addrs: map[string]string{}}
	p.lives = p.plane.lives(t, opt.Desired)
	p.launchAll(t, p.lives)
	for _, l := range p.lives {
		rec, ok := p.record(t, l)
		if !ok || rec.ShadowID == "" {
			t.Fatalf("no active shadow for %s: %+v", l, rec)
		}
		p.shadows[l] = rec.ShadowID
	}
	bin := agentBinary(t)
	dir := t.TempDir()
	for name, insts := range place(p.lives, p.shadows) {
		a, err := harness.StartAgent(ctx, bin, harness.AgentOptions{Name: name, DataDir: filepath.Join(dir, name), Key: p.w.AgentKey, Instances: insts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				keepLogs(t, "agent "+name+" logs", a.Logs())
			}
			_ = a.Stop()
		})
		p.agents[name] = a
		for _, id := range insts {
			p.addrs[id] = a.Addr
		}
	}
	var err error
	if p.client, err = agent.NewClient([]byte(p.w.AgentKey), clock.System{}, agent.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	p.fmet, p.flogs = metrics.NewRecorder(), &syncBuffer{}
	cfg, err := lambdaenv.LoadFanout(lambdaenv.Map(p.fanoutEnv()))
	if err != nil {
		t.Fatal(err)
	}
	deps, err := handlers.NewFanoutDeps(p.w.Scoped.Cfg, cfg, p.client, p.fmet, lambdaenv.NewLogger(p.flogs, slog.LevelDebug, "fanout"))
	if err != nil {
		t.Fatal(err)
	}
	// Counters written after every batch, so the checks find them at once
	// (the deployed default holds them up to 5 s).
	if p.fanout, err = handlers.NewFanout(deps, handlers.FanoutOptions{FlushEvery: -1}); err != nil {
		t.Fatal(err)
	}
	if p.prod, err = libproducer.New(env.Kinesis, clock.System{}, libproducer.Options{Stream: p.w.Stream, NoAggregation: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "fanout logs", p.flogs.String())
		}
	})
	return p
}

// onePair: one agent for every live instance, one for every shadow.
func onePair(lives []string, shadows map[string]string) map[string][]string {
	m := map[string][]string{"live": lives}
	for _, l := range lives {
		m["shadow"] = append(m["shadow"], shadows[l])
	}
	return m
}

// fanoutEnv is the fanout function's environment in this world.
func (p *pipeline) fanoutEnv() map[string]string {
	fenv := p.w.FunctionEnv(env)
	b, _ := json.Marshal(p.addrs)
	fenv[lambdaenv.EnvAgentAddresses] = string(b)
	return fenv
}

// mutations returns n mutations of resource from seq first: puts,
// updates and deletes over a small key space.
func mutations(resource string, first uint64, n int) []mutation.Mutation {
	out := make([]mutation.Mutation, n)
	for i := range out {
		s := first + uint64(i)
		m := mutation.Mutation{V: 1, Resource: resource, Seq: s, Op: mutation.OpPut, Key: fmt.Sprintf("user/%d", s%37), Value: []byte(fmt.Sprintf(`{"n":%d}`, s)), ProducedAt: time.Now().UTC()}
		switch s % 5 {
		case 3:
			m.Op = mutation.OpUpdate
		case 4:
			m.Op, m.Value = mutation.OpDelete, nil
		}
		out[i] = m
	}
	return out
}

func (p *pipeline) put(t *testing.T, muts []mutation.Mutation) {
	t.Helper()
	if err := p.prod.PutAll(context.Background(), muts...); err != nil {
		t.Fatal(err)
	}
}

// putRaw puts records as they are (what a broken producer could send).
func (p *pipeline) putRaw(t *testing.T, key string, datas ...[]byte) {
	t.Helper()
	var recs []kintypes.PutRecordsRequestEntry
	for _, d := range datas {
		recs = append(recs, kintypes.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String(key)})
	}
	out, err := env.Kinesis.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(p.w.Stream), Records: recs})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("putting raw records: %v %+v", err, out)
	}
}

// deliver hands one event to the fanout as Lambda would (the JSON it
// serialises), with a Lambda-like deadline.
func (p *pipeline) deliver(t *testing.T, ev events.KinesisEvent) events.KinesisEventResponse {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(invocation(), time.Minute)
	defer cancel()
	resp, err := p.fanout.Handle(ctx, b)
	if err != nil {
		t.Fatalf("fanout error: %v", err)
	}
	return resp
}

// readAll reads what is new on the stream, shard by shard (shards in id
// order).
func readAll(t *testing.T, r *harness.StreamReader) []events.KinesisEvent {
	t.Helper()
	evs, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	shards := make([]string, 0, len(evs))
	for s := range evs {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	out := make([]events.KinesisEvent, 0, len(shards))
	for _, s := range shards {
		out = append(out, evs[s])
	}
	return out
}

// settled waits until the agent has applied want mutations of resource
// (nothing in its backlog) and returns its status.
func (p *pipeline) settled(t *testing.T, agentName, resource string, want uint64) agent.ResourceStatus {
	t.Helper()
	ctx := context.Background()
	ep := mutation.Endpoint{InstanceID: agentName, Address: p.agents[agentName].Addr}
	var st agent.ResourceStatus
	err := harness.Eventually(ctx, 20*time.Second, func() (bool, error) {
		out, err := p.client.Status(ctx, ep, resource)
		if err != nil {
			return false, err
		}
		if len(out.Resources) != 1 {
			return false, fmt.Errorf("status of %s: %+v", resource, out)
		}
		st = out.Resources[0]
		return st.AppliedCount == want && st.Backlog == 0, fmt.Errorf("agent %s holds %s: accepted %d applied %d backlog %d, want %d applied", agentName, resource, st.AcceptedCount, st.AppliedCount, st.Backlog, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (p *pipeline) digest(t *testing.T, agentName, resource string) agent.DigestInfo {
	t.Helper()
	d, err := p.client.Digest(context.Background(), mutation.Endpoint{InstanceID: agentName, Address: p.agents[agentName].Addr}, resource)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sameState asserts the two agents hold the same applied state of
// resource, want mutations applied each.
func (p *pipeline) sameState(t *testing.T, liveAgent, shadowAgent, resource string, want uint64) {
	t.Helper()
	ls := p.settled(t, liveAgent, resource, want)
	ss := p.settled(t, shadowAgent, resource, want)
	if ls.AcceptedCount != want || ss.AcceptedCount != want {
		t.Errorf("%s accepted %d (live) and %d (shadow), want exactly %d each", resource, ls.AcceptedCount, ss.AcceptedCount, want)
	}
	ld, sd := p.digest(t, liveAgent, resource), p.digest(t, shadowAgent, resource)
	if !ld.Known || ld.AppliedSeq != sd.AppliedSeq || ld.Digest != sd.Digest || ld.Keys != sd.Keys {
		t.Errorf("%s: live %+v, shadow %+v: not the same state", resource, ld, sd)
	}
}

// deadLetters receives every message of the queue.
func deadLetters(t *testing.T, url string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for {
		r, err := env.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 300})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			a := map[string]string{"body": aws.ToString(m.Body)}
			for k, v := range m.MessageAttributes {
				a[k] = aws.ToString(v.StringValue)
			}
			out = append(out, a)
		}
	}
}

// historyTotals sums the group's minute items over the last hour.
func (p *pipeline) historyTotals(t *testing.T) (live, shadow int64) {
	t.Helper()
	now := time.Now()
	gm, err := p.table.History().GroupMinutes(context.Background(), p.w.Group, now.Add(-time.Hour), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gm {
		live += g.Live
		shadow += g.Shadow
	}
	return live, shadow
}

// TestFanoutToTwoAgents: mutations put on the stream with the producer,
// read back with GetRecords and delivered as Lambda Kinesis events to the
// fanout, end with the live and the shadow agent processes holding the
// same state; the counters reach the history.
func TestFanoutToTwoAgents(t *testing.T) {
	p := newPipeline(t, harness.WorldOptions{Desired: 1}, onePair)
	res := p.lives[0]
	reader, err := env.NewStreamReader(context.Background(), p.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	for first := uint64(1); first <= n; first += 200 {
		p.put(t, mutations(res, first, 200))
		for _, ev := range readAll(t, reader) {
			if resp := p.deliver(t, ev); len(resp.BatchItemFailures) != 0 {
				t.Fatalf("failures %+v", resp.BatchItemFailures)
			}
		}
	}
	p.sameState(t, "live", "shadow", res, n)
	if l, s := p.historyTotals(t); l != n || s != n {
		t.Errorf("history counted live %d shadow %d, want %d each", l, s, n)
	}
	if got := p.fmet.Sum("MutationsApplied", metrics.Dim{Name: "Group", Value: p.w.Group}, metrics.Dim{Name: "Target", Value: "shadow"}); got != n {
		t.Errorf("MutationsApplied{shadow} = %v", got)
	}
	if dl := deadLetters(t, p.w.QueueURL); len(dl) != 0 {
		t.Errorf("dead letters %v", dl)
	}
}

// TestFanoutDeadLettersNeverBlock: a malformed record, one with an
// oversized key, one of an unknown resource and one of a format version
// from the future land in the dead-letter queue with their reasons and
// provenance; the valid records around them are applied on both agents;
// the batch reports no failure. Accounting: produced = applied on live =
// applied on shadow + dead-lettered... per resource: every valid mutation
// applied on both, every bad record dead-lettered once.
func TestFanoutDeadLettersNeverBlock(t *testing.T) {
	p := newPipeline(t, harness.WorldOptions{Desired: 1, StreamShards: 1}, onePair)
	res := p.lives[0]
	reader, err := env.NewStreamReader(context.Background(), p.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	p.put(t, mutations(res, 1, 50))
	malformed := []byte(`{"v":1,"resource":"` + res + `","seq":51,"op":"put","key":`)
	bigKey, _ := json.Marshal(map[string]any{"v": 1, "resource": res, "seq": 51, "op": "put", "key": strings.Repeat("k", 1100), "value": "eA==", "ts": time.Now().UTC()})
	future, _ := json.Marshal(map[string]any{"v": 2, "resource": res, "seq": 51, "op": "merge", "key": "user/1", "ts": time.Now().UTC()})
	p.putRaw(t, res, malformed, bigKey, future)
	p.put(t, mutations("i-0123456789abcdef0", 1, 1)) // no such instance
	p.put(t, mutations(res, 51, 50))
	produced := 50 + 3 + 1 + 50

	evs := readAll(t, reader)
	if len(evs) != 1 || len(evs[0].Records) != produced {
		t.Fatalf("read %d events, want one of %d records", len(evs), produced)
	}
	if resp := p.deliver(t, evs[0]); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("bad records blocked the shard: %+v", resp.BatchItemFailures)
	}
	p.sameState(t, "live", "shadow", res, 100)
	dl := deadLetters(t, p.w.QueueURL)
	byCode := map[string]map[string]string{}
	for _, l := range dl {
		code, _, _ := strings.Cut(l["reason"], ":")
		byCode[code] = l
		if l["source"] != p.w.StreamARN || l["sequence_number"] == "" || !strings.HasPrefix(l["event_id"], "shardId-") || l["dead_at"] == "" {
			t.Errorf("dead letter without provenance: %v", l)
		}
	}
	if len(dl) != 4 {
		t.Errorf("%d dead letters, want 4: %v", len(dl), dl)
	}
	for code, want := range map[string]string{
		handlers.ReasonUndecodable:     "not a mutation record (JSON or binary)",
		handlers.ReasonInvalid:         "key is 1100 bytes, limit 1024",
		handlers.ReasonVersion:         "unsupported format version 2",
		handlers.ReasonUnknownResource: "EC2 does not know instance i-0123456789abcdef0",
	} {
		if l, ok := byCode[code]; !ok || !strings.Contains(l["reason"], want) {
			t.Errorf("dead letter %s: %v, want a reason saying %q", code, l, want)
		}
	}
	if l := byCode[handlers.ReasonUndecodable]; l["body"] != string(malformed) || l["partition_key"] != res {
		t.Errorf("the malformed record's letter does not hold it: %v", l)
	}
	// Accounting: produced = applied on the live + dead-lettered = applied
	// on the shadow + dead-lettered.
	ls, ss := p.settled(t, "live", res, 100), p.settled(t, "shadow", res, 100)
	if int(ls.AppliedCount)+len(dl) != produced || int(ss.AppliedCount)+len(dl) != produced {
		t.Errorf("accounting: produced %d, applied live %d, shadow %d, dead-lettered %d", produced, ls.AppliedCount, ss.AppliedCount, len(dl))
	}
	// Redelivered (a Lambda retry after a timeout): nothing applied twice,
	// and the bad records dead-lettered again (at-least-once; same sequence
	// numbers, so a consumer of the queue can drop the repeats).
	if resp := p.deliver(t, evs[0]); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v", resp.BatchItemFailures)
	}
	p.sameState(t, "live", "shadow", res, 100)
	if again := deadLetters(t, p.w.QueueURL); len(again) != 4 {
		t.Errorf("redelivery dead-lettered %d", len(again))
	}
}

// TestFanoutRedeliveryAfterPartialFailure: two live instances on one
// shard; the shadow agent of the second is down, so the batch fails from
// that instance's first record; Lambda redelivers the batch from that
// record once the agent is back: every mutation ends applied exactly once
// on each of the four copies.
func TestFanoutRedeliveryAfterPartialFailure(t *testing.T) {
	p := newPipeline(t, harness.WorldOptions{Desired: 2, StreamShards: 1}, func(lives []string, shadows map[string]string) map[string][]string {
		return map[string][]string{"live": lives, "shadow-a": {shadows[lives[0]]}, "shadow-b": {shadows[lives[1]]}}
	})
	a, b := p.lives[0], p.lives[1]
	reader, err := env.NewStreamReader(context.Background(), p.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	var muts []mutation.Mutation
	ma, mb := mutations(a, 1, 120), mutations(b, 1, 120)
	for i := range ma {
		muts = append(muts, ma[i], mb[i])
	}
	p.put(t, muts)
	evs := readAll(t, reader)
	if len(evs) != 1 || len(evs[0].Records) != 240 {
		t.Fatalf("read %v", len(evs))
	}
	ev := evs[0]
	if err := p.agents["shadow-b"].Stop(); err != nil {
		t.Fatal(err)
	}
	resp := p.deliver(t, ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[1].Kinesis.SequenceNumber {
		t.Fatalf("answer %+v, want a retry from record 1 (the first of %s)", resp.BatchItemFailures, b)
	}
	// What could be applied was: a on both, b on its live.
	p.sameState(t, "live", "shadow-a", a, 120)
	p.settled(t, "live", b, 120)

	if err := p.agents["shadow-b"].Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	redelivery := events.KinesisEvent{Records: ev.Records[1:]}
	if resp := p.deliver(t, redelivery); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v", resp.BatchItemFailures)
	}
	p.sameState(t, "live", "shadow-a", a, 120)
	p.sameState(t, "live", "shadow-b", b, 120)
	if l, s := p.historyTotals(t); l != 240 || s != 240 {
		t.Errorf("history counted live %d shadow %d, want 240 each: the redelivered duplicates must not count", l, s)
	}
	if n := p.fmet.Total("FanoutErrors"); n != 120 {
		t.Errorf("FanoutErrors = %v, want 120", n)
	}
}

// TestFanoutBinaryUnderRIE runs the real fanout bootstrap under the Lambda
// Runtime Interface Emulator (its agent key read from Secrets Manager at
// init, as deployed) with stream records read back from moto: both agents
// end with the same state, a malformed record is dead-lettered, and a
// redelivered batch changes nothing.
func TestFanoutBinaryUnderRIE(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, harness.WorldOptions{Desired: 1, StreamShards: 1}, onePair)
	res := p.lives[0]
	rie, err := harness.RIE(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := harness.BuildFunctions(ctx, t.TempDir(), "fanout")
	if err != nil {
		t.Fatal(err)
	}
	f, err := harness.StartFunction(ctx, rie, "fanout", bins["fanout"], p.fanoutEnv())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "fanout logs", f.Logs())
		}
		_ = f.Stop()
	})
	reader, err := env.NewStreamReader(ctx, p.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	p.put(t, mutations(res, 1, 150))
	p.putRaw(t, res, []byte("not a mutation"))
	p.put(t, mutations(res, 151, 150))
	evs := readAll(t, reader)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	payload, _ := json.Marshal(evs[0])
	for range 2 {
		out, err := f.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("answer %s", out)
		}
	}
	p.sameState(t, "live", "shadow", res, 300)
	if dl := deadLetters(t, p.w.QueueURL); len(dl) != 2 || !strings.HasPrefix(dl[0]["reason"], handlers.ReasonUndecodable) {
		t.Errorf("dead letters %v, want the malformed record once per delivery", dl)
	}
	logs := f.Logs()
	for _, want := range []string{`"requestId":`, `"function":"fanout"`, `"_aws":{`, `"MutationsApplied"`, `"DeadLettered"`, "for tests and local runs only"} {
		if !strings.Contains(logs, want) {
			t.Errorf("fanout logs lack %s:\n%s", want, logs)
		}
	}
	if fi, err := os.Stat(bins["fanout"]); err == nil {
		figures.Store("bootstrap size (linux/"+runtimeArch()+", stripped): fanout", fmt.Sprint(fi.Size())+" bytes")
	}
}

// TestLagShort runs what `make lag` runs, briefly and slowly: the
// accounting must balance and every mutation must reach both agents.
func TestLagShort(t *testing.T) {
	res, err := harness.RunLag(context.Background(), env, harness.LagOptions{Rate: 200, Duration: 4 * time.Second, BadEvery: 100, Drain: 30 * time.Second}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Balanced() || res.DeadLettered == 0 || res.ShadowLag.MissingSamples != 0 || res.ShadowLag.N != int(res.Valid) {
		t.Errorf("lag run %+v", res)
	}
	figures.Store("lag, short run at 200/s (shadow p50, p99)", fmt.Sprintf("%s, %s", res.ShadowLag.P50.Round(time.Millisecond), res.ShadowLag.P99.Round(time.Millisecond)))
}
