package agent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// An agent that does not present its instance's certificate (an impostor
// at the address, a certificate of another master key, or the address now
// being another instance's) is refused during the handshake: the client
// sends nothing on the connection, and the error is retryable.
func TestClientPinsTheInstancesCertificate(t *testing.T) {
	const res = "i-0abc"
	batch := []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "SECRET-VALUE")}
	cl := newTestClient(t, nil, ClientOptions{})
	var served atomic.Int32
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		writeJSON(w, 200, ApplyResponse{})
	})
	// The right name, the key of another master.
	impostor := fakeAgentOf(t, DeriveIdentity([]byte("the-attackers-master-0123456789"), "i-x"), count)
	_, err := cl.Apply(t.Context(), impostor, res, batch)
	var pe *PinError
	if !errors.As(err, &pe) || pe.Instance != "i-x" || pe.Want != DeriveIdentity(testKey, "i-x").Pin() || errors.Is(err, mutation.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable *PinError for i-x", err)
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("the impostor was sent %d requests", n)
	}

	// A real agent, asked for as another instance (the address reused).
	a := startAgent(t, "i-live", agentOpts{})
	_, err = cl.Apply(t.Context(), mutation.Endpoint{InstanceID: "i-other", Address: a.ep.Address}, res, batch)
	if err == nil || errors.Is(err, mutation.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable handshake failure", err)
	}
	if st := a.store.Status(res); st.Known {
		t.Fatalf("the agent accepted a batch meant for another instance: %+v", st)
	}
	// Its own instance is fine.
	if _, err := cl.Apply(t.Context(), a.ep, res, batch); err != nil {
		t.Fatal(err)
	}
}

// fakeAgentOf serves handler over TLS with the certificate of id.
func fakeAgentOf(t *testing.T, id Identity, handler http.Handler) mutation.Endpoint {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	api, err := NewServer(openTestStore(t, t.TempDir(), clock.System{}, StoreOptions{}), ServerConfig{Identities: []Identity{id}, Clock: clock.System{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.store.Close() })
	srv.TLS = api.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return mutation.Endpoint{InstanceID: id.InstanceID, Address: strings.TrimPrefix(srv.URL, "https://")}
}

// tap is a TCP proxy that records every byte both ways.
type tap struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer
}

func startTap(t *testing.T, to string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				cp := func(dst, src net.Conn) {
					_, _ = io.Copy(io.MultiWriter(dst, tp), src)
					if tc, ok := dst.(*net.TCPConn); ok {
						_ = tc.CloseWrite()
					}
					done <- struct{}{}
				}
				go cp(up, c)
				go cp(c, up)
				<-done
				<-done
			}()
		}
	}()
	return tp
}

func (tp *tap) Write(p []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.seen.Write(p)
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.seen.Bytes())
}

// Someone on the path between the plane and an agent sees neither a
// mutation's value nor its key, in a batch, a status or a resync (both
// legs: the export from the live, the import into the shadow).
func TestTheLinkIsEncrypted(t *testing.T) {
	const res = "i-0live"
	const value, mkey = "SECRET-MUTATION-VALUE-7f3a9c", "PRIVATE-KEY-NAME-41d2"
	live := startAgent(t, "i-0live", agentOpts{})
	shadow := startAgent(t, "i-0shadow", agentOpts{})
	liveTap, shadowTap := startTap(t, live.ep.Address), startTap(t, shadow.ep.Address)
	liveEP := mutation.Endpoint{InstanceID: live.ep.InstanceID, Address: liveTap.addr}
	shadowEP := mutation.Endpoint{InstanceID: shadow.ep.InstanceID, Address: shadowTap.addr}
	cl := newTestClient(t, nil, ClientOptions{})
	if _, err := cl.Apply(t.Context(), liveEP, res, []mutation.Mutation{mut(res, 1, mutation.OpPut, mkey, value)}); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, live, res)
	if _, err := cl.Resync(t.Context(), liveEP, shadowEP, res); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, shadow, res)
	if st := shadow.store.Status(res); st.AppliedCount != 1 || st.Digest != live.store.Status(res).Digest {
		t.Fatalf("the shadow did not get the state through the taps: %+v", st)
	}
	for name, tp := range map[string]*tap{"live": liveTap, "shadow": shadowTap} {
		seen := tp.bytes()
		if len(seen) < 1000 {
			t.Fatalf("the %s tap saw %d bytes: it was not on the path", name, len(seen))
		}
		for what, s := range map[string]string{"value": value, "value (base64)": base64.StdEncoding.EncodeToString([]byte(value)), "key": mkey, "path": PathApply} { // the instance ids are not secret: the server name carries them
			if bytes.Contains(seen, []byte(s)) {
				t.Errorf("the %s tap saw the mutation's %s in clear", name, what)
			}
		}
	}
}

// One agent process may answer for several instances (a test stand-in
// for a fleet): each connection is opened for one of them, requests for
// each reach it over its own connection, and a request for one arriving
// on a connection opened for the other is refused.
func TestOneAgentSeveralIdentities(t *testing.T) {
	const res = "i-0abc"
	a, b := DeriveIdentity(testKey, "i-0aaa"), DeriveIdentity(testKey, "i-0bbb")
	logs := &syncBuffer{}
	st := openTestStore(t, t.TempDir(), clock.System{}, StoreOptions{})
	t.Cleanup(func() { st.Close() })
	api, err := NewServer(st, ServerConfig{Identities: []Identity{a, b}, Clock: clock.System{}, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api)
	srv.TLS = api.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "https://")
	cl := newTestClient(t, nil, ClientOptions{})
	for i, id := range []Identity{a, b, a, b} {
		ep := mutation.Endpoint{InstanceID: id.InstanceID, Address: addr}
		if _, err := cl.Apply(t.Context(), ep, res, []mutation.Mutation{mut(res, uint64(i+1), mutation.OpPut, "k", "v")}); err != nil {
			t.Fatalf("apply for %s: %v", id.InstanceID, err)
		}
	}
	if got := api.Identities(); len(got) != 2 || got[0] != "i-0aaa" || got[1] != "i-0bbb" {
		t.Fatalf("identities %v", got)
	}
	body := applyBody(t, res, mut(res, 9, mutation.OpPut, "k", "v"))
	req, _ := http.NewRequest("POST", srv.URL+PathApply, bytes.NewReader(body))
	signRequest(a, req, time.Now(), newNonce(), bodyHash(body))
	if status, text := doSNI(t, b.InstanceID, req); status != http.StatusUnauthorized || !strings.Contains(text, "opened for") {
		t.Fatalf("a request for %s on a connection for %s: %d %s", a.InstanceID, b.InstanceID, status, text)
	}
}

// A request signed for one agent and replayed, as it is, to another (same
// master, another instance) is refused by the other.
func TestRequestForOneAgentRefusedByAnother(t *testing.T) {
	live, shadow := startAgent(t, "i-live", agentOpts{}), startAgent(t, "i-shadow", agentOpts{})
	const res = "i-0abc"
	body := applyBody(t, res, mut(res, 1, mutation.OpPut, "k", "v"))
	build := func(to *testAgent) *http.Request {
		req, _ := http.NewRequest("POST", to.srv.URL+PathApply, bytes.NewReader(body))
		return req
	}
	orig := build(live)
	signRequest(live.id, orig, time.Now(), [16]byte{1}, bodyHash(body))
	replayed := build(shadow)
	replayed.Header = orig.Header.Clone()
	if status, text := do(t, shadow, replayed); status != http.StatusUnauthorized || !strings.Contains(text, "which this agent is not") {
		t.Fatalf("replayed to the shadow: %d %s", status, text)
	}
	if status, _ := do(t, live, orig); status != http.StatusOK {
		t.Fatalf("the original to its agent: %d", status)
	}
	if st := shadow.store.Status(res); st.Known {
		t.Fatalf("the shadow accepted the replay: %+v", st)
	}
}
