package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/shadowscale/shadowscale/shared/agent"
)

// enrollmentFile is where an enrolled agent keeps its key, in its data dir.
const enrollmentFile = "enrollment.json"

// identities returns what the agent answers for: the key file's
// identities, or (--kms-key) enrollment for this instance, with the
// enrollment it saved before if any. No key is ever logged.
func identities(ctx context.Context, c config, log *slog.Logger) ([]agent.Identity, *agent.EnrollConfig, error) {
	if c.keyFile != "" {
		b, err := os.ReadFile(c.keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the key file: %w", err)
		}
		ids, err := agent.ParseKeyFile(b)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the key file %s: %w", c.keyFile, err)
		}
		return ids, nil, nil
	}
	cfg, err := awsConfig(ctx, c.kmsKey)
	if err != nil {
		return nil, nil, err
	}
	id, arn := c.instanceID, c.instanceARN
	if arn == "" {
		if id, arn, err = instanceFromIMDS(ctx, cfg); err != nil {
			return nil, nil, err
		}
		if c.instanceID != "" && c.instanceID != id {
			return nil, nil, fmt.Errorf("--instance-id %s, but the instance metadata says %s", c.instanceID, id)
		}
	}
	path := filepath.Join(c.dataDir, enrollmentFile)
	current, err := loadEnrollment(path, id)
	if err != nil {
		// The plane enrolls the agent again: a lost key costs one KMS call.
		log.Warn("saved enrollment ignored", "path", path, "err", err)
		current = nil
	}
	return nil, &agent.EnrollConfig{
		InstanceID: id,
		Unsealer:   kmsUnsealer{api: kms.NewFromConfig(cfg), key: c.kmsKey, instanceARN: arn},
		Current:    current,
		Save:       func(en agent.Enrollment) error { return saveEnrollment(path, en) },
	}, nil
}

// awsConfig loads the default credential chain (the instance role on EC2),
// honouring AWS_ENDPOINT_URL; the region is AWS_REGION's, else the KMS
// key's.
func awsConfig(ctx context.Context, kmsKey string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		if r := arnRegion(kmsKey); r != "" {
			opts = append(opts, awsconfig.WithRegion(r))
		}
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return cfg, nil
}

// arnRegion returns the region of an ARN, or "".
func arnRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		return parts[3]
	}
	return ""
}

// instanceFromIMDS reads this instance's id and ARN from the instance
// metadata (IMDSv2): the identity document's instance, region and account,
// and the partition.
func instanceFromIMDS(ctx context.Context, cfg aws.Config) (id, arn string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := imds.NewFromConfig(cfg)
	doc, err := c.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if err != nil {
		return "", "", fmt.Errorf("reading the instance identity from the instance metadata (or give --instance-arn): %w", err)
	}
	out, err := c.GetMetadata(ctx, &imds.GetMetadataInput{Path: "services/partition"})
	if err != nil {
		return "", "", fmt.Errorf("reading the partition from the instance metadata: %w", err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(io.LimitReader(out.Content, 64))
	if err != nil {
		return "", "", fmt.Errorf("reading the partition from the instance metadata: %w", err)
	}
	partition := strings.TrimSpace(string(b))
	arn = fmt.Sprintf("arn:%s:ec2:%s:%s:instance/%s", partition, doc.Region, doc.AccountID, doc.InstanceID)
	if _, ok := instanceOfARN(arn); !ok {
		return "", "", fmt.Errorf("the instance metadata gives the ARN %q, not an instance's", arn)
	}
	return doc.InstanceID, arn, nil
}

// kmsDecrypter is the part of *kms.Client the agent uses.
type kmsDecrypter interface {
	Decrypt(ctx context.Context, params *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ kmsDecrypter = (*kms.Client)(nil)

// kmsUnsealer opens an enrollment sealed for this instance: KMS Decrypt
// with the plane's key under the encryption context naming this
// instance's ARN (the only context its role may decrypt under).
type kmsUnsealer struct {
	api         kmsDecrypter
	key         string
	instanceARN string
}

func (u kmsUnsealer) Unseal(ctx context.Context, sealed []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := u.api.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    sealed,
		KeyId:             aws.String(u.key),
		EncryptionContext: map[string]string{agent.EnrollContextKey: u.instanceARN},
	})
	if err != nil {
		return nil, fmt.Errorf("KMS Decrypt: %w", err)
	}
	return out.Plaintext, nil
}

// loadEnrollment reads the saved enrollment; nil when there is none.
func loadEnrollment(path, instance string) (*agent.Enrollment, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	var en agent.Enrollment
	if err := json.Unmarshal(b, &en); err != nil {
		return nil, errors.New("not an enrollment")
	}
	if err := en.Check(); err != nil {
		return nil, err
	}
	if en.Instance != instance {
		return nil, fmt.Errorf("it is %s's, this is %s (a data dir moved between instances)", en.Instance, instance)
	}
	return &en, nil
}

// saveEnrollment writes the enrollment (0600) and syncs it, replacing the
// previous one atomically.
func saveEnrollment(path string, en agent.Enrollment) error {
	b, err := json.Marshal(en)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
