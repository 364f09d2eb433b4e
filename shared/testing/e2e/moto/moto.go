// Package moto runs a moto server (the AWS emulator the end-to-end tests
// use) on a free loopback port, or points at an endpoint given in
// AWS_ENDPOINT_URL (LocalStack, an already running moto), and resets its
// state between tests. It imports no AWS library.
package moto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a moto server this process started, or an external endpoint.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string
	// External is true when URL came from AWS_ENDPOINT_URL: Stop leaves it
	// running, Reset may not be supported (LocalStack).
	External bool
	cmd      *exec.Cmd
	done     chan error
	client   *http.Client
}

// Options tune Start.
type Options struct {
	// Log receives moto's output (nil: discarded).
	Log io.Writer
	// StartTimeout bounds the wait for the server to answer (default 60 s).
	StartTimeout time.Duration
	// IgnoreEnv starts a server even when AWS_ENDPOINT_URL is set.
	IgnoreEnv bool
	// Prelude is Python run in the server's interpreter before the server
	// starts (`python3 -c`), e.g. to lift an emulator limit a long run
	// hits (see harness.KinesisScalePatch). Empty: moto as installed.
	Prelude string
}

// Start returns the endpoint of AWS_ENDPOINT_URL when set, and otherwise
// starts `moto_server -H 127.0.0.1 -p PORT` on a free port (or
// `python3 -m moto.server` when moto_server is not on PATH) and waits until
// GET /moto-api/config answers.
func Start(ctx context.Context, opt Options) (*Server, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" && !opt.IgnoreEnv {
		return &Server{URL: strings.TrimRight(ep, "/"), External: true, client: hc}, nil
	}
	if opt.StartTimeout <= 0 {
		opt.StartTimeout = 60 * time.Second
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	name, args := "moto_server", []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	if _, err := exec.LookPath(name); err != nil {
		name, args = "python3", append([]string{"-m", "moto.server"}, args...)
	}
	if opt.Prelude != "" {
		name, args = "python3", append([]string{"-c", opt.Prelude + "\nfrom moto.server import main\nmain()\n"}, args...)
	}
	cmd := exec.Command(name, args...)
	out := opt.Log
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto server (%s): %w (install it with: pip install 'moto[server]')", name, err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan error, 1), client: hc}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(opt.StartTimeout)
	for {
		if err := s.ping(ctx); err == nil {
			return s, nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("moto server exited before answering: %v", err)
		case <-ctx.Done():
			_ = s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			return nil, fmt.Errorf("moto server on port %d did not answer within %s", port, opt.StartTimeout)
		}
	}
}

func (s *Server) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/config", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 { // moto answers 201
		return fmt.Errorf("GET /moto-api/config: %s", resp.Status)
	}
	return nil
}

// ErrNoReset is returned by Reset on an endpoint without moto's reset API.
var ErrNoReset = errors.New("endpoint has no /moto-api/reset")

// Reset clears every service's state (POST /moto-api/reset).
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("resetting moto: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusNotFound && s.External:
		return ErrNoReset
	}
	return fmt.Errorf("resetting moto: %s", resp.Status)
}

// Stop stops a server this process started (SIGTERM, then SIGKILL after 5
// s), by its PID; an external endpoint is left alone.
func (s *Server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// PID returns the server's process id (0 for an external endpoint).
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
