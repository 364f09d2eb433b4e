package agent

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// benchBatches pre-generates batches of one resource with increasing seqs.
func benchBatches(res string, batches, size, valueLen int) [][]mutation.Mutation {
	out := make([][]mutation.Mutation, batches)
	for i := range out {
		out[i] = genMutations(uint64(i), res, uint64(1+i*size), size, 10000, valueLen)
	}
	return out
}

// The agent end to end through HTTP on loopback: signed batches, durable
// (fsynced) acks, the worker applying concurrently. mutations/s is what
// was acked; applied/s counts until the backlog is applied.
func BenchmarkAgentApplyHTTP(b *testing.B) {
	for _, size := range []int{100, 500} {
		b.Run(fmt.Sprintf("batch=%d/value=100B", size), func(b *testing.B) {
			const res = "i-0bench"
			a := startAgent(b, "i-0bench", agentOpts{storeOpts: StoreOptions{MmapBytes: 1 << 30}})
			cl := newTestClient(b, nil, ClientOptions{})
			pool := benchBatches(res, 64, size, 100)
			n := 0
			start := time.Now()
			for b.Loop() {
				batch := pool[n%len(pool)]
				if n >= len(pool) { // renumber so every batch is new
					shift := uint64(n/len(pool)) * uint64(len(pool)*size)
					batch = append([]mutation.Mutation(nil), batch...)
					for i := range batch {
						batch[i].Seq += shift
					}
				}
				ack, err := cl.Apply(b.Context(), a.ep, res, batch)
				if err != nil || ack.Accepted != size {
					b.Fatalf("apply: %+v %v", ack, err)
				}
				n++
			}
			acked := b.Elapsed()
			waitDrained(b, a, res)
			total := float64(n * size)
			b.ReportMetric(total/acked.Seconds(), "mutations/s")
			b.ReportMetric(total/time.Since(start).Seconds(), "applied/s")
		})
	}
}

// Several resources at once (the fan-out's concurrency): accepts share
// group commits.
func BenchmarkAgentApplyHTTPParallel(b *testing.B) {
	const size, resources = 500, 4
	a := startAgent(b, "i-0bench", agentOpts{storeOpts: StoreOptions{MmapBytes: 1 << 30}})
	cl := newTestClient(b, nil, ClientOptions{})
	pools := make([][][]mutation.Mutation, resources)
	for r := range pools {
		pools[r] = benchBatches(fmt.Sprintf("i-%d", r), 16, size, 100)
	}
	var mu sync.Mutex
	next := make([]int, resources)
	n := 0
	start := time.Now()
	b.SetParallelism(1) // GOMAXPROCS goroutines, each on its own resource slot
	for b.Loop() {
		var wg sync.WaitGroup
		for r := range resources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu.Lock()
				i := next[r]
				next[r]++
				mu.Unlock()
				batch := append([]mutation.Mutation(nil), pools[r][i%16]...)
				for j := range batch {
					batch[j].Seq += uint64(i/16) * uint64(16*size)
				}
				if _, err := cl.Apply(b.Context(), a.ep, batch[0].Resource, batch); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
		n += resources * size
	}
	acked := b.Elapsed()
	for r := range resources {
		waitDrained(b, a, fmt.Sprintf("i-%d", r))
	}
	b.ReportMetric(float64(n)/acked.Seconds(), "mutations/s")
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "applied/s")
}

// One small batch (1 mutation) through client and server: the latency of
// a signed, durably acked round trip.
func BenchmarkClientRoundTrip(b *testing.B) {
	const res = "i-0bench"
	a := startAgent(b, "i-0bench", agentOpts{})
	cl := newTestClient(b, nil, ClientOptions{})
	seq := uint64(0)
	done := cpuPerOp(b)
	for b.Loop() {
		seq++
		if _, err := cl.Apply(b.Context(), a.ep, res, []mutation.Mutation{mut(res, seq, mutation.OpPut, "k", "value")}); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// Status (no body, no fsync) on a pooled TLS connection: the cost of
// signing, verifying, JSON and the TLS records.
func BenchmarkClientStatus(b *testing.B) {
	a := startAgent(b, "i-0bench", agentOpts{})
	cl := newTestClient(b, nil, ClientOptions{})
	done := cpuPerOp(b)
	for b.Loop() {
		if _, err := cl.Status(b.Context(), a.ep, "i-0bench"); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// Status on a new connection each time: a TCP connect and a TLS 1.3
// handshake (ed25519 certificate, pinned) per call, what a plane function
// pays once per agent after a cold start.
func BenchmarkClientStatusNewConnection(b *testing.B) {
	a := startAgent(b, "i-0bench", agentOpts{})
	cl := newTestClient(b, nil, ClientOptions{})
	done := cpuPerOp(b)
	for b.Loop() {
		cl.hc.CloseIdleConnections()
		if _, err := cl.Status(b.Context(), a.ep, "i-0bench"); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// The store alone: accept (fsync) and apply, no HTTP.
func BenchmarkStoreAcceptApply(b *testing.B) {
	const res, size = "i-0bench", 500
	s := openTestStore(b, b.TempDir(), clock.System{}, StoreOptions{MmapBytes: 1 << 30})
	defer s.Close()
	pool := benchBatches(res, 64, size, 100)
	n := 0
	for b.Loop() {
		batch := append([]mutation.Mutation(nil), pool[n%len(pool)]...)
		for i := range batch {
			batch[i].Seq += uint64(n/len(pool)) * uint64(len(pool)*size)
		}
		if _, err := s.Accept(res, batch); err != nil {
			b.Fatal(err)
		}
		drainStore(b, s)
		n++
	}
	b.ReportMetric(float64(n*size)/b.Elapsed().Seconds(), "mutations/s")
}

// A resync of a 20 and an 80 MiB state between two agents over HTTP (both
// in this process). peak-heap-MiB is the highest live heap seen during the
// resyncs above the heap before them: bounded by chunks and staging
// transactions (and GC slack), not by the state's size: compare the two.
func BenchmarkResync(b *testing.B) {
	for _, mib := range []int{20, 80} {
		b.Run(fmt.Sprintf("state=%dMiB", mib), func(b *testing.B) { benchResync(b, mib) })
	}
}

func benchResync(b *testing.B, mib int) {
	const res = "i-0bench"
	live := startAgent(b, "i-0live", agentOpts{storeOpts: StoreOptions{MmapBytes: 1 << 30}})
	shadow := startAgent(b, "i-0shadow", agentOpts{storeOpts: StoreOptions{MmapBytes: 1 << 30}})
	for i := range mib {
		if _, err := live.store.Accept(res, genMutations(uint64(i), res, uint64(1+i*1000), 1000, 1<<30, 1024)); err != nil {
			b.Fatal(err)
		}
	}
	waitDrained(b, live, res)
	var size countWriter
	if err := live.store.Export(res, &size); err != nil {
		b.Fatal(err)
	}
	cl := newTestClient(b, nil, ClientOptions{})
	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				if h := heapBytes(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	for b.Loop() {
		if _, err := cl.Resync(b.Context(), live.ep, shadow.ep, res); err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
	<-sampled
	b.ReportMetric(float64(size)/(1<<20), "MiB/snapshot")
	b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/b.Elapsed().Seconds(), "MiB/s")
	b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "peak-heap-MiB")
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// cpuPerOp reports the process's CPU time (user and system, client and
// server together) per operation: steadier than wall time on a shared
// machine. Call the returned function after the loop.
func cpuPerOp(b *testing.B) func() {
	b.Helper()
	var r0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	return func() {
		var r1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		ns := (r1.Utime.Nano() + r1.Stime.Nano()) - (r0.Utime.Nano() + r0.Stime.Nano())
		b.ReportMetric(float64(ns)/float64(b.N)/1e3, "cpu-µs/op")
	}
}

// The client's encoding of a fan-out batch (500 mutations of one resource,
// 26-byte values: the fan-out benchmark's shape) into request bodies, the
// CPU the fan-out spends on each mutation for each agent before any
// network:
//
//	go test -run '^$' -bench ClientEncode ./shared/agent/
func BenchmarkClientEncode(b *testing.B) {
	const res, size = "i-0aaaaaaaaaaaaaaa1", 500
	cl := newTestClient(b, nil, ClientOptions{})
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	muts := make([]*mutation.Mutation, size)
	for i := range muts {
		m := mutation.Mutation{V: 1, Resource: res, Seq: uint64(i + 1), Op: mutation.OpPut, Key: fmt.Sprintf("user/%d", i), Value: []byte(`{"name":"ada","visits":42}`), ProducedAt: at}
		if i%10 == 0 {
			m.Op, m.Value = mutation.OpDelete, nil
		}
		muts[i] = &m
	}
	b.ReportAllocs()
	for b.Loop() {
		parts, err := cl.split(res, muts)
		if err != nil || len(parts) != 1 {
			b.Fatalf("split: %d parts, %v", len(parts), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/mutation")
	b.ReportMetric(0, "ns/op")
}
