package agent

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// fakeKMS stands in for the KMS key: Seal encrypts under the instance
// (AES-GCM with the instance as associated data, as KMS binds the
// encryption context), and an instance's unsealer opens only what was
// sealed for it (what IAM's ec2:SourceInstanceARN condition enforces).
type fakeKMS struct {
	aead  cipher.AEAD
	seals atomic.Int32
}

func newFakeKMS(t testing.TB) *fakeKMS {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeKMS{aead: g}
}

func (k *fakeKMS) Seal(_ context.Context, instance string, plain []byte) ([]byte, error) {
	k.seals.Add(1)
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plain, []byte(instance)), nil
}

type fakeUnsealer struct {
	kms      *fakeKMS
	instance string
	calls    atomic.Int32
}

func (u *fakeUnsealer) Unseal(_ context.Context, sealed []byte) ([]byte, error) {
	u.calls.Add(1)
	n := u.kms.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("InvalidCiphertextException")
	}
	out, err := u.kms.aead.Open(nil, sealed[:n], sealed[n:], []byte(u.instance))
	if err != nil {
		return nil, errors.New("InvalidCiphertextException")
	}
	return out, nil
}

// enrolling is an agent waiting for its enrollment, and what it saved.
type enrolling struct {
	*testAgent
	unsealer *fakeUnsealer
	mu       sync.Mutex
	saved    []Enrollment
}

func startEnrolling(t *testing.T, name string, kms *fakeKMS, clk clock.Clock, current *Enrollment) *enrolling {
	t.Helper()
	e := &enrolling{unsealer: &fakeUnsealer{kms: kms, instance: name}}
	cfg := &EnrollConfig{InstanceID: name, Unsealer: e.unsealer, Current: current, Save: func(en Enrollment) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.saved = append(e.saved, en)
		return nil
	}}
	e.testAgent = startAgent(t, name, agentOpts{enroll: cfg, clock: clk})
	return e
}

func (e *enrolling) lastSaved() (Enrollment, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.saved) == 0 {
		return Enrollment{}, 0
	}
	return e.saved[len(e.saved)-1], len(e.saved)
}

// A new agent holds no key; the plane's first request finds a certificate
// it does not pin, enrolls the agent (its key sealed for that instance)
// and is then served. The agent saved the enrollment before using it.
func TestFirstRequestEnrollsTheAgent(t *testing.T) {
	const res = "i-0live"
	kms := newFakeKMS(t)
	a := startEnrolling(t, "i-0live", kms, nil, nil)
	if ids := a.api.Identities(); len(ids) != 0 {
		t.Fatalf("a new agent answers for %v", ids)
	}
	// Without a sealer the client cannot: a retryable pin error.
	plain := newTestClient(t, nil, ClientOptions{})
	_, err := plain.Apply(t.Context(), a.ep, res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")})
	var pe *PinError
	if !errors.As(err, &pe) || errors.Is(err, mutation.ErrPermanent) {
		t.Fatalf("err = %v, want a retryable *PinError", err)
	}
	cl := newTestClient(t, nil, ClientOptions{Sealer: kms})
	ack, err := cl.Apply(t.Context(), a.ep, res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")})
	if err != nil || ack.Accepted != 1 {
		t.Fatalf("apply: %+v %v", ack, err)
	}
	en, n := a.lastSaved()
	if n != 1 || en.Instance != "i-0live" || !bytes.Equal(en.Key, DeriveKey(testKey, "i-0live")) {
		t.Fatalf("saved %d enrollments, last %+v", n, en.Instance)
	}
	if ids := a.api.Identities(); len(ids) != 1 || ids[0] != "i-0live" {
		t.Fatalf("identities after enrollment: %v", ids)
	}
	// Now any client of that master is served without enrolling again.
	if _, err := plain.Status(t.Context(), a.ep, res); err != nil {
		t.Fatal(err)
	}
	if n := kms.seals.Load(); n != 1 {
		t.Errorf("%d enrollments sealed, want 1", n)
	}
	if !strings.Contains(a.logs.String(), `"msg":"agent enrolled"`) {
		t.Errorf("no enrollment logged:\n%s", a.logs)
	}
}

// A restarted agent serves the enrollment it saved, at once.
func TestSavedEnrollmentServesAtStart(t *testing.T) {
	kms := newFakeKMS(t)
	en := Enrollment{V: EnrollmentVersion, Instance: "i-0live", Key: DeriveKey(testKey, "i-0live"), IssuedAt: time.Now().Unix()}
	a := startEnrolling(t, "i-0live", kms, nil, &en)
	cl := newTestClient(t, nil, ClientOptions{})
	if _, err := cl.Status(t.Context(), a.ep, ""); err != nil {
		t.Fatal(err)
	}
	if n := a.unsealer.calls.Load(); n != 0 {
		t.Errorf("%d unseal calls", n)
	}
}

// What the enrollment endpoint refuses: anything not sealed for this
// instance by the plane's key, not naming it, stale, older than the
// enrollment held, or too frequent; nothing refused changes the key.
// An enrollment is taken only when issued strictly within the skew of the
// agent's clock, as a request's timestamp must be.
func TestEnrollmentSkewWindowIsStrict(t *testing.T) {
	for _, c := range []struct {
		name   string
		issued time.Duration // from the agent's clock
		status int
	}{
		{"issued exactly the skew ago", -DefaultSkew, 403},
		{"issued exactly the skew ahead", DefaultSkew, 403},
		{"issued a second inside the window, in the past", -DefaultSkew + time.Second, 200},
		{"issued a second inside the window, ahead", DefaultSkew - time.Second, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0) // a whole second, as IssuedAt is
			kms := newFakeKMS(t)
			a := startEnrolling(t, "i-0live", kms, clk, nil)
			plain, _ := json.Marshal(Enrollment{V: EnrollmentVersion, Instance: "i-0live", Key: DeriveKey(testKey, "i-0live"), IssuedAt: clk.Now().Add(c.issued).Unix()})
			sealed, err := kms.Seal(t.Context(), "i-0live", plain)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(EnrollRequest{Instance: "i-0live", Sealed: sealed})
			hr, _ := http.NewRequest("POST", a.srv.URL+PathEnroll, bytes.NewReader(body))
			status, text := doSNI(t, "i-0live", hr)
			if status != c.status || (status == 403 && !strings.Contains(text, "skew window")) {
				t.Fatalf("%d %s; want %d", status, text, c.status)
			}
			if _, n := a.lastSaved(); (n == 1) != (c.status == 200) {
				t.Fatalf("saved %d enrollments after a %d", n, status)
			}
		})
	}
}

func TestEnrollmentRefusals(t *testing.T) {
	clk := clock.NewFake(time.Now())
	kms := newFakeKMS(t)
	a := startEnrolling(t, "i-0live", kms, clk, nil)
	other := newFakeKMS(t) // another key: an instance's own encryption, say
	seal := func(k *fakeKMS, sealedFor string, en Enrollment) []byte {
		plain, _ := json.Marshal(en)
		b, _ := k.Seal(t.Context(), sealedFor, plain)
		return b
	}
	good := func(at time.Time) Enrollment {
		return Enrollment{V: EnrollmentVersion, Instance: "i-0live", Key: DeriveKey(testKey, "i-0live"), IssuedAt: at.Unix()}
	}
	post := func(sni string, req any) (int, string) {
		body, _ := json.Marshal(req)
		hr, _ := http.NewRequest("POST", a.srv.URL+PathEnroll, bytes.NewReader(body))
		clk.Advance(2 * enrollInterval) // not rate limited unless a case wants it
		return doSNI(t, sni, hr)
	}
	stolen := DeriveKey([]byte("the-attackers-master-0123456789"), "i-0live")
	cases := []struct {
		name   string
		sni    string
		req    any
		status int
		want   string
	}{
		{"sealed for another instance", "i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0other", good(clk.Now()))}, 403, "unsealing"},
		{"sealed with another key", "i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(other, "i-0live", good(clk.Now()))}, 403, "unsealing"},
		{"for another instance", "i-0live", EnrollRequest{Instance: "i-0other", Sealed: seal(kms, "i-0other", good(clk.Now()))}, 403, "this agent is i-0live"},
		{"naming another instance inside", "i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", Enrollment{V: 2, Instance: "i-0other", Key: stolen, IssuedAt: clk.Now().Unix()})}, 403, "is for i-0other"},
		{"stale (a replay)", "i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", good(clk.Now().Add(-DefaultSkew-time.Minute)))}, 403, "skew window"},
		{"version 1", "i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", Enrollment{V: 1, Instance: "i-0live", Key: stolen, IssuedAt: clk.Now().Unix()})}, 403, "version 1"},
		{"short key", "i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", Enrollment{V: 2, Instance: "i-0live", Key: []byte("short"), IssuedAt: clk.Now().Unix()})}, 403, "5 bytes"},
		{"garbage", "i-0live", map[string]any{"instance": "i-0live", "sealed": "AAAA"}, 403, "unsealing"},
		{"unknown field", "i-0live", map[string]any{"instance": "i-0live", "key": "AAAA"}, 400, "decoding"},
		{"on a connection opened for another name", "i-0other", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", good(clk.Now()))}, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, text := post(c.sni, c.req)
			if status != c.status || !strings.Contains(text, c.want) {
				t.Fatalf("%d %s; want %d with %q", status, text, c.status, c.want)
			}
			if ids := a.api.Identities(); len(ids) != 0 {
				t.Fatalf("a refused enrollment installed %v", ids)
			}
		})
	}
	if _, n := a.lastSaved(); n != 0 {
		t.Fatalf("refused enrollments saved %d times", n)
	}

	// The good one takes; an older one is then refused, a newer one takes.
	first := good(clk.Now())
	if status, text := post("i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", first)}); status != 200 {
		t.Fatalf("good enrollment: %d %s", status, text)
	}
	older := Enrollment{V: 2, Instance: "i-0live", Key: stolen, IssuedAt: first.IssuedAt - 10}
	if status, text := post("i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", older)}); status != 403 || !strings.Contains(text, "before the enrollment held") {
		t.Fatalf("older enrollment: %d %s", status, text)
	}
	sameSecond := Enrollment{V: 2, Instance: "i-0live", Key: stolen, IssuedAt: first.IssuedAt}
	if status, text := post("i-0live", EnrollRequest{Instance: "i-0live", Sealed: seal(kms, "i-0live", sameSecond)}); status != 403 || !strings.Contains(text, "same second") {
		t.Fatalf("another key in the same second: %d %s", status, text)
	}
	if en, n := a.lastSaved(); n != 1 || !bytes.Equal(en.Key, first.Key) {
		t.Fatalf("saved %d, last key changed", n)
	}
	// Rate limit: two attempts within a second, the second is 429.
	body, _ := json.Marshal(EnrollRequest{Instance: "i-0live", Sealed: []byte("x")})
	clk.Advance(2 * enrollInterval)
	calls := a.unsealer.calls.Load()
	for i, want := range []int{403, 429} {
		hr, _ := http.NewRequest("POST", a.srv.URL+PathEnroll, bytes.NewReader(body))
		if status, text := doSNI(t, "i-0live", hr); status != want {
			t.Fatalf("attempt %d within a second: %d %s, want %d", i+1, status, text, want)
		}
	}
	if got := a.unsealer.calls.Load() - calls; got != 1 {
		t.Errorf("%d unseal calls for two attempts within a second, want 1", got)
	}
}

// Rotation: the plane's master key changes; its client finds the agent's
// certificate unpinned and enrolls it again with the new key; the old
// client's requests are then refused (retryable), not served.
func TestReEnrollmentAfterMasterRotation(t *testing.T) {
	const res = "i-0live"
	kms := newFakeKMS(t)
	a := startEnrolling(t, "i-0live", kms, nil, nil)
	clk := clock.NewFake(time.Now())
	old := newTestClient(t, clk, ClientOptions{Sealer: kms})
	if _, err := old.Apply(t.Context(), a.ep, res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // the new enrollment is issued after the first
	rotated, err := NewClient([]byte("the-rotated-master-0123456789"), clk, ClientOptions{Sealer: kms})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Apply(t.Context(), a.ep, res, []mutation.Mutation{mut(res, 2, mutation.OpPut, "k", "v")}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if en, n := a.lastSaved(); n != 2 || !bytes.Equal(en.Key, DeriveKey([]byte("the-rotated-master-0123456789"), "i-0live")) {
		t.Fatalf("saved %d enrollments, the last not the rotated key", n)
	}
	// The old client's pooled connection still speaks TLS with the old
	// certificate, but its signature is the old key's: refused.
	_, err = old.Status(t.Context(), a.ep, res)
	var se *StatusError
	var pe *PinError
	if !(errors.As(err, &se) && se.Code == http.StatusUnauthorized) && !errors.As(err, &pe) {
		t.Fatalf("old client after rotation: %v, want 401 or a pin error", err)
	}
}

// A pin mismatch that enrollment does not cure (an impostor that answers
// the enrollment but is not the instance) is not enrolled again and again:
// at most once per EnrollEvery, each request failing retryably meanwhile.
func TestEnrollmentIsRateLimitedPerInstance(t *testing.T) {
	const res = "i-0abc"
	kms := newFakeKMS(t)
	clk := clock.NewFake(time.Now())
	var enrolls atomic.Int32
	impostor := fakeAgentOf(t, DeriveIdentity([]byte("the-attackers-master-0123456789"), "i-x"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathEnroll {
			enrolls.Add(1)
		}
		writeJSON(w, 200, EnrollResponse{})
	}))
	cl := newTestClient(t, clk, ClientOptions{Sealer: kms, EnrollEvery: time.Minute})
	for i := range 5 {
		_, err := cl.Apply(t.Context(), impostor, res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")})
		var pe *PinError
		if !errors.As(err, &pe) || errors.Is(err, mutation.ErrPermanent) {
			t.Fatalf("attempt %d: %v, want a retryable pin error", i, err)
		}
		clk.Advance(10 * time.Second)
	}
	if n := enrolls.Load(); n != 1 {
		t.Fatalf("%d enrollments in 50 s with EnrollEvery 1 min, want 1", n)
	}
	clk.Advance(time.Minute)
	_, _ = cl.Apply(t.Context(), impostor, res, []mutation.Mutation{mut(res, 1, mutation.OpPut, "k", "v")})
	if n := enrolls.Load(); n != 2 {
		t.Fatalf("%d enrollments after EnrollEvery passed, want 2", n)
	}
}

// Many functions of the plane meet a new agent at once (every fanout
// environment): each sees the placeholder certificate and enrolls; the
// agent unseals one a second and answers the others 429; they find the
// agent enrolled a second later and do not seal again. Every request
// succeeds.
func TestConcurrentEnrollments(t *testing.T) {
	const res = "i-0live"
	kms := newFakeKMS(t)
	a := startEnrolling(t, "i-0live", kms, nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		cl := newTestClient(t, nil, ClientOptions{Sealer: kms}) // one per function environment
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := cl.Apply(t.Context(), a.ep, res, []mutation.Mutation{mut(res, uint64(i+1), mutation.OpPut, "k", "v")})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("apply: %v", err)
		}
	}
	if _, n := a.lastSaved(); n < 1 || n > 2 {
		t.Errorf("%d enrollments saved for 6 concurrent clients", n)
	}
	if n := a.unsealer.calls.Load(); n > 2 {
		t.Errorf("%d unseal calls for 6 concurrent clients, want at most 2", n)
	}
	if st := a.store.Status(res); st.AcceptedCount != 6 {
		t.Errorf("accepted %d, want 6", st.AcceptedCount)
	}
}
