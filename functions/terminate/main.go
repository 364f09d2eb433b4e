// Command terminate is the terminate Lambda: on an EC2 instance shutting down
// or terminated, it retires the shadow of a live instance and replaces a
// failed shadow of a running one (docs/PLANE.md).
package main

import (
	"context"
	"log/slog"

	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

func main() { lambdaenv.Main("terminate", lambdaenv.LoadTerminate, run) }

// run wires the adapters and the handler and starts the Lambda runtime.
func run(cfg lambdaenv.Terminate, log *slog.Logger) error {
	return handlers.StartLifecycle(context.Background(), cfg.Common, cfg.Shadows, log, func(d handlers.Deps) (handlers.HandleFunc, error) {
		h, err := handlers.NewTerminate(d)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
