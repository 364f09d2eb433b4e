package seqs

import (
	"testing"
	"time"
)

// naive is the obvious model of a Tracker: one state per seq.
type naive struct {
	high  uint64
	state map[uint64]byte // 'h' held, 'm' missing, 's' given up
	since map[uint64]time.Time
}

func (n *naive) accept(seq uint64, now time.Time) Verdict {
	switch {
	case seq > n.high:
		for s := n.high + 1; s < seq; s++ {
			n.state[s], n.since[s] = 'm', now
		}
		n.high = seq
		n.state[seq] = 'h'
		return New
	case n.state[seq] == 'm':
		n.state[seq] = 'h'
		return Filled
	case n.state[seq] == 's':
		return Late
	}
	return Duplicate
}

func (n *naive) classify(seq uint64) Verdict {
	switch {
	case seq > n.high:
		return New
	case n.state[seq] == 'm':
		return Filled
	case n.state[seq] == 's':
		return Late
	}
	return Duplicate
}

// FuzzTracker drives a Tracker and the naive model with the same arrivals
// and clock moves: same verdicts, same classification of every seq, the
// invariants hold, the counts agree.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 5, 0, 3, 1, 40, 0, 4, 0, 9, 0, 2})
	f.Add([]byte{0, 60, 1, 10, 0, 30, 1, 25, 0, 31, 0, 7})
	f.Add([]byte{0, 1, 0, 2, 0, 3})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const wait = 30 * time.Second
		now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
		var tr Tracker
		n := &naive{state: map[uint64]byte{}, since: map[uint64]time.Time{}}
		for i := 0; i+1 < len(ops); i += 2 {
			op, v := ops[i], uint64(ops[i+1])
			if op%2 == 0 {
				seq := v%64 + 1
				got, _ := tr.Accept(seq, now)
				if want := n.accept(seq, now); got != want {
					t.Fatalf("op %d: seq %d is %v, the model says %v", i/2, seq, got, want)
				}
			} else {
				now = now.Add(time.Duration(v) * time.Second)
				tr.Expire(now, wait)
				for s, st := range n.state {
					if st == 'm' && !now.Before(n.since[s].Add(wait)) {
						n.state[s] = 's'
					}
				}
			}
			if err := tr.Validate(0); err != nil {
				t.Fatalf("op %d: %v", i/2, err)
			}
			var missing, skipped uint64
			for _, st := range n.state {
				switch st {
				case 'm':
					missing++
				case 's':
					skipped++
				}
			}
			if tr.MissingCount() != missing || tr.GivenUp != skipped {
				t.Fatalf("op %d: missing %d given up %d, the model %d and %d", i/2, tr.MissingCount(), tr.GivenUp, missing, skipped)
			}
			for s := uint64(1); s <= 66; s++ {
				if got, want := tr.Classify(s), n.classify(s); got != want {
					t.Fatalf("op %d: seq %d classified %v, the model %v", i/2, s, got, want)
				}
			}
		}
	})
}
