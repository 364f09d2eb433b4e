package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func applyBody(t testing.TB, res string, muts ...mutation.Mutation) []byte {
	t.Helper()
	b, err := json.Marshal(ApplyRequest{Resource: res, Mutations: muts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedReq builds a request to the agent signed like the client signs it
// with the identity id; the caller may alter it after signing.
func signedReq(t testing.TB, a *testAgent, method, path string, body []byte, id Identity, at time.Time, nonce [16]byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	signRequest(id, req, at, nonce, bodyHash(body))
	return req
}

// do sends a request to a test agent over TLS opened for the agent's own
// instance.
func do(t testing.TB, a *testAgent, req *http.Request) (int, string) {
	t.Helper()
	status, text := doSNI(t, a.ep.InstanceID, req)
	if status == 0 {
		t.Fatalf("%s %s: %s", req.Method, req.URL, text)
	}
	return status, text
}

// doSNI sends a request over TLS opened for the instance sni; the status
// is 0 (and the text the error) when no answer came.
func doSNI(t testing.TB, sni string, req *http.Request) (int, string) {
	t.Helper()
	resp, err := rawClient(sni).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuth(t *testing.T) {
	const res = "i-0abc"
	clk := clock.NewFake(t0)
	a := startAgent(t, "i-live", agentOpts{clock: clk, maxBody: 64 << 10})
	key := a.id
	other := DeriveIdentity(testKey, "i-shadow") // another agent's identity
	body := applyBody(t, res, mut(res, 1, mutation.OpPut, "k", "v"))
	big := applyBody(t, res, mut(res, 1, mutation.OpPut, "k", strings.Repeat("x", 70<<10)))
	n := byte(0)
	nonce := func() [16]byte { n++; return [16]byte{n} }

	cases := []struct {
		name   string
		req    func() *http.Request
		status int
		sni    string // the instance the TLS connection is opened for ("": the agent's)
	}{
		{"valid", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
		}, 200, ""},
		{"missing headers", func() *http.Request {
			req, _ := http.NewRequest("POST", a.srv.URL+PathApply, bytes.NewReader(body))
			return req
		}, 401, ""},
		{"missing signature only", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
			req.Header.Del(HeaderAuthorization)
			return req
		}, 401, ""},
		{"wrong key", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, body, Identity{InstanceID: "i-live", Key: DeriveKey([]byte("another-master-0123456789abcdef"), "i-live")}, clk.Now(), nonce())
		}, 401, ""},
		{"malformed signature", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
			req.Header.Set(HeaderAuthorization, AuthScheme+" Signature=zz")
			return req
		}, 401, ""},
		{"body altered after signing", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
			alt := bytes.Replace(body, []byte(`"k"`), []byte(`"j"`), 1)
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(alt)), int64(len(alt))
			return req
		}, 401, ""},
		{"query altered after signing", func() *http.Request {
			req := signedReq(t, a, "GET", PathDigest+"?resource="+res, nil, key, clk.Now(), nonce())
			req.URL.RawQuery = "resource=i-other"
			return req
		}, 401, ""},
		{"method altered after signing", func() *http.Request {
			req := signedReq(t, a, "GET", PathSnapshot+"?resource="+res, nil, key, clk.Now(), nonce())
			req.Method = "POST"
			return req
		}, 401, ""},
		{"signed for another instance with its key", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, body, other, clk.Now(), nonce())
		}, 401, ""},
		{"signed for another instance, sent over its connection name", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, body, other, clk.Now(), nonce())
		}, 0, "i-shadow"}, // the handshake fails: the agent has no certificate for i-shadow
		{"target instance altered after signing", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
			req.Header.Set(HeaderInstance, "i-shadow")
			return req
		}, 401, ""},
		{"target instance header missing", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
			req.Header.Del(HeaderInstance)
			return req
		}, 401, ""},
		{"a version 1 signature (fleet-wide key, no target)", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, body, key, clk.Now(), nonce())
			req.Header.Del(HeaderInstance)
			req.Header.Set(HeaderAuthorization, "SHADOW-HMAC-SHA256 Signature="+strings.Repeat("0", 64))
			return req
		}, 401, ""},
		{"stale timestamp", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, body, key, clk.Now().Add(-DefaultSkew-time.Second), nonce())
		}, 401, ""},
		{"future timestamp", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, body, key, clk.Now().Add(DefaultSkew+time.Second), nonce())
		}, 401, ""},
		{"timestamp exactly the skew in the past", func() *http.Request {
			return signedReq(t, a, "GET", PathStatus, nil, key, clk.Now().Add(-DefaultSkew), nonce())
		}, 401, ""},
		{"timestamp exactly the skew in the future", func() *http.Request {
			return signedReq(t, a, "GET", PathStatus, nil, key, clk.Now().Add(DefaultSkew), nonce())
		}, 401, ""},
		{"timestamp at the edge of the window", func() *http.Request {
			return signedReq(t, a, "GET", PathStatus, nil, key, clk.Now().Add(-DefaultSkew+time.Second), nonce())
		}, 200, ""},
		{"replayed", func() *http.Request {
			// same nonce and signature as a request already served
			fixed := [16]byte{0xee}
			first := signedReq(t, a, "GET", PathStatus, nil, key, clk.Now(), fixed)
			if st, _ := do(t, a, first); st != 200 {
				t.Fatalf("first send got %d", st)
			}
			return signedReq(t, a, "GET", PathStatus, nil, key, clk.Now(), fixed)
		}, 401, ""},
		{"short nonce", func() *http.Request {
			req := signedReq(t, a, "GET", PathStatus, nil, key, clk.Now(), nonce())
			req.Header.Set(HeaderNonce, "abcd")
			return req
		}, 401, ""},
		{"oversized with content length", func() *http.Request {
			return signedReq(t, a, "POST", PathApply, big, key, clk.Now(), nonce())
		}, 413, ""},
		{"oversized without content length (chunked)", func() *http.Request {
			req := signedReq(t, a, "POST", PathApply, big, key, clk.Now(), nonce())
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(big)), -1
			return req
		}, 413, ""},
		{"oversized and unsigned is 401 first", func() *http.Request {
			req, _ := http.NewRequest("POST", a.srv.URL+PathApply, bytes.NewReader(big))
			return req
		}, 401, ""},
		{"streaming body outside snapshot import", func() *http.Request {
			req, _ := http.NewRequest("POST", a.srv.URL+PathApply, bytes.NewReader(body))
			signRequest(key, req, clk.Now(), nonce(), StreamingPayload)
			return req
		}, 400, ""},
		{"signed but unknown path", func() *http.Request {
			return signedReq(t, a, "GET", "/v1/nope", nil, key, clk.Now(), nonce())
		}, 404, ""},
		{"signed but wrong method", func() *http.Request {
			return signedReq(t, a, "DELETE", PathStatus, nil, key, clk.Now(), nonce())
		}, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, sni := c.req(), a.ep.InstanceID
			if c.sni != "" {
				sni = c.sni
			}
			status, text := doSNI(t, sni, req)
			if status != c.status {
				t.Fatalf("status %d (%s), want %d", status, text, c.status)
			}
			if status != 200 && status != 404 && status != 405 && status != 0 {
				var er ErrorResponse
				if err := json.Unmarshal([]byte(text), &er); err != nil || er.Error == "" {
					t.Errorf("error body %q is not {\"error\": ...}", text)
				}
			}
		})
	}
	// Nothing but the valid request changed the state.
	if s := a.store.Status(res); s.AcceptedSeq != 1 || s.AcceptedCount != 1 {
		t.Errorf("after the auth cases: accepted seq %d count %d, want 1 and 1", s.AcceptedSeq, s.AcceptedCount)
	}
}

func TestReplayCacheBoundedAndExpires(t *testing.T) {
	clk := clock.NewFake(t0)
	c := newReplayCache(2)
	exp := clk.Now().Add(time.Minute)
	if err := c.add([16]byte{1}, exp, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := c.add([16]byte{1}, exp, clk.Now()); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("replay: %v, want ErrUnauthorized", err)
	}
	if err := c.add([16]byte{2}, exp.Add(time.Minute), clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := c.add([16]byte{3}, exp, clk.Now()); !errors.Is(err, errReplayCacheFull) {
		t.Fatalf("full cache: %v, want errReplayCacheFull", err)
	}
	clk.Advance(time.Minute)
	if err := c.add([16]byte{3}, clk.Now().Add(time.Minute), clk.Now()); err != nil {
		t.Fatalf("after the first nonce expired: %v", err)
	}
	if c.len() != 2 {
		t.Errorf("cache holds %d, want 2", c.len())
	}
	// An expired nonce may come back only once its request is stale anyway.
	if err := c.add([16]byte{1}, clk.Now().Add(time.Minute), clk.Now()); !errors.Is(err, errReplayCacheFull) {
		t.Errorf("cache should still be full of live nonces: %v", err)
	}
}

// A nonce is remembered for as long as a request carrying it can be
// accepted: at every timestamp around the edges of the skew window, and
// at every instant up to the moment the window closes on it, the same
// signed request sent twice is served at most once. (The window used to
// include its edges: a request signed exactly the skew ago was accepted at
// the very instant its nonce left the cache, and could be sent again.)
func TestNoReplayAtTheEdgesOfTheSkewWindow(t *testing.T) {
	for _, c := range []struct {
		name  string
		age   time.Duration // now minus the request's timestamp
		after time.Duration // when the copy is sent, after the first
		first int
	}{
		{"signed exactly the skew ago", DefaultSkew, 0, 401},
		{"signed exactly the skew ahead", -DefaultSkew, 0, 401},
		{"the oldest accepted, copy at once", DefaultSkew - time.Second, 0, 200},
		{"the oldest accepted, copy just before its window closes", DefaultSkew - time.Second, time.Second - time.Nanosecond, 200},
		{"the oldest accepted, copy as its window closes", DefaultSkew - time.Second, time.Second, 200},
		{"the newest accepted, copy at once", -DefaultSkew + time.Second, 0, 200},
		{"the newest accepted, copy when it is the skew old", -DefaultSkew + time.Second, 2*DefaultSkew - time.Second - time.Nanosecond, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			a := startAgent(t, "i-live", agentOpts{clock: clk})
			nonce := [16]byte{0xed, 0x9e}
			at := clk.Now().Add(-c.age)
			if st, text := do(t, a, signedReq(t, a, "GET", PathStatus, nil, a.id, at, nonce)); st != c.first {
				t.Fatalf("first send: %d (%s), want %d", st, text, c.first)
			}
			clk.Advance(c.after)
			if st, text := do(t, a, signedReq(t, a, "GET", PathStatus, nil, a.id, at, nonce)); st != 401 {
				t.Fatalf("the same request %s later: %d (%s), want 401", c.after, st, text)
			}
		})
	}
}

func TestServerAnswers503WhenReplayCacheFull(t *testing.T) {
	clk := clock.NewFake(t0)
	a := startAgent(t, "i-live", agentOpts{clock: clk, replay: 1})
	if st, _ := do(t, a, signedReq(t, a, "GET", PathStatus, nil, a.id, clk.Now(), [16]byte{1})); st != 200 {
		t.Fatalf("first: %d", st)
	}
	if st, _ := do(t, a, signedReq(t, a, "GET", PathStatus, nil, a.id, clk.Now(), [16]byte{2})); st != 503 {
		t.Fatalf("second with a full cache: %d, want 503", st)
	}
	clk.Advance(DefaultSkew + time.Second)
	if st, _ := do(t, a, signedReq(t, a, "GET", PathStatus, nil, a.id, clk.Now(), [16]byte{2})); st != 200 {
		t.Fatalf("after expiry: %d, want 200", st)
	}
}

func chunked(t testing.TB, data []byte, chunk int, seed []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := newChunkWriter(&buf, testKey, seed, chunk)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestChunkSignedStream(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	good := chunked(t, data, 1024, seed)
	frame := 4 + 1024 + 32
	cases := []struct {
		name   string
		stream func() []byte
		seed   []byte
		ok     bool
	}{
		{"intact", func() []byte { return good }, seed, true},
		{"empty payload", func() []byte { return chunked(t, nil, 1024, seed) }, seed, true},
		{"other request's seed", func() []byte { return good }, bytes.Repeat([]byte{8}, 32), false},
		{"flipped data byte", func() []byte { b := bytes.Clone(good); b[10] ^= 1; return b }, seed, false},
		{"truncated before the final chunk", func() []byte { return good[:3*frame] }, seed, false},
		{"final chunk cut", func() []byte { return good[:len(good)-1] }, seed, false},
		{"chunks swapped", func() []byte {
			b := bytes.Clone(good)
			copy(b[0:frame], good[frame:2*frame])
			copy(b[frame:2*frame], good[0:frame])
			return b
		}, seed, false},
		{"data after the final chunk", func() []byte { return append(bytes.Clone(good), 0) }, seed, false},
		{"oversized chunk header", func() []byte { return []byte{0xff, 0xff, 0xff, 0xff} }, seed, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := io.ReadAll(newChunkReader(bytes.NewReader(c.stream()), testKey, c.seed))
			if c.ok {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if c.name == "intact" && !bytes.Equal(got, data) {
					t.Fatal("data differs")
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestKeyFromSecret(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"0123456789abcdef0123\n", "0123456789abcdef0123", true},
		{"  spaced-key-0123456789  \r\n", "spaced-key-0123456789", true},
		{"short\n", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		t.Run(strings.TrimSpace(c.in), func(t *testing.T) {
			k, err := KeyFromSecret([]byte(c.in))
			if (err == nil) != c.ok || string(k) != c.want {
				t.Fatalf("KeyFromSecret(%q) = %q, %v", c.in, k, err)
			}
		})
	}
}

// POST /v1/apply over HTTP: the answers to good, repeated and bad batches.
func TestApplyEndpoint(t *testing.T) {
	const res = "i-0abc"
	clk := clock.NewFake(t0)
	a := startAgent(t, "i-live", agentOpts{clock: clk, noWorker: true})
	n := byte(0)
	send := func(body []byte) (int, string) {
		n++
		return do(t, a, signedReq(t, a, "POST", PathApply, body, a.id, clk.Now(), [16]byte{0xa0, n}))
	}
	m := func(seq uint64) mutation.Mutation { return mut(res, seq, mutation.OpPut, "k", "v") }
	cases := []struct {
		name    string
		advance time.Duration // of the clock, before the request
		body    []byte
		status  int
		want    string // in the answer
	}{
		{"first batch", 0, applyBody(t, res, m(1), m(2), m(3)), 200, `"through":3,"contiguous":3,"accepted":3,"filled":0,"duplicates":0,"rejected":[],"opened":0,"missing":0`},
		{"redelivered", 0, applyBody(t, res, m(1), m(2), m(3)), 200, `"through":3,"contiguous":3,"accepted":0,"filled":0,"duplicates":3`},
		{"with a gap", 0, applyBody(t, res, m(3), m(4), m(8)), 200, `"through":8,"contiguous":4,"accepted":2,"filled":0,"duplicates":1,"rejected":[],"opened":3,"missing":3`},
		{"a late seq fills the gap", 10 * time.Second, applyBody(t, res, m(6)), 200, `"through":8,"contiguous":4,"accepted":1,"filled":1,"duplicates":0,"rejected":[],"opened":0,"missing":2`},
		{"after the gap wait, the rest of the gap is refused", DefaultGapWait, applyBody(t, res, m(5), m(6), m(7), m(9)), 200, `"through":9,"contiguous":9,"accepted":1,"filled":0,"duplicates":1,"rejected":[5,7],"opened":0,"missing":0`},
		{"reordered", 0, applyBody(t, res, m(11), m(10)), 400, "sorted by seq"},
		{"repeated seq", 0, applyBody(t, res, m(10), m(10)), 400, "without repeats"},
		{"other resource", 0, applyBody(t, res, mut("i-other", 10, mutation.OpPut, "k", "v")), 400, "another resource"},
		{"invalid mutation", 0, applyBody(t, res, mut(res, 10, "explode", "k", "v")), 400, "is not put, update or delete"},
		{"empty batch", 0, applyBody(t, res), 400, "no mutations"},
		{"no resource", 0, applyBody(t, "", m(10)), 400, "resource must be"},
		{"not JSON", 0, []byte("nope"), 400, "malformed JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk.Advance(c.advance)
			status, text := send(c.body)
			if status != c.status || !strings.Contains(text, c.want) {
				t.Fatalf("%d %s; want %d with %q", status, text, c.status, c.want)
			}
		})
	}
	if s := a.store.Status(res); s.AcceptedSeq != 9 || s.AcceptedCount != 7 || s.Skipped != 2 || s.Rejected != 2 || s.Missing != 0 {
		t.Errorf("status %+v: want accepted seq 9, 7 accepted, 2 skipped, 2 rejected, none missing (refused batches accept nothing)", s)
	}
}

// TestRejectedBodyIsDrained: a request rejected with its body unread
// (too large, unsigned), from a client that asked to close the connection
// and is still writing, gets its answer, not a reset: the agent reads the
// rest of the body (up to a bound) before the connection closes. Without
// that, some of these sends fail with "connection reset by peer", which a
// client retries instead of reading the 413 or 401.
func TestRejectedBodyIsDrained(t *testing.T) {
	clk := clock.NewFake(t0)
	a := startAgent(t, "i-live", agentOpts{clock: clk, maxBody: 64 << 10})
	big := applyBody(t, "i-0abc", mut("i-0abc", 1, mutation.OpPut, "k", strings.Repeat("x", 200<<10)))
	n := byte(0)
	for i := range 40 {
		n++
		signed := signedReq(t, a, "POST", PathApply, big, a.id, clk.Now(), [16]byte{0xd0, n})
		unsigned, _ := http.NewRequest("POST", a.srv.URL+PathApply, bytes.NewReader(big))
		for _, c := range []struct {
			req  *http.Request
			want int
		}{{signed, 413}, {unsigned, 401}} {
			if status, text := doSNI(t, a.ep.InstanceID, c.req); status != c.want {
				t.Fatalf("send %d: status %d (%s), want %d", i, status, text, c.want)
			}
		}
	}
}
