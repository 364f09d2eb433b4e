//go:build e2e

package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	libproducer "github.com/shadowscale/shadowscale/shared/producer"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// TestNoSecretOrValueInAnyLog captures every log of a full scenario, at
// debug level: the lifecycle handlers, the fanout and the forecaster in
// process, the real fanout bootstrap under the Lambda Runtime Interface
// Emulator (its agent key read from Secrets Manager at init), and both
// agent processes. The scenario: launch events, mutations with
// recognisable keys and values through Kinesis to both agents (applied,
// redelivered, and malformed records carrying the same kind of markers:
// bad base64, an over-long key, a wrong type, an unknown op, truncated
// JSON), a resync from a live snapshot, a forged terminate, the
// forecaster, a reconcile. Then it scans all of it for the agent key (raw,
// hex, base64) and for every mutation key and value (raw and base64): none
// may appear. The logs must show the paths were taken.
func TestNoSecretOrValueInAnyLog(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, rigOptions{world: harness.WorldOptions{Desired: 2, StreamShards: 1}})
	r.agentLogLevel = "debug"
	lives := r.lives(t)
	writeRisingHistory(t, r.table, r.w.Group, lives)
	shadows := map[string]string{}
	for _, id := range lives {
		resp, f := retried(t, r.launch.Handle, harness.StateChange(id, "running", time.Now()))
		if f != 0 || resp.Shadow == "" {
			t.Fatalf("launch %+v", resp)
		}
		shadows[id] = resp.Shadow
	}
	live := r.startAgent(t, "live", lives...)
	sh := r.startAgent(t, "shadow", shadows[lives[0]], shadows[lives[1]])

	// Mutations whose every key and value is a marker.
	var forbidden []string
	marker := func(prefix string) string {
		var b [12]byte
		_, _ = rand.Read(b[:])
		return prefix + hex.EncodeToString(b[:])
	}
	var muts []mutation.Mutation
	for _, res := range lives {
		for seq := uint64(1); seq <= 40; seq++ {
			m := mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: marker("mk-"), ProducedAt: time.Now().UTC()}
			m.Value = []byte(`{"card":"` + marker("mv-") + `"}`)
			if seq%7 == 0 {
				m.Op, m.Value = mutation.OpDelete, nil
			}
			forbidden = append(forbidden, m.Key)
			if m.Value != nil {
				forbidden = append(forbidden, string(m.Value), base64.StdEncoding.EncodeToString(m.Value))
			}
			muts = append(muts, m)
		}
	}
	prod, err := libproducer.New(r.fenv.Kinesis, clock.System{}, libproducer.Options{Stream: r.w.Stream, NoAggregation: true})
	if err != nil {
		t.Fatal(err)
	}
	r.put(t, prod, muts)
	bk, bv := marker("bad-key-"), marker("bad-value-")
	var db [12]byte
	_, _ = rand.Read(db[:])
	digits := "9" // a number that overflows seq: encoding/json would quote it
	for _, b := range db {
		digits += strconv.Itoa(int(b) % 10)
	}
	digits += digits
	forbidden = append(forbidden, bk, bv, digits)
	res := lives[0]
	for _, raw := range []string{
		`{"v":1,"resource":"` + res + `","seq":41,"op":"put","key":"` + bk + `","value":"` + bv + `!!","ts":"2026-11-28T12:00:00Z"}`,
		`{"v":1,"resource":"` + res + `","seq":41,"op":"put","key":"` + strings.Repeat(bk, 60) + `","value":"eA==","ts":"2026-11-28T12:00:00Z"}`,
		`{"v":1,"resource":"` + res + `","seq":41,"op":"put","key":"` + bk + `","value":7,"ts":"2026-11-28T12:00:00Z"}`,
		`{"v":1,"resource":"` + res + `","seq":41,"op":"` + bv + `","key":"` + bk + `","ts":"2026-11-28T12:00:00Z"}`,
		`{"v":1,"resource":"` + res + `","seq":41,"op":"put","key":"` + bk + `","value":"` + bv,
		`{"v":1,"resource":"` + res + `","seq":41,"op":"put","key":"k","value":"eA==","ts":"` + bv + `"}`,
		`{"v":1,"resource":"` + res + `","seq":` + digits + `,"op":"put","key":"k","value":"eA==","ts":"2026-11-28T12:00:00Z"}`,
	} {
		if err := r.fenv.PutRaw(ctx, r.w.Stream, res, [][]byte{[]byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := env.NewStreamReader(ctx, r.w.Stream)
	if err != nil {
		t.Fatal(err)
	}
	evs := readAll(t, reader)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	// In process, twice (a redelivery), then the real bootstrap.
	fan := r.fanout(t)
	for range 2 {
		if resp, err := fan.Handle(invocation(), kinesisJSON(t, evs[0])); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("fanout %+v, %v", resp, err)
		}
	}
	rie, err := harness.RIE(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bins, err := harness.BuildFunctions(ctx, t.TempDir(), "fanout")
	if err != nil {
		t.Fatal(err)
	}
	fenv := r.w.FunctionEnv(env)
	addrs, _ := json.Marshal(r.agents.snapshot())
	fenv[lambdaenv.EnvAgentAddresses] = string(addrs)
	fenv[lambdaenv.EnvLogLevel] = "debug"
	f, err := harness.StartFunction(ctx, rie, "fanout", bins["fanout"], fenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Stop() })
	payload, _ := json.Marshal(events.KinesisEvent{Records: evs[0].Records})
	if out, err := f.Invoke(ctx, payload); err != nil || strings.Contains(string(out), `"itemIdentifier"`) {
		t.Fatalf("fanout bootstrap answered %s, %v", out, err)
	}
	// A resync, a forged event, the forecaster, a reconcile.
	for _, id := range lives {
		r.resync(t, id)
	}
	if resp, _ := retried(t, r.terminate.Handle, harness.StateChange(lives[1], "terminated", time.Now())); resp.Outcome != handlers.OutcomeRefused {
		t.Errorf("forged terminate: %+v", resp)
	}
	fc, _ := r.forecaster(t, nil)
	if _, err := fc.Handle(invocation(), harness.Scheduled("shadowscale-forecaster", time.Now())); err != nil {
		t.Fatal(err)
	}
	r.reconcile(t)
	settle(t, r.client, r.endpoint("live"), res, 40, 30*time.Second)
	settle(t, r.client, r.endpoint("shadow"), res, 40, 30*time.Second)

	logs := map[string]string{
		"handlers in process":            r.logs.String(),
		"fanout bootstrap under the RIE": f.Logs(),
		"live agent":                     live.Logs(),
		"shadow agent":                   sh.Logs(),
	}
	// The scenario took the paths that log.
	all := strings.Join([]string{logs["handlers in process"], logs["fanout bootstrap under the RIE"], logs["live agent"], logs["shadow agent"]}, "\n")
	for _, want := range []string{"record dead-lettered", "batch fanned out", "shadow ensured", "event refused", "group forecast", "shadow resynced", "snapshot exported", "snapshot imported", `"function":"fanout"`} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the logs: the scenario did not take that path", want)
		}
	}
	key := []byte(r.w.AgentKey)
	secrets := map[string]string{
		"the agent key":          r.w.AgentKey,
		"the agent key (hex)":    hex.EncodeToString(key),
		"the agent key (base64)": base64.StdEncoding.EncodeToString(key),
	}
	lines := 0
	for name, l := range logs {
		lines += strings.Count(l, "\n")
		for what, s := range secrets {
			if strings.Contains(l, s) {
				t.Errorf("%s logged %s", name, what)
			}
		}
		for _, s := range forbidden {
			if strings.Contains(l, s) {
				t.Errorf("%s logged a mutation key or value: %s", name, s)
			}
		}
	}
	t.Logf("scanned %d log lines of four sources for the agent key and %d mutation keys and values: none found", lines, len(forbidden))
	figures.Store("security: log lines scanned for secrets and mutation data", fmt.Sprintf("%d lines, %d markers, none found", lines, len(forbidden)))
}
