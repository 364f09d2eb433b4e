package seqs

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const wait = 30 * time.Second

// step is one event against a tracker: an arriving seq (at t0+at), or an
// Expire at t0+at when seq is 0.
type step struct {
	seq  uint64
	at   time.Duration
	want Verdict
}

func TestAcceptClassifies(t *testing.T) {
	cases := []struct {
		name        string
		steps       []step
		wantHigh    uint64
		wantMissing []Range
		wantSkipped []Range
		wantContig  uint64
	}{
		{
			name:       "in order",
			steps:      []step{{1, 0, New}, {2, 0, New}, {3, 0, New}},
			wantHigh:   3,
			wantContig: 3,
		},
		{
			name:       "6 then 5 then 6 again: the late 5 fills, the second 6 is a duplicate",
			steps:      []step{{1, 0, New}, {2, 0, New}, {3, 0, New}, {4, 0, New}, {6, 0, New}, {5, time.Second, Filled}, {6, 2 * time.Second, Duplicate}},
			wantHigh:   6,
			wantContig: 6,
		},
		{
			name:        "a gap never filled is given up after the wait; its seqs then arrive late",
			steps:       []step{{1, 0, New}, {4, 0, New}, {0, wait - 1, 0}, {0, wait, 0}, {2, wait + time.Second, Late}, {3, wait + time.Second, Late}, {1, wait, Duplicate}, {4, wait, Duplicate}},
			wantHigh:    4,
			wantSkipped: []Range{{2, 3}},
			wantContig:  4,
		},
		{
			name:        "filling the middle of a gap splits it",
			steps:       []step{{1, 0, New}, {10, 0, New}, {5, 0, Filled}, {2, 0, Filled}, {9, 0, Filled}},
			wantHigh:    10,
			wantMissing: []Range{{3, 4}, {6, 8}},
			wantContig:  2,
		},
		{
			name:        "two gaps expire at their own times",
			steps:       []step{{1, 0, New}, {3, 0, New}, {5, 10 * time.Second, New}, {0, wait, 0}, {2, wait, Late}, {4, wait, Filled}},
			wantHigh:    5,
			wantSkipped: []Range{{2, 2}},
			wantContig:  5,
		},
		{
			name:        "adjacent given-up ranges merge",
			steps:       []step{{2, 0, New}, {3, 0, New}, {5, 0, New}, {0, wait, 0}},
			wantHigh:    5,
			wantSkipped: []Range{{1, 1}, {4, 4}},
			wantContig:  5,
		},
		{
			name:        "the first seq far ahead opens one gap from 1",
			steps:       []step{{1 << 62, 0, New}, {7, 0, Filled}},
			wantHigh:    1 << 62,
			wantMissing: []Range{{1, 6}, {8, 1<<62 - 1}},
			wantContig:  0,
		},
		{
			name:        "the highest possible seq",
			steps:       []step{{^uint64(0), 0, New}, {^uint64(0) - 1, 0, Filled}, {^uint64(0), 0, Duplicate}},
			wantHigh:    ^uint64(0),
			wantMissing: []Range{{1, ^uint64(0) - 2}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tr Tracker
			for i, s := range c.steps {
				now := t0.Add(s.at)
				if s.seq == 0 {
					tr.Expire(now, wait)
					continue
				}
				if got, _ := tr.Accept(s.seq, now); got != s.want {
					t.Fatalf("step %d: seq %d is %v, want %v", i, s.seq, got, s.want)
				}
				if err := tr.Validate(0); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			var missing []Range
			for _, g := range tr.Missing {
				missing = append(missing, g.Range)
			}
			if tr.High != c.wantHigh || !reflect.DeepEqual(missing, c.wantMissing) || !reflect.DeepEqual(tr.Skipped, c.wantSkipped) {
				t.Fatalf("high %d missing %v skipped %v; want %d %v %v", tr.High, missing, tr.Skipped, c.wantHigh, c.wantMissing, c.wantSkipped)
			}
			if got := tr.Contiguous(); got != c.wantContig {
				t.Errorf("contiguous %d, want %d", got, c.wantContig)
			}
			var skipped uint64
			for _, r := range tr.Skipped {
				skipped += r.Len()
			}
			if tr.GivenUp != skipped {
				t.Errorf("given up %d, skipped ranges hold %d", tr.GivenUp, skipped)
			}
		})
	}
}

func TestGapTimesAndCounts(t *testing.T) {
	var tr Tracker
	tr.Accept(1, t0)
	tr.Accept(5, t0.Add(time.Second)) // 2..4 since t0+1s
	tr.Accept(9, t0.Add(3*time.Second))
	if n := tr.MissingCount(); n != 6 {
		t.Errorf("missing count %d, want 6", n)
	}
	if at, ok := tr.OldestMissing(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Errorf("oldest missing %v %v", at, ok)
	}
	if d, _ := tr.NextDeadline(wait); !d.Equal(t0.Add(time.Second + wait)) {
		t.Errorf("next deadline %v", d)
	}
	if tr.Blocked(0, t0, wait) {
		t.Error("blocked at seq 1, which is held")
	}
	if !tr.Blocked(1, t0.Add(wait), wait) || tr.Blocked(1, t0.Add(time.Second+wait), wait) {
		t.Error("at seq 2 the worker waits until the gap's deadline, then not")
	}
	if n := tr.Expire(t0.Add(time.Second+wait), wait); n != 3 {
		t.Errorf("expired %d, want 3", n)
	}
	if got, _ := tr.OldestMissing(); !got.Equal(t0.Add(3 * time.Second)) {
		t.Errorf("oldest missing after the first expiry %v", got)
	}
}

func TestNext(t *testing.T) {
	var tr Tracker
	tr.Accept(1, t0)
	tr.Accept(4, t0)              // 2,3 missing
	tr.Expire(t0.Add(wait), wait) // 2,3 given up
	tr.Accept(6, t0.Add(wait))    // 5 missing
	cases := []struct {
		seq     uint64
		step    Step
		through uint64
	}{
		{1, Apply, 0},
		{2, Skip, 3},
		{3, Skip, 3},
		{4, Apply, 0},
		{5, Wait, 0},
		{6, Apply, 0},
		{7, Idle, 0},
		{0, Idle, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.seq), func(t *testing.T) {
			if s, through := tr.Next(c.seq); s != c.step || through != c.through {
				t.Errorf("Next(%d) = %d, %d; want %d, %d", c.seq, s, through, c.step, c.through)
			}
		})
	}
}

func TestMissingBound(t *testing.T) {
	var tr Tracker
	for i := range MaxMissing + 10 {
		tr.Accept(uint64(2*i+2), t0) // every odd seq missing
	}
	if len(tr.Missing) != MaxMissing {
		t.Fatalf("%d gaps open, want the bound %d", len(tr.Missing), MaxMissing)
	}
	if tr.Missing[0].From != 21 || tr.GivenUp != 10 {
		t.Fatalf("lowest open gap %d, given up %d: want the 10 lowest given up", tr.Missing[0].From, tr.GivenUp)
	}
	if v := tr.Classify(1); v != Late {
		t.Errorf("a gap given up for the bound: seq 1 is %v, want late", v)
	}
}

func TestForgetKeepsBoundAndFloor(t *testing.T) {
	var tr Tracker
	n := MaxSkipped + 5
	for i := range n {
		tr.Accept(uint64(2*i+2), t0)
		tr.Expire(t0.Add(wait), wait) // each odd seq given up at once
	}
	high := tr.High
	if tr.Forget(10) {
		t.Fatal("forgot with few ranges below the applied seq")
	}
	if !tr.Forget(high) || len(tr.Skipped) != MaxSkipped || tr.Floor != 9 {
		t.Fatalf("after Forget: %d ranges, floor %d; want %d and 9", len(tr.Skipped), tr.Floor, MaxSkipped)
	}
	if err := tr.Validate(high); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		seq  uint64
		want Verdict
	}{
		{1, Late},  // forgotten given-up seq
		{2, Late},  // held, but at or below the floor: cannot be told apart, refused loudly
		{11, Late}, // remembered given-up seq
		{12, Duplicate},
	}
	for _, c := range cases {
		if v := tr.Classify(c.seq); v != c.want {
			t.Errorf("seq %d: %v, want %v", c.seq, v, c.want)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	g := func(from, to uint64) Gap { return Gap{Range{from, to}, t0} }
	cases := []struct {
		name    string
		tr      Tracker
		applied uint64
	}{
		{"applied above high", Tracker{High: 3}, 4},
		{"floor above applied", Tracker{High: 9, Floor: 5}, 4},
		{"empty gap", Tracker{High: 9, Missing: []Gap{g(5, 4)}}, 0},
		{"gap at high", Tracker{High: 9, Missing: []Gap{g(5, 9)}}, 0},
		{"gap below applied", Tracker{High: 9, Missing: []Gap{g(2, 3)}}, 2},
		{"gaps overlap", Tracker{High: 9, Missing: []Gap{g(2, 4), g(4, 5)}}, 0},
		{"seq 0", Tracker{High: 9, Skipped: []Range{{0, 1}}}, 0},
		{"skipped above high", Tracker{High: 9, Skipped: []Range{{8, 10}}}, 0},
		{"skipped touching", Tracker{High: 9, Skipped: []Range{{2, 3}, {4, 5}}}, 0},
		{"missing and skipped", Tracker{High: 9, Missing: []Gap{g(3, 5)}, Skipped: []Range{{5, 6}}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.tr.Validate(c.applied); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
		})
	}
	ok := Tracker{High: 9, Missing: []Gap{g(3, 4), g(6, 6)}, Skipped: []Range{{1, 1}, {5, 5}, {7, 8}}, Floor: 1}
	if err := ok.Validate(2); err != nil {
		t.Fatalf("valid tracker refused: %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := Tracker{High: ^uint64(0), Missing: []Gap{{Range{3, 4}, t0.Add(123)}}, Skipped: []Range{{1, 1}, {5, ^uint64(0) - 1}}, Floor: 1, GivenUp: 7}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Tracker
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v\n%s", in, out, b)
	}
	for _, bad := range []string{`[1]`, `[1,2,3]`, `"x"`, `[-1,2]`} {
		var r Range
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("range %s accepted", bad)
		}
	}
	for _, bad := range []string{`[1,2]`, `[1,2,"x"]`, `[1,-2,3]`, `[1,2,1e30]`} {
		var g Gap
		if err := json.Unmarshal([]byte(bad), &g); err == nil {
			t.Errorf("gap %s accepted", bad)
		}
	}
}

func TestMerger(t *testing.T) {
	since := t0.Add(-time.Minute)
	// The snapshot: 1..20, 5 missing, 8 given up.
	var snap Tracker
	snap.Accept(4, t0)
	for _, s := range []uint64{1, 2, 3} {
		snap.Accept(s, t0)
	}
	snap.Accept(7, t0)  // 5,6 missing
	snap.Accept(6, t0)  // 5 missing
	snap.Accept(9, t0)  // 8 missing
	snap.Accept(20, t0) // 10..19 missing
	for s := uint64(10); s < 20; s++ {
		snap.Accept(s, t0)
	}
	snap.Missing[1].Since = t0.Add(-wait) // 8 expires
	snap.Expire(t0, wait)
	// The receiver: entries 22, 23, 30 above the snapshot; 24..26 missing
	// (since `since`), 27..29 given up, 21 neither (it held nothing).
	own := Tracker{High: 30, Missing: []Gap{{Range{24, 26}, since}}, Skipped: []Range{{27, 29}}}
	m := NewMerger(snap, own)
	for _, s := range []uint64{22, 23, 30} {
		if err := m.Keep(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Keep(30); err == nil {
		t.Error("a repeated kept seq was accepted")
	}
	got := m.Done()
	want := Tracker{
		High:    30,
		Missing: []Gap{{Range{5, 5}, t0}, {Range{24, 26}, since}},
		Skipped: []Range{{8, 8}, {21, 21}, {27, 29}},
		GivenUp: 5,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged\n%+v\nwant\n%+v", got, want)
	}
	if m.Skipped != 4 {
		t.Errorf("merge gave up %d seqs, want 4", m.Skipped)
	}
	if err := got.Validate(4); err != nil {
		t.Fatal(err)
	}
	if n := got.SkippedBetween(4, 30); n != 5 {
		t.Errorf("skipped in (4, 30]: %d, want 5", n)
	}
}
