package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
)

// Retry policy of every AWS client the functions build: the SDK's standard
// retryer (exponential backoff with jitter: 50 ms base for transient
// errors, 1 s for throttling) bounded to MaxAttempts attempts per call and
// MaxBackoff per wait, behind its client-side retry quota (a token bucket
// of 500: a retry costs 14 tokens, 5 after throttling, a success refunds),
// so a failing dependency gets at most a few retries per call and no retry
// storm across calls. Worst case for one call: about 1+2+4 s of waiting.
const (
	MaxAttempts = 4
	MaxBackoff  = 4 * time.Second
)

// NewRetryer returns the retryer described above.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
	})
}

// AWSConfig loads the SDK configuration from the environment (region,
// credentials, and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which the
// SDK honours itself) with the bounded retryer. Call it once, in main.
func AWSConfig(ctx context.Context, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts := append([]func(*config.LoadOptions) error{config.WithRetryer(NewRetryer)}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("loading AWS configuration: no region (set AWS_REGION)")
	}
	return cfg, nil
}

// CloudWatch builds the CloudWatch client on the AWS JSON 1.0 protocol
// (awssdk.CloudWatchJSON: moto does not serve the SDK's default CBOR).
func CloudWatch(cfg aws.Config, optFns ...func(*cloudwatch.Options)) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, append([]func(*cloudwatch.Options){awssdk.CloudWatchJSON}, optFns...)...)
}
