package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/producer"
)

var updateSamples = flag.Bool("update", false, "rewrite the generated sample events in events/")

// aggregatedSampleFile is the Lambda Kinesis event of KPL aggregated
// records the producer library builds (aggregatedSample).
const aggregatedSampleFile = "kinesis-aggregated.json"

// captured is a Kinesis stub for the producer: it takes every record and
// notes when (on the producer's clock), as a shard would.
type captured struct {
	mu    sync.Mutex
	clock clock.Clock
	recs  []kintypes.PutRecordsRequestEntry
	at    []time.Time
}

func (c *captured) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	for _, r := range in.Records {
		c.recs = append(c.recs, r)
		c.at = append(c.at, c.clock.Now())
		out.Records = append(out.Records, kintypes.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(fmt.Sprint(len(c.recs)))})
	}
	return out, nil
}

// aggregatedSample is what the producer library puts for two instances
// (resA: 5 mutations, then 2 more 31 s later; resB: 3, then nothing, so
// its heartbeat), as Lambda hands it to the fanout: one shard, in order.
// Its records: resA's first 5 aggregated, resB's 3 aggregated, resA's next
// 2 aggregated, resB's heartbeat alone (plain JSON).
func aggregatedSample(t *testing.T) []byte {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(t0)
	api := &captured{clock: clk}
	p, err := producer.New(api, clk, producer.Options{Stream: "shadowscale-mutations", Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	put := func(res string, ops ...mutation.Op) {
		for _, op := range ops {
			m := mutation.Mutation{Resource: res, Op: op, Key: "user/7"}
			if op != mutation.OpDelete {
				m.Value = []byte(fmt.Sprintf(`{"name":"Ada","visits":%d}`, clk.Now().Second()+len(op)))
			}
			if _, err := p.Put(ctx, m); err != nil {
				t.Fatal(err)
			}
			clk.Advance(50 * time.Millisecond)
		}
	}
	put(resA, mutation.OpPut, mutation.OpUpdate, mutation.OpUpdate, mutation.OpDelete, mutation.OpPut)
	put(resB, mutation.OpPut, mutation.OpUpdate, mutation.OpUpdate)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second) // resB idle past the heartbeat interval
	put(resA, mutation.OpUpdate, mutation.OpDelete)
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	for i, r := range api.recs {
		seq := fmt.Sprintf("4959033827149025660855969253836157109592157598913%07d", (i+1)*1000)
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion: "us-east-1", EventID: "shardId-000000000000:" + seq, EventName: "aws:kinesis:record", EventSource: "aws:kinesis",
			EventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/shadowscale-mutations", EventVersion: "1.0",
			InvokeIdentityArn: "arn:aws:iam::123456789012:role/shadowscale-fanout",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: api.at[i]}, Data: r.Data, KinesisSchemaVersion: "1.0",
				PartitionKey: aws.ToString(r.PartitionKey), SequenceNumber: seq,
			},
		})
	}
	b, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestAggregatedSampleIsTheLibrarys: events/kinesis-aggregated.json is
// exactly what the producer library builds today (go test -run
// TestAggregatedSampleIsTheLibrarys ./shared/plane/handlers/ -update
// rewrites it after a change of the library or the format).
func TestAggregatedSampleIsTheLibrarys(t *testing.T) {
	want := aggregatedSample(t)
	path := filepath.Join("..", "..", "..", "events", aggregatedSampleFile)
	if *updateSamples {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := fixture(t, aggregatedSampleFile); !bytes.Equal(got, want) {
		t.Errorf("events/%s is not what the producer library builds now; regenerate it with -update:\n%s", aggregatedSampleFile, want)
	}
}

// TestFanoutAggregatedSampleEvent: the sample's aggregated records are
// de-aggregated and every mutation applied once, in order, on the live
// and the shadow agent; the heartbeat is counted seen and delivered to
// no agent; nothing is retried or dead-lettered.
func TestFanoutAggregatedSampleEvent(t *testing.T) {
	e := newFanoutEnv(t)
	shA, shB := e.pair(resA, "web", 1), e.pair(resB, "web", 2)
	var ev events.KinesisEvent
	if err := json.Unmarshal(fixture(t, aggregatedSampleFile), &ev); err != nil {
		t.Fatal(err)
	}
	aggregated, plain := 0, 0
	for _, r := range ev.Records {
		if mutation.IsAggregated(r.Kinesis.Data) {
			aggregated++
		} else {
			plain++
		}
	}
	if len(ev.Records) != 4 || aggregated != 3 || plain != 1 {
		t.Fatalf("the sample has %d records (%d aggregated, %d plain), want 3 aggregated and a heartbeat", len(ev.Records), aggregated, plain)
	}
	resp := e.handle(t, ev)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", failures(resp))
	}
	for _, c := range []struct {
		inst, res string
		want      uint64
	}{{resA, resA, 7}, {shA, resA, 7}, {resB, resB, 3}, {shB, resB, 3}} {
		if got := e.applied(t, c.inst, c.res); got != c.want {
			t.Errorf("%s applied %d of %s, want exactly %d", c.inst, got, c.res, c.want)
		}
	}
	if n := len(e.dlq.Letters()); n != 0 {
		t.Errorf("%d dead letters: %v", n, reasons(e.dlq))
	}
	if got := e.hist.Accepted("web", mutation.Live); got != 10 {
		t.Errorf("history live = %d, want 10", got)
	}
	if got := e.hist.Accepted("web", mutation.Shadow); got != 10 {
		t.Errorf("history shadow = %d, want 10", got)
	}
	if got := e.hist.Seen("web"); got != 11 {
		t.Errorf("history seen = %d, want 11 (10 mutations and the heartbeat)", got)
	}
}
