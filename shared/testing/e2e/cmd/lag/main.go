//go:build e2e

// Command lag measures the replication lag end to end against moto with two
// real agents (`make lag`): mutations produced to Kinesis at a steady rate,
// consumed by the fanout (the handler in process, or its bootstrap under
// the Runtime Interface Emulator) polling GetRecords like Lambda's event
// source mapping, applied by a live and a shadow agent process. It prints
// the lag from each mutation's producer timestamp to its application on the
// shadow (and the live) agent, p50 and p99, and the accounting: produced =
// applied on live + dead-lettered = applied on shadow + dead-lettered. It
// exits 1 when the accounting does not balance or p99 misses -target.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

func main() {
	var opt harness.LagOptions
	flag.IntVar(&opt.Rate, "rate", 1000, "mutations a second")
	flag.DurationVar(&opt.Duration, "duration", 60*time.Second, "how long to produce")
	flag.IntVar(&opt.Lives, "lives", 4, "live instances (resources), each with its shadow")
	flag.IntVar(&opt.Shards, "shards", 4, "stream shards (an on-demand stream, as the stack creates, starts with 4)")
	flag.IntVar(&opt.BatchSize, "batch", 500, "event source mapping batch size (the stack sets 500)")
	flag.IntVar(&opt.BadEvery, "bad-every", 1000, "one malformed record every N mutations (0: none)")
	flag.Float64Var(&opt.ShadowApplyRate, "shadow-apply-rate", 0, "cap on the shadow agent's applied mutations a second (0: none)")
	flag.BoolVar(&opt.RIE, "rie", false, "run the fanout bootstrap under the Runtime Interface Emulator")
	target := flag.Duration("target", time.Second, "p99 of the shadow lag to meet")
	flag.Parse()

	ctx := context.Background()
	env, err := harness.Start(ctx, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lag:", err)
		os.Exit(1)
	}
	res, err := harness.RunLag(ctx, env, opt, os.Stdout)
	_ = env.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lag:", err)
		os.Exit(1)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("produced %d records in %s (%.0f/s achieved), %d invocations, %d batch retries, %d failed invocations, %d GetRecords errors retried\n",
		res.Produced, opt.Duration, res.ProducedRate, res.Invocations, res.Retries, res.Errors, res.ReadErrors)
	fmt.Printf("mean call times: PutRecords %s, GetRecords %s (%d calls), fanout invocation %s (%.0f records each)\n",
		ms(res.PutMean), ms(res.ReadMean), res.Reads, ms(res.DeliverMean), float64(res.Produced)/float64(max(1, res.Invocations)))
	for _, l := range []struct {
		name string
		p    harness.Percentiles
	}{{"shadow", res.ShadowLag}, {"live", res.LiveLag}} {
		fmt.Printf("replication lag to the %s agent: p50 %s, p99 %s, max %s, mean %s (%d mutations, %d never seen applied; seqs found missing in %d status polls, longest wait %.1f s)\n",
			l.name, ms(l.p.P50), ms(l.p.P99), ms(l.p.Max), ms(l.p.Mean), l.p.N, l.p.MissingSamples, l.p.GapPolls, l.p.MaxGapWait)
	}
	fmt.Printf("accounting: produced %d = applied on live %d + dead-lettered %d = applied on shadow %d + dead-lettered %d: %v\n",
		res.Produced, res.LiveApplied, res.DeadLettered, res.ShadowApplied, res.DeadLettered, map[bool]string{true: "balanced", false: "NOT BALANCED"}[res.Balanced()])
	ok := res.Balanced() && res.ShadowLag.P99 < *target && res.ShadowLag.MissingSamples == 0
	fmt.Printf("target: shadow p99 under %s: %v\n", *target, map[bool]string{true: "met", false: "MISSED"}[res.ShadowLag.P99 < *target])
	if !ok {
		os.Exit(1)
	}
}
