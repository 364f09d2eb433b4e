package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// testKey is the master key of the tests: a test agent named X holds
// DeriveIdentity(testKey, X).
var testKey = []byte("test-key-0123456789abcdef-0123456789")

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func openTestStore(t testing.TB, dir string, c clock.Clock, opts StoreOptions) *Store {
	t.Helper()
	if opts.MmapBytes == 0 {
		opts.MmapBytes = 16 << 20
	}
	s, err := OpenStore(dir+"/agent.db", c, opts)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	return s
}

func newTestStore(t testing.TB, c clock.Clock) *Store {
	t.Helper()
	s := openTestStore(t, t.TempDir(), c, StoreOptions{})
	t.Cleanup(func() { s.Close() })
	return s
}

func mut(res string, seq uint64, op mutation.Op, key, value string) mutation.Mutation {
	m := mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: op, Key: key, ProducedAt: t0.Add(time.Duration(seq) * time.Millisecond)}
	if op != mutation.OpDelete {
		m.Value = []byte(value)
	}
	return m
}

// genMutations returns n mutations of res with seqs from, from+1, ... over
// a few keys, a mix of puts, updates and deletes; deterministic per seed.
func genMutations(seed uint64, res string, from uint64, n, keys, valueLen int) []mutation.Mutation {
	rng := rand.New(rand.NewPCG(seed, from))
	out := make([]mutation.Mutation, n)
	for i := range out {
		key := fmt.Sprintf("k/%d", rng.IntN(keys))
		op := mutation.OpPut
		switch r := rng.IntN(10); {
		case r == 0:
			op = mutation.OpDelete
		case r < 4:
			op = mutation.OpUpdate
		}
		v := make([]byte, valueLen)
		for j := range v {
			v[j] = byte('a' + rng.IntN(26))
		}
		out[i] = mut(res, from+uint64(i), op, key, string(v))
	}
	return out
}

// model is the expected state of one resource: what memory.Agents would
// hold, digested with the agent's own formula.
type model struct {
	kv      map[string][]byte
	last    uint64
	applied uint64
	gaps    uint64
}

func newModel() *model { return &model{kv: map[string][]byte{}} }

func (m *model) apply(muts ...mutation.Mutation) {
	for _, mu := range muts {
		if mu.Seq <= m.last {
			continue
		}
		m.gaps += mu.Seq - m.last - 1
		m.last = mu.Seq
		m.applied++
		if mu.Op == mutation.OpDelete {
			delete(m.kv, mu.Key)
		} else {
			m.kv[mu.Key] = append([]byte(nil), mu.Value...)
		}
	}
}

// digest is computed from scratch (sorted pairs), not incrementally.
func (m *model) digest() string {
	keys := make([]string, 0, len(m.kv))
	for k := range m.kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var acc digestAcc
	for _, k := range keys {
		acc.add([]byte(k), m.kv[k])
	}
	return stateDigest(m.last, uint64(len(m.kv)), acc)
}

func drainStore(t testing.TB, s *Store) {
	t.Helper()
	for range 100000 {
		n, err := s.ApplyPending(4096)
		if err != nil {
			t.Fatalf("applying: %v", err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("store never drained")
}

// testAgent is an agent behind a real loopback TLS server, its worker
// running.
type testAgent struct {
	store *Store
	api   *Server
	srv   *httptest.Server
	ep    mutation.Endpoint
	id    Identity // the agent's (its name's key derived from testKey)
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type agentOpts struct {
	enroll    *EnrollConfig // instead of the name's identity
	clock     clock.Clock
	rate      float64
	noWorker  bool
	maxBody   int64
	replay    int
	storeOpts StoreOptions
}

func startAgent(t testing.TB, name string, o agentOpts) *testAgent {
	t.Helper()
	if o.clock == nil {
		o.clock = clock.System{}
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := openTestStore(t, t.TempDir(), o.clock, o.storeOpts)
	id := DeriveIdentity(testKey, name)
	cfg := ServerConfig{Identities: []Identity{id}, Clock: o.clock, Logger: log, MaxBody: o.maxBody, ReplayCache: o.replay}
	if o.enroll != nil {
		cfg.Identities, cfg.Enroll = nil, o.enroll
	}
	srv, err := NewServer(st, cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	hs := httptest.NewUnstartedServer(srv)
	hs.TLS = srv.TLSConfig()
	hs.StartTLS()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if !o.noWorker {
		w := NewWorker(st, o.clock, o.rate, log)
		w.Poll = 5 * time.Millisecond
		go func() { defer close(done); w.Run(ctx) }()
	} else {
		close(done)
	}
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		st.Close()
	})
	return &testAgent{store: st, api: srv, srv: hs, id: id, ep: mutation.Endpoint{InstanceID: name, Address: strings.TrimPrefix(hs.URL, "https://")}, logs: logs}
}

// rawClient speaks TLS to a test agent for the instance sni without
// checking its certificate: for requests built by hand.
func rawClient(sni string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, //nolint:gosec // test
		DisableKeepAlives: true,
	}}
}

func newTestClient(t testing.TB, c clock.Clock, o ClientOptions) *Client {
	t.Helper()
	if c == nil {
		c = clock.System{}
	}
	cl, err := NewClient(testKey, c, o)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return cl
}

// waitFor polls cond until it holds (fails the test after 10 s).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitDrained(t testing.TB, a *testAgent, res string) {
	t.Helper()
	waitFor(t, "agent "+a.ep.InstanceID+" to apply its backlog", func() bool {
		st := a.store.Status(res)
		return st.Backlog == 0 && !st.Importing
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
