package agent

import (
	"sort"
	"time"
)

// HasReady reports whether some resource has entries the worker can apply
// now (not being imported, its next seq not missing in a gap still waited
// for).
func (s *Store) HasReady() bool {
	now := s.clock.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, st := range s.res {
		if s.ready(st, now) {
			return true
		}
	}
	return false
}

// NextGapDeadline is the earliest time an open gap of some resource will be
// given up on (its first-seen time plus the gap wait): the worker must look
// again by then.
func (s *Store) NextGapDeadline() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	found := false
	for _, st := range s.res {
		if d, ok := st.seqs.NextDeadline(s.opts.GapWait); ok && (!found || d.Before(next)) {
			next, found = d, true
		}
	}
	return next, found
}

// ResourceStatus is one resource as GET /v1/status reports it.
type ResourceStatus struct {
	Resource      string  `json:"resource"`
	Known         bool    `json:"known"`
	AcceptedSeq   uint64  `json:"accepted_seq"`
	AppliedSeq    uint64  `json:"applied_seq"`
	AcceptedCount uint64  `json:"accepted_count"`
	AppliedCount  uint64  `json:"applied_count"`
	Backlog       uint64  `json:"backlog"`
	AppliedRate   float64 `json:"applied_rate"`
	// ContiguousSeq: every seq at or below it is held or given up on.
	ContiguousSeq uint64 `json:"contiguous_seq"`
	// Missing seqs (below the accepted seq, waited for), in MissingGaps
	// gaps, the oldest first seen MissingOldestSeconds ago.
	Missing              uint64  `json:"missing"`
	MissingGaps          int     `json:"missing_gaps"`
	MissingOldestSeconds float64 `json:"missing_oldest_seconds"`
	// Skipped counts the seqs given up on (their gap expired), Rejected
	// the late arrivals refused since.
	Skipped  uint64 `json:"skipped"`
	Rejected uint64 `json:"rejected"`
	Keys     uint64 `json:"keys"`
	// Digest is the state digest at AppliedSeq (as GET /v1/digest).
	Digest       string    `json:"digest"`
	Imports      uint64    `json:"imports"`
	Importing    bool      `json:"importing"`
	LastImportAt time.Time `json:"last_import_at,omitzero"`
	FirstSeenAt  time.Time `json:"first_seen_at,omitzero"`
}

func (s *Store) statusLocked(name string, st *resState, now time.Time) ResourceStatus {
	m := st.meta
	oldest := 0.0
	if at, ok := st.seqs.OldestMissing(); ok {
		oldest = max(0, now.Sub(at).Seconds())
	}
	trk := st.seqs
	trk.High = m.AcceptedSeq
	return ResourceStatus{
		Resource: name, Known: true,
		AcceptedSeq: m.AcceptedSeq, AppliedSeq: m.AppliedSeq,
		AcceptedCount: m.AcceptedCount, AppliedCount: m.AppliedCount,
		Backlog: m.Pending, AppliedRate: st.meter.rate(now, s.openedAt),
		ContiguousSeq: trk.Contiguous(), Missing: trk.MissingCount(), MissingGaps: len(trk.Missing),
		MissingOldestSeconds: oldest, Skipped: m.Gaps, Rejected: m.Rejected,
		Keys: m.Keys, Digest: stateDigest(m.AppliedSeq, m.Keys, m.Acc),
		Imports: m.Imports, Importing: st.importing,
		LastImportAt: m.LastImportAt, FirstSeenAt: m.FirstSeenAt,
	}
}

// Status returns one resource's status; Known is false (and the counters
// zero) for a resource the agent never saw.
func (s *Store) Status(resource string) ResourceStatus {
	now := s.clock.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st, ok := s.res[resource]; ok {
		return s.statusLocked(resource, st, now)
	}
	return ResourceStatus{Resource: resource, Digest: stateDigest(0, 0, digestAcc{})}
}

// Statuses returns every resource's status, by name.
func (s *Store) Statuses() []ResourceStatus {
	now := s.clock.Now()
	s.mu.RLock()
	out := make([]ResourceStatus, 0, len(s.res))
	for name, st := range s.res {
		out = append(out, s.statusLocked(name, st, now))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

// OpenedAt is when the store was opened (the agent's start).
func (s *Store) OpenedAt() time.Time { return s.openedAt }

// DigestInfo is a resource's state digest at its applied seq.
type DigestInfo struct {
	Resource    string       `json:"resource"`
	Known       bool         `json:"known"`
	AppliedSeq  uint64       `json:"applied_seq"`
	Keys        uint64       `json:"keys"`
	Digest      string       `json:"digest"`
	Checkpoints []Checkpoint `json:"checkpoints"`
}

// Digest returns the digest of a resource's applied state (for an unknown
// resource: the digest of the empty state at seq 0).
func (s *Store) Digest(resource string) DigestInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.res[resource]
	if !ok {
		return DigestInfo{Resource: resource, Digest: stateDigest(0, 0, digestAcc{}), Checkpoints: []Checkpoint{}}
	}
	return DigestInfo{
		Resource: resource, Known: true,
		AppliedSeq: st.meta.AppliedSeq, Keys: st.meta.Keys,
		Digest:      stateDigest(st.meta.AppliedSeq, st.meta.Keys, st.meta.Acc),
		Checkpoints: append([]Checkpoint{}, st.ckpts...),
	}
}

// rateMeter counts applied mutations per second over the last minute.
type rateMeter struct {
	secs   [60]int64
	counts [60]uint64
}

func (r *rateMeter) add(now time.Time, n uint64) {
	if n == 0 {
		return
	}
	sec := now.Unix()
	i := int(uint64(sec) % 60)
	if r.secs[i] != sec {
		r.secs[i], r.counts[i] = sec, 0
	}
	r.counts[i] += n
}

// rate is mutations per second over the last minute, or over the time
// since start when that is shorter (at least one second).
func (r *rateMeter) rate(now, start time.Time) float64 {
	sec := now.Unix()
	var sum uint64
	for i, s := range r.secs {
		if s > sec-60 && s <= sec {
			sum += r.counts[i]
		}
	}
	window := min(60, max(1, now.Sub(start).Seconds()))
	return float64(sum) / window
}
