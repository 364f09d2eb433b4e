//go:build e2e

// Command soak runs the pipeline end to end against moto for a long time
// (`make soak`: 1,000 mutations/s for 10 minutes): mutations produced to
// Kinesis, the stream polled like Lambda's event source mapping, the real
// fanout bootstrap under the Lambda Runtime Interface Emulator (one per
// shard, so the consumer is a process of its own) delivering to a live and
// a shadow agent process. Each minute it prints the replication lag p50
// and p99 of that minute (shadow and live) and every process's memory:
// RssAnon (what the process allocated: heap, stacks) and VmRSS (that plus
// the file pages it maps: the agents' bbolt file grows with the retained
// log, by design). At the end it prints the accounting (produced = applied
// on live + dead-lettered = applied on shadow + dead-lettered) and checks
// that each process's RssAnon is flat over the second half of the run.
//
// Flat: a least-squares line through the second half's samples (one every
// -sample) rises by at most -flat-pct percent of the half's mean plus
// -flat-slack over that half. It exits 1 when the accounting does not
// balance, a mutation was never seen applied, or a process is not flat.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/moto"
)

func main() {
	var opt harness.LagOptions
	flag.IntVar(&opt.Rate, "rate", 1000, "mutations a second")
	flag.DurationVar(&opt.Duration, "duration", 10*time.Minute, "how long to produce")
	flag.IntVar(&opt.Lives, "lives", 4, "live instances (resources), each with its shadow")
	flag.IntVar(&opt.Shards, "shards", 4, "stream shards")
	flag.IntVar(&opt.BatchSize, "batch", 500, "event source mapping batch size")
	flag.IntVar(&opt.BadEvery, "bad-every", 1000, "one malformed record every N mutations (0: none)")
	flag.BoolVar(&opt.RIE, "rie", true, "run the fanout bootstrap under the Runtime Interface Emulator (the consumer is its own process); false: the handler in this process")
	flag.DurationVar(&opt.ReportEvery, "window", time.Minute, "lag window and report period")
	sample := flag.Duration("sample", 5*time.Second, "memory sampling period")
	flatPct := flag.Float64("flat-pct", 10, "allowed rise of RssAnon over the second half, percent of its mean")
	flatSlack := flag.Float64("flat-slack-mib", 4, "allowed rise of RssAnon over the second half, MiB, added to -flat-pct")
	asIs := flag.Bool("moto-as-is", false, "run moto without the Kinesis scaling patch")
	checkMem := flag.Bool("check-memory", true, "fail when a process's RssAnon is not flat over the second half (off for short runs: GC noise dominates)")
	flag.Parse()
	opt.Drain = 2 * time.Minute

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// moto's Kinesis costs grow with the stream's length (see
	// harness.KinesisScalePatch): without the patch a 10-minute run at
	// 1,000/s measures moto. -moto-as-is runs it unpatched.
	prelude := harness.KinesisScalePatch
	if *asIs {
		prelude = ""
	}
	env, err := harness.StartWith(ctx, moto.Options{Prelude: prelude})
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	mems := &memory{series: map[string][]point{}}
	var windows []harness.LagWindow
	opt.Sample = func(elapsed time.Duration, p harness.LagProgress) {
		if elapsed < mems.next {
			return
		}
		mems.next = elapsed + *sample
		procs := map[string]int{"consumer (this process)": os.Getpid()}
		if opt.RIE {
			delete(procs, "consumer (this process)")
			shards := make([]string, 0, len(p.FanoutPIDs))
			for s := range p.FanoutPIDs {
				shards = append(shards, s)
			}
			sort.Strings(shards)
			for _, s := range shards {
				for i, c := range children(p.FanoutPIDs[s]) {
					name := "fanout " + strings.TrimPrefix(s, "shardId-0000000")
					if i > 0 {
						name += fmt.Sprintf(" #%d", i+1)
					}
					procs[name] = c
				}
			}
		}
		for name, pid := range p.AgentPIDs {
			procs["agent "+name] = pid
		}
		procs["moto (not ours)"] = env.Server.PID()
		for name, pid := range procs {
			if m, ok := readMem(pid); ok {
				mems.add(name, point{elapsed, m})
			}
		}
	}
	opt.OnReport = func(w harness.LagWindow) {
		windows = append(windows, w)
		fmt.Printf("  window %2d memory: %s\n", len(windows), mems.line(w.Elapsed))
	}
	fmt.Printf("soak: %d mutations/s for %s; lag and memory every %s (RssAnon/VmRSS in MiB)\n", opt.Rate, opt.Duration, opt.ReportEvery)
	res, err := harness.RunLag(ctx, env, opt, os.Stdout)
	_ = env.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}

	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Println("\nlag per window (producer timestamp to applied):")
	fmt.Println("  window  applied(shadow)  shadow p50  shadow p99  live p50  live p99")
	for i, w := range windows {
		fmt.Printf("  %6d  %15d  %10s  %10s  %8s  %8s\n", i+1, w.ShadowN, ms(w.ShadowP50), ms(w.ShadowP99), ms(w.LiveP50), ms(w.LiveP99))
	}
	fmt.Printf("whole run: shadow p50 %s, p99 %s, max %s; live p50 %s, p99 %s (%d mutations, %d never seen applied)\n",
		ms(res.ShadowLag.P50), ms(res.ShadowLag.P99), ms(res.ShadowLag.Max), ms(res.LiveLag.P50), ms(res.LiveLag.P99), res.ShadowLag.N, res.ShadowLag.MissingSamples)
	fmt.Printf("produced %d records (%.0f/s achieved), %d invocations, %d batch retries, %d failed invocations, %d GetRecords errors retried\n",
		res.Produced, res.ProducedRate, res.Invocations, res.Retries, res.Errors, res.ReadErrors)
	ok := true
	fmt.Printf("accounting: produced %d = applied on live %d + dead-lettered %d = applied on shadow %d + dead-lettered %d: %s\n",
		res.Produced, res.LiveApplied, res.DeadLettered, res.ShadowApplied, res.DeadLettered, map[bool]string{true: "balanced", false: "NOT BALANCED"}[res.Balanced()])
	ok = ok && res.Balanced() && res.ShadowLag.MissingSamples == 0 && res.LiveLag.MissingSamples == 0

	fmt.Printf("\nmemory (MiB), first half / second half, and the second half's fitted rise (flat: at most %.0f%% of its mean + %.0f MiB):\n", *flatPct, *flatSlack)
	half := opt.Duration / 2
	for _, name := range mems.names() {
		s := mems.series[name]
		first, second := split(s, half, opt.Duration)
		if len(second) < 4 {
			fmt.Printf("  %-24s too few samples\n", name)
			continue
		}
		rise := fittedRise(second, opt.Duration-half)
		mean := meanAnon(second)
		limit := mean**flatPct/100 + *flatSlack
		flat := rise <= limit
		verdict := "flat"
		if !flat {
			verdict = "NOT FLAT"
		}
		if strings.HasSuffix(name, "(not ours)") || !*checkMem {
			verdict += " (not checked)"
		} else if !flat {
			ok = false
		}
		fmt.Printf("  %-24s RssAnon %6.1f max %6.1f / %6.1f max %6.1f; VmRSS max %6.1f / %6.1f; rise %+6.2f (limit %.2f): %s\n",
			name, meanAnon(first), maxAnon(first), mean, maxAnon(second), maxRSS(first), maxRSS(second), rise, limit, verdict)
	}
	if !ok {
		fmt.Println("soak: FAILED")
		os.Exit(1)
	}
	fmt.Println("soak: passed")
}

// mem is a process's memory in MiB.
type mem struct{ anon, rss float64 }

type point struct {
	at time.Duration
	m  mem
}

type memory struct {
	mu     sync.Mutex
	next   time.Duration
	series map[string][]point
}

func (m *memory) add(name string, p point) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series[name] = append(m.series[name], p)
}

func (m *memory) names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.series))
	for n := range m.series {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// line renders each process's latest sample.
func (m *memory) line(now time.Duration) string {
	var parts []string
	for _, n := range m.names() {
		m.mu.Lock()
		s := m.series[n]
		m.mu.Unlock()
		if len(s) == 0 {
			continue
		}
		p := s[len(s)-1]
		parts = append(parts, fmt.Sprintf("%s %.1f/%.1f", n, p.m.anon, p.m.rss))
	}
	return strings.Join(parts, ", ")
}

// readMem reads RssAnon and VmRSS of a process from /proc.
func readMem(pid int) (mem, bool) {
	if pid <= 0 {
		return mem{}, false
	}
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return mem{}, false
	}
	defer f.Close()
	var m mem
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.rss, found = kb/1024, found+1
		case "RssAnon":
			m.anon, found = kb/1024, found+1
		}
	}
	return m, found == 2
}

// children returns the process ids whose parent is pid (the ppid field
// of every process's stat).
func children(pid int) []int {
	if pid <= 0 {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		st := string(b)
		k := strings.LastIndexByte(st, ')')
		if k < 0 {
			continue
		}
		if f := strings.Fields(st[k+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

func split(s []point, half, end time.Duration) (first, second []point) {
	for _, p := range s {
		switch {
		case p.at < half:
			first = append(first, p)
		case p.at <= end:
			second = append(second, p)
		}
	}
	return first, second
}

// fittedRise is the rise of the least-squares line through the samples'
// RssAnon over span.
func fittedRise(s []point, span time.Duration) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(s))
	for _, p := range s {
		x := p.at.Seconds()
		sx += x
		sy += p.m.anon
		sxx += x * x
		sxy += x * p.m.anon
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	slope := (n*sxy - sx*sy) / d
	return slope * span.Seconds()
}

func meanAnon(s []point) float64 {
	if len(s) == 0 {
		return 0
	}
	t := 0.0
	for _, p := range s {
		t += p.m.anon
	}
	return t / float64(len(s))
}

func maxAnon(s []point) float64 {
	m := 0.0
	for _, p := range s {
		m = max(m, p.m.anon)
	}
	return m
}

func maxRSS(s []point) float64 {
	m := 0.0
	for _, p := range s {
		m = max(m, p.m.rss)
	}
	return m
}
