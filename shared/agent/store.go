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

	"github.com/shadowscale/shadowscale/shared/agent/seqs"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Store is the agent's durable state in one bbolt file: per resource, the
// log of accepted mutations, the applied key/value state and the counters.
//
// Layout (bucket names in quotes):
//
//	"resources" / <resource> / "meta"  JSON resMeta
//	                           "seqs"  JSON seqState: missing gaps, given-up ranges
//	                           "ckpt"  JSON []Checkpoint
//	                           "log"   bucket: seq (8 bytes BE) -> entry
//	                           "kv"    bucket: key -> 0x01 || value
//	"staging"   / <resource> / "kv", "log"   an import in progress
//
// Mutations may arrive out of seq order: per resource a seqs.Tracker
// remembers the missing seqs below the highest accepted (with the time each
// gap was first seen) and the seqs given up on; the apply worker applies in
// seq order, waits at a missing seq until it arrives or until GapWait has
// passed since its gap was first seen, then skips it.
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
	// GapWait is how long a missing seq is waited for, from when its gap
	// was first seen, before it is given up on (default DefaultGapWait).
	GapWait time.Duration
}

// DefaultGapWait is how long the agent waits for a missing seq by default.
const DefaultGapWait = 30 * time.Second

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
	if o.GapWait <= 0 {
		o.GapWait = DefaultGapWait
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
	kSeqs      = []byte("seqs")
	kCkpt      = []byte("ckpt")
	bLog       = []byte("log")
	bKV        = []byte("kv")
)

// resMeta is a resource's durable counters. AcceptedSeq is the highest seq
// accepted; AppliedSeq the worker's position: every seq at or below it is
// applied or was given up on. Gaps counts the seqs given up on, Rejected
// the late arrivals refused.
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
	Rejected       uint64    `json:"rejected,omitempty"`
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

// seqState is the durable part of a seqs.Tracker beyond resMeta (whose
// AcceptedSeq and Gaps are the tracker's High and GivenUp; resState.seqs
// keeps them equal).
type seqState struct {
	Missing []seqs.Gap   `json:"missing,omitempty"`
	Skipped []seqs.Range `json:"skipped,omitempty"`
	Floor   uint64       `json:"floor,omitempty"`
}

// resState is the in-memory mirror of one resource.
type resState struct {
	meta      resMeta
	seqs      seqs.Tracker // High and GivenUp equal meta's AcceptedSeq and Gaps
	ckpts     []Checkpoint
	meter     rateMeter
	importing bool
}

// tracker returns a copy of the resource's tracker, High and GivenUp from m.
func (st *resState) tracker() seqs.Tracker {
	t := st.seqs.Clone()
	t.High, t.GivenUp = st.meta.AcceptedSeq, st.meta.Gaps
	return t
}

func putSeqs(rb *bolt.Bucket, t *seqs.Tracker) error {
	if len(t.Missing) == 0 && len(t.Skipped) == 0 && t.Floor == 0 {
		if err := rb.Delete(kSeqs); err != nil {
			return fmt.Errorf("writing sequence state: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(seqState{Missing: t.Missing, Skipped: t.Skipped, Floor: t.Floor})
	if err != nil {
		return fmt.Errorf("encoding sequence state: %w", err)
	}
	if err := rb.Put(kSeqs, b); err != nil {
		return fmt.Errorf("writing sequence state: %w", err)
	}
	return nil
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
			var ss seqState
			if b := rb.Get(kSeqs); b != nil {
				if err := json.Unmarshal(b, &ss); err != nil {
					return fmt.Errorf("decoding sequence state of %s: %w", name, err)
				}
			}
			st.seqs = seqs.Tracker{High: st.meta.AcceptedSeq, Missing: ss.Missing, Skipped: ss.Skipped, Floor: ss.Floor, GivenUp: st.meta.Gaps}
			if err := st.seqs.Validate(st.meta.AppliedSeq); err != nil {
				return fmt.Errorf("sequence state of %s: %w", name, err)
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
	Through    uint64 // highest seq accepted, after the batch
	Contiguous uint64 // every seq at or below it is held or given up on
	Accepted   int    // mutations newly accepted (Filled included)
	Filled     int    // of which filled a missing seq
	Duplicates int    // mutations already held
	// Rejected are the batch's seqs refused: they arrived after their gap
	// was given up on (skipped). Never applied.
	Rejected []uint64
	Opened   uint64 // seqs this batch left missing (new gaps)
	Missing  uint64 // seqs missing now
	Applied  uint64 // running applied total
	Backlog  uint64 // accepted, not yet applied
}

type acceptReq struct {
	resource string
	muts     []mutation.Mutation
	size     int
	res      AcceptResult
	err      error
	done     bool
}

// Accept appends the batch's new mutations (above the highest seq accepted,
// or filling a missing seq) to the resource's log and syncs before it
// returns; it refuses the seqs given up on (AcceptResult.Rejected) and
// acknowledges the rest as duplicates. Concurrent calls are committed
// together (group commit).
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
	work := make(map[string]*resWork)
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
			w := work[r.resource]
			if w == nil {
				w = new(resWork)
				s.mu.RLock()
				if st := s.res[r.resource]; st != nil {
					w.meta, w.trk = st.meta, st.tracker()
				}
				s.mu.RUnlock()
				if w.meta.FirstSeenAt.IsZero() {
					w.meta.FirstSeenAt = now
				}
				// Gaps past their wait are given up before the batch is
				// classified: their seqs arrive late from now on.
				w.seqsDirty = w.trk.Expire(now, s.opts.GapWait) > 0
				work[r.resource] = w
			}
			m, trk := &w.meta, &w.trk
			log := rb.Bucket(bLog)
			log.FillPercent = 1.0 // seqs are mostly appended in order
			res := AcceptResult{}
			for i := range r.muts {
				mu := &r.muts[i]
				high := trk.High
				v, changed := trk.Accept(mu.Seq, now)
				w.seqsDirty = w.seqsDirty || changed
				switch v {
				case seqs.Duplicate:
					res.Duplicates++
					continue
				case seqs.Late:
					res.Rejected = append(res.Rejected, mu.Seq)
					m.Rejected++
					continue
				case seqs.New:
					res.Opened += mu.Seq - high - 1
				case seqs.Filled:
					res.Filled++
				}
				if err := log.Put(seqKey(mu.Seq), encodeEntry(mu)); err != nil {
					return fmt.Errorf("appending %s/%d: %w", r.resource, mu.Seq, err)
				}
				m.AcceptedCount++
				m.Pending++
				res.Accepted++
			}
			m.AcceptedSeq, m.Gaps = trk.High, trk.GivenUp
			res.Through, res.Contiguous, res.Missing = trk.High, trk.Contiguous(), trk.MissingCount()
			res.Applied, res.Backlog = m.AppliedCount, m.Pending
			results[gi] = res
		}
		for name, w := range work {
			rb := root.Bucket([]byte(name))
			if err := putMeta(rb, &w.meta); err != nil {
				return err
			}
			if w.seqsDirty {
				if err := putSeqs(rb, &w.trk); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		fail(fmt.Errorf("committing accepted mutations: %w", err))
		return
	}
	s.mu.Lock()
	for name, w := range work {
		st := s.res[name]
		if st == nil {
			st = &resState{}
			s.res[name] = st
		}
		st.meta, st.seqs = w.meta, w.trk
	}
	s.mu.Unlock()
	for i, r := range group {
		r.res, r.err, r.done = results[i], nil, true
	}
	s.signal()
}

// resWork is one resource's part of an accept transaction.
type resWork struct {
	meta      resMeta
	trk       seqs.Tracker
	seqsDirty bool
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

// ready reports whether the worker can make progress on a resource at now:
// entries pending, not under import, and the next seq not missing in a gap
// still waited for.
func (s *Store) ready(st *resState, now time.Time) bool {
	return st.meta.Pending > 0 && !st.importing && !st.seqs.Blocked(st.meta.AppliedSeq, now, s.opts.GapWait)
}

// ApplyPending applies up to limit accepted entries, taking resources in
// turn, in one transaction, and returns how many it applied. Each resource
// is applied in seq order from its applied seq: a seq given up on is
// skipped, a missing seq stops it until the seq arrives or its gap expires
// (GapWait after it was first seen). Resources being imported are skipped.
func (s *Store) ApplyPending(limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return 0, ErrClosed
	}
	now := s.clock.Now()
	s.mu.RLock()
	var ready []string
	for name, st := range s.res {
		if s.ready(st, now) {
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
			r := &applyWork{meta: st.meta, trk: st.tracker(), ckpts: slices.Clone(st.ckpts)}
			s.mu.RUnlock()
			if err := s.applyResource(root.Bucket([]byte(name)), name, r, limit-total, now); err != nil {
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
	s.mu.Lock()
	for name, r := range results {
		st := s.res[name]
		st.meta, st.seqs = r.meta, r.trk
		st.ckpts = r.ckpts
		st.meter.add(now, uint64(r.n))
	}
	s.mu.Unlock()
	return total, nil
}

// applyWork is one resource's part of an apply transaction.
type applyWork struct {
	meta      resMeta
	trk       seqs.Tracker
	seqsDirty bool
	ckpts     []Checkpoint
	ckptDirty bool
	n         int
}

// checkpoint is called before the applied seq moves from A to to (applying
// to, or skipping through it): the state holds exactly the seqs <= b for
// every b in [A, to), so the highest checkpoint boundary there is recorded.
func (s *Store) checkpoint(w *applyWork, to uint64) {
	m := &w.meta
	every := s.opts.CheckpointEvery
	if b := (to - 1) / every * every; b > 0 && b >= m.AppliedSeq && (len(w.ckpts) == 0 || w.ckpts[len(w.ckpts)-1].Seq < b) {
		w.ckpts = append(w.ckpts, Checkpoint{Seq: b, Digest: stateDigest(b, m.Keys, m.Acc)})
		if len(w.ckpts) > s.opts.CheckpointKeep {
			w.ckpts = slices.Delete(w.ckpts, 0, len(w.ckpts)-s.opts.CheckpointKeep)
		}
		w.ckptDirty = true
	}
}

// applyResource applies up to max pending entries of one resource into w
// (inside the caller's transaction), in seq order: it skips the seqs given
// up on (expiring the gaps past their wait first) and stops at a missing
// seq. Then it trims the log to the retention.
func (s *Store) applyResource(rb *bolt.Bucket, name string, w *applyWork, max int, now time.Time) error {
	if rb == nil {
		return fmt.Errorf("resource %s missing from the store", name)
	}
	log, kv := rb.Bucket(bLog), rb.Bucket(bKV)
	m, trk := &w.meta, &w.trk
	w.seqsDirty = trk.Expire(now, s.opts.GapWait) > 0
	c := log.Cursor()
	k, v := c.Seek(seqKey(m.AppliedSeq + 1))
	for w.n < max && m.AppliedSeq < trk.High {
		next := m.AppliedSeq + 1
		if k != nil && seqFromKey(k) == next {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("reading log entry %s/%d: %w", name, next, err)
			}
			s.checkpoint(w, next)
			if err := applyEntry(kv, m, e); err != nil {
				return fmt.Errorf("applying %s/%d: %w", name, next, err)
			}
			m.AppliedSeq = next
			m.AppliedCount++
			m.Pending--
			m.Retained++
			m.RetainedBytes += uint64(len(v))
			w.n++
			if s.hookApply != nil {
				if err := s.hookApply(name, next); err != nil {
					return err
				}
			}
			k, v = c.Next()
			continue
		}
		step, through := trk.Next(next)
		if step == seqs.Wait {
			break
		}
		if step != seqs.Skip {
			return fmt.Errorf("log of %s lacks seq %d, which is neither missing nor given up", name, next)
		}
		if k != nil && seqFromKey(k) <= through {
			return fmt.Errorf("log of %s holds seq %d, which was given up on", name, seqFromKey(k))
		}
		s.checkpoint(w, through)
		m.AppliedSeq = through
	}
	if m.AppliedSeq == trk.High && m.Pending > 0 {
		return fmt.Errorf("log of %s holds %d fewer pending entries than counted", name, m.Pending)
	}
	if trk.Forget(m.AppliedSeq) {
		w.seqsDirty = true
	}
	m.Gaps = trk.GivenUp
	if err := trimLog(log, m, s.opts.RetainEntries, s.opts.RetainBytes); err != nil {
		return fmt.Errorf("trimming log of %s: %w", name, err)
	}
	if w.seqsDirty {
		if err := putSeqs(rb, trk); err != nil {
			return err
		}
	}
	if w.ckptDirty {
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
