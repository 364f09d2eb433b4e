package awssdk_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// terminateRecorder records the TerminateInstances batches. (The listing
// and the termination run against moto in the e2e suite's
// TestOperatorCLI/teardown.)
type terminateRecorder struct{ batches [][]string }

func (r *terminateRecorder) DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	return &ec2.DescribeInstancesOutput{}, nil
}

func (r *terminateRecorder) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	r.batches = append(r.batches, in.InstanceIds)
	return &ec2.TerminateInstancesOutput{}, nil
}

func TestTerminateStackShadows(t *testing.T) {
	shadowOf := func(id, stack string) shadow.Instance {
		return shadow.Instance{ID: id, Tags: map[string]string{shadow.TagRole: shadow.RoleShadow, shadow.TagStack: stack}}
	}
	var many []shadow.Instance
	for i := range 250 {
		many = append(many, shadowOf(fmt.Sprintf("i-%04d", i), "S"))
	}
	r := &terminateRecorder{}
	n, err := awssdk.TerminateStackShadows(context.Background(), r, "S", many)
	if err != nil || n != 250 || len(r.batches) != 3 || len(r.batches[0]) != 100 || len(r.batches[2]) != 50 {
		t.Fatalf("250 shadows: %d terminated, %v, batches of %d, %d, ...; want 100, 100, 50", n, err, len(r.batches[0]), len(r.batches))
	}
	for name, bad := range map[string]shadow.Instance{
		"another stack's shadow": shadowOf("i-x", "T"),
		"no role":                {ID: "i-y", Tags: map[string]string{shadow.TagStack: "S"}},
		"no tags":                {ID: "i-z"},
	} {
		t.Run(name, func(t *testing.T) {
			r := &terminateRecorder{}
			n, err := awssdk.TerminateStackShadows(context.Background(), r, "S", []shadow.Instance{shadowOf("i-ok", "S"), bad})
			if !errors.Is(err, shadow.ErrNotOwned) || n != 0 || len(r.batches) != 0 {
				t.Errorf("terminated %d in %d calls, err %v; want nothing terminated and ErrNotOwned", n, len(r.batches), err)
			}
		})
	}
}
