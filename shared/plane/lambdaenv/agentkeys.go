package lambdaenv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// AgentClient reads the agents' master key from Secrets Manager (once, at
// a function's init) and returns the agent client: it signs each request
// with the target instance's key derived from the master, pins each
// agent's certificate, and, with a KMS key configured, enrolls an agent
// that does not hold its key yet (docs/AGENT.md).
func AgentClient(ctx context.Context, cfg aws.Config, a Agent) (*agent.Client, error) {
	raw, err := awssdk.ReadSecret(ctx, secretsmanager.NewFromConfig(cfg), a.SecretARN)
	if err != nil {
		return nil, fmt.Errorf("reading the agent master key: %w", err)
	}
	master, err := agent.KeyFromSecret(raw)
	if err != nil {
		return nil, fmt.Errorf("reading the agent master key: %w", err)
	}
	opts := agent.ClientOptions{}
	if a.KMSKey != "" {
		sealer, err := NewKMSSealer(kms.NewFromConfig(cfg), a.KMSKey)
		if err != nil {
			return nil, err
		}
		opts.Sealer = sealer
	}
	client, err := agent.NewClient(master, clock.System{}, opts)
	if err != nil {
		return nil, fmt.Errorf("building the agent client: %w", err)
	}
	return client, nil
}

// KMSEncrypter is the part of *kms.Client the sealer uses.
type KMSEncrypter interface {
	Encrypt(ctx context.Context, params *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
}

var _ KMSEncrypter = (*kms.Client)(nil)

// KMSSealer seals an instance's enrollment with the KMS key under the
// encryption context {agent.EnrollContextKey: <the instance's ARN>}: only
// that instance's role may decrypt it (IAM: kms:EncryptionContext bound
// to ${ec2:SourceInstanceARN}).
type KMSSealer struct {
	api    KMSEncrypter
	key    string
	prefix string // arn:<partition>:ec2:<region>:<account>:instance/
}

var _ agent.Sealer = (*KMSSealer)(nil)

// NewKMSSealer returns the sealer of the KMS key keyARN; the instances'
// ARNs take its partition, region and account (the stack's).
func NewKMSSealer(api KMSEncrypter, keyARN string) (*KMSSealer, error) {
	if api == nil {
		return nil, errors.New("the KMS sealer needs a client")
	}
	prefix, err := InstanceARNPrefix(keyARN)
	if err != nil {
		return nil, err
	}
	return &KMSSealer{api: api, key: keyARN, prefix: prefix}, nil
}

// InstanceARNPrefix returns "arn:<partition>:ec2:<region>:<account>:instance/"
// from a KMS key ARN of that partition, region and account.
func InstanceARNPrefix(keyARN string) (string, error) {
	p := strings.SplitN(keyARN, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "kms" || p[1] == "" || p[3] == "" || p[4] == "" {
		return "", fmt.Errorf("%q is not a KMS key ARN", keyARN)
	}
	return fmt.Sprintf("arn:%s:ec2:%s:%s:instance/", p[1], p[3], p[4]), nil
}

// InstanceARN is the ARN the sealer binds an instance's enrollment to.
func (s *KMSSealer) InstanceARN(instanceID string) string { return s.prefix + instanceID }

// Seal encrypts the enrollment for the instance.
func (s *KMSSealer) Seal(ctx context.Context, instanceID string, plaintext []byte) ([]byte, error) {
	out, err := s.api.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             aws.String(s.key),
		Plaintext:         plaintext,
		EncryptionContext: map[string]string{agent.EnrollContextKey: s.InstanceARN(instanceID)},
	})
	if err != nil {
		return nil, fmt.Errorf("sealing with KMS key %s: %w", s.key, awssdk.Classify(err))
	}
	return out.CiphertextBlob, nil
}
