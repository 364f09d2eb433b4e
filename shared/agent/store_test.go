package agent

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/clock"
	"github.com/shadowscale/shadowscale/shared/mutation"
)

// The store accepts exactly like memory.Agents: same through, same newly
// accepted count, same applied total and gaps once drained, same state.
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
		batch      []mutation.Mutation
		accepted   int
		duplicates int
		through    uint64
		gaps       uint64
	}{
		{"fresh batch", seqs(1, 2, 3), 3, 0, 3, 0},
		{"redelivered batch is all duplicates", seqs(1, 2, 3), 0, 3, 3, 0},
		{"overlapping batch accepts only the new part", seqs(2, 3, 4, 5), 2, 2, 5, 0},
		{"gap is accepted and counted", seqs(6, 9, 10), 3, 0, 10, 2},
		{"late seq inside the gap is a duplicate", seqs(7, 8), 0, 2, 10, 0},
		{"first seq far ahead", seqs(100), 1, 0, 100, 89},
	}
	st := newTestStore(t, clock.NewFake(t0))
	mem := memory.NewAgents()
	ep := mutation.Endpoint{InstanceID: "i-live"}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := st.Accept(res, s.batch)
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			want, err := mem.Apply(t.Context(), ep, res, s.batch)
			if err != nil {
				t.Fatalf("memory apply: %v", err)
			}
			if got.Through != s.through || got.Accepted != s.accepted || got.Duplicates != s.duplicates || got.Gaps != s.gaps {
				t.Errorf("got through %d accepted %d duplicates %d gaps %d, want %d %d %d %d",
					got.Through, got.Accepted, got.Duplicates, got.Gaps, s.through, s.accepted, s.duplicates, s.gaps)
			}
			if got.Through != want.Through || got.Accepted != want.Accepted {
				t.Errorf("memory.Agents acked through %d accepted %d; the store %d %d", want.Through, want.Accepted, got.Through, got.Accepted)
			}
			// Drained after every step: the backlog is this batch's news,
			// and the applied total is what was applied before it.
			if got.Backlog != uint64(got.Accepted) || got.Applied != want.Applied-uint64(want.Accepted) {
				t.Errorf("ack backlog %d applied %d, want %d and %d", got.Backlog, got.Applied, got.Accepted, want.Applied-uint64(want.Accepted))
			}
			drainStore(t, st)
			last, applied, _ := mem.Status(ep.InstanceID, res)
			status := st.Status(res)
			if status.AppliedSeq != last || status.AppliedCount != applied || status.Gaps != mem.Gaps(ep.InstanceID, res) || status.Backlog != 0 {
				t.Errorf("status applied seq %d count %d gaps %d backlog %d; memory %d %d %d 0",
					status.AppliedSeq, status.AppliedCount, status.Gaps, status.Backlog, last, applied, mem.Gaps(ep.InstanceID, res))
			}
		})
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
