package metrics

import "testing"

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	r.Add("PoolFull", Count, 1, Dim{"AZ", "a"})
	r.Add("PoolFull", Count, 2, Dim{"AZ", "a"})
	r.Add("PoolFull", Count, 5, Dim{"AZ", "b"})
	r.Add("Other", Count, 7)
	if got := r.Sum("PoolFull", Dim{"AZ", "a"}); got != 3 {
		t.Fatalf("Sum(a) = %v, want 3", got)
	}
	if got := r.Total("PoolFull"); got != 8 {
		t.Fatalf("Total = %v, want 8", got)
	}
	r.Reset()
	if got := r.Total("PoolFull"); got != 0 {
		t.Fatalf("after Reset, Total = %v", got)
	}
}
