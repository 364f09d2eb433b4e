// Command reconciler is the reconciler Lambda: every 5 minutes it compares
// the enrolled groups' running instances with the shadow records and the
// shadow instances, and replaces, creates, resyncs or deletes what disagrees
// (docs/PLANE.md).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() {
	cfg, err := lambdaenv.LoadReconciler(os.Getenv)
	log := lambdaenv.NewLogger(os.Stdout, cfg.LogLevel, "reconciler")
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
	deps, err := handlers.LifecycleDeps(awsCfg, cfg.Common, cfg.Shadows, cfg.Agent.Port, agent.ShadowAgents{Client: client}, sink, log)
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	h, err := handlers.NewReconciler(deps, handlers.DefaultReconcilerOptions())
	if err != nil {
		log.Error("wiring failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(handlers.Lambda{Handle: h.Handle, Metrics: sink, Log: log})
}
