package agent

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

var errCrash = errors.New("simulated crash")

// Crash points of the agent, simulated by aborting the transaction in
// flight (bbolt commits all of it or nothing) and closing and reopening
// the store; then the batch is redelivered, as the fan-out would. The
// state must end exactly as if every mutation was applied once.
func TestRestartAtWorstPoints(t *testing.T) {
	const res = "i-0abc"
	batches := [][]mutation.Mutation{
		genMutations(11, res, 1, 400, 30, 16),
		genMutations(11, res, 401, 400, 30, 16),
		genMutations(11, res, 801, 400, 30, 16),
	}
	var all []mutation.Mutation
	for _, b := range batches {
		all = append(all, b...)
	}
	want := newModel()
	want.apply(all...)

	cases := []struct {
		name string
		// crash runs against the open store, then the test closes and
		// reopens it; it returns the index of the batch in flight.
		crash func(t *testing.T, s *Store) int
	}{
		{"after the accept is synced, before the ack is sent", func(t *testing.T, s *Store) int {
			accept(t, s, res, batches[0])
			accept(t, s, res, batches[1]) // the ack is lost with the process
			return 1
		}},
		{"in the middle of applying a transaction", func(t *testing.T, s *Store) int {
			accept(t, s, res, batches[0])
			accept(t, s, res, batches[1])
			s.hookApply = func(_ string, seq uint64) error {
				if seq == 650 {
					return errCrash
				}
				return nil
			}
			if _, err := s.ApplyPending(1000); !errors.Is(err, errCrash) {
				t.Fatalf("apply: %v, want the crash", err)
			}
			return 1
		}},
		{"after some transactions applied, the next one cut", func(t *testing.T, s *Store) int {
			accept(t, s, res, batches[0])
			applyN(t, s, 300)
			accept(t, s, res, batches[1])
			s.hookApply = func(_ string, seq uint64) error {
				if seq == 500 {
					return errCrash
				}
				return nil
			}
			if _, err := s.ApplyPending(1000); !errors.Is(err, errCrash) {
				t.Fatalf("apply: %v, want the crash", err)
			}
			return 2
		}},
		{"in the middle of an import", func(t *testing.T, s *Store) int {
			accept(t, s, res, batches[0])
			applyN(t, s, 100)
			src := newTestStore(t, clock.NewFake(t0))
			accept(t, src, res, batches[0])
			drainStore(t, src)
			snap := exportBytes(t, src, res)
			if _, err := s.Import(res, bytes.NewReader(snap[:len(snap)/2])); !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("cut import: %v", err)
			}
			// A crash mid-import leaves a staging bucket behind.
			if err := s.db.Update(func(tx *bolt.Tx) error {
				_, err := createResource(tx.Bucket(bStaging), res)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openTestStore(t, dir, clock.NewFake(t0), StoreOptions{})
			inflight := c.crash(t, s)
			before := s.Status(res)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTestStore(t, dir, clock.NewFake(t0), StoreOptions{})
			defer s.Close()
			if n := stagingCount(t, s); n != 0 {
				t.Errorf("%d staging buckets survived the restart", n)
			}
			after := s.Status(res)
			after.AppliedRate, before.AppliedRate = 0, 0
			if after != before {
				t.Fatalf("restart changed the durable status:\nbefore %+v\nafter  %+v", before, after)
			}
			// Redeliver from the batch in flight on (and, harmlessly, one before).
			for i := max(0, inflight-1); i < len(batches); i++ {
				r, err := s.Accept(res, batches[i])
				if err != nil {
					t.Fatal(err)
				}
				if i < inflight && r.Accepted != 0 {
					t.Errorf("batch %d was acked before the crash but %d of it was accepted again", i, r.Accepted)
				}
			}
			drainStore(t, s)
			got := s.Status(res)
			if d := s.Digest(res); d.Digest != want.digest() || got.AppliedCount != want.applied || got.AppliedSeq != want.last {
				t.Fatalf("after redelivery: applied %d at %d digest %s; want %d at %d digest %s",
					got.AppliedCount, got.AppliedSeq, d.Digest, want.applied, want.last, want.digest())
			}
		})
	}
}

func TestClosedStoreRefuses(t *testing.T) {
	s := openTestStore(t, t.TempDir(), clock.NewFake(t0), StoreOptions{})
	s.Close()
	if _, err := s.Accept("r", []mutation.Mutation{mut("r", 1, mutation.OpPut, "k", "v")}); !errors.Is(err, ErrClosed) {
		t.Errorf("accept after close: %v", err)
	}
	if _, err := s.ApplyPending(10); !errors.Is(err, ErrClosed) {
		t.Errorf("apply after close: %v", err)
	}
	if err := s.Export("r", &bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Errorf("export after close: %v", err)
	}
}
