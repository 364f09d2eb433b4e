package lambdaenv

import (
	"runtime/debug"
	"testing"
)

func TestGCFor(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name string
		fn   string
		env  map[string]string
		want GC
	}{
		{"fanout, in Lambda", "fanout", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, GC{Percent: 400, LimitBytes: 384 * mib}},
		{"fanout, outside Lambda", "fanout", nil, GC{Percent: 400}},
		{"another function keeps GOGC", "forecaster", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, GC{LimitBytes: 768 * mib}},
		{"the operator's GOGC wins", "fanout", map[string]string{"GOGC": "100", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, GC{LimitBytes: 384 * mib}},
		{"the operator's GOMEMLIMIT wins", "fanout", map[string]string{"GOMEMLIMIT": "300MiB", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, GC{Percent: 400}},
		{"a memory size that is no number", "launch", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, GC{}},
		{"a memory size out of range", "launch", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "-5"}, GC{}},
		{"odd memory size", "terminate", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": " 129 "}, GC{LimitBytes: int64(129 * 0.75 * mib)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := GCFor(Map(tc.env), tc.fn); got != tc.want {
				t.Errorf("GCFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGCApply: Apply sets what it says and leaves a zero setting alone.
func TestGCApply(t *testing.T) {
	prevPct := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(-1)
	defer func() {
		debug.SetGCPercent(prevPct)
		debug.SetMemoryLimit(prevLimit)
	}()
	GC{Percent: 250, LimitBytes: 200 << 20}.Apply()
	if got := debug.SetGCPercent(-1); got != 250 {
		t.Errorf("GOGC = %d, want 250", got)
	}
	debug.SetGCPercent(250)
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("memory limit = %d, want %d", got, 200<<20)
	}
	GC{}.Apply()
	if got := debug.SetGCPercent(-1); got != 250 {
		t.Errorf("a zero Percent changed GOGC to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 200<<20 {
		t.Errorf("a zero LimitBytes changed the limit to %d", got)
	}
}
