package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// The resources the Kinesis sample (events/kinesis-mutations.json) names.
const (
	resA = liveID                // seq 1..3 valid, then truncated JSON, a 1,100-byte key
	resB = "i-0fedcba9876543210" // seq 1 valid, then a version-2 record
)

// reasons returns the dead letters' reason codes, oldest first.
func reasons(d *memory.DeadLetters) []string {
	var out []string
	for _, l := range d.Letters() {
		code, _, _ := strings.Cut(l.Reason, ":")
		out = append(out, code)
	}
	return out
}

// fanoutEnv is the fanout handler on in-memory adapters, with the real
// Resolver and Router.
type fanoutEnv struct {
	clock   *clock.Fake
	fleet   *memory.Fleet
	records *memory.Records
	groups  *memory.Groups
	agents  *memory.Agents
	dlq     *memory.DeadLetters
	hist    *memory.History
	metrics *metrics.Recorder
	logs    *bytes.Buffer
	res     *handlers.Resolver
	h       *handlers.Fanout
}

func newFanoutEnv(t *testing.T) *fanoutEnv {
	t.Helper()
	e := &fanoutEnv{
		clock: clock.NewFake(t0), records: memory.NewRecords(), agents: memory.NewAgents(),
		groups: memory.NewGroups(), dlq: memory.NewDeadLetters(), hist: memory.NewHistory(), metrics: metrics.NewRecorder(), logs: &bytes.Buffer{},
	}
	e.groups.Put(asg.Group{Name: "web", EnrolledByTag: true, Max: 10})
	e.fleet = memory.NewFleet(stack, e.clock, subnets)
	var err error
	e.res, err = handlers.NewResolver(e.fleet, e.records, e.groups, e.clock, handlers.ResolverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	log := lambdaenv.NewLogger(e.logs, slog.LevelDebug, "fanout")
	e.h, err = handlers.NewFanout(handlers.FanoutDeps{
		Router: mutation.NewRouter(e.res, e.agents, e.clock), Routes: e.res,
		History: e.hist, DeadLetters: e.dlq, Clock: e.clock, Metrics: e.metrics, Log: log,
	}, handlers.FanoutOptions{FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs)
		}
	})
	return e
}

// pair adds a running live instance of group with an active shadow record
// and a running shadow; it returns the shadow's id.
func (e *fanoutEnv) pair(live, group string, n int) string {
	sh := fmt.Sprintf("i-0shadow%011d", n)
	e.fleet.Add(shadow.Instance{ID: live, Type: "m7g.xlarge", AZ: "us-east-1a", PrivateIP: fmt.Sprintf("10.0.1.%d", n), Group: group, State: shadow.Running, Tags: map[string]string{awssdk.TagASGName: group}})
	e.fleet.Add(shadow.Instance{ID: sh, Type: "t4g.medium", AZ: "us-east-1a", PrivateIP: fmt.Sprintf("10.0.101.%d", n), State: shadow.Running,
		Tags: map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: stack, shadow.TagLive: live, shadow.TagGroup: group}})
	if _, err := e.records.Create(context.Background(), shadow.Record{LiveID: live, Group: group, AZ: "us-east-1a", ShadowID: sh, Status: shadow.Active, Generation: 1}); err != nil {
		panic(err)
	}
	return sh
}

func (e *fanoutEnv) applied(t *testing.T, instance, resource string) uint64 {
	t.Helper()
	_, n, err := e.agents.Status(instance, resource)
	if err != nil && !errors.Is(err, memory.ErrNoAgent) {
		t.Fatal(err)
	}
	return n
}

func (e *fanoutEnv) handle(t *testing.T, ev events.KinesisEvent) events.KinesisEventResponse {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.h.Handle(invocation(), b)
	if err != nil {
		t.Fatalf("Handle returned an error (Lambda would retry the whole batch): %v", err)
	}
	return resp
}

func sampleKinesis(t *testing.T) events.KinesisEvent {
	t.Helper()
	var ev events.KinesisEvent
	if err := json.Unmarshal(fixture(t, "kinesis-mutations.json"), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// kinesisEvent builds an event of records (data as given), one shard.
func kinesisEvent(datas ...[]byte) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, d := range datas {
		seq := fmt.Sprintf("4959%020d", i+1)
		pk := "x"
		if m, err := mutation.Decode(d); err == nil {
			pk = m.Resource
		}
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventID: "shardId-000000000000:" + seq, EventSource: "aws:kinesis", EventName: "aws:kinesis:record",
			EventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/m",
			Kinesis:        events.KinesisRecord{Data: d, PartitionKey: pk, SequenceNumber: seq, KinesisSchemaVersion: "1.0"},
		})
	}
	return ev
}

func enc(res string, seq uint64) []byte {
	b, err := mutation.Encode(mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: fmt.Sprint("k", seq%7), Value: []byte(fmt.Sprint("v", seq)), ProducedAt: t0})
	if err != nil {
		panic(err)
	}
	return b
}

func failures(r events.KinesisEventResponse) []string {
	var out []string
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func TestFanoutSampleEvent(t *testing.T) {
	e := newFanoutEnv(t)
	shA := e.pair(resA, "web", 1)
	shB := e.pair(resB, "web", 2)
	ev := sampleKinesis(t)
	resp := e.handle(t, ev)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v, want none: bad records are dead-lettered, not retried", failures(resp))
	}
	for _, c := range []struct {
		inst, res string
		want      uint64
	}{{resA, resA, 3}, {shA, resA, 3}, {resB, resB, 1}, {shB, resB, 1}} {
		if got := e.applied(t, c.inst, c.res); got != c.want {
			t.Errorf("%s applied %d of %s, want %d", c.inst, got, c.res, c.want)
		}
	}
	if got := fmt.Sprint(reasons(e.dlq)); got != "[undecodable invalid unsupported-version]" {
		t.Errorf("dead letters %s", got)
	}
	for i, l := range e.dlq.Letters() {
		src := ev.Records[4+i]
		if !bytes.Equal(l.Data, src.Kinesis.Data) || l.SequenceNumber != src.Kinesis.SequenceNumber || l.EventID != src.EventID ||
			l.Source != src.EventSourceArn || l.PartitionKey != src.Kinesis.PartitionKey || !l.At.Equal(t0) {
			t.Errorf("letter %d does not carry its record and provenance: %+v", i, l)
		}
	}
	if !strings.Contains(e.dlq.Letters()[1].Reason, "key is 1100 bytes, limit 1024") {
		t.Errorf("oversized key letter reason %q", e.dlq.Letters()[1].Reason)
	}
	if got := e.hist.Accepted("web", mutation.Live); got != 4 {
		t.Errorf("history live = %d, want 4", got)
	}
	if got := e.hist.Accepted("web", mutation.Shadow); got != 4 {
		t.Errorf("history shadow = %d, want 4", got)
	}
	web := metrics.Dim{Name: "Group", Value: "web"}
	if got := e.metrics.Sum("MutationsApplied", web, metrics.Dim{Name: "Target", Value: "shadow"}); got != 4 {
		t.Errorf("MutationsApplied{web,shadow} = %v", got)
	}
	if got := e.metrics.Total("DeadLettered"); got != 3 {
		t.Errorf("DeadLettered = %v", got)
	}
	if got := e.metrics.Total("FanoutErrors"); got != 0 {
		t.Errorf("FanoutErrors = %v", got)
	}
	if e.fleet.Lookups != 1 {
		t.Errorf("%d DescribeInstances calls for one batch, want 1 (primed)", e.fleet.Lookups)
	}
	// The same batch again (Lambda redelivers after a timeout): nothing is
	// applied twice, and no EC2 call (the routes are cached).
	e.handle(t, ev)
	if e.applied(t, shA, resA) != 3 || e.applied(t, resA, resA) != 3 {
		t.Error("a redelivered batch was applied twice")
	}
	if e.fleet.Lookups != 1 {
		t.Errorf("%d DescribeInstances calls after a second batch within the TTL", e.fleet.Lookups)
	}
}

func TestFanoutFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *fanoutEnv)
		datas [][]byte
		// want: the record (index) Lambda must retry from, -1 for none.
		want        int
		wantLetters string
		wantApplied map[string]uint64 // instance -> applied (of its resource)
	}{
		{
			name:  "unknown resource is dead-lettered, the rest applied",
			datas: [][]byte{enc(resA, 1), enc("i-0123456789abcdef0", 1), enc(resA, 2)},
			want:  -1, wantLetters: "[unknown-resource]",
			wantApplied: map[string]uint64{resA: 2},
		},
		{
			name:  "resource that is not an instance id",
			datas: [][]byte{enc("orders-db", 1), enc(resA, 1)},
			want:  -1, wantLetters: "[unknown-resource]",
			wantApplied: map[string]uint64{resA: 1},
		},
		{
			name: "shadow down: retry from the first record of that resource",
			setup: func(e *fanoutEnv) {
				e.agents.Fail = func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
					if strings.HasPrefix(to.InstanceID, "i-0shadow") && to.InstanceID == "i-0shadow00000000002" {
						return errors.New("connection refused")
					}
					return nil
				}
			},
			datas: [][]byte{enc(resA, 1), []byte("garbage"), enc(resB, 1), enc(resA, 2), []byte("{}")},
			// the garbage before the failure is dead-lettered; "{}" after it
			// is left for the redelivery
			want: 2, wantLetters: "[undecodable]",
			wantApplied: map[string]uint64{resA: 2, "i-0shadow00000000001": 2, resB: 1, "i-0shadow00000000002": 0},
		},
		{
			name:  "dead letter not written: the record is retried, never lost",
			setup: func(e *fanoutEnv) { e.dlq.Fail = func(mutation.DeadLetter) error { return errors.New("throttled") } },
			datas: [][]byte{enc(resA, 1), []byte("garbage"), enc(resA, 2)},
			want:  1, wantLetters: "[]",
			wantApplied: map[string]uint64{resA: 2},
		},
		{
			name: "EC2 unavailable: every mutation retried, the garbage before them dead-lettered",
			setup: func(e *fanoutEnv) {
				e.fleet.FailDescribe = func([]string) error { return errors.New("RequestLimitExceeded") }
			},
			datas: [][]byte{[]byte("garbage"), enc(resA, 1), enc(resB, 1)},
			want:  1, wantLetters: "[undecodable]",
			wantApplied: map[string]uint64{resA: 0, resB: 0},
		},
		{
			name: "agent refuses for good: rejected, dead-lettered",
			setup: func(e *fanoutEnv) {
				e.agents.Fail = func(to mutation.Endpoint, res string, _ []mutation.Mutation) error {
					if res == resB {
						return fmt.Errorf("agent answered 400: seq below the reorder window: %w", mutation.ErrPermanent)
					}
					return nil
				}
			},
			datas: [][]byte{enc(resB, 1), enc(resA, 1)},
			want:  -1, wantLetters: "[rejected]",
			wantApplied: map[string]uint64{resA: 1, resB: 0},
		},
		{
			name: "live instance pending: retried, not dead-lettered",
			setup: func(e *fanoutEnv) {
				e.fleet.SetState(resB, shadow.Pending)
			},
			datas: [][]byte{enc(resA, 1), enc(resB, 1)},
			want:  1, wantLetters: "[]",
			wantApplied: map[string]uint64{resA: 1},
		},
		{
			name:  "live instance terminated: unknown",
			setup: func(e *fanoutEnv) { e.fleet.SetState(resB, shadow.Terminated) },
			datas: [][]byte{enc(resB, 1), enc(resA, 1)},
			want:  -1, wantLetters: "[unknown-resource]",
			wantApplied: map[string]uint64{resA: 1},
		},
		{
			name: "group not enrolled: unknown",
			setup: func(e *fanoutEnv) {
				e.groups.Put(asg.Group{Name: "web"})
			},
			datas: [][]byte{enc(resA, 1)},
			want:  -1, wantLetters: "[unknown-resource]",
			wantApplied: map[string]uint64{resA: 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFanoutEnv(t)
			e.pair(resA, "web", 1)
			e.pair(resB, "web", 2)
			if tc.setup != nil {
				tc.setup(e)
			}
			ev := kinesisEvent(tc.datas...)
			resp := e.handle(t, ev)
			want := []string(nil)
			if tc.want >= 0 {
				want = []string{ev.Records[tc.want].Kinesis.SequenceNumber}
			}
			if fmt.Sprint(failures(resp)) != fmt.Sprint(want) {
				t.Errorf("retry from %v, want %v", failures(resp), want)
			}
			if got := fmt.Sprint(reasons(e.dlq)); got != tc.wantLetters {
				t.Errorf("dead letters %s, want %s", got, tc.wantLetters)
			}
			for inst, n := range tc.wantApplied {
				res := inst
				if strings.HasPrefix(inst, "i-0shadow") {
					res = map[string]string{"i-0shadow00000000001": resA, "i-0shadow00000000002": resB}[inst]
				}
				if got := e.applied(t, inst, res); got != n {
					t.Errorf("%s applied %d of %s, want %d", inst, got, res, n)
				}
			}
		})
	}
}

// TestFanoutRedeliveryAfterPartialFailure: the batch fails part way (a
// shadow down), Lambda redelivers from the reported record on, the shadow
// is back: every mutation ends applied exactly once on both agents, and
// the counters count each once.
func TestFanoutRedeliveryAfterPartialFailure(t *testing.T) {
	e := newFanoutEnv(t)
	shA := e.pair(resA, "web", 1)
	shB := e.pair(resB, "web", 2)
	down := true
	e.agents.Fail = func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
		if down && to.InstanceID == shB {
			return errors.New("i/o timeout")
		}
		return nil
	}
	var datas [][]byte
	for s := uint64(1); s <= 20; s++ {
		datas = append(datas, enc(resA, s), enc(resB, s))
	}
	datas = append(datas[:5], append([][]byte{[]byte(`{"v":1`)}, datas[5:]...)...) // garbage at record 5
	ev := kinesisEvent(datas...)
	resp := e.handle(t, ev)
	if got := failures(resp); len(got) != 1 || got[0] != ev.Records[1].Kinesis.SequenceNumber {
		t.Fatalf("retry from %v, want record 1 (the first of %s)", got, resB)
	}
	if e.applied(t, shA, resA) != 20 || e.applied(t, resB, resB) != 20 || e.applied(t, shB, resB) != 0 {
		t.Fatalf("after the partial failure: %d %d %d", e.applied(t, shA, resA), e.applied(t, resB, resB), e.applied(t, shB, resB))
	}
	if len(e.dlq.Letters()) != 0 {
		t.Errorf("the garbage after the retry point was dead-lettered before its redelivery: %v", reasons(e.dlq))
	}
	down = false
	redelivery := events.KinesisEvent{Records: ev.Records[1:]}
	if resp := e.handle(t, redelivery); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery failed: %v", failures(resp))
	}
	for _, c := range []struct{ inst, res string }{{resA, resA}, {shA, resA}, {resB, resB}, {shB, resB}} {
		if got := e.applied(t, c.inst, c.res); got != 20 {
			t.Errorf("%s applied %d of %s, want exactly 20", c.inst, got, c.res)
		}
	}
	if got := reasons(e.dlq); len(got) != 1 {
		t.Errorf("dead letters %v, want the garbage once", got)
	}
	if l, s := e.hist.Accepted("web", mutation.Live), e.hist.Accepted("web", mutation.Shadow); l != 40 || s != 40 {
		t.Errorf("history counted live %d shadow %d, want 40 each (newly accepted only)", l, s)
	}
	if got := e.metrics.Total("FanoutErrors"); got != 20 {
		t.Errorf("FanoutErrors = %v, want 20 (the records of %s in the first delivery)", got, resB)
	}
}

func TestFanoutIgnoresWhatIsNoBatch(t *testing.T) {
	e := newFanoutEnv(t)
	for name, payload := range map[string]string{
		"not json":     `{"Records":`,
		"no records":   `{"Records":[]}`,
		"eventbridge":  string(fixture(t, "scheduled.json")),
		"probe":        `{"probe":"cold-init"}`,
		"bad base64":   `{"Records":[{"kinesis":{"data":"!!"}}]}`,
		"array":        `[1]`,
		"empty string": ``,
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := e.h.Handle(invocation(), []byte(payload))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("Handle = %+v, %v; want an empty answer", resp, err)
			}
		})
	}
	if n := e.metrics.Total("EventsIgnored"); n != 7 {
		t.Errorf("EventsIgnored = %v, want 7", n)
	}
}

func TestFanoutHistoryFailureDoesNotFailTheBatch(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	e.hist.Fail = func(string, string) error { return errors.New("ProvisionedThroughputExceededException") }
	resp := e.handle(t, kinesisEvent(enc(resA, 1), enc(resA, 2)))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", failures(resp))
	}
	if e.metrics.Total("HistoryErrors") != 1 || !strings.Contains(e.logs.String(), "could not add every counter") {
		t.Errorf("history failure not reported:\n%s", e.logs)
	}
}

// TestFanoutRoutingDeadline: routing stops Reserve before the invocation's
// deadline; what it did not finish is retried, not lost.
func TestFanoutRoutingDeadline(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	e.agents.Fail = func(mutation.Endpoint, string, []mutation.Mutation) error { return nil }
	slow := &blockingApplier{}
	h, err := handlers.NewFanout(handlers.FanoutDeps{
		Router: mutation.NewRouter(e.res, slow, e.clock), Routes: e.res, History: e.hist, DeadLetters: e.dlq, Clock: e.clock,
	}, handlers.FanoutOptions{Reserve: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(invocation(), 30*time.Minute) // deadline - reserve is in the past
	defer cancel()
	ev := kinesisEvent(enc(resA, 1))
	b, _ := json.Marshal(ev)
	resp, err := h.Handle(ctx, b)
	if err != nil || fmt.Sprint(failures(resp)) != fmt.Sprint([]string{ev.Records[0].Kinesis.SequenceNumber}) {
		t.Errorf("Handle = %v, %v; want the record retried", failures(resp), err)
	}
}

// blockingApplier waits for its context.
type blockingApplier struct{}

func (blockingApplier) Apply(ctx context.Context, _ mutation.Endpoint, _ string, _ []mutation.Mutation) (mutation.Ack, error) {
	<-ctx.Done()
	return mutation.Ack{}, ctx.Err()
}

func TestNewFanoutValidates(t *testing.T) {
	_, err := handlers.NewFanout(handlers.FanoutDeps{}, handlers.FanoutOptions{})
	for _, w := range []string{"no router", "no history", "no dead-letter queue", "no clock"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("NewFanout error %v does not say %q", err, w)
		}
	}
}

// TestFanoutShadowRejectedIsNoFailure: a mutation the live holds and only
// the shadow refused as too late (its gap given up) is done for the batch
// and counted ShadowRejected; the reconciler repairs the shadow.
func TestFanoutShadowRejectedIsNoFailure(t *testing.T) {
	e := newFanoutEnv(t)
	e.agents = memory.NewAgents(memory.WithClock(e.clock))
	h, err := handlers.NewFanout(handlers.FanoutDeps{
		Router: mutation.NewRouter(e.res, e.agents, e.clock), Routes: e.res, History: e.hist, DeadLetters: e.dlq, Clock: e.clock, Metrics: e.metrics,
	}, handlers.FanoutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh := e.pair(resA, "web", 1)
	e.setStatus(t, resA, shadow.Launching) // seq 1 goes to the live only
	first := kinesisEvent(enc(resA, 1))
	if resp := h.HandleEvent(invocation(), first); len(resp.BatchItemFailures) != 0 {
		t.Fatal(failures(resp))
	}
	e.setStatus(t, resA, shadow.Active)
	e.res.Invalidate(resA)
	if resp := h.HandleEvent(invocation(), kinesisEvent(enc(resA, 2))); len(resp.BatchItemFailures) != 0 {
		t.Fatal(failures(resp))
	}
	e.clock.Advance(memory.DefaultGapWait + time.Second) // the shadow gives seq 1 up
	resp := h.HandleEvent(invocation(), first)           // seq 1 redelivered
	if len(resp.BatchItemFailures) != 0 || len(e.dlq.Letters()) != 0 {
		t.Fatalf("a shadow-only rejection failed the record: %v, letters %v", failures(resp), reasons(e.dlq))
	}
	if got := e.metrics.Total("ShadowRejected"); got != 1 {
		t.Errorf("ShadowRejected = %v, want 1", got)
	}
	if st, _ := e.agents.Sequences(sh, resA); st.Rejected != 1 {
		t.Errorf("shadow sequences %+v", st)
	}
}

// TestFanoutFlushesCountersWhenDue: the counters reach the history at most
// every FlushEvery, and at once when a minute they cover has ended.
func TestFanoutFlushesCountersWhenDue(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	e.clock.Set(t0.Add(10 * time.Second))
	h, err := handlers.NewFanout(handlers.FanoutDeps{
		Router: mutation.NewRouter(e.res, e.agents, e.clock), Routes: e.res, History: e.hist, DeadLetters: e.dlq, Clock: e.clock, Metrics: e.metrics,
	}, handlers.FanoutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seq := uint64(0)
	batch := func() {
		seq++
		if resp := h.HandleEvent(invocation(), kinesisEvent(enc(resA, seq))); len(resp.BatchItemFailures) != 0 {
			t.Fatal(failures(resp))
		}
	}
	steps := []struct {
		advance time.Duration
		flushes int // History.Add calls so far
		live    int // live counted in the history so far
	}{
		{0, 0, 0},                // 12:00:10, pending since the handler started
		{2 * time.Second, 0, 0},  // 12:00:12
		{3 * time.Second, 1, 3},  // 12:00:15: 5 s since the start
		{4 * time.Second, 1, 3},  // 12:00:19
		{42 * time.Second, 2, 5}, // 12:01:01: 12:00 has ended
		{1 * time.Second, 2, 5},  // 12:01:02
	}
	for i, st := range steps {
		e.clock.Advance(st.advance)
		batch()
		if e.hist.Adds() != st.flushes || e.hist.Accepted("web", mutation.Live) != int64(st.live) {
			t.Fatalf("step %d (%s): %d flushes, %d live in the history; want %d, %d", i, e.clock.Now().Format("15:04:05"), e.hist.Adds(), e.hist.Accepted("web", mutation.Live), st.flushes, st.live)
		}
	}
	if got := e.metrics.Sum("MutationsApplied", metrics.Dim{Name: "Group", Value: "web"}, metrics.Dim{Name: "Target", Value: "live"}); got != 6 {
		t.Errorf("MutationsApplied{live} = %v: the metrics are emitted every batch", got)
	}
}

// TestFanoutConcurrentInvocations: one handler invoked concurrently (as
// Lambda Managed Instances may, and the local pollers do, one per shard)
// keeps each invocation's records its own: every mutation is applied on
// both agents, none is dead-lettered. Run with -race to see the sharing.
func TestFanoutConcurrentInvocations(t *testing.T) {
	e := newFanoutEnv(t)
	const lives, batches, per = 4, 25, 20
	ids := make([]string, lives)
	shadows := make([]string, lives)
	for i := range ids {
		ids[i] = fmt.Sprintf("i-0c%015d", i)
		shadows[i] = e.pair(ids[i], "web", i+1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, lives)
	for i, id := range ids {
		wg.Add(1)
		go func() { // one "shard" per live: its batches in order, concurrent with the others'
			defer wg.Done()
			for b := range batches {
				datas := make([][]byte, per)
				for j := range datas {
					datas[j] = enc(id, uint64(b*per+j+1))
				}
				ev := kinesisEvent(datas...)
				for k := range ev.Records {
					ev.Records[k].EventID = fmt.Sprintf("shardId-%012d:%d", i, b*per+k)
				}
				raw, err := json.Marshal(ev)
				if err != nil {
					errs <- err
					return
				}
				resp, err := e.h.Handle(invocation(), raw)
				if err != nil || len(resp.BatchItemFailures) > 0 {
					errs <- fmt.Errorf("%s batch %d: %v, failures %v", id, b, err, failures(resp))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(e.dlq.Letters()); n > 0 {
		t.Fatalf("%d records dead-lettered (%v), want none", n, reasons(e.dlq))
	}
	for i, id := range ids {
		for _, inst := range []string{id, shadows[i]} {
			if got := e.applied(t, inst, id); got != batches*per {
				t.Errorf("%s applied %d of %s, want %d", inst, got, id, batches*per)
			}
		}
	}
}
