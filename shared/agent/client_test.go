package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func TestClientErrorClassification(t *testing.T) {
	const res = "i-0abc"
	batch := []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")}
	cases := []struct {
		status    int
		permanent bool
	}{
		{400, true}, {401, false}, {403, true}, {404, true}, {409, true}, {413, true}, {422, true},
		{408, false}, {429, false}, {500, false}, {502, false}, {503, false}, {504, false},
	}
	cl := newTestClient(t, nil, ClientOptions{})
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			ep := fakeAgent(t, "i-x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, c.status, ErrorResponse{Error: "because"})
			}))
			ack, err := cl.Apply(t.Context(), ep, res, batch)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, mutation.ErrPermanent); got != c.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, c.permanent, err)
			}
			var se *StatusError
			if !errors.As(err, &se) || se.Code != c.status || se.Message != "because" {
				t.Errorf("error %v does not carry the status and message", err)
			}
			if !reflect.DeepEqual(ack, mutation.Ack{}) {
				t.Errorf("ack %+v on a failed first request, want zero", ack)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = cl.Apply(t.Context(), mutation.Endpoint{InstanceID: "i-x", Address: addr}, res, batch)
		if err == nil || errors.Is(err, mutation.ErrPermanent) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
	})
	t.Run("timeout from the context", func(t *testing.T) {
		release := make(chan struct{})
		ep := fakeAgent(t, "i-x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer close(release)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := cl.Apply(ctx, ep, res, batch)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mutation.ErrPermanent) {
			t.Fatalf("err = %v, want a retryable deadline error", err)
		}
	})
	t.Run("mutation of another resource", func(t *testing.T) {
		_, err := cl.Apply(t.Context(), mutation.Endpoint{InstanceID: "i-x", Address: "127.0.0.1:1"}, "i-other", batch)
		if !errors.Is(err, mutation.ErrPermanent) {
			t.Fatalf("err = %v, want permanent", err)
		}
	})
}

// fakeAgent serves handler over TLS with the certificate of instance's
// identity (derived from testKey): what the client pins.
func fakeAgent(t *testing.T, instance string, handler http.Handler) mutation.Endpoint {
	t.Helper()
	cert, err := DeriveIdentity(testKey, instance).Certificate(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return mutation.Endpoint{InstanceID: instance, Address: strings.TrimPrefix(srv.URL, "https://")}
}

// countingHandler counts apply requests and can fail the nth.
type countingHandler struct {
	next   http.Handler
	n      atomic.Int32
	failAt int32
	status int
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathApply {
		if n := h.n.Add(1); n == h.failAt {
			writeJSON(w, h.status, ErrorResponse{Error: "injected"})
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

func startCountingAgent(t *testing.T, maxBody int64, failAt int32, status int) (*testAgent, *countingHandler) {
	t.Helper()
	a := startAgent(t, "i-0abc", agentOpts{maxBody: maxBody})
	h := &countingHandler{next: a.srv.Config.Handler, failAt: failAt, status: status}
	a.srv.Config.Handler = h
	return a, h
}

func TestClientSortsAndSplits(t *testing.T) {
	const res = "i-0abc"
	a, h := startCountingAgent(t, 16<<10, 0, 0)
	cl := newTestClient(t, nil, ClientOptions{MaxBody: 16 << 10})
	muts := genMutations(12, res, 1, 300, 50, 200) // ~300 B each encoded: ~6 requests
	// reversed, with repeats: the client sorts and dedupes
	var batch []mutation.Mutation
	for i := len(muts) - 1; i >= 0; i-- {
		batch = append(batch, muts[i])
		if i%50 == 0 {
			batch = append(batch, muts[i])
		}
	}
	ack, err := cl.Apply(t.Context(), a.ep, res, batch)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Through != 300 || ack.Accepted != 300 {
		t.Fatalf("ack %+v, want through 300, accepted 300", ack)
	}
	if n := h.n.Load(); n < 4 || n > 10 {
		t.Errorf("%d requests for ~100 KB under a 16 KiB limit", n)
	}
	waitDrained(t, a, res)
	m := newModel()
	m.apply(muts...)
	if d := a.store.Digest(res); d.Digest != m.digest() {
		t.Error("digest differs after a split batch")
	}
}

func TestClientPartialAcceptance(t *testing.T) {
	const res = "i-0abc"
	cases := []struct {
		status    int
		permanent bool
	}{{503, false}, {400, true}}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			a, _ := startCountingAgent(t, 16<<10, 2, c.status)
			cl := newTestClient(t, nil, ClientOptions{MaxBody: 16 << 10})
			muts := genMutations(13, res, 1, 300, 50, 200)
			ack, err := cl.Apply(t.Context(), a.ep, res, muts)
			if err == nil {
				t.Fatal("no error from the failed second request")
			}
			if errors.Is(err, mutation.ErrPermanent) != c.permanent {
				t.Errorf("permanent = %v for %d", !c.permanent, c.status)
			}
			st := a.store.Status(res)
			if ack.Through == 0 || ack.Through != st.AcceptedSeq || uint64(ack.Accepted) != st.AcceptedCount {
				t.Fatalf("ack %+v after a partial acceptance, agent accepted through %d (%d)", ack, st.AcceptedSeq, st.AcceptedCount)
			}
			// The Router's retry: what is above Through.
			ack2, err := cl.Apply(t.Context(), a.ep, res, muts)
			if err != nil {
				t.Fatal(err)
			}
			if ack2.Through != 300 || ack.Accepted+ack2.Accepted != 300 {
				t.Fatalf("retry ack %+v after %+v: want everything accepted exactly once", ack2, ack)
			}
		})
	}
}

func TestClientRefusesMutationTooLarge(t *testing.T) {
	const res = "i-0abc"
	a, h := startCountingAgent(t, 4<<10, 0, 0)
	cl := newTestClient(t, nil, ClientOptions{MaxBody: 4 << 10})
	batch := []mutation.Mutation{
		mut(res, 1, mutation.OpPut, "a", "small"),
		mut(res, 2, mutation.OpPut, "b", strings.Repeat("x", 8<<10)),
		mut(res, 3, mutation.OpPut, "c", "small"),
	}
	ack, err := cl.Apply(t.Context(), a.ep, res, batch)
	if !errors.Is(err, mutation.ErrPermanent) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if ack.Through != 1 || h.n.Load() != 1 {
		t.Fatalf("ack %+v after %d requests: want seq 1 sent and acked, nothing after the oversized one", ack, h.n.Load())
	}
}

func TestNewClientValidates(t *testing.T) {
	cases := []struct {
		name string
		key  []byte
		c    clock.Clock
		opts ClientOptions
	}{
		{"short key", []byte("short"), clock.System{}, ClientOptions{}},
		{"no clock", testKey, nil, ClientOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewClient(c.key, c.c, c.opts); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// The Router drives two real agents through the Client; both end with the
// same digest, and the Router counted what they accepted.
func TestRouterWithClient(t *testing.T) {
	const res = "i-0live"
	live := startAgent(t, "i-0live", agentOpts{})
	shadow := startAgent(t, "i-0shadow", agentOpts{})
	cl := newTestClient(t, nil, ClientOptions{})
	r := mutation.NewRouter(&fixedResolver{route: mutation.Route{Resource: res, Group: "g", Live: live.ep, Shadow: shadow.ep, ShadowReady: true}}, cl, clock.System{})
	muts := genMutations(14, res, 1, 2000, 100, 32)
	// delivered twice, shuffled within the batch
	for round := range 2 {
		for i := 0; i < len(muts); i += 250 {
			b := append([]mutation.Mutation(nil), muts[i:i+250]...)
			for j := range b {
				k := (j*7 + round) % len(b)
				b[j], b[k] = b[k], b[j]
			}
			for _, o := range r.Route(t.Context(), b) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
			}
		}
	}
	waitDrained(t, live, res)
	waitDrained(t, shadow, res)
	if ld, sd := live.store.Digest(res), shadow.store.Digest(res); ld.Digest != sd.Digest || ld.AppliedSeq != 2000 {
		t.Fatalf("live %+v shadow %+v", ld, sd)
	}
	var accepted [2]int
	for k, c := range r.Flush() {
		if k.Target == mutation.Live {
			accepted[0] += c.Accepted
		} else {
			accepted[1] += c.Accepted
		}
	}
	if accepted != [2]int{2000, 2000} {
		t.Errorf("router counted %v accepted, want 2000 each", accepted)
	}
}

func TestShadowAgentsPort(t *testing.T) {
	const res = "i-0live"
	live := startAgent(t, "i-0live", agentOpts{})
	shadow := startAgent(t, "i-0shadow", agentOpts{})
	port := ShadowAgents{Client: newTestClient(t, nil, ClientOptions{})}
	muts := genMutations(15, res, 1, 700, 50, 16)
	if _, err := port.Client.Apply(t.Context(), live.ep, res, muts); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, live, res)
	ls, err := port.State(t.Context(), live.ep, res)
	if err != nil {
		t.Fatal(err)
	}
	m := newModel()
	m.apply(muts...)
	if ls.AcceptedSeq != 700 || ls.AppliedSeq != 700 || ls.Applied != 700 || ls.Backlog != 0 || ls.Digest != m.digest() {
		t.Fatalf("live state %+v", ls)
	}
	ss, err := port.State(t.Context(), shadow.ep, res)
	if err != nil || ss.AppliedSeq != 0 || ss.Digest == ls.Digest {
		t.Fatalf("fresh shadow state %+v, %v", ss, err)
	}
	if err := port.Resync(t.Context(), live.ep, shadow.ep, res); err != nil {
		t.Fatal(err)
	}
	if len(ls.Checkpoints) != 2 || ls.Checkpoints[0].Seq != 256 || ls.Checkpoints[1].Seq != 512 {
		t.Fatalf("live checkpoints %+v, want seqs 256 and 512", ls.Checkpoints)
	}
	ss, _ = port.State(t.Context(), shadow.ep, res)
	ss.Checkpoints, ls.Checkpoints = nil, nil // checkpoints restart after an import
	if !reflect.DeepEqual(ss, ls) {
		t.Fatalf("after resync: shadow %+v, live %+v", ss, ls)
	}
}

// A resync of a resource neither agent holds (a live instance no mutation
// has reached yet, its new shadow) has nothing to copy: it succeeds. One
// the live does not hold but the shadow does still fails (the live's
// export answers 404), and so does a live that cannot be asked.
func TestShadowAgentsResyncOfNothing(t *testing.T) {
	const res = "i-0idle"
	live := startAgent(t, "i-0live", agentOpts{})
	sh := startAgent(t, "i-0shadow", agentOpts{})
	port := ShadowAgents{Client: newTestClient(t, nil, ClientOptions{})}
	if err := port.Resync(t.Context(), live.ep, sh.ep, res); err != nil {
		t.Fatalf("resync of a resource neither holds: %v", err)
	}
	if st := sh.store.Status(res); st.Known {
		t.Fatalf("the resync of nothing created the resource on the shadow: %+v", st)
	}
	if _, err := port.Client.Apply(t.Context(), sh.ep, res, genMutations(3, res, 1, 5, 2, 4)); err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if err := port.Resync(t.Context(), live.ep, sh.ep, res); !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Fatalf("resync from a live without the resource onto a shadow with it: %v, want the export's 404", err)
	}
	gone := mutation.Endpoint{InstanceID: "i-0gone", Address: "127.0.0.1:1"}
	if err := port.Resync(t.Context(), gone, sh.ep, "i-0other"); err == nil {
		t.Fatal("resync from an agent that cannot be reached succeeded")
	}
}

// TestClientSharesABatchsEncoding: deliveries of one batch to two agents
// under one mutation.BatchShare (what the Router does for a live agent and
// its shadow's, concurrently) encode it once, and each agent gets all of
// it; without a share each delivery encodes its own. A batch refused for
// a mutation of another resource is refused for each agent by name.
func TestClientSharesABatchsEncoding(t *testing.T) {
	const res = "i-0abc"
	live, shadow := startAgent(t, "i-0live", agentOpts{}), startAgent(t, "i-0shadow", agentOpts{})
	cl := newTestClient(t, nil, ClientOptions{MaxBody: 16 << 10})
	batch := genMutations(7, res, 1, 300, 50, 200) // several requests each
	ctx := mutation.WithBatchShare(t.Context())
	var wg sync.WaitGroup
	for _, a := range []*testAgent{live, shadow} {
		wg.Go(func() {
			if ack, err := cl.Apply(ctx, a.ep, res, batch); err != nil || ack.Through != 300 {
				t.Errorf("apply to %s: %+v, %v", a.ep.InstanceID, ack, err)
			}
		})
	}
	wg.Wait()
	if n := cl.encodes.Load(); n != 1 {
		t.Errorf("the batch was encoded %d times for two agents under one share, want 1", n)
	}
	m := newModel()
	m.apply(batch...)
	for _, a := range []*testAgent{live, shadow} {
		waitDrained(t, a, res)
		if d := a.store.Digest(res); d.Digest != m.digest() {
			t.Errorf("agent %s: digest differs from the batch's", a.ep.InstanceID)
		}
	}
	if _, err := cl.Apply(t.Context(), live.ep, res, batch); err != nil {
		t.Fatal(err)
	}
	if n := cl.encodes.Load(); n != 2 {
		t.Errorf("%d encodings after a delivery without a share, want 2", n)
	}

	stray := append(slices.Clone(batch[:2]), mut("i-0other", 3, mutation.OpPut, "k", "v"))
	ctx = mutation.WithBatchShare(t.Context())
	for _, a := range []*testAgent{live, shadow} {
		_, err := cl.Apply(ctx, a.ep, res, stray)
		if !errors.Is(err, mutation.ErrPermanent) || !strings.Contains(err.Error(), "agent "+a.ep.InstanceID+":") || !strings.Contains(err.Error(), "i-0other/3") {
			t.Errorf("a stray mutation, to %s: %v", a.ep.InstanceID, err)
		}
	}
}
