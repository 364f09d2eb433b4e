package mutation

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var ts = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func valid() Mutation {
	return Mutation{V: 1, Resource: "i-0abc", Seq: 1, Op: OpPut, Key: "k", Value: []byte("v"), ProducedAt: ts}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Mutation)
		wantErr string
	}{
		{name: "valid", mod: func(*Mutation) {}},
		{name: "valid delete", mod: func(m *Mutation) { m.Op = OpDelete; m.Value = nil }},
		{name: "version", mod: func(m *Mutation) { m.V = 2 }, wantErr: "unsupported format version 2"},
		{name: "no resource", mod: func(m *Mutation) { m.Resource = "" }, wantErr: "resource is empty"},
		{name: "long resource", mod: func(m *Mutation) { m.Resource = strings.Repeat("r", 257) }, wantErr: "resource is 257 bytes"},
		{name: "zero seq", mod: func(m *Mutation) { m.Seq = 0 }, wantErr: "seq must be at least 1"},
		{name: "bad op", mod: func(m *Mutation) { m.Op = "upsert" }, wantErr: "op is not put, update or delete"},
		{name: "no key", mod: func(m *Mutation) { m.Key = "" }, wantErr: "key is empty"},
		{name: "long key", mod: func(m *Mutation) { m.Key = strings.Repeat("k", 1025) }, wantErr: "key is 1025 bytes"},
		{name: "bad utf8 key", mod: func(m *Mutation) { m.Key = "\xff" }, wantErr: "key is not UTF-8"},
		{name: "delete with value", mod: func(m *Mutation) { m.Op = OpDelete }, wantErr: "delete carries a value"},
		{name: "no timestamp", mod: func(m *Mutation) { m.ProducedAt = time.Time{} }, wantErr: "ts (producer timestamp) is missing"},
		{name: "all at once", mod: func(m *Mutation) { m.Seq = 0; m.Key = "" }, wantErr: "seq must be at least 1\ninvalid mutation: key is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.mod(&m)
			err := m.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	m := valid()
	m.Value = []byte{0, 1, 2, 255}
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Resource != m.Resource || got.Seq != m.Seq || got.Op != m.Op || got.Key != m.Key || !bytes.Equal(got.Value, m.Value) || !got.ProducedAt.Equal(m.ProducedAt) {
		t.Fatalf("round trip: got %+v, want %+v", got, m)
	}
}

func TestSizeLimit(t *testing.T) {
	m := valid()
	// base64 grows 4/3: a value of 786,000 bytes encodes to about 1,048,000.
	m.Value = bytes.Repeat([]byte{'x'}, 786_000)
	if _, err := Encode(m); err != nil {
		t.Fatalf("Encode of a record just under the limit: %v", err)
	}
	m.Value = bytes.Repeat([]byte{'x'}, 790_000)
	if _, err := Encode(m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encode of an oversized record: err = %v, want ErrTooLarge", err)
	}
	if _, err := Decode(make([]byte, MaxRecordBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode of an oversized record: err = %v, want ErrTooLarge", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := map[string]string{
		"empty":         ``,
		"not json":      `hello`,
		"array":         `[1,2]`,
		"trailing":      `{"v":1,"resource":"i-1","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"} x`,
		"wrong type":    `{"v":"1","resource":"i-1","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
		"negative seq":  `{"v":1,"resource":"i-1","seq":-1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
		"bad base64":    `{"v":1,"resource":"i-1","seq":1,"op":"put","key":"k","value":"!!","ts":"2026-11-28T12:00:00Z"}`,
		"missing op":    `{"v":1,"resource":"i-1","seq":1,"key":"k","ts":"2026-11-28T12:00:00Z"}`,
		"bad timestamp": `{"v":1,"resource":"i-1","seq":1,"op":"put","key":"k","ts":"yesterday"}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(in)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) err = %v, want ErrInvalid", in, err)
			}
		})
	}
}
