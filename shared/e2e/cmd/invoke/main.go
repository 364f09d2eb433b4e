//go:build e2e

// Command invoke runs one plane function's real bootstrap under the Lambda
// Runtime Interface Emulator, with its sample event from events/, against a
// moto server it starts (or AWS_ENDPOINT_URL), and prints the answer and
// the function's logs. `make invoke-<fn>` runs it.
//
// The sample events name an instance that does not exist in a fresh moto,
// so by default the event is pointed at the world it sets up: launch gets
// the running event of a live instance of the enrolled group; terminate
// first has that instance's shadow launched and the instance terminated,
// then gets its terminated event; the reconciler gets the scheduled event
// as it is. -raw sends the sample untouched.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/e2e/harness"
)

// sampleLive is the instance id the samples in events/ name.
const sampleLive = "i-0a1b2c3d4e5f60718"

var defaultEvents = map[string]string{
	"launch":     "ec2-running.json",
	"terminate":  "ec2-terminated.json",
	"reconciler": "scheduled.json",
}

func main() {
	fn := flag.String("fn", "", "function: launch, terminate or reconciler")
	event := flag.String("event", "", "event file (default: the function's sample in events/)")
	raw := flag.Bool("raw", false, "send the event as it is, without pointing it at the moto world")
	flag.Parse()
	if err := run(*fn, *event, *raw); err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

func run(fn, eventFile string, raw bool) error {
	if _, ok := defaultEvents[fn]; !ok {
		return fmt.Errorf("-fn %q: want launch, terminate or reconciler", fn)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	if eventFile == "" {
		eventFile = filepath.Join(root, "events", defaultEvents[fn])
	}
	event, err := os.ReadFile(eventFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	fmt.Fprintln(os.Stderr, "== starting moto and the world")
	env, err := harness.Start(ctx, nil)
	if err != nil {
		return err
	}
	defer env.Stop()
	w, err := env.Setup(ctx, harness.WorldOptions{})
	if err != nil {
		return err
	}
	lives, err := env.GroupInstances(ctx, w.Group, 2)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "   moto %s, group %s with %v, table %s\n", env.Server.URL, w.Group, lives, w.Table)

	fmt.Fprintln(os.Stderr, "== building the bootstrap and the emulator")
	rie, err := harness.RIE(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "shadowscale-invoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	need := []string{fn}
	if fn == "terminate" && !raw {
		need = append(need, "launch")
	}
	bins, err := harness.BuildFunctions(ctx, tmp, need...)
	if err != nil {
		return err
	}
	start := func(name string) (*harness.Function, error) {
		return harness.StartFunction(ctx, rie, name, bins[name], w.FunctionEnv(env))
	}

	if !raw && fn != "reconciler" {
		target := lives[0]
		if fn == "terminate" {
			l, err := start("launch")
			if err != nil {
				return err
			}
			out, err := l.Invoke(ctx, harness.StateChange(target, "running", time.Now()))
			_ = l.Stop()
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "   launch gave %s its shadow: %s\n", target, out)
			if err := env.TerminateInstance(ctx, target); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "   terminated %s in moto\n", target)
		}
		event = bytes.ReplaceAll(event, []byte(sampleLive), []byte(target))
		fmt.Fprintf(os.Stderr, "   the sample now names %s\n", target)
	}

	f, err := start(fn)
	if err != nil {
		return err
	}
	defer f.Stop()
	fmt.Fprintf(os.Stderr, "== invoking %s under the emulator (%s)\n", fn, f.URL)
	begin := time.Now()
	out, err := f.Invoke(ctx, event)
	took := time.Since(begin)
	_ = harness.Eventually(ctx, 2*time.Second, func() (bool, error) { return len(f.Reports()) > 0, nil })
	fmt.Println("== response")
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		fmt.Println(pretty.String())
	} else {
		fmt.Println(string(out))
	}
	fmt.Println("== logs")
	fmt.Println(strings.TrimRight(f.Logs(), "\n"))
	fmt.Printf("== first invocation took %s (bootstrap start included)\n", took.Round(time.Millisecond))
	return err
}
