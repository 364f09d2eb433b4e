package handlers_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// aggregated packs user records into one aggregated record of partition
// key pk.
func aggregated(pk string, users ...[]byte) []byte {
	var a mutation.Aggregator
	for _, u := range users {
		a.Add(pk, u)
	}
	return a.Bytes()
}

// shardEvent builds an event of Kinesis records with their partition keys.
func shardEvent(recs ...[2][]byte) events.KinesisEvent {
	datas := make([][]byte, len(recs))
	for i, r := range recs {
		datas[i] = r[1]
	}
	ev := kinesisEvent(datas...)
	for i, r := range recs {
		ev.Records[i].Kinesis.PartitionKey = string(r[0])
	}
	return ev
}

func rec(pk string, data []byte) [2][]byte { return [2][]byte{[]byte(pk), data} }

// deadMutations sums what the letters hold (a letter of a record that is
// not even a user record counts one).
func deadMutations(d *memory.DeadLetters) int {
	n := 0
	for _, l := range d.Letters() {
		n += max(1, l.Mutations)
	}
	return n
}

// redeliver hands ev to the handler as Lambda does: again from the
// reported record until the answer names none (at most tries times).
func (e *fanoutEnv) redeliver(t *testing.T, h *handlers.Fanout, ev events.KinesisEvent, tries int, between func(attempt int)) int {
	t.Helper()
	recs := ev.Records
	for attempt := 1; attempt <= tries; attempt++ {
		resp := h.HandleEvent(invocation(), events.KinesisEvent{Records: recs})
		if len(resp.BatchItemFailures) == 0 {
			return attempt
		}
		from := resp.BatchItemFailures[0].ItemIdentifier
		i := 0
		for i < len(recs) && recs[i].Kinesis.SequenceNumber != from {
			i++
		}
		if i == len(recs) {
			t.Fatalf("retry point %s is no record of the batch", from)
		}
		recs = recs[i:]
		if between != nil {
			between(attempt)
		}
	}
	t.Fatalf("not through after %d deliveries", tries)
	return 0
}

// TestFanoutAggregatedAccounting: aggregated records of two resources,
// with bad user records and a mutation of an unknown resource packed in,
// a heartbeat, a plain record; a shadow down on the first delivery.
// Lambda redelivers from the Kinesis record named; in the end every
// mutation is applied exactly once on both agents or dead-lettered once
// with its own data and position, and produced = applied + dead-lettered.
func TestFanoutAggregatedAccounting(t *testing.T) {
	for _, form := range []struct {
		name   string
		encode func(mutation.Mutation) ([]byte, error)
	}{
		{"JSON user records", mutation.Encode},
		{"binary user records", mutation.EncodeBinary},
	} {
		t.Run(form.name, func(t *testing.T) { testAggregatedAccounting(t, form.encode) })
	}
}

func testAggregatedAccounting(t *testing.T, encode func(mutation.Mutation) ([]byte, error)) {
	enc := func(res string, seq uint64) []byte {
		b, err := encode(mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: fmt.Sprint("k", seq%7), Value: []byte(fmt.Sprint("v", seq)), ProducedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	e := newFanoutEnv(t)
	shA, shB := e.pair(resA, "web", 1), e.pair(resB, "web", 2)
	down := true
	e.agents.Fail = func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
		if down && to.InstanceID == shB {
			return errors.New("i/o timeout")
		}
		return nil
	}
	seq := map[string]uint64{}
	next := func(res string) []byte { seq[res]++; return enc(res, seq[res]) }
	garbage := []byte(`{"v":1,"resource":`)
	badKey := []byte(`{"v":1,"resource":"` + resA + `","seq":99,"op":"put","key":"","ts":"2026-11-28T12:00:00Z"}`)
	unknown := enc("i-0123456789abcdef0", 1)
	hb, _ := encode(mutation.Heartbeat(resA, t0))
	produced := 0
	user := func(d []byte) []byte { produced++; return d }
	ev := shardEvent(
		rec(resA, aggregated(resA, user(next(resA)), user(garbage), user(next(resA)), hb, user(next(resA)))), // record 0: bad user record at 1
		rec(resB, aggregated(resB, user(next(resB)), user(next(resB)))),                                      // record 1: resB, fails first
		rec(resA, aggregated(resA, user(next(resA)), user(badKey), user(unknown), user(next(resA)))),         // record 2: after the retry point
		rec(resA, user(next(resA))), // record 3: plain
	)
	tries := e.redeliver(t, e.h, ev, 5, func(int) { down = false })
	if tries != 2 {
		t.Errorf("through after %d deliveries, want 2", tries)
	}
	for _, c := range []struct {
		inst, res string
		want      uint64
	}{{resA, resA, 6}, {shA, resA, 6}, {resB, resB, 2}, {shB, resB, 2}} {
		if got := e.applied(t, c.inst, c.res); got != c.want {
			t.Errorf("%s applied %d of %s, want exactly %d", c.inst, got, c.res, c.want)
		}
	}
	letters := e.dlq.Letters()
	var got []string
	for _, l := range letters {
		code, _, _ := strings.Cut(l.Reason, ":")
		got = append(got, fmt.Sprintf("%s@%s/%d", code, l.SequenceNumber[len(l.SequenceNumber)-1:], l.SubSequence))
	}
	// the garbage of record 0 once (before the retry point on the first
	// delivery), record 2's two bad user records once (on the redelivery)
	if want := "[undecodable@1/1 invalid@3/1 unknown-resource@3/2]"; fmt.Sprint(got) != want {
		t.Errorf("dead letters %v, want %s", got, want)
	}
	for _, l := range letters {
		src := ev.Records[l.SequenceNumber[len(l.SequenceNumber)-1]-'1']
		users, _ := mutation.Deaggregate(nil, src.Kinesis.Data)
		if l.SubSequence < 0 || !bytes.Equal(l.Data, users[l.SubSequence].Data) || l.Mutations != 1 || l.PartitionKey != src.Kinesis.PartitionKey {
			t.Errorf("letter %+v does not carry its own user record", l)
		}
	}
	applied := int(e.applied(t, resA, resA) + e.applied(t, resB, resB))
	if dead := deadMutations(e.dlq); produced != applied+dead {
		t.Errorf("accounting: produced %d != applied %d + dead-lettered %d", produced, applied, dead)
	}
	if got := e.metrics.Total("DeadLettered"); int(got) != deadMutations(e.dlq) {
		t.Errorf("DeadLettered = %v, letters hold %d", got, deadMutations(e.dlq))
	}
	if l := e.hist.Accepted("web", mutation.Live); l != 8 {
		t.Errorf("history live %d, want 8 (newly accepted only)", l)
	}
}

// TestFanoutAggregatedWholeRecordLetters: an aggregated record whose every
// mutation fails for one reason is one letter holding the record as it
// came; a corrupt aggregated record is one letter too.
func TestFanoutAggregatedWholeRecordLetters(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	const stranger = "i-0123456789abcdef0"
	whole := aggregated(stranger, enc(stranger, 1), enc(stranger, 2), enc(stranger, 3))
	corrupt := aggregated(resA, enc(resA, 1))
	corrupt[len(corrupt)-1] ^= 0xff // the MD5 no longer matches
	ev := shardEvent(rec(stranger, whole), rec(resA, corrupt), rec(resA, aggregated(resA, enc(resA, 1), enc(resA, 2))))
	if resp := e.h.HandleEvent(invocation(), ev); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", failures(resp))
	}
	letters := e.dlq.Letters()
	if len(letters) != 2 {
		t.Fatalf("%d letters, want 2: %v", len(letters), reasons(e.dlq))
	}
	if l := letters[0]; !bytes.Equal(l.Data, whole) || l.SubSequence != -1 || l.Mutations != 3 || !strings.HasPrefix(l.Reason, "unknown-resource: all 3 user records") {
		t.Errorf("whole-record letter %+v", l)
	}
	if l := letters[1]; !bytes.Equal(l.Data, corrupt) || l.SubSequence != -1 || !strings.HasPrefix(l.Reason, "undecodable: ") || !strings.Contains(l.Reason, "MD5") {
		t.Errorf("corrupt-record letter %+v", l)
	}
	if e.applied(t, resA, resA) != 2 {
		t.Errorf("the good record after them: %d applied", e.applied(t, resA, resA))
	}
	if got := e.metrics.Total("DeadLettered"); got != 4 {
		t.Errorf("DeadLettered = %v, want 4 (3 mutations, 1 corrupt record)", got)
	}
}

// TestFanoutHeartbeatsCountSeen: heartbeats reach no agent, are never
// retried nor dead-lettered, and the group's minute counts records seen:
// mutations delivered and heartbeats of known resources.
func TestFanoutHeartbeatsCountSeen(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	e.pair(resB, "web", 2)
	beat := func(res string) []byte { b, _ := mutation.Encode(mutation.Heartbeat(res, t0)); return b }
	e.agents.Fail = func(_ mutation.Endpoint, _ string, batch []mutation.Mutation) error {
		for _, m := range batch {
			if m.IsHeartbeat() {
				t.Error("a heartbeat reached an agent")
			}
		}
		return nil
	}
	ev := kinesisEvent(beat(resA), beat(resB), beat("i-0123456789abcdef0"), enc(resA, 1), enc(resA, 2))
	if resp := e.handle(t, ev); len(resp.BatchItemFailures) != 0 || len(e.dlq.Letters()) != 0 {
		t.Fatalf("failures %v, letters %v", failures(resp), reasons(e.dlq))
	}
	if got := e.hist.Seen("web"); got != 4 {
		t.Errorf("seen %d, want 4 (two heartbeats, two mutations; the unknown resource's heartbeat not)", got)
	}
	mins, _ := e.hist.GroupMinutes(invocation(), "web", t0, t0)
	if len(mins) != 1 || mins[0].Seen != 4 || mins[0].Live != 2 {
		t.Errorf("GroupMinutes = %+v", mins)
	}
	// An idle minute: heartbeats only. Seen, zero mutations: zero demand,
	// not an outage.
	e.clock.Advance(time.Minute)
	e.handle(t, kinesisEvent(beat(resA), beat(resB)))
	mins, _ = e.hist.GroupMinutes(invocation(), "web", t0.Add(time.Minute), t0.Add(time.Minute))
	if len(mins) != 1 || mins[0].Seen != 2 || mins[0].Live != 0 {
		t.Errorf("idle minute = %+v, want seen 2 and no mutation", mins)
	}
	if got := e.metrics.Sum("MutationsApplied", metrics.Dim{Name: "Group", Value: "web"}, metrics.Dim{Name: "Target", Value: "seen"}); got != 0 {
		t.Errorf("records seen leaked into MutationsApplied: %v", got)
	}
}

// TestLiveBreakerDeadLettersInsteadOfBlocking: a live agent that keeps
// failing holds its shard (retried, nothing dead-lettered) until it has
// failed Threshold times over After; then its mutations are dead-lettered
// live-unavailable with their data, the other resources of the shard flow,
// and the accounting holds. Once it answers again, after Open, delivery
// resumes.
func TestLiveBreakerDeadLettersInsteadOfBlocking(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	e.pair(resB, "web", 2)
	shadows := handlers.NewShadowBreaker(e.clock, e.metrics, nil)
	live := handlers.NewLiveBreaker(e.clock, e.metrics, nil)
	res, err := handlers.NewResolver(e.fleet, e.records, e.groups, e.clock, handlers.ResolverConfig{Breaker: shadows})
	if err != nil {
		t.Fatal(err)
	}
	down := true
	e.agents.Fail = func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
		if down && to.InstanceID == resA {
			return errors.New("connection refused")
		}
		return nil
	}
	h, err := handlers.NewFanout(handlers.FanoutDeps{
		Router: mutation.NewRouter(res, handlers.BreakerApplier{Applier: e.agents, Breaker: shadows, Live: live}, e.clock), Routes: res,
		History: e.hist, DeadLetters: e.dlq, Clock: e.clock, Metrics: e.metrics,
	}, handlers.FanoutOptions{FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	produced := 0
	batch := func(seqA, seqB uint64) events.KinesisEvent {
		produced += 4
		return shardEvent(
			rec(resA, aggregated(resA, enc(resA, seqA), enc(resA, seqA+1))),
			rec(resB, aggregated(resB, enc(resB, seqB), enc(resB, seqB+1))),
		)
	}
	// Retried every minute: the breaker opens after 5 failures over 10 minutes.
	tries := e.redeliver(t, h, batch(1, 1), 20, func(int) { e.clock.Advance(time.Minute) })
	if tries != 11 {
		t.Errorf("through after %d deliveries a minute apart, want 11 (failing for 10 minutes; a shorter outage is retried)", tries)
	}
	if got := e.metrics.Total("LiveBreakerOpen"); got != 1 {
		t.Errorf("LiveBreakerOpen = %v", got)
	}
	// While open: resA's records go to the queue at once, resB's flow.
	if n := e.redeliver(t, h, batch(3, 3), 1, nil); n != 1 {
		t.Errorf("with the breaker open: %d deliveries", n)
	}
	letters := e.dlq.Letters()
	if len(letters) != 2 {
		t.Fatalf("%d letters, want one per record of %s: %v", len(letters), resA, reasons(e.dlq))
	}
	for _, l := range letters {
		if l.PartitionKey != resA || l.Mutations != 2 || l.SubSequence != -1 || !strings.HasPrefix(l.Reason, handlers.ReasonLiveUnavailable+": ") {
			t.Errorf("letter %+v", l)
		}
	}
	// Back: after Open, the next delivery closes the breaker.
	down = false
	e.clock.Advance(2 * time.Minute)
	if n := e.redeliver(t, h, batch(5, 5), 1, nil); n != 1 {
		t.Errorf("after recovery: %d deliveries", n)
	}
	st, _ := e.agents.Sequences(resA, resA)            // 5 and 6 accepted, behind the gap of the dead-lettered 1..4
	held := int(st.Accepted - st.Missing - st.Skipped) // seqs the live agent holds
	if held != 2 || st.Missing != 4 {
		t.Errorf("live agent of %s: %+v; want 5 and 6 held, 1..4 missing (dead-lettered, to redrive)", resA, st)
	}
	applied := int(e.applied(t, resB, resB)) + held
	if dead := deadMutations(e.dlq); produced != applied+dead {
		t.Errorf("accounting: produced %d != accepted %d + dead-lettered %d", produced, applied, dead)
	}
}

// TestFanoutBuffersReusedAcrossInvocations: a Fanout reuses its buffers
// (the records' decoded data, the user records, the mutations) from one
// invocation to the next; nothing of an earlier batch shows in a later
// one, and what an invocation handed on (its dead letters) keeps its bytes
// after the next invocation decoded over them.
func TestFanoutBuffersReusedAcrossInvocations(t *testing.T) {
	e := newFanoutEnv(t)
	e.pair(resA, "web", 1)
	// Cut short, and long enough that the first batch's data is the
	// largest: the later ones are decoded over it.
	garbage := []byte(`{"v":1,"resource":"` + resA + `","seq":` + strings.Repeat("9", 200))
	first := e.handle(t, shardEvent(rec(resA, aggregated(resA, enc(resA, 1), garbage, enc(resA, 2)))))
	if len(first.BatchItemFailures) != 0 {
		t.Fatalf("first batch: failures %v", failures(first))
	}
	// The same layout, every user record good: the slot of the first
	// batch's bad one holds a good one now.
	second := e.handle(t, shardEvent(rec(resA, aggregated(resA, enc(resA, 3), enc(resA, 4), enc(resA, 5)))))
	if len(second.BatchItemFailures) != 0 {
		t.Fatalf("second batch: failures %v", failures(second))
	}
	letters := e.dlq.Letters()
	if len(letters) != 1 {
		t.Fatalf("%d letters, want the first batch's one: %v", len(letters), reasons(e.dlq))
	}
	if l := letters[0]; !bytes.Equal(l.Data, garbage) || l.SubSequence != 1 {
		t.Errorf("the first batch's letter changed under the second: sub %d, data %q, want %q", l.SubSequence, l.Data, garbage)
	}
	if got := e.applied(t, resA, resA); got != 5 {
		t.Errorf("applied %d, want 5", got)
	}
	// A smaller batch after a larger one: only its own records count.
	third := e.handle(t, shardEvent(rec(resA, enc(resA, 6))))
	if len(third.BatchItemFailures) != 0 || len(e.dlq.Letters()) != 1 || e.applied(t, resA, resA) != 6 {
		t.Errorf("third batch: failures %v, %d letters, %d applied; want none, 1, 6", failures(third), len(e.dlq.Letters()), e.applied(t, resA, resA))
	}
}
