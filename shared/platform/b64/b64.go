// Package b64 decodes standard base64 (RFC 4648, with padding) faster than
// encoding/base64, with exactly its results: the fan-out's Lambda payload
// carries every Kinesis record as base64, and decoding it was a sixth of
// the fan-out's CPU.
package b64

import (
	"encoding/base64"
	"encoding/binary"
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// bad marks a byte outside the alphabet in the tables below; no valid
// quantum sets a bit above bit 23.
const bad = 1 << 24

// d0..d3[c] are the value of character c at positions 0..3 of a quantum
// of four, shifted into place among the quantum's 24 bits (bad for a byte
// that is not in the alphabet).
var d0, d1, d2, d3 = table(18), table(12), table(6), table(0)

func table(shift int) (t [256]uint32) {
	for c := range t {
		t[c] = bad
	}
	for v, c := range []byte(alphabet) {
		t[c] = uint32(v) << shift
	}
	return t
}

// Decode decodes src into dst as base64.StdEncoding.Decode does, with the
// same results: it returns how many bytes it wrote and whether src was
// valid (encoding/base64 would have returned a nil error). dst must hold
// base64.StdEncoding.DecodedLen(len(src)) bytes.
//
// It decodes eight characters at a time while they are all in the
// alphabet and more than eight remain, and leaves the rest (the last
// quantum with its padding, or everything from the first quantum pair
// holding another byte: '=', CR, LF, anything invalid) to encoding/base64.
// base64 quanta are independent, so that decoding the rest alone gives
// what decoding the whole would have given for it, errors included.
func Decode(dst, src []byte) (int, bool) {
	n, i := 0, 0
	for ; len(src)-i > 8 && len(dst)-n >= 8; i += 8 {
		s := src[i : i+8 : i+8]
		x := d0[s[0]] | d1[s[1]] | d2[s[2]] | d3[s[3]]
		y := d0[s[4]] | d1[s[5]] | d2[s[6]] | d3[s[7]]
		if (x|y)>>24 != 0 {
			break
		}
		// Six bytes, and two that the next round (or the rest) overwrites:
		// one store instead of six.
		binary.BigEndian.PutUint64(dst[n:], uint64(x)<<40|uint64(y)<<16)
		n += 6
	}
	m, err := base64.StdEncoding.Decode(dst[n:], src[i:])
	return n + m, err == nil
}
