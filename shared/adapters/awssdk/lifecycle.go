package awssdk

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// LifecycleAPI is the part of *autoscaling.Client LifecycleActions uses.
type LifecycleAPI interface {
	CompleteLifecycleAction(ctx context.Context, params *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
}

var _ LifecycleAPI = (*autoscaling.Client)(nil)

// LifecycleContinue is the only result LifecycleActions ever sends:
// ABANDON would terminate the operator's instance.
const LifecycleContinue = "CONTINUE"

// LifecycleActions completes launch lifecycle actions with CONTINUE (the
// launch handler's port). moto (5.2) does not serve
// CompleteLifecycleAction: the request is proven by a unit test on its
// exact form (TestLifecycleActionsContinue), the grant by the stack's
// template assertions. The stack allows CompleteLifecycleAction only on
// groups tagged shadowscale:enrolled=true: elsewhere AWS denies it, which
// is reported as shadow.ErrNotOwned, and the hook's timeout continues the
// instance.
type LifecycleActions struct{ api LifecycleAPI }

// NewLifecycleActions returns the adapter.
func NewLifecycleActions(api LifecycleAPI) (*LifecycleActions, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: lifecycle actions: no Auto Scaling client", shadow.ErrInvalid)
	}
	return &LifecycleActions{api: api}, nil
}

// Continue completes the instance's lifecycle action of hook with CONTINUE.
func (l *LifecycleActions) Continue(ctx context.Context, group, hook, instanceID, token string) error {
	_, err := l.api.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(group),
		LifecycleHookName:     aws.String(hook),
		InstanceId:            aws.String(instanceID),
		LifecycleActionToken:  aws.String(token),
		LifecycleActionResult: aws.String(LifecycleContinue),
	})
	if err == nil {
		return nil
	}
	switch ErrorCode(err) {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation":
		return fmt.Errorf("completing the lifecycle action of %s in %s: %w: %w", instanceID, group, shadow.ErrNotOwned, err)
	}
	// "No active Lifecycle Action found" (completed, timed out) is a
	// ValidationError: shadow.ErrInvalid; throttling: ErrThrottled.
	return fmt.Errorf("completing the lifecycle action of %s in %s: %w", instanceID, group, Classify(err))
}
