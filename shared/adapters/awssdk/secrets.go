package awssdk

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// SecretsAPI is the part of *secretsmanager.Client the plane uses.
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretsAPI = (*secretsmanager.Client)(nil)

// ReadSecret returns the current value of a secret (ARN or name): its
// SecretString as bytes, or its SecretBinary. Functions that talk to agents
// read the agent key once, at init (SHADOWSCALE_AGENT_SECRET_ARN). The value
// never appears in an error or a log line.
func ReadSecret(ctx context.Context, api SecretsAPI, id string) ([]byte, error) {
	if api == nil || id == "" {
		return nil, fmt.Errorf("%w: reading a secret needs a client and a secret id", shadow.ErrInvalid)
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", id, Classify(err))
	}
	switch {
	case out.SecretString != nil && *out.SecretString != "":
		return []byte(aws.ToString(out.SecretString)), nil
	case len(out.SecretBinary) > 0:
		return out.SecretBinary, nil
	}
	return nil, fmt.Errorf("secret %s has no value: %w", id, shadow.ErrNotFound)
}
