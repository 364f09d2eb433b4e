// Command terminate is the terminate Lambda: on an EC2 instance shutting down
// or terminated, it retires the shadow of a live instance and replaces a
// failed shadow of a running one (docs/PLANE.md).
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

func main() { lambdaenv.Main("terminate", lambdaenv.LoadTerminate, run) }

// run wires configuration, adapters and handler, and starts the Lambda
// runtime.
func run(cfg lambdaenv.Terminate, log *slog.Logger) error {
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
	h, err := handlers.NewTerminate(deps)
	if err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	lambda.Start(handlers.Lambda{Handle: h.Handle, Metrics: sink, Log: log})
	return nil
}
