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
}
