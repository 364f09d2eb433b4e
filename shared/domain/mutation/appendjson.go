package mutation

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// AppendJSON appends json.Marshal(m) to dst: byte for byte the same
// (FuzzAppendJSON checks it), and the same error, without reflection. The
// agent client writes every mutation of a batch this way, once per agent:
// json.Marshal was most of the fan-out's CPU per mutation
// (BenchmarkClientEncode in shared/agent).
//
// Mutations whose strings are printable ASCII needing no escape (what
// json.Marshal writes as they are: no quote, backslash, '<', '>' or '&')
// and whose time is UTC in the years 0 to 9999 are written directly; any
// other goes to json.Marshal, which then decides.
func AppendJSON(dst []byte, m Mutation) ([]byte, error) {
	y := m.ProducedAt.Year()
	if !plainJSON(m.Resource) || !plainJSON(string(m.Op)) || !plainJSON(m.Key) || m.ProducedAt.Location() != time.UTC || y < 0 || y > 9999 {
		b, err := json.Marshal(m)
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(m.V), 10)
	dst = append(dst, `,"resource":"`...)
	dst = append(dst, m.Resource...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, m.Seq, 10)
	dst = append(dst, `,"op":"`...)
	dst = append(dst, m.Op...)
	dst = append(dst, `","key":"`...)
	dst = append(dst, m.Key...)
	if len(m.Value) > 0 {
		dst = append(dst, `","value":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, m.Value)
	}
	dst = append(dst, `","ts":"`...)
	dst = m.ProducedAt.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...), nil
}

// plainJSON reports whether json.Marshal writes s as it is between its
// quotes: printable ASCII other than '"', '\\' and the HTML characters it
// escapes ('<', '>', '&').
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7E, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
