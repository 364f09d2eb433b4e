// Command launch is the launch Lambda: on an EC2 instance entering running,
// it gives a live instance of an enrolled group its shadow (docs/PLANE.md).
package main

import (
	"context"
	"log/slog"

	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

func main() { lambdaenv.Main("launch", lambdaenv.LoadLaunch, run) }

// run wires the adapters and the handler and starts the Lambda runtime.
func run(cfg lambdaenv.Launch, log *slog.Logger) error {
	return handlers.StartLifecycle(context.Background(), cfg.Common, cfg.Shadows, log, func(d handlers.Deps) (handlers.HandleFunc, error) {
		h, err := handlers.NewLaunch(d)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
