package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// stringRef is String's definition, one byte at a time.
func stringRef(d []byte, i int) ([]byte, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			if !utf8.Valid(d[i+1 : j]) {
				return nil, 0, false
			}
			return d[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

func sameString(t *testing.T, d []byte) {
	t.Helper()
	s, j, ok := String(d, 0)
	rs, rj, rok := stringRef(d, 0)
	if ok != rok || j != rj || !bytes.Equal(s, rs) {
		t.Fatalf("String(%q) = %q, %d, %v; want %q, %d, %v", d, s, j, ok, rs, rj, rok)
	}
	if ok { // and what it accepts, encoding/json decodes to the same bytes
		var v string
		if err := json.Unmarshal(d[:j], &v); err != nil || v != string(s) {
			t.Fatalf("encoding/json reads %q as %q, %v", d[:j], v, err)
		}
	}
}

func stringSeeds() []string {
	long := strings.Repeat("aGVsbG8gd29ybGQ=", 9)
	return []string{
		`""`, `"a"`, `"` + long + `"`, `"` + long + `\n"`, `"` + long + "\x01" + `"`, `"` + long + "é" + `"`,
		`"` + long + "\xff" + `"`, `"` + long, `"` + long[:7] + `"x`, `"` + long[:8] + `"`, `"` + long[:15] + "\x7f" + `"`,
		`"\u0041"`, `x"`, ``, `"` + long + `"` + long,
	}
}

func TestString(t *testing.T) {
	for _, s := range stringSeeds() {
		sameString(t, []byte(s))
	}
}

// FuzzString: the eight-bytes-at-a-time scan finds what the byte-by-byte
// definition finds.
func FuzzString(f *testing.F) {
	for _, s := range stringSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) { sameString(t, d) })
}

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		in  string
		u   uint64
		uok bool
		num string
		nok bool
	}{
		{"0", 0, true, "0", true}, {"42,", 42, true, "42", true}, {"01", 0, false, "", false}, {"1.5", 0, false, "1.5", true},
		{"-3", 0, false, "-3", true}, {"18446744073709551615", 1<<64 - 1, true, "18446744073709551615", true},
		{"18446744073709551616", 0, false, "18446744073709551616", true}, {"1e3", 0, false, "1e3", true}, {"", 0, false, "", false},
	} {
		u, _, uok := Uint([]byte(c.in), 0)
		n, _, nok := Number([]byte(c.in), 0)
		if u != c.u || uok != c.uok || string(n) != c.num || nok != c.nok {
			t.Errorf("%q: Uint %d %v, Number %q %v", c.in, u, uok, n, nok)
		}
	}
	if n, _, ok := Int([]byte("-9223372036854775808"), 0); ok || n != 0 {
		t.Errorf("Int read the int64 minimum as %d; it leaves it to encoding/json", n)
	}
}

// TestSpecialsFirstByte: the lowest set bit of specials is the high bit of
// the first special byte, for words mixing every kind of byte.
func TestSpecialsFirstByte(t *testing.T) {
	isSpecial := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	kinds := []byte{0, 0x1F, 0x20, '"', '\\', 'a', 0x7F, 0x80, 0xC3, 0xFF, 0x21, 0x23, 0x5B, 0x5D, 0x01}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		var b [8]byte
		for k := range b {
			b[k] = kinds[r.IntN(len(kinds))]
			if r.IntN(3) == 0 {
				b[k] = byte(r.UintN(256))
			}
		}
		want := -1
		for k, c := range b {
			if isSpecial(c) {
				want = k
				break
			}
		}
		m := specials(binary.LittleEndian.Uint64(b[:]))
		got := -1
		if m != 0 {
			got = bits.TrailingZeros64(m) >> 3
			if bits.TrailingZeros64(m)&7 != 7 {
				t.Fatalf("%x: lowest bit %d is no byte's high bit", b, bits.TrailingZeros64(m))
			}
		}
		if got != want {
			t.Fatalf("%x: first special byte %d, specials says %d", b, want, got)
		}
	}
}
