package agent

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The derivation of docs/AGENT.md's worked example, checked against
// Python's hmac: the key of one instance from the master.
func TestDeriveKeyVector(t *testing.T) {
	got := DeriveKey([]byte("example-master-key-not-a-real-secret-0123"), "i-0abc123def4567890")
	if want := "a00024fd2dfbb9d66fd166499c663412712c79a49f93c0ddf7525bb86c034c5d"; hex.EncodeToString(got) != want {
		t.Fatalf("key %x, want %s", got, want)
	}
}

// Every instance gets its own key and certificate key: knowing one
// instance's key says nothing of another's, and its pin is the key of the
// certificate its agent presents.
func TestIdentitiesAreDistinctAndPinned(t *testing.T) {
	a, b := DeriveIdentity(testKey, "i-0aaa"), DeriveIdentity(testKey, "i-0bbb")
	if bytes.Equal(a.Key, b.Key) || a.Pin() == b.Pin() {
		t.Fatal("two instances share a key or a pin")
	}
	if other := DeriveIdentity([]byte("another-master-key-0123456789"), "i-0aaa"); bytes.Equal(other.Key, a.Key) || other.Pin() == a.Pin() {
		t.Fatal("two masters give the same instance the same key or pin")
	}
	for _, at := range []time.Time{t0, t0.Add(1000 * time.Hour)} {
		cert, err := a.Certificate(at)
		if err != nil {
			t.Fatal(err)
		}
		if got := pinOf(cert.Leaf); got != a.Pin() {
			t.Fatalf("certificate pin %s, identity pin %s", got, a.Pin())
		}
		if cert.Leaf.Subject.CommonName != "i-0aaa" {
			t.Errorf("certificate named %q", cert.Leaf.Subject.CommonName)
		}
	}
}

func TestKeyFile(t *testing.T) {
	a, b := DeriveIdentity(testKey, "i-0aaa"), DeriveIdentity(testKey, "live")
	good := FormatKeyFile(a, b)
	ids, err := ParseKeyFile(good)
	if err != nil || len(ids) != 2 || ids[0].InstanceID != "i-0aaa" || !bytes.Equal(ids[1].Key, b.Key) {
		t.Fatalf("round trip: %+v %v", ids, err)
	}
	cases := []struct {
		name, file, want string
	}{
		{"the master key, not a key file", string(testKey) + "\n", "want the header"},
		{"no identity", "shadowscale-agent-keys v2\n# none\n", "no identity"},
		{"short key", "shadowscale-agent-keys v2\ni-0aaa c2hvcnQ=\n", "is 5 bytes"},
		{"not base64", "shadowscale-agent-keys v2\ni-0aaa !!!\n", "not base64"},
		{"bad instance id", "shadowscale-agent-keys v2\nI_0AAA " + strings.Repeat("A", 43) + "=\n", "not a lowercase DNS label"},
		{"three fields", "shadowscale-agent-keys v2\ni-0aaa x y\n", "want"},
		{"named twice", string(FormatKeyFile(a, a)), "named twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseKeyFile([]byte(c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), string(testKey)) {
				t.Fatal("the error quotes the key")
			}
		})
	}
}

// docs/AGENT.md's worked example (checked against Python's hmac): the
// instance's key from the master, then the request signed with it.
func TestWorkedExample(t *testing.T) {
	id := DeriveIdentity([]byte("example-master-key-not-a-real-secret-0123"), "i-0abc123def4567890")
	body := []byte(`{"resource":"i-0abc","mutations":[{"v":1,"resource":"i-0abc","seq":42,"op":"put","key":"user/7","value":"aGVsbG8=","ts":"2026-11-28T12:00:00Z"}]}`)
	req, err := http.NewRequest("POST", "https://agent"+PathApply, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	nonce, _ := hex.DecodeString("9f86d081884c7d659a2feaa0c55ad015")
	signRequest(id, req, time.Unix(1764331200, 0), [16]byte(nonce), bodyHash(body))
	want := map[string]string{
		HeaderInstance:      "i-0abc123def4567890",
		HeaderTimestamp:     "1764331200",
		HeaderNonce:         "9f86d081884c7d659a2feaa0c55ad015",
		HeaderContentSHA256: "129091eb225f02197a625cc2c64d466d43154a7b2be9730e12389e11cf8b5b9a",
		HeaderAuthorization: "SHADOW2-HMAC-SHA256 Signature=044e618960d60a548a4049dde5ee4ef28d89c1f2a4cac93fb2d21b66e4b7423b",
	}
	for h, v := range want {
		if got := req.Header.Get(h); got != v {
			t.Errorf("%s: %s, want %s", h, got, v)
		}
	}
}
