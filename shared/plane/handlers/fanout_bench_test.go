package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

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
			m := mutation.Mutation{V: 1, Resource: res, Seq: seq[res], Op: mutation.OpPut, Key: fmt.Sprintf("user/%d", seq[res]%1000), Value: []byte(`{"name":"ada","visits":42}`), ProducedAt: t0}
			if seq[res]%10 == 0 {
				m.Op, m.Value = mutation.OpDelete, nil
			}
			d, err := mutation.Encode(m)
			if err != nil {
				panic(err)
			}
			datas[i] = d
		}
		out[b] = kinesisEvent(datas...)
	}
	return out
}

// BenchmarkFanout is the fanout handler in process: decode every record,
// resolve (cached), route to a live and a shadow agent (in-memory
// appliers), count per minute, hand the counters to the history. Batches
// of 500 records over 4 resources. "json" also decodes the Lambda event
// payload (what aws-lambda-go's runtime gives the handler); "event" starts
// from the decoded event. Run it on one core:
//
//	go test -run '^$' -bench Fanout -cpu 1 ./shared/plane/handlers/
func BenchmarkFanout(b *testing.B) {
	resources := []string{"i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3", "i-0aaaaaaaaaaaaaaa4"}
	const size, nBatches = 500, 100
	batches := benchBatches(nBatches, size, resources)
	payloads := make([][]byte, len(batches))
	for i, ev := range batches {
		payloads[i], _ = json.Marshal(ev)
	}
	for _, mode := range []string{"event", "json"} {
		b.Run(mode, func(b *testing.B) {
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
			n := 0
			for i := 0; n < b.N; i++ {
				if i == nBatches { // every sequence was applied: start over on fresh agents
					b.StopTimer()
					agents.Reset()
					h = newHandler()
					i = 0
					b.StartTimer()
				}
				var resp events.KinesisEventResponse
				if mode == "json" {
					resp, err = h.Handle(ctx, payloads[i])
				} else {
					resp = h.HandleEvent(ctx, batches[i])
				}
				if err != nil || len(resp.BatchItemFailures) != 0 {
					b.Fatalf("batch %d failed: %v %v", i, resp, err)
				}
				n += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "mutations/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
