//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestAggregatedPathExactAccounting: the producer library, aggregating,
// puts two live instances' mutations on a one-shard stream (moto), with
// what a fleet of producers also sends: an unknown instance's mutations
// (one aggregated record of about 900 KB, whose letter is too large for a
// message: it goes to the dead-letter bucket), a broken producer's
// aggregated record holding an invalid user record between two valid ones,
// and a corrupt aggregated record. GetRecords hands the shard to the
// fanout (in process, wired as its main wires it, with
// SHADOWSCALE_DLQ_BUCKET) and to three agent processes (both live
// instances on one, each shadow on its own). The second shadow's agent is
// down on the first delivery: the answer names the first Kinesis record of
// that instance; the letters before it are written, those after it are
// left to the redelivery, which comes once the agent is back.
//
// The accounting is exact per partition key: produced user records =
// applied on the live agent + dead-lettered = applied on the shadow agent +
// dead-lettered; every letter is written once, with its position
// (sequence number, sub-sequence for a user record) and its data; the
// heartbeats reach no agent.
//
// It runs twice: the producer writing JSON user records, then the binary
// form (producer.Options.Binary), the broken producer's valid records in
// the same form as the rest.
func TestAggregatedPathExactAccounting(t *testing.T) {
	for _, form := range []struct {
		name   string
		binary bool
	}{{"JSON user records", false}, {"binary user records", true}} {
		t.Run(form.name, func(t *testing.T) { testAggregatedPath(t, form.binary) })
	}
}

func testAggregatedPath(t *testing.T, binary bool) {
	ctx := context.Background()
	p := newPipeline(t, harness.WorldOptions{Desired: 2, StreamShards: 1}, func(lives []string, shadows map[string]string) map[string][]string {
		return map[string][]string{"live": lives, "shadow-a": {shadows[lives[0]]}, "shadow-b": {shadows[lives[1]]}}
	})
	a, b := p.lives[0], p.lives[1]
	const unknown = "i-0123456789abcdef0" // no such instance
	fan, fmet, s3c := aggregatedFanout(t, p)
	reader, err := env.NewStreamReader(ctx, p.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	// Heartbeat: a millisecond, so that Tick puts one for every instance
	// idle by then (the default is 30 s).
	prod, err := libproducer.New(env.Kinesis, clock.System{}, libproducer.Options{Stream: p.w.Stream, Heartbeat: time.Millisecond, Binary: binary})
	if err != nil {
		t.Fatal(err)
	}
	produced := map[string]int{} // user records by partition key (heartbeats not counted)
	put := func(muts []mutation.Mutation) {
		t.Helper()
		if err := prod.PutAll(ctx, muts...); err != nil {
			t.Fatal(err)
		}
		for _, m := range muts {
			produced[m.Resource]++
		}
	}
	raw := func(key string, data []byte, users int) {
		t.Helper()
		if err := env.PutRaw(ctx, p.w.Stream, key, [][]byte{data}); err != nil {
			t.Fatal(err)
		}
		produced[key] += users
	}
	encode := func(m mutation.Mutation) []byte {
		enc := mutation.Encode
		if binary {
			enc = mutation.EncodeBinary
		}
		b, err := enc(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	put(mutations(a, 1, 100))
	big := mutations(unknown, 1, 70)
	valueBytes := 10_000 // in JSON, base64: 13,336 bytes a value
	if binary {
		valueBytes = 13_400 // the raw bytes: a record of the same size
	}
	for i := range big {
		big[i].Op, big[i].Value = mutation.OpPut, bytes.Repeat([]byte{'x'}, valueBytes)
	}
	put(big) // one aggregated record (about 945 KB; 1.26 MB in base64)
	// A broken producer's aggregated record: seq 101, an invalid user
	// record (empty key), seq 102.
	var agg mutation.Aggregator
	m101, m102 := mutations(a, 101, 2)[0], mutations(a, 101, 2)[1]
	agg.Add(a, encode(m101))
	agg.Add(a, []byte(`{"v":1,"resource":"`+a+`","seq":102,"op":"put","key":"","ts":"`+time.Now().UTC().Format(time.RFC3339Nano)+`"}`))
	agg.Add(a, encode(m102))
	raw(a, agg.Bytes(), 3)
	prod.Resume(a, 102)
	put(mutations(b, 1, 100)) // the retry point: shadow-b is down
	// A corrupt aggregated record: the magic number, then no valid message.
	raw(a, []byte(mutation.AggregatedMagic+"not a protobuf message, nor its MD5 at the end"), 1)
	for i := range 4 {
		put(mutations(a, 103+uint64(50*i), 50))
		put(mutations(b, 101+uint64(50*i), 50))
	}
	wantA, wantB := uint64(302), uint64(300) // valid mutations of each

	evs := readAll(t, reader)
	if len(evs) != 1 {
		t.Fatalf("%d events, want one shard's", len(evs))
	}
	ev := evs[0]
	firstB, aggregated := -1, 0
	for i, r := range ev.Records {
		if r.Kinesis.PartitionKey == b && firstB < 0 {
			firstB = i
		}
		if mutation.IsAggregated(r.Kinesis.Data) {
			aggregated++
		}
	}
	// a, unknown, broken, b, corrupt, then 4 x (a, b): all aggregated.
	if len(ev.Records) != 13 || aggregated != 13 || firstB != 3 {
		t.Fatalf("the shard holds %d records (%d aggregated), %s's first at %d: want 13, all aggregated, the first of %s at 3", len(ev.Records), aggregated, b, firstB, b)
	}

	// The producer's records (a's first, b's first) in the form asked for.
	for _, i := range []int{0, firstB} {
		users, err := mutation.Deaggregate(nil, ev.Records[i].Kinesis.Data)
		if err != nil || len(users) != 100 || mutation.IsBinary(users[0].Data) != binary {
			t.Fatalf("record %d: %d user records (%v), the first binary: %v; want 100, binary %v", i, len(users), err, len(users) > 0 && mutation.IsBinary(users[0].Data), binary)
		}
	}

	deliver := func(ev events.KinesisEvent) events.KinesisEventResponse {
		t.Helper()
		payload, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		ictx, cancel := context.WithTimeout(invocation(), time.Minute)
		defer cancel()
		resp, err := fan.Handle(ictx, payload)
		if err != nil {
			t.Fatalf("fanout error: %v", err)
		}
		return resp
	}
	shB := p.agents["shadow-b"]
	if err := shB.Stop(); err != nil {
		t.Fatal(err)
	}
	resp := deliver(ev)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != ev.Records[firstB].Kinesis.SequenceNumber {
		t.Fatalf("answer %+v, want a retry from record %d (the first of %s)", resp.BatchItemFailures, firstB, b)
	}
	if got := fmet.Total("DeadLettered"); got != 71 {
		t.Errorf("first delivery dead-lettered %v user records, want 71 (the unknown instance's 70, the invalid one): the corrupt record lies after the retry point", got)
	}
	if err := shB.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if resp := deliver(events.KinesisEvent{Records: ev.Records[firstB:]}); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v", resp.BatchItemFailures)
	}
	if got := fmet.Total("FanoutErrors"); got != float64(wantB) {
		t.Errorf("FanoutErrors = %v, want %d (every mutation of %s, its shadow down on the first delivery)", got, wantB, b)
	}

	// Heartbeats: every instance the producer knows is idle now.
	if err := prod.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	hb := readAll(t, reader)
	if len(hb) != 1 || len(hb[0].Records) != 3 {
		t.Fatalf("heartbeats: %d events, want one of 3 records (a, b, the unknown instance)", len(hb))
	}
	if resp := deliver(hb[0]); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("heartbeats: %+v", resp.BatchItemFailures)
	}
	if st := prod.Stats(); st.Heartbeats != 3 || st.Failed != 0 {
		t.Errorf("producer stats %+v: want 3 heartbeats, nothing failed", st)
	}

	// The letters: each once, with its position and its data.
	letters := deadLetters(t, p.w.QueueURL)
	dead := map[string]int{}
	byCode := map[string]map[string]string{}
	seen := map[string]bool{}
	for _, l := range letters {
		pos := l["sequence_number"] + "/" + l["sub_sequence_number"]
		if seen[pos] {
			t.Errorf("record %s dead-lettered twice", pos)
		}
		seen[pos] = true
		code, _, _ := strings.Cut(l["reason"], ":")
		byCode[code] = l
		data := letterData(t, s3c, l)
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != l["sha256"] || strconv.Itoa(len(data)) != l["original_bytes"] {
			t.Errorf("letter %s: %d bytes (sha256 %x), its attributes say %s bytes, sha256 %s", pos, len(data), sum, l["original_bytes"], l["sha256"])
		}
		users := 1
		if us, err := mutation.Deaggregate(nil, data); err == nil {
			users = len(us)
		}
		dead[l["partition_key"]] += users
	}
	if len(letters) != 3 {
		t.Errorf("%d letters, want 3: %v", len(letters), letters)
	}
	if l := byCode[handlers.ReasonUnknownResource]; l["encoding"] != "s3" || l["partition_key"] != unknown || l["sub_sequence_number"] != "" ||
		!strings.Contains(l["reason"], "all 70 user records of the aggregated record") {
		t.Errorf("the unknown instance's record: %v, want one letter of the whole record, in the bucket", l)
	}
	if l := byCode[handlers.ReasonInvalid]; l["encoding"] != "raw" || l["partition_key"] != a || l["sub_sequence_number"] != "1" || !strings.Contains(l["reason"], "key is empty") {
		t.Errorf("the invalid user record: %v, want its own letter, sub-sequence 1", l)
	}
	if l := byCode[handlers.ReasonUndecodable]; l["encoding"] != "base64" || l["partition_key"] != a || l["sub_sequence_number"] != "" {
		t.Errorf("the corrupt record: %v, want a letter of the whole record", l)
	}

	// Exact accounting, per partition key, on the live and on the shadow.
	applied := map[string][2]uint64{
		a:       {p.settled(t, "live", a, wantA).AppliedCount, p.settled(t, "shadow-a", a, wantA).AppliedCount},
		b:       {p.settled(t, "live", b, wantB).AppliedCount, p.settled(t, "shadow-b", b, wantB).AppliedCount},
		unknown: {0, 0},
	}
	for key, n := range produced {
		for i, copyName := range []string{"live", "shadow"} {
			if got := int(applied[key][i]) + dead[key]; got != n {
				t.Errorf("%s on the %s: produced %d, applied %d + dead-lettered %d = %d", key, copyName, n, applied[key][i], dead[key], got)
			}
		}
	}
	t.Logf("aggregated path: produced %v; applied (live, shadow) %v; dead-lettered %v in %d letters", produced, applied, dead, len(letters))
	p.sameState(t, "live", "shadow-a", a, wantA)
	p.sameState(t, "live", "shadow-b", b, wantB)
	if l, s := p.historyTotals(t); l != int64(wantA+wantB) || s != int64(wantA+wantB) {
		t.Errorf("history counted live %d shadow %d, want %d each (newly accepted: the redelivery's duplicates not counted)", l, s, wantA+wantB)
	}
}

// aggregatedFanout is the pipeline's fanout with a dead-letter bucket of
// its own (SHADOWSCALE_DLQ_BUCKET), created on the server for this test.
func aggregatedFanout(t *testing.T, p *pipeline) (*handlers.Fanout, *metrics.Recorder, *s3.Client) {
	t.Helper()
	ctx := context.Background()
	s3c := s3.NewFromConfig(env.Cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := strings.ToLower(p.w.Name("dead-letters"))
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fenv := p.fanoutEnv()
	fenv[lambdaenv.EnvDLQBucket] = bucket
	cfg, err := lambdaenv.LoadFanout(lambdaenv.Map(fenv))
	if err != nil {
		t.Fatal(err)
	}
	fmet, flogs := metrics.NewRecorder(), &syncBuffer{}
	deps, err := handlers.NewFanoutDeps(p.w.Scoped.Cfg, cfg, p.client, fmet, lambdaenv.NewLogger(flogs, slog.LevelDebug, "fanout"))
	if err != nil {
		t.Fatal(err)
	}
	fan, err := handlers.NewFanout(deps, handlers.FanoutOptions{FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, "fanout logs", flogs.String())
		}
	})
	return fan, fmet, s3c
}

// letterData is the record a letter holds: its body (raw or base64), or
// the object it names in the bucket (encoding s3).
func letterData(t *testing.T, s3c *s3.Client, l map[string]string) []byte {
	t.Helper()
	switch l["encoding"] {
	case "raw":
		return []byte(l["body"])
	case "base64":
		b, err := base64.StdEncoding.DecodeString(l["body"])
		if err != nil {
			t.Fatal(err)
		}
		return b
	case "s3":
		var loc struct{ Bucket, Key string }
		if err := json.Unmarshal([]byte(l["body"]), &loc); err != nil {
			t.Fatalf("letter body %q: %v", l["body"], err)
		}
		out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)})
		if err != nil {
			t.Fatalf("letter object s3://%s/%s: %v", loc.Bucket, loc.Key, err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(loc.Key, "dead-letters/") {
			t.Errorf("letter object %s is outside dead-letters/, where the fanout may write", loc.Key)
		}
		return b
	}
	t.Fatalf("letter encoding %q", l["encoding"])
	return nil
}
