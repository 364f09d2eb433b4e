package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const res = "i-live"

func muts(seqs ...uint64) []mutation.Mutation {
	out := make([]mutation.Mutation, len(seqs))
	for i, s := range seqs {
		out[i] = mutation.Mutation{V: 1, Resource: res, Seq: s, Op: mutation.OpPut, Key: fmt.Sprintf("k%d", s%4), Value: []byte(fmt.Sprintf("v%d", s)), ProducedAt: t0}
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// inOrder is the digest of an agent that received seqs in order, once.
func inOrder(t *testing.T, seqs ...uint64) [32]byte {
	t.Helper()
	a := NewAgents(WithClock(clock.NewFake(t0)))
	if _, err := a.Apply(context.Background(), mutation.Endpoint{InstanceID: "ref"}, res, muts(seqs...)); err != nil {
		t.Fatal(err)
	}
	d, err := a.Digest("ref", res)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAgentsGapSemantics(t *testing.T) {
	type delivery struct {
		advance time.Duration
		seqs    []uint64
		// the ack
		accepted   int
		rejected   []uint64
		contiguous uint64
	}
	cases := []struct {
		name       string
		deliveries []delivery
		// at the end
		applied    uint64 // apply position
		count      uint64
		missing    uint64
		skipped    uint64
		sameAs     []uint64 // the seqs an in-order agent received
		wantDigest bool
	}{
		{
			name: "6 then 5 then 6 again: both applied once, in seq order",
			deliveries: []delivery{
				{seqs: span(1, 4), accepted: 4, contiguous: 4},
				{seqs: []uint64{6}, accepted: 1, contiguous: 4},
				{advance: time.Second, seqs: []uint64{5}, accepted: 1, contiguous: 6},
				{seqs: []uint64{6}, contiguous: 6},
			},
			applied: 6, count: 6, sameAs: span(1, 6), wantDigest: true,
		},
		{
			name: "unsorted batch with repeats is taken sorted, first copy kept",
			deliveries: []delivery{
				{seqs: []uint64{3, 1, 2, 2, 1}, accepted: 3, contiguous: 3},
			},
			applied: 3, count: 3, sameAs: span(1, 3), wantDigest: true,
		},
		{
			name: "gap never filled: skipped after the wait, its late arrival rejected",
			deliveries: []delivery{
				{seqs: []uint64{1, 2, 5}, accepted: 3, contiguous: 2},
				{advance: DefaultGapWait - time.Nanosecond, seqs: []uint64{5}, contiguous: 2},
				{advance: time.Nanosecond, seqs: []uint64{3, 4, 6}, accepted: 1, rejected: []uint64{3, 4}, contiguous: 6},
			},
			applied: 6, count: 4, skipped: 2,
		},
		{
			name: "gap still open: the agent waits",
			deliveries: []delivery{
				{seqs: []uint64{1, 4, 5}, accepted: 3, contiguous: 1},
				{advance: 10 * time.Second, seqs: []uint64{3}, accepted: 1, contiguous: 1},
			},
			applied: 1, count: 1, missing: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			a := NewAgents(WithClock(clk))
			ep := mutation.Endpoint{InstanceID: "i-a"}
			for i, d := range c.deliveries {
				clk.Advance(d.advance)
				ack, err := a.Apply(context.Background(), ep, res, muts(d.seqs...))
				if err != nil {
					t.Fatal(err)
				}
				if ack.Accepted != d.accepted || !slices.Equal(ack.Rejected, d.rejected) || ack.Contiguous != d.contiguous {
					t.Fatalf("delivery %d: ack %+v; want accepted %d rejected %v contiguous %d", i, ack, d.accepted, d.rejected, d.contiguous)
				}
			}
			st, err := a.Sequences(ep.InstanceID, res)
			if err != nil {
				t.Fatal(err)
			}
			_, count, _ := a.Status(ep.InstanceID, res)
			if st.Applied != c.applied || count != c.count || st.Missing != c.missing || st.Skipped != c.skipped || st.Rejected != uint64(len(c.deliveries[len(c.deliveries)-1].rejected)) {
				t.Fatalf("status %+v count %d; want applied %d, count %d, missing %d, skipped %d", st, count, c.applied, c.count, c.missing, c.skipped)
			}
			if c.wantDigest {
				if d, _ := a.Digest(ep.InstanceID, res); d != inOrder(t, c.sameAs...) {
					t.Error("digest differs from an in-order agent's")
				}
			}
		})
	}
}

// The wait is measured on the clock given; reads settle too: an expired gap
// is skipped when the status is read, without another Apply.
func TestAgentsGapWaitOption(t *testing.T) {
	clk := clock.NewFake(t0)
	a := NewAgents(WithClock(clk), WithGapWait(5*time.Second))
	ep := mutation.Endpoint{InstanceID: "i-a"}
	if _, err := a.Apply(context.Background(), ep, res, muts(1, 3)); err != nil {
		t.Fatal(err)
	}
	if last, _, _ := a.Status(ep.InstanceID, res); last != 1 {
		t.Fatalf("position %d, want 1 (waiting for 2)", last)
	}
	clk.Advance(5 * time.Second)
	if last, count, _ := a.Status(ep.InstanceID, res); last != 3 || count != 2 || a.Gaps(ep.InstanceID, res) != 1 {
		t.Fatalf("after the wait: position %d count %d gaps %d, want 3, 2, 1", last, count, a.Gaps(ep.InstanceID, res))
	}
	zero := NewAgents(WithClock(clk), WithGapWait(0))
	ack, _ := zero.Apply(context.Background(), ep, res, muts(2))
	ack2, _ := zero.Apply(context.Background(), ep, res, muts(1))
	if ack.Contiguous != 2 || !slices.Equal(ack2.Rejected, []uint64{1}) {
		t.Fatalf("gap wait 0: acks %+v %+v, want the gap given up at once", ack, ack2)
	}
}

// Copy behaves like the real snapshot import: the receiver takes the
// sender's state and bookkeeping (an open gap stays open, a given-up seq
// stays refused), keeps its own mutations above the sender's highest seq
// and re-applies them, and ends equal to the sender once both get the rest.
func TestAgentsCopyWithGaps(t *testing.T) {
	clk := clock.NewFake(t0)
	a := NewAgents(WithClock(clk))
	ctx := context.Background()
	live, shadow := mutation.Endpoint{InstanceID: "i-live"}, mutation.Endpoint{InstanceID: "i-shadow"}
	apply := func(ep mutation.Endpoint, seqs ...uint64) mutation.Ack {
		t.Helper()
		ack, err := a.Apply(ctx, ep, res, muts(seqs...))
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	apply(live, append(span(1, 9), span(11, 20)...)...) // 10 missing
	clk.Advance(DefaultGapWait)
	apply(live, 21, 22) // 10 given up
	if ack := apply(live, 10); !slices.Equal(ack.Rejected, []uint64{10}) {
		t.Fatalf("live: 10 not rejected: %+v", ack)
	}
	apply(live, 24) // 23 missing
	// The shadow joined at 30 (waiting for 1..29), and has 31 too.
	apply(shadow, 30, 31)
	if err := a.Copy(live.InstanceID, shadow.InstanceID, res); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Sequences(shadow.InstanceID, res)
	if st.Accepted != 31 || st.Applied != 22 || st.Missing != 1+5 || st.Skipped != 1 || st.Backlog != 3 {
		t.Fatalf("shadow after copy: %+v; want accepted 31, applied 22, missing 23 and 25..29, 10 skipped, backlog 24, 30, 31", st)
	}
	for _, ep := range []mutation.Endpoint{live, shadow} {
		ack := apply(ep, append([]uint64{10}, span(23, 40)...)...)
		if !slices.Equal(ack.Rejected, []uint64{10}) || ack.Contiguous != 40 {
			t.Fatalf("%s: ack %+v", ep.InstanceID, ack)
		}
	}
	dl, _ := a.Digest(live.InstanceID, res)
	ds, _ := a.Digest(shadow.InstanceID, res)
	_, cl, _ := a.Status(live.InstanceID, res)
	_, cs, _ := a.Status(shadow.InstanceID, res)
	if dl != ds || cl != 39 || cs != 39 {
		t.Fatalf("live and shadow differ: counts %d %d, want 39", cl, cs)
	}
	// The reference: every seq but 10, in order, 10 given up.
	refClk := clock.NewFake(t0)
	ref := NewAgents(WithClock(refClk))
	if _, err := ref.Apply(ctx, live, res, muts(slices.DeleteFunc(span(1, 40), func(s uint64) bool { return s == 10 })...)); err != nil {
		t.Fatal(err)
	}
	refClk.Advance(DefaultGapWait)
	if want, _ := ref.Digest(live.InstanceID, res); dl != want {
		t.Fatal("live and shadow differ from every seq but 10 applied in order")
	}
}

// The receiver's applied mutations above the sender's highest seq: kept and
// re-applied when retained, else the copy is refused and changes nothing.
func TestAgentsCopyReceiverAhead(t *testing.T) {
	ctx := context.Background()
	src, dst := mutation.Endpoint{InstanceID: "src"}, mutation.Endpoint{InstanceID: "dst"}
	for _, retain := range []int{0, 5, 100} {
		t.Run(fmt.Sprint("retain ", retain), func(t *testing.T) {
			a := NewAgents(WithClock(clock.NewFake(t0)), WithRetain(retain))
			if _, err := a.Apply(ctx, src, res, muts(span(1, 10)...)); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Apply(ctx, dst, res, muts(span(1, 20)...)); err != nil { // applied 11..20 ahead
				t.Fatal(err)
			}
			before, _ := a.Digest(dst.InstanceID, res)
			err := a.Copy(src.InstanceID, dst.InstanceID, res)
			if retain < 10 {
				if !errors.Is(err, ErrResyncConflict) {
					t.Fatalf("copy: %v, want ErrResyncConflict", err)
				}
				if after, _ := a.Digest(dst.InstanceID, res); after != before {
					t.Error("a refused copy changed the receiver")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, count, _ := a.Status(dst.InstanceID, res)
			if d, _ := a.Digest(dst.InstanceID, res); d != inOrder(t, span(1, 20)...) || count != 20 {
				t.Fatalf("count %d, digest equal to 1..20 in order: %v", count, d == inOrder(t, span(1, 20)...))
			}
		})
	}
}

func TestAgentsCopyConflictAndErrors(t *testing.T) {
	clk := clock.NewFake(t0)
	a := NewAgents(WithClock(clk), WithRetain(2))
	ctx := context.Background()
	src, dst := mutation.Endpoint{InstanceID: "src"}, mutation.Endpoint{InstanceID: "dst"}
	if _, err := a.Apply(ctx, src, res, muts(1, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, dst, res, muts(span(1, 20)...)); err != nil {
		t.Fatal(err)
	}
	if err := a.Copy(src.InstanceID, dst.InstanceID, res); !errors.Is(err, ErrResyncConflict) {
		t.Fatalf("copy onto a receiver that dropped its entries above the sender's: %v", err)
	}
	if _, err := a.Apply(ctx, dst, "other", muts(1)); !errors.Is(err, mutation.ErrPermanent) {
		t.Errorf("a mutation of another resource: %v, want permanent", err)
	}
	if _, _, err := a.Status("nobody", res); !errors.Is(err, ErrNoAgent) {
		t.Errorf("status of an unknown agent: %v", err)
	}
	a.Fail = func(mutation.Endpoint, string, []mutation.Mutation) error { return errors.New("down") }
	if _, err := a.Apply(ctx, src, res, muts(3)); err == nil {
		t.Error("Fail was not consulted")
	}
	a.Reset()
	if _, err := a.Apply(ctx, src, res, muts(1)); err != nil {
		t.Errorf("after Reset: %v", err)
	}
}
