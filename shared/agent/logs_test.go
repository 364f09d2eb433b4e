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
// nor a mutation key, nor the HMAC key (raw, hex or base64) may appear.
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
		signRequest(key, req, clk.Now(), newNonce(), bodyHash(body))
		do(t, req)
	}
	// invalid mutation carrying the value
	bad := mut(res, 3, "explode", mkey, value)
	raw(live, PathApply, applyBody(t, res, bad), testKey)
	// unsorted
	raw(live, PathApply, applyBody(t, res, good[1], good[0]), testKey)
	// malformed JSON around the value
	raw(live, PathApply, []byte(`{"resource":"`+res+`","mutations":[{"v":1,"key":"`+mkey+`","value":"`+value), testKey)
	// the value where a number belongs
	raw(live, PathApply, []byte(`{"resource":"`+res+`","mutations":[{"v":1,"seq":"`+value+`"}]}`), testKey)
	// bad base64 value
	raw(live, PathApply, []byte(`{"resource":"`+res+`","mutations":[{"v":1,"seq":5,"op":"put","key":"`+mkey+`","value":"`+value+`!!"}]}`), testKey)
	// wrong key, oversized
	raw(live, PathApply, applyBody(t, res, good...), []byte("wrong-key-0123456789abcdef"))
	raw(live, PathApply, applyBody(t, res, mut(res, 9, mutation.OpPut, mkey, strings.Repeat(value, 1000))), testKey)
	// a corrupted snapshot carrying the value
	snap := exportBytes(t, live.store, res)
	snap[len(snap)/2] ^= 1
	req, _ := http.NewRequest("POST", shadow.srv.URL+PathSnapshot+"?resource="+res, nil)
	var body bytes.Buffer
	seed := signRequest(testKey, req, clk.Now(), newNonce(), StreamingPayload)
	w := newChunkWriter(&body, testKey, seed, 1024)
	w.Write(snap)
	w.Close()
	req.Body = nopCloser{&body}
	do(t, req)

	logs := live.logs.String() + shadow.logs.String()
	if !strings.Contains(logs, "request rejected") || !strings.Contains(logs, "snapshot imported") {
		t.Fatalf("the scenario did not log what it should (test broken?):\n%s", logs)
	}
	forbidden := map[string]string{
		"mutation value":        value,
		"mutation value base64": base64.StdEncoding.EncodeToString([]byte(value)),
		"mutation key":          mkey,
		"hmac key":              string(testKey),
		"hmac key hex":          hex.EncodeToString(testKey),
		"hmac key base64":       base64.StdEncoding.EncodeToString(testKey),
	}
	for what, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain the %s", what)
		}
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }
