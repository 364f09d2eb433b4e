// Command launch is the launch Lambda: on an EC2 instance entering running,
// it gives a live instance of an enrolled group its shadow (docs/PLANE.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() { lambdaenv.Main("launch", lambdaenv.LoadLaunch, run) }

// run wires configuration, adapters and handler, and starts the Lambda
// runtime.
func run(cfg lambdaenv.Launch, log *slog.Logger) error {
	ctx := context.Background()
	awsCfg, err := lambdaenv.AWSConfig(ctx)
	if err != nil {
		return err
	}
	sink := awssdk.NewEMF(os.Stdout, cfg.Namespace, clock.System{})
	deps, err := handlers.LifecycleDeps(awsCfg, cfg.Common, cfg.Shadows, 0, nil, sink, log)
	if err != nil {
		return fmt.Errorf("wiring the adapters: %w", err)
	}
	h, err := handlers.NewLaunch(deps)
	if err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	lambda.Start(handlers.Lambda{Handle: h.Handle, Metrics: sink, Log: log})
	return nil
}
