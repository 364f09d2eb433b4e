package mutation

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestAppendJSON(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    Mutation
		fast bool // written without json.Marshal
	}{
		{"put", Mutation{V: 1, Resource: "i-0abc", Seq: 42, Op: OpPut, Key: "user/7", Value: []byte("hello"), ProducedAt: at}, true},
		{"delete, no value", Mutation{V: 1, Resource: "i-0abc", Seq: 43, Op: OpDelete, Key: "user/7", ProducedAt: at}, true},
		{"an empty value", Mutation{V: 1, Resource: "i-0abc", Seq: 44, Op: OpPut, Key: "k", Value: []byte{}, ProducedAt: at}, true},
		{"nanos", Mutation{V: 1, Resource: "r", Seq: 1 << 63, Op: OpUpdate, Key: "k", Value: []byte{0, 255}, ProducedAt: at.Add(120 * time.Millisecond)}, true},
		{"a negative version", Mutation{V: -3, Resource: "r", Seq: 1, Op: OpPut, Key: "k", ProducedAt: at}, true},
		{"year 0", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", ProducedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}, true},
		{"zero time", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k"}, true},
		{"HTML in the key", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "<a&b>", ProducedAt: at}, false},
		{"a quote in the resource", Mutation{V: 1, Resource: `r"`, Seq: 1, Op: OpPut, Key: "k", ProducedAt: at}, false},
		{"UTF-8 in the key", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "ключ\u2028", ProducedAt: at}, false},
		{"not UTF-8 in the op", Mutation{V: 1, Resource: "r", Seq: 1, Op: "\xff", Key: "k", ProducedAt: at}, false},
		{"a control character", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "a\tb", ProducedAt: at}, false},
		{"an offset", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", ProducedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))}, false},
		{"year 10000", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", ProducedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := json.Marshal(tc.m)
			got, err := AppendJSON([]byte("prefix"), tc.m)
			if (err != nil) != (wantErr != nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
			}
			if err == nil && !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("AppendJSON\n%s\njson.Marshal\n%s", got, want)
			}
			y := tc.m.ProducedAt.Year()
			fast := plainJSON(tc.m.Resource) && plainJSON(string(tc.m.Op)) && plainJSON(tc.m.Key) && tc.m.ProducedAt.Location() == time.UTC && y >= 0 && y <= 9999
			if fast != tc.fast {
				t.Errorf("fast path %v, want %v", fast, tc.fast)
			}
		})
	}
}

// FuzzAppendJSON: for any mutation, AppendJSON writes what json.Marshal
// writes, and fails where it fails.
func FuzzAppendJSON(f *testing.F) {
	f.Add(1, "i-0abc", uint64(42), "put", "user/7", []byte("hello"), int64(1795867200), int64(5), 0)
	f.Add(1, "r<", uint64(0), "delete", "k\x00", []byte(nil), int64(-62167219200), int64(0), 3600)
	f.Add(-1, "\u2028", uint64(1<<63), "\xff", "", []byte{}, int64(253402300800), int64(999999999), -86400)
	f.Fuzz(func(t *testing.T, v int, res string, seq uint64, op, key string, value []byte, sec, nsec int64, offset int) {
		at := time.Unix(sec, nsec).UTC()
		if offset != 0 {
			at = at.In(time.FixedZone("z", offset%(48*3600)))
		}
		m := Mutation{V: v, Resource: res, Seq: seq, Op: Op(op), Key: key, Value: value, ProducedAt: at}
		want, wantErr := json.Marshal(m)
		got, err := AppendJSON(nil, m)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, json.Marshal's %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n%q\njson.Marshal\n%q", got, want)
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	m := Mutation{V: 1, Resource: "i-0aaaaaaaaaaaaaaa1", Seq: 123456, Op: OpPut, Key: "user/123", Value: []byte(`{"name":"ada","visits":42}`), ProducedAt: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{
		{"AppendJSON", func(dst []byte) ([]byte, error) { return AppendJSON(dst, m) }},
		{"json.Marshal", func(dst []byte) ([]byte, error) {
			out, err := json.Marshal(m)
			return append(dst, out...), err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if buf, err = tc.fn(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
