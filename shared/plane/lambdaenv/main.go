package lambdaenv

import (
	"errors"
	"io"
	"log/slog"
	"os"
)

// Level is the configured log level; every function's configuration embeds
// Common, so each has it.
func (c Common) Level() slog.Level { return c.LogLevel }

// Main is every function's main: it loads the function's configuration
// from the environment, logs as name, and calls start, which wires the
// adapters and starts the Lambda runtime and so returns only when the
// function could not start. Then it logs why and exits 1. It first sets
// the garbage collector (GCFor).
func Main[C interface{ Level() slog.Level }](name string, load func(Getenv) (C, error), start func(C, *slog.Logger) error) {
	GCFor(os.Getenv, name).Apply()
	os.Exit(runMain(os.Getenv, os.Stdout, name, load, start))
}

// runMain is Main without the process around it; it returns the exit code.
func runMain[C interface{ Level() slog.Level }](get Getenv, w io.Writer, name string, load func(Getenv) (C, error), start func(C, *slog.Logger) error) int {
	cfg, err := load(get)
	log := NewLogger(w, cfg.Level(), name)
	if err == nil {
		err = start(cfg, log)
	}
	if err == nil {
		err = errors.New("the Lambda runtime returned")
	}
	log.Error("not started", "err", err)
	return 1
}
