package mutation

import (
	"strings"
	"testing"
)

// A record that does not decode or validate is described without quoting
// it: its reason reaches logs and dead-letter attributes, and a broken
// producer can put a value in any field. The marker stands for the value.
func TestDecodeErrorsNeverQuoteTheRecord(t *testing.T) {
	const marker = "4111111111111111"
	const ok = `"v":1,"resource":"i-0abc","seq":1,"key":"k","ts":"2026-11-28T12:00:00Z"`
	for name, rec := range map[string]string{
		"value as a number":   `{` + ok + `,"op":"put","value":` + marker + `}`,
		"key as a number":     `{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":` + marker + `,"ts":"2026-11-28T12:00:00Z"}`,
		"seq too large":       `{"v":1,"resource":"i-0abc","seq":` + marker + marker + `,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
		"value in the op":     `{` + ok + `,"op":"` + marker + `"}`,
		"value in the ts":     `{"v":1,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"` + marker + `"}`,
		"value in the v":      `{"v":` + marker + `,"resource":"i-0abc","seq":1,"op":"put","key":"k","ts":"2026-11-28T12:00:00Z"}`,
		"bad base64 value":    `{` + ok + `,"op":"put","value":"` + marker + `!!"}`,
		"value after garbage": `{` + ok + `,"op":"put","value":"` + marker + `"} ` + marker,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(rec))
			if err == nil {
				t.Fatalf("Decode accepted %s", rec)
			}
			if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), marker[:8]) {
				t.Errorf("the error quotes the record: %v", err)
			}
		})
	}
	// The binary form: the marker in a field of the wrong wire type, in a
	// truncated field, as the op's and the version's number, in a
	// timestamp's nanos.
	num := []byte{0xC7, 0xE3, 0xA3, 0xAB, 0x8A, 0xE1, 0xA6, 0x07} // 4111111111111111 as a varint
	ts := []byte{0x3A, 0x06, 0x08, 0xC0, 0x84, 0xAB, 0xD8, 0x06}
	for name, rec := range map[string][]byte{
		"seq as bytes":    append(append([]byte{0x08, 0x01, 0x1A, 0x10}, marker...), ts...),
		"a truncated key": append([]byte{0x08, 0x01, 0x2A, 0x20}, marker...),
		"the op's number": append(append([]byte{0x08, 0x01, 0x12, 0x01, 'r', 0x18, 0x01, 0x2A, 0x01, 'k', 0x20}, num...), ts...),
		"the version":     append(append([]byte{0x08}, num...), ts...),
		"ts nanos":        append([]byte{0x08, 0x01, 0x3A, 0x09, 0x10}, num...),
		"ts seconds":      append([]byte{0x08, 0x01, 0x3A, 0x09, 0x08}, num...),
		"a key not UTF-8": append(append([]byte{0x08, 0x01, 0x12, 0x01, 'r', 0x18, 0x01, 0x20, 0x01, 0x2A, 0x11, 0xFF}, marker...), ts...),
	} {
		t.Run("binary, "+name, func(t *testing.T) {
			_, err := Decode(rec)
			if err == nil {
				t.Fatalf("Decode accepted %s", rec)
			}
			if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), marker[:8]) {
				t.Errorf("the error quotes the record: %v", err)
			}
		})
	}
}
