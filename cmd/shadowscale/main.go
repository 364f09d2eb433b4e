// Command shadowscale is the operator CLI: the embedded simulation, the
// forecast and the benchmarks. `shadowscale help` lists the commands.
//
// Each subcommand lives in its own file and registers itself in init with
// register; main only dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	usage   string // e.g. "simulate [--trace FILE] [flags]"
	summary string // one line for `help`
	// run executes the command with its arguments (after the name). It
	// returns errUsage (wrapped) for bad flags or arguments.
	run func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch of the outside world.
type env struct {
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("shadowscale: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error caused by how the command was called (exit 2).
var errUsage = errors.New("usage")

// usageErrorf returns an error wrapping errUsage.
func usageErrorf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// newFlagSet returns a flag set that reports errors instead of exiting, with
// a usage text naming the command.
func newFlagSet(env *env, c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: shadowscale %s\n\n%s\n", c.usage, c.summary)
		if hasFlags(fs) {
			fmt.Fprintf(env.stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args, mapping -h to a nil error after printing usage
// (signalled by ok=false) and any other problem to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) (ok bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return false, nil
		}
		return false, fmt.Errorf("%w: %v", errUsage, err)
	}
	return true, nil
}

func printHelp(w io.Writer) {
	fmt.Fprintf(w, "shadowscale: predictive scaling for EC2 Auto Scaling groups, ahead of overload.\n\nUsage: shadowscale <command> [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-16s %s\n", "help", "show this help, or a command's: shadowscale help <command>")
	fmt.Fprintf(w, "\nRun 'shadowscale <command> -h' for a command's flags.\n")
}

// run is main without os.Exit, for tests. It returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if len(args) == 0 {
		printHelp(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 {
			if c, ok := commands[rest[0]]; ok {
				fs := newFlagSet(e, c)
				fs.SetOutput(stdout)
				_ = c.run(ctx, &env{stdout: stdout, stderr: stdout, log: e.log}, []string{"-h"})
				return 0
			}
			fmt.Fprintf(stderr, "shadowscale: unknown command %q\n", rest[0])
			return 2
		}
		printHelp(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "shadowscale: unknown command %q\n\n", name)
		printHelp(stderr)
		return 2
	}
	if err := c.run(ctx, e, rest); err != nil {
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "shadowscale %s: %s\n", name, msg)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "Run 'shadowscale %s -h' for usage.\n", name)
			return 2
		}
		return 1
	}
	return 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
