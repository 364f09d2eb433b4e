package main

import (
	"context"
	"fmt"
	"sort"
)

// benchCommands are the subcommands of `shadowscale bench`, each in its own
// file, registered with registerBench.
var benchCommands = map[string]*command{}

func registerBench(c *command) {
	if _, dup := benchCommands[c.name]; dup {
		panic("shadowscale: bench command registered twice: " + c.name)
	}
	benchCommands[c.name] = c
}

func init() {
	register(&command{
		name:    "bench",
		usage:   "bench <forecast|scaling> [flags] FILE...",
		summary: "run a benchmark protocol of ../shared/bench on traces (forecast accuracy, closed-loop scaling)",
		run:     runBench,
	})
}

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(e.stderr, "Usage: shadowscale bench <benchmark> [flags] FILE...\n\nBenchmarks:\n")
		names := make([]string, 0, len(benchCommands))
		for n := range benchCommands {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(e.stderr, "  %-10s %s\n", n, benchCommands[n].summary)
		}
		if len(args) == 0 {
			return usageErrorf("name a benchmark")
		}
		return nil
	}
	c, ok := benchCommands[args[0]]
	if !ok {
		return usageErrorf("unknown benchmark %q", args[0])
	}
	return c.run(ctx, e, args[1:])
}
