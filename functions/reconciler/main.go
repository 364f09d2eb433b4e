// Command reconciler is the reconciler Lambda: every 5 minutes it compares
// the enrolled groups' running instances with the shadow records and the
// shadow instances, and replaces, creates, resyncs or deletes what disagrees
// (docs/PLANE.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

func main() { lambdaenv.Main("reconciler", lambdaenv.LoadReconciler, run) }

// run wires configuration, adapters and handler, and starts the Lambda
// runtime.
func run(cfg lambdaenv.Reconciler, log *slog.Logger) error {
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
	deps, err := handlers.LifecycleDeps(awsCfg, cfg.Common, cfg.Shadows, cfg.Agent.Port, agent.ShadowAgents{Client: client}, sink, log)
	if err != nil {
		return fmt.Errorf("wiring the adapters: %w", err)
	}
	h, err := handlers.NewReconciler(deps, handlers.DefaultReconcilerOptions())
	if err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	lambda.Start(handlers.Lambda{Handle: h.Handle, Metrics: sink, Log: log})
	return nil
}
