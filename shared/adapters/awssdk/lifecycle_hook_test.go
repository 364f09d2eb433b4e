package awssdk_test

import (
	"strings"
	"testing"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
)

// TestLaunchHookProblem: a hook serves the plane when it is on launches
// and continues by default; anything else is named. (EnsureLaunchHook's
// requests run against moto in the e2e suite's TestOperatorCLI/enroll.)
func TestLaunchHookProblem(t *testing.T) {
	tests := []struct {
		name string
		hook awssdk.LaunchHook
		want []string // substrings of the problem; none: no problem
	}{
		{"the plane's", awssdk.LaunchHook{Name: "h", Transition: awssdk.LaunchTransition, DefaultResult: "CONTINUE", HeartbeatSeconds: 120}, nil},
		{"abandons", awssdk.LaunchHook{Name: "h", Transition: awssdk.LaunchTransition, DefaultResult: "ABANDON", HeartbeatSeconds: 300}, []string{`default result is "ABANDON"`, "300 s", "left as it is"}},
		{"on termination", awssdk.LaunchHook{Name: "h", Transition: "autoscaling:EC2_INSTANCE_TERMINATING", DefaultResult: "CONTINUE", HeartbeatSeconds: 60}, []string{`transition is "autoscaling:EC2_INSTANCE_TERMINATING"`, "wait out the timeout"}},
		{"both", awssdk.LaunchHook{Name: "h", Transition: "autoscaling:EC2_INSTANCE_TERMINATING", DefaultResult: "ABANDON"}, []string{"transition", "default result"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.hook.Problem()
			if (got == "") != (tc.want == nil) {
				t.Fatalf("problem %q, want one: %v", got, tc.want != nil)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problem %q lacks %q", got, w)
				}
			}
		})
	}
}
