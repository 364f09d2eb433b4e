//go:build e2e

// Command withmoto runs a command against one moto server (`make e2e`):
// it starts moto_server on a free loopback port, runs the command with
// AWS_ENDPOINT_URL pointing at it, stops the server by its PID and exits
// with the command's status. Every e2e package the command runs then
// shares that one server at the same time, as they would share
// LocalStack, a developer's moto or an account: the suite proves on every
// run that no test depends on a server of its own (see the harness's
// package doc). With AWS_ENDPOINT_URL already set it starts nothing and
// runs the command against that endpoint.
//
//	withmoto [-log FILE] -- go test -tags e2e ./...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/shadowscale/shadowscale/shared/testing/e2e/moto"
)

func main() {
	logPath := flag.String("log", "", "write moto's output to `FILE` (default: discarded)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: withmoto [-log FILE] -- command [args...]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	code, err := run(*logPath, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "withmoto:", err)
	}
	os.Exit(code)
}

func run(logPath string, argv []string) (int, error) {
	var log io.Writer
	if logPath != "" {
		if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
			return 1, err
		}
		f, err := os.Create(logPath)
		if err != nil {
			return 1, err
		}
		defer f.Close()
		log = f
	}
	srv, err := moto.Start(context.Background(), moto.Options{Log: log})
	if err != nil {
		return 1, err
	}
	defer srv.Stop()
	if srv.External {
		fmt.Fprintf(os.Stderr, "withmoto: AWS_ENDPOINT_URL=%s is set: running against it\n", srv.URL)
	} else {
		fmt.Fprintf(os.Stderr, "withmoto: moto server at %s (pid %d), shared by everything the command runs\n", srv.URL, srv.PID())
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL="+srv.URL)
	// A terminal's Ctrl-C reaches the command too (same process group);
	// a signal sent to withmoto alone is passed on. Either way the server
	// is stopped once the command has exited.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		if code := exit.ExitCode(); code > 0 {
			return code, nil
		}
		return 1, nil // killed by a signal
	}
	return 1, err
}
