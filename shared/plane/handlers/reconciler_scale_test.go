package handlers_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

// The reconciler's deadline on Lambda (infra: 4 minutes).
const reconcilerTimeout = 4 * time.Minute

var reconcileTick = []byte(`{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-28T12:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/shadowscale-reconciler"],"detail":{}}`)

// enrollExisting is an existing group of n running instances, none with a
// shadow yet: what enrolling it looks like to the reconciler.
func enrollExisting(t testing.TB, n int) *env {
	t.Helper()
	e := newEnv(t, n)
	for i := range n {
		az := "us-east-1a"
		if i%2 == 1 {
			az = "us-east-1b"
		}
		e.addLive(fmt.Sprintf("i-%017x", i+1), "web", az)
	}
	return e
}

func runReconcile(t testing.TB, h *handlers.Reconciler) handlers.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(invocation(), reconcilerTimeout)
	defer cancel()
	resp, err := h.Handle(ctx, reconcileTick)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// One reconcile creates the 1,000 missing shadows of a newly enrolled
// group, in parallel, before its deadline.
func TestReconcilerCreatesAThousandShadows(t *testing.T) {
	const n = 1000
	e := enrollExisting(t, n)
	resp := runReconcile(t, reconciler(t, e))
	created := 0
	for _, a := range resp.Actions {
		if a.Kind != "create" || a.Error != "" || a.Deferred != "" {
			t.Fatalf("action %+v", a)
		}
		created++
	}
	recs, err := e.records.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, r := range recs {
		if r.Status == shadow.Active && r.ShadowID != "" {
			active++
		}
	}
	if created != n || active != n || e.fleet.Launches != n {
		t.Fatalf("created %d, active records %d, launches %d: want %d each", created, active, e.fleet.Launches, n)
	}
	for _, az := range []string{"us-east-1a", "us-east-1b"} {
		if used, _ := e.records.SlotsUsed(context.Background(), az); used != n/2 {
			t.Errorf("pool %s: %d slots used, want %d", az, used, n/2)
		}
	}
}

// When the actions take longer than the function may run, the reconciler
// stops starting them before its deadline (no failure, no timeout), says
// what it left, and the next runs finish the work.
func TestReconcilerStopsBeforeItsDeadline(t *testing.T) {
	const n = 1000
	e := enrollExisting(t, n)
	// Every launch takes one second of the handler's (fake) clock: 1,000
	// of them cannot fit in one 4-minute run.
	e.fleet.FailLaunch = func(shadow.LaunchSpec) error { e.clock.Advance(time.Second); return nil }
	h := reconciler(t, e)
	total := 0
	for run := 1; ; run++ {
		if run > 10 {
			t.Fatalf("%d shadows after 10 runs, want %d", total, n)
		}
		resp := runReconcile(t, h)
		done, left := 0, 0
		for _, a := range resp.Actions {
			switch {
			case a.Error != "":
				t.Fatalf("run %d: action failed: %+v", run, a)
			case a.Deferred != "":
				left++
			default:
				done++
			}
		}
		total += done
		t.Logf("run %d: %d created, %d left for the next run (%s)", run, done, left, resp.Reason)
		if run == 1 && (left == 0 || done == 0) {
			t.Fatalf("first run: %d done, %d left: want it to stop part way", done, left)
		}
		if left == 0 {
			break
		}
		if done+left != n-(total-done) {
			t.Fatalf("run %d: %d done + %d left, want the %d missing", run, done, left, n-(total-done))
		}
	}
	if total != n || e.fleet.Launches != n {
		t.Fatalf("%d created over the runs, %d launches: want %d", total, e.fleet.Launches, n)
	}
}

// BenchmarkReconcile1000 is one reconcile creating 1,000 missing shadows on
// in-memory adapters; it reports the run's time and the peak heap in use
// (sampled every millisecond).
func BenchmarkReconcile1000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		e := enrollExisting(b, 1000)
		h, err := handlers.NewReconciler(e.deps, handlers.DefaultReconcilerOptions())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		b.StartTimer()
		ctx, cancel := context.WithTimeout(context.Background(), reconcilerTimeout)
		resp, err := h.Handle(ctx, reconcileTick)
		cancel()
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil || len(resp.Actions) != 1000 || e.fleet.Launches != 1000 {
			b.Fatalf("%d actions, %d launches, %v", len(resp.Actions), e.fleet.Launches, err)
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.StartTimer()
	}
}
