package agent

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Drive every path that logs, success and failure, with a recognisable
// mutation value and key, then scan the captured logs: neither a value,
// nor a mutation key, nor the master key or an agent's key (raw, hex or
// base64) may appear.
func TestLogsHoldNoSecretsOrValues(t *testing.T) {
	const res = "i-0live"
	const value = "SECRET-MUTATION-VALUE-7f3a9c"
	const mkey = "PRIVATE-KEY-NAME-41d2"
	clk := clock.System{}
	live := startAgent(t, "i-0live", agentOpts{maxBody: 8 << 10})
	shadow := startAgent(t, "i-0shadow", agentOpts{})
	cl := newTestClient(t, clk, ClientOptions{MaxBody: 8 << 10})
	ctx := t.Context()

	good := []mutation.Mutation{mut(res, 1, mutation.OpPut, mkey, value), mut(res, 2, mutation.OpUpdate, mkey, value+"2")}
	if _, err := cl.Apply(ctx, live.ep, res, good); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, live, res)
	if _, err := cl.Resync(ctx, live.ep, shadow.ep, res); err != nil {
		t.Fatal(err)
	}
	raw := func(target *testAgent, path string, body []byte, key []byte) {
		req, _ := http.NewRequest("POST", target.srv.URL+path, bytes.NewReader(body))
		signRequest(Identity{InstanceID: target.id.InstanceID, Key: key}, req, clk.Now(), newNonce(), bodyHash(body))
		do(t, target, req)
	}
	lk := live.id.Key
	// invalid mutation carrying the value
	bad := mut(res, 3, "explode", mkey, value)
	raw(live, PathApply, applyBody(t, res, bad), lk)
	// unsorted
	raw(live, PathApply, applyBody(t, res, good[1], good[0]), lk)
	// malformed JSON around the value
	raw(live, PathApply, []byte(`{"resource":"`+res+`","mutations":[{"v":1,"key":"`+mkey+`","value":"`+value), lk)
	// the value where a number belongs
	raw(live, PathApply, []byte(`{"resource":"`+res+`","mutations":[{"v":1,"seq":"`+value+`"}]}`), lk)
	// bad base64 value
	raw(live, PathApply, []byte(`{"resource":"`+res+`","mutations":[{"v":1,"seq":5,"op":"put","key":"`+mkey+`","value":"`+value+`!!"}]}`), lk)
	// wrong key, oversized
	raw(live, PathApply, applyBody(t, res, good...), []byte("wrong-key-0123456789abcdef"))
	raw(live, PathApply, applyBody(t, res, mut(res, 9, mutation.OpPut, mkey, strings.Repeat(value, 1000))), lk)
	// a corrupted snapshot carrying the value
	snap := exportBytes(t, live.store, res)
	snap[len(snap)/2] ^= 1
	req, _ := http.NewRequest("POST", shadow.srv.URL+PathSnapshot+"?resource="+res, nil)
	var body bytes.Buffer
	seed := signRequest(shadow.id, req, clk.Now(), newNonce(), StreamingPayload)
	w := newChunkWriter(&body, shadow.id.Key, seed, 1024)
	w.Write(snap)
	w.Close()
	req.Body = nopCloser{&body}
	do(t, shadow, req)
	// a refused enrollment (this agent takes none) and one of garbage
	for _, b := range [][]byte{[]byte(`{"instance":"i-0live","sealed":"` + base64.StdEncoding.EncodeToString(lk) + `"}`), []byte(value)} {
		req, _ := http.NewRequest("POST", live.srv.URL+PathEnroll, bytes.NewReader(b))
		do(t, live, req)
	}

	logs := live.logs.String() + shadow.logs.String()
	if !strings.Contains(logs, "request rejected") || !strings.Contains(logs, "snapshot imported") {
		t.Fatalf("the scenario did not log what it should (test broken?):\n%s", logs)
	}
	forbidden := map[string]string{
		"mutation value":        value,
		"mutation value base64": base64.StdEncoding.EncodeToString([]byte(value)),
		"mutation key":          mkey,
		"master key":            string(testKey),
		"master key hex":        hex.EncodeToString(testKey),
		"master key base64":     base64.StdEncoding.EncodeToString(testKey),
		"agent key hex":         hex.EncodeToString(lk),
		"agent key base64":      base64.StdEncoding.EncodeToString(lk),
		"shadow agent key hex":  hex.EncodeToString(shadow.id.Key),
		"shadow key base64":     base64.StdEncoding.EncodeToString(shadow.id.Key),
	}
	for what, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s", what)
		}
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }
