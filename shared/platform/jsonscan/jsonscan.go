// Package jsonscan reads the canonical subset of JSON that machines write
// (strings without escapes, plain integers, whitespace between tokens)
// about five times faster than encoding/json, and says so when the input
// leaves that subset: every function reports false, and the caller falls
// back to encoding/json, which then decides (value and error alike).
//
// It is the one scanner of the mutation stream: mutation.Decode reads a
// mutation record with it, and the fan-out reads the Lambda Kinesis event
// around the records with it. What it accepts it decodes to exactly what
// json.Unmarshal gives (the fuzz tests of both users check it).
package jsonscan

import (
	"encoding/binary"
	"math"
	"math/bits"
	"unicode/utf8"
)

// Space returns the index of the first byte at or after i that is not
// JSON whitespace (len(d) when there is none).
func Space(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Byte reports whether the first byte at or after i that is not
// whitespace is c, and the index after it.
func Byte(d []byte, i int, c byte) (int, bool) {
	i = Space(d, i)
	if i < len(d) && d[i] == c {
		return i + 1, true
	}
	return i, false
}

// String reads a JSON string starting at d[i] (no whitespace skipped)
// that holds no escape and no control character and is valid UTF-8 (which
// encoding/json decodes to the same bytes). It returns the contents (a
// slice of d) and the index after the closing quote.
func String(d []byte, i int) ([]byte, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	j := i + 1
	// Eight bytes at a time while none is a quote, a backslash, a control
	// character or non-ASCII (the long base64 strings of the stream).
	for ; j+8 <= len(d); j += 8 {
		w := binary.LittleEndian.Uint64(d[j:])
		if m := specials(w); m != 0 {
			// The byte loop goes on from the first special byte: the
			// ones before it are plain.
			j += bits.TrailingZeros64(m) >> 3
			break
		}
	}
	for ; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			s := d[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specials tells whether a byte of w is special: below 0x20, a quote, a
// backslash, or at or above 0x80. Its result is a word whose lowest set
// bit is the high bit of w's first (lowest) special byte, zero when none
// is.
// Only that bit is exact: the subtractions borrow from a zero byte into
// the bytes above it, whose bits can then be set without their byte being
// special. Below the first special byte there is no borrow (every byte
// there is at or above 0x20 and neither a quote nor a backslash, its
// differences positive), and that byte itself is flagged by the test it
// meets.
func specials(w uint64) uint64 {
	zero := func(x uint64) uint64 { return (x - ones) &^ x & highs } // a zero byte (exact when the word is ASCII)
	return (w & highs) | zero(w^(ones*'"')) | zero(w^(ones*'\\')) | ((w - ones*0x20) &^ w & highs)
}

// Uint reads a JSON integer starting at d[i] without sign, leading zero,
// fraction or exponent that fits a uint64.
func Uint(d []byte, i int) (uint64, int, bool) {
	j := i
	var n uint64
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		c := uint64(d[j] - '0')
		if n > (math.MaxUint64-c)/10 {
			return 0, 0, false
		}
		n = n*10 + c
		j++
	}
	if j == i || (d[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	if j < len(d) && (d[j] == '.' || d[j] == 'e' || d[j] == 'E') {
		return 0, 0, false
	}
	return n, j, true
}

// Int reads a JSON integer that fits an int64, as Uint with an optional
// minus sign.
func Int(d []byte, i int) (int64, int, bool) {
	neg := i < len(d) && d[i] == '-'
	if neg {
		i++
	}
	u, j, ok := Uint(d, i)
	if !ok || u > math.MaxInt64 {
		return 0, 0, false
	}
	if neg {
		return -int64(u), j, true
	}
	return int64(u), j, true
}

// Number reads any JSON number starting at d[i] and returns its text.
func Number(d []byte, i int) ([]byte, int, bool) {
	start := i
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	first := i
	if n := digits(); n == 0 || (d[first] == '0' && n > 1) {
		return nil, 0, false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return nil, 0, false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return nil, 0, false
		}
	}
	return d[start:i], i, true
}

// Object reads an object starting at the first non-whitespace byte at or
// after i. For each member it calls member with the key and the index of
// the value's first byte (whitespace skipped); member reads the value and
// returns the index after it, a bit naming the key (a key whose bit was
// already seen is refused: encoding/json would keep the last one), and ok.
// It returns the index after the closing brace.
func Object(d []byte, i int, member func(key []byte, at int) (next int, bit uint64, ok bool)) (int, bool) {
	i, ok := Byte(d, i, '{')
	if !ok {
		return 0, false
	}
	if j, ok := Byte(d, i, '}'); ok {
		return j, true
	}
	var seen uint64
	for {
		key, j, ok := String(d, Space(d, i))
		if !ok {
			return 0, false
		}
		if j, ok = Byte(d, j, ':'); !ok {
			return 0, false
		}
		next, bit, ok := member(key, Space(d, j))
		if !ok || seen&bit != 0 {
			return 0, false
		}
		seen |= bit
		if j, ok := Byte(d, next, '}'); ok {
			return j, true
		}
		if i, ok = Byte(d, next, ','); !ok {
			return 0, false
		}
	}
}
