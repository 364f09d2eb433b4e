package handlers_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// TestFanoutDepsRouteTTL: the route cache the fan-out runs with is the one
// its configuration read (SHADOWSCALE_ROUTE_TTL, the stack's
// routeCacheSeconds), its default when unset. Building the dependencies
// makes no AWS call.
func TestFanoutDepsRouteTTL(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"unset", map[string]string{}, handlers.DefaultRouteTTL},
		{"two minutes", map[string]string{lambdaenv.EnvRouteTTL: "2m"}, 2 * time.Minute},
		{"five seconds", map[string]string{lambdaenv.EnvRouteTTL: "5s"}, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"SHADOWSCALE_STACK": "s", "SHADOWSCALE_TABLE": "t", "SHADOWSCALE_AGENT_SECRET_ARN": "k",
				"SHADOWSCALE_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := lambdaenv.LoadFanout(lambdaenv.Map(env))
			if err != nil {
				t.Fatal(err)
			}
			deps, err := handlers.NewFanoutDeps(aws.Config{Region: "us-east-1"}, cfg, nil, metrics.Discard{}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			res, ok := deps.Routes.(*handlers.Resolver)
			if !ok {
				t.Fatalf("routes are a %T, not the Resolver", deps.Routes)
			}
			if got := res.TTL(); got != tc.want {
				t.Errorf("route TTL %v, want %v", got, tc.want)
			}
		})
	}
}
