// Command launch is the launch Lambda: on an EC2 instance entering running,
// it gives a live instance of an enrolled group its shadow (docs/PLANE.md).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() {
	cfg, err := lambdaenv.LoadLaunch(os.Getenv)
	log := lambdaenv.NewLogger(os.Stdout, cfg.LogLevel, "launch")
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := lambdaenv.AWSConfig(context.Background())
	if err != nil {
		log.Error("no AWS configuration", "err", err)
		os.Exit(1)
	}
	sink := awssdk.NewEMF(os.Stdout, cfg.Namespace, clock.System{})
	deps, err := handlers.LifecycleDeps(awsCfg, cfg.Common, cfg.Shadows, 0, nil, sink, log)
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	h, err := handlers.NewLaunch(deps)
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(handlers.Lambda{Handle: h.Handle, Metrics: sink, Log: log})
}
