//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// The agent link (docs/AGENT.md): per-instance keys, the target instance
// in the signature, TLS pinned to a key derived from the instance's key,
// enrollment sealed with KMS for one instance.

// byHand computes what docs/AGENT.md specifies, independently of
// shared/agent: an instance's key from the master, its certificate pin.
func byHandKey(master []byte, instance string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("shadowscale-agent-key-v2\n" + instance))
	return m.Sum(nil)
}

func byHandPin(t *testing.T, key []byte) [32]byte {
	t.Helper()
	m := hmac.New(sha256.New, key)
	m.Write([]byte("shadowscale-agent-tls-v2"))
	der, err := x509.MarshalPKIXPublicKey(ed25519.NewKeyFromSeed(m.Sum(nil)).Public())
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(der)
}

// byHandClient speaks TLS 1.3 to the agent for the instance, checking the
// certificate's key against the pin computed by hand.
func byHandClient(t *testing.T, instance string, pin [32]byte) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		ServerName: instance, MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, //nolint:gosec // pinned
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo) != pin {
				return errors.New("the agent's certificate does not match the pin")
			}
			return nil
		},
	}}}
}

// signByHand signs a request for the instance as docs/AGENT.md specifies.
func signByHand(r *http.Request, instance string, key []byte, at time.Time, nonce string, body []byte) {
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	ts := strconv.FormatInt(at.Unix(), 10)
	uri := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strings.Join([]string{"SHADOW2-HMAC-SHA256", instance, r.Method, uri, ts, nonce, sha}, "\n")))
	r.Header.Set("X-Shadow-Instance", instance)
	r.Header.Set("X-Shadow-Timestamp", ts)
	r.Header.Set("X-Shadow-Nonce", nonce)
	r.Header.Set("X-Shadow-Content-Sha256", sha)
	r.Header.Set("Authorization", "SHADOW2-HMAC-SHA256 Signature="+hex.EncodeToString(mac.Sum(nil)))
}

func newNonceHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TestAgentProcessRefusesUnsignedReplayedOversized: the real agent binary
// (standing in for i-0live and i-0other), spoken to with the protocol of
// docs/AGENT.md by hand (not with the project's client): its certificate
// carries the key derived from i-0live's key; an unsigned request, a wrong
// key, a stale timestamp, a replayed request, a request signed for
// another instance with that instance's key, and a version 1 signature
// are 401 on every path, before the body or the path is looked at; a
// signed body over --max-body is 413; a signed request to an unknown path
// is 404; the signed original is 200. Plain HTTP gets no answer from the
// API. The agent logs each refusal. (The same rules are unit-tested in
// shared/agent: TestAuth, TestClientPinsTheInstancesCertificate,
// TestReplayCacheBoundedAndExpires, TestChunkSignedStream, and fuzzed by
// FuzzAgentRequest.)
func TestAgentProcessRefusesUnsignedReplayedOversized(t *testing.T) {
	ctx := context.Background()
	master := []byte("process-key-0123456789abcdef")
	a, err := harness.StartAgent(ctx, agentBinary(t), harness.AgentOptions{Name: "i-0live", DataDir: t.TempDir() + "/agent", Key: string(master), LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	const id = "i-0live"
	key := byHandKey(master, id)
	hc := byHandClient(t, id, byHandPin(t, key))
	const res = "i-0abc"
	m := mutation.Mutation{V: 1, Resource: res, Seq: 1, Op: mutation.OpPut, Key: "k", Value: []byte("v"), ProducedAt: time.Now().UTC()}
	body, _ := json.Marshal(agent.ApplyRequest{Resource: res, Mutations: []mutation.Mutation{m}})
	big, _ := json.Marshal(agent.ApplyRequest{Resource: res, Mutations: []mutation.Mutation{{V: 1, Resource: res, Seq: 2, Op: mutation.OpPut, Key: "k", Value: bytes.Repeat([]byte("x"), 7<<20), ProducedAt: time.Now().UTC()}}})
	otherKey := byHandKey(master, "i-0other")
	type req struct {
		name         string
		method, path string
		body         []byte
		instance     string // signed for ("": unsigned)
		key          []byte
		at           time.Time
		nonce        string // "" for a fresh one
		v1           bool   // the version 1 scheme: no instance, one fleet-wide key
		status       int
	}
	fixed := newNonceHex()
	for _, tc := range []req{
		{"unsigned apply", "POST", agent.PathApply, body, "", nil, time.Now(), "", false, 401},
		{"unsigned status", "GET", agent.PathStatus, nil, "", nil, time.Now(), "", false, 401},
		{"unsigned unknown path", "GET", "/v1/secrets", nil, "", nil, time.Now(), "", false, 401},
		{"wrong key", "POST", agent.PathApply, body, id, byHandKey([]byte("another-key-0123456789abcdef"), id), time.Now(), "", false, 401},
		{"the master key itself", "POST", agent.PathApply, body, id, master, time.Now(), "", false, 401},
		{"signed for another instance with its own key", "POST", agent.PathApply, body, "i-0other", otherKey, time.Now(), "", false, 401},
		{"version 1 signature with the master key", "POST", agent.PathApply, body, id, master, time.Now(), "", true, 401},
		{"stale timestamp", "POST", agent.PathApply, body, id, key, time.Now().Add(-10 * time.Minute), "", false, 401},
		{"signed", "POST", agent.PathApply, body, id, key, time.Now(), fixed, false, 200},
		{"the same request replayed", "POST", agent.PathApply, body, id, key, time.Now(), fixed, false, 401},
		{"signed, over --max-body (8 MiB)", "POST", agent.PathApply, big, id, key, time.Now(), "", false, 413},
		{"signed, unknown path", "GET", "/v1/secrets", nil, id, key, time.Now(), "", false, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr, err := http.NewRequestWithContext(ctx, tc.method, "https://"+a.Addr+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.instance != "" {
				nonce := tc.nonce
				if nonce == "" {
					nonce = newNonceHex()
				}
				signByHand(hr, tc.instance, tc.key, tc.at, nonce, tc.body)
				if tc.v1 {
					hr.Header.Del("X-Shadow-Instance")
					sum := sha256.Sum256(tc.body)
					mac := hmac.New(sha256.New, tc.key)
					mac.Write([]byte(strings.Join([]string{"SHADOW-HMAC-SHA256", hr.Method, hr.URL.EscapedPath(), hr.Header.Get("X-Shadow-Timestamp"), nonce, hex.EncodeToString(sum[:])}, "\n")))
					hr.Header.Set("Authorization", "SHADOW-HMAC-SHA256 Signature="+hex.EncodeToString(mac.Sum(nil)))
				}
			}
			resp, err := hc.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http://" + a.Addr + agent.PathStatus)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("plain HTTP answered %d", resp.StatusCode)
			}
		}
	})
	t.Run("a connection for another instance", func(t *testing.T) {
		if _, err := byHandClient(t, "i-0other", byHandPin(t, otherKey)).Get("https://" + a.Addr + agent.PathStatus); err == nil {
			t.Fatal("the agent completed a handshake for an instance it is not")
		}
	})
	if n := strings.Count(a.Logs(), "request rejected"); n < 8 {
		t.Errorf("%d refusals logged, want one per refused request:\n%s", n, a.Logs())
	}
}

// TestAgentLinkThroughKMS: two agent processes started as on EC2
// (--kms-key, their instance's ARN; moto's KMS), for a live instance and
// its shadow that moto runs, holding no key. The plane's agent client,
// built as the fanout's and the reconciler's mains build it
// (lambdaenv.AgentClient: the master from Secrets Manager, the KMS
// sealer), delivers mutations to both: each first request enrolls its
// agent. The reconciler's resync (export from the live, import into the
// shadow, both through the plane) then works over TLS, and the shadow's
// digest is the live's. Each agent saved only its own key; the live's key
// signs nothing the shadow takes; no key is logged.
func TestAgentLinkThroughKMS(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 1}})
	live := r.lives(t)[0]
	resp, f := retried(t, r.launch.Handle, harness.StateChange(live, "running", time.Now()))
	if f != 0 || resp.Shadow == "" {
		t.Fatalf("launch %+v", resp)
	}
	sh := resp.Shadow
	kc := kms.NewFromConfig(env.Cfg)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("shadowscale agent enrollment")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	sealer, err := lambdaenv.NewKMSSealer(kc, keyARN)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	agents := map[string]*harness.Agent{}
	for name, id := range map[string]string{"live": live, "shadow": sh} {
		a, err := harness.StartAgent(ctx, agentBinary(t), harness.AgentOptions{
			Name: id, DataDir: filepath.Join(dir, name), KMSKey: keyARN, InstanceARN: sealer.InstanceARN(id),
			Env: env.FunctionEnv(), LogLevel: "info",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				keepLogs(t, "agent "+name+" logs", a.Logs())
			}
			_ = a.Stop()
		})
		agents[name] = a
	}
	fenv := r.w.FunctionEnv(env)
	client, err := lambdaenv.AgentClient(ctx, env.Cfg, lambdaenv.Agent{SecretARN: fenv[lambdaenv.EnvAgentSecret], KMSKey: keyARN})
	if err != nil {
		t.Fatal(err)
	}
	liveEP := mutation.Endpoint{InstanceID: live, Address: agents["live"].Addr}
	shEP := mutation.Endpoint{InstanceID: sh, Address: agents["shadow"].Addr}
	muts := mutations(live, 1, 50)
	if _, err := client.Apply(ctx, liveEP, live, muts); err != nil {
		t.Fatalf("apply to the live agent: %v", err)
	}
	if _, err := client.Apply(ctx, shEP, live, muts[:10]); err != nil {
		t.Fatalf("apply to the shadow agent: %v", err)
	}
	settle(t, client, liveEP, live, 50, 30*time.Second)
	if err := (agent.ShadowAgents{Client: client}).Resync(ctx, liveEP, shEP, live); err != nil {
		t.Fatalf("resync through the plane: %v", err)
	}
	st := settle(t, client, shEP, live, 50, 30*time.Second)
	ld, err := client.Digest(ctx, liveEP, live)
	if err != nil {
		t.Fatal(err)
	}
	if st.Digest != ld.Digest {
		t.Fatalf("after the resync: shadow digest %s, live %s", st.Digest, ld.Digest)
	}

	// Each agent holds its own key, no other.
	master := []byte(r.w.AgentKey)
	for name, id := range map[string]string{"live": live, "shadow": sh} {
		b, err := os.ReadFile(filepath.Join(dir, name, "enrollment.json"))
		if err != nil {
			t.Fatal(err)
		}
		var en agent.Enrollment
		if err := json.Unmarshal(b, &en); err != nil || en.Instance != id || !bytes.Equal(en.Key, byHandKey(master, id)) {
			t.Fatalf("%s agent saved %+v (%v), want %s's key", name, en.Instance, err, id)
		}
	}
	// What a compromised live host could sign: only requests for itself.
	liveKey := byHandKey(master, live)
	body, _ := json.Marshal(agent.ApplyRequest{Resource: live, Mutations: mutations(live, 51, 1)})
	for _, forged := range []string{live, sh} {
		hr, _ := http.NewRequest("POST", "https://"+shEP.Address+agent.PathApply, bytes.NewReader(body))
		signByHand(hr, forged, liveKey, time.Now(), newNonceHex(), body)
		hres, err := byHandClient(t, sh, byHandPin(t, byHandKey(master, sh))).Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		hres.Body.Close()
		if hres.StatusCode != http.StatusUnauthorized {
			t.Errorf("a request for %s signed with the live's key answered %d by the shadow", forged, hres.StatusCode)
		}
	}
	logs := agents["live"].Logs() + agents["shadow"].Logs()
	if strings.Count(logs, `"msg":"agent enrolled"`) != 2 {
		t.Errorf("want two enrollments logged:\n%s", logs)
	}
	for _, k := range [][]byte{master, liveKey, byHandKey(master, sh)} {
		for _, s := range []string{string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k)} {
			if strings.Contains(logs, s) {
				t.Error("an agent logged a key")
			}
		}
	}
	figures.Store("agent link: enrollment through KMS, resync over TLS", "2 agents enrolled, 50 mutations resynced, digests equal")
}
