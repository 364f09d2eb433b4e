//go:build !sim

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/sim/plan"
)

// TestPlanDefaultsAreTheCode: the plan's defaults that copy the code's
// settings (the producer's and the table's limits, the router's, the
// forecaster's and the reconciler's concurrency, the stack's mapping and
// function sizes in infra/) are the code's. The e2e proof
// (TestPlanAgreesWithTheMeasuredCalls) checks the rest by behaviour: the
// linger, the flush cadence, the route cache.
func TestPlanDefaultsAreTheCode(t *testing.T) {
	d := plan.Defaults()
	ints := []struct {
		name       string
		plan, code int
	}{
		{"PutRecords records a call", plan.PutRecordsMaxRecords, producer.MaxRecordsPerCall},
		{"PutRecords bytes a call", plan.PutRecordsMaxBytes, producer.MaxBytesPerCall},
		{"record bytes", d.RecordBytes, producer.MaxRecordBytes},
		{"resource shards", plan.ResourceShards, awssdk.ResourceShards},
		{"router concurrency", d.RouterConcurrency, mutation.NewRouter(nil, nil, nil).Concurrency},
		{"forecaster concurrency", d.ForecasterConcurrency, handlers.DefaultForecasterConcurrency},
		{"reconciler agent concurrency", d.ReconcilerAgentConc, handlers.DefaultReconcilerOptions().AgentConcurrency},
		{"partition key bytes", d.PartitionKeyBytes, len("i-0123456789abcdef0")},
	}
	for _, c := range ints {
		if c.plan != c.code {
			t.Errorf("%s: the plan says %d, the code %d", c.name, c.plan, c.code)
		}
	}
	// The stack (infra is its own module: read its source).
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "infra", "shadowscaling", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stack, config := read("shadowscaling.go"), read("config.go")
	for _, c := range []struct {
		name string
		re   string
		want int
	}{
		{"the mapping's batch size", `BatchSize:\s+jsii\.Number\((\d+)\)`, d.BatchSize},
		{"the mapping's parallelization factor", `ParallelizationFactor:\s+jsii\.Number\((\d+)\)`, d.ParallelizationFactor},
		{"the fan-out's memory", `FnFanout:\s+\{memoryMB:\s+(\d+)`, d.FanoutMemoryMB},
		{"the fan-out's timeout", `FnFanout:\s+\{memoryMB:\s+\d+, timeout: awscdk\.Duration_Seconds\(jsii\.Number\((\d+)\)\)`, int(d.FanoutTimeoutS)},
		{"the reconciler's memory", `FnReconciler:\s+\{memoryMB:\s+(\d+)`, d.ReconcilerMemoryMB},
		{"the forecaster's memory", `DefaultForecasterMemoryMB = (\d+)`, d.ForecasterMemoryMB},
		{"the stream's retention", `StreamRetentionHours:\s+(\d+)`, int(d.RetentionHours)},
		{"the fan-out's route cache", `RouteCacheSeconds:\s+(\d+)`, int(d.RouteTTLS)},
	} {
		src := stack
		if c.name == "the forecaster's memory" || c.name == "the stream's retention" || c.name == "the fan-out's route cache" {
			src = config
		}
		m := regexp.MustCompile(c.re).FindStringSubmatch(src)
		if m == nil {
			t.Errorf("%s: not found in infra/shadowscaling (%s)", c.name, c.re)
			continue
		}
		if got, _ := strconv.Atoi(m[1]); got != c.want {
			t.Errorf("%s: the stack says %d, the plan %d", c.name, got, c.want)
		}
	}
	if got, want := d.RouteTTLS, handlers.DefaultRouteTTL.Seconds(); got != want || lambdaenv.DefaultRouteTTL != handlers.DefaultRouteTTL {
		t.Errorf("route cache: the plan says %v s, the resolver %v s, the fan-out's configuration %v", got, want, lambdaenv.DefaultRouteTTL)
	}
	if !regexp.MustCompile(`StreamMode:\s+StreamOnDemand`).MatchString(config) || d.StreamMode != plan.OnDemand {
		t.Errorf("the stack's stream mode and the plan's default (%s) differ", d.StreamMode)
	}
}
