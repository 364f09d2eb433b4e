// Command shadow-agent is the shadowscale agent that runs on every live and
// every shadow instance (a systemd service): it accepts mutations over a
// signed HTTP API, durably and idempotently by seq, applies them, and
// serves status, state digests and snapshots for resync. docs/AGENT.md
// describes the API; `shadow-agent -h` the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run starts the agent and blocks until SIGTERM/SIGINT (or ctx ends). It
// returns the exit status: 0 after a clean stop, 1 on failure, 2 for a bad
// command line.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	c, err := parseConfig(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "shadow-agent: bad command line:\n  %s\nRun shadow-agent -h for the flags.\n",
			strings.ReplaceAll(strings.TrimPrefix(err.Error(), errUsage.Error()+": "), "\n", "\n  "))
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, c, log); err != nil {
		log.Error("agent failed", "err", err)
		return 1
	}
	return 0
}

// serve wires the store, the API and the worker, and runs them until ctx
// is done, then shuts down gracefully.
func serve(ctx context.Context, c config, log *slog.Logger) error {
	key, err := loadKey(ctx, c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	clk := clock.System{}
	store, err := agent.OpenStore(filepath.Join(c.dataDir, "agent.db"), clk, agent.StoreOptions{
		RetainEntries: c.retainEntries, RetainBytes: uint64(c.retainBytes), GapWait: c.gapWait,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	api, err := agent.NewServer(store, agent.ServerConfig{
		Key: key, Clock: clk, Logger: log, MaxBody: c.maxBody, Skew: c.skew, MaxInflight: c.maxInflight,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.listen, err)
	}
	hs := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	go func() { workerDone <- agent.NewWorker(store, clk, c.applyRate, log).Run(workerCtx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	log.Info("agent listening", "addr", ln.Addr().String(), "data_dir", c.dataDir,
		"apply_rate", c.applyRate, "max_body", c.maxBody, "gap_wait", c.gapWait.String(), "resources", len(store.Statuses()))

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("agent stopping", "reason", context.Cause(ctx).Error())
	case err := <-serveErr:
		runErr = fmt.Errorf("serving: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		log.Warn("shutdown cut requests in flight", "err", err)
		hs.Close()
	}
	stopWorker()
	<-workerDone
	if err := store.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		log.Info("agent stopped")
	}
	return runErr
}
