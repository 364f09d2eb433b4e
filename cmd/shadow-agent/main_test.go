package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// The test binary doubles as the agent: with this variable set it runs
// main's run with its arguments, so the tests drive a real process (kill
// -9, SIGTERM) without a separate build.
const execEnv = "SHADOW_AGENT_TEST_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// testMaster is the plane's master key of these tests; an agent holds
// only its instance's key, derived from it.
const testMaster = "agent-test-key-5b0c2e6f9a7d41c3b8e2"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// startProc runs the agent as a child process and waits until it listens.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), execEnv+"=1")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if strings.Contains(line, `"msg":"agent listening"`) {
				if _, rest, ok := strings.Cut(line, `"addr":"`); ok {
					addr, _, _ := strings.Cut(rest, `"`)
					listening <- addr
				}
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-listening:
	case <-p.done:
		t.Fatalf("agent exited before listening: %v\n%s", p.err, p.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("agent did not start:\n%s", p.stderr)
	}
	return p
}

func (p *proc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not exit:\n%s", p.stderr)
	}
}

// writeKeyFile writes a key file of the instances' identities (keys
// derived from testMaster).
func writeKeyFile(t *testing.T, dir string, instances ...string) string {
	t.Helper()
	var ids []agent.Identity
	for _, id := range instances {
		ids = append(ids, agent.DeriveIdentity([]byte(testMaster), id))
	}
	f := filepath.Join(dir, "agent.keys")
	if err := os.WriteFile(f, agent.FormatKeyFile(ids...), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func testClient(t *testing.T, opts agent.ClientOptions) *agent.Client {
	t.Helper()
	c, err := agent.NewClient([]byte(testMaster), clock.System{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func genBatches(res string, n, size int) [][]mutation.Mutation {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	out := make([][]mutation.Mutation, n)
	seq := uint64(0)
	for i := range out {
		for range size {
			seq++
			m := mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: fmt.Sprintf("k/%d", rng.IntN(2000)), ProducedAt: t0}
			switch rng.IntN(10) {
			case 0:
				m.Op = mutation.OpDelete
			default:
				m.Value = fmt.Appendf(nil, "value-%d-%d", seq, rng.Uint64())
			}
			out[i] = append(out[i], m)
		}
	}
	return out
}

// reference applies the batches once in an in-process store.
func reference(t *testing.T, res string, batches [][]mutation.Mutation) agent.DigestInfo {
	t.Helper()
	s, err := agent.OpenStore(filepath.Join(t.TempDir(), "ref.db"), clock.System{}, agent.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, b := range batches {
		if _, err := s.Accept(res, b); err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := s.ApplyPending(10000)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return s.Digest(res)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kill -9 the agent while batches stream in (and its worker applies),
// three times, restart it, redeliver everything: nothing lost, nothing
// applied twice.
func TestKillNineMidBatchAndRestart(t *testing.T) {
	const res = "i-0kill"
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--key-file", writeKeyFile(t, dir, "i-0kill")}
	batches := genBatches(res, 30, 500)
	total := uint64(30 * 500)
	cl := testClient(t, agent.ClientOptions{})
	ctx := t.Context()
	var logs []string
	status := func(ep mutation.Endpoint) agent.ResourceStatus {
		st, err := cl.Status(ctx, ep, res)
		if err != nil || len(st.Resources) != 1 {
			return agent.ResourceStatus{}
		}
		return st.Resources[0]
	}
	for round := range 3 {
		p := startProc(t, args...)
		ep := mutation.Endpoint{InstanceID: "i-0kill", Address: p.addr}
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			for _, b := range batches { // the fan-out redelivers from the start
				if _, err := cl.Apply(ctx, ep, res, b); err != nil {
					return
				}
			}
		}()
		threshold := uint64(round+1) * 4000
		waitFor(t, fmt.Sprintf("round %d to pass seq %d", round, threshold), func() bool { return status(ep).AcceptedSeq >= threshold })
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t)
		<-stopped
		logs = append(logs, p.stderr.String())
	}
	p := startProc(t, args...)
	ep := mutation.Endpoint{InstanceID: "i-0kill", Address: p.addr}
	before := status(ep)
	if before.AcceptedSeq < 12000 {
		t.Fatalf("after the kills the agent holds seq %d, but 12000 were acked", before.AcceptedSeq)
	}
	accepted := uint64(0)
	for _, b := range batches {
		ack, err := cl.Apply(ctx, ep, res, b)
		if err != nil {
			t.Fatal(err)
		}
		accepted += uint64(ack.Accepted)
	}
	if accepted != total-before.AcceptedCount {
		t.Errorf("redelivery accepted %d new mutations, want %d", accepted, total-before.AcceptedCount)
	}
	waitFor(t, "the backlog to drain", func() bool { return status(ep).Backlog == 0 && status(ep).AppliedSeq == total })
	got, err := cl.Digest(ctx, ep, res)
	if err != nil {
		t.Fatal(err)
	}
	want := reference(t, res, batches)
	if got.Digest != want.Digest || status(ep).AppliedCount != total {
		t.Fatalf("after kills and redelivery: digest %s applied %d; want %s and %d", got.Digest, status(ep).AppliedCount, want.Digest, total)
	}
	checkNoSecret(t, append(logs, p.stderr.String())...)
}

// A missing seq survives kill -9: after the restart the agent still waits
// for it, applies it when it arrives late, and the state equals an in-order
// pass. Then a gap that is never filled, with the agent restarted with
// --gap-wait 1s: it is skipped, and its late arrival rejected.
func TestGapSurvivesKillNine(t *testing.T) {
	const res = "i-0gap"
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--key-file", writeKeyFile(t, dir, "i-0gap")}
	cl := testClient(t, agent.ClientOptions{})
	ctx := t.Context()
	all := genBatches(res, 1, 22)[0] // seqs 1..22
	bySeq := func(seqs ...uint64) []mutation.Mutation {
		var out []mutation.Mutation
		for _, s := range seqs {
			out = append(out, all[s-1])
		}
		return out
	}
	span := func(from, to uint64) []uint64 {
		var out []uint64
		for s := from; s <= to; s++ {
			out = append(out, s)
		}
		return out
	}
	status := func(ep mutation.Endpoint) agent.ResourceStatus {
		st, err := cl.Status(ctx, ep, res)
		if err != nil || len(st.Resources) != 1 {
			return agent.ResourceStatus{}
		}
		return st.Resources[0]
	}
	apply := func(ep mutation.Endpoint, muts []mutation.Mutation) mutation.Ack {
		t.Helper()
		ack, err := cl.Apply(ctx, ep, res, muts)
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	kill := func(p *proc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t)
	}

	p := startProc(t, args...)
	ep := mutation.Endpoint{InstanceID: "i-0gap", Address: p.addr}
	if ack := apply(ep, bySeq(append(span(1, 10), span(12, 20)...)...)); ack.Through != 20 || ack.Contiguous != 10 || ack.Accepted != 19 {
		t.Fatalf("ack %+v: want through 20, contiguous 10, 19 accepted", ack)
	}
	waitFor(t, "seqs 1..10 applied", func() bool { return status(ep).AppliedSeq == 10 })
	kill(p)

	p = startProc(t, args...)
	ep.Address = p.addr
	if st := status(ep); st.AppliedSeq != 10 || st.AcceptedSeq != 20 || st.Missing != 1 || st.Backlog != 9 {
		t.Fatalf("after kill -9: %+v; want applied 10, accepted 20, 1 missing, backlog 9", st)
	}
	if ack := apply(ep, bySeq(11, 12)); ack.Accepted != 1 || len(ack.Rejected) != 0 || ack.Contiguous != 20 {
		t.Fatalf("the late seq 11: ack %+v", ack)
	}
	waitFor(t, "seqs 11..20 applied", func() bool { return status(ep).AppliedSeq == 20 })
	got, err := cl.Digest(ctx, ep, res)
	if err != nil {
		t.Fatal(err)
	}
	if want := reference(t, res, [][]mutation.Mutation{all[:20]}); got.Digest != want.Digest || status(ep).AppliedCount != 20 {
		t.Fatalf("digest %s applied %d; in order: %s and 20", got.Digest, status(ep).AppliedCount, want.Digest)
	}

	apply(ep, bySeq(22)) // 21 missing
	kill(p)
	p = startProc(t, append(args, "--gap-wait", "1s")...)
	ep.Address = p.addr
	waitFor(t, "seq 21 skipped after 1s", func() bool { return status(ep).AppliedSeq == 22 })
	if ack := apply(ep, bySeq(21)); !slices.Equal(ack.Rejected, []uint64{21}) || ack.Accepted != 0 {
		t.Fatalf("seq 21 after its gap was skipped: ack %+v, want it rejected", ack)
	}
	if st := status(ep); st.Skipped != 1 || st.Rejected != 1 || st.AppliedCount != 21 || st.Missing != 0 {
		t.Fatalf("status %+v: want 1 skipped, 1 rejected, 21 applied, none missing", st)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"late mutations rejected"`) {
		t.Error("the rejection was not logged")
	}
}

func checkNoSecret(t *testing.T, logs ...string) {
	t.Helper()
	all := strings.Join(logs, "")
	if !strings.Contains(all, "agent listening") {
		t.Fatal("no logs captured")
	}
	for _, id := range []string{"i-0kill", "i-0gap", "i-0term", "i-0enroll"} {
		key := agent.DeriveKey([]byte(testMaster), id)
		if strings.Contains(all, base64.StdEncoding.EncodeToString(key)) || strings.Contains(all, hex.EncodeToString(key)) {
			t.Errorf("the logs contain the key of %s", id)
		}
	}
	if strings.Contains(all, testMaster) {
		t.Error("the logs contain the master key")
	}
	if strings.Contains(all, "value-") {
		t.Error("the logs contain a mutation value")
	}
}

func TestSigtermStopsGracefully(t *testing.T) {
	const res = "i-0term"
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--key-file", writeKeyFile(t, dir, "i-0term"), "--apply-rate", "100"}
	cl := testClient(t, agent.ClientOptions{})
	p := startProc(t, args...)
	ep := mutation.Endpoint{InstanceID: "i-0term", Address: p.addr}
	batches := genBatches(res, 2, 500)
	for _, b := range batches {
		if _, err := cl.Apply(t.Context(), ep, res, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	if p.err != nil || !strings.Contains(p.stderr.String(), `"msg":"agent stopped"`) {
		t.Fatalf("exit %v, logs:\n%s", p.err, p.stderr)
	}
	// Restarted without the cap: the accepted backlog survived and drains.
	p = startProc(t, args[:len(args)-2]...)
	ep.Address = p.addr
	waitFor(t, "the backlog to drain after restart", func() bool {
		st, err := cl.Status(t.Context(), ep, res)
		return err == nil && len(st.Resources) == 1 && st.Resources[0].AppliedSeq == 1000
	})
	got, _ := cl.Digest(t.Context(), ep, res)
	if want := reference(t, res, batches); got.Digest != want.Digest {
		t.Fatalf("digest %s, want %s", got.Digest, want.Digest)
	}
	checkNoSecret(t, p.stderr.String())
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	keys := writeKeyFile(t, dir, "i-0abc")
	master := filepath.Join(dir, "master.key")
	os.WriteFile(master, []byte(testMaster+"\n"), 0o600)
	const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cases := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"no keys", []string{"--data-dir", dir}, 2, "one of --kms-key (enrollment) or --key-file is required"},
		{"both", []string{"--data-dir", dir, "--key-file", keys, "--kms-key", kmsKey}, 2, "exclusive"},
		{"the removed --secret-file", []string{"--data-dir", dir, "--secret-file", master}, 2, "secret-file"},
		{"the removed --secret-arn", []string{"--data-dir", dir, "--secret-arn", "x"}, 2, "secret-arn"},
		{"kms key not an ARN", []string{"--data-dir", dir, "--kms-key", "alias/agent"}, 2, "not a KMS key ARN"},
		{"instance ARN not an instance's", []string{"--data-dir", dir, "--kms-key", kmsKey, "--instance-arn", "arn:aws:ec2:us-east-1:123456789012:volume/vol-1"}, 2, "not an EC2 instance ARN"},
		{"instance id and ARN disagree", []string{"--data-dir", dir, "--kms-key", kmsKey, "--instance-arn", "arn:aws:ec2:us-east-1:123456789012:instance/i-0a", "--instance-id", "i-0b"}, 2, "is not the instance of"},
		{"bad instance id", []string{"--data-dir", dir, "--kms-key", kmsKey, "--instance-id", "I_0A"}, 2, "lowercase DNS label"},
		{"instance with a key file", []string{"--data-dir", dir, "--key-file", keys, "--instance-id", "i-0a"}, 2, "go with --kms-key"},
		{"port and listen", []string{"--data-dir", dir, "--key-file", keys, "--port", "1", "--listen", ":2"}, 2, "--port and --listen are exclusive"},
		{"bad port", []string{"--data-dir", dir, "--key-file", keys, "--port", "70000"}, 2, "not 1-65535"},
		{"bad listen", []string{"--data-dir", dir, "--key-file", keys, "--listen", "nowhere"}, 2, "not host:port"},
		{"negative rate", []string{"--data-dir", dir, "--key-file", keys, "--apply-rate", "-1"}, 2, "--apply-rate"},
		{"bad max body", []string{"--data-dir", dir, "--key-file", keys, "--max-body", "lots"}, 2, "--max-body"},
		{"tiny max body", []string{"--data-dir", dir, "--key-file", keys, "--max-body", "1KiB"}, 2, "below 64KiB"},
		{"bad log level", []string{"--data-dir", dir, "--key-file", keys, "--log-level", "loud"}, 2, "--log-level"},
		{"tiny gap wait", []string{"--data-dir", dir, "--key-file", keys, "--gap-wait", "10ms"}, 2, "--gap-wait 10ms is below 1s"},
		{"unknown flag", []string{"--frobnicate"}, 2, "frobnicate"},
		{"stray argument", []string{"--data-dir", dir, "--key-file", keys, "extra"}, 2, "unexpected arguments"},
		{"all problems at once", []string{"--apply-rate", "-1", "--max-body", "x"}, 2, "--max-body"},
		{"missing key file", []string{"--data-dir", dir, "--key-file", filepath.Join(dir, "none"), "--listen", "127.0.0.1:0"}, 1, "reading the key file"},
		{"the master key as a key file", []string{"--data-dir", dir, "--key-file", master, "--listen", "127.0.0.1:0"}, 1, "not the master key"},
		{"help", []string{"-h"}, 0, "Usage: shadow-agent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := run(t.Context(), c.args, &out); got != c.status {
				t.Fatalf("exit %d, want %d:\n%s", got, c.status, out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("output lacks %q:\n%s", c.want, out.String())
			}
			if strings.Contains(out.String(), testMaster) {
				t.Fatal("the output holds the master key")
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"8MiB", 8 << 20, true}, {"512KiB", 512 << 10, true}, {"1GiB", 1 << 30, true}, {"65536", 65536, true},
		{"", 0, false}, {"0", 0, false}, {"-5", 0, false}, {"8MB", 0, false}, {"99999999999GiB", 0, false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseSize(c.in)
			if (err == nil) != c.ok || got != c.want {
				t.Fatalf("parseSize(%q) = %d, %v", c.in, got, err)
			}
		})
	}
}

// startMoto runs moto server on a free port for this test.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "moto server", func() bool {
		resp, err := http.Get(url + "/moto-api/config")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode/100 == 2 // moto answers 201
	})
	return url
}

// Enrollment against KMS (moto): an agent started with --kms-key holds no
// key and answers for no instance; the plane's client, whose first request
// finds the placeholder certificate, seals the instance's key for its ARN
// and posts it; the agent opens it with KMS Decrypt under its own ARN,
// saves it (0600) and serves. Restarted, it serves at once with the saved
// key. An enrollment sealed for another instance's ARN is refused.
func TestEnrollmentWithKMS(t *testing.T) {
	endpoint := startMoto(t)
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := t.Context()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kc := kms.NewFromConfig(cfg)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("shadowscale agent enrollment")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	sealer, err := lambdaenv.NewKMSSealer(kc, keyARN)
	if err != nil {
		t.Fatal(err)
	}
	const id = "i-0enroll"
	arn := sealer.InstanceARN(id)
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--kms-key", keyARN, "--instance-arn", arn, "--log-level", "debug"}
	p := startProc(t, args...)
	ep := mutation.Endpoint{InstanceID: id, Address: p.addr}
	var pe *agent.PinError
	if _, err := testClient(t, agent.ClientOptions{}).Status(ctx, ep, ""); !errors.As(err, &pe) {
		t.Fatalf("status without enrolling: %v, want a pin error", err)
	}

	// Sealed for another instance: refused, nothing saved.
	other, _ := json.Marshal(agent.Enrollment{V: agent.EnrollmentVersion, Instance: id, Key: agent.DeriveKey([]byte("the-attackers-master-0123456789"), id), IssuedAt: time.Now().Unix()})
	sealed, err := sealer.Seal(ctx, "i-0other", other)
	if err != nil {
		t.Fatal(err)
	}
	status, text := postEnrollment(t, p.addr, id, sealed)
	if status != http.StatusForbidden || !strings.Contains(text, "unsealing") {
		t.Fatalf("an enrollment sealed for another instance: %d %s", status, text)
	}
	if _, err := os.Stat(filepath.Join(dir, "enrollment.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused enrollment was saved: %v", err)
	}

	time.Sleep(1100 * time.Millisecond) // the agent's one-unseal-a-second limit
	cl := testClient(t, agent.ClientOptions{Sealer: sealer})
	if _, err := cl.Apply(ctx, ep, id, genBatches(id, 1, 10)[0]); err != nil {
		t.Fatalf("apply with enrollment: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "enrollment.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved enrollment: %v %v", fi, err)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"agent enrolled"`) {
		t.Errorf("no enrollment logged:\n%s", p.stderr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)

	p = startProc(t, args...)
	ep.Address = p.addr
	st, err := testClient(t, agent.ClientOptions{}).Status(ctx, ep, id)
	if err != nil || len(st.Resources) != 1 || st.Resources[0].AcceptedCount != 10 {
		t.Fatalf("after a restart, without enrolling again: %+v %v", st, err)
	}
	if !strings.Contains(p.stderr.String(), `"enrolled":true`) {
		t.Errorf("the restarted agent does not say it is enrolled:\n%s", p.stderr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	checkNoSecret(t, p.stderr.String())
}

// postEnrollment posts a sealed enrollment to the agent over TLS opened
// for the instance, without checking the certificate.
func postEnrollment(t *testing.T, addr, instance string, sealed []byte) (int, string) {
	t.Helper()
	body, _ := json.Marshal(agent.EnrollRequest{Instance: instance, Sealed: sealed})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: instance, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}} //nolint:gosec // test
	resp, err := hc.Post("https://"+addr+agent.PathEnroll, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// SIGHUP reads the key file again: an instance added is answered for, one
// removed is not any more, and a broken file keeps what the agent had.
func TestSighupReloadsTheKeyFile(t *testing.T) {
	dir := t.TempDir()
	keys := writeKeyFile(t, dir, "i-0a")
	p := startProc(t, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--key-file", keys)
	cl := testClient(t, agent.ClientOptions{})
	status := func(id string) error {
		_, err := cl.Status(t.Context(), mutation.Endpoint{InstanceID: id, Address: p.addr}, "")
		return err
	}
	hup := func(want string, n int) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, want, func() bool { return strings.Count(p.stderr.String(), want) >= n })
	}
	if status("i-0a") != nil || status("i-0b") == nil {
		t.Fatalf("before: i-0a %v, i-0b %v", status("i-0a"), status("i-0b"))
	}
	writeKeyFile(t, dir, "i-0b")
	hup(`"msg":"identities reloaded"`, 1)
	if status("i-0b") != nil {
		t.Fatalf("after adding i-0b: %v", status("i-0b"))
	}
	var se *agent.StatusError
	if err := status("i-0a"); !errors.As(err, &se) || se.Code != 401 {
		// a pooled connection for i-0a gets 401; a new one fails its handshake
		if err == nil {
			t.Fatal("i-0a still answered after it left the key file")
		}
	}
	os.WriteFile(keys, []byte(testMaster), 0o600)
	hup(`"msg":"key file reload failed"`, 1)
	if status("i-0b") != nil {
		t.Fatal("a broken key file dropped the identities the agent had")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
	checkNoSecret(t, p.stderr.String())
}
