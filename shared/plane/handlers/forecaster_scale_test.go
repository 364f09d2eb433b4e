package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// The scale of BenchmarkForecasterThousandGroups: 1,000 groups of 10 live
// instances each (10,000 instances).
const (
	scaleGroups    = 1000
	scaleInstances = 10
)

// synthHistory is the fan-out's history of many groups, generated on
// demand instead of stored (7 days of minutes for 1,000 groups would be
// ten million items in the test process, measuring the fixture): each
// group's demand is a daily wave of its own phase around six instances'
// worth, split evenly over its ten resources, whose agents' applied totals
// grow with it. Every call allocates its answer, as the DynamoDB adapter
// does.
type synthHistory struct {
	index map[string]int // group -> number
}

func (s *synthHistory) demand(g int, m time.Time) int64 {
	day := float64(m.Unix()/60%1440) / 1440
	return int64(3600 + 1500*math.Sin(2*math.Pi*day+float64(g)))
}

func (s *synthHistory) GroupMinutes(_ context.Context, group string, from, to time.Time) ([]mutation.GroupCount, error) {
	g := s.index[group]
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	out := make([]mutation.GroupCount, 0, int(to.Sub(from)/time.Minute)+1)
	for m := from; !m.After(to); m = m.Add(time.Minute) {
		d := s.demand(g, m)
		out = append(out, mutation.GroupCount{Start: m, Live: d, Shadow: d, Seen: d})
	}
	return out, nil
}

func (s *synthHistory) ResourceMinutes(_ context.Context, group string, from, to time.Time) ([]mutation.ResourceCount, error) {
	g := s.index[group]
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	out := make([]mutation.ResourceCount, 0, scaleInstances*(int(to.Sub(from)/time.Minute)+1))
	for m := from; !m.After(to); m = m.Add(time.Minute) {
		per := s.demand(g, m) / scaleInstances
		total := uint64(m.Unix()/60) * uint64(per) // grows every minute
		for r := range scaleInstances {
			out = append(out, mutation.ResourceCount{Minute: m, Resource: fmt.Sprintf("i-%04d%03d", g, r), Live: per, Shadow: per,
				LiveApplied: total, ShadowApplied: total - uint64(per)/10, ShadowBacklog: uint64(per) / 10})
		}
	}
	return out, nil
}

// countAudit counts audit records (memory.Audit's duplicate scan is
// linear in what it holds, which would measure the fake).
type countAudit struct{ n atomic.Int64 }

func (c *countAudit) Put(context.Context, control.AuditRecord) error { c.n.Add(1); return nil }

// scaleEnv is the forecaster over 1,000 groups on in-memory adapters.
type scaleEnv struct {
	clock  *clock.Fake
	groups *memory.Groups
	hist   *synthHistory
	states *memory.States
	audit  *countAudit
	loops  handlers.LoopFactory
}

func newScaleEnv(tb testing.TB, groups int) *scaleEnv {
	tb.Helper()
	cat := testCatalog(tb)
	loops, err := handlers.ControlLoops(json.RawMessage(`{"per_instance": 600}`), cat)
	if err != nil {
		tb.Fatal(err)
	}
	e := &scaleEnv{clock: clock.NewFake(fcNow), groups: memory.NewGroups(), hist: &synthHistory{index: map[string]int{}}, states: memory.NewStates(), audit: &countAudit{}, loops: loops}
	for g := range groups {
		name := fmt.Sprintf("group-%04d", g)
		e.hist.index[name] = g
		gr := asg.Group{Name: name, Min: 1, Max: 20, Desired: 7, EnrolledByTag: true, Mode: asg.ModeForecastOnly}
		for r := range scaleInstances {
			gr.Instances = append(gr.Instances, asg.Instance{ID: fmt.Sprintf("i-%04d%03d", g, r), Type: "m7g.xlarge", Lifecycle: "InService"})
		}
		e.groups.Put(gr)
		e.groups.SetInstanceType(name, "m7g.xlarge")
	}
	return e
}

func (e *scaleEnv) handler(tb testing.TB) *handlers.Forecaster {
	tb.Helper()
	h, err := handlers.NewForecaster(handlers.ForecasterDeps{
		Groups: e.groups, History: e.hist, States: e.states, Audit: e.audit, NewLoop: e.loops, Sizes: testCatalog(tb), Clock: e.clock,
	}, handlers.ForecasterOptions{Mode: "forecast-only", PerInstance: 600})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// run is one invocation. With a deadline, it is the function's 55 s in
// the fake clock's time, and the fake clock follows the process's CPU
// time meanwhile: the deadline is one dedicated vCPU's 55 seconds (what
// the function has at 1,769 MB), whatever else runs on the machine. The
// in-memory adapters make the run CPU-bound; on AWS the calls' latencies
// overlap (Concurrency at a time). Without a deadline every group runs
// (setting up). It returns how many groups were done, deferred and failed.
func (e *scaleEnv) run(tb testing.TB, h *handlers.Forecaster, deadline bool) (done, deferred, failed int) {
	tb.Helper()
	ctx, cancel := invocation(), func() {}
	start := e.clock.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if deadline {
		ctx, cancel = context.WithDeadline(ctx, start.Add(55*time.Second))
		cpu0 := cpuTime()
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					e.clock.Set(start.Add(cpuTime() - cpu0))
				}
			}
		})
	}
	resp, err := h.Handle(ctx, scaleEvent)
	cancel()
	close(stop)
	wg.Wait()
	e.clock.Set(start)
	if err != nil {
		tb.Fatal(err)
	}
	for _, gf := range resp.Groups {
		switch {
		case gf.Outcome == handlers.GroupDeferred:
			deferred++
		case gf.Error != "":
			failed++
			if failed == 1 {
				tb.Errorf("group %s failed: %s", gf.Group, gf.Error)
			}
		default:
			done++
		}
	}
	return done, deferred, failed
}

var scaleEvent = []byte(`{"version":"0","id":"e2b7f8f0-1","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-28T12:10:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/forecaster"],"detail":{}}`)

// peakHeap samples the heap in use until stop is closed and returns the
// highest seen.
func peakHeap(stop <-chan struct{}) func() uint64 {
	var peak atomic.Uint64
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak.Store(ms.HeapInuse)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	return func() uint64 { <-done; return peak.Load() }
}

// BenchmarkForecasterThousandGroups runs one forecaster invocation over
// 1,000 groups and 10,000 instances on in-memory adapters, with the
// function's 55 s deadline and the default 10 s reserve and concurrency,
// and reports per invocation the wall time (ns/op), the CPU time, the
// groups done and deferred, and the peak heap in use. The deadline is
// counted in the process's CPU time (see run). Run it as the function runs
// (one vCPU at 1,769 MB):
//
//		go test -run '^$' -bench ForecasterThousandGroups -benchtime 1x -cpu 1 ./shared/plane/handlers/
//
//	  - warm: the steady state, each group's loop kept from the previous
//	    minute's run in the same container: one new minute each;
//	  - restore: a new container, every group's state saved by another: each
//	    loop is restored from its state and replays 7 days of demand;
//	  - fresh: nothing saved yet (a new deployment): each loop is rebuilt by
//	    stepping it through 7 days of history.
//
// Groups not started 10 s before the deadline are deferred (the next run
// takes them first): a cold start spreads over a few minutes.
func BenchmarkForecasterThousandGroups(b *testing.B) {
	for _, mode := range []string{"warm", "restore", "fresh"} {
		b.Run(mode, func(b *testing.B) {
			e := newScaleEnv(b, scaleGroups)
			h := e.handler(b)
			if mode != "fresh" {
				// Every group's state as another container saved it: one
				// group's, rebuilt from its 7 days, given to all (each
				// restore then replays the group's own demand).
				seed := newScaleEnv(b, 1)
				if done, _, failed := seed.run(b, seed.handler(b), false); done != 1 || failed != 0 {
					b.Fatalf("seeding: %d done, %d failed", done, failed)
				}
				st, _ := seed.states.Get("group-0000")
				for g := range scaleGroups {
					e.states.Put(fmt.Sprintf("group-%04d", g), control.SavedState{Blob: st.Blob, Version: 1})
				}
			}
			if mode == "warm" {
				// This container restored every group the minute before.
				e.clock.Set(fcNow.Add(time.Minute))
				if done, _, failed := e.run(b, h, false); failed > 0 || done != scaleGroups {
					b.Fatalf("warming: %d done, %d failed", done, failed)
				}
			}
			base := e.clock.Now()
			var done, deferred int
			var cpu time.Duration
			var peak uint64
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				e.clock.Set(base.Add(time.Duration(i+1) * time.Minute))
				switch mode {
				case "restore":
					h = e.handler(b) // a new container: no warm loops
				case "fresh":
					e.states.Reset()
					h = e.handler(b)
				}
				runtime.GC()
				stop := make(chan struct{})
				heap := peakHeap(stop)
				c0 := cpuTime()
				b.StartTimer()
				d, def, failed := e.run(b, h, true)
				b.StopTimer()
				cpu += cpuTime() - c0
				close(stop)
				peak = max(peak, heap())
				if failed > 0 {
					b.Fatalf("%d groups failed", failed)
				}
				done, deferred = done+d, deferred+def
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(cpu.Seconds()/n, "cpu-s/op")
			b.ReportMetric(float64(done)/n, "groups-done/op")
			b.ReportMetric(float64(deferred)/n, "groups-deferred/op")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(scaleGroups*scaleInstances), "instances")
		})
	}
}
