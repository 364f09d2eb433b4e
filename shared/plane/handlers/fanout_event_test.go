package handlers_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

func sameEvent(t *testing.T, payload []byte) {
	t.Helper()
	got, gerr := handlers.ParseKinesisEvent(payload)
	var want events.KinesisEvent
	werr := json.Unmarshal(payload, &want)
	if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("ParseKinesisEvent(%.200q) error %v, encoding/json gives %v", payload, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseKinesisEvent(%.200q) = %+v, encoding/json gives %+v", payload, got, want)
	}
	// The same into an arena that an earlier payload left full of other
	// bytes, too small for this one, and large enough.
	for _, size := range []int{0, 8, len(payload) + 64} {
		arena := bytes.Repeat([]byte{0xa5}, size)
		got, gerr := handlers.ParseKinesisEventInto(payload, &arena)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("into an arena of %d: ParseKinesisEvent(%.200q) = %+v, %v; encoding/json gives %+v, %v", size, payload, got, gerr, want, werr)
		}
	}
}

func eventSeeds(t testing.TB) []string {
	sample, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "kinesis-mutations.json"))
	if err != nil {
		t.Fatal(err)
	}
	compact, _ := json.Marshal(json.RawMessage(sample))
	rec := `{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"i-1","sequenceNumber":"1","data":"eA==","approximateArrivalTimestamp":1764331200.123},"eventSource":"aws:kinesis","eventID":"shardId-0:1"}`
	return []string{
		string(sample), string(compact),
		`{"Records":[]}`, `{"Records":null}`, `{}`, `[]`, `null`, ``, `{"Records":[{}]}`,
		`{"Records":[` + rec + `,` + rec + `]}`,
		// records that differ in a field the parser shares between them
		`{"Records":[` + rec + `,` + strings.Replace(rec, `"aws:kinesis"`, `"aws:other"`, 1) + `,` + rec + `]}`,
		`{"Records":[` + rec + `]} x`,
		`{"Records":[` + rec + `],"Records":[]}`,
		`{"records":[` + rec + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"!!"`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `""`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `null`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `1e400`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `-1.5E+3`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `"1"`, 1) + `]}`,
		// arrival times at the edges of the float-to-time conversion
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `0`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `-0.5`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `1764331200.999999999`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `9.3e18`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `1764331200.123`, `1e-400`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"i-1"`, `"i-\u0031"`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"i-1"`, "\"i-\xff\"", 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eventID"`, `"EventID"`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eventSource":"aws:kinesis"`, `"extra":{"a":[1,2]}`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"1.0"`, `1.0`, 1) + `]}`,
		// the data's base64: raw CR or LF (invalid JSON, which the decoder
		// alone would skip), escapes that decode to the alphabet or to a
		// newline, an escaped quote, a string not closed, padding wrong
		`{"Records":[` + strings.Replace(rec, `"eA=="`, "\"eA\n==\"", 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, "\"eA\r==\"", 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"e\u0041=="`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"eA\n=="`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"e\/A="`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"eA\"=="`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"eA==`, 1),
		`{"Records":[` + strings.Replace(rec, `"eA=="`, `"eA="`, 1) + `]}`,
		`{"Records":[` + strings.Replace(rec, `"eA=="`, "\"eA\t==\"", 1) + `]}`,
	}
}

func TestParseKinesisEvent(t *testing.T) {
	for i, s := range eventSeeds(t) {
		t.Run(string(rune('a'+i)), func(t *testing.T) { sameEvent(t, []byte(s)) })
	}
	ev, err := handlers.ParseKinesisEvent(fixture(t, "kinesis-mutations.json"))
	if err != nil || len(ev.Records) != 7 || ev.Records[6].Kinesis.SequenceNumber == "" || len(ev.Records[0].Kinesis.Data) == 0 {
		t.Fatalf("the sample: %d records, %v", len(ev.Records), err)
	}
}

// FuzzParseKinesisEvent: the fast path and encoding/json agree on every
// input.
func FuzzParseKinesisEvent(f *testing.F) {
	for _, s := range eventSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameEvent(t, payload) })
}

// FuzzFanoutHandle: any payload gets an answer, never an error or a
// panic; every record is accounted for (applied on both agents, dead-
// lettered, or at or after the one Lambda retries from); and the retry
// point, when there is one, names a record of the batch.
func FuzzFanoutHandle(f *testing.F) {
	for _, s := range eventSeeds(f) {
		f.Add([]byte(s))
	}
	// Aggregated records of binary and JSON user records, of both
	// resources, one of them broken.
	bin := func(res string, seq uint64) []byte {
		b, err := mutation.EncodeBinary(mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: "k", Value: []byte("v"), ProducedAt: t0})
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, ev := range []events.KinesisEvent{
		shardEvent(rec(resA, aggregated(resA, bin(resA, 1), enc(resA, 2), bin(resA, 3)))),
		shardEvent(rec(resB, aggregated(resB, bin(resB, 1), bin(resB, 2)[:9])), rec(resB, bin(resB, 2))),
	} {
		p, err := json.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := newFanoutEnv(t)
		e.pair(resA, "web", 1)
		e.pair(resB, "web", 2)
		resp, err := e.h.Handle(invocation(), payload)
		if err != nil {
			t.Fatalf("Handle error: %v", err)
		}
		ev, perr := handlers.ParseKinesisEvent(payload)
		if perr != nil {
			if len(resp.BatchItemFailures) != 0 {
				t.Fatalf("failures for a payload that is no event: %+v", resp)
			}
			return
		}
		if len(resp.BatchItemFailures) > 1 {
			t.Fatalf("more than one retry point: %+v", resp.BatchItemFailures)
		}
		if len(resp.BatchItemFailures) == 1 {
			found := false
			for _, r := range ev.Records {
				found = found || r.Kinesis.SequenceNumber == resp.BatchItemFailures[0].ItemIdentifier
			}
			if !found {
				t.Fatalf("retry point %q is no record of the batch", resp.BatchItemFailures[0].ItemIdentifier)
			}
		}
	})
}
