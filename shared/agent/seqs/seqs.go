// Package seqs is the per-resource sequence bookkeeping of the shadow agent
// (shared/agent) and of its in-memory twin (shared/adapters/memory), so both
// classify arriving mutations identically (docs/AGENT.md, "Sequences").
//
// A resource's mutations carry a per-resource seq, but they may arrive out
// of order: a Kinesis producer whose PutRecords partially fails and retries
// only the failed records puts seq 6 on the stream before seq 5. So the
// Tracker remembers, besides the highest seq accepted, the seqs below it that
// are missing (each gap with the time it was first seen) and the seqs it gave
// up on (skipped after waiting for them), and classifies every arriving seq:
//
//   - above the highest: New (the seqs in between become missing);
//   - missing: Filled (a late arrival within the wait);
//   - given up on: Late (refused: it arrived after its gap was skipped);
//   - anything else at or below the highest: Duplicate.
//
// A missing seq is given up on once the gap wait has passed since its gap
// was first seen (Expire), whether or not the apply worker has reached it:
// the decision depends on time only, so a live agent and its lagging shadow,
// which see a gap at about the same time, decide alike.
//
// The package is pure: time comes from the caller.
package seqs

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Bounds of a Tracker.
const (
	// MaxMissing bounds the missing gaps tracked at once; opening one more
	// gives up the lowest gap at once.
	MaxMissing = 4096
	// MaxSkipped bounds the given-up ranges remembered at or below the
	// applied seq; older ones are forgotten and raise Floor.
	MaxSkipped = 4096
)

// Range is the seqs From..To, both included, From <= To.
type Range struct {
	From, To uint64
}

// Len is the number of seqs in r.
func (r Range) Len() uint64 { return r.To - r.From + 1 }

func (r Range) has(seq uint64) bool { return seq >= r.From && seq <= r.To }

// Gap is a missing range and when it was first seen.
type Gap struct {
	Range
	Since time.Time
}

// Verdict classifies one arriving seq.
type Verdict uint8

// The verdicts.
const (
	// Duplicate: already held (at or below the highest, not missing, not
	// given up): acknowledged, not accepted again.
	Duplicate Verdict = iota
	// New: above the highest seq; accepted.
	New
	// Filled: a missing seq; accepted.
	Filled
	// Late: a seq given up on (its gap was skipped), or one at or below
	// Floor that is not held for sure: refused.
	Late
)

func (v Verdict) String() string {
	switch v {
	case Duplicate:
		return "duplicate"
	case New:
		return "new"
	case Filled:
		return "filled"
	case Late:
		return "late"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Tracker is one resource's sequence bookkeeping. Invariants (Validate):
// Missing and Skipped are sorted, disjoint, every range non-empty; every
// missing or skipped seq is below High (which is held); two
// skipped ranges never touch (they are merged). The zero Tracker is a
// resource that received nothing.
type Tracker struct {
	// High is the highest seq accepted.
	High uint64
	// Missing are the gaps below High waiting for a late arrival.
	Missing []Gap
	// Skipped are the seqs given up on, as ranges.
	Skipped []Range
	// Floor: given-up ranges at or below it were forgotten (beyond
	// MaxSkipped); an arriving seq at or below Floor cannot be told from a
	// duplicate and is classified Late, never silently dropped.
	Floor uint64
	// GivenUp counts the seqs ever given up on (saturating).
	GivenUp uint64
}

// Clone returns a deep copy.
func (t Tracker) Clone() Tracker {
	t.Missing = slices.Clone(t.Missing)
	t.Skipped = slices.Clone(t.Skipped)
	return t
}

// Contiguous is the highest seq at or below which every seq is held or given
// up on: just below the first missing seq, or High.
func (t *Tracker) Contiguous() uint64 {
	if len(t.Missing) > 0 {
		return t.Missing[0].From - 1
	}
	return t.High
}

// MissingCount is the number of missing seqs (saturating).
func (t *Tracker) MissingCount() uint64 {
	var n uint64
	for _, g := range t.Missing {
		n = satAdd(n, g.Len())
	}
	return n
}

// OldestMissing is when the oldest open gap was first seen.
func (t *Tracker) OldestMissing() (time.Time, bool) {
	var oldest time.Time
	for i, g := range t.Missing {
		if i == 0 || g.Since.Before(oldest) {
			oldest = g.Since
		}
	}
	return oldest, len(t.Missing) > 0
}

// NextDeadline is the earliest time a missing gap will be given up on.
func (t *Tracker) NextDeadline(wait time.Duration) (time.Time, bool) {
	at, ok := t.OldestMissing()
	return at.Add(wait), ok
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

// findMissing returns the index of the gap holding seq, or -1.
func (t *Tracker) findMissing(seq uint64) int {
	i := sort.Search(len(t.Missing), func(i int) bool { return t.Missing[i].To >= seq })
	if i < len(t.Missing) && t.Missing[i].From <= seq {
		return i
	}
	return -1
}

// findSkipped returns the index of the skipped range holding seq, or -1.
func (t *Tracker) findSkipped(seq uint64) int {
	i := sort.Search(len(t.Skipped), func(i int) bool { return t.Skipped[i].To >= seq })
	if i < len(t.Skipped) && t.Skipped[i].From <= seq {
		return i
	}
	return -1
}

// Classify tells what Accept would answer for seq, changing nothing.
func (t *Tracker) Classify(seq uint64) Verdict {
	switch {
	case seq > t.High:
		return New
	case len(t.Missing) > 0 && t.findMissing(seq) >= 0:
		return Filled
	case seq <= t.Floor || (len(t.Skipped) > 0 && t.findSkipped(seq) >= 0):
		return Late
	}
	return Duplicate
}

// Accept classifies an arriving seq (>= 1) and records it: New raises High
// and opens a gap (first seen at now) for the seqs in between; Filled takes
// seq out of its gap. Duplicate and Late change nothing. It reports whether
// Missing or Skipped changed.
func (t *Tracker) Accept(seq uint64, now time.Time) (Verdict, bool) {
	if seq > t.High {
		changed := false
		if seq > t.High+1 {
			if len(t.Missing) >= MaxMissing {
				t.giveUp(0)
			}
			t.Missing = append(t.Missing, Gap{Range{t.High + 1, seq - 1}, now})
			changed = true
		}
		t.High = seq
		return New, changed
	}
	if len(t.Missing) > 0 {
		if i := t.findMissing(seq); i >= 0 {
			g := t.Missing[i]
			switch {
			case g.From == g.To:
				t.Missing = slices.Delete(t.Missing, i, i+1)
			case seq == g.From:
				t.Missing[i].From++
			case seq == g.To:
				t.Missing[i].To--
			default:
				t.Missing[i].To = seq - 1
				t.Missing = slices.Insert(t.Missing, i+1, Gap{Range{seq + 1, g.To}, g.Since})
			}
			return Filled, true
		}
	}
	if seq <= t.Floor || (len(t.Skipped) > 0 && t.findSkipped(seq) >= 0) {
		return Late, false
	}
	return Duplicate, false
}

// Expire gives up on every gap first seen at least wait before now, and on
// the lowest gaps beyond MaxMissing. It returns the seqs given up on.
func (t *Tracker) Expire(now time.Time, wait time.Duration) uint64 {
	var n uint64
	for i := 0; i < len(t.Missing); {
		if !now.Before(t.Missing[i].Since.Add(wait)) {
			n = satAdd(n, t.Missing[i].Len())
			t.giveUp(i)
			continue
		}
		i++
	}
	for len(t.Missing) > MaxMissing {
		n = satAdd(n, t.Missing[0].Len())
		t.giveUp(0)
	}
	return n
}

// giveUp moves Missing[i] to Skipped.
func (t *Tracker) giveUp(i int) {
	r := t.Missing[i].Range
	t.Missing = slices.Delete(t.Missing, i, i+1)
	t.GivenUp = satAdd(t.GivenUp, r.Len())
	t.addSkipped(r)
}

// addSkipped inserts r (disjoint from every skipped range), merging it with
// the ranges it touches.
func (t *Tracker) addSkipped(r Range) {
	i := sort.Search(len(t.Skipped), func(i int) bool { return t.Skipped[i].From > r.To })
	// t.Skipped[:i] end before r; merge with the previous and the next when
	// they touch.
	if i > 0 && t.Skipped[i-1].To+1 == r.From {
		r.From = t.Skipped[i-1].From
		i--
		t.Skipped = slices.Delete(t.Skipped, i, i+1)
	}
	if i < len(t.Skipped) && r.To+1 == t.Skipped[i].From {
		r.To = t.Skipped[i].To
		t.Skipped = slices.Delete(t.Skipped, i, i+1)
	}
	t.Skipped = slices.Insert(t.Skipped, i, r)
}

// Step is what the apply worker does with a seq.
type Step uint8

// The steps.
const (
	// Apply: the seq is held (its log entry must exist).
	Apply Step = iota
	// Skip: the seq was given up on, through the returned seq.
	Skip
	// Wait: the seq is missing; wait for it or for its gap to expire.
	Wait
	// Idle: the seq is above High.
	Idle
)

// Next tells the apply worker what to do with seq (the seq after the
// applied one): for Skip, the last seq of the skipped range.
func (t *Tracker) Next(seq uint64) (Step, uint64) {
	if seq > t.High || seq == 0 {
		return Idle, 0
	}
	if len(t.Missing) > 0 && t.findMissing(seq) >= 0 {
		return Wait, 0
	}
	if len(t.Skipped) > 0 {
		if i := t.findSkipped(seq); i >= 0 {
			return Skip, t.Skipped[i].To
		}
	}
	return Apply, 0
}

// Blocked reports whether the worker, having applied through applied, must
// wait at now: the next seq is missing and its gap has not expired.
func (t *Tracker) Blocked(applied uint64, now time.Time, wait time.Duration) bool {
	if len(t.Missing) == 0 || applied >= t.High {
		return false
	}
	i := t.findMissing(applied + 1)
	return i >= 0 && now.Before(t.Missing[i].Since.Add(wait))
}

// Forget keeps at most MaxSkipped skipped ranges at or below applied,
// forgetting the oldest and raising Floor. It reports whether it changed
// anything.
func (t *Tracker) Forget(applied uint64) bool {
	below := sort.Search(len(t.Skipped), func(i int) bool { return t.Skipped[i].To > applied })
	drop := below - MaxSkipped
	if drop <= 0 {
		return false
	}
	t.Floor = max(t.Floor, t.Skipped[drop-1].To)
	t.Skipped = slices.Delete(t.Skipped, 0, drop)
	return true
}

// ErrInvalid marks a Tracker that breaks its invariants (from a corrupt
// store or a bad snapshot).
var ErrInvalid = errors.New("invalid sequence state")

// Validate checks the invariants, and that every missing seq is above
// applied and Floor at or below it (applied is the apply worker's position:
// it never passes a missing seq, and forgets only what it passed).
func (t *Tracker) Validate(applied uint64) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if applied > t.High {
		return bad("applied seq %d above the highest %d", applied, t.High)
	}
	if t.Floor > applied {
		return bad("floor %d above the applied seq %d", t.Floor, applied)
	}
	if len(t.Missing) > MaxMissing {
		return bad("%d missing gaps, limit %d", len(t.Missing), MaxMissing)
	}
	for i, g := range t.Missing {
		switch {
		case g.From == 0 || g.From > g.To:
			return bad("missing gap %d..%d is empty", g.From, g.To)
		case g.To >= t.High:
			return bad("missing gap %d..%d not below the highest seq %d", g.From, g.To, t.High)
		case g.From <= applied:
			return bad("missing gap %d..%d at or below the applied seq %d", g.From, g.To, applied)
		case i > 0 && g.From <= t.Missing[i-1].To:
			return bad("missing gaps not sorted and disjoint at %d", g.From)
		}
	}
	for i, r := range t.Skipped {
		switch {
		case r.From == 0 || r.From > r.To:
			return bad("skipped range %d..%d is empty", r.From, r.To)
		case r.To >= t.High:
			return bad("skipped range %d..%d not below the highest seq %d (held)", r.From, r.To, t.High)
		case i > 0 && r.From <= t.Skipped[i-1].To+1:
			return bad("skipped ranges not sorted, disjoint and merged at %d", r.From)
		}
		if j := sort.Search(len(t.Missing), func(j int) bool { return t.Missing[j].To >= r.From }); j < len(t.Missing) && t.Missing[j].From <= r.To {
			return bad("seqs %d..%d both missing and skipped", max(r.From, t.Missing[j].From), min(r.To, t.Missing[j].To))
		}
	}
	return nil
}

// SkippedBetween counts the given-up seqs in (from, to].
func (t *Tracker) SkippedBetween(from, to uint64) uint64 {
	var n uint64
	for _, r := range t.Skipped {
		lo, hi := max(r.From, from+1), min(r.To, to)
		if lo <= hi {
			n = satAdd(n, hi-lo+1)
		}
	}
	return n
}

// Merger builds the tracker of a receiver after a snapshot import: the
// snapshot's bookkeeping up to its High, then the receiver's own entries
// above it (Keep, ascending). A seq between two kept entries is missing if
// the receiver had it missing (with the receiver's time), else given up on:
// the receiver held no entry for it, and its log retains every entry above
// the snapshot (the import checks).
type Merger struct {
	out  Tracker
	own  Tracker
	prev uint64
	// Skipped counts the seqs the merge gave up on.
	Skipped uint64
}

// NewMerger starts a merge of snap (the snapshot's tracker) and own (the
// receiver's tracker before the import).
func NewMerger(snap, own Tracker) *Merger {
	return &Merger{out: snap.Clone(), own: own, prev: snap.High}
}

// Keep adds a receiver entry above the snapshot's High, in ascending order.
func (m *Merger) Keep(seq uint64) error {
	if seq <= m.prev {
		return fmt.Errorf("%w: kept seq %d not above %d", ErrInvalid, seq, m.prev)
	}
	if seq > m.prev+1 {
		m.hole(Range{m.prev + 1, seq - 1})
	}
	m.prev = seq
	m.out.High = seq
	return nil
}

// hole adds the seqs of h (none held by the receiver) as missing where the
// receiver had them missing, else as given up.
func (m *Merger) hole(h Range) {
	at := h.From
	for _, g := range m.own.Missing {
		if g.To < at || g.From > h.To {
			continue
		}
		if g.From > at {
			m.skip(Range{at, g.From - 1})
		}
		lo, hi := max(g.From, at), min(g.To, h.To)
		m.out.Missing = append(m.out.Missing, Gap{Range{lo, hi}, g.Since})
		if hi == h.To {
			return
		}
		at = hi + 1
	}
	m.skip(Range{at, h.To})
}

func (m *Merger) skip(r Range) {
	m.Skipped = satAdd(m.Skipped, r.Len())
	m.out.GivenUp = satAdd(m.out.GivenUp, r.Len())
	m.out.addSkipped(r)
}

// Done returns the merged tracker (beyond MaxMissing gaps, the lowest are
// given up by the next Expire).
func (m *Merger) Done() Tracker { return m.out }
