package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"

	"github.com/shadowscale/shadowscale/shared/agent/seqs"
)

// Export writes a snapshot of a resource: its state at the applied seq A
// and its pending log entries (A, H], all read in one transaction. It
// streams: memory stays bounded whatever the state's size.
func (s *Store) Export(resource string, w io.Writer) error {
	if s.isClosed() {
		return ErrClosed
	}
	tx, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("exporting %s: %w", resource, err)
	}
	defer tx.Rollback()
	rb := tx.Bucket(bResources).Bucket([]byte(resource))
	if rb == nil {
		return fmt.Errorf("exporting %s: %w", resource, ErrNoResource)
	}
	var m resMeta
	if err := json.Unmarshal(rb.Get(kMeta), &m); err != nil {
		return fmt.Errorf("exporting %s: decoding meta: %w", resource, err)
	}
	var ss seqState
	if b := rb.Get(kSeqs); b != nil {
		if err := json.Unmarshal(b, &ss); err != nil {
			return fmt.Errorf("exporting %s: decoding sequence state: %w", resource, err)
		}
	}
	sw, err := newSnapshotWriter(w)
	if err != nil {
		return err
	}
	if err := sw.header(snapshotHeader{
		Format: 1, Resource: resource,
		AppliedSeq: m.AppliedSeq, AcceptedSeq: m.AcceptedSeq,
		AppliedCount: m.AppliedCount, AcceptedCount: m.AcceptedCount,
		Gaps: m.Gaps, Keys: m.Keys, Pending: m.Pending, Acc: m.Acc,
		Missing: ss.Missing, Skipped: ss.Skipped, Floor: ss.Floor,
	}); err != nil {
		return err
	}
	c := rb.Bucket(bKV).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := sw.pair(k, v[1:]); err != nil {
			return err
		}
	}
	c = rb.Bucket(bLog).Cursor()
	for k, v := c.Seek(seqKey(m.AppliedSeq + 1)); k != nil; k, v = c.Next() {
		if err := sw.entry(seqFromKey(k), v); err != nil {
			return err
		}
	}
	return sw.end()
}

// ImportResult is the outcome of Import.
type ImportResult struct {
	Resource    string `json:"resource"`
	AppliedSeq  uint64 `json:"applied_seq"`  // the snapshot's applied seq
	AcceptedSeq uint64 `json:"accepted_seq"` // the receiver's accepted seq after import
	Backlog     uint64 `json:"backlog"`      // entries to apply after import
	Keys        uint64 `json:"keys"`
	Missing     uint64 `json:"missing"` // seqs missing after import (the sender's and the receiver's own above the snapshot)
	Kept        uint64 `json:"kept"`    // receiver's own entries above the snapshot kept
	Dropped     uint64 `json:"dropped"` // receiver's own entries at or below it dropped
	Digest      string `json:"digest"`  // digest of the imported state at AppliedSeq
}

// stagingBatchBytes bounds what one staging transaction writes.
const stagingBatchBytes = 4 << 20

// Import replaces a resource's state with a snapshot read from r: the
// snapshot's pairs become the state at its applied seq A, its pending
// entries (A, H] become the log, and the receiver's own log entries above
// H are kept on top (they are re-applied even if applied before: the
// state they were applied to is replaced); its own entries <= H are
// dropped. The sequence bookkeeping is the snapshot's up to H, then the
// receiver's above it (seqs.Merger). The snapshot is staged in bounded transactions, checked against
// its header, and swapped in with one transaction; while it runs the
// resource is not applied. A failed import changes nothing.
func (s *Store) Import(resource string, r io.Reader) (ImportResult, error) {
	if err := s.beginImport(resource); err != nil {
		return ImportResult{}, err
	}
	defer s.endImport(resource)

	sr, err := newSnapshotReader(r)
	if err != nil {
		return ImportResult{}, fmt.Errorf("importing %s: %w", resource, err)
	}
	h := sr.hdr
	if h.Resource != resource {
		return ImportResult{}, fmt.Errorf("importing %s: %w: snapshot is of resource %q", resource, ErrBadSnapshot, h.Resource)
	}
	if err := s.checkImportable(resource, h.AcceptedSeq); err != nil {
		return ImportResult{}, err
	}
	staged := false
	defer func() {
		if staged {
			_ = s.db.Update(func(tx *bolt.Tx) error {
				if tx.Bucket(bStaging).Bucket([]byte(resource)) != nil {
					return tx.Bucket(bStaging).DeleteBucket([]byte(resource))
				}
				return nil
			})
		}
	}()
	if err := s.db.Update(func(tx *bolt.Tx) error {
		_, err := createResource(tx.Bucket(bStaging), resource)
		return err
	}); err != nil {
		return ImportResult{}, fmt.Errorf("importing %s: staging: %w", resource, err)
	}
	staged = true
	if err := s.stage(resource, sr); err != nil {
		return ImportResult{}, fmt.Errorf("importing %s: %w", resource, err)
	}
	res, err := s.swapIn(resource, h)
	if err != nil {
		return ImportResult{}, fmt.Errorf("importing %s: %w", resource, err)
	}
	staged = false
	return res, nil
}

func (s *Store) beginImport(resource string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	st := s.res[resource]
	if st == nil {
		st = &resState{}
		s.res[resource] = st
	}
	if st.importing {
		return fmt.Errorf("importing %s: %w: another import of the resource is running", resource, ErrConflict)
	}
	st.importing = true
	return nil
}

func (s *Store) endImport(resource string) {
	s.mu.Lock()
	if st := s.res[resource]; st != nil {
		st.importing = false
		if st.meta.AcceptedSeq == 0 && st.meta.Imports == 0 {
			delete(s.res, resource) // the placeholder of a failed first import
		}
	}
	s.mu.Unlock()
	s.signal()
}

// checkImportable: the receiver must still hold every own entry above the
// snapshot's accepted seq.
func (s *Store) checkImportable(resource string, snapAccepted uint64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.res[resource]; st != nil && st.meta.TrimmedThrough > snapAccepted {
		return fmt.Errorf("importing %s: %w: receiver trimmed its log through seq %d, above the snapshot's accepted seq %d: export a newer snapshot", resource, ErrConflict, st.meta.TrimmedThrough, snapAccepted)
	}
	return nil
}

// stage writes the snapshot's pairs and entries into the staging buckets in
// bounded transactions, and reads through the end record (which checks the
// counts and the digest).
func (s *Store) stage(resource string, sr *snapshotReader) error {
	type kvPair struct{ k, v []byte }
	var (
		pairs   []kvPair
		entries []kvPair
		size    int
	)
	flush := func() error {
		if len(pairs) == 0 && len(entries) == 0 {
			return nil
		}
		err := s.db.Update(func(tx *bolt.Tx) error {
			sb := tx.Bucket(bStaging).Bucket([]byte(resource))
			kv, log := sb.Bucket(bKV), sb.Bucket(bLog)
			kv.FillPercent, log.FillPercent = 1.0, 1.0 // both arrive in key order
			for _, p := range pairs {
				if err := kv.Put(p.k, p.v); err != nil {
					return err
				}
			}
			for _, e := range entries {
				if err := log.Put(e.k, e.v); err != nil {
					return err
				}
			}
			return nil
		})
		pairs, entries, size = pairs[:0], entries[:0], 0
		if err != nil {
			return fmt.Errorf("staging: %w", err)
		}
		return nil
	}
	for {
		it, err := sr.read()
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			return err
		}
		switch it.kind {
		case recPair:
			v := make([]byte, 1+len(it.value))
			v[0] = 1
			copy(v[1:], it.value)
			pairs = append(pairs, kvPair{append([]byte(nil), it.key...), v})
			size += len(it.key) + len(v)
		case recLog:
			entries = append(entries, kvPair{seqKey(it.seq), append([]byte(nil), it.entry...)})
			size += 8 + len(it.entry)
		}
		if size >= stagingBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// swapIn replaces the resource's state and log by the staged ones in one
// transaction, carrying over the receiver's own entries above the
// snapshot's accepted seq.
func (s *Store) swapIn(resource string, h snapshotHeader) (ImportResult, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return ImportResult{}, ErrClosed
	}
	if err := s.checkImportable(resource, h.AcceptedSeq); err != nil {
		return ImportResult{}, err
	}
	s.mu.RLock()
	old, oldTrk := s.res[resource].meta, s.res[resource].tracker()
	s.mu.RUnlock()
	now := s.clock.Now()
	merge := seqs.NewMerger(h.tracker(), oldTrk)
	m := resMeta{
		AcceptedSeq:    h.AcceptedSeq,
		AppliedSeq:     h.AppliedSeq,
		AcceptedCount:  h.AcceptedCount,
		AppliedCount:   h.AppliedCount,
		Pending:        h.Pending,
		TrimmedThrough: h.AppliedSeq,
		Gaps:           h.Gaps,
		Rejected:       old.Rejected,
		Keys:           h.Keys,
		Acc:            h.Acc,
		Imports:        old.Imports + 1,
		LastImportAt:   now,
		FirstSeenAt:    old.FirstSeenAt,
	}
	if m.FirstSeenAt.IsZero() {
		m.FirstSeenAt = now
	}
	// First transaction: copy the receiver's own entries above H into the
	// staged log. (bbolt's MoveBucket carries a bucket's committed content
	// only, so the staged buckets must not change in the transaction that
	// moves them.) wmu is held throughout: no accept slips in between.
	var kept, dropped uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		kept, dropped = 0, 0
		rb := tx.Bucket(bResources).Bucket([]byte(resource))
		if rb == nil {
			return nil
		}
		newLog := tx.Bucket(bStaging).Bucket([]byte(resource)).Bucket(bLog)
		newLog.FillPercent = 1.0
		c := rb.Bucket(bLog).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq := seqFromKey(k)
			if seq <= h.AcceptedSeq {
				if seq > old.AppliedSeq {
					dropped++ // pending here, superseded by the snapshot
				}
				continue
			}
			if err := newLog.Put(k, append([]byte(nil), v...)); err != nil {
				return err
			}
			if err := merge.Keep(seq); err != nil {
				return err
			}
			kept++
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("carrying the receiver's entries over: %w", err)
	}
	trk := merge.Done()
	trk.Expire(now, s.opts.GapWait)
	m.AcceptedSeq, m.Gaps = trk.High, trk.GivenUp
	m.AcceptedCount += kept
	m.Pending += kept
	// Second transaction: swap the staged state and log in.
	err = s.db.Update(func(tx *bolt.Tx) error {
		root, staging := tx.Bucket(bResources), tx.Bucket(bStaging)
		rb := root.Bucket([]byte(resource))
		if rb == nil {
			var err error
			if rb, err = root.CreateBucket([]byte(resource)); err != nil {
				return err
			}
		} else {
			for _, b := range [][]byte{bLog, bKV} {
				if err := rb.DeleteBucket(b); err != nil {
					return err
				}
			}
			if err := rb.Delete(kCkpt); err != nil {
				return err
			}
		}
		sb := staging.Bucket([]byte(resource))
		for _, b := range [][]byte{bLog, bKV} {
			if err := sb.MoveBucket(b, rb); err != nil {
				return fmt.Errorf("moving staged %s: %w", b, err)
			}
		}
		if err := staging.DeleteBucket([]byte(resource)); err != nil {
			return err
		}
		if err := putSeqs(rb, &trk); err != nil {
			return err
		}
		return putMeta(rb, &m)
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("swapping in the snapshot: %w", err)
	}
	s.mu.Lock()
	st := s.res[resource]
	st.meta, st.seqs = m, trk
	st.ckpts = nil
	s.mu.Unlock()
	return ImportResult{
		Resource: resource, AppliedSeq: m.AppliedSeq, AcceptedSeq: m.AcceptedSeq,
		Backlog: m.Pending, Keys: m.Keys, Missing: trk.MissingCount(), Kept: kept, Dropped: dropped,
		Digest: stateDigest(m.AppliedSeq, m.Keys, m.Acc),
	}, nil
}
