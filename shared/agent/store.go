package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/shadowscale/shadowscale/shared/clock"
	"github.com/shadowscale/shadowscale/shared/mutation"
)

// Store is the agent's durable state in one bbolt file: per resource, the
// log of accepted mutations, the applied key/value state and the counters.
//
// Layout (bucket names in quotes):
//
//	"resources" / <resource> / "meta"  JSON resMeta
//	                           "ckpt"  JSON []Checkpoint
//	                           "log"   bucket: seq (8 bytes BE) -> entry
//	                           "kv"    bucket: key -> 0x01 || value
//	"staging"   / <resource> / "kv", "log"   an import in progress
//
// Every change is one bbolt transaction, synced to disk before the call
// returns: an accept writes the log entries and the accepted seq together;
// the apply worker writes the state, the applied seq and the digest
// together. A crash at any point leaves either all of a transaction or none
// of it, so a redelivered batch is recognised by seq and nothing is applied
// twice.
//
// Applied entries stay in the log (up to StoreOptions.RetainEntries and
// RetainBytes per resource): an import replays the receiver's own entries
// above the snapshot's accepted seq onto the imported state, even those it
// had applied already.
type Store struct {
	db       *bolt.DB
	clock    clock.Clock
	opts     StoreOptions
	openedAt time.Time

	// wmu serialises write transactions with the publication of their
	// results in res, so res always matches the last commit.
	wmu sync.Mutex
	mu  sync.RWMutex
	res map[string]*resState
	rr  string // round-robin position of ApplyPending (under wmu)

	qmu   sync.Mutex
	queue []*acceptReq

	wake   chan struct{}
	closed bool // under mu

	// hookApply, set by tests only, is called after each entry applied
	// inside the worker's transaction; an error aborts the transaction as
	// a crash would.
	hookApply func(resource string, seq uint64) error
}

// StoreOptions tune a Store; zero values take the defaults.
type StoreOptions struct {
	// RetainEntries and RetainBytes bound the applied entries kept in a
	// resource's log (defaults 1,000,000 and 256 MiB). An import needs the
	// receiver's entries above the snapshot's accepted seq.
	RetainEntries uint64
	RetainBytes   uint64
	// CheckpointEvery: the digest is recorded at every multiple of this seq
	// (default 256); CheckpointKeep checkpoints are kept (default 64).
	CheckpointEvery uint64
	CheckpointKeep  int
	// MaxTxBytes bounds the log bytes of one group commit (default 64 MiB).
	MaxTxBytes int
	// MmapBytes is bbolt's initial mmap size (default 1 GiB): a long
	// snapshot export (a read transaction) does not block writers unless
	// the file outgrows it.
	MmapBytes int
}

func (o *StoreOptions) defaults() {
	if o.RetainEntries == 0 {
		o.RetainEntries = 1_000_000
	}
	if o.RetainBytes == 0 {
		o.RetainBytes = 256 << 20
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 256
	}
	if o.CheckpointKeep <= 0 {
		o.CheckpointKeep = 64
	}
	if o.MaxTxBytes <= 0 {
		o.MaxTxBytes = 64 << 20
	}
	if o.MmapBytes <= 0 {
		o.MmapBytes = 1 << 30
	}
}

// Errors of the Store. The server maps them to HTTP statuses.
var (
	// ErrNoResource: the agent holds nothing for the resource (404).
	ErrNoResource = errors.New("unknown resource")
	// ErrBadBatch: the batch itself is wrong (400).
	ErrBadBatch = errors.New("bad batch")
	// ErrConflict: an import cannot proceed now (409): another import of
	// the resource is running, or the receiver trimmed log entries the
	// snapshot does not cover. Export again and retry.
	ErrConflict = errors.New("conflict")
	// ErrClosed: the store is closed (503).
	ErrClosed = errors.New("store closed")
)

var (
	bResources = []byte("resources")
	bStaging   = []byte("staging")
	kMeta      = []byte("meta")
	kCkpt      = []byte("ckpt")
	bLog       = []byte("log")
	bKV        = []byte("kv")
)

// resMeta is a resource's durable counters.
type resMeta struct {
	AcceptedSeq    uint64    `json:"accepted_seq"`
	AppliedSeq     uint64    `json:"applied_seq"`
	AcceptedCount  uint64    `json:"accepted_count"`
	AppliedCount   uint64    `json:"applied_count"`
	Pending        uint64    `json:"pending"`
	Retained       uint64    `json:"retained"`
	RetainedBytes  uint64    `json:"retained_bytes"`
	TrimmedThrough uint64    `json:"trimmed_through"`
	Gaps           uint64    `json:"gaps"`
	Keys           uint64    `json:"keys"`
	Acc            digestAcc `json:"acc"`
	Imports        uint64    `json:"imports"`
	LastImportAt   time.Time `json:"last_import_at,omitzero"`
	FirstSeenAt    time.Time `json:"first_seen_at"`
}

// Checkpoint is the digest of a resource's state holding exactly the
// mutations with seq <= Seq. Checkpoints fall on multiples of a fixed
// interval, so two agents fed the same mutations record the same ones,
// whatever their batching: compare a live and a shadow at a common Seq.
type Checkpoint struct {
	Seq    uint64 `json:"seq"`
	Digest string `json:"digest"`
}

// resState is the in-memory mirror of one resource.
type resState struct {
	meta      resMeta
	ckpts     []Checkpoint
	meter     rateMeter
	importing bool
}

// OpenStore opens (creating if needed) the store at path. Leftovers of an
// interrupted import are discarded.
func OpenStore(path string, c clock.Clock, opts StoreOptions) (*Store, error) {
	opts.defaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         2 * time.Second,
		InitialMmapSize: opts.MmapBytes,
		FreelistType:    bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s := &Store{db: db, clock: c, opts: opts, openedAt: c.Now(), res: make(map[string]*resState), wake: make(chan struct{}, 1)}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bResources); err != nil {
			return err
		}
		if tx.Bucket(bStaging) != nil {
			if err := tx.DeleteBucket(bStaging); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(bStaging); err != nil {
			return err
		}
		return tx.Bucket(bResources).ForEachBucket(func(name []byte) error {
			rb := tx.Bucket(bResources).Bucket(name)
			st := &resState{}
			if err := json.Unmarshal(rb.Get(kMeta), &st.meta); err != nil {
				return fmt.Errorf("decoding meta of %s: %w", name, err)
			}
			if b := rb.Get(kCkpt); b != nil {
				if err := json.Unmarshal(b, &st.ckpts); err != nil {
					return fmt.Errorf("decoding checkpoints of %s: %w", name, err)
				}
			}
			s.res[string(name)] = st
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("loading store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the store; later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Wake is signalled when there may be new work for the apply worker.
func (s *Store) Wake() <-chan struct{} { return s.wake }

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// CheckBatch reports whether muts is a valid batch for resource: every
// mutation valid and of that resource, seqs strictly increasing.
func CheckBatch(resource string, muts []mutation.Mutation) error {
	if resource == "" || len(resource) > mutation.MaxResourceLen {
		return fmt.Errorf("%w: resource must be 1 to %d bytes", ErrBadBatch, mutation.MaxResourceLen)
	}
	if len(muts) == 0 {
		return fmt.Errorf("%w: no mutations", ErrBadBatch)
	}
	for i := range muts {
		m := &muts[i]
		if err := m.Validate(); err != nil {
			return fmt.Errorf("%w: mutation %d (seq %d): %w", ErrBadBatch, i, m.Seq, err)
		}
		if m.Resource != resource {
			return fmt.Errorf("%w: mutation %d (seq %d) is for another resource", ErrBadBatch, i, m.Seq)
		}
		if i > 0 && m.Seq <= muts[i-1].Seq {
			return fmt.Errorf("%w: mutation %d: seq %d after %d: a batch must be sorted by seq without repeats", ErrBadBatch, i, m.Seq, muts[i-1].Seq)
		}
	}
	return nil
}

// AcceptResult is the outcome of Accept: the fields of the Ack plus detail.
type AcceptResult struct {
	Through    uint64 // accepted high-water seq after the batch
	Accepted   int    // mutations newly accepted
	Duplicates int    // mutations at or below the previous high-water seq
	Gaps       uint64 // seqs skipped by this batch
	Applied    uint64 // running applied total
	Backlog    uint64 // accepted, not yet applied
}

type acceptReq struct {
	resource string
	muts     []mutation.Mutation
	size     int
	res      AcceptResult
	err      error
	done     bool
}

// Accept appends the batch's new mutations (seq above the resource's
// accepted high-water mark) to the resource's log and syncs before it
// returns. Concurrent calls are committed together (group commit).
func (s *Store) Accept(resource string, muts []mutation.Mutation) (AcceptResult, error) {
	if err := CheckBatch(resource, muts); err != nil {
		return AcceptResult{}, err
	}
	req := &acceptReq{resource: resource, muts: muts}
	for i := range muts {
		req.size += len(muts[i].Key) + len(muts[i].Value) + 32
	}
	s.qmu.Lock()
	s.queue = append(s.queue, req)
	s.qmu.Unlock()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	if req.done { // committed by another caller's group
		return req.res, req.err
	}
	s.qmu.Lock()
	var group []*acceptReq
	size := 0
	for len(s.queue) > 0 && (len(group) == 0 || size+s.queue[0].size <= s.opts.MaxTxBytes) {
		size += s.queue[0].size
		group = append(group, s.queue[0])
		s.queue = s.queue[1:]
	}
	if len(s.queue) == 0 {
		s.queue = nil
	}
	s.qmu.Unlock()
	s.commitAccepts(group)
	if !req.done { // not in the group: left for the next committer
		return s.acceptLocked(req)
	}
	return req.res, req.err
}

// acceptLocked commits one request that did not fit the group (wmu held).
func (s *Store) acceptLocked(req *acceptReq) (AcceptResult, error) {
	s.qmu.Lock()
	if i := slices.Index(s.queue, req); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
	}
	s.qmu.Unlock()
	s.commitAccepts([]*acceptReq{req})
	return req.res, req.err
}

func (s *Store) commitAccepts(group []*acceptReq) {
	fail := func(err error) {
		for _, r := range group {
			r.res, r.err, r.done = AcceptResult{}, err, true
		}
	}
	if s.isClosed() {
		fail(ErrClosed)
		return
	}
	now := s.clock.Now()
	work := make(map[string]*resMeta)
	results := make([]AcceptResult, len(group))
	err := s.db.Update(func(tx *bolt.Tx) error {
		clear(work)
		root := tx.Bucket(bResources)
		for gi, r := range group {
			rb := root.Bucket([]byte(r.resource))
			if rb == nil {
				var err error
				if rb, err = createResource(root, r.resource); err != nil {
					return err
				}
			}
			m := work[r.resource]
			if m == nil {
				m = new(resMeta)
				s.mu.RLock()
				if st := s.res[r.resource]; st != nil {
					*m = st.meta
				}
				s.mu.RUnlock()
				if m.FirstSeenAt.IsZero() {
					m.FirstSeenAt = now
				}
				work[r.resource] = m
			}
			log := rb.Bucket(bLog)
			log.FillPercent = 1.0 // seqs are appended in order
			res := AcceptResult{}
			for i := range r.muts {
				mu := &r.muts[i]
				if mu.Seq <= m.AcceptedSeq {
					res.Duplicates++
					continue
				}
				if err := log.Put(seqKey(mu.Seq), encodeEntry(mu)); err != nil {
					return fmt.Errorf("appending %s/%d: %w", r.resource, mu.Seq, err)
				}
				res.Gaps += mu.Seq - m.AcceptedSeq - 1
				m.Gaps += mu.Seq - m.AcceptedSeq - 1
				m.AcceptedSeq = mu.Seq
				m.AcceptedCount++
				m.Pending++
				res.Accepted++
			}
			res.Through, res.Applied, res.Backlog = m.AcceptedSeq, m.AppliedCount, m.Pending
			results[gi] = res
		}
		for name, m := range work {
			if err := putMeta(root.Bucket([]byte(name)), m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fail(fmt.Errorf("committing accepted mutations: %w", err))
		return
	}
	s.mu.Lock()
	for name, m := range work {
		st := s.res[name]
		if st == nil {
			st = &resState{}
			s.res[name] = st
		}
		st.meta = *m
	}
	s.mu.Unlock()
	for i, r := range group {
		r.res, r.err, r.done = results[i], nil, true
	}
	s.signal()
}

func createResource(root *bolt.Bucket, name string) (*bolt.Bucket, error) {
	rb, err := root.CreateBucket([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("creating resource %s: %w", name, err)
	}
	if _, err := rb.CreateBucket(bLog); err != nil {
		return nil, fmt.Errorf("creating log of %s: %w", name, err)
	}
	if _, err := rb.CreateBucket(bKV); err != nil {
		return nil, fmt.Errorf("creating state of %s: %w", name, err)
	}
	return rb, nil
}

func putMeta(rb *bolt.Bucket, m *resMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding meta: %w", err)
	}
	if err := rb.Put(kMeta, b); err != nil {
		return fmt.Errorf("writing meta: %w", err)
	}
	return nil
}

// ApplyPending applies up to limit accepted entries, taking resources in
// turn, in one transaction, and returns how many it applied. Resources
// being imported are skipped.
func (s *Store) ApplyPending(limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return 0, ErrClosed
	}
	s.mu.RLock()
	var ready []string
	for name, st := range s.res {
		if st.meta.Pending > 0 && !st.importing {
			ready = append(ready, name)
		}
	}
	s.mu.RUnlock()
	if len(ready) == 0 {
		return 0, nil
	}
	sort.Strings(ready)
	// Start after the resource served last, so none starves.
	start := sort.SearchStrings(ready, s.rr)
	if start < len(ready) && ready[start] == s.rr {
		start++
	}
	ready = append(ready[start:], ready[:start]...)

	var results map[string]*applyWork
	total := 0
	last := ""
	err := s.db.Update(func(tx *bolt.Tx) error {
		results = make(map[string]*applyWork)
		total = 0
		root := tx.Bucket(bResources)
		for _, name := range ready {
			if total >= limit {
				break
			}
			s.mu.RLock()
			st := s.res[name]
			r := &applyWork{meta: st.meta, ckpts: slices.Clone(st.ckpts)}
			s.mu.RUnlock()
			if err := s.applyResource(root.Bucket([]byte(name)), name, r, limit-total); err != nil {
				return err
			}
			results[name] = r
			total += r.n
			last = name
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("applying accepted mutations: %w", err)
	}
	s.rr = last
	now := s.clock.Now()
	s.mu.Lock()
	for name, r := range results {
		st := s.res[name]
		st.meta = r.meta
		st.ckpts = r.ckpts
		st.meter.add(now, uint64(r.n))
	}
	s.mu.Unlock()
	return total, nil
}

// applyWork is one resource's part of an apply transaction.
type applyWork struct {
	meta  resMeta
	ckpts []Checkpoint
	n     int
}

// applyResource applies up to max pending entries of one resource into w
// (inside the caller's transaction) and trims the log to the retention.
func (s *Store) applyResource(rb *bolt.Bucket, name string, w *applyWork, max int) error {
	if rb == nil {
		return fmt.Errorf("resource %s missing from the store", name)
	}
	log, kv := rb.Bucket(bLog), rb.Bucket(bKV)
	m := &w.meta
	every := s.opts.CheckpointEvery
	ckptChanged := false
	c := log.Cursor()
	for k, v := c.Seek(seqKey(m.AppliedSeq + 1)); k != nil && w.n < max; k, v = c.Next() {
		seq := seqFromKey(k)
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("reading log entry %s/%d: %w", name, seq, err)
		}
		// The state now holds exactly the entries <= b for the highest
		// checkpoint boundary b in [applied seq, seq).
		if b := (seq - 1) / every * every; b > 0 && b >= m.AppliedSeq && (len(w.ckpts) == 0 || w.ckpts[len(w.ckpts)-1].Seq < b) {
			w.ckpts = append(w.ckpts, Checkpoint{Seq: b, Digest: stateDigest(b, m.Keys, m.Acc)})
			if len(w.ckpts) > s.opts.CheckpointKeep {
				w.ckpts = slices.Delete(w.ckpts, 0, len(w.ckpts)-s.opts.CheckpointKeep)
			}
			ckptChanged = true
		}
		if err := applyEntry(kv, m, e); err != nil {
			return fmt.Errorf("applying %s/%d: %w", name, seq, err)
		}
		m.AppliedSeq = seq
		m.AppliedCount++
		m.Pending--
		m.Retained++
		m.RetainedBytes += uint64(len(v))
		w.n++
		if s.hookApply != nil {
			if err := s.hookApply(name, seq); err != nil {
				return err
			}
		}
	}
	if w.n < max && m.Pending > 0 {
		return fmt.Errorf("log of %s holds %d fewer pending entries than counted", name, m.Pending)
	}
	if err := trimLog(log, m, s.opts.RetainEntries, s.opts.RetainBytes); err != nil {
		return fmt.Errorf("trimming log of %s: %w", name, err)
	}
	if ckptChanged {
		b, err := json.Marshal(w.ckpts)
		if err != nil {
			return fmt.Errorf("encoding checkpoints: %w", err)
		}
		if err := rb.Put(kCkpt, b); err != nil {
			return fmt.Errorf("writing checkpoints of %s: %w", name, err)
		}
	}
	return putMeta(rb, m)
}

// applyEntry sets or deletes one key and keeps the key count and digest.
func applyEntry(kv *bolt.Bucket, m *resMeta, e entry) error {
	if old := kv.Get(e.key); old != nil {
		m.Acc.sub(e.key, old[1:])
		m.Keys--
	}
	if e.op == mutation.OpDelete {
		return kv.Delete(e.key)
	}
	v := make([]byte, 1+len(e.value))
	v[0] = 1 // never empty: bbolt cannot tell an empty value from a missing key
	copy(v[1:], e.value)
	if err := kv.Put(e.key, v); err != nil {
		return err
	}
	m.Acc.add(e.key, e.value)
	m.Keys++
	return nil
}

// trimLog deletes the oldest applied entries beyond the retention.
func trimLog(log *bolt.Bucket, m *resMeta, maxEntries, maxBytes uint64) error {
	c := log.Cursor()
	for m.Retained > maxEntries || m.RetainedBytes > maxBytes {
		k, v := c.First()
		if k == nil || seqFromKey(k) > m.AppliedSeq {
			return fmt.Errorf("log holds %d retained entries fewer than counted", m.Retained)
		}
		size := uint64(len(v))
		seq := seqFromKey(k)
		if err := c.Delete(); err != nil {
			return err
		}
		m.Retained--
		m.RetainedBytes -= min(size, m.RetainedBytes)
		m.TrimmedThrough = seq
	}
	return nil
}
