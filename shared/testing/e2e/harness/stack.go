//go:build e2e

package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// DeployStack creates a CloudFormation stack named w.Stack standing in
// for a deployed plane: the outputs infra/shadowscaling/stack.go declares
// (those the world has: TableName, StreamName, DeadLetterQueueUrl,
// AgentSecretName, ShadowLaunchTemplateId, VpcId, ForecasterFunctionName)
// pointing at the world's resources, and a forecaster function (its role
// too) with functionEnv as its environment, and the further outputs
// extra (e.g. LaunchLifecycleHookName). Its code is a placeholder:
// nothing invokes it; what matters is what a reader of the stack finds.
// Teardown deletes the stack. It returns the stack's outputs.
func (e *Env) DeployStack(ctx context.Context, w *World, functionEnv, extra map[string]string) (map[string]string, error) {
	if functionEnv == nil {
		functionEnv = map[string]string{}
	}
	outputs := map[string]any{
		"TableName":              map[string]any{"Value": w.Table},
		"StreamName":             map[string]any{"Value": w.Stream},
		"DeadLetterQueueUrl":     map[string]any{"Value": w.QueueURL},
		"AgentSecretName":        map[string]any{"Value": w.SecretARN},
		"ShadowLaunchTemplateId": map[string]any{"Value": w.ShadowTemplate},
		"VpcId":                  map[string]any{"Value": w.VPC},
		"ForecasterFunctionName": map[string]any{"Value": map[string]any{"Ref": "Forecaster"}},
	}
	for k, v := range extra {
		outputs[k] = map[string]any{"Value": v}
	}
	tpl := map[string]any{
		"Resources": map[string]any{
			"ForecasterRole": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
				"AssumeRolePolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
					"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
				}}},
			}},
			"Forecaster": map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{
				"Runtime": "provided.al2023", "Handler": "bootstrap", "Architectures": []string{"arm64"},
				"Role":        map[string]any{"Fn::GetAtt": []string{"ForecasterRole", "Arn"}},
				"Code":        map[string]any{"ZipFile": "stand-in: the e2e suite never invokes it"},
				"Environment": map[string]any{"Variables": functionEnv},
			}},
		},
		"Outputs": outputs,
	}
	body, err := json.Marshal(tpl)
	if err != nil {
		return nil, err
	}
	if _, err := e.CFN.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(w.Stack), TemplateBody: aws.String(string(body)),
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
	}); err != nil {
		return nil, fmt.Errorf("creating stack %s: %w", w.Stack, err)
	}
	w.CFNStack = w.Stack
	outs := map[string]string{}
	err = Eventually(ctx, time.Minute, func() (bool, error) {
		out, err := e.CFN.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(w.Stack)})
		if err != nil {
			return false, err
		}
		if len(out.Stacks) != 1 {
			return false, fmt.Errorf("stack %s: %d stacks described", w.Stack, len(out.Stacks))
		}
		s := out.Stacks[0]
		switch s.StackStatus {
		case cfntypes.StackStatusCreateComplete:
			for _, o := range s.Outputs {
				outs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
			}
			return true, nil
		case cfntypes.StackStatusCreateInProgress:
			return false, fmt.Errorf("stack %s still %s", w.Stack, s.StackStatus)
		}
		return false, fmt.Errorf("stack %s is %s: %s", w.Stack, s.StackStatus, aws.ToString(s.StackStatusReason))
	})
	if err != nil {
		return nil, err
	}
	return outs, nil
}

// BuildCLI builds cmd/shadowscale (the operator CLI) for the host into dir
// and returns its path.
func BuildCLI(ctx context.Context, dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "shadowscale")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", p, "./cmd/shadowscale")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the shadowscale CLI: %w\n%s", err, b)
	}
	return p, nil
}

// CLIEnv is the environment of a CLI process pointed at endpoint with the
// test credentials: nothing of the developer's (no ~/.aws, no
// SHADOWSCALE_ variable) leaks in. extra adds to it.
func CLIEnv(endpoint string, extra map[string]string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
