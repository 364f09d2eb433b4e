package lambdaenv

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// The garbage collector's settings in the functions. Lambda bills a
// function's configured memory whether its heap uses it or not, and Go's
// default (GOGC=100: collect when the heap doubles its live part) makes the
// fan-out, which allocates some 20 MB an invocation (a 6 MB payload) and
// keeps little between invocations, collect several times an invocation.
const (
	// FanoutGCPercent is the fan-out's GOGC: a collection when the heap is
	// five times its live part, four times fewer collections. Measured in
	// BenchmarkFanout with GOGC=400 against 100 (instructions per mutation,
	// valgrind --tool=cachegrind, single runs): -4% for aggregated JSON
	// records, -7 to -8% for plain and aggregated binary ones. The
	// benchmark keeps ~150 MB of prepared payloads live, so at either
	// setting it collects far less often than a Lambda would: the gain in
	// a Lambda, whose live heap is a few MB, is not measured here.
	FanoutGCPercent = 400
	// memoryLimitShare is the share of the function's memory given to the
	// Go runtime as its soft limit (GOMEMLIMIT): near it the collector
	// works harder rather than let the function run out of memory. The
	// rest is for what the limit does not count (the binary, the
	// runtime's own, the OS).
	memoryLimitShare = 0.75
)

// GC is what a function sets its garbage collector to: 0 leaves a
// setting as the runtime has it (Go's default, or the GOGC or GOMEMLIMIT
// environment variable, which an operator's value always wins).
type GC struct {
	Percent    int   // debug.SetGCPercent
	LimitBytes int64 // debug.SetMemoryLimit
}

// GCFor returns the settings of the function name: GOGC FanoutGCPercent
// for the fan-out, and for every function a memory limit of 3/4 of the
// memory Lambda gives it (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB), each
// unless the operator set GOGC or GOMEMLIMIT.
func GCFor(get Getenv, name string) GC {
	var gc GC
	if name == "fanout" && strings.TrimSpace(get("GOGC")) == "" {
		gc.Percent = FanoutGCPercent
	}
	if strings.TrimSpace(get("GOMEMLIMIT")) == "" {
		if mb, err := strconv.Atoi(strings.TrimSpace(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))); err == nil && mb > 0 && mb <= 1<<20 {
			gc.LimitBytes = int64(float64(mb) * memoryLimitShare * (1 << 20))
		}
	}
	return gc
}

// Apply sets the runtime's garbage collector to gc.
func (gc GC) Apply() {
	if gc.Percent > 0 {
		debug.SetGCPercent(gc.Percent)
	}
	if gc.LimitBytes > 0 {
		debug.SetMemoryLimit(gc.LimitBytes)
	}
}
