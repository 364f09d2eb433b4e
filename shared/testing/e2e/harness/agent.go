//go:build e2e

package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

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
type AgentOptions struct {
	Name    string // for logs
	DataDir string // its own store
	Key     string // the HMAC key (written to a file in DataDir's parent)
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
	keyFile := filepath.Join(filepath.Dir(opt.DataDir), filepath.Base(opt.DataDir)+".key")
	if err := os.WriteFile(keyFile, []byte(opt.Key), 0o600); err != nil {
		return nil, err
	}
	a := &Agent{Name: opt.Name, Addr: "127.0.0.1:" + strconv.Itoa(opt.Port), bin: bin, args: []string{
		"--listen", "127.0.0.1:" + strconv.Itoa(opt.Port), "--data-dir", opt.DataDir, "--secret-file", keyFile,
		"--apply-rate", strconv.FormatFloat(opt.ApplyRate, 'f', -1, 64), "--log-level", opt.LogLevel, "--shutdown-timeout", "5s",
	}}
	return a, a.Start(ctx)
}

// Start (re)starts the process with its data dir and port.
func (a *Agent) Start(ctx context.Context) error {
	a.cmd = exec.Command(a.bin, a.args...)
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
