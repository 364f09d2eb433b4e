package shadowscaling

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/shadowscale/shadowscale/infra/policycheck"
)

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestForecasterConcurrencyOptional: the forecaster reserves no
// concurrency unless asked (a reservation fails to deploy on an account
// with fewer than 101 concurrent executions, and overlapping runs are safe
// without it); its memory and group concurrency are settings.
func TestForecasterConcurrencyOptional(t *testing.T) {
	_, p := demo(t).function(t, FnForecaster)
	if r, ok := p["ReservedConcurrentExecutions"]; ok {
		t.Errorf("reserved concurrency %v by default, want none", r)
	}
	if _, ok := p["Environment"].(map[string]any)["Variables"].(map[string]any)["SHADOWSCALE_FORECASTER_CONCURRENCY"]; ok {
		t.Errorf("SHADOWSCALE_FORECASTER_CONCURRENCY set by default")
	}
	c := testConfig()
	c.ForecasterReservedConcurrency = 1
	c.ForecasterMemoryMB = 3008
	c.ForecasterConcurrency = 16
	_, p = synth(t, c, nil).function(t, FnForecaster)
	if p["ReservedConcurrentExecutions"] != float64(1) || p["MemorySize"] != float64(3008) {
		t.Errorf("reserved %v memory %v, want 1 and 3008", p["ReservedConcurrentExecutions"], p["MemorySize"])
	}
	if v := p["Environment"].(map[string]any)["Variables"].(map[string]any)["SHADOWSCALE_FORECASTER_CONCURRENCY"]; v != "16" {
		t.Errorf("SHADOWSCALE_FORECASTER_CONCURRENCY = %v, want 16", v)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.ForecasterReservedConcurrency = 2 },
		func(c *Config) { c.ForecasterReservedConcurrency = -1 },
		func(c *Config) { c.ForecasterMemoryMB = 64 },
		func(c *Config) { c.ForecasterConcurrency = 65 },
		func(c *Config) { c.MaxSizeLimit = 0 },
	} {
		c := testConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// TestForecasterAutoScalingGrant: SetDesiredCapacity on enrolled groups
// always; UpdateAutoScalingGroup only when the policy raises the max
// (MaxSize up to maxSizeLimit) or resizes, never with MinSize,
// VPCZoneIdentifiers, a launch configuration or instance types; the
// instance refresh only with resizes; the reads it needs; PutMetricData
// for no function. The policy check passes each.
func TestForecasterAutoScalingGrant(t *testing.T) {
	raise := testConfig()
	raise.Policy = `{"over_max":"raise"}`
	raise.MaxSizeLimit = 250
	both := resizeConfig()
	both.Policy = `{"over_max":"raise"}`
	never := `"autoscaling:InstanceTypes":"true","autoscaling:LaunchConfigurationName":"true",`
	for _, tc := range []struct {
		name               string
		cfg                Config
		wantUpdate         string // the UpdateEnrolledGroupsBounded condition, "" none
		wantRefresh        bool
		wantTemplateWrites bool
	}{
		{name: "default", cfg: testConfig()},
		{name: "raise the max", cfg: raise, wantUpdate: `{"Null":{` + never + `"autoscaling:MinSize":"true","autoscaling:VPCZoneIdentifiers":"true"},` +
			`"NumericLessThanEqualsIfExists":{"autoscaling:MaxSize":250},"StringEquals":{"aws:ResourceTag/shadowscale:enrolled":"true"}}`},
		{name: "resize", cfg: resizeConfig(), wantRefresh: true, wantTemplateWrites: true, wantUpdate: `{"Null":{` + never +
			`"autoscaling:MaxSize":"true","autoscaling:MinSize":"true","autoscaling:VPCZoneIdentifiers":"true"},"StringEquals":{"aws:ResourceTag/shadowscale:enrolled":"true"}}`},
		{name: "raise and resize", cfg: both, wantRefresh: true, wantTemplateWrites: true, wantUpdate: `{"Null":{` + never +
			`"autoscaling:MinSize":"true","autoscaling:VPCZoneIdentifiers":"true"},"NumericLessThanEqualsIfExists":{"autoscaling:MaxSize":100},"StringEquals":{"aws:ResourceTag/shadowscale:enrolled":"true"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := synth(t, tc.cfg, nil)
			vs, err := policycheck.CheckTemplate(s.json, "ShadowScaleTest")
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				t.Errorf("policy violation: %v", v)
			}
			sts, anonymous := forecasterStatements(t, s)
			if got := compactJSON(sts[SidScaleEnrolled]["Action"]); got != `"autoscaling:SetDesiredCapacity"` {
				t.Errorf("%s action %s", SidScaleEnrolled, got)
			}
			if got := compactJSON(sts[SidForecasterReads]["Action"]); got != `["autoscaling:DescribePolicies","autoscaling:DescribeScheduledActions","cloudwatch:GetMetricData"]` {
				t.Errorf("%s action %s", SidForecasterReads, got)
			}
			up := sts[SidUpdateEnrolled]
			switch {
			case tc.wantUpdate == "" && up != nil:
				t.Errorf("UpdateAutoScalingGroup granted: %v", up)
			case tc.wantUpdate != "" && (up == nil || compactJSON(up["Condition"]) != tc.wantUpdate):
				t.Errorf("update condition\n got %s\nwant %s", compactJSON(up["Condition"]), tc.wantUpdate)
			}
			if (sts[SidRefreshEnrolled] != nil) != tc.wantRefresh {
				t.Errorf("instance refresh granted %v, want %v", sts[SidRefreshEnrolled] != nil, tc.wantRefresh)
			}
			// No other statement of the forecaster grants an Auto Scaling write.
			for sid, st := range sts {
				if sid == SidScaleEnrolled || sid == SidUpdateEnrolled || sid == SidRefreshEnrolled {
					continue
				}
				if a := compactJSON(st["Action"]); strings.Contains(a, "autoscaling:") && !strings.Contains(a, "autoscaling:Describe") {
					t.Errorf("%s grants %s", sid, a)
				}
			}
			for _, st := range anonymous {
				if a := compactJSON(st["Action"]); strings.Contains(a, "autoscaling:") && !strings.Contains(a, "autoscaling:Describe") {
					t.Errorf("an anonymous statement grants %s", a)
				}
			}
			if got := strings.Contains(string(s.json), "ec2:ModifyLaunchTemplate"); got != tc.wantTemplateWrites {
				t.Errorf("ec2:ModifyLaunchTemplate granted %v, want %v", got, tc.wantTemplateWrites)
			}
			if strings.Contains(string(s.json), "cloudwatch:PutMetricData") {
				t.Error("some function may call cloudwatch:PutMetricData: none does (metrics are EMF in the logs)")
			}
		})
	}
}

// TestForecasterGrantCheckFailsWithoutBounds proves the check of the
// forecaster's grant can fail: an UpdateAutoScalingGroup on enrolled
// groups without the size and subnet conditions, and a PutMetricData in
// any namespace, planted on the forecaster, are reported.
func TestForecasterGrantCheckFailsWithoutBounds(t *testing.T) {
	bad := synth(t, testConfig(), func(p *ShadowScaling) {
		fn := p.Functions[FnForecaster]
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("autoscaling:UpdateAutoScalingGroup"), Resources: jsii.Strings("*"),
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/shadowscale:enrolled": "true"}},
		}))
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("autoscaling:UpdateAutoScalingGroup"), Resources: jsii.Strings("*"),
			Conditions: &map[string]any{
				"StringEquals":                  map[string]any{"aws:ResourceTag/shadowscale:enrolled": "true"},
				"NumericLessThanEqualsIfExists": map[string]any{"autoscaling:MaxSize": 100},
				"Null":                          map[string]any{"autoscaling:MinSize": "true"}, // subnets free
			},
		}))
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("cloudwatch:PutMetricData"), Resources: jsii.Strings("*"),
		}))
	})
	vs, err := policycheck.CheckTemplate(bad.json, "ShadowScaleTest")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, v := range vs {
		got[v.Rule]++
	}
	if got[policycheck.RuleUnboundedUpdate] != 2 || got[policycheck.RuleAnyNamespace] != 1 || len(vs) != 3 {
		t.Errorf("violations %v, want the 2 unbounded updates and the PutMetricData", vs)
	}
}
