package mutation

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// handBuiltBinary is a mutation in the binary form written byte by byte
// from the schema in binary.go, not by EncodeBinary: the fields out of
// order, an unknown field (15, varint) that readers skip, and seq given
// twice (protobuf: the last one counts).
func handBuiltBinary() []byte {
	return []byte{
		0x08, 0x01, // v = 1 (field 1, varint)
		0x12, 0x06, 'i', '-', '0', 'a', 'b', 'c', // resource = "i-0abc" (field 2, bytes)
		0x18, 0x07, // seq = 7 (field 3, varint): replaced below
		0x2A, 0x06, 'u', 's', 'e', 'r', '/', '7', // key = "user/7" (field 5)
		0x78, 0x05, // field 15, varint 5: unknown, skipped
		0x20, 0x01, // op = PUT (field 4, varint)
		0x32, 0x05, 'h', 'e', 'l', 'l', 'o', // value = "hello" (field 6, bytes)
		0x3A, 0x0B, // ts (field 7, bytes), a google.protobuf.Timestamp of 11 bytes:
		0x08, 0xC0, 0x84, 0xAB, 0xD8, 0x06, //   seconds = 1795867200 (2026-11-28T12:00:00Z)
		0x10, 0x95, 0x9A, 0xEF, 0x3A, //   nanos = 123456789
		0x18, 0x2A, // seq = 42
	}
}

func TestDecodeBinaryHandBuilt(t *testing.T) {
	got, err := Decode(handBuiltBinary())
	if err != nil {
		t.Fatal(err)
	}
	want := Mutation{V: 1, Resource: "i-0abc", Seq: 42, Op: OpPut, Key: "user/7", Value: []byte("hello"),
		ProducedAt: time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode = %+v, want %+v", got, want)
	}
	// The same mutation in the JSON form decodes to the identical value.
	fromJSON, err := Decode([]byte(`{"v":1,"resource":"i-0abc","seq":42,"op":"put","key":"user/7","value":"aGVsbG8=","ts":"2026-11-28T12:00:00.123456789Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, fromJSON) {
		t.Fatalf("binary %+v, JSON %+v", got, fromJSON)
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    Mutation
	}{
		{"put", Mutation{V: 1, Resource: "i-0abc", Seq: 1, Op: OpPut, Key: "k", Value: []byte{0, 1, 255}, ProducedAt: at}},
		{"update, nanos", Mutation{V: 1, Resource: "i-0abc", Seq: 1 << 40, Op: OpUpdate, Key: "ключ/7", Value: []byte(`{"a":1}`), ProducedAt: at.Add(987654321)}},
		{"delete", Mutation{V: 1, Resource: "i-0abc", Seq: 3, Op: OpDelete, Key: "k", ProducedAt: at}},
		{"put of an empty value", Mutation{V: 1, Resource: "i-0abc", Seq: 4, Op: OpPut, Key: "k", ProducedAt: at}},
		{"heartbeat", Heartbeat("i-0abc", at)},
		{"before 1970", Mutation{V: 1, Resource: "r", Seq: 5, Op: OpPut, Key: "k", Value: []byte("v"), ProducedAt: time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC)}},
		{"the Unix epoch", Mutation{V: 1, Resource: "r", Seq: 6, Op: OpPut, Key: "k", ProducedAt: time.Unix(0, 0).UTC()}},
		{"year 1", Mutation{V: 1, Resource: "r", Seq: 6, Op: OpPut, Key: "k", ProducedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"year 9999", Mutation{V: 1, Resource: "r", Seq: 7, Op: OpPut, Key: "k", ProducedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"longest resource", Mutation{V: 1, Resource: strings.Repeat("r", MaxResourceLen), Seq: 8, Op: OpPut, Key: strings.Repeat("k", MaxKeyBytes), ProducedAt: at}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeBinary(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if !IsBinary(b) {
				t.Fatalf("record starts with %#x, want BinaryMark", b[0])
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.m)
			}
			// The JSON form of the same mutation decodes to the same value.
			j, err := Encode(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := Decode(j)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, fromJSON) {
				t.Fatalf("binary %+v, JSON %+v", got, fromJSON)
			}
			if len(b) >= len(j) {
				t.Errorf("binary form %d bytes, JSON %d: not smaller", len(b), len(j))
			}
		})
	}
}

// The instant is kept, the zone is not: a time with an offset decodes to
// the same instant in UTC.
func TestBinaryKeepsTheInstant(t *testing.T) {
	at := time.Date(2026, 11, 28, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	m := Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", ProducedAt: at}
	b, err := EncodeBinary(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ProducedAt.Equal(at) || got.ProducedAt.Location() != time.UTC {
		t.Fatalf("ts %v, want %v in UTC", got.ProducedAt, at)
	}
}

func TestEncodeBinaryRefuses(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    Mutation
		want error
	}{
		{"invalid", Mutation{V: 1, Resource: "r", Op: OpPut, Key: "k", ProducedAt: at}, ErrInvalid},
		{"heartbeat with a key", Mutation{V: 1, Resource: "r", Op: OpHeartbeat, Key: "k", ProducedAt: at}, ErrInvalid},
		{"year 10000", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", ProducedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalid},
		{"too large", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", Value: make([]byte, MaxRecordBytes), ProducedAt: at}, ErrTooLarge},
		{"too large with its key", Mutation{V: 1, Resource: "r", Seq: 1, Op: OpPut, Key: "k", Value: make([]byte, MaxRecordBytes-8), ProducedAt: at}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeBinary(tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("EncodeBinary = %d bytes, %v; want %v", len(b), err, tc.want)
			}
		})
	}
}

func TestDecodeBinaryRefuses(t *testing.T) {
	ts := []byte{0x3A, 0x06, 0x08, 0xC0, 0x84, 0xAB, 0xD8, 0x06}
	rec := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	head := []byte{0x08, 0x01, 0x12, 0x01, 'r', 0x18, 0x01, 0x20, 0x01, 0x2A, 0x01, 'k'}
	for _, tc := range []struct {
		name string
		data []byte
		want error // besides ErrInvalid
		says string
	}{
		{"the mark alone", []byte{0x08}, ErrUndecoded, "binary record"},
		{"a truncated field", rec(head, []byte{0x32, 0x05, 'a'}), ErrUndecoded, "field 6"},
		{"v as bytes", rec([]byte{0x08, 0x01, 0x0A, 0x00}, head[2:], ts), ErrUndecoded, "wire type"},
		{"seq as bytes", rec(head[:5], []byte{0x1A, 0x00}, ts), ErrUndecoded, "wire type"},
		{"ts as a varint", rec(head, []byte{0x38, 0x01}), ErrUndecoded, "wire type"},
		{"ts nanos of a second", rec(head, []byte{0x3A, 0x06, 0x10, 0x80, 0x94, 0xEB, 0xDC, 0x03}), ErrUndecoded, "nanos"},
		{"ts negative nanos", rec(head, []byte{0x3A, 0x0B, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), ErrUndecoded, "nanos"},
		{"ts in year 10000", rec(head, []byte{0x3A, 0x07, 0x08, 0x80, 0x83, 0xD1, 0xFF, 0xAF, 0x07}), ErrUndecoded, "years 0 to 9999"},
		{"a truncated timestamp", rec(head, []byte{0x3A, 0x02, 0x08, 0xC0}), ErrUndecoded, "ts"},
		{"version 2", rec([]byte{0x08, 0x02}, head[2:], ts), ErrVersion, "version"},
		{"a version too large to name", rec([]byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x10}, head[2:], ts), ErrVersion, "not a version number"},
		{"no ts", head, ErrInvalid, "ts"},
		{"an unknown op", rec(head[:7], []byte{0x20, 0x09}, head[9:], ts), ErrInvalid, "op is not"},
		{"no key", rec(head[:9], ts), ErrInvalid, "key is empty"},
		{"a resource not UTF-8", rec([]byte{0x08, 0x01, 0x12, 0x01, 0xFF}, head[5:], ts), ErrInvalid, "UTF-8"},
		{"a heartbeat with a seq", rec(head[:7], []byte{0x20, 0x04}, ts), ErrInvalid, "heartbeat"},
		{"a delete with a value", rec(head[:7], []byte{0x20, 0x03}, head[9:], []byte{0x32, 0x01, 'v'}, ts), ErrInvalid, "delete carries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Mutation{Resource: "stale", Key: "stale"}
			err := DecodeInto(tc.data, &m)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, tc.want) {
				t.Fatalf("DecodeInto = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if !reflect.DeepEqual(m, Mutation{}) {
				t.Errorf("after an error the mutation is %+v, want zero", m)
			}
		})
	}
	// The record itself: the head and ts above make a valid mutation.
	if _, err := Decode(rec(head, ts)); err != nil {
		t.Fatalf("the table's base record: %v", err)
	}
}

// FuzzDecodeBinary: no input in the binary form makes Decode panic, and
// what it accepts is valid, re-encodes canonically to the same value, and
// is the value the JSON form of the same mutation decodes to.
func FuzzDecodeBinary(f *testing.F) {
	f.Add(handBuiltBinary())
	at := time.Date(2026, 11, 28, 12, 0, 0, 5, time.UTC)
	for _, m := range []Mutation{
		{V: 1, Resource: "i-0abc", Seq: 9, Op: OpDelete, Key: "k", ProducedAt: at},
		Heartbeat("i-0abc", at),
	} {
		b, err := EncodeBinary(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x08, 0x01, 0x3A, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		data = append([]byte{BinaryMark}, data...)
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		check := m.Validate
		if m.IsHeartbeat() {
			check = m.ValidateHeartbeat
		}
		if err := check(); err != nil {
			t.Fatalf("Decode accepted an invalid record: %v", err)
		}
		b, err := EncodeBinary(m)
		if err != nil {
			t.Fatalf("EncodeBinary of a decoded mutation: %v", err)
		}
		again, err := Decode(b)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("binary round trip: %+v, %v; want %+v", again, err, m)
		}
		j, err := Encode(m)
		if errors.Is(err, ErrTooLarge) {
			return // the JSON form is larger (base64, escapes)
		}
		if err != nil {
			t.Fatalf("Encode of a decoded mutation: %v", err)
		}
		fromJSON, err := Decode(j)
		if err != nil || !reflect.DeepEqual(fromJSON, m) {
			t.Fatalf("JSON form decodes to %+v, %v; want %+v", fromJSON, err, m)
		}
	})
}
