//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

// prepareFanout gives the live instances their shadows (the launch
// bootstrap), starts a live and a shadow agent, points the function at
// them and the sample batch at the live instances, and returns the event
// and what to run after the invocation (print the agents and the
// dead-letter queue, stop the agents).
func prepareFanout(ctx context.Context, env *harness.Env, w *harness.World, lives []string, tmp string,
	start func(string) (*harness.Function, error), fenv map[string]string, sample []byte) ([]byte, func(), error) {
	l, err := start("launch")
	if err != nil {
		return nil, nil, err
	}
	var shadows []string
	for _, id := range lives {
		out, err := l.Invoke(ctx, harness.StateChange(id, "running", time.Now()))
		if err != nil {
			_ = l.Stop()
			return nil, nil, err
		}
		var r handlers.Response
		if err := json.Unmarshal(out, &r); err != nil || r.Shadow == "" {
			_ = l.Stop()
			return nil, nil, fmt.Errorf("launch gave %s no shadow: %s", id, out)
		}
		shadows = append(shadows, r.Shadow)
	}
	_ = l.Stop()
	fmt.Fprintf(os.Stderr, "   launch gave %v their shadows %v\n", lives, shadows)

	bin, err := harness.BuildAgent(ctx, tmp)
	if err != nil {
		return nil, nil, err
	}
	agents := map[string]*harness.Agent{}
	stop := func() {
		for _, a := range agents {
			_ = a.Stop()
		}
	}
	addrs := map[string]string{}
	for name, insts := range map[string][]string{"live": lives, "shadow": shadows} {
		a, err := harness.StartAgent(ctx, bin, harness.AgentOptions{Name: name, DataDir: filepath.Join(tmp, "agent-"+name), Key: w.AgentKey, Instances: insts})
		if err != nil {
			stop()
			return nil, nil, err
		}
		agents[name] = a
		for _, id := range insts {
			addrs[id] = a.Addr
		}
		fmt.Fprintf(os.Stderr, "   %s agent on %s serves %v\n", name, a.Addr, insts)
	}
	b, _ := json.Marshal(addrs)
	fenv[lambdaenv.EnvAgentAddresses] = string(b)

	var ev events.KinesisEvent
	if err := json.Unmarshal(sample, &ev); err != nil {
		stop()
		return nil, nil, fmt.Errorf("the sample is not a Kinesis event: %w", err)
	}
	for i := range ev.Records {
		r := &ev.Records[i]
		for from, to := range map[string]string{sampleLive: lives[0], sampleOther: lives[len(lives)-1]} {
			r.Kinesis.Data = bytes.ReplaceAll(r.Kinesis.Data, []byte(from), []byte(to))
			if r.Kinesis.PartitionKey == from {
				r.Kinesis.PartitionKey = to
			}
		}
		r.EventSourceArn = w.StreamARN
	}
	event, _ := json.Marshal(ev)
	fmt.Fprintf(os.Stderr, "   the sample batch now names %s and %s\n", lives[0], lives[len(lives)-1])

	after := func() {
		defer stop()
		client, err := agent.NewClient([]byte(w.AgentKey), clock.System{}, agent.ClientOptions{})
		if err != nil {
			return
		}
		time.Sleep(300 * time.Millisecond) // let the workers apply
		for _, name := range []string{"live", "shadow"} {
			st, err := client.Status(ctx, mutation.Endpoint{InstanceID: name, Address: agents[name].Addr}, "")
			fmt.Printf("== %s agent\n", name)
			if err != nil {
				fmt.Println("  ", err)
				continue
			}
			for _, r := range st.Resources {
				fmt.Printf("   %s: accepted %d, applied %d, backlog %d, keys %d, digest %.16s…\n", r.Resource, r.AcceptedCount, r.AppliedCount, r.Backlog, r.Keys, r.Digest)
			}
		}
		fmt.Println("== dead-letter queue")
		out, err := env.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.QueueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
		if err != nil {
			fmt.Println("  ", err)
			return
		}
		for _, m := range out.Messages {
			fmt.Printf("   seq %s: %s\n", aws.ToString(m.MessageAttributes["sequence_number"].StringValue), aws.ToString(m.MessageAttributes["reason"].StringValue))
		}
	}
	return event, after, nil
}

// prepareForecaster writes the last 70 minutes of history of the group's
// two live instances, as the fanout would count them (900 mutations a
// minute climbing to 2,400 over the last 20), and runs the forecaster in
// act mode with one instance serving 600 a minute.
func prepareForecaster(ctx context.Context, env *harness.Env, w *harness.World, lives []string, fenv map[string]string) error {
	table, err := awssdk.NewTable(env.DDB, w.Table, clock.System{}, awssdk.TableOptions{})
	if err != nil {
		return err
	}
	end := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	counts := map[mutation.CountKey]mutation.Count{}
	applied := map[string]uint64{}
	for i := 69; i >= 0; i-- {
		m := end.Add(-time.Duration(i) * time.Minute)
		d := 900.0
		if i < 20 {
			d = 900 + 1500*float64(20-i)/20
		}
		per := int(d) / len(lives)
		for _, l := range lives {
			applied[l] += uint64(per)
			for _, tg := range []mutation.Target{mutation.Live, mutation.Shadow} {
				counts[mutation.CountKey{Group: w.Group, Resource: l, Target: tg, Minute: m}] = mutation.Count{Accepted: per, Applied: applied[l]}
			}
		}
	}
	if err := table.History().Add(ctx, counts); err != nil {
		return err
	}
	fenv[lambdaenv.EnvMode] = "act"
	fenv[lambdaenv.EnvPolicy] = `{"per_instance": 600}`
	fmt.Fprintf(os.Stderr, "   wrote 70 minutes of history for %s (900 -> 2,400 mutations a minute); SHADOWSCALE_MODE=act, SHADOWSCALE_POLICY=%s\n", w.Group, fenv[lambdaenv.EnvPolicy])
	return nil
}
