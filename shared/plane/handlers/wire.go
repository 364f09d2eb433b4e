package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// The AWS adapters are the production implementations of every port the
// handlers declare (the memory adapters are the other: ports_test.go).
var (
	_ Groups           = (*awssdk.Groups)(nil)
	_ ResolverFleet    = (*awssdk.Instances)(nil)
	_ ResolverRecords  = (*awssdk.Records)(nil)
	_ ResolverGroups   = (*awssdk.Groups)(nil)
	_ HistoryAdder     = (*awssdk.History)(nil)
	_ DeadLetterWriter = (*awssdk.DeadLetters)(nil)
	_ ForecastGroups   = (*awssdk.Groups)(nil)
	_ ForecastHistory  = (*awssdk.History)(nil)
	_ ForecastStates   = (*awssdk.States)(nil)
	_ AuditWriter      = (*awssdk.Audit)(nil)
	_ LifecycleActions = (*awssdk.LifecycleActions)(nil)
)

// LaunchTimeout is how long a launching shadow record may stay so before
// another caller (a retry, the reconciler) takes the launch over.
const LaunchTimeout = 5 * time.Minute

// StartLifecycle is the launch and terminate functions' run: it wires
// their adapters (the AWS clients built once, at init, metrics as EMF on
// stdout), builds the handler with build and starts the Lambda runtime. It
// returns only when the function could not start.
func StartLifecycle(ctx context.Context, c lambdaenv.Common, s lambdaenv.Shadows, log *slog.Logger, build func(Deps) (HandleFunc, error)) error {
	awsCfg, err := lambdaenv.AWSConfig(ctx)
	if err != nil {
		return err
	}
	sink := awssdk.NewEMF(os.Stdout, c.Namespace, clock.System{})
	deps, err := LifecycleDeps(awsCfg, c, s, 0, nil, sink, log)
	if err != nil {
		return fmt.Errorf("wiring the adapters: %w", err)
	}
	h, err := build(deps)
	if err != nil {
		return fmt.Errorf("building the handler: %w", err)
	}
	lambda.Start(Lambda{Handle: h, Metrics: sink, Log: log})
	return nil
}

// LifecycleDeps builds, from one AWS config (clients built once, here, at
// init), the Deps of the launch, terminate and reconciler handlers: the EC2
// fleet, the DynamoDB records, the Auto Scaling groups, the embedded
// catalog and the shadow Manager. agents may be nil.
func LifecycleDeps(awsCfg aws.Config, c lambdaenv.Common, s lambdaenv.Shadows, agentPort int, agents shadow.Agents, sink metrics.Sink, log *slog.Logger) (Deps, error) {
	sys := clock.System{}
	ec2c := ec2.NewFromConfig(awsCfg)
	fleet, err := awssdk.NewFleet(ec2c, awssdk.FleetConfig{Stack: c.Stack, LaunchTemplates: s.LaunchTemplates}, sink, log)
	if err != nil {
		return Deps{}, err
	}
	table, err := awssdk.NewTable(dynamodb.NewFromConfig(awsCfg), c.Table, sys, awssdk.TableOptions{})
	if err != nil {
		return Deps{}, err
	}
	asc := autoscaling.NewFromConfig(awsCfg)
	groups, err := awssdk.NewGroups(asc, ec2c, awssdk.GroupsConfig{Names: c.Groups}, sink, log)
	if err != nil {
		return Deps{}, err
	}
	lifecycle, err := awssdk.NewLifecycleActions(asc)
	if err != nil {
		return Deps{}, err
	}
	cat, err := catalog.Default()
	if err != nil {
		return Deps{}, fmt.Errorf("loading the instance type catalog: %w", err)
	}
	if agentPort == 0 {
		agentPort = shadow.DefaultAgentPort
	}
	mgr, err := shadow.NewManager(
		shadow.Config{Stack: c.Stack, Pools: s.Pools, Fractions: s.Fractions, LaunchTimeout: LaunchTimeout, AgentPort: agentPort, ReplacementsPerHour: s.ReplacementsPerHour},
		shadow.Deps{Fleet: fleet, Records: table.Records(), Agents: agents, Catalog: cat, Clock: sys, Metrics: sink, Log: log},
	)
	if err != nil {
		return Deps{}, err
	}
	return Deps{Registry: DefaultRegistry(), Manager: mgr, Fleet: fleet, Records: table.Records(), Groups: groups, Clock: sys, Metrics: sink, Log: log,
		Lifecycle: lifecycle, LaunchHook: s.LaunchHook, Legacy: table.Records()}, nil
}
