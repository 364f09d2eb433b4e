package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shadowscale/shadowscale/shared/agent"
)

// loadKey reads the HMAC key from the file or the Secrets Manager secret.
// The key itself is never logged.
func loadKey(ctx context.Context, c config) ([]byte, error) {
	var raw []byte
	if c.secretFile != "" {
		b, err := os.ReadFile(c.secretFile)
		if err != nil {
			return nil, fmt.Errorf("reading secret file: %w", err)
		}
		raw = b
	} else {
		b, err := fetchSecret(ctx, c.secretARN)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	key, err := agent.KeyFromSecret(raw)
	if err != nil {
		return nil, fmt.Errorf("loading agent key: %w", err)
	}
	return key, nil
}

// fetchSecret reads a secret's value with the default credential chain
// (the instance role on EC2). AWS_ENDPOINT_URL is honoured. The region is
// AWS_REGION's, else the ARN's, else the instance's (IMDS).
func fetchSecret(ctx context.Context, id string) ([]byte, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		if r := arnRegion(id); r != "" {
			opts = append(opts, awsconfig.WithRegion(r))
		} else {
			opts = append(opts, awsconfig.WithEC2IMDSRegion())
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("getting secret %s: %w", id, err)
	}
	if out.SecretString != nil {
		return []byte(*out.SecretString), nil
	}
	if len(out.SecretBinary) > 0 {
		return out.SecretBinary, nil
	}
	return nil, fmt.Errorf("secret %s has no value", id)
}

// arnRegion returns the region of a Secrets Manager ARN, or "".
func arnRegion(id string) string {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "secretsmanager" {
		return parts[3]
	}
	return ""
}
