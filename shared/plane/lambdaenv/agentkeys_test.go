package lambdaenv_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

// fakeKMS records the Encrypt request.
type fakeKMS struct {
	in  *kms.EncryptInput
	err error
}

func (f *fakeKMS) Encrypt(_ context.Context, in *kms.EncryptInput, _ ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	f.in = in
	if f.err != nil {
		return nil, f.err
	}
	return &kms.EncryptOutput{CiphertextBlob: []byte("sealed")}, nil
}

// The exact request: the key given, the plaintext untouched, and the
// encryption context naming the instance's ARN in the stack's partition,
// region and account (what the instance roles' kms:Decrypt condition
// compares with ${ec2:SourceInstanceARN}).
func TestKMSSealerRequest(t *testing.T) {
	cases := []struct {
		key, instance, arn string
	}{
		{"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "i-0abc", "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"},
		{"arn:aws-cn:kms:cn-north-1:123456789012:key/k", "i-0def", "arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-0def"},
		{"arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/shadowscale", "i-1", "arn:aws-us-gov:ec2:us-gov-west-1:123456789012:instance/i-1"},
	}
	for _, c := range cases {
		t.Run(c.arn, func(t *testing.T) {
			f := &fakeKMS{}
			s, err := lambdaenv.NewKMSSealer(f, c.key)
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Seal(t.Context(), c.instance, []byte("plain"))
			if err != nil || string(out) != "sealed" {
				t.Fatalf("seal: %q %v", out, err)
			}
			if aws.ToString(f.in.KeyId) != c.key || string(f.in.Plaintext) != "plain" || len(f.in.EncryptionContext) != 1 ||
				f.in.EncryptionContext[agent.EnrollContextKey] != c.arn {
				t.Fatalf("request: key %s, context %v", aws.ToString(f.in.KeyId), f.in.EncryptionContext)
			}
		})
	}
	if _, err := lambdaenv.NewKMSSealer(&fakeKMS{}, "alias/shadowscale"); err == nil {
		t.Error("a sealer from an alias name (no account, no region)")
	}
	f := &fakeKMS{err: errors.New("AccessDeniedException")}
	s, _ := lambdaenv.NewKMSSealer(f, cases[0].key)
	if _, err := s.Seal(t.Context(), "i-0abc", []byte("plain")); err == nil || !strings.Contains(err.Error(), "sealing with KMS key") {
		t.Errorf("a KMS failure: %v", err)
	}
}

func TestAgentKMSKeyVariable(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	f, err := lambdaenv.LoadFanout(lambdaenv.Map(with(good(), lambdaenv.EnvAgentKMSKey, key)))
	if err != nil || f.Agent.KMSKey != key {
		t.Fatalf("fanout: %+v %v", f.Agent, err)
	}
	r, err := lambdaenv.LoadReconciler(lambdaenv.Map(good()))
	if err != nil || r.Agent.KMSKey != "" {
		t.Fatalf("reconciler without the variable: %+v %v", r.Agent, err)
	}
	for _, bad := range []string{"alias/shadowscale", "1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:secretsmanager:us-east-1:123456789012:secret:k"} {
		_, err := lambdaenv.LoadReconciler(lambdaenv.Map(with(good(), lambdaenv.EnvAgentKMSKey, bad)))
		if err == nil || !strings.Contains(err.Error(), lambdaenv.EnvAgentKMSKey) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
