package agent

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// pick returns the mutations of stream (seqs 1..n) with the given seqs, in
// that order.
func pick(stream []mutation.Mutation, seqs ...uint64) []mutation.Mutation {
	out := make([]mutation.Mutation, len(seqs))
	for i, s := range seqs {
		out[i] = stream[s-1]
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// sortedBatch is what the client sends: sorted by seq, repeats dropped.
func sortedBatch(muts []mutation.Mutation) []mutation.Mutation {
	out := slices.Clone(muts)
	slices.SortStableFunc(out, func(a, b mutation.Mutation) int { return cmp.Compare(a.Seq, b.Seq) })
	return slices.CompactFunc(out, func(a, b mutation.Mutation) bool { return a.Seq == b.Seq })
}

// producerRetry models a Kinesis producer whose PutRecords fails for some
// records of each batch and retries only those: the stream carries each
// batch minus its failures, then the failures, late; and the consumer's
// redelivery of a batch after a partial failure repeats records.
func producerRetry(seed uint64, n, batch int, failPct int) [][]uint64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out [][]uint64
	var retry []uint64
	for from := 1; from <= n; from += batch {
		var ok []uint64
		for s := from; s < from+batch && s <= n; s++ {
			if rng.IntN(100) < failPct {
				retry = append(retry, uint64(s))
			} else {
				ok = append(ok, uint64(s))
			}
		}
		out = append(out, ok)
		if len(retry) > 0 && rng.IntN(2) == 0 { // the retry lands after the next batch, or now
			out = append(out, retry)
			retry = nil
		}
		if rng.IntN(5) == 0 && len(out) > 1 { // redelivery of an earlier record batch
			out = append(out, out[len(out)-2])
		}
	}
	if len(retry) > 0 {
		out = append(out, retry)
	}
	return out
}

// Reordered and repeated deliveries end in the state of an in-order pass:
// every mutation applied once, in seq order (same digest, same
// checkpoints, same applied count), nothing missing, nothing skipped.
func TestReorderedDeliveryMatchesInOrder(t *testing.T) {
	const res = "i-0abc"
	const n = 3000
	stream := genMutations(21, res, 1, n, 40, 12)
	in := newTestStore(t, clock.NewFake(t0))
	accept(t, in, res, stream)
	drainStore(t, in)
	want := in.Digest(res)

	cases := []struct {
		name       string
		deliveries [][]uint64
	}{
		{"6 then 5 then 6 again", [][]uint64{span(1, 4), {6}, {5}, {6}, span(7, n)}},
		{"producer retrying failed records (20% fail)", producerRetry(1, n, 500, 20)},
		{"producer retrying failed records (60% fail, small batches)", producerRetry(2, n, 37, 60)},
		{"whole stream backwards, one by one", func() [][]uint64 {
			var out [][]uint64
			for s := uint64(n); s >= 1; s-- {
				out = append(out, []uint64{s})
			}
			return out
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			st := newTestStore(t, clk)
			for i, d := range c.deliveries {
				clk.Advance(time.Millisecond) // well within the gap wait
				r, err := st.Accept(res, sortedBatch(pick(stream, d...)))
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Rejected) > 0 {
					t.Fatalf("delivery %d: rejected %v within the gap wait", i, r.Rejected)
				}
				if _, err := st.ApplyPending(1 + i%300); err != nil { // the worker interleaves
					t.Fatal(err)
				}
			}
			drainStore(t, st)
			got, s := st.Digest(res), st.Status(res)
			if got.Digest != want.Digest || s.AppliedCount != n || s.AppliedSeq != n || s.Missing != 0 || s.Skipped != 0 || s.AcceptedCount != n {
				t.Fatalf("digest %s applied %d at %d (accepted %d, missing %d, skipped %d); in order: %s, %d at %d",
					got.Digest, s.AppliedCount, s.AppliedSeq, s.AcceptedCount, s.Missing, s.Skipped, want.Digest, n, n)
			}
			if fmt.Sprint(got.Checkpoints) != fmt.Sprint(want.Checkpoints) {
				t.Errorf("checkpoints differ from the in-order pass:\n%v\n%v", got.Checkpoints, want.Checkpoints)
			}
		})
	}
}

// A gap never filled: the worker applies up to it and waits; once the gap
// wait has passed since the gap was first seen, it skips it and applies the
// rest; the late arrivals are then rejected, never applied.
func TestGapNeverFilled(t *testing.T) {
	const res = "i-0abc"
	stream := genMutations(22, res, 1, 300, 10, 8)
	clk := clock.NewFake(t0)
	st := openTestStore(t, t.TempDir(), clk, StoreOptions{GapWait: 10 * time.Second})
	defer st.Close()
	accept(t, st, res, pick(stream, append(span(1, 5), span(8, 300)...)...))
	drainStore(t, st)
	s := st.Status(res)
	if s.AppliedSeq != 5 || s.Backlog != 293 || s.Missing != 2 || s.MissingGaps != 1 || s.ContiguousSeq != 5 || st.HasReady() {
		t.Fatalf("status %+v: want applied 5, backlog 293, 6 and 7 missing, nothing ready", s)
	}
	if at, ok := st.NextGapDeadline(); !ok || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("next gap deadline %v %v, want t0+10s", at, ok)
	}
	clk.Advance(10*time.Second - time.Nanosecond)
	if s := st.Status(res); st.HasReady() || s.MissingOldestSeconds < 9.99 {
		t.Fatalf("just before the wait: ready %v, oldest %.3fs", st.HasReady(), s.MissingOldestSeconds)
	}
	if r, err := st.Accept(res, pick(stream, 7)); err != nil || r.Filled != 1 || r.Missing != 1 {
		t.Fatalf("seq 7 just before the wait: %+v %v, want it to fill", r, err)
	}
	clk.Advance(time.Nanosecond)
	if !st.HasReady() {
		t.Fatal("the gap expired but the worker has nothing ready")
	}
	drainStore(t, st)
	s = st.Status(res)
	if s.AppliedSeq != 300 || s.AppliedCount != 299 || s.Skipped != 1 || s.Missing != 0 || s.Backlog != 0 {
		t.Fatalf("status %+v: want applied 299 through 300, 1 skipped", s)
	}
	r, err := st.Accept(res, pick(stream, 6, 7, 300))
	if err != nil || !slices.Equal(r.Rejected, []uint64{6}) || r.Duplicates != 2 || r.Accepted != 0 {
		t.Fatalf("late 6 with duplicates 7, 300: %+v %v; want 6 rejected, 2 duplicates", r, err)
	}
	drainStore(t, st)
	m := newModel()
	m.apply(pick(stream, append(span(1, 5), span(7, 300)...)...)...)
	if d := st.Digest(res); d.Digest != m.digest() || st.Status(res).Rejected != 1 {
		t.Fatalf("digest %s, want %s without seq 6; rejected %d", d.Digest, m.digest(), st.Status(res).Rejected)
	}
}

// The worker's Run loop wakes up for a gap's deadline by itself (fake
// clock: it looks again every Poll).
func TestWorkerRunSkipsExpiredGap(t *testing.T) {
	const res = "i-0abc"
	clk := clock.NewFake(t0)
	a := startAgent(t, "i-live", agentOpts{clock: clk})
	cl := newTestClient(t, clk, ClientOptions{})
	stream := genMutations(23, res, 1, 10, 5, 8)
	ack, err := cl.Apply(t.Context(), a.ep, res, pick(stream, 1, 2, 3, 5, 6))
	if err != nil || ack.Contiguous != 3 || ack.Through != 6 {
		t.Fatalf("ack %+v %v", ack, err)
	}
	waitFor(t, "seqs 1..3", func() bool { return a.store.Status(res).AppliedSeq == 3 })
	clk.Advance(DefaultGapWait)
	waitFor(t, "seq 4 skipped and 5, 6 applied", func() bool { return a.store.Status(res).AppliedSeq == 6 })
	if s := a.store.Status(res); s.AppliedCount != 5 || s.Skipped != 1 {
		t.Fatalf("status %+v", s)
	}
	ack, err = cl.Apply(t.Context(), a.ep, res, pick(stream, 4))
	if err != nil || !slices.Equal(ack.Rejected, []uint64{4}) {
		t.Fatalf("late seq 4: ack %+v %v, want it rejected", ack, err)
	}
	if !strings.Contains(a.logs.String(), `"msg":"late mutations rejected"`) {
		t.Error("no log line for the rejection")
	}
}

// Missing and given-up seqs are durable: across a restart (a store
// reopened, possibly after a transaction cut short) the agent still waits
// for a missing seq, measures its wait from when the gap was first seen,
// and refuses the seqs it gave up on.
func TestGapsSurviveRestart(t *testing.T) {
	const res = "i-0abc"
	stream := genMutations(24, res, 1, 600, 20, 8)
	all := newModel()
	all.apply(stream...)
	without := func(skip ...uint64) *model {
		m := newModel()
		for _, mu := range stream {
			if !slices.Contains(skip, mu.Seq) {
				m.apply(mu)
			}
		}
		m.last = 600
		return m
	}
	cases := []struct {
		name string
		// before runs against the open store; after, against the reopened
		// one, advances the clock and delivers the rest.
		before   func(t *testing.T, s *Store, clk *clock.Fake)
		after    func(t *testing.T, s *Store, clk *clock.Fake)
		want     *model
		skipped  uint64
		rejected uint64
	}{
		{
			name: "missing seq pending, then it arrives late",
			before: func(t *testing.T, s *Store, _ *clock.Fake) {
				accept(t, s, res, pick(stream, append(span(1, 99), span(101, 600)...)...))
				drainStore(t, s)
			},
			after: func(t *testing.T, s *Store, clk *clock.Fake) {
				clk.Advance(DefaultGapWait - time.Second)
				accept(t, s, res, pick(stream, 100))
			},
			want: all,
		},
		{
			name: "missing seq pending, its wait passes across the restart",
			before: func(t *testing.T, s *Store, clk *clock.Fake) {
				accept(t, s, res, pick(stream, append(span(1, 99), span(101, 600)...)...))
				clk.Advance(DefaultGapWait / 2)
				drainStore(t, s)
			},
			after: func(t *testing.T, s *Store, clk *clock.Fake) {
				clk.Advance(DefaultGapWait / 2)
				drainStore(t, s)
				if r, err := s.Accept(res, pick(stream, 100)); err != nil || !slices.Equal(r.Rejected, []uint64{100}) {
					t.Fatalf("late 100: %+v %v", r, err)
				}
			},
			want: without(100), skipped: 1, rejected: 1,
		},
		{
			name: "apply transaction cut while skipping an expired gap",
			before: func(t *testing.T, s *Store, clk *clock.Fake) {
				accept(t, s, res, pick(stream, append(span(1, 199), span(201, 600)...)...))
				drainStore(t, s)
				clk.Advance(DefaultGapWait)
				s.hookApply = func(_ string, seq uint64) error {
					if seq == 300 {
						return errCrash
					}
					return nil
				}
				if _, err := s.ApplyPending(1000); !errors.Is(err, errCrash) {
					t.Fatalf("apply: %v, want the crash", err)
				}
			},
			after: func(t *testing.T, s *Store, _ *clock.Fake) {
				if st := s.Status(res); st.AppliedSeq != 199 || st.Missing != 1 {
					t.Fatalf("after the cut: %+v, want applied 199 and 200 still missing", st)
				}
				drainStore(t, s)
				accept(t, s, res, pick(stream, 200))
			},
			want: without(200), skipped: 1, rejected: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			clk := clock.NewFake(t0)
			s := openTestStore(t, dir, clk, StoreOptions{})
			c.before(t, s, clk)
			s.hookApply = nil
			before := s.Status(res)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTestStore(t, dir, clk, StoreOptions{})
			defer s.Close()
			after := s.Status(res)
			after.AppliedRate, before.AppliedRate = 0, 0
			if after != before {
				t.Fatalf("restart changed the durable status:\nbefore %+v\nafter  %+v", before, after)
			}
			c.after(t, s, clk)
			drainStore(t, s)
			st := s.Status(res)
			if d := s.Digest(res); d.Digest != c.want.digest() || st.AppliedCount != c.want.applied || st.Skipped != c.skipped || st.Rejected != c.rejected || st.Missing != 0 {
				t.Fatalf("end: %+v digest %s; want applied %d, skipped %d, rejected %d, digest %s", st, d.Digest, c.want.applied, c.skipped, c.rejected, c.want.digest())
			}
		})
	}
}

// A resync while the live has a gap open (and one given up): the shadow
// takes the live's bookkeeping with the snapshot, so both wait for the same
// missing seq until the same deadline and refuse the same late one; a gap
// of the shadow's own above the snapshot stays open. They end equal.
func TestResyncWithOpenGap(t *testing.T) {
	const res = "i-0live"
	stream := genMutations(25, res, 1, 2600, 100, 16)
	clk := clock.NewFake(t0)
	live := startAgent(t, "i-0live", agentOpts{clock: clk, noWorker: true})
	shadow := startAgent(t, "i-0shadow", agentOpts{clock: clk, noWorker: true})
	// The live: 1..2002 but 1800 (its gap expired: given up, and its late
	// arrival refused) and 2001 (missing, first seen at t0+30s).
	accept(t, live.store, res, pick(stream, append(span(1, 1799), span(1801, 1999)...)...))
	clk.Advance(20 * time.Second)
	accept(t, live.store, res, pick(stream, 2000))
	clk.Advance(DefaultGapWait - 20*time.Second)
	accept(t, live.store, res, pick(stream, 2002))
	if r, _ := live.store.Accept(res, pick(stream, 1800)); !slices.Equal(r.Rejected, []uint64{1800}) {
		t.Fatalf("live: 1800 not rejected: %+v", r)
	}
	drainStore(t, live.store)
	// The shadow joined the stream above the snapshot: it holds 2100..2200
	// but 2150, and waits for 1..2099 and 2150 (first seen at t0+30s).
	accept(t, shadow.store, res, pick(stream, append(span(2100, 2149), span(2151, 2200)...)...))
	clk.Advance(time.Second)

	ls := live.store.Status(res)
	if ls.AppliedSeq != 2000 || ls.Missing != 1 || ls.Skipped != 1 {
		t.Fatalf("live before the resync: %+v", ls)
	}
	cl := newTestClient(t, clk, ClientOptions{})
	out, err := cl.Resync(t.Context(), live.ep, shadow.ep, res)
	if err != nil {
		t.Fatal(err)
	}
	// Missing after the import: the live's 2001; above the snapshot, the
	// shadow's own 2003..2099 and 2150. Given up: the live's 1800.
	ss := shadow.store.Status(res)
	if out.Digest != live.store.Digest(res).Digest || out.Kept != 100 || ss.Skipped != 1 || ss.Missing != 1+97+1 {
		t.Fatalf("import %+v; shadow %+v", out, ss)
	}
	// The same late seqs arrive at both: 1800 refused by both, 2001 and
	// the rest accepted by both.
	for _, a := range []*testAgent{live, shadow} {
		r, err := a.store.Accept(res, pick(stream, append([]uint64{1800}, span(2001, 2600)...)...))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Rejected, []uint64{1800}) || r.Missing != 0 {
			t.Fatalf("%s: %+v; want 1800 rejected, nothing missing", a.ep.InstanceID, r)
		}
		drainStore(t, a.store)
	}
	m := newModel()
	for _, mu := range stream {
		if mu.Seq != 1800 {
			m.apply(mu)
		}
	}
	m.last = 2600
	ld, sd := live.store.Digest(res), shadow.store.Digest(res)
	if ld.Digest != m.digest() || sd.Digest != ld.Digest {
		t.Fatalf("live %s shadow %s, want %s", ld.Digest, sd.Digest, m.digest())
	}
	if l, s := live.store.Status(res), shadow.store.Status(res); l.AppliedCount != 2599 || s.AppliedCount != l.AppliedCount {
		t.Fatalf("applied: live %d shadow %d, want 2599", l.AppliedCount, s.AppliedCount)
	}
}

// The snapshot carries the bookkeeping and the importer checks it: every
// seq between the applied and the accepted one is exactly one of a pending
// entry, missing or given up.
func TestSnapshotGapBookkeeping(t *testing.T) {
	const res = "i-0live"
	stream := genMutations(26, res, 1, 40, 8, 6)
	clk := clock.NewFake(t0)
	src := newTestStore(t, clk)
	accept(t, src, res, pick(stream, append(span(1, 9), span(12, 20)...)...)) // 10, 11 missing
	clk.Advance(DefaultGapWait)
	accept(t, src, res, pick(stream, 25)) // 10, 11 given up; 21..24 missing
	applyN(t, src, 5)
	good := exportBytes(t, src, res)
	if !bytes.Contains(good, []byte(`"missing":[[21,24,`)) || !bytes.Contains(good, []byte(`"skipped":[[10,11]]`)) {
		t.Fatalf("header lacks the bookkeeping: %q", good[:200])
	}
	dst := newTestStore(t, clk)
	out, err := dst.Import(res, bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if s := dst.Status(res); out.Missing != 4 || s.Missing != 4 || s.Skipped != 2 || s.ContiguousSeq != 20 || s.AcceptedSeq != 25 {
		t.Fatalf("import %+v status %+v", out, s)
	}
	edit := func(from, to string) []byte {
		b := bytes.Replace(good, []byte(from), []byte(to), 1)
		// keep the header record's length right (same-length edits only)
		if len(b) != len(good) {
			t.Fatalf("edit %q -> %q changes the length", from, to)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"a pending entry inside a missing gap", edit(`"missing":[[21,24,`, `"missing":[[20,23,`)},
		{"a pending entry given up", edit(`"skipped":[[10,11]]`, `"skipped":[[10,12]]`)},
		{"seqs unaccounted for", edit(`"skipped":[[10,11]]`, `"skipped":[[10,10]]`)},
		{"a gap at the accepted seq", edit(`"missing":[[21,24,`, `"missing":[[22,25,`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newTestStore(t, clk)
			if _, err := d.Import(res, bytes.NewReader(c.data)); !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("import: %v, want ErrBadSnapshot", err)
			}
		})
	}
}

// The Router over two real agents (HTTP, workers running) with a stream a
// retrying producer reordered and repeated: every mutation is applied
// exactly once on the live and on the shadow; the ones that arrive after
// their gap was given up are reported to the caller as permanent failures
// (ErrTooLate), and neither agent applies them.
func TestRouterReorderedStreamRealAgents(t *testing.T) {
	const res = "i-0live"
	const n = 2000
	stream := genMutations(27, res, 1, n, 100, 16)
	clk := clock.NewFake(t0)
	live := startAgent(t, "i-0live", agentOpts{clock: clk})
	shadow := startAgent(t, "i-0shadow", agentOpts{clock: clk})
	cl := newTestClient(t, clk, ClientOptions{})
	resolver := &fixedResolver{route: mutation.Route{Resource: res, Group: "g", Live: live.ep, Shadow: shadow.ep, ShadowReady: true}}
	router := mutation.NewRouter(resolver, cl, clk)
	lost := []uint64{777, 1500, 1501} // delivered only after their gap was given up
	for _, d := range producerRetry(3, n, 100, 20) {
		d = slices.DeleteFunc(slices.Clone(d), func(s uint64) bool { return slices.Contains(lost, s) })
		if len(d) == 0 {
			continue
		}
		clk.Advance(10 * time.Millisecond)
		for _, o := range router.Route(t.Context(), pick(stream, d...)) {
			if o.Err != nil {
				t.Fatalf("route: %v", o.Err)
			}
		}
	}
	clk.Advance(DefaultGapWait)
	out := router.Route(t.Context(), pick(stream, append(lost, 1, n)...))
	for i, o := range out {
		late := i < len(lost)
		if late != (o.Err != nil) || (late && (!errors.Is(o.Err, mutation.ErrTooLate) || !errors.Is(o.Err, mutation.ErrPermanent) || o.Retry)) {
			t.Errorf("outcome %d (seq %d): err %v retry %v; late %v", i, pick(stream, append(lost, 1, n)...)[i].Seq, o.Err, o.Retry, late)
		}
		if late && (!strings.Contains(o.Err.Error(), "to live") || !strings.Contains(o.Err.Error(), "to shadow")) {
			t.Errorf("the error does not name both refusing targets: %v", o.Err)
		}
	}
	waitDrained(t, live, res)
	waitDrained(t, shadow, res)
	m := newModel()
	for _, mu := range stream {
		if !slices.Contains(lost, mu.Seq) {
			m.apply(mu)
		}
	}
	m.last = n
	for _, a := range []*testAgent{live, shadow} {
		s := a.store.Status(res)
		if d := a.store.Digest(res); d.Digest != m.digest() || s.AppliedCount != n-3 || s.Skipped != 3 || s.Rejected != 3 || s.AppliedSeq != n {
			t.Errorf("%s: %+v digest %s; want %d applied, 3 skipped and rejected, digest %s", a.ep.InstanceID, s, d.Digest, n-3, m.digest())
		}
	}
	counts := router.Flush()
	for _, tg := range []mutation.Target{mutation.Live, mutation.Shadow} {
		total := 0
		for k, c := range counts {
			if k.Target == tg {
				total += c.Accepted
			}
		}
		if total != n-3 {
			t.Errorf("%s: the router counted %d accepted, want %d", tg, total, n-3)
		}
	}
}
