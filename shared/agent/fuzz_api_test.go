package agent

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	pathpkg "path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// FuzzAgentRequest sends arbitrary requests to the agent's whole API (any
// method, path, query, body, and authentication headers either signed
// correctly over them for the agent's instance or taken from the fuzzer as
// they are): the agent
// never panics; a request that is not correctly signed is refused with
// 401 whatever its path, method or size, before anything else is looked
// at; a correctly signed one gets one of the statuses its endpoint
// documents; and the same signed request sent again is refused as a
// replay.
func FuzzAgentRequest(f *testing.F) {
	const res = "i-0fuzz"
	body := applyBody(f, res, mut(res, 1, "put", "k", "v"))
	f.Add(uint8(0), PathApply, "", body, true, int64(0), "", "", "", "")
	f.Add(uint8(1), PathStatus, "resource="+res, []byte{}, true, int64(0), "", "", "", "")
	f.Add(uint8(1), PathDigest, "resource="+res, []byte{}, true, int64(0), "", "", "", "")
	f.Add(uint8(1), PathSnapshot, "resource="+res, []byte{}, true, int64(0), "", "", "", "")
	f.Add(uint8(0), PathSnapshot, "resource="+res, []byte("SHADOWSCALE-SNAPSHOT-1\n"), true, int64(0), "", "", "", "")
	f.Add(uint8(2), "/v1/nope", "", []byte{}, true, int64(0), "", "", "", "")
	f.Add(uint8(0), PathApply, "", body, false, int64(0), "1764331200", "9f86d081884c7d659a2feaa0c55ad015", bodyHash(body), "SHADOW-HMAC-SHA256 Signature=947d1aefab29a6b5215d265d5e896f5f42c7762107ea166ef1ee7bf43f6df5e8")
	f.Add(uint8(0), PathApply, "", bytes.Repeat([]byte("x"), 70<<10), true, int64(0), "", "", "", "")
	f.Add(uint8(0), PathApply, "", body, true, int64(3600), "", "", "", "")
	clk := clock.NewFake(t0)
	st := openTestStore(f, f.TempDir(), clk, StoreOptions{})
	f.Cleanup(func() { st.Close() })
	id := DeriveIdentity(testKey, "i-0agent")
	srv, err := NewServer(st, ServerConfig{Identities: []Identity{id}, Clock: clk, MaxBody: 64 << 10, ReplayCache: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	var n atomic.Uint64
	methods := []string{"POST", "GET", "PUT", "DELETE", "HEAD", "PATCH"}
	f.Fuzz(func(t *testing.T, method uint8, path, query string, body []byte, signed bool, skew int64, ts, nonce, sha, authz string) {
		clk.Advance(time.Second)
		u := &url.URL{Path: path, RawQuery: query}
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
		}
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://agent"+u.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return // not a request a client can send (the fuzzer's URI)
		}
		req.RemoteAddr = "192.0.2.1:1234"
		req.TLS = &tls.ConnectionState{ServerName: id.InstanceID}
		if signed {
			var nb [16]byte
			binary.BigEndian.PutUint64(nb[:], n.Add(1))
			signRequest(id, req, clk.Now().Add(time.Duration(skew)*time.Second), nb, bodyHash(body))
		} else {
			for k, v := range map[string]string{HeaderInstance: id.InstanceID, HeaderTimestamp: ts, HeaderNonce: nonce, HeaderContentSHA256: sha, HeaderAuthorization: authz} {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if req.URL.Path == PathEnroll {
			// Enrollment is not signed (its body is sealed); an agent
			// started with its keys has none.
			if rec.Code != http.StatusNotFound {
				t.Fatalf("%s %s to an agent started with its keys answered %d", req.Method, PathEnroll, rec.Code)
			}
			return
		}
		fresh := skew > -300 && skew < 300 // within the default 5-minute skew
		if !signed || !fresh {
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("a request not correctly signed (signed %v, skew %ds) got %d: %s", signed, skew, rec.Code, rec.Body)
			}
			return
		}
		switch {
		case rec.Code == http.StatusOK, rec.Code == http.StatusBadRequest, rec.Code == http.StatusNotFound, rec.Code == http.StatusMethodNotAllowed,
			rec.Code == http.StatusRequestEntityTooLarge, rec.Code == http.StatusConflict:
		case (rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusPermanentRedirect) && pathpkg.Clean(req.URL.Path) != req.URL.Path:
			// The router sends a path that is not clean ("/..") to its
			// clean form, after authentication; it serves nothing there.
			return
		default:
			t.Fatalf("a correctly signed %s %q answered %d: %s", req.Method, u.RequestURI(), rec.Code, rec.Body)
		}
		// Replayed as it is: refused.
		again := req.Clone(req.Context())
		again.Body = http.NoBody
		again.ContentLength = 0
		if len(body) > 0 {
			again.Body = httptestBody(body)
			again.ContentLength = int64(len(body))
		}
		rec2 := httptest.NewRecorder()
		srv.ServeHTTP(rec2, again)
		if rec2.Code != http.StatusUnauthorized {
			t.Fatalf("a replayed %s %s answered %d", req.Method, u.Path, rec2.Code)
		}
	})
}

func httptestBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// A request whose JSON does not fit its fields is refused with a reason
// that names the field and the kind of JSON it got, never the JSON itself
// (encoding/json quotes a number that overflows its field: a value put in
// the wrong place would be logged).
func TestJSONReasonNeverQuotesTheInput(t *testing.T) {
	const marker = "41111111111111111111111"
	var req ApplyRequest
	err := json.Unmarshal([]byte(`{"resource":"i-0abc","mutations":[{"v":1,"seq":`+marker+`,"op":"put","key":"k"}]}`), &req)
	if err == nil {
		t.Fatal("decoded a number into a value")
	}
	if r := jsonReason(err); strings.Contains(r, marker) || !strings.Contains(r, "number") {
		t.Fatalf("reason %q", r)
	}
}
