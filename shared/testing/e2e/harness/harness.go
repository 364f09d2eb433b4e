//go:build e2e

// Package harness is the end-to-end test harness: it starts moto server (or
// uses AWS_ENDPOINT_URL), builds SDK clients pointed at it, sets up the AWS
// world the plane expects (VPC, subnets in two AZs with a shadow pool subnet
// in each, launch templates, an enrolled Auto Scaling group, the table, the
// stream, the queue, the agent secret), builds events exactly as AWS would
// send them, and runs the real bootstrap binaries under the Lambda Runtime
// Interface Emulator.
//
// # Namespacing: the rule every e2e test follows
//
// The server is shared: `make e2e` runs every e2e package at once against
// one moto server, and a developer points the suite at a server of their
// own, or LocalStack, with AWS_ENDPOINT_URL. No test may depend on the
// server being empty or on what another test leaves or removes:
//
//   - Get a world with env.NewWorld(t, opt): Setup, and a best-effort
//     Teardown at the test's cleanup. Every name in it carries the world's
//     ID (w.ID): the stack, the group, the table, the stream, the queue, the
//     secret, the launch templates. Name anything else the test creates with
//     w.Name("what").
//   - Look things up by the world's own ids and tags, never "everything":
//     the group (w.Group), the shadows by their stack tag (env.Shadows(ctx,
//     w.Stack)), the world's instances by its VPC (env.WorldInstances), the
//     records in the world's table. No unfiltered DescribeInstances, no
//     listing of every group or queue.
//   - The plane itself lists every enrolled group of the account (the
//     reconciler, the forecaster). Build handlers in process on
//     w.Scoped.Cfg, and give functions w.FunctionEnv(env): both reach the
//     server through the world's scope, which narrows that listing to the
//     world's groups (w.ScopeGroups adds more). env.Cfg is for the test's
//     own checks.
//   - Never call env.Reset: it would wipe the worlds of every test running
//     (on a server given by AWS_ENDPOINT_URL it refuses: ErrSharedServer).
//   - Keep each test's cleanup best-effort: log what it could not remove,
//     never fail on it.
//
// It is behind the e2e build tag so plain `go test ./...` stays fast.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/moto"
)

// Region of every test.
const Region = "us-east-1"

// Env is a running emulator and clients pointed at it.
type Env struct {
	Server *moto.Server
	// Endpoint is where the clients and the functions send their calls:
	// the server, or a proxy in front of it (Through).
	Endpoint string
	Cfg      aws.Config
	EC2      *ec2.Client
	ASG      *autoscaling.Client
	DDB      *dynamodb.Client
	Kinesis  *kinesis.Client
	SQS      *sqs.Client
	CW       *cloudwatch.Client
	Secrets  *secretsmanager.Client
	CFN      *cloudformation.Client
}

// Start starts moto server on a free port (or uses AWS_ENDPOINT_URL) and
// builds the clients. log receives moto's output (nil: discarded).
func Start(ctx context.Context, log io.Writer) (*Env, error) {
	return StartWith(ctx, moto.Options{Log: log})
}

// StartWith is Start with the server's options.
func StartWith(ctx context.Context, opt moto.Options) (*Env, error) {
	srv, err := moto.Start(ctx, opt)
	if err != nil {
		return nil, err
	}
	e, err := clients(ctx, srv, srv.URL)
	if err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return e, nil
}

// Through returns an Env on the same server whose clients, and the
// functions it configures, call endpoint instead: e.g. a fault-injecting
// proxy (shared/testing/faultproxy) in front of the server. opts are added to the
// SDK configuration (e.g. config.WithAPIOptions with a Calls counter).
func (e *Env) Through(ctx context.Context, endpoint string, opts ...func(*config.LoadOptions) error) (*Env, error) {
	return clients(ctx, e.Server, endpoint, opts...)
}

func clients(ctx context.Context, srv *moto.Server, endpoint string, opts ...func(*config.LoadOptions) error) (*Env, error) {
	cfg, err := Config(ctx, endpoint, opts...)
	if err != nil {
		return nil, err
	}
	return &Env{
		Server:   srv,
		Endpoint: endpoint,
		Cfg:      cfg,
		EC2:      ec2.NewFromConfig(cfg),
		ASG:      autoscaling.NewFromConfig(cfg),
		DDB:      dynamodb.NewFromConfig(cfg),
		Kinesis:  kinesis.NewFromConfig(cfg),
		SQS:      sqs.NewFromConfig(cfg),
		CW:       lambdaenv.CloudWatch(cfg),
		Secrets:  secretsmanager.NewFromConfig(cfg),
		CFN:      cloudformation.NewFromConfig(cfg),
	}, nil
}

// Config is the SDK configuration the functions would load, pointed at
// endpoint with static test credentials, plus opts.
func Config(ctx context.Context, endpoint string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	return lambdaenv.AWSConfig(ctx, append([]func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(endpoint),
		// Ignore a developer's ~/.aws files: tests must not depend on them.
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	}, opts...)...)
}

// ErrSharedServer: Reset on a server this process did not start.
var ErrSharedServer = errors.New("refusing to reset a server this process did not start (AWS_ENDPOINT_URL): other tests' worlds live there; use env.NewWorld (see the harness package doc)")

// Reset clears the emulator's state (a no-op where it has no reset API).
// Never call it from a test: the server is shared (see the package doc);
// it is for a program that owns its server outright. On a server given by
// AWS_ENDPOINT_URL (make e2e gives every package one) it refuses, with
// ErrSharedServer, rather than wipe other tests' worlds under them.
func (e *Env) Reset(ctx context.Context) error {
	if e.Server.External {
		return ErrSharedServer
	}
	err := e.Server.Reset(ctx)
	if err == moto.ErrNoReset {
		return nil
	}
	return err
}

// Stop stops a moto server the Env started.
func (e *Env) Stop() error { return e.Server.Stop() }

// FunctionEnv is the base environment of a function process pointed at the
// emulator (the world adds the SHADOWSCALE_ variables).
func (e *Env) FunctionEnv() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":      e.Endpoint,
		"AWS_REGION":            Region,
		"AWS_DEFAULT_REGION":    Region,
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		// Keep a developer's ~/.aws out of the functions' configuration.
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

// Eventually polls cond every 50 ms until it returns true or timeout
// passes; it returns cond's last error or a timeout error.
func Eventually(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last == nil {
				last = fmt.Errorf("condition not met within %s", timeout)
			}
			return last
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
