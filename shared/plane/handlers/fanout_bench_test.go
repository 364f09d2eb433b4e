package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// discardHistory drops the counters.
type discardHistory struct{}

func (discardHistory) Add(context.Context, map[mutation.CountKey]mutation.Count) error { return nil }

// benchMutation is the seq-th mutation of res, in the JSON form.
func benchMutation(res string, seq uint64) []byte { return benchMutationAs(mutation.Encode, res, seq) }

// benchMutationAs is the seq-th mutation of res, encoded by encode.
func benchMutationAs(encode func(mutation.Mutation) ([]byte, error), res string, seq uint64) []byte {
	m := mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: fmt.Sprintf("user/%d", seq%1000), Value: []byte(`{"name":"ada","visits":42}`), ProducedAt: t0}
	if seq%10 == 0 {
		m.Op, m.Value = mutation.OpDelete, nil
	}
	d, err := encode(m)
	if err != nil {
		panic(err)
	}
	return d
}

// benchBatches encodes batches of size records spread over resources,
// sequences continuing batch to batch, as Kinesis events.
func benchBatches(nBatches, size int, resources []string) []events.KinesisEvent {
	seq := map[string]uint64{}
	out := make([]events.KinesisEvent, nBatches)
	for b := range out {
		datas := make([][]byte, size)
		for i := range datas {
			res := resources[i%len(resources)]
			seq[res]++
			datas[i] = benchMutation(res, seq[res])
		}
		out[b] = kinesisEvent(datas...)
	}
	return out
}

// benchAggregated encodes batches of aggregated records, one per resource
// in turn, each packed with that resource's next mutations up to
// recordBytes (what shared/producer does), as many records as fit a
// Lambda payload (6 MB with the base64 and the JSON around it). It returns
// the events and the mutations in each.
func benchAggregated(nBatches, recordBytes int, resources []string, encode func(mutation.Mutation) ([]byte, error)) ([]events.KinesisEvent, []int) {
	seq := map[string]uint64{}
	out := make([]events.KinesisEvent, nBatches)
	counts := make([]int, nBatches)
	const payload = 6_000_000
	for b := range out {
		var datas [][]byte
		total := 0
		for r := 0; total+(recordBytes*4/3+600) <= payload; r++ {
			res := resources[r%len(resources)]
			var a mutation.Aggregator
			for {
				d := benchMutationAs(encode, res, seq[res]+1)
				if a.SizeWith(res, len(d))+len(res) > recordBytes {
					break
				}
				seq[res]++
				a.Add(res, d)
				counts[b]++
			}
			datas = append(datas, a.Bytes())
			total += a.Size()*4/3 + 600
		}
		ev := kinesisEvent(datas...)
		for i := range ev.Records {
			ev.Records[i].Kinesis.PartitionKey = resources[i%len(resources)]
		}
		out[b] = ev
	}
	return out, counts
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanout is the fanout handler in process: decode every record,
// resolve (cached), route to a live and a shadow agent (in-memory
// appliers), count per minute, hand the counters to the history, over 4
// resources. Modes:
//
//   - json: batches of 500 plain (non-aggregated) records, from the raw
//     Lambda payload (what aws-lambda-go's runtime gives the handler);
//   - event: the same batches from the decoded event;
//   - aggregated: KPL aggregated records of up to 1 MiB (shared/producer's
//     default), as many as a 6 MB Lambda payload holds, from the raw
//     payload;
//   - aggregated-64KiB: the same with records of up to 64 KiB (a producer
//     that lingers less).
//
// mutations/s is over wall time; mutations/cpu-s over the process's CPU
// time (user and system: the garbage collector included), which a shared,
// loaded machine disturbs less. Run it on one core:
//
//	go test -run '^$' -bench Fanout -cpu 1 ./shared/plane/handlers/
func BenchmarkFanout(b *testing.B) {
	resources := []string{"i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3", "i-0aaaaaaaaaaaaaaa4"}
	const size, nBatches = 500, 100
	type mode struct {
		name  string
		raw   bool
		batch func() ([]events.KinesisEvent, []int)
	}
	plain := func() ([]events.KinesisEvent, []int) {
		counts := make([]int, nBatches)
		for i := range counts {
			counts[i] = size
		}
		return benchBatches(nBatches, size, resources), counts
	}
	modes := []mode{
		{name: "event", batch: plain},
		{name: "json", raw: true, batch: plain},
		{name: "aggregated", raw: true, batch: func() ([]events.KinesisEvent, []int) { return benchAggregated(8, 1<<20, resources, mutation.Encode) }},
		{name: "aggregated-64KiB", raw: true, batch: func() ([]events.KinesisEvent, []int) { return benchAggregated(8, 64<<10, resources, mutation.Encode) }},
		{name: "aggregated-binary", raw: true, batch: func() ([]events.KinesisEvent, []int) {
			return benchAggregated(8, 1<<20, resources, mutation.EncodeBinary)
		}},
	}
	for _, md := range modes {
		var (
			evs      []events.KinesisEvent
			counts   []int
			payloads [][]byte
		)
		b.Run(md.name, func(b *testing.B) {
			if evs == nil { // built once per mode, not per run of the closure
				evs, counts = md.batch()
				for _, ev := range evs {
					if !md.raw {
						break
					}
					p, err := json.Marshal(ev)
					if err != nil {
						b.Fatal(err)
					}
					payloads = append(payloads, p)
				}
				runtime.GC()
			}
			c := clock.NewFake(t0)
			fleet := memory.NewFleet(stack, c, subnets)
			records := memory.NewRecords()
			groups := memory.NewGroups()
			groups.Put(asg.Group{Name: "web", EnrolledByTag: true})
			for i, res := range resources {
				sh := fmt.Sprintf("i-0shadow%011d", i+1)
				fleet.Add(shadow.Instance{ID: res, PrivateIP: fmt.Sprintf("10.0.1.%d", i+1), Group: "web", State: shadow.Running})
				fleet.Add(shadow.Instance{ID: sh, PrivateIP: fmt.Sprintf("10.0.101.%d", i+1), State: shadow.Running, Tags: map[string]string{shadow.TagRole: shadow.RoleShadow}})
				_, _ = records.Create(context.Background(), shadow.Record{LiveID: res, Group: "web", ShadowID: sh, Status: shadow.Active})
			}
			res, err := handlers.NewResolver(fleet, records, groups, c, handlers.ResolverConfig{})
			if err != nil {
				b.Fatal(err)
			}
			agents := memory.NewAgents()
			newHandler := func() *handlers.Fanout {
				h, err := handlers.NewFanout(handlers.FanoutDeps{
					Router: mutation.NewRouter(res, agents, c), Routes: res, History: discardHistory{},
					DeadLetters: memory.NewDeadLetters(), Clock: c, Metrics: metrics.Discard{}, Log: slog.New(slog.DiscardHandler),
				}, handlers.FanoutOptions{})
				if err != nil {
					b.Fatal(err)
				}
				return h
			}
			h := newHandler()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var paused time.Duration
			n := 0
			for i := 0; n < b.N; i++ {
				if i == len(evs) { // every sequence was applied: start over on fresh agents
					b.StopTimer()
					p0 := cpuTime()
					agents.Reset()
					h = newHandler()
					i = 0
					paused += cpuTime() - p0
					b.StartTimer()
				}
				var resp events.KinesisEventResponse
				if md.raw {
					resp, err = h.Handle(ctx, payloads[i])
				} else {
					resp = h.HandleEvent(ctx, evs[i])
				}
				if err != nil || len(resp.BatchItemFailures) != 0 {
					b.Fatalf("batch %d failed: %v %v", i, resp, err)
				}
				n += counts[i]
			}
			cpu := cpuTime() - cpu0 - paused
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "mutations/s")
			if cpu > 0 {
				b.ReportMetric(float64(n)/cpu.Seconds(), "mutations/cpu-s")
			}
			b.ReportMetric(float64(counts[0]), "mutations/batch")
			b.ReportMetric(0, "ns/op")
		})
	}
}
