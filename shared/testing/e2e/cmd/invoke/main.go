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
// then gets its terminated event; the reconciler and the forecaster get the
// scheduled event as it is (the forecaster after a few minutes of history
// were written, in act mode). The fanout first has both live instances'
// shadows launched and two shadow-agent processes started on the loopback
// (one serving the live instances, one the shadows: the test-only
// SHADOWSCALE_AGENT_ADDRESSES points the instances at them); the sample
// batch's two resources become the two live instances; the agents'
// statuses and the dead-letter queue are printed after the answer. -raw
// sends the sample untouched.
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// sampleLive is the instance id the samples in events/ name.
const sampleLive = "i-0a1b2c3d4e5f60718"

// sampleOther is the second resource of the Kinesis sample.
const sampleOther = "i-0fedcba9876543210"

var defaultEvents = map[string]string{
	"launch":     "ec2-running.json",
	"terminate":  "ec2-terminated.json",
	"reconciler": "scheduled.json",
	"fanout":     "kinesis-mutations.json",
	"forecaster": "scheduled.json",
}

func main() {
	fn := flag.String("fn", "", "function: launch, terminate, reconciler, fanout or forecaster")
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
		return fmt.Errorf("-fn %q: want launch, terminate, reconciler, fanout or forecaster", fn)
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
	defer func() { _ = env.Teardown(context.WithoutCancel(ctx), w) }()
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
	if (fn == "terminate" || fn == "fanout") && !raw {
		need = append(need, "launch")
	}
	bins, err := harness.BuildFunctions(ctx, tmp, need...)
	if err != nil {
		return err
	}
	fenv := w.FunctionEnv(env)
	start := func(name string) (*harness.Function, error) {
		return harness.StartFunction(ctx, rie, name, bins[name], fenv)
	}
	var after func()
	defer func() {
		if after != nil {
			after()
		}
	}()
	switch {
	case raw:
	case fn == "fanout":
		if event, after, err = prepareFanout(ctx, env, w, lives, tmp, start, fenv, event); err != nil {
			return err
		}
	case fn == "forecaster":
		if err := prepareForecaster(ctx, env, w, lives, fenv); err != nil {
			return err
		}
		after = func() {
			out, err := env.ASG.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{w.Group}})
			if err == nil && len(out.AutoScalingGroups) == 1 {
				g := out.AutoScalingGroups[0]
				fmt.Printf("== group %s in moto: desired %d, min %d, max %d\n", w.Group, aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize))
			}
		}
	}

	if !raw && (fn == "launch" || fn == "terminate") {
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
