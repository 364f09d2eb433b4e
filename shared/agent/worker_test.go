package agent

import (
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func TestWorkerStep(t *testing.T) {
	const res = "i-0abc"
	cases := []struct {
		name string
		rate float64
		// applied after the first step, then after each of ten 100ms
		// advances (stepping after each).
		first, after int
	}{
		{"no cap applies everything at once", 0, 1000, 1000},
		{"100/s: a tenth of a second's burst, then 10 per 100ms", 100, 10, 110},
		{"5/s: burst of 1, then half a mutation per 100ms", 5, 1, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			st := newTestStore(t, clk)
			if _, err := st.Accept(res, genMutations(3, res, 1, 1000, 20, 8)); err != nil {
				t.Fatal(err)
			}
			w := NewWorker(st, clk, c.rate, nil)
			for range 3 { // stepping without time passing adds nothing beyond the burst
				if _, err := w.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if got := st.Status(res).AppliedCount; got != uint64(c.first) {
				t.Fatalf("after the first steps: applied %d, want %d", got, c.first)
			}
			for range 10 {
				clk.Advance(100 * time.Millisecond)
				for range 2 {
					if _, err := w.Step(); err != nil {
						t.Fatal(err)
					}
				}
			}
			s := st.Status(res)
			if s.AppliedCount != uint64(c.after) || s.Backlog != uint64(1000-c.after) {
				t.Fatalf("after 1s: applied %d backlog %d, want %d and %d", s.AppliedCount, s.Backlog, c.after, 1000-c.after)
			}
			if want := float64(c.after); s.AppliedRate != want {
				t.Errorf("applied rate %.1f/s over the first second, want %.1f", s.AppliedRate, want)
			}
		})
	}
}

func TestRateMeterLastMinute(t *testing.T) {
	var m rateMeter
	start := t0
	now := t0
	for range 120 { // 2 minutes at 10/s
		now = now.Add(time.Second)
		m.add(now, 10)
	}
	if r := m.rate(now, start); r != 10 {
		t.Errorf("steady 10/s: rate %.2f", r)
	}
	now = now.Add(30 * time.Second) // idle for half a minute
	if r := m.rate(now, start); r != 5 {
		t.Errorf("after 30 s idle: rate %.2f, want 5", r)
	}
	now = now.Add(time.Minute)
	if r := m.rate(now, start); r != 0 {
		t.Errorf("after a minute idle: rate %.2f, want 0", r)
	}
}

// Through HTTP with a frozen clock and a cap, the shadow falls behind:
// the ack reports the backlog, and the worker applies only when time
// passes.
func TestWorkerRateCapThroughHTTP(t *testing.T) {
	const res = "i-0abc"
	clk := clock.NewFake(t0)
	a := startAgent(t, "i-shadow", agentOpts{clock: clk, rate: 50})
	cl := newTestClient(t, clk, ClientOptions{})
	ack, err := cl.Apply(t.Context(), a.ep, res, genMutations(4, res, 1, 500, 20, 8))
	if err != nil {
		t.Fatal(err)
	}
	if ack.Through != 500 || ack.Accepted != 500 || ack.Backlog < 495 {
		t.Fatalf("ack %+v: want through 500, accepted 500, backlog >= 495", ack)
	}
	waitFor(t, "the burst of 5", func() bool { return a.store.Status(res).AppliedCount == 5 })
	clk.Advance(100 * time.Millisecond)
	waitFor(t, "5 more after 100ms", func() bool { return a.store.Status(res).AppliedCount == 10 })
	clk.Advance(time.Second)
	waitFor(t, "5 more after 1s (the bucket holds a tenth of a second)", func() bool { return a.store.Status(res).AppliedCount == 15 })
	st, err := cl.Status(t.Context(), a.ep, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Resources) != 1 || st.Resources[0].Backlog != 485 || st.Resources[0].AppliedSeq != 15 {
		t.Fatalf("status %+v", st.Resources)
	}
}

func TestWorkerRunDrainsWithoutCap(t *testing.T) {
	const res = "i-0abc"
	a := startAgent(t, "i-live", agentOpts{})
	cl := newTestClient(t, nil, ClientOptions{})
	m := newModel()
	for i := range 10 {
		batch := genMutations(5, res, uint64(1+i*300), 300, 40, 24)
		m.apply(batch...)
		if _, err := cl.Apply(t.Context(), a.ep, res, batch); err != nil {
			t.Fatal(err)
		}
	}
	waitDrained(t, a, res)
	d, err := cl.Digest(t.Context(), a.ep, res)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != m.digest() || d.AppliedSeq != 3000 {
		t.Fatalf("digest %s at %d, want %s at 3000", d.Digest, d.AppliedSeq, m.digest())
	}
}
