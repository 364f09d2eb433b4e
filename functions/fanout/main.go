// Command fanout is the fanout Lambda: on a batch of mutation records from
// the Kinesis stream, it applies each mutation to the agents of its live
// instance and of that instance's shadow, dead-letters the records that can
// never succeed, counts per minute into the history, and reports the
// records to retry (docs/PLANE.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() { lambdaenv.Main("fanout", lambdaenv.LoadFanout, run) }

// run wires configuration, adapters and handler, and starts the Lambda
// runtime.
func run(cfg lambdaenv.Fanout, log *slog.Logger) error {
	ctx := context.Background()
	awsCfg, err := lambdaenv.AWSConfig(ctx)
	if err != nil {
		return err
	}
	client, err := lambdaenv.AgentClient(ctx, awsCfg, cfg.Agent)
	if err != nil {
		return err
	}
	sink := awssdk.NewEMF(os.Stdout, cfg.Namespace, clock.System{})
	deps, err := handlers.NewFanoutDeps(awsCfg, cfg, client, sink, log)
	if err != nil {
		return fmt.Errorf("wiring the adapters: %w", err)
	}
	h, err := handlers.NewFanout(deps, handlers.FanoutOptions{})
	if err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	lambda.Start(handlers.Invoker[events.KinesisEventResponse]{Handle: h.Handle, Metrics: sink, Log: log})
	return nil
}
