package trace

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// FuzzParse: no input makes Parse panic; an accepted trace is sorted,
// finite, and long enough, and Regular keeps it on a grid.
func FuzzParse(f *testing.F) {
	f.Add([]byte("timestamp,value\n2014-04-10 00:04:00,94.0\n2014-04-10 00:09:00,56\n2014-04-10 00:19:00,187\n"))
	f.Add([]byte("1397088540,1\n1397088840,2\n1397089140,3\n"))
	f.Add([]byte("a,b\n,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := Parse(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if tr.Len() < MinPoints || len(tr.Times) != tr.Len() {
			t.Fatalf("accepted %d points (%d times)", tr.Len(), len(tr.Times))
		}
		for i, v := range tr.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted non-finite value %v", v)
			}
			if i > 0 && !tr.Times[i].After(tr.Times[i-1]) {
				t.Fatal("accepted unsorted timestamps")
			}
		}
		if tr.Gaps() < 1_000_000 { // regridding a huge gap would allocate without bound
			r := tr.Regular()
			if r.Len() < tr.Len() && r.Gaps() != 0 {
				t.Fatalf("Regular left %d gaps", r.Gaps())
			}
		}
		_ = errors.Is(err, ErrInvalid)
	})
}
