// Command forecaster is the forecaster Lambda: every minute, for each
// enrolled group, it feeds the new history minutes to the control loop
// (forecast, live/shadow delta, scaling policy), audits the decision and,
// in act mode, carries it out on the Auto Scaling group (docs/PLANE.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() { lambdaenv.Main("forecaster", lambdaenv.LoadForecaster, run) }

// run wires configuration, adapters and handler, and starts the Lambda
// runtime.
func run(cfg lambdaenv.Forecaster, log *slog.Logger) error {
	ctx := context.Background()
	awsCfg, err := lambdaenv.AWSConfig(ctx)
	if err != nil {
		return err
	}
	cat, err := catalog.Default()
	if err != nil {
		return fmt.Errorf("loading the instance catalog: %w", err)
	}
	loops, err := handlers.ControlLoops(cfg.Policy, cat)
	if err != nil {
		return fmt.Errorf("reading the policy: %w", err)
	}
	sink := awssdk.NewEMF(os.Stdout, cfg.Namespace, clock.System{})
	deps, err := handlers.NewForecasterDeps(awsCfg, cfg, loops, sink, log)
	if err != nil {
		return fmt.Errorf("wiring the adapters: %w", err)
	}
	opt, err := handlers.ForecasterOptionsFrom(cfg)
	if err != nil {
		return fmt.Errorf("reading the options: %w", err)
	}
	h, err := handlers.NewForecaster(deps, opt)
	if err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	lambda.Start(handlers.Invoker[handlers.ForecastResponse]{Handle: h.Handle, Metrics: sink, Log: log})
	return nil
}
