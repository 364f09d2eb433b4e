package mutation_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/clock"
	"github.com/shadowscale/shadowscale/shared/mutation"
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
