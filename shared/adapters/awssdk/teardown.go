package awssdk

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// TeardownAPI is the part of *ec2.Client the teardown uses.
type TeardownAPI interface {
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, params *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
}

var _ TeardownAPI = (*ec2.Client)(nil)

// terminateBatch is how many instances one TerminateInstances call names
// (EC2 takes up to 1,000 and recommends smaller batches).
const terminateBatch = 100

// StackShadows lists the instances that carry a stack's shadow tags
// (shadowscale:role=shadow, shadowscale:stack=stack) in any state but
// shutting-down and terminated: what is left of the stack's shadow fleet.
func StackShadows(ctx context.Context, api TeardownAPI, stack string) ([]shadow.Instance, error) {
	if stack == "" {
		return nil, fmt.Errorf("%w: listing a stack's shadows: no stack", shadow.ErrInvalid)
	}
	out, err := listInstances(ctx, api, stackShadowFilters(stack, "pending", "running", "stopping", "stopped"))
	if err != nil {
		return nil, fmt.Errorf("listing the shadows of stack %s: %w", stack, err)
	}
	sortByID(out)
	return out, nil
}

// TerminateStackShadows terminates insts, each of which must carry the
// stack's shadow tags as listed (anything else is refused with
// shadow.ErrNotOwned before any call), terminateBatch at a time. It
// returns how many it asked EC2 to terminate before an error.
func TerminateStackShadows(ctx context.Context, api TeardownAPI, stack string, insts []shadow.Instance) (int, error) {
	ids := make([]string, 0, len(insts))
	for _, i := range insts {
		if !i.IsShadow(stack) {
			return 0, fmt.Errorf("%w: %s does not carry the shadow tags of stack %s (role %q, stack %q): nothing was terminated", shadow.ErrNotOwned, i.ID, stack, i.Tags[shadow.TagRole], i.Tags[shadow.TagStack])
		}
		ids = append(ids, i.ID)
	}
	done := 0
	for batch := range slices.Chunk(ids, terminateBatch) {
		if _, err := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: batch}); err != nil {
			return done, fmt.Errorf("terminating shadows of stack %s (%d of %d done): %w", stack, done, len(ids), Classify(err))
		}
		done += len(batch)
	}
	return done, nil
}
