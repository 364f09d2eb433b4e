// Command shadowscale is the operator CLI: the embedded simulation, the
// forecast and the benchmarks, and the commands that work against a
// deployed stack (groups, status, forecast --group, decisions, enroll,
// mode). `shadowscale help` lists the commands; docs/OPERATIONS.md is the
// reference, exit codes included.
//
// Each subcommand lives in its own file and registers itself in init with
// register (or registerVariant, for a second command under a taken name
// chosen by its flag); main only dispatches.
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

// variant is a second command under a registered name, run instead of it
// when its flag is given: `forecast --group G` reads a deployed group's
// saved state, `forecast --trace FILE` a file.
type variant struct {
	flag string // without dashes, e.g. "group"
	cmd  *command
}

var variants = map[string][]variant{}

// registerVariant registers c under name, chosen when args carry --flag.
func registerVariant(name, flag string, c *command) {
	for _, v := range variants[name] {
		if v.flag == flag {
			panic("shadowscale: variant registered twice: " + name + " --" + flag)
		}
	}
	variants[name] = append(variants[name], variant{flag: flag, cmd: c})
}

// pick returns the command to run for name and args: a variant whose flag
// args carry, else the command registered under name (nil when none).
func pick(name string, args []string) *command {
	for _, v := range variants[name] {
		if hasFlag(args, v.flag) {
			return v.cmd
		}
	}
	if c, ok := commands[name]; ok {
		return c
	}
	if vs := variants[name]; len(vs) > 0 {
		return vs[0].cmd
	}
	return nil
}

// hasFlag reports whether args (up to a "--") give -name or --name, with
// or without "=value".
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// wantsHelp reports whether args ask for help (-h, -help, --help).
func wantsHelp(args []string) bool {
	return hasFlag(args, "h") || hasFlag(args, "help")
}

// errUsage marks an error caused by how the command was called (exit 2).
var errUsage = errors.New("usage")

// Exit codes beyond 0 (success), 1 (failure) and 2 (usage): part of the
// CLI's contract (docs/OPERATIONS.md). A command returns them with
// noStackf, noGroupf and needConfirmf.
const (
	exitFailure     = 1
	exitUsage       = 2
	exitNoStack     = 3 // the stack (or what the CLI needs of it) is not there
	exitNoGroup     = 4 // the group does not exist, or is not enrolled where that is needed
	exitNeedConfirm = 5 // a change that needs --yes was not confirmed: nothing changed
)

// codeError is an error with its exit code; its message is the error's.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, format string, a ...any) error {
	return &codeError{code: code, err: fmt.Errorf(format, a...)}
}

// noStackf, noGroupf and needConfirmf return errors with their exit codes.
func noStackf(format string, a ...any) error     { return withCode(exitNoStack, format, a...) }
func noGroupf(format string, a ...any) error     { return withCode(exitNoGroup, format, a...) }
func needConfirmf(format string, a ...any) error { return withCode(exitNeedConfirm, format, a...) }

// exitCode maps a command's error to the process's exit code.
func exitCode(err error) int {
	var ce *codeError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &ce):
		return ce.code
	}
	return exitFailure
}

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
	for n := range variants {
		if _, ok := commands[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if c, ok := commands[n]; ok {
			fmt.Fprintf(w, "  %-16s %s\n", n, c.summary)
		}
		for _, v := range variants[n] {
			fmt.Fprintf(w, "  %-16s %s\n", n+" --"+v.flag, v.cmd.summary)
		}
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
			if pick(rest[0], rest[1:]) != nil {
				commandHelp(ctx, e, stdout, rest[0], rest[1:])
				return 0
			}
			fmt.Fprintf(stderr, "shadowscale: unknown command %q\n", rest[0])
			return exitUsage
		}
		printHelp(stdout)
		return 0
	}
	c := pick(name, rest)
	if c == nil {
		fmt.Fprintf(stderr, "shadowscale: unknown command %q\n\n", name)
		printHelp(stderr)
		return exitUsage
	}
	if wantsHelp(rest) && !helpOnStderr[name] {
		// Asked for, help goes to stdout: the command runs with its
		// arguments (a subcommand's -h reaches it) and stderr on stdout.
		he := &env{stdout: stdout, stderr: stdout, log: e.log}
		err := c.run(ctx, he, rest)
		if err == nil && c == commands[name] {
			for _, v := range variants[name] {
				fmt.Fprintln(stdout)
				_ = v.cmd.run(ctx, he, []string{"-h"})
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "shadowscale %s: %s\n", name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		}
		return exitCode(err)
	}
	err := c.run(ctx, e, rest)
	code := exitCode(err)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "shadowscale %s: %s\n", name, msg)
		if code == exitUsage {
			fmt.Fprintf(stderr, "Run 'shadowscale %s -h' for usage.\n", name)
		}
	}
	return code
}

// helpOnStderr names the commands whose help, even asked for, still goes
// to stderr: `bench` (cmd_bench_forecast_test.go expects it there). Drop
// the exception when that test moves to stdout.
var helpOnStderr = map[string]bool{"bench": true}

// commandHelp prints a command's usage and flags to w (`shadowscale help
// <command> [subcommand]`): the variant args select by its flag, else the
// command (with args' subcommand names) and every variant of the name.
func commandHelp(ctx context.Context, e *env, w io.Writer, name string, args []string) {
	he := &env{stdout: w, stderr: w, log: e.log}
	for _, v := range variants[name] {
		if hasFlag(args, v.flag) {
			_ = v.cmd.run(ctx, he, []string{"-h"})
			return
		}
	}
	first := true
	if c, ok := commands[name]; ok {
		var sub []string
		for _, a := range args {
			if !strings.HasPrefix(a, "-") {
				sub = append(sub, a)
			}
		}
		_ = c.run(ctx, he, append(sub, "-h"))
		first = false
	}
	for _, v := range variants[name] {
		if !first {
			fmt.Fprintln(w)
		}
		_ = v.cmd.run(ctx, he, []string{"-h"})
		first = false
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
