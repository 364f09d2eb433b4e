package awssdk

import (
	"context"
	"fmt"
	"strings"

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

// LaunchHookAPI is the part of *autoscaling.Client the launch hook's
// functions use (EnsureLaunchHook, FindLifecycleHook, DeleteLifecycleHook).
type LaunchHookAPI interface {
	DescribeLifecycleHooks(ctx context.Context, params *autoscaling.DescribeLifecycleHooksInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeLifecycleHooksOutput, error)
	PutLifecycleHook(ctx context.Context, params *autoscaling.PutLifecycleHookInput, optFns ...func(*autoscaling.Options)) (*autoscaling.PutLifecycleHookOutput, error)
	DeleteLifecycleHook(ctx context.Context, params *autoscaling.DeleteLifecycleHookInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DeleteLifecycleHookOutput, error)
}

var _ LaunchHookAPI = (*autoscaling.Client)(nil)

// The launch lifecycle hook EnsureLaunchHook puts (docs/INFRA.md, "Launch
// lifecycle hook"): on launches, an instance waits for its shadow at most
// LaunchHookHeartbeatSeconds, and when the plane does not answer the
// launch goes on (CONTINUE): a plane that is down delays launches, never
// fails them.
const (
	LaunchTransition           = "autoscaling:EC2_INSTANCE_LAUNCHING"
	LaunchHookHeartbeatSeconds = 120
)

// LaunchHook is a group's lifecycle hook of the plane's hook name.
type LaunchHook struct {
	Name             string `json:"name"`
	Transition       string `json:"transition"`
	DefaultResult    string `json:"default_result"`
	HeartbeatSeconds int32  `json:"heartbeat_timeout_s"`
	// Put: EnsureLaunchHook put it (there was none of that name).
	Put bool `json:"put"`
}

// Problem says why h does not serve the plane, or "" when it does: a
// transition other than launching (the plane's rule takes launch actions
// only, so the hook's instances would wait their timeout for nothing), or
// a default result of ABANDON (a plane that does not answer would then
// terminate every instance the group launches).
func (h LaunchHook) Problem() string {
	var p []string
	if h.Transition != LaunchTransition {
		p = append(p, fmt.Sprintf("its transition is %q, not %s: the plane completes launch actions only, so its instances wait out the timeout", h.Transition, LaunchTransition))
	}
	if h.DefaultResult != LifecycleContinue {
		p = append(p, fmt.Sprintf("its default result is %q, not %s: when the plane does not answer within %d s the launch is abandoned (the instance terminated)", h.DefaultResult, LifecycleContinue, h.HeartbeatSeconds))
	}
	if len(p) == 0 {
		return ""
	}
	return fmt.Sprintf("the lifecycle hook %s of this group is not the plane's kind: %s; it was left as it is (change or delete it yourself)", h.Name, strings.Join(p, "; "))
}

// EnsureLaunchHook puts the plane's launch lifecycle hook, name, on group
// (LaunchTransition, LaunchHookHeartbeatSeconds, default CONTINUE) unless
// the group has a hook of that name already, which it never changes: it
// is returned as found (Problem says when it does not serve the plane).
func EnsureLaunchHook(ctx context.Context, api LaunchHookAPI, group, name string) (LaunchHook, error) {
	if group == "" || name == "" || len(name) > 255 {
		return LaunchHook{}, fmt.Errorf("%w: a launch lifecycle hook needs a group and a name of 1 to 255 characters", shadow.ErrInvalid)
	}
	if h, found, err := FindLifecycleHook(ctx, api, group, name); err != nil || found {
		return h, err
	}
	h := LaunchHook{Name: name, Transition: LaunchTransition, DefaultResult: LifecycleContinue, HeartbeatSeconds: LaunchHookHeartbeatSeconds, Put: true}
	if _, err := api.PutLifecycleHook(ctx, &autoscaling.PutLifecycleHookInput{
		AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String(name),
		LifecycleTransition: aws.String(h.Transition), HeartbeatTimeout: aws.Int32(h.HeartbeatSeconds), DefaultResult: aws.String(h.DefaultResult),
	}); err != nil {
		return LaunchHook{}, fmt.Errorf("putting the launch lifecycle hook %s on %s: %w", name, group, Classify(err))
	}
	return h, nil
}

// FindLifecycleHook returns group's lifecycle hook of that name, and
// whether there is one.
func FindLifecycleHook(ctx context.Context, api LaunchHookAPI, group, name string) (LaunchHook, bool, error) {
	out, err := api.DescribeLifecycleHooks(ctx, &autoscaling.DescribeLifecycleHooksInput{AutoScalingGroupName: aws.String(group), LifecycleHookNames: []string{name}})
	if err != nil {
		return LaunchHook{}, false, fmt.Errorf("describing the lifecycle hooks of %s: %w", group, Classify(err))
	}
	for _, h := range out.LifecycleHooks {
		if aws.ToString(h.LifecycleHookName) == name {
			return LaunchHook{Name: name, Transition: aws.ToString(h.LifecycleTransition), DefaultResult: aws.ToString(h.DefaultResult), HeartbeatSeconds: aws.ToInt32(h.HeartbeatTimeout)}, true, nil
		}
	}
	return LaunchHook{}, false, nil
}

// DeleteLifecycleHook deletes group's lifecycle hook name. AWS completes
// the actions still waiting on a hook it deletes, a launching instance's
// with ABANDON, which terminates it: the caller makes sure none waits
// (no member of the group in Pending:Wait) just before.
func DeleteLifecycleHook(ctx context.Context, api LaunchHookAPI, group, name string) error {
	if _, err := api.DeleteLifecycleHook(ctx, &autoscaling.DeleteLifecycleHookInput{AutoScalingGroupName: aws.String(group), LifecycleHookName: aws.String(name)}); err != nil {
		return fmt.Errorf("deleting the lifecycle hook %s of %s: %w", name, group, Classify(err))
	}
	return nil
}
