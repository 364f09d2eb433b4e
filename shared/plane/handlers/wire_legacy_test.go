package handlers_test

import (
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// TestLifecycleDepsMoveAnEarlierVersionsRecords: the functions' wiring
// gives the reconciler the DynamoDB records' move of an earlier version's
// layout (a reconciler without it would give every live instance whose
// record it cannot see a second shadow).
func TestLifecycleDepsMoveAnEarlierVersionsRecords(t *testing.T) {
	d, err := handlers.LifecycleDeps(aws.Config{Region: "us-east-1"},
		lambdaenv.Common{Stack: "s", Table: "t"},
		lambdaenv.Shadows{LaunchTemplates: map[string]string{"arm64": "lt-0a"}, Pools: shadow.Pools{"us-east-1a": {Subnets: []string{"subnet-a"}, Capacity: 10}}, Fractions: catalog.DefaultFractions()},
		0, nil, metrics.Discard{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if d.Legacy == nil {
		t.Error("no move of an earlier version's records wired")
	}
}
