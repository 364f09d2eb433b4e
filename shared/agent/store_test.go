package agent

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// The store accepts exactly like memory.Agents, step by step, with one
// fake clock: same highest and contiguous seqs, same newly accepted and
// rejected seqs; once drained, same apply position, applied count,
// missing, skipped and rejected counts. The steps cover in-order,
// redelivered and overlapping batches, a reordered stream (7 before 6,
// then 6 and a duplicate 7), a gap never filled (given up after the gap
// wait, its seqs then refused), and a first seq far ahead.
func TestAcceptMatchesMemoryAgents(t *testing.T) {
	const res = "i-0abc"
	seqs := func(ss ...uint64) []mutation.Mutation {
		out := make([]mutation.Mutation, len(ss))
		for i, s := range ss {
			out[i] = mut(res, s, mutation.OpPut, fmt.Sprintf("k%d", s%3), fmt.Sprintf("v%d", s))
		}
		return out
	}
	steps := []struct {
		name       string
		advance    time.Duration
		batch      []mutation.Mutation
		accepted   int
		filled     int
		duplicates int
		rejected   []uint64
		through    uint64
		contiguous uint64
		opened     uint64
		// after draining
		appliedSeq uint64
		missing    uint64
		skipped    uint64
	}{
		{name: "fresh batch", batch: seqs(1, 2, 3), accepted: 3, through: 3, contiguous: 3, appliedSeq: 3},
		{name: "redelivered batch is all duplicates", batch: seqs(1, 2, 3), duplicates: 3, through: 3, contiguous: 3, appliedSeq: 3},
		{name: "overlapping batch accepts only the new part", batch: seqs(2, 3, 4, 5), accepted: 2, duplicates: 2, through: 5, contiguous: 5, appliedSeq: 5},
		{name: "7 before 6: 6 is missing and the worker waits", batch: seqs(7), accepted: 1, through: 7, contiguous: 5, opened: 1, appliedSeq: 5, missing: 1},
		{name: "the late 6 fills the gap, the repeated 7 is a duplicate", advance: time.Second, batch: seqs(6, 7), accepted: 1, filled: 1, duplicates: 1, through: 7, contiguous: 7, appliedSeq: 7},
		{name: "a gap opens (8, 9)", batch: seqs(10), accepted: 1, through: 10, contiguous: 7, opened: 2, appliedSeq: 7, missing: 2},
		{name: "just before the gap wait it is still waited for", advance: DefaultGapWait - time.Nanosecond, batch: seqs(10), duplicates: 1, through: 10, contiguous: 7, appliedSeq: 7, missing: 2},
		{name: "after the gap wait it is given up and skipped", advance: time.Nanosecond, batch: seqs(11), accepted: 1, through: 11, contiguous: 11, appliedSeq: 11, skipped: 2},
		{name: "its seqs then arrive late and are rejected", batch: seqs(8, 9, 12), accepted: 1, rejected: []uint64{8, 9}, through: 12, contiguous: 12, appliedSeq: 12, skipped: 2},
		{name: "first seq far ahead", batch: seqs(100), accepted: 1, through: 100, contiguous: 12, opened: 87, appliedSeq: 12, missing: 87, skipped: 2},
	}
	clk := clock.NewFake(t0)
	st := newTestStore(t, clk)
	mem := memory.NewAgents(memory.WithClock(clk))
	ep := mutation.Endpoint{InstanceID: "i-live"}
	rejected := uint64(0)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clk.Advance(s.advance)
			got, err := st.Accept(res, s.batch)
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			want, err := mem.Apply(t.Context(), ep, res, s.batch)
			if err != nil {
				t.Fatalf("memory apply: %v", err)
			}
			if got.Through != s.through || got.Contiguous != s.contiguous || got.Accepted != s.accepted || got.Filled != s.filled ||
				got.Duplicates != s.duplicates || !slices.Equal(got.Rejected, s.rejected) || got.Opened != s.opened {
				t.Errorf("got %+v\nwant through %d contiguous %d accepted %d filled %d duplicates %d rejected %v opened %d",
					got, s.through, s.contiguous, s.accepted, s.filled, s.duplicates, s.rejected, s.opened)
			}
			if got.Through != want.Through || got.Contiguous != want.Contiguous || got.Accepted != want.Accepted || !slices.Equal(got.Rejected, want.Rejected) {
				t.Errorf("memory.Agents acked %+v; the store %+v", want, got)
			}
			rejected += uint64(len(s.rejected))
			drainStore(t, st)
			status := st.Status(res)
			ms, err := mem.Sequences(ep.InstanceID, res)
			if err != nil {
				t.Fatal(err)
			}
			_, memApplied, _ := mem.Status(ep.InstanceID, res)
			if status.AppliedSeq != s.appliedSeq || status.Missing != s.missing || status.Skipped != s.skipped || status.Rejected != rejected {
				t.Errorf("status applied seq %d missing %d skipped %d rejected %d; want %d %d %d %d",
					status.AppliedSeq, status.Missing, status.Skipped, status.Rejected, s.appliedSeq, s.missing, s.skipped, rejected)
			}
			if status.AppliedSeq != ms.Applied || status.AppliedCount != memApplied || status.Missing != ms.Missing ||
				status.Skipped != ms.Skipped || status.Rejected != ms.Rejected || status.Backlog != ms.Backlog || status.ContiguousSeq != ms.Contiguous {
				t.Errorf("store status %+v; memory %+v applied %d", status, ms, memApplied)
			}
		})
	}
	// Applied in seq order, each once: the state of 1..7, 10..12.
	m := newModel()
	m.apply(seqs(1, 2, 3, 4, 5, 6, 7, 10, 11, 12)...)
	if d := st.Digest(res); d.Digest != m.digest() || st.Status(res).AppliedCount != 10 {
		t.Errorf("digest %s applied %d, want %s and 10", d.Digest, st.Status(res).AppliedCount, m.digest())
	}
	if memory.DefaultGapWait != DefaultGapWait {
		t.Errorf("memory.DefaultGapWait %s, the agent's %s", memory.DefaultGapWait, DefaultGapWait)
	}
}

func TestCheckBatch(t *testing.T) {
	const res = "i-0abc"
	bad := mut(res, 3, "frobnicate", "k", "v")
	cases := []struct {
		name  string
		res   string
		batch []mutation.Mutation
		ok    bool
	}{
		{"sorted", res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v"), mut(res, 3, mutation.OpDelete, "k", "")}, true},
		{"empty", res, nil, false},
		{"no resource", "", []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")}, false},
		{"reordered", res, []mutation.Mutation{mut(res, 2, mutation.OpPut, "k", "v"), mut(res, 1, mutation.OpPut, "k", "v")}, false},
		{"repeated seq", res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v"), mut(res, 1, mutation.OpPut, "k", "v")}, false},
		{"other resource", res, []mutation.Mutation{mut("i-other", 1, mutation.OpPut, "k", "v")}, false},
		{"invalid mutation", res, []mutation.Mutation{bad}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckBatch(c.res, c.batch)
			if (err == nil) != c.ok {
				t.Fatalf("CheckBatch = %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrBadBatch) {
				t.Errorf("error %v does not wrap ErrBadBatch", err)
			}
		})
	}
}

func TestApplyPutUpdateDeleteAndEmptyValue(t *testing.T) {
	const res = "i-0abc"
	st := newTestStore(t, clock.NewFake(t0))
	batch := []mutation.Mutation{
		mut(res, 1, mutation.OpPut, "a", "1"),
		mut(res, 2, mutation.OpPut, "b", ""), // an empty value is a value
		mut(res, 3, mutation.OpUpdate, "a", "2"),
		mut(res, 4, mutation.OpDelete, "missing", ""),
		mut(res, 5, mutation.OpPut, "c", "3"),
		mut(res, 6, mutation.OpDelete, "c", ""),
	}
	if _, err := st.Accept(res, batch); err != nil {
		t.Fatal(err)
	}
	drainStore(t, st)
	m := newModel()
	m.apply(batch...)
	d := st.Digest(res)
	if d.Keys != 2 || d.Digest != m.digest() || d.AppliedSeq != 6 {
		t.Fatalf("digest %+v, want 2 keys at seq 6 and %s", d, m.digest())
	}
	if s := st.Status(res); s.AppliedCount != 6 {
		t.Errorf("applied count %d, want 6 (a delete of a missing key still counts)", s.AppliedCount)
	}
}

// The incremental digest equals one computed from scratch, and two stores
// fed the same mutations in different batchings report the same digest
// and the same checkpoints.
func TestDigestIncrementalAndBatchingIndependent(t *testing.T) {
	const res = "i-0abc"
	muts := genMutations(1, res, 1, 3000, 50, 16)
	a := newTestStore(t, clock.NewFake(t0))
	b := newTestStore(t, clock.NewFake(t0))
	for i := 0; i < len(muts); i += 500 {
		if _, err := a.Accept(res, muts[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	drainStore(t, a)
	for i := 0; i < len(muts); i += 37 {
		if _, err := b.Accept(res, muts[i:min(i+37, len(muts))]); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ApplyPending(11); err != nil {
			t.Fatal(err)
		}
	}
	drainStore(t, b)
	m := newModel()
	m.apply(muts...)
	da, db := a.Digest(res), b.Digest(res)
	if da.Digest != m.digest() || db.Digest != m.digest() {
		t.Fatalf("digests %s and %s, from scratch %s", da.Digest, db.Digest, m.digest())
	}
	if len(da.Checkpoints) == 0 || fmt.Sprint(da.Checkpoints) != fmt.Sprint(db.Checkpoints) {
		t.Fatalf("checkpoints differ:\n%v\n%v", da.Checkpoints, db.Checkpoints)
	}
	// A checkpoint is the digest of the state holding exactly seq <= Seq.
	cp := da.Checkpoints[len(da.Checkpoints)-1]
	prefix := newModel()
	prefix.apply(muts[:cp.Seq]...)
	if cp.Digest != prefix.digest() {
		t.Errorf("checkpoint at %d = %s, state at that seq digests to %s", cp.Seq, cp.Digest, prefix.digest())
	}
	if len(da.Checkpoints) != 11 || cp.Seq != 2816 {
		t.Errorf("got %d checkpoints ending at %d, want 11 ending at 2816 (every 256)", len(da.Checkpoints), cp.Seq)
	}
}

func TestLogRetentionTrims(t *testing.T) {
	const res = "i-0abc"
	st := openTestStore(t, t.TempDir(), clock.NewFake(t0), StoreOptions{RetainEntries: 100})
	defer st.Close()
	muts := genMutations(2, res, 1, 1000, 10, 8)
	if _, err := st.Accept(res, muts); err != nil {
		t.Fatal(err)
	}
	drainStore(t, st)
	st.mu.RLock()
	m := st.res[res].meta
	st.mu.RUnlock()
	if m.Retained != 100 || m.TrimmedThrough != 900 {
		t.Fatalf("retained %d trimmed through %d, want 100 and 900", m.Retained, m.TrimmedThrough)
	}
}
