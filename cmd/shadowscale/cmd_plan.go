package main

// `shadowscale plan` needs no AWS account and links no AWS SDK: it builds
// with and without the sim tag (make run builds with it).

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/sim/plan"
)

func init() {
	register(&command{
		name:    "plan",
		usage:   "plan [--instances N] [--groups G] [--mutations-per-second M] [--mutation-bytes B] [--live-type T] [--set NAME=VALUE]... [--json]",
		summary: "size a deployment: stream shards, fan-out concurrency and Lambda GB-seconds, DynamoDB load and its hottest partition, the shadow fleet, the monthly cost per service, the first AWS limit",
		run:     runPlan,
	})
}

// setFlags collects repeated --set NAME=VALUE.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func runPlan(_ context.Context, e *env, args []string) error {
	c := commands["plan"]
	fs := newFlagSet(e, c)
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintf(e.stderr, "\nEach line is `name value unit` (a value with blanks is quoted): the stream\n"+
			"(mode, shards, records a second after the producer's aggregation), the fan-out\n"+
			"(concurrency = shards x parallelization factor, invocations, Lambda GB-seconds a\n"+
			"month), DynamoDB (reads and writes a second, the hottest partitions), the live and\n"+
			"the shadow fleet and their ratio, the cost a month per service and in total with\n"+
			"the prices' region, date and source, and the first AWS limit the plan runs into,\n"+
			"how far and how to raise it. Notes go to stderr.\n\n"+
			"Every assumption is a named parameter (--json prints them all, with the plan's\n"+
			"details); --set NAME=VALUE changes one, e.g. --set stream_mode=provisioned,\n"+
			"--set put_latency_ms=10, --set lambda_concurrency_limit=3000 once raised.\n"+
			"docs/OPERATIONS.md (\"Planning a deployment\") explains each.\n")
	}
	d := plan.Defaults()
	instances := fs.Int("instances", d.Instances, "live instances (each gets a shadow)")
	groups := fs.Int("groups", d.Groups, "enrolled Auto Scaling groups (0: one per 100 live instances)")
	rate := fs.Float64("mutations-per-second", d.MutationsPerSecond, "mutations a second over the whole fleet")
	bytes := fs.Int("mutation-bytes", d.MutationBytes, "one mutation's JSON record as put, key and base64 value included")
	liveType := fs.String("live-type", d.LiveType, "the live instances' EC2 type (the catalog's)")
	cpu := fs.Float64("shadow-cpu-fraction", d.CPUFraction, "shadow sizing: fraction of the live type's vCPUs")
	mem := fs.Float64("shadow-memory-fraction", d.MemoryFraction, "shadow sizing: fraction of the live type's memory")
	noBurst := fs.Bool("shadow-exclude-burstable", d.ExcludeBurstable, "size shadows on non-T types")
	mode := fs.String("stream-mode", d.StreamMode, "on-demand (the stack's) or provisioned")
	var sets setFlags
	fs.Var(&sets, "set", "set a parameter, `NAME=VALUE` (repeatable; --json lists them)")
	asJSON := fs.Bool("json", false, "print the plan as JSON: the lines, every parameter, the prices and their sources, the details, the limits")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	p := d
	p.Instances, p.Groups, p.MutationsPerSecond, p.MutationBytes, p.LiveType = *instances, *groups, *rate, *bytes, *liveType
	p.CPUFraction, p.MemoryFraction, p.ExcludeBurstable, p.StreamMode = *cpu, *mem, *noBurst, *mode
	var errs []string
	for _, s := range sets {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			errs = append(errs, fmt.Sprintf("--set %q: want NAME=VALUE", s))
			continue
		}
		if err := p.Set(strings.TrimSpace(name), strings.TrimSpace(value)); err != nil {
			errs = append(errs, "--set "+err.Error())
		}
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, strings.Split(err.Error(), "\n")...)
	}
	cat, err := catalog.Default()
	if err != nil {
		return fmt.Errorf("reading the instance catalog: %w", err)
	}
	if _, err := cat.Lookup(p.LiveType); err != nil && p.LiveType != "" {
		errs = append(errs, "live_type: "+err.Error())
	}
	if len(errs) > 0 {
		return usageErrorf("%s", strings.Join(errs, "; "))
	}
	pl, err := plan.Compute(p, cat, plan.DefaultPrices())
	if err != nil {
		return usageErrorf("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(planJSON{Lines: pl.Lines(), Names: plan.Names(), Plan: pl})
	}
	if _, err := fmt.Fprint(e.stdout, pl.String()); err != nil {
		return err
	}
	notes := append([]string(nil), pl.Notes...)
	sort.Strings(notes)
	for _, n := range notes {
		fmt.Fprintf(e.stderr, "shadowscale plan: note: %s\n", n)
	}
	return nil
}

// planJSON is `plan --json`: the lines, then the plan in full.
type planJSON struct {
	Lines []plan.Line `json:"lines"`
	// Names are the parameters' names, for --set, in order.
	Names []string `json:"parameter_names"`
	plan.Plan
}
