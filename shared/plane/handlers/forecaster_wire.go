package handlers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// NewForecasterDeps builds, from one AWS config (clients built once, here,
// at init), the forecaster handler's dependencies: Auto Scaling (with EC2
// for the launch templates of a resize), the table's history, states and
// audit, CloudWatch for the groups' CPU utilization (on the JSON protocol,
// lambdaenv.CloudWatch), the instance catalog, and the control loop
// factory.
func NewForecasterDeps(awsCfg aws.Config, cfg lambdaenv.Forecaster, newLoop LoopFactory, sink metrics.Sink, log *slog.Logger) (ForecasterDeps, error) {
	sys := clock.System{}
	// Up to Concurrency groups at once, each querying its resource shards
	// in parallel: keep that many DynamoDB connections open between runs
	// (the SDK keeps 10 a host), rather than handshaking again every minute.
	conc := cfg.Concurrency
	if conc <= 0 {
		conc = DefaultForecasterConcurrency
	}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		bc, ok := o.HTTPClient.(*awshttp.BuildableClient)
		if o.HTTPClient == nil {
			bc, ok = awshttp.NewBuildableClient(), true
		}
		if ok { // the SDK's own client (an injected one is left as it is)
			o.HTTPClient = bc.WithTransportOptions(func(tr *http.Transport) {
				tr.MaxIdleConnsPerHost = min(conc*awssdk.ResourceShards, 256)
				tr.MaxIdleConns = max(tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
			})
		}
	})
	table, err := awssdk.NewTable(ddb, cfg.Table, sys, awssdk.TableOptions{})
	if err != nil {
		return ForecasterDeps{}, err
	}
	groups, err := awssdk.NewGroups(autoscaling.NewFromConfig(awsCfg), ec2.NewFromConfig(awsCfg), awssdk.GroupsConfig{Names: cfg.Groups, Clock: sys}, sink, log)
	if err != nil {
		return ForecasterDeps{}, err
	}
	cpu, err := awssdk.NewGroupCPU(lambdaenv.CloudWatch(awsCfg))
	if err != nil {
		return ForecasterDeps{}, err
	}
	cat, err := catalog.Default()
	if err != nil {
		return ForecasterDeps{}, fmt.Errorf("loading the instance catalog: %w", err)
	}
	return ForecasterDeps{
		Registry: DefaultRegistry(), Groups: groups, History: table.History(), States: table.States(), Audit: table.Audit(),
		NewLoop: newLoop, Utilization: cpu, Sizes: cat, Clock: sys, Metrics: sink, Log: log,
	}, nil
}

// ForecasterOptionsFrom returns the handler's options from its
// configuration: the mode, the concurrency and deadline reserve, and the
// policy's per-instance capacity (which decides whose CPU is read).
func ForecasterOptionsFrom(cfg lambdaenv.Forecaster) (ForecasterOptions, error) {
	per, err := PolicyPerInstance(cfg.Policy)
	if err != nil {
		return ForecasterOptions{}, err
	}
	return ForecasterOptions{Mode: cfg.Mode, Concurrency: cfg.Concurrency, Reserve: cfg.Reserve, PerInstance: per}, nil
}
