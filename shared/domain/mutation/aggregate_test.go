package mutation

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"testing"
	"time"
)

// handBuilt is an aggregated record written byte by byte from the format's
// documentation (aggregation-format.md of awslabs/amazon-kinesis-producer),
// not by the Aggregator: two partition keys, one explicit hash key, three
// records (the second with a tag, which readers skip), the explicit hash
// key table after the first record (fields may come in any order).
func handBuilt() []byte {
	msg := []byte{
		0x0A, 0x03, 'i', '-', 'a', // partition_key_table[0] = "i-a"  (field 1, wire type 2)
		0x0A, 0x03, 'i', '-', 'b', // partition_key_table[1] = "i-b"
		0x1A, 0x07, // records[0]: field 3, wire type 2, 7 bytes
		0x08, 0x00, //   partition_key_index = 0 (field 1, varint)
		0x1A, 0x03, 'o', 'n', 'e', //   data = "one" (field 3, bytes)
		0x12, 0x02, '4', '2', // explicit_hash_key_table[0] = "42" (field 2)
		0x1A, 0x0F, // records[1]: 15 bytes
		0x08, 0x01, //   partition_key_index = 1
		0x10, 0x00, //   explicit_hash_key_index = 0 (field 2, varint)
		0x1A, 0x03, 't', 'w', 'o', //   data = "two"
		0x22, 0x04, 0x0A, 0x02, 'k', '1', //   tags[0] = {key: "k1"} (field 4)
		0x1A, 0x06, // records[2]: 6 bytes
		0x08, 0x00, //   partition_key_index = 0
		0x1A, 0x02, 0x00, 0xFF, //   data = 00 FF (binary)
	}
	sum := md5.Sum(msg)
	out := append([]byte{0xF3, 0x89, 0x9A, 0xC2}, msg...)
	return append(out, sum[:]...)
}

func TestDeaggregateHandBuilt(t *testing.T) {
	got, err := Deaggregate(nil, handBuilt())
	if err != nil {
		t.Fatal(err)
	}
	want := []UserRecord{
		{PartitionKey: "i-a", Data: []byte("one")},
		{PartitionKey: "i-b", ExplicitHashKey: "42", Data: []byte("two")},
		{PartitionKey: "i-a", Data: []byte{0x00, 0xFF}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Deaggregate = %v, want %v", got, want)
	}
}

// tablesLast is an aggregated record whose key tables come after its
// records (the format allows any order; the KPL writes the tables first).
func tablesLast() []byte {
	msg := []byte{
		0x1A, 0x07, // records[0]
		0x08, 0x01, //   partition_key_index = 1
		0x1A, 0x03, 'o', 'n', 'e', //   data = "one"
		0x1A, 0x09, // records[1]
		0x08, 0x00, //   partition_key_index = 0
		0x10, 0x00, //   explicit_hash_key_index = 0
		0x1A, 0x03, 't', 'w', 'o', //   data = "two"
		0x0A, 0x03, 'i', '-', 'a', // partition_key_table[0]
		0x0A, 0x03, 'i', '-', 'b', // partition_key_table[1]
		0x12, 0x02, '4', '2', // explicit_hash_key_table[0]
	}
	sum := md5.Sum(msg)
	out := append([]byte(AggregatedMagic), msg...)
	return append(out, sum[:]...)
}

// TestDeaggregateTablesLast: records read before their keys' table
// entries are still resolved (Deaggregate's one pass gives up on them and
// its two passes read them), and on the records of an Aggregator's output
// the one pass answers, with the two passes' result.
func TestDeaggregateTablesLast(t *testing.T) {
	got, err := Deaggregate([]UserRecord{{PartitionKey: "kept"}}, tablesLast())
	if err != nil {
		t.Fatal(err)
	}
	want := []UserRecord{
		{PartitionKey: "kept"},
		{PartitionKey: "i-b", Data: []byte("one")},
		{PartitionKey: "i-a", ExplicitHashKey: "42", Data: []byte("two")},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Deaggregate = %v, want %v", got, want)
	}
	msg := tablesLast()[len(AggregatedMagic) : len(tablesLast())-md5.Size]
	if out, ok := deaggregateOnePass(nil, msg); ok {
		t.Errorf("one pass answered %v on records before their tables", out)
	}
	var a Aggregator
	for i := range 50 {
		a.Add(fmt.Sprintf("i-%d", i%3), []byte{byte(i)})
	}
	b := a.Bytes()
	msg = b[len(AggregatedMagic) : len(b)-md5.Size]
	one, ok := deaggregateOnePass(nil, msg)
	two, err := deaggregateTwoPasses(nil, msg)
	if !ok || err != nil || len(one) != 50 || fmt.Sprint(one) != fmt.Sprint(two) {
		t.Errorf("an Aggregator's record: one pass %v (%d records), two passes %v", ok, len(one), err)
	}
}

func TestAggregateRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs []UserRecord
	}{
		{"one", []UserRecord{{PartitionKey: "i-a", Data: []byte(`{"v":1}`)}}},
		{"one key", []UserRecord{{PartitionKey: "i-a", Data: []byte("x")}, {PartitionKey: "i-a", Data: []byte("y")}, {PartitionKey: "i-a", Data: nil}}},
		{"keys interleaved", []UserRecord{{PartitionKey: "i-a", Data: []byte("1")}, {PartitionKey: "i-b", Data: []byte("2")}, {PartitionKey: "i-a", Data: []byte("3")}}},
		{"large", []UserRecord{{PartitionKey: "i-a", Data: bytes.Repeat([]byte("z"), 300_000)}, {PartitionKey: "ключ", Data: bytes.Repeat([]byte{0}, 200)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Aggregator
			for _, r := range tc.recs {
				before := a.SizeWith(r.PartitionKey, len(r.Data))
				a.Add(r.PartitionKey, r.Data)
				if a.Size() != before {
					t.Fatalf("SizeWith said %d, the record is %d", before, a.Size())
				}
			}
			b := a.Bytes()
			if len(b) != a.Size() || !IsAggregated(b) {
				t.Fatalf("Bytes is %d bytes, Size %d, aggregated %v", len(b), a.Size(), IsAggregated(b))
			}
			got, err := Deaggregate([]UserRecord{{PartitionKey: "before"}}, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.recs)+1 || got[0].PartitionKey != "before" {
				t.Fatalf("Deaggregate did not append: %d records", len(got))
			}
			for i, r := range tc.recs {
				if got[i+1].PartitionKey != r.PartitionKey || !bytes.Equal(got[i+1].Data, r.Data) {
					t.Errorf("record %d = %q/%q, want %q/%q", i, got[i+1].PartitionKey, got[i+1].Data, r.PartitionKey, r.Data)
				}
			}
			a.Reset()
			if a.Len() != 0 || a.Size() != AggregatedOverhead {
				t.Errorf("after Reset: %d records, %d bytes", a.Len(), a.Size())
			}
		})
	}
}

func TestDeaggregateRefuses(t *testing.T) {
	good := handBuilt()
	reseal := func(msg []byte) []byte {
		sum := md5.Sum(msg)
		return append(append([]byte(AggregatedMagic), msg...), sum[:]...)
	}
	for name, data := range map[string][]byte{
		"too short":         []byte(AggregatedMagic + "abc"),
		"md5 mismatch":      append(append([]byte{}, good[:len(good)-1]...), good[len(good)-1]^1),
		"message flipped":   func() []byte { b := append([]byte{}, good...); b[10] ^= 0x40; return b }(),
		"truncated field":   reseal([]byte{0x0A, 0x09, 'i'}),
		"record no data":    reseal([]byte{0x0A, 0x01, 'k', 0x1A, 0x02, 0x08, 0x00}),
		"record no key":     reseal([]byte{0x0A, 0x01, 'k', 0x1A, 0x03, 0x1A, 0x01, 'x'}),
		"key out of table":  reseal([]byte{0x0A, 0x01, 'k', 0x1A, 0x05, 0x08, 0x01, 0x1A, 0x01, 'x'}),
		"hash out of table": reseal([]byte{0x0A, 0x01, 'k', 0x1A, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1A, 0x01, 'x'}),
		"records as varint": reseal([]byte{0x18, 0x01}),
		"index as bytes":    reseal([]byte{0x0A, 0x01, 'k', 0x1A, 0x06, 0x0A, 0x01, 0x00, 0x1A, 0x01, 'x'}),
		"not aggregated":    []byte(`{"v":1}`),
	} {
		t.Run(name, func(t *testing.T) {
			prev := []UserRecord{{PartitionKey: "p"}}
			got, err := Deaggregate(prev, data)
			if !errors.Is(err, ErrAggregate) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Deaggregate = %v, %v; want ErrAggregate", got, err)
			}
			if len(got) != 1 {
				t.Errorf("a refused record appended %d user records", len(got)-1)
			}
		})
	}
	// Unknown fields are skipped, as protobuf requires.
	withUnknown := reseal([]byte{0x0A, 0x01, 'k', 0x28, 0x07, 0x1A, 0x07, 0x08, 0x00, 0x1A, 0x01, 'x', 0x30, 0x01, 0x42, 0x00})
	if got, err := Deaggregate(nil, withUnknown); err != nil || len(got) != 1 || string(got[0].Data) != "x" {
		t.Errorf("unknown fields: %v, %v", got, err)
	}
}

// TestAggregatedMutations: a record of mutations and a heartbeat, each user
// record decoding as Decode decodes it alone.
func TestAggregatedMutations(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var a Aggregator
	for seq := uint64(1); seq <= 3; seq++ {
		b, err := Encode(Mutation{V: 1, Resource: "i-0abc", Seq: seq, Op: OpPut, Key: "k", Value: []byte("v"), ProducedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		a.Add("i-0abc", b)
	}
	hb, _ := Encode(Heartbeat("i-0abc", at))
	a.Add("i-0abc", hb)
	recs, err := Deaggregate(nil, a.Bytes())
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	var m Mutation
	for i, r := range recs {
		if err := DecodeInto(r.Data, &m); err != nil {
			t.Fatal(err)
		}
		if (i == 3) != m.IsHeartbeat() || (i < 3 && m.Seq != uint64(i+1)) {
			t.Errorf("user record %d decodes to %+v", i, m)
		}
	}
}

// FuzzDeaggregate: no input panics; what is accepted aggregates back to
// user records that deaggregate the same.
func FuzzDeaggregate(f *testing.F) {
	f.Add(handBuilt())
	var a Aggregator
	a.Add("i-a", []byte("x"))
	f.Add(a.Bytes())
	f.Add([]byte(AggregatedMagic))
	f.Add(tablesLast())
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whatever the MD5, the one-pass reading of the message, where it
		// answers, is the two passes' (the fuzzer rarely makes a valid MD5).
		if IsAggregated(data) && len(data) >= AggregatedOverhead {
			msg := data[len(AggregatedMagic) : len(data)-md5.Size]
			if one, ok := deaggregateOnePass(nil, msg); ok {
				two, err := deaggregateTwoPasses(nil, msg)
				if err != nil || fmt.Sprint(one) != fmt.Sprint(two) {
					t.Fatalf("one pass: %v; two passes: %v, %v", one, two, err)
				}
			}
		}
		recs, err := Deaggregate(nil, data)
		if err != nil {
			if !errors.Is(err, ErrAggregate) {
				t.Fatalf("error does not wrap ErrAggregate: %v", err)
			}
			return
		}
		var b Aggregator
		for _, r := range recs {
			b.Add(r.PartitionKey, r.Data)
		}
		again, err := Deaggregate(nil, b.Bytes())
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-aggregated: %d records, %v", len(again), err)
		}
		for i := range recs {
			if again[i].PartitionKey != recs[i].PartitionKey || !bytes.Equal(again[i].Data, recs[i].Data) {
				t.Fatalf("record %d changed", i)
			}
		}
	})
}

func BenchmarkDeaggregate(b *testing.B) {
	var a Aggregator
	m := Mutation{V: 1, Resource: "i-0aaaaaaaaaaaaaaa1", Op: OpPut, Key: "user/123", Value: []byte(`{"name":"ada","visits":42}`), ProducedAt: time.Now().UTC()}
	for m.Seq = 1; a.Size() < 1<<20-1000; m.Seq++ {
		d, _ := Encode(m)
		a.Add(m.Resource, d)
	}
	data := a.Bytes()
	var recs []UserRecord
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if recs, err = Deaggregate(recs[:0], data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
}
