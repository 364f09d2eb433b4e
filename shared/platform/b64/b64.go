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

// dec[k][c] is the value of character c at position k of a quantum of
// four, shifted into place among the quantum's 24 bits (bad for a byte
// that is not in the alphabet). One array, so that the loops below
// address all four with one register.
var dec = [4][256]uint32{table(18), table(12), table(6), table(0)}

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
	t := &dec
	s, d := src, dst
	// Sixteen characters a round while more than sixteen remain (both
	// halves then pass the eight-character loop's test); the slices
	// advance rather than indices, so that no bound is checked again.
	for len(s) > 16 && len(d) >= 12 {
		w := uint64(t[0][s[0]] | t[1][s[1]] | t[2][s[2]] | t[3][s[3]])
		x := uint64(t[0][s[4]] | t[1][s[5]] | t[2][s[6]] | t[3][s[7]])
		y := uint64(t[0][s[8]] | t[1][s[9]] | t[2][s[10]] | t[3][s[11]])
		z := uint64(t[0][s[12]] | t[1][s[13]] | t[2][s[14]] | t[3][s[15]])
		if (w|x|y|z)>>24 != 0 {
			break // the loop below decodes what is valid of these
		}
		// Twelve bytes, in two stores.
		binary.BigEndian.PutUint64(d, w<<40|x<<16|y>>8)
		binary.BigEndian.PutUint32(d[8:], uint32(y<<24|z))
		s, d = s[16:], d[12:]
	}
	for len(s) > 8 && len(d) >= 8 {
		x := uint64(t[0][s[0]] | t[1][s[1]] | t[2][s[2]] | t[3][s[3]])
		y := uint64(t[0][s[4]] | t[1][s[5]] | t[2][s[6]] | t[3][s[7]])
		if (x|y)>>24 != 0 {
			break
		}
		// Six bytes, and two that the next round (or the rest) overwrites:
		// one store instead of six.
		binary.BigEndian.PutUint64(d, x<<40|y<<16)
		s, d = s[8:], d[6:]
	}
	n := len(dst) - len(d)
	m, err := base64.StdEncoding.Decode(d, s)
	return n + m, err == nil
}
