package mutation_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

type staticResolver map[string]mutation.Route

func (s staticResolver) Resolve(_ context.Context, res string) (mutation.Route, error) {
	r, ok := s[res]
	if !ok {
		return mutation.Route{}, fmt.Errorf("resource %s: %w", res, mutation.ErrUnknownResource)
	}
	return r, nil
}

var t0 = time.Date(2026, 11, 28, 12, 0, 30, 0, time.UTC)

func muts(res string, seqs ...uint64) []mutation.Mutation {
	out := make([]mutation.Mutation, len(seqs))
	for i, s := range seqs {
		out[i] = mutation.Mutation{V: 1, Resource: res, Seq: s, Op: mutation.OpPut, Key: fmt.Sprintf("k%d", s%3), Value: []byte{byte(s)}, ProducedAt: t0}
	}
	return out
}

func routes() staticResolver {
	return staticResolver{
		"i-live1": {Resource: "i-live1", Group: "g", Live: mutation.Endpoint{InstanceID: "i-live1"}, Shadow: mutation.Endpoint{InstanceID: "i-shadow1"}, ShadowReady: true},
		"i-live2": {Resource: "i-live2", Group: "g", Live: mutation.Endpoint{InstanceID: "i-live2"}},
	}
}

func mustOK(t *testing.T, out []mutation.Outcome) {
	t.Helper()
	for _, o := range out {
		if o.Err != nil {
			t.Fatalf("outcome %d: %v", o.Index, o.Err)
		}
	}
}

func TestRouterAppliesToBothAndIsIdempotent(t *testing.T) {
	agents := memory.NewAgents()
	clk := clock.NewFake(t0)
	r := mutation.NewRouter(routes(), agents, clk)

	// Reordered and repeated within the batch, then the whole batch again.
	batch := append(muts("i-live1", 3, 1, 2, 2), muts("i-live1", 4)...)
	mustOK(t, r.Route(context.Background(), batch))
	mustOK(t, r.Route(context.Background(), batch))

	for _, inst := range []string{"i-live1", "i-shadow1"} {
		last, applied, err := agents.Status(inst, "i-live1")
		if err != nil {
			t.Fatal(err)
		}
		if last != 4 || applied != 4 {
			t.Fatalf("%s: last=%d applied=%d, want 4 and 4", inst, last, applied)
		}
	}
	dl, _ := agents.Digest("i-live1", "i-live1")
	ds, _ := agents.Digest("i-shadow1", "i-live1")
	if dl != ds {
		t.Fatal("live and shadow digests differ")
	}
	counts := r.Flush()
	minute := t0.Truncate(time.Minute)
	for _, tg := range []mutation.Target{mutation.Live, mutation.Shadow} {
		c := counts[mutation.CountKey{Group: "g", Resource: "i-live1", Target: tg, Minute: minute}]
		if c.Accepted != 4 || c.Applied != 4 {
			t.Fatalf("%s count = %+v, want 4 accepted, 4 applied", tg, c)
		}
	}
	if len(r.Flush()) != 0 {
		t.Fatal("Flush did not reset the counters")
	}
}

func TestRouterOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		batch     []mutation.Mutation
		fail      func(mutation.Endpoint, string, []mutation.Mutation) error
		wantErr   []bool
		wantRetry []bool
	}{
		{
			name:      "unknown resource is permanent",
			batch:     muts("i-nope", 1),
			wantErr:   []bool{true},
			wantRetry: []bool{false},
		},
		{
			name:    "shadow not ready goes to live only",
			batch:   muts("i-live2", 1, 2),
			wantErr: []bool{false, false}, wantRetry: []bool{false, false},
		},
		{
			name:  "shadow down is retried",
			batch: muts("i-live1", 1, 2),
			fail: func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
				if to.InstanceID == "i-shadow1" {
					return errors.New("connection refused")
				}
				return nil
			},
			wantErr: []bool{true, true}, wantRetry: []bool{true, true},
		},
		{
			name:  "permanent agent error is not retried",
			batch: muts("i-live1", 1),
			fail: func(mutation.Endpoint, string, []mutation.Mutation) error {
				return fmt.Errorf("bad request: %w", mutation.ErrPermanent)
			},
			wantErr: []bool{true}, wantRetry: []bool{false},
		},
		{
			name:    "one bad resource does not fail the others",
			batch:   append(muts("i-nope", 1), muts("i-live1", 1)...),
			wantErr: []bool{true, false}, wantRetry: []bool{false, false},
		},
		{
			name:    "a sequence gap is accepted",
			batch:   muts("i-live1", 1, 3),
			wantErr: []bool{false, false}, wantRetry: []bool{false, false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agents := memory.NewAgents()
			agents.Fail = tc.fail
			r := mutation.NewRouter(routes(), agents, clock.NewFake(t0))
			out := r.Route(context.Background(), tc.batch)
			for i, o := range out {
				if (o.Err != nil) != tc.wantErr[i] || o.Retry != tc.wantRetry[i] {
					t.Errorf("outcome %d: err=%v retry=%v, want err=%v retry=%v", i, o.Err, o.Retry, tc.wantErr[i], tc.wantRetry[i])
				}
			}
		})
	}
}

// Outcomes when agents refuse seqs that arrive after their gap was given
// up: a permanent ErrTooLate naming every refusing target, unless another
// target failed retryably (a redelivery is safe: the agents deduplicate).
func TestRouterRejectedOutcomes(t *testing.T) {
	ctx := context.Background()
	live1 := mutation.Endpoint{InstanceID: "i-live1"}
	shadow1 := mutation.Endpoint{InstanceID: "i-shadow1"}
	tests := []struct {
		name string
		// setup feeds the agents directly (not through the Router)
		setup     func(t *testing.T, a *memory.Agents, clk *clock.Fake)
		fail      func(mutation.Endpoint, string, []mutation.Mutation) error
		batch     []mutation.Mutation
		wantErr   []bool
		wantLate  []bool
		wantRetry []bool
		wantIn    []string // in the error of the first outcome
		// wantShadowRejected, when set, is each outcome's ShadowRejected
		wantShadowRejected []bool
	}{
		{
			name: "late on both: permanent, both named",
			setup: func(t *testing.T, a *memory.Agents, clk *clock.Fake) {
				apply(t, a, live1, muts("i-live1", 1, 3)...)
				apply(t, a, shadow1, muts("i-live1", 1, 3)...)
				clk.Advance(memory.DefaultGapWait)
			},
			batch:   muts("i-live1", 2, 3, 4),
			wantErr: []bool{true, false, false}, wantLate: []bool{true, false, false}, wantRetry: []bool{false, false, false},
			wantIn: []string{"i-live1/2 to live", "i-live1/2 to shadow", "arrived after the agent had given up"},
		},
		{
			name: "late on the live only (the shadow never saw the gap): permanent",
			setup: func(t *testing.T, a *memory.Agents, clk *clock.Fake) {
				apply(t, a, live1, muts("i-live1", 1, 3)...)
				clk.Advance(memory.DefaultGapWait)
			},
			batch:   muts("i-live1", 2),
			wantErr: []bool{true}, wantLate: []bool{true}, wantRetry: []bool{false},
			wantIn: []string{"to live"},
		},
		{
			name: "late on the live, shadow down: retried",
			setup: func(t *testing.T, a *memory.Agents, clk *clock.Fake) {
				apply(t, a, live1, muts("i-live1", 1, 3)...)
				clk.Advance(memory.DefaultGapWait)
			},
			fail: func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
				if to.InstanceID == "i-shadow1" {
					return errors.New("connection refused")
				}
				return nil
			},
			batch:   muts("i-live1", 2),
			wantErr: []bool{true}, wantLate: []bool{true}, wantRetry: []bool{true},
			wantIn: []string{"connection refused", "to live"},
		},
		{
			name: "late on the shadow only (it joined after the gap): done, flagged for a resync",
			setup: func(t *testing.T, a *memory.Agents, clk *clock.Fake) {
				apply(t, a, live1, muts("i-live1", 1)...)
				apply(t, a, shadow1, muts("i-live1", 1, 3)...)
				clk.Advance(memory.DefaultGapWait)
			},
			batch:   muts("i-live1", 2),
			wantErr: []bool{false}, wantLate: []bool{false}, wantRetry: []bool{false},
			wantShadowRejected: []bool{true},
		},
		{
			name: "within the gap wait a late seq fills its gap",
			setup: func(t *testing.T, a *memory.Agents, clk *clock.Fake) {
				apply(t, a, live1, muts("i-live1", 1, 3)...)
				apply(t, a, shadow1, muts("i-live1", 1, 3)...)
				clk.Advance(memory.DefaultGapWait - time.Second)
			},
			batch:   muts("i-live1", 2),
			wantErr: []bool{false}, wantLate: []bool{false}, wantRetry: []bool{false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			agents := memory.NewAgents(memory.WithClock(clk))
			tc.setup(t, agents, clk)
			agents.Fail = tc.fail
			r := mutation.NewRouter(routes(), agents, clk)
			out := r.Route(ctx, tc.batch)
			for i, o := range out {
				if (o.Err != nil) != tc.wantErr[i] || errors.Is(o.Err, mutation.ErrTooLate) != tc.wantLate[i] || o.Retry != tc.wantRetry[i] {
					t.Errorf("outcome %d: err=%v retry=%v; want err=%v late=%v retry=%v", i, o.Err, o.Retry, tc.wantErr[i], tc.wantLate[i], tc.wantRetry[i])
				}
				if want := tc.wantShadowRejected != nil && tc.wantShadowRejected[i]; o.ShadowRejected != want {
					t.Errorf("outcome %d: ShadowRejected=%v, want %v", i, o.ShadowRejected, want)
				}
			}
			for _, w := range tc.wantIn {
				if out[0].Err == nil || !strings.Contains(out[0].Err.Error(), w) {
					t.Errorf("error %v lacks %q", out[0].Err, w)
				}
			}
			if tc.wantLate[0] && !errors.Is(out[0].Err, mutation.ErrPermanent) {
				t.Error("ErrTooLate does not wrap ErrPermanent")
			}
		})
	}
}

func apply(t *testing.T, a *memory.Agents, to mutation.Endpoint, ms ...mutation.Mutation) {
	t.Helper()
	if _, err := a.Apply(context.Background(), to, ms[0].Resource, ms); err != nil {
		t.Fatal(err)
	}
}

// A stream reordered by a producer that retries only its failed records,
// with Kinesis redeliveries, through the Router to memory agents: every
// mutation applied exactly once on the live and the shadow, in seq order
// (the digest of an in-order pass); the seqs that arrive only after their
// gap was given up are reported permanent (ErrTooLate) and applied nowhere.
// A cached high-water mark in the Router would have dropped the late ones
// silently.
func TestRouterReorderedStream(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	clk := clock.NewFake(t0)
	agents := memory.NewAgents(memory.WithClock(clk))
	r := mutation.NewRouter(routes(), agents, clk)
	all := make([]uint64, n)
	for i := range all {
		all[i] = uint64(i + 1)
	}
	stream := muts("i-live1", all...)
	rng := rand.New(rand.NewPCG(5, 6))
	var deliveries [][]mutation.Mutation
	var retry []mutation.Mutation
	for from := 0; from < n; from += 50 {
		var ok []mutation.Mutation
		for _, m := range stream[from:min(from+50, n)] {
			if rng.IntN(5) == 0 { // 20% of the producer's records fail
				retry = append(retry, m)
			} else {
				ok = append(ok, m)
			}
		}
		deliveries = append(deliveries, ok)
		if rng.IntN(2) == 0 {
			deliveries = append(deliveries, retry, ok) // the retries, then a redelivery
			retry = nil
		}
	}
	deliveries = append(deliveries, retry)
	lost := map[uint64]bool{100: true, 101: true, 640: true} // held back until their gaps expire
	for _, d := range deliveries {
		d = slices.DeleteFunc(slices.Clone(d), func(m mutation.Mutation) bool { return lost[m.Seq] })
		clk.Advance(10 * time.Millisecond)
		mustOK(t, r.Route(ctx, d))
	}
	clk.Advance(memory.DefaultGapWait)
	late := muts("i-live1", 100, 101, 640, 1)
	for i, o := range r.Route(ctx, late) {
		if isLate := lost[late[i].Seq]; isLate != errors.Is(o.Err, mutation.ErrTooLate) || (!isLate && o.Err != nil) || o.Retry {
			t.Errorf("seq %d: err %v retry %v", late[i].Seq, o.Err, o.Retry)
		}
	}
	ref := memory.NewAgents(memory.WithClock(clk))
	kept := slices.DeleteFunc(slices.Clone(stream), func(m mutation.Mutation) bool { return lost[m.Seq] })
	if _, err := ref.Apply(ctx, mutation.Endpoint{InstanceID: "ref"}, "i-live1", kept); err != nil {
		t.Fatal(err)
	}
	clk.Advance(memory.DefaultGapWait)
	want, _ := ref.Digest("ref", "i-live1")
	for _, inst := range []string{"i-live1", "i-shadow1"} {
		last, applied, err := agents.Status(inst, "i-live1")
		if err != nil {
			t.Fatal(err)
		}
		d, _ := agents.Digest(inst, "i-live1")
		if last != n || applied != n-3 || d != want {
			t.Errorf("%s: position %d applied %d (digest equal to the in-order pass: %v); want %d, %d", inst, last, applied, d == want, n, n-3)
		}
	}
	total := map[mutation.Target]int{}
	for k, c := range r.Flush() {
		total[k.Target] += c.Accepted
	}
	if total[mutation.Live] != n-3 || total[mutation.Shadow] != n-3 {
		t.Errorf("counted accepted %v, want %d each", total, n-3)
	}
}

func TestRouterRetryAfterShadowRecovers(t *testing.T) {
	agents := memory.NewAgents()
	down := true
	agents.Fail = func(to mutation.Endpoint, _ string, _ []mutation.Mutation) error {
		if down && to.InstanceID == "i-shadow1" {
			return errors.New("timeout")
		}
		return nil
	}
	r := mutation.NewRouter(routes(), agents, clock.NewFake(t0))
	batch := muts("i-live1", 1, 2, 3)
	out := r.Route(context.Background(), batch)
	if out[0].Err == nil {
		t.Fatal("first delivery succeeded with the shadow down")
	}
	down = false
	mustOK(t, r.Route(context.Background(), batch))
	for _, inst := range []string{"i-live1", "i-shadow1"} {
		if _, applied, _ := agents.Status(inst, "i-live1"); applied != 3 {
			t.Fatalf("%s applied %d, want exactly 3 (no doubles)", inst, applied)
		}
	}
}

func BenchmarkRouter(b *testing.B) {
	agents := memory.NewAgents()
	r := mutation.NewRouter(routes(), agents, clock.NewFake(t0))
	const batchSize = 500
	batch := make([]mutation.Mutation, batchSize)
	seq := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		for j := range batch {
			seq++
			batch[j] = mutation.Mutation{V: 1, Resource: "i-live1", Seq: seq, Op: mutation.OpPut, Key: "k", Value: []byte("v"), ProducedAt: t0}
		}
		r.Route(context.Background(), batch)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mutations/s")
}

// TestRouterHeartbeats: a heartbeat is never delivered to an agent; it is
// done whatever its resource, and counted seen (with the mutations
// delivered) when its resource resolves.
func TestRouterHeartbeats(t *testing.T) {
	agents := memory.NewAgents()
	clk := clock.NewFake(t0)
	r := mutation.NewRouter(routes(), agents, clk)
	var delivered []string
	agents.Fail = func(to mutation.Endpoint, res string, batch []mutation.Mutation) error {
		for _, m := range batch {
			if m.IsHeartbeat() {
				t.Errorf("a heartbeat reached agent %s", to.InstanceID)
			}
			delivered = append(delivered, fmt.Sprint(to.InstanceID, "/", m.Seq))
		}
		return nil
	}
	batch := []mutation.Mutation{
		mutation.Heartbeat("i-live1", t0),
		mutation.Heartbeat("i-live2", t0),
		mutation.Heartbeat("i-unknown", t0), // not resolved: done, not counted
		muts("i-live2", 1)[0],
		mutation.Heartbeat("i-live2", t0),
	}
	mustOK(t, r.Route(context.Background(), batch))
	if fmt.Sprint(delivered) != "[i-live2/1]" {
		t.Errorf("delivered %v, want only the mutation to the live agent", delivered)
	}
	minute := t0.Truncate(time.Minute)
	counts := r.Flush()
	for res, want := range map[string]int{"i-live1": 1, "i-live2": 3} {
		if got := counts[mutation.CountKey{Group: "g", Resource: res, Target: mutation.SeenTarget, Minute: minute}].Seen; got != want {
			t.Errorf("%s seen %d, want %d", res, got, want)
		}
	}
	if n := len(counts); n != 3 { // two seen keys and i-live2's live key
		t.Errorf("%d counters: %v", n, counts)
	}
	// A failed delivery is not seen: the minute has no evidence of demand.
	agents.Fail = func(mutation.Endpoint, string, []mutation.Mutation) error { return errors.New("down") }
	out := r.Route(context.Background(), muts("i-live2", 2))
	if out[0].Err == nil || !out[0].Retry {
		t.Fatalf("outcome %+v", out[0])
	}
	if c := r.Flush()[mutation.CountKey{Group: "g", Resource: "i-live2", Target: mutation.SeenTarget, Minute: minute}]; c.Seen != 0 {
		t.Errorf("a failed mutation counted seen: %+v", c)
	}
}

// shareRecorder is an Applier that records the BatchShare each delivery's
// context carries, and how many times a share's work ran.
type shareRecorder struct {
	mu     sync.Mutex
	shares map[string]*mutation.BatchShare // by agent instance
	runs   atomic.Int32
}

func (s *shareRecorder) Apply(ctx context.Context, to mutation.Endpoint, _ string, batch []mutation.Mutation) (mutation.Ack, error) {
	share := mutation.BatchShareFrom(ctx)
	if share != nil {
		share.Do(func() any { s.runs.Add(1); return nil })
	}
	s.mu.Lock()
	s.shares[to.InstanceID] = share
	s.mu.Unlock()
	return mutation.Ack{Through: batch[len(batch)-1].Seq, Accepted: len(batch)}, nil
}

// TestRouterSharesABatchBetweenItsTargets: the deliveries of one batch to
// a live agent and its shadow's carry one BatchShare, whose work runs
// once; another resource's batch has its own; a resource without a ready
// shadow (one target) has none.
func TestRouterSharesABatchBetweenItsTargets(t *testing.T) {
	rs := routes()
	rs["i-live3"] = mutation.Route{Resource: "i-live3", Group: "g", Live: mutation.Endpoint{InstanceID: "i-live3"}, Shadow: mutation.Endpoint{InstanceID: "i-shadow3"}, ShadowReady: true}
	rec := &shareRecorder{shares: map[string]*mutation.BatchShare{}}
	r := mutation.NewRouter(rs, rec, clock.NewFake(t0))
	in := append(append(muts("i-live1", 1, 2, 3), muts("i-live2", 1)...), muts("i-live3", 1, 2)...)
	mustOK(t, r.Route(context.Background(), in))
	sh := rec.shares
	switch {
	case sh["i-live1"] == nil || sh["i-live1"] != sh["i-shadow1"]:
		t.Errorf("i-live1 and its shadow: shares %p and %p, want one", sh["i-live1"], sh["i-shadow1"])
	case sh["i-live3"] == nil || sh["i-live3"] != sh["i-shadow3"]:
		t.Errorf("i-live3 and its shadow: shares %p and %p, want one", sh["i-live3"], sh["i-shadow3"])
	case sh["i-live1"] == sh["i-live3"]:
		t.Error("two resources' batches share one BatchShare")
	case sh["i-live2"] != nil:
		t.Error("a delivery to one target carries a share")
	}
	if n := rec.runs.Load(); n != 2 {
		t.Errorf("the shares' work ran %d times, want 2 (once a batch)", n)
	}
}

// TestRouterGroupsInterleavedResources: however a batch interleaves its
// resources (runs of any length, a resource coming back after others,
// heartbeats among them), each target gets its resource's mutations once
// each, in seq order, in one delivery, and the outcomes are in input order.
func TestRouterGroupsInterleavedResources(t *testing.T) {
	hb := func(res string) mutation.Mutation { return mutation.Heartbeat(res, t0) }
	cases := []struct {
		name  string
		batch []mutation.Mutation
		want  map[string]string // instance -> its one delivery's seqs
	}{
		{"one run each", slices.Concat(muts("i-live1", 1, 2, 3), muts("i-live2", 1, 2)),
			map[string]string{"i-live1": "[1 2 3]", "i-shadow1": "[1 2 3]", "i-live2": "[1 2]"}},
		{"alternating", slices.Concat(muts("i-live1", 1), muts("i-live2", 1), muts("i-live1", 2), muts("i-live2", 2), muts("i-live1", 3)),
			map[string]string{"i-live1": "[1 2 3]", "i-shadow1": "[1 2 3]", "i-live2": "[1 2]"}},
		{"runs that come back, reordered and repeated", slices.Concat(muts("i-live2", 4, 5), muts("i-live1", 9, 7), muts("i-live2", 1), muts("i-live1", 8, 7), muts("i-live2", 2, 3)),
			map[string]string{"i-live1": "[7 8 9]", "i-shadow1": "[7 8 9]", "i-live2": "[1 2 3 4 5]"}},
		{"heartbeats inside the runs", slices.Concat([]mutation.Mutation{hb("i-live1")}, muts("i-live1", 1), []mutation.Mutation{hb("i-live2"), hb("i-live1")}, muts("i-live2", 1), muts("i-live1", 2), []mutation.Mutation{hb("i-live2")}),
			map[string]string{"i-live1": "[1 2]", "i-shadow1": "[1 2]", "i-live2": "[1]"}},
		{"heartbeats between reordered and repeated seqs", slices.Concat(muts("i-live1", 2), []mutation.Mutation{hb("i-live1")}, muts("i-live1", 1), []mutation.Mutation{hb("i-live1")}, muts("i-live1", 3, 3)),
			map[string]string{"i-live1": "[1 2 3]", "i-shadow1": "[1 2 3]"}},
		{"heartbeats only", []mutation.Mutation{hb("i-live1"), hb("i-live2"), hb("i-live1")}, map[string]string{}},
		{"empty", nil, map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agents := memory.NewAgents()
			var mu sync.Mutex
			got := map[string]string{}
			agents.Fail = func(to mutation.Endpoint, res string, batch []mutation.Mutation) error {
				mu.Lock()
				defer mu.Unlock()
				if _, again := got[to.InstanceID]; again {
					t.Errorf("%s: a second delivery", to.InstanceID)
				}
				seqs := make([]uint64, len(batch))
				for i, m := range batch {
					if m.Resource != res {
						t.Errorf("%s: a mutation of %s in a batch for %s", to.InstanceID, m.Resource, res)
					}
					seqs[i] = m.Seq
				}
				got[to.InstanceID] = fmt.Sprint(seqs)
				return nil
			}
			out := mutation.NewRouter(routes(), agents, clock.NewFake(t0)).Route(context.Background(), tc.batch)
			if len(out) != len(tc.batch) {
				t.Fatalf("%d outcomes for %d mutations", len(out), len(tc.batch))
			}
			for i, o := range out {
				if o.Index != i || o.Err != nil {
					t.Errorf("outcome %d: %+v", i, o)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("deliveries %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRouterPassesARunWithoutCopy: a resource whose mutations are one run
// of the input, in seq order and once each, is delivered as that part of
// the input itself (the common batch: one aggregated record per
// instance); any other shape is delivered as a copy, in seq order.
func TestRouterPassesARunWithoutCopy(t *testing.T) {
	batch := slices.Concat(muts("i-live2", 1, 2), muts("i-live1", 1, 2, 3), muts("i-live2", 3))
	agents := memory.NewAgents()
	var mu sync.Mutex
	aliased := map[string]bool{}
	agents.Fail = func(to mutation.Endpoint, res string, got []mutation.Mutation) error {
		mu.Lock()
		defer mu.Unlock()
		aliased[to.InstanceID] = false
		for i := range batch {
			if &batch[i] == &got[0] {
				aliased[to.InstanceID] = true
			}
		}
		return nil
	}
	mustOK(t, mutation.NewRouter(routes(), agents, clock.NewFake(t0)).Route(context.Background(), batch))
	want := map[string]bool{"i-live1": true, "i-shadow1": true, "i-live2": false}
	if fmt.Sprint(aliased) != fmt.Sprint(want) {
		t.Errorf("delivered the input itself: %v, want %v", aliased, want)
	}
}
