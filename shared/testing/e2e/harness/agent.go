//go:build e2e

package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/moto"
)

// BuildAgent builds cmd/shadow-agent for the host (CGO off, stripped) into
// dir and returns its path; with SHADOWSCALE_AGENT_BIN set it takes that
// binary instead.
func BuildAgent(ctx context.Context, dir string) (string, error) {
	if p := os.Getenv("SHADOWSCALE_AGENT_BIN"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "shadow-agent")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", p, "./cmd/shadow-agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the shadow agent: %w\n%s", err, b)
	}
	return p, nil
}

// AgentOptions start one agent process.
//
// The agent holds only instances' own keys, over TLS, as on EC2. One
// process may stand in for several instances of the emulator (their
// agents' addresses all lead to it): it answers for Name and every one of
// Instances, each with its key derived from Key (a key file in DataDir's
// parent). With KMSKey it instead waits for its enrollment as the one
// instance of InstanceARN.
type AgentOptions struct {
	Name    string // for logs, and an instance the agent answers for
	DataDir string // its own store
	Key     string // the plane's master key: the agent gets its instances' keys derived from it
	// Instances the agent stands in for (besides Name).
	Instances []string
	// KMSKey and InstanceARN: enrollment instead of a key file (Key and
	// Instances unused); Env then gives the process its AWS settings.
	KMSKey, InstanceARN string
	Env                 map[string]string
	// ApplyRate caps applied mutations a second (0: none), to play a small
	// shadow.
	ApplyRate float64
	// Port to listen on, on the loopback (0: a free one).
	Port int
	// LogLevel of the agent (default warn).
	LogLevel string
}

// Agent is a shadow-agent process on the loopback.
type Agent struct {
	Name string
	Addr string // 127.0.0.1:port
	bin  string
	args []string
	env  []string // added to the environment
	opt  AgentOptions
	mu   sync.Mutex
	logs bytes.Buffer
	cmd  *exec.Cmd
	done chan error
}

// StartAgent starts the agent binary and waits until it accepts
// connections.
func StartAgent(ctx context.Context, bin string, opt AgentOptions) (*Agent, error) {
	if opt.Port == 0 {
		p, err := moto.FreePort()
		if err != nil {
			return nil, err
		}
		opt.Port = p
	}
	if opt.LogLevel == "" {
		opt.LogLevel = "warn"
	}
	if err := os.MkdirAll(opt.DataDir, 0o700); err != nil {
		return nil, err
	}
	args := []string{
		"--listen", "127.0.0.1:" + strconv.Itoa(opt.Port), "--data-dir", opt.DataDir,
		"--apply-rate", strconv.FormatFloat(opt.ApplyRate, 'f', -1, 64), "--log-level", opt.LogLevel, "--shutdown-timeout", "5s",
	}
	if opt.KMSKey != "" {
		args = append(args, "--kms-key", opt.KMSKey, "--instance-arn", opt.InstanceARN)
	} else {
		keyFile := filepath.Join(filepath.Dir(opt.DataDir), filepath.Base(opt.DataDir)+".keys")
		if err := os.WriteFile(keyFile, agent.FormatKeyFile(AgentIdentities([]byte(opt.Key), append([]string{opt.Name}, opt.Instances...)...)...), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--key-file", keyFile)
	}
	a := &Agent{Name: opt.Name, Addr: "127.0.0.1:" + strconv.Itoa(opt.Port), bin: bin, args: args, opt: opt}
	for k, v := range opt.Env {
		a.env = append(a.env, k+"="+v)
	}
	return a, a.Start(ctx)
}

// AgentIdentities are the identities of the named instances (duplicates
// and empty names dropped), their keys derived from the master.
func AgentIdentities(master []byte, names ...string) []agent.Identity {
	var out []agent.Identity
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, agent.DeriveIdentity(master, n))
	}
	return out
}

// Start (re)starts the process with its data dir and port.
func (a *Agent) Start(ctx context.Context) error {
	a.cmd = exec.Command(a.bin, a.args...)
	if len(a.env) > 0 {
		a.cmd.Env = append(os.Environ(), a.env...)
	}
	a.cmd.Stdout, a.cmd.Stderr = (*agentLog)(a), (*agentLog)(a)
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		return fmt.Errorf("starting agent %s: %w", a.Name, err)
	}
	done := make(chan error, 1)
	a.done = done
	go func() { done <- a.cmd.Wait() }()
	return Eventually(ctx, 20*time.Second, func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("agent %s exited: %v\n%s", a.Name, err, a.Logs())
		default:
		}
		c, err := net.DialTimeout("tcp", a.Addr, time.Second)
		if err != nil {
			return false, err
		}
		c.Close()
		return true, nil
	})
}

// Serve makes the running agent answer for more instances too: it
// rewrites the agent's key file and signals it (SIGHUP) to read it again,
// then waits until the agent answers for each of them.
func (a *Agent) Serve(ctx context.Context, instances ...string) error {
	if a.opt.KMSKey != "" {
		return fmt.Errorf("agent %s is enrolled: it answers for its one instance", a.Name)
	}
	a.opt.Instances = append(a.opt.Instances, instances...)
	keyFile := filepath.Join(filepath.Dir(a.opt.DataDir), filepath.Base(a.opt.DataDir)+".keys")
	if err := os.WriteFile(keyFile, agent.FormatKeyFile(AgentIdentities([]byte(a.opt.Key), append([]string{a.opt.Name}, a.opt.Instances...)...)...), 0o600); err != nil {
		return err
	}
	if a.cmd == nil || a.cmd.Process == nil {
		return nil // read at the next Start
	}
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("signalling agent %s: %w", a.Name, err)
	}
	cl, err := agent.NewClient([]byte(a.opt.Key), clock.System{}, agent.ClientOptions{})
	if err != nil {
		return err
	}
	for _, id := range instances {
		if err := Eventually(ctx, 10*time.Second, func() (bool, error) {
			_, err := cl.Status(ctx, mutation.Endpoint{InstanceID: id, Address: a.Addr}, "")
			return err == nil, err
		}); err != nil {
			return fmt.Errorf("agent %s does not answer for %s after SIGHUP: %w\n%s", a.Name, id, err, a.Logs())
		}
	}
	return nil
}

type agentLog Agent

func (l *agentLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.logs.Write(p)
}

// Logs returns what the agent printed so far.
func (a *Agent) Logs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs.String()
}

// PID is the process id (0 when stopped).
func (a *Agent) PID() int {
	if a.cmd == nil || a.cmd.Process == nil {
		return 0
	}
	return a.cmd.Process.Pid
}

// Kill kills the process with SIGKILL (kill -9: no shutdown, whatever it
// was doing is cut off), by its id, and waits for it to be gone. Start
// brings it back on its data dir and port.
func (a *Agent) Kill() error {
	if a.cmd == nil || a.cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing agent %s: %w", a.Name, err)
	}
	<-a.done
	a.cmd = nil
	return nil
}

// Stop stops the process gracefully (SIGTERM, then SIGKILL after 10 s),
// by its id.
func (a *Agent) Stop() error {
	if a.cmd == nil || a.cmd.Process == nil {
		return nil
	}
	pid := a.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-a.done
	}
	a.cmd = nil
	return nil
}

// AgentFront lets a test stand in front of an agent the way an on-path
// proxy would if it held the agents' keys (a fault-injecting proxy):
// Server presents the certificates of the named instances (keys derived
// from the master), so the plane's pinned TLS ends at the proxy, and
// Forward sends each request on to the agent at addr over TLS opened for
// the instance the request names (its X-Shadow-Instance), the agent's
// certificate pinned. The request's signature passes through unchanged.
func AgentFront(master []byte, addr string, instances ...string) (server *tls.Config, forward http.RoundTripper, err error) {
	certs := map[string]*tls.Certificate{}
	for _, id := range AgentIdentities(master, instances...) {
		c, err := id.Certificate(time.Now())
		if err != nil {
			return nil, nil, err
		}
		certs[id.InstanceID] = &c
	}
	server = &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c, ok := certs[h.ServerName]; ok {
			return c, nil
		}
		return nil, fmt.Errorf("the front serves no instance %q", h.ServerName)
	}}
	return server, &frontTransport{master: master, addr: addr}, nil
}

// frontTransport forwards to one agent address, one pooled transport per
// instance (a connection is opened for one instance).
type frontTransport struct {
	master []byte
	addr   string
	byID   sync.Map // instance -> *http.Transport
}

func (f *frontTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	instance := req.Header.Get(agent.HeaderInstance)
	if err := agent.CheckInstanceID(instance); err != nil {
		return nil, fmt.Errorf("forwarding to the agent: %w", err)
	}
	t, ok := f.byID.Load(instance)
	if !ok {
		want := agent.DeriveIdentity(f.master, instance).Pin()
		t, _ = f.byID.LoadOrStore(instance, &http.Transport{TLSClientConfig: &tls.Config{
			ServerName: instance, MinVersion: tls.VersionTLS13,
			InsecureSkipVerify: true, //nolint:gosec // the pin is checked below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo) != want {
					return fmt.Errorf("the agent at %s is not %s", f.addr, instance)
				}
				return nil
			},
		}})
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "https", f.addr
	return t.(*http.Transport).RoundTrip(out)
}
