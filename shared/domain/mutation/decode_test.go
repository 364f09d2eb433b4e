package mutation

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeReference is Decode without its fast path: encoding/json, then
// Validate.
func decodeReference(data []byte) (Mutation, error) {
	var m Mutation
	if len(data) > MaxRecordBytes {
		return m, fmt.Errorf("record is %d bytes: %w", len(data), ErrTooLarge)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Mutation{}, undecoded(err)
	}
	validate := m.Validate
	if m.Op == OpHeartbeat {
		validate = m.ValidateHeartbeat
	}
	if err := validate(); err != nil {
		return Mutation{}, err
	}
	return m, nil
}

func sameDecode(t *testing.T, data []byte) {
	t.Helper()
	got, gerr := Decode(data)
	want, werr := decodeReference(data)
	if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
		t.Fatalf("Decode(%q) error %v, encoding/json gives %v", data, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode(%q) = %#v, encoding/json gives %#v", data, got, want)
	}
}

var decodeSeeds = []string{
	`{"v":1,"resource":"i-0abc","seq":42,"op":"put","key":"user/7","value":"aGVsbG8=","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":43,"op":"delete","key":"user/7","ts":"2026-11-28T12:00:00.123456789+02:00"}`,
	` { "ts" : "2026-11-28T12:00:00Z" , "key":"k","op":"update","seq":1,"resource":"r","v":1,"value":""}` + "\n",
	`{"v":1,"resource":"i-0abc","seq":42,"op":"put","key":"user/7","value":"aGVsbG8=","ts":"2026-11-28T12:00:00Z","extra":1}`,
	`{"V":1,"resource":"i-0abc","seq":42,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"v":2,"resource":"i-0abc","seq":42,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0\u0061bc","seq":42,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":-1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":01,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1.0,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":-0,"resource":"i-0abc","seq":1e3,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":18446744073709551616,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":18446744073709551615,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","value":null,"ts":null}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","value":"!!","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","value":"aGVsbG8","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28 12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"} x`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z",}`,
	"{\"v\":1,\"resource\":\"i-\xff\",\"seq\":1,\"op\":\"put\",\"key\":\"k\",\"ts\":\"2026-11-28T12:00:00Z\"}",
	"{\"v\":1,\"resource\":\"i-é\",\"seq\":1,\"op\":\"put\",\"key\":\"k\\tx\",\"ts\":\"2026-11-28T12:00:00Z\"}",
	`{}`, `[]`, `null`, ``, `{"v":1`, `{"v":}`, `{"v" 1}`,
	`{"v":1,"resource":"i-0abc","op":"heartbeat","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":3,"op":"heartbeat","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","op":"heartbeat","key":"k","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"op":"heartbeat","ts":"2026-11-28T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","op":"heartbeat"}`,
	// Timestamps for the fast path's parseUTC and past it.
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2024-02-29T23:59:59.5Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-02-29T12:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"0000-01-01T00:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00.1234567891Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T24:00:00Z"}`,
	`{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00.Z"}`,
}

// TestDecodeIntoReusesNothingStale: DecodeInto reuses the previous
// resource's string only when the record names the same resource; a
// record without one, or a failed one, leaves nothing of the previous.
func TestDecodeIntoReusesNothingStale(t *testing.T) {
	var m Mutation
	for _, c := range []struct {
		rec, resource string
		ok            bool
	}{
		{`{"v":1,"resource":"i-a","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`, "i-a", true},
		{`{"v":1,"resource":"i-a","seq":2,"op":"delete","key":"k","ts":"2026-11-28T12:00:00Z"}`, "i-a", true},
		{`{"v":1,"seq":3,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`, "", false},
		{`{"v":1,"resource":"i-b","seq":1,"op":"put","key":"k","value":"eA==","ts":"2026-11-28T12:00:00Z"}`, "i-b", true},
		{`{"v":1,"resource":"i-b","seq":2,"op":"delete","key":"k","ts":"2026-11-28T12:00:00Z"}`, "i-b", true},
	} {
		err := DecodeInto([]byte(c.rec), &m)
		if (err == nil) != c.ok || m.Resource != c.resource {
			t.Fatalf("DecodeInto(%s) = %+v, %v; want resource %q ok %v", c.rec, m, err, c.resource, c.ok)
		}
		if c.ok && m.Op == OpDelete && m.Value != nil {
			t.Fatalf("a delete kept the previous record's value: %+v", m)
		}
	}
}

func TestHeartbeatRecord(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	b, err := Encode(Heartbeat("i-0abc", at))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"resource":"i-0abc","op":"heartbeat","ts":"2026-11-28T12:00:00Z"}`; string(b) != want {
		t.Errorf("heartbeat wire form %s, want %s", b, want)
	}
	m, err := Decode(b)
	if err != nil || !m.IsHeartbeat() || m.Resource != "i-0abc" || !m.ProducedAt.Equal(at) {
		t.Fatalf("Decode(heartbeat) = %+v, %v", m, err)
	}
	if m.Validate() == nil {
		t.Error("a heartbeat validates as a mutation: an agent would accept it")
	}
	for name, bad := range map[string]Mutation{
		"seq":         {V: 1, Resource: "i-0abc", Seq: 1, Op: OpHeartbeat, ProducedAt: at},
		"no resource": {V: 1, Op: OpHeartbeat, ProducedAt: at},
		"no time":     {V: 1, Resource: "i-0abc", Op: OpHeartbeat},
		"value":       {V: 1, Resource: "i-0abc", Op: OpHeartbeat, Value: []byte("x"), ProducedAt: at},
	} {
		if _, err := Encode(bad); err == nil {
			t.Errorf("%s: Encode accepted %+v", name, bad)
		}
	}
}

// TestDecodeFastPath: the records Encode writes take the fast path, and
// every seed decodes as encoding/json decodes it.
func TestDecodeFastPath(t *testing.T) {
	for i, m := range []Mutation{
		{V: 1, Resource: "i-0abc", Seq: 1, Op: OpPut, Key: "user/7", Value: []byte("hello"), ProducedAt: time.Date(2026, 11, 28, 12, 0, 0, 5, time.UTC)},
		{V: 1, Resource: "i-0abc", Seq: 1 << 60, Op: OpDelete, Key: "ключ/😀", ProducedAt: time.Date(2026, 11, 28, 12, 0, 0, 0, time.FixedZone("x", 3600))},
		{V: 1, Resource: "r", Seq: 7, Op: OpUpdate, Key: "k", Value: []byte{0, 1, 2, 255}, ProducedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		var fast Mutation
		if !decodeFast(b, &fast, "", nil) {
			t.Errorf("mutation %d: %s did not take the fast path", i, b)
		}
		sameDecode(t, b)
	}
	for _, s := range decodeSeeds {
		t.Run(strings.ReplaceAll(s, "/", "_"), func(t *testing.T) { sameDecode(t, []byte(s)) })
	}
}

// FuzzDecodeFastPath: Decode gives exactly what encoding/json and
// Validate give, for any input that is not in the binary form (its first
// byte BinaryMark, which no JSON text can start with: FuzzDecodeBinary
// checks those, and that encoding/json refuses them all).
func FuzzDecodeFastPath(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if IsBinary(data) {
			if _, err := decodeReference(data); err == nil {
				t.Fatalf("encoding/json decodes %q, which starts with the binary form's mark", data)
			}
			return
		}
		sameDecode(t, data)
	})
}

// BenchmarkDecode: one user record, in the JSON form by the fast path and
// by encoding/json, and in the binary form, through a Decoder as the
// fan-out decodes (its keys and values cut from shared buffers).
func BenchmarkDecode(b *testing.B) {
	m := Mutation{V: 1, Resource: "i-0aaaaaaaaaaaaaaa1", Seq: 123456, Op: OpPut, Key: "user/123", Value: []byte(`{"name":"ada","visits":42}`), ProducedAt: time.Now().UTC()}
	data, _ := Encode(m)
	bin, _ := EncodeBinary(m)
	var dec Decoder
	var out Mutation
	for _, tc := range []struct {
		name string
		fn   func() error
	}{
		{"fast", func() error { _, err := Decode(data); return err }},
		{"encoding-json", func() error { _, err := decodeReference(data); return err }},
		{"decoder-json", func() error { return dec.Decode(data, &out) }},
		{"decoder-binary", func() error { return dec.Decode(bin, &out) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := tc.fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecoderKeepsWhatItDecoded: a Decoder's mutations keep their keys and
// values while it decodes thousands more from the same buffers (more than
// one 64 KiB buffer's worth), in both forms, and appending to a value
// changes no other mutation's key or value.
func TestDecoderKeepsWhatItDecoded(t *testing.T) {
	for _, form := range []struct {
		name   string
		encode func(Mutation) ([]byte, error)
	}{{"json", Encode}, {"binary", EncodeBinary}} {
		t.Run(form.name, func(t *testing.T) {
			at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			want := make([]Mutation, 3000)
			got := make([]Mutation, len(want))
			var dec Decoder
			for i := range want {
				want[i] = Mutation{V: 1, Resource: "i-0aaaaaaaaaaaaaaa1", Seq: uint64(i + 1), Op: OpPut,
					Key: fmt.Sprintf("user/%d/%s", i, strings.Repeat("k", i%40)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i)), ProducedAt: at}
				data, err := form.encode(want[i])
				if err != nil {
					t.Fatal(err)
				}
				if err := dec.Decode(data, &got[i]); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				got[i].Value = append(got[i].Value, "appended"...) // must not reach a neighbour
				want[i].Value = append(want[i].Value, "appended"...)
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("record %d after %d more: got %+v, want %+v", i, len(want)-i-1, got[i], want[i])
				}
			}
		})
	}
}

// TestDecoderSameAsDecode: a Decoder, which skips the checks of a resource
// it has just seen pass them, gives what Decode gives, errors included,
// over records in both forms whose resources change, repeat, fail their
// checks (empty, too long, not UTF-8) right after a valid one of the same
// length or the same prefix, and over heartbeats.
func TestDecoderSameAsDecode(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	resources := []string{"i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa\xff", "i-0aaaaaaaaaaaaaaa1",
		"", "i-0aaaaaaaaaaaaaaa1", strings.Repeat("i", MaxResourceLen+1), "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa2\xc3", "i-0aaaaaaaaaaaaaaa2"}
	var records [][]byte
	for i, res := range resources {
		m := Mutation{V: 1, Resource: res, Seq: uint64(i + 1), Op: OpPut, Key: fmt.Sprintf("user/%d", i), Value: []byte(`{"n":1}`), ProducedAt: at}
		// Encode refuses the invalid ones: written by hand, the resource's
		// bytes as they are.
		js := fmt.Sprintf(`{"v":1,"resource":"%s","seq":%d,"op":"put","key":"user/%d","value":"eyJuIjoxfQ==","ts":"2026-12-07T12:00:00Z"}`, res, i+1, i)
		jsHeartbeat := fmt.Sprintf(`{"v":1,"resource":"%s","op":"heartbeat","ts":"2026-12-07T12:00:00Z"}`, res)
		records = append(records, []byte(js), appendBinary(nil, m), []byte(jsHeartbeat), appendBinary(nil, Heartbeat(res, at)))
	}
	var dec Decoder
	for _, data := range records {
		want, wantErr := Decode(data)
		var got Mutation
		gotErr := dec.Decode(data, &got)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decoder gives %+v, %v; Decode gives %+v, %v", data, got, gotErr, want, wantErr)
		}
	}
}
