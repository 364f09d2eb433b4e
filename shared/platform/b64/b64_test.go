package b64

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

// std is what encoding/base64 gives for src.
func std(src []byte) ([]byte, bool) {
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(dst, src)
	return dst[:n], err == nil
}

// check fails t unless Decode gives what encoding/base64 gives for src:
// the bytes written and the verdict.
func check(t *testing.T, src []byte) {
	t.Helper()
	want, wantOK := std(src)
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, ok := Decode(dst, src)
	if ok != wantOK || (ok && !bytes.Equal(dst[:n], want)) {
		t.Fatalf("Decode(%q) = %q, %v; encoding/base64 gives %q, %v", src, dst[:n], ok, want, wantOK)
	}
}

func TestDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	valid := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return []byte(base64.StdEncoding.EncodeToString(b))
	}
	long := valid(300)
	at := func(i int, c byte) []byte {
		b := bytes.Clone(long)
		b[i] = c
		return b
	}
	cases := []struct {
		name   string
		src    []byte
		wantOK bool
	}{
		{"empty", nil, true},
		{"one quantum", []byte("QUJD"), true},
		{"two quanta, the fast loop's edge", []byte("QUJDREVG"), true},
		{"nine characters", []byte("QUJDREVGR"), false},
		{"padding 1", []byte("QUJDREVGRw=="), true},
		{"padding 2", []byte("QUJDREVGR0g="), true},
		{"long", long, true},
		{"long, every length", nil, true}, // below
		{"invalid byte in the fast part", at(17, '*'), false},
		{"padding in the middle", at(40, '='), false},
		{"CR in the middle (encoding/base64 skips it)", append(append(bytes.Clone(long[:40]), '\r', '\n'), long[40:]...), true},
		{"trailing bits set (encoding/base64 accepts them)", []byte("QUJDREVGRx=="), true},
		{"missing padding", []byte("QUJDREVGRw"), false},
		{"high byte", at(3, 0xC3), false},
		{"NUL", at(100, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "long, every length" {
				for n := range 64 {
					check(t, valid(n))
				}
				return
			}
			if _, ok := std(tc.src); ok != tc.wantOK {
				t.Fatalf("the case is wrong: encoding/base64 says %v", ok)
			}
			check(t, tc.src)
		})
	}
}

// TestDecodeShortDst: with dst exactly DecodedLen long, the eight-byte
// store never runs past it.
func TestDecodeShortDst(t *testing.T) {
	for n := range 40 {
		src := []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, n)))
		dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		got, ok := Decode(dst, src)
		if !ok || got != n || !bytes.Equal(dst[:got], bytes.Repeat([]byte{0xA5}, n)) {
			t.Fatalf("%d bytes: %d, %v, %x", n, got, ok, dst[:got])
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "QUJD", "QUJDREVGRw==", "QUJDREVGR0g=", "QUJD\r\nREVG", "QUJDREVGRx==", "QU=DREVG", "QUJDREVGR0hJSktMTU5PUA=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { check(t, src) })
}

// BenchmarkDecode compares Decode with encoding/base64 on 1 MiB (a Kinesis
// record's largest data):
//
//	go test -run '^$' -bench Decode ./shared/platform/b64/
func BenchmarkDecode(b *testing.B) {
	raw := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range raw {
		raw[i] = byte(r.UintN(256))
	}
	src := []byte(base64.StdEncoding.EncodeToString(raw))
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	b.Run("b64", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, ok := Decode(dst, src); !ok {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-base64", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, err := base64.StdEncoding.Decode(dst, src); err != nil {
				b.Fatal(err)
			}
		}
	})
}
