// Command terminate is the terminate Lambda: on an EC2 instance shutting down
// or terminated, it retires the shadow of a live instance and replaces a
// failed shadow of a running one (docs/PLANE.md).
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
	cfg, err := lambdaenv.LoadTerminate(os.Getenv)
	log := lambdaenv.NewLogger(os.Stdout, cfg.LogLevel, "terminate")
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
	h, err := handlers.NewTerminate(deps)
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(handlers.Lambda{Handle: h.Handle, Metrics: sink, Log: log})
}
