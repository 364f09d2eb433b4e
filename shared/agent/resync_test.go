package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func accept(t testing.TB, s *Store, res string, muts []mutation.Mutation) {
	t.Helper()
	for i := 0; i < len(muts); i += 500 {
		if _, err := s.Accept(res, muts[i:min(i+500, len(muts))]); err != nil {
			t.Fatal(err)
		}
	}
}

func applyN(t testing.TB, s *Store, n int) {
	t.Helper()
	for n > 0 {
		got, err := s.ApplyPending(n)
		if err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			t.Fatalf("nothing left to apply, %d short", n)
		}
		n -= got
	}
}

// Resync through the client between two agents, in the situations a
// shadow meets; after the stream's catch-up both digests are equal.
func TestResyncDigestEquality(t *testing.T) {
	const res = "i-0live"
	stream := genMutations(6, res, 1, 2600, 300, 64) // seqs 1..2600
	upTo := func(a, b uint64) []mutation.Mutation { return stream[a-1 : b] }
	// A diverged history for the same seqs: other values.
	diverged := genMutations(99, res, 1, 2000, 300, 64)
	cases := []struct {
		name string
		// prepare the shadow before the resync; the live holds 1..2000,
		// applied through 1500.
		shadow           func(t *testing.T, s *Store, clk *clock.Fake)
		shadowRetain     uint64
		wantKept         uint64
		wantDropped      uint64
		wantConflict     bool
		wantBacklogAfter uint64
	}{
		{
			name:   "new empty shadow",
			shadow: func(*testing.T, *Store, *clock.Fake) {},
			// the live's pending (1500, 2000]
			wantBacklogAfter: 500,
		},
		{
			name: "new shadow already fed by the fan-out: own entries above H kept, even applied ones",
			shadow: func(t *testing.T, s *Store, clk *clock.Fake) {
				accept(t, s, res, upTo(2001, 2100))
				if n, _ := s.ApplyPending(50); n != 0 {
					t.Fatalf("applied %d while seqs 1..2000 are missing", n)
				}
				clk.Advance(DefaultGapWait) // 1..2000 given up
				applyN(t, s, 50)            // applied to an empty state: wrong until the import
			},
			wantKept:         100,
			wantBacklogAfter: 600,
		},
		{
			name: "lagging shadow: own pending entries <= H dropped, > H kept",
			shadow: func(t *testing.T, s *Store, _ *clock.Fake) {
				accept(t, s, res, upTo(1, 1200))
				applyN(t, s, 1000)
				accept(t, s, res, upTo(2001, 2050))
			},
			wantKept:         50,
			wantDropped:      200,
			wantBacklogAfter: 550,
		},
		{
			name: "diverged shadow at the same seqs",
			shadow: func(t *testing.T, s *Store, _ *clock.Fake) {
				accept(t, s, res, diverged)
				drainStore(t, s)
			},
			wantBacklogAfter: 500,
		},
		{
			name: "shadow ahead of the live's applied seq goes back to the snapshot",
			shadow: func(t *testing.T, s *Store, _ *clock.Fake) {
				accept(t, s, res, upTo(1, 2100))
				drainStore(t, s)
			},
			wantKept:         100,
			wantBacklogAfter: 600,
		},
		{
			name: "shadow that trimmed its log past H refuses (409): export again later",
			shadow: func(t *testing.T, s *Store, _ *clock.Fake) {
				accept(t, s, res, upTo(1, 2100))
				drainStore(t, s)
			},
			shadowRetain: 10,
			wantConflict: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			live := startAgent(t, "i-0live", agentOpts{clock: clk, noWorker: true})
			shadow := startAgent(t, "i-0shadow", agentOpts{clock: clk, noWorker: true, storeOpts: StoreOptions{RetainEntries: c.shadowRetain}})
			accept(t, live.store, res, upTo(1, 2000))
			applyN(t, live.store, 1500)
			c.shadow(t, shadow.store, clk)
			before := shadow.store.Digest(res)

			cl := newTestClient(t, clk, ClientOptions{})
			out, err := cl.Resync(t.Context(), live.ep, shadow.ep, res)
			if c.wantConflict {
				var se *StatusError
				if !errors.As(err, &se) || se.Code != 409 {
					t.Fatalf("resync: %v, want a 409", err)
				}
				if after := shadow.store.Digest(res); after.Digest != before.Digest {
					t.Error("a refused import changed the shadow")
				}
				return
			}
			if err != nil {
				t.Fatalf("resync: %v", err)
			}
			if out.AppliedSeq != 1500 || out.Kept != c.wantKept || out.Dropped != c.wantDropped || out.Backlog != c.wantBacklogAfter {
				t.Fatalf("import result %+v; want applied seq 1500, kept %d, dropped %d, backlog %d", out, c.wantKept, c.wantDropped, c.wantBacklogAfter)
			}
			if out.Digest != live.store.Digest(res).Digest {
				t.Fatalf("imported state digest %s differs from the live's %s at the same seq", out.Digest, live.store.Digest(res).Digest)
			}
			// Stream catch-up: the fan-out delivers the rest to both.
			accept(t, live.store, res, upTo(2001, 2600))
			accept(t, shadow.store, res, upTo(2001, 2600))
			drainStore(t, live.store)
			drainStore(t, shadow.store)
			m := newModel()
			m.apply(stream...)
			ld, sd := live.store.Digest(res), shadow.store.Digest(res)
			if ld.Digest != m.digest() || sd.Digest != ld.Digest {
				t.Fatalf("after catch-up: live %s shadow %s, expected %s", ld.Digest, sd.Digest, m.digest())
			}
			ls, ss := live.store.Status(res), shadow.store.Status(res)
			if ss.AppliedCount != ls.AppliedCount || ss.AppliedSeq != 2600 || ss.Imports != 1 {
				t.Errorf("shadow applied %d at %d (imports %d), live applied %d", ss.AppliedCount, ss.AppliedSeq, ss.Imports, ls.AppliedCount)
			}
		})
	}
}

// The realistic case: the Router fans a stream out while a new shadow
// comes up, joins the stream, and is resynced from the live mid-stream,
// workers running. It ends converged.
func TestResyncMidStreamWithRouter(t *testing.T) {
	const res = "i-0live"
	live := startAgent(t, "i-0live", agentOpts{})
	shadow := startAgent(t, "i-0shadow", agentOpts{})
	cl := newTestClient(t, nil, ClientOptions{})
	resolver := &fixedResolver{route: mutation.Route{Resource: res, Group: "g", Live: live.ep, Shadow: shadow.ep}}
	router := mutation.NewRouter(resolver, cl, clock.System{})
	stream := genMutations(7, res, 1, 6000, 200, 32)

	send := func(from, to int) {
		for i := from; i < to; i += 100 {
			for _, o := range router.Route(t.Context(), stream[i:i+100]) {
				if o.Err != nil {
					t.Fatalf("route: %v", o.Err)
				}
			}
		}
	}
	send(0, 2000) // the shadow does not exist yet
	resolver.setReady(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(2000, 6000) }()
	// Resync while the stream flows into both.
	waitFor(t, "the shadow to receive its first mutations", func() bool { return shadow.store.Status(res).AcceptedSeq > 2000 })
	out, err := cl.Resync(t.Context(), live.ep, shadow.ep, res)
	if err != nil {
		t.Fatalf("resync: %v", err)
	}
	wg.Wait()
	waitDrained(t, live, res)
	waitDrained(t, shadow, res)
	m := newModel()
	m.apply(stream...)
	ld, _ := cl.Digest(t.Context(), live.ep, res)
	sd, _ := cl.Digest(t.Context(), shadow.ep, res)
	if ld.Digest != m.digest() || sd.Digest != ld.Digest {
		t.Fatalf("live %s shadow %s expected %s (import %+v)", ld.Digest, sd.Digest, m.digest(), out)
	}
}

type fixedResolver struct {
	mu    sync.Mutex
	route mutation.Route
}

func (r *fixedResolver) setReady(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.route.ShadowReady = v
}

func (r *fixedResolver) Resolve(_ context.Context, res string) (mutation.Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res != r.route.Resource {
		return mutation.Route{}, fmt.Errorf("resolving %s: %w", res, mutation.ErrUnknownResource)
	}
	return r.route, nil
}

func exportBytes(t testing.TB, s *Store, res string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Export(res, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A bad snapshot changes nothing on the receiver and leaves no staging.
func TestImportRejectsBadSnapshots(t *testing.T) {
	const res = "i-0live"
	src := newTestStore(t, clock.NewFake(t0))
	accept(t, src, res, genMutations(8, res, 1, 400, 50, 16))
	applyN(t, src, 300)
	good := exportBytes(t, src, res)
	empty := newTestStore(t, clock.NewFake(t0))
	accept(t, empty, "i-other", genMutations(8, "i-other", 1, 10, 5, 4))
	drainStore(t, empty)
	otherRes := exportBytes(t, empty, "i-other")

	// locate the first pair's value to alter it
	flip := func(b []byte, at int) []byte { c := bytes.Clone(b); c[at] ^= 1; return c }
	cases := []struct {
		name string
		data []byte
	}{
		{"not a snapshot", []byte("hello")},
		{"empty", nil},
		{"truncated in the pairs", good[:len(good)/3]},
		{"missing end record", good[:len(good)-2]},
		{"altered pair value", flip(good, len(good)/4)},
		{"data after the end", append(bytes.Clone(good), 'E', 0)},
		{"snapshot of another resource", otherRes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := newTestStore(t, clock.NewFake(t0))
			accept(t, dst, res, genMutations(9, res, 1, 50, 5, 4))
			drainStore(t, dst)
			before, beforeStatus := dst.Digest(res), dst.Status(res)
			_, err := dst.Import(res, bytes.NewReader(c.data))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("import: %v, want ErrBadSnapshot", err)
			}
			if after := dst.Digest(res); after.Digest != before.Digest || dst.Status(res) != beforeStatus {
				t.Error("a rejected import changed the receiver")
			}
			if n := stagingCount(t, dst); n != 0 {
				t.Errorf("%d staging buckets left", n)
			}
		})
	}
}

func stagingCount(t testing.TB, s *Store) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bStaging).ForEachBucket(func([]byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportBusyAndUnknownExport(t *testing.T) {
	s := newTestStore(t, clock.NewFake(t0))
	if err := s.beginImport("r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import("r", bytes.NewReader(nil)); !errors.Is(err, ErrConflict) {
		t.Errorf("second import: %v, want ErrConflict", err)
	}
	s.endImport("r")
	if err := s.Export("nope", io.Discard); !errors.Is(err, ErrNoResource) {
		t.Errorf("export of an unknown resource: %v, want ErrNoResource", err)
	}
	if len(s.Statuses()) != 0 {
		t.Errorf("a failed first import left a resource behind: %+v", s.Statuses())
	}
}

// A state far larger than a staging transaction round-trips.
func TestSnapshotLargeState(t *testing.T) {
	const res = "i-0live"
	src := newTestStore(t, clock.NewFake(t0))
	accept(t, src, res, genMutations(10, res, 1, 5000, 5000, 4096)) // ~15 MiB of state
	drainStore(t, src)
	dst := newTestStore(t, clock.NewFake(t0))
	out, err := dst.Import(res, bytes.NewReader(exportBytes(t, src, res)))
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != src.Digest(res).Digest || out.Keys != src.Digest(res).Keys {
		t.Fatalf("import %+v, source %+v", out, src.Digest(res))
	}
}

// An import into a receiver that does not know the resource yet, while the
// fan-out's first batches for it arrive: they are kept on top.
func TestImportConcurrentWithFirstAccepts(t *testing.T) {
	const res = "i-0live"
	stream := genMutations(16, res, 1, 3000, 100, 16)
	src := newTestStore(t, clock.NewFake(t0))
	accept(t, src, res, stream[:2000])
	applyN(t, src, 1800)
	snap := exportBytes(t, src, res)

	dst := newTestStore(t, clock.NewFake(t0))
	pr, pw := io.Pipe()
	type result struct {
		out ImportResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := dst.Import(res, pr)
		done <- result{out, err}
	}()
	pw.Write(snap[:len(snap)/2])
	// The stream arrives meanwhile (and the worker runs, skipping the
	// resource under import).
	for i := 2000; i < 3000; i += 100 {
		if _, err := dst.Accept(res, stream[i:i+100]); err != nil {
			t.Fatal(err)
		}
		if _, err := dst.ApplyPending(50); err != nil {
			t.Fatal(err)
		}
	}
	if st := dst.Status(res); st.AppliedCount != 0 || !st.Importing {
		t.Fatalf("the worker applied a resource under import: %+v", st)
	}
	pw.Write(snap[len(snap)/2:])
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.out.Kept != 1000 || r.out.Backlog != 1200 {
		t.Fatalf("import %+v: want 1000 kept, backlog 1200", r.out)
	}
	drainStore(t, dst)
	m := newModel()
	m.apply(stream...)
	if d := dst.Digest(res); d.Digest != m.digest() {
		t.Fatalf("digest %s, want %s", d.Digest, m.digest())
	}
}
