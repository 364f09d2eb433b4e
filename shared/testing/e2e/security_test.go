//go:build e2e

package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestPlaneRefusesWhatItDoesNotOwn: against moto, the terminate and
// reconciler paths never terminate an instance that does not carry this
// stack's shadow tags, whatever the records or the events say:
//   - a shadow record tampered with to name a live instance as its shadow:
//     when its live goes, the retire refuses to terminate that instance
//     (logged, counted RefusedNotOwned and EventsRefused{not-owned});
//   - the reconciler retiring that record later refuses again;
//   - an instance tagged as another stack's shadow, naming one of our live
//     instances: its events are ignored, the reconciler never counts or
//     deletes it;
//   - forged state-change events naming running lives (see also
//     TestForgedEventsChangeNothing): refused, nothing changes.
//
// Every instance that is not ours ends running.
func TestPlaneRefusesWhatItDoesNotOwn(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 3}})
	lives := r.lives(t)
	for _, id := range lives {
		if resp, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now())); f != 0 || resp.Shadow == "" {
			t.Fatalf("launch %+v", resp)
		}
	}
	victim, gone := lives[1], lives[0]
	// The record of gone now names victim (a live) as its shadow.
	rec, err := r.table.Records().Get(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	rec.ShadowID = victim
	if _, err := r.table.Records().Update(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// Another stack's shadow of one of our lives.
	foreign, err := env.EC2.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String(harness.AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: ec2types.InstanceTypeT4gNano,
		SubnetId: aws.String(r.w.PoolSubnets[harness.AZs[0]]),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{
			{Key: aws.String(shadow.TagRole), Value: aws.String(shadow.RoleShadow)},
			{Key: aws.String(shadow.TagStack), Value: aws.String("someone-else")},
			{Key: aws.String(shadow.TagLive), Value: aws.String(lives[2])},
			{Key: aws.String(shadow.TagGeneration), Value: aws.String("1")},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	other := aws.ToString(foreign.Instances[0].InstanceId)

	// gone really goes: its retire meets the tampered record.
	if err := env.TerminateInstance(ctx, gone); err != nil {
		t.Fatal(err)
	}
	resp, f := retried(t, r.terminate.Handle, harness.StateChange(gone, "terminated", time.Now()))
	if f != 0 || resp.Outcome != handlers.OutcomeRefused || !strings.Contains(resp.Reason, "not") {
		t.Errorf("terminate of %s with a record naming the live %s: %+v", gone, victim, resp)
	}
	// Forged events and the foreign shadow's own.
	for _, tc := range []struct {
		h           handlers.HandleFunc
		id, state   string
		wantOutcome string
	}{
		{r.terminate.Handle, victim, "terminated", handlers.OutcomeRefused},
		{r.terminate.Handle, other, "terminated", handlers.OutcomeRefused}, // still running
		{r.launch.Handle, other, "running", handlers.OutcomeIgnored},
	} {
		if resp, _ := retried(t, tc.h, harness.StateChange(tc.id, tc.state, time.Now())); resp.Outcome != tc.wantOutcome {
			t.Errorf("%s %s: %+v, want %s", tc.id, tc.state, resp, tc.wantOutcome)
		}
	}
	// The reconciler, after the orphan grace: it retires the tampered
	// record (its live is gone), refusing again to terminate the live it
	// names, and neither counts nor touches the foreign shadow.
	time.Sleep(testOrphanGrace)
	out := r.reconcile(t)
	refusedRetire := false
	for _, a := range out.Actions {
		switch {
		case a.Shadow == other:
			t.Errorf("reconciler action on another stack's shadow: %+v", a)
		case a.Shadow == victim && a.Error == "":
			t.Errorf("reconciler action on a live instance named as a shadow went through: %+v", a)
		}
		if a.Kind == string(shadow.Retire) && a.Live == gone && strings.Contains(a.Error, "not") {
			refusedRetire = true
		}
	}
	if !refusedRetire {
		t.Errorf("the reconciler's retire of %s did not report the refusal: %+v", gone, out.Actions)
	}
	for _, id := range []string{victim, other, lives[2]} {
		inst, ok, err := env.Instance(ctx, id)
		if err != nil || !ok || inst.State.Name != ec2types.InstanceStateNameRunning {
			t.Errorf("%s is %v (found %v, %v): the plane touched what is not ours", id, inst.State, ok, err)
		}
	}
	if n := r.metrics.Total("RefusedNotOwned"); n < 2 {
		t.Errorf("RefusedNotOwned = %v, want the terminate's and the reconciler's refusals", n)
	}
	if n := r.metrics.Total("EventsRefused"); n < 3 {
		t.Errorf("EventsRefused = %v, want at least 3", n)
	}
	logs := r.logs.String()
	if strings.Count(logs, "refused to terminate") < 2 {
		t.Errorf("refusals not logged:\n%s", logs)
	}
}

// TestAgentProcessRefusesUnsignedReplayedOversized: the real agent binary,
// spoken to with the protocol of docs/AGENT.md signed by hand (not with
// the project's client): an unsigned request, a wrong key, a stale
// timestamp and a replayed request are 401 on every path, before the body
// or the path is looked at; a signed body over --max-body is 413; a signed
// request to an unknown path is 404; the signed original is 200. The
// agent logs each refusal. (The same rules are unit-tested in
// shared/agent: TestAuth, TestReplayCacheBoundedAndExpires,
// TestServerAnswers503WhenReplayCacheFull, TestChunkSignedStream, and
// fuzzed by FuzzAgentRequest.)
func TestAgentProcessRefusesUnsignedReplayedOversized(t *testing.T) {
	ctx := context.Background()
	a, err := harness.StartAgent(ctx, agentBinary(t), harness.AgentOptions{Name: "agent", DataDir: t.TempDir() + "/agent", Key: "process-key-0123456789abcdef", LogLevel: "info"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	key := []byte("process-key-0123456789abcdef")
	const res = "i-0abc"
	m := mutation.Mutation{V: 1, Resource: res, Seq: 1, Op: mutation.OpPut, Key: "k", Value: []byte("v"), ProducedAt: time.Now().UTC()}
	body, _ := json.Marshal(agent.ApplyRequest{Resource: res, Mutations: []mutation.Mutation{m}})
	big, _ := json.Marshal(agent.ApplyRequest{Resource: res, Mutations: []mutation.Mutation{{V: 1, Resource: res, Seq: 2, Op: mutation.OpPut, Key: "k", Value: bytes.Repeat([]byte("x"), 7<<20), ProducedAt: time.Now().UTC()}}})
	type req struct {
		name         string
		method, path string
		body         []byte
		key          []byte
		at           time.Time
		nonce        string // "" for a fresh one
		sign         bool
		status       int
	}
	fixed := newNonceHex()
	for _, tc := range []req{
		{"unsigned apply", "POST", agent.PathApply, body, nil, time.Now(), "", false, 401},
		{"unsigned status", "GET", agent.PathStatus, nil, nil, time.Now(), "", false, 401},
		{"unsigned unknown path", "GET", "/v1/secrets", nil, nil, time.Now(), "", false, 401},
		{"wrong key", "POST", agent.PathApply, body, []byte("another-key-0123456789abcdef"), time.Now(), "", true, 401},
		{"stale timestamp", "POST", agent.PathApply, body, key, time.Now().Add(-10 * time.Minute), "", true, 401},
		{"signed", "POST", agent.PathApply, body, key, time.Now(), fixed, true, 200},
		{"the same request replayed", "POST", agent.PathApply, body, key, time.Now(), fixed, true, 401},
		{"signed, over --max-body (8 MiB)", "POST", agent.PathApply, big, key, time.Now(), "", true, 413},
		{"signed, unknown path", "GET", "/v1/secrets", nil, key, time.Now(), "", true, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr, err := http.NewRequestWithContext(ctx, tc.method, "http://"+a.Addr+tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.sign {
				nonce := tc.nonce
				if nonce == "" {
					nonce = newNonceHex()
				}
				signByHand(hr, tc.key, tc.at, nonce, tc.body)
			}
			resp, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
			}
		})
	}
	if n := strings.Count(a.Logs(), "request rejected"); n < 6 {
		t.Errorf("%d refusals logged, want one per refused request:\n%s", n, a.Logs())
	}
}

// signByHand signs a request as docs/AGENT.md specifies.
func signByHand(r *http.Request, key []byte, at time.Time, nonce string, body []byte) {
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	ts := strconv.FormatInt(at.Unix(), 10)
	uri := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strings.Join([]string{"SHADOW-HMAC-SHA256", r.Method, uri, ts, nonce, sha}, "\n")))
	r.Header.Set("X-Shadow-Timestamp", ts)
	r.Header.Set("X-Shadow-Nonce", nonce)
	r.Header.Set("X-Shadow-Content-Sha256", sha)
	r.Header.Set("Authorization", "SHADOW-HMAC-SHA256 Signature="+hex.EncodeToString(mac.Sum(nil)))
}

func newNonceHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
