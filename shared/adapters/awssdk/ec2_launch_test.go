package awssdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// runStub records the RunInstances request: moto launches any AMI on any
// type and ignores credit specifications, so the request itself is what
// proves the launch right.
type runStub struct {
	awssdk.EC2API
	got *ec2.RunInstancesInput
}

func (s *runStub) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	s.got = in
	return &ec2.RunInstancesOutput{Instances: []ec2types.Instance{{InstanceId: aws.String("i-0new"), InstanceType: in.InstanceType, SubnetId: in.SubnetId}}}, nil
}

func TestFleetLaunchRequestByArchitecture(t *testing.T) {
	templates := map[string]string{"arm64": "lt-arm", "x86_64": "lt-x86"}
	for _, tc := range []struct {
		name, itype, arch string
		burstable         bool
		wantTemplate      string
		wantCredits       string // "" = no credit specification
		wantErr           error
	}{
		{"x86 burstable shadow of an m5", "t3a.small", "x86_64", true, "lt-x86", "standard", nil},
		{"arm64 burstable shadow", "t4g.small", "arm64", true, "lt-arm", "standard", nil},
		{"arm64 non-burstable shadow: no credit option", "m7g.medium", "arm64", false, "lt-arm", "", nil},
		{"architecture without a template", "t3a.small", "x86_64", true, "", "", shadow.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stub := &runStub{}
			tpls := templates
			if tc.wantErr != nil {
				tpls = map[string]string{"arm64": "lt-arm"}
			}
			f, err := awssdk.NewFleet(stub, awssdk.FleetConfig{Stack: "st", LaunchTemplates: tpls}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Launch(context.Background(), shadow.LaunchSpec{
				LiveID: "i-live", SubnetID: "subnet-1", InstanceType: tc.itype, Arch: tc.arch, Burstable: tc.burstable,
				Tags: map[string]string{shadow.TagRole: shadow.RoleShadow},
			})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || stub.got != nil {
					t.Fatalf("err = %v (request sent: %v), want %v and no request", err, stub.got != nil, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := stub.got
			if got := aws.ToString(in.LaunchTemplate.LaunchTemplateId); got != tc.wantTemplate || aws.ToString(in.LaunchTemplate.Version) != "$Default" {
				t.Errorf("launch template %s version %s, want %s $Default", got, aws.ToString(in.LaunchTemplate.Version), tc.wantTemplate)
			}
			if string(in.InstanceType) != tc.itype {
				t.Errorf("instance type %s, want %s", in.InstanceType, tc.itype)
			}
			got := ""
			if in.CreditSpecification != nil {
				got = aws.ToString(in.CreditSpecification.CpuCredits)
			}
			if got != tc.wantCredits {
				t.Errorf("CPU credits %q, want %q", got, tc.wantCredits)
			}
		})
	}
}

func TestNewFleetRefusesUnknownArchitectures(t *testing.T) {
	_, err := awssdk.NewFleet(&runStub{}, awssdk.FleetConfig{Stack: "st", LaunchTemplates: map[string]string{"arm64": "", "ppc64": "lt-1"}}, nil, nil)
	if !errors.Is(err, shadow.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, want := range []string{`"ppc64"`, "arm64 is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// lifecycleStub records CompleteLifecycleAction requests.
type lifecycleStub struct {
	got *autoscaling.CompleteLifecycleActionInput
	err error
}

func (s *lifecycleStub) CompleteLifecycleAction(_ context.Context, in *autoscaling.CompleteLifecycleActionInput, _ ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error) {
	s.got = in
	return &autoscaling.CompleteLifecycleActionOutput{}, s.err
}

// The launch hook's action is completed with CONTINUE, never ABANDON
// (which would terminate the operator's instance); a denial is "not ours".
func TestLifecycleActionsContinue(t *testing.T) {
	stub := &lifecycleStub{}
	l, err := awssdk.NewLifecycleActions(stub)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Continue(context.Background(), "web", "hook", "i-0a", "tok"); err != nil {
		t.Fatal(err)
	}
	in := stub.got
	if aws.ToString(in.AutoScalingGroupName) != "web" || aws.ToString(in.LifecycleHookName) != "hook" || aws.ToString(in.InstanceId) != "i-0a" ||
		aws.ToString(in.LifecycleActionToken) != "tok" || aws.ToString(in.LifecycleActionResult) != "CONTINUE" {
		t.Errorf("request %+v", in)
	}
	for code, want := range map[string]error{"AccessDenied": shadow.ErrNotOwned, "ValidationError": shadow.ErrInvalid, "Throttling": awssdk.ErrThrottled} {
		stub.err = apiErr(code)
		if err := l.Continue(context.Background(), "web", "hook", "i-0a", "tok"); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", code, err, want)
		}
	}
}
