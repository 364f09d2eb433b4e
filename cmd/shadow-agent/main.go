// Command shadow-agent is the shadowscale agent that runs on every live and
// every shadow instance (a systemd service): it accepts mutations over a
// signed API on TLS, durably and idempotently by seq, applies them, and
// serves status, state digests and snapshots for resync. It holds only its
// own instance's key, which the control plane delivers sealed for this
// instance (--kms-key) or which it is given (--key-file). docs/AGENT.md
// describes the API; `shadow-agent -h` the flags.
package main

import (
	"context"
	"crypto/tls"
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

// reload reads the key file again and serves its identities; on an error
// the agent keeps those it had.
func reload(ctx context.Context, c config, api *agent.Server, log *slog.Logger) {
	if c.keyFile == "" {
		log.Warn("SIGHUP ignored: the agent is enrolled, it has no key file")
		return
	}
	ids, _, err := identities(ctx, c, log)
	if err == nil {
		err = api.SetIdentities(ids)
	}
	if err != nil {
		log.Warn("key file reload failed", "err", err, "identities", api.Identities())
		return
	}
	log.Info("identities reloaded", "identities", api.Identities())
}

// serve wires the store, the API and the worker, and runs them until ctx
// is done, then shuts down gracefully.
func serve(ctx context.Context, c config, log *slog.Logger) error {
	// SIGHUP reads the key file again (a key file rotated, instances
	// added); an enrolled agent ignores it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	ids, enroll, err := identities(ctx, c, log)
	if err != nil {
		return err
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
		Identities: ids, Enroll: enroll, Clock: clk, Logger: log, MaxBody: c.maxBody, Skew: c.skew, MaxInflight: c.maxInflight,
	})
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.listen, err)
	}
	ln := tls.NewListener(tcp, api.TLSConfig())
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
	attrs := []any{"addr", ln.Addr().String(), "tls", true, "identities", api.Identities(), "data_dir", c.dataDir,
		"apply_rate", c.applyRate, "max_body", c.maxBody, "gap_wait", c.gapWait.String(), "resources", len(store.Statuses())}
	if enroll != nil {
		attrs = append(attrs, "enrollment", enroll.InstanceID, "kms_key", c.kmsKey, "enrolled", enroll.Current != nil)
	}
	log.Info("agent listening", attrs...)

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("agent stopping", "reason", context.Cause(ctx).Error())
			break wait
		case err := <-serveErr:
			runErr = fmt.Errorf("serving: %w", err)
			break wait
		case <-hup:
			reload(ctx, c, api, log)
		}
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
