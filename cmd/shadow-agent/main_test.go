package main

import (
	"bufio"
	"bytes"
	"context"
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
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
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

const testSecret = "agent-test-key-5b0c2e6f9a7d41c3b8e2\n"

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

func writeSecret(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "agent.key")
	if err := os.WriteFile(f, []byte(testSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func testClient(t *testing.T) *agent.Client {
	t.Helper()
	key, err := agent.KeyFromSecret([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := agent.NewClient(key, clock.System{}, agent.ClientOptions{})
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
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--secret-file", writeSecret(t, dir)}
	batches := genBatches(res, 30, 500)
	total := uint64(30 * 500)
	cl := testClient(t)
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
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--secret-file", writeSecret(t, dir)}
	cl := testClient(t)
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
	if strings.Contains(all, strings.TrimSpace(testSecret)) {
		t.Error("the logs contain the agent key")
	}
	if strings.Contains(all, "value-") {
		t.Error("the logs contain a mutation value")
	}
}

func TestSigtermStopsGracefully(t *testing.T) {
	const res = "i-0term"
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--secret-file", writeSecret(t, dir), "--apply-rate", "100"}
	cl := testClient(t)
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
	secret := writeSecret(t, dir)
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("tiny\n"), 0o600)
	cases := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"no secret", []string{"--data-dir", dir}, 2, "one of --secret-file or --secret-arn is required"},
		{"both secrets", []string{"--data-dir", dir, "--secret-file", secret, "--secret-arn", "x"}, 2, "exclusive"},
		{"port and listen", []string{"--data-dir", dir, "--secret-file", secret, "--port", "1", "--listen", ":2"}, 2, "--port and --listen are exclusive"},
		{"bad port", []string{"--data-dir", dir, "--secret-file", secret, "--port", "70000"}, 2, "not 1-65535"},
		{"bad listen", []string{"--data-dir", dir, "--secret-file", secret, "--listen", "nowhere"}, 2, "not host:port"},
		{"negative rate", []string{"--data-dir", dir, "--secret-file", secret, "--apply-rate", "-1"}, 2, "--apply-rate"},
		{"bad max body", []string{"--data-dir", dir, "--secret-file", secret, "--max-body", "lots"}, 2, "--max-body"},
		{"tiny max body", []string{"--data-dir", dir, "--secret-file", secret, "--max-body", "1KiB"}, 2, "below 64KiB"},
		{"bad log level", []string{"--data-dir", dir, "--secret-file", secret, "--log-level", "loud"}, 2, "--log-level"},
		{"tiny gap wait", []string{"--data-dir", dir, "--secret-file", secret, "--gap-wait", "10ms"}, 2, "--gap-wait 10ms is below 1s"},
		{"unknown flag", []string{"--frobnicate"}, 2, "frobnicate"},
		{"stray argument", []string{"--data-dir", dir, "--secret-file", secret, "extra"}, 2, "unexpected arguments"},
		{"all problems at once", []string{"--apply-rate", "-1", "--max-body", "x"}, 2, "--max-body"},
		{"missing secret file", []string{"--data-dir", dir, "--secret-file", filepath.Join(dir, "none"), "--listen", "127.0.0.1:0"}, 1, "reading secret file"},
		{"short key", []string{"--data-dir", dir, "--secret-file", short, "--listen", "127.0.0.1:0"}, 1, "need at least"},
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

func TestSecretFromSecretsManager(t *testing.T) {
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
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("shadowscale/agent-key"), SecretString: aws.String(testSecret),
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	if r := arnRegion(arn); r != "us-east-1" {
		t.Errorf("region of %s = %q", arn, r)
	}

	t.Run("by ARN, in process", func(t *testing.T) {
		key, err := loadKey(ctx, config{secretARN: arn})
		if err != nil || string(key) != strings.TrimSpace(testSecret) {
			t.Fatalf("key %q, %v", key, err)
		}
	})
	t.Run("by ARN, without AWS_REGION: the ARN's region", func(t *testing.T) {
		t.Setenv("AWS_REGION", "")
		key, err := loadKey(ctx, config{secretARN: arn})
		if err != nil || string(key) != strings.TrimSpace(testSecret) {
			t.Fatalf("key %q, %v", key, err)
		}
	})
	t.Run("missing secret", func(t *testing.T) {
		_, err := loadKey(ctx, config{secretARN: "shadowscale/none"})
		if err == nil || !strings.Contains(err.Error(), "getting secret shadowscale/none") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a real process started with --secret-arn serves signed requests", func(t *testing.T) {
		dir := t.TempDir()
		p := startProc(t, "--listen", "127.0.0.1:0", "--data-dir", dir, "--secret-arn", arn)
		ep := mutation.Endpoint{InstanceID: "i-arn", Address: p.addr}
		if _, err := testClient(t).Status(ctx, ep, ""); err != nil {
			t.Fatalf("status with the key from Secrets Manager: %v", err)
		}
		wrong, _ := agent.NewClient([]byte("some-other-key-0123456789"), clock.System{}, agent.ClientOptions{})
		_, err := wrong.Status(ctx, ep, "")
		var se *agent.StatusError
		if !errors.As(err, &se) || se.Code != 401 {
			t.Fatalf("status with another key: %v, want 401", err)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t)
		checkNoSecret(t, p.stderr.String())
	})
}
