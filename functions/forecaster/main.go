// Command forecaster is the forecaster Lambda: every minute, for each
// enrolled group, it feeds the new history minutes to the control loop
// (forecast, live/shadow delta, scaling policy), audits the decision and,
// in act mode, carries it out on the Auto Scaling group (docs/PLANE.md).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() {
	cfg, err := lambdaenv.LoadForecaster(os.Getenv)
	log := lambdaenv.NewLogger(os.Stdout, cfg.LogLevel, "forecaster")
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := lambdaenv.AWSConfig(context.Background())
	if err != nil {
		log.Error("no AWS configuration", "err", err)
		os.Exit(1)
	}
	cat, err := catalog.Default()
	if err != nil {
		log.Error("no instance catalog", "err", err)
		os.Exit(1)
	}
	loops, err := handlers.ControlLoops(cfg.Policy, cat)
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(1)
	}
	sink := awssdk.NewEMF(os.Stdout, cfg.Namespace, clock.System{})
	deps, err := handlers.NewForecasterDeps(awsCfg, cfg, loops, sink, log)
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	h, err := handlers.NewForecaster(deps, handlers.ForecasterOptions{Mode: cfg.Mode})
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(handlers.Invoker[handlers.ForecastResponse]{Handle: h.Handle, Metrics: sink, Log: log})
}
