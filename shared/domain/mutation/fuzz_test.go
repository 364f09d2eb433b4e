package mutation

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: no input makes Decode panic; what it accepts is valid and
// survives an Encode/Decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"resource":"i-0abc","seq":42,"op":"put","key":"user/7","value":"aGVsbG8=","ts":"2026-11-28T12:00:00Z"}`))
	f.Add([]byte(`{"v":1,"resource":"i-0abc","seq":43,"op":"delete","key":"user/7","ts":"2026-11-28T12:00:00Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0x00})
	f.Add(handBuiltBinary())
	eventRecordSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if verr := m.Validate(); verr != nil {
			t.Fatalf("Decode accepted an invalid mutation: %v", verr)
		}
		b, err := Encode(m)
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return // re-encoding may grow (e.g. escapes); the limit still holds
			}
			t.Fatalf("Encode of a decoded mutation: %v", err)
		}
		m2, err := Decode(b)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if m2.Resource != m.Resource || m2.Seq != m.Seq || m2.Op != m.Op || m2.Key != m.Key || !bytes.Equal(m2.Value, m.Value) || !m2.ProducedAt.Equal(m.ProducedAt) {
			t.Fatalf("round trip changed the mutation: %+v -> %+v", m, m2)
		}
	})
}
