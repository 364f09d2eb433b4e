// Command fanout is the fanout Lambda: on a batch of mutation records from
// the Kinesis stream, it applies each mutation to the agents of its live
// instance and of that instance's shadow, dead-letters the records that can
// never succeed, counts per minute into the history, and reports the
// records to retry (docs/PLANE.md).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() {
	cfg, err := lambdaenv.LoadFanout(os.Getenv)
	log := lambdaenv.NewLogger(os.Stdout, cfg.LogLevel, "fanout")
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(1)
	}
	ctx := context.Background()
	awsCfg, err := lambdaenv.AWSConfig(ctx)
	if err != nil {
		log.Error("no AWS configuration", "err", err)
		os.Exit(1)
	}
	client, err := lambdaenv.AgentClient(ctx, awsCfg, cfg.Agent.SecretARN)
	if err != nil {
		log.Error("no agent client", "err", err)
		os.Exit(1)
	}
	sink := awssdk.NewEMF(os.Stdout, cfg.Namespace, clock.System{})
	deps, err := handlers.NewFanoutDeps(awsCfg, cfg, client, sink, log)
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	h, err := handlers.NewFanout(deps, handlers.FanoutOptions{})
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(handlers.Invoker[events.KinesisEventResponse]{Handle: h.Handle, Metrics: sink, Log: log})
}
