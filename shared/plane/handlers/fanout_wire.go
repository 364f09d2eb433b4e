package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// ApplyTimeout bounds one batch delivery to one agent (the agent client
// sets no timeout of its own).
const ApplyTimeout = 5 * time.Second

// TimeoutApplier bounds every Apply of an Applier.
type TimeoutApplier struct {
	Applier mutation.Applier
	Timeout time.Duration
}

var _ mutation.Applier = TimeoutApplier{}

// Apply implements mutation.Applier.
func (a TimeoutApplier) Apply(ctx context.Context, to mutation.Endpoint, resource string, batch []mutation.Mutation) (mutation.Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	return a.Applier.Apply(ctx, to, resource, batch)
}

// NewFanoutDeps builds, from one AWS config (clients built once, here, at
// init), the fanout handler's dependencies: the Resolver (DynamoDB shadow
// records, EC2, Auto Scaling), a Router delivering through applier (the
// agent client) with ApplyTimeout per call, a ShadowBreaker and a
// LiveBreaker, the
// history, and the dead-letter queue.
func NewFanoutDeps(awsCfg aws.Config, cfg lambdaenv.Fanout, applier mutation.Applier, sink metrics.Sink, log *slog.Logger) (FanoutDeps, error) {
	sys := clock.System{}
	ec2c := ec2.NewFromConfig(awsCfg)
	fleet, err := awssdk.NewInstances(ec2c)
	if err != nil {
		return FanoutDeps{}, err
	}
	table, err := awssdk.NewTable(dynamodb.NewFromConfig(awsCfg), cfg.Table, sys, awssdk.TableOptions{})
	if err != nil {
		return FanoutDeps{}, err
	}
	groups, err := awssdk.NewGroups(autoscaling.NewFromConfig(awsCfg), nil, awssdk.GroupsConfig{Names: cfg.Groups}, sink, log)
	if err != nil {
		return FanoutDeps{}, err
	}
	dlqOpt := awssdk.DeadLetterOptions{}
	if cfg.DLQBucket != "" {
		// Path-style addressing behind an endpoint override (moto, LocalStack).
		pathStyle := awsCfg.BaseEndpoint != nil
		dlqOpt.S3, dlqOpt.Bucket = s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), cfg.DLQBucket
	}
	dlq, err := awssdk.NewDeadLetters(sqs.NewFromConfig(awsCfg), cfg.DLQURL, dlqOpt)
	if err != nil {
		return FanoutDeps{}, err
	}
	breaker := NewShadowBreaker(sys, sink, log)
	res, err := NewResolver(fleet, table.Records(), groups, sys, ResolverConfig{AgentPort: cfg.Agent.Port, Addresses: cfg.AgentAddresses, Breaker: breaker, UnknownGrace: cfg.UnknownGrace, TTL: cfg.RouteTTL})
	if err != nil {
		return FanoutDeps{}, err
	}
	if len(cfg.AgentAddresses) > 0 {
		log.Warn("agent addresses overridden (SHADOWSCALE_AGENT_ADDRESSES): for tests and local runs only", "instances", len(cfg.AgentAddresses))
	}
	live := NewLiveBreaker(sys, sink, log)
	router := mutation.NewRouter(res, BreakerApplier{Applier: TimeoutApplier{Applier: applier, Timeout: ApplyTimeout}, Breaker: breaker, Live: live}, sys)
	return FanoutDeps{Router: router, Routes: res, History: table.History(), DeadLetters: dlq, Clock: sys, Metrics: sink, Log: log}, nil
}
