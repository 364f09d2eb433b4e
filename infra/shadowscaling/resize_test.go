package shadowscaling

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shadowscale/shadowscale/infra/policycheck"
)

// resizeConfig is testConfig with the resize grant and a per-instance
// capacity.
func resizeConfig() Config {
	c := testConfig()
	c.AllowResize = true
	c.ResizeInstanceRoleARNs = []string{"arn:aws:iam::123456789012:role/web-instances", "arn:aws:iam::123456789012:role/api-instances"}
	c.PerInstance = 600
	return c
}

// forecasterStatements returns the statements, by Sid, of the policies
// attached to the forecaster's role, and the statements without a Sid.
func forecasterStatements(t *testing.T, s *synthesized) (map[string]map[string]any, []map[string]any) {
	t.Helper()
	_, fp := s.function(t, FnForecaster)
	role := flat(fp["Role"]) // ${Role.Arn}
	role = strings.TrimSuffix(strings.TrimPrefix(role, "${"), ".Arn}")
	bySid := map[string]map[string]any{}
	var anonymous []map[string]any
	for _, r := range s.resources("AWS::IAM::Policy") {
		p := props(r)
		attached := false
		for _, ref := range asAnyList(p["Roles"]) {
			if flat(ref) == "${"+role+"}" {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := st.(map[string]any)
			if sid, ok := m["Sid"].(string); ok {
				bySid[sid] = m
			} else {
				anonymous = append(anonymous, m)
			}
		}
	}
	return bySid, anonymous
}

func TestPerInstanceAndResizeInThePolicy(t *testing.T) {
	s := synth(t, resizeConfig(), nil)
	_, p := s.function(t, FnForecaster)
	got := p["Environment"].(map[string]any)["Variables"].(map[string]any)["SHADOWSCALE_POLICY"]
	want := `{"allow_resize":true,"per_instance":600,"thresholds":{"delta":0.2}}`
	if got != want {
		t.Errorf("SHADOWSCALE_POLICY = %v, want %s", got, want)
	}

	// A conflict is refused before anything is synthesized.
	bad := resizeConfig()
	bad.Policy = `{"per_instance":500}`
	if _, _, err := NewShadowScaleStack(nil, StackProps{Config: bad}); err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("a per-instance conflict: error %v, want a conflict", err)
	}
}

func TestResizeGrant(t *testing.T) {
	// Off by default: none of the resize statements, no template write.
	off, _ := forecasterStatements(t, demo(t))
	for _, sid := range []string{SidResizeTemplateVersions, SidResizeRunTemplates, SidResizeRunResources, SidResizeTagAtLaunch, SidResizeDescribe, SidResizePassRoles} {
		if off[sid] != nil {
			t.Errorf("resize off: the forecaster has %s", sid)
		}
	}
	if strings.Contains(string(demo(t).json), "CreateLaunchTemplateVersion") {
		t.Errorf("resize off: some policy allows ec2:CreateLaunchTemplateVersion")
	}

	s := synth(t, resizeConfig(), nil)
	vs, err := policycheck.CheckTemplate(s.json, "ShadowScaleTest")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("policy violation: %v", v)
	}

	on, _ := forecasterStatements(t, s)
	enrolled := `{"StringEquals":{"aws:ResourceTag/shadowscale:enrolled":"true"}}`
	templates := "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:launch-template/*"
	cases := []struct {
		sid, action, resources, condition string
	}{
		{SidResizeTemplateVersions, `["ec2:CreateLaunchTemplateVersion","ec2:ModifyLaunchTemplate"]`, `["` + templates + `"]`, enrolled},
		{SidResizeRunTemplates, `"ec2:RunInstances"`, `["` + templates + `"]`, enrolled},
		{SidResizeRunResources, `"ec2:RunInstances"`, "", `{"ArnLike":{"ec2:LaunchTemplate":"` + templates + `"}}`},
		{SidResizeTagAtLaunch, `"ec2:CreateTags"`, "", `{"StringEquals":{"ec2:CreateAction":"RunInstances"}}`},
		{SidResizeDescribe, `["ec2:DescribeLaunchTemplates","ec2:DescribeLaunchTemplateVersions"]`, `["*"]`, "null"},
		{SidResizePassRoles, `"iam:PassRole"`, `["arn:aws:iam::123456789012:role/web-instances","arn:aws:iam::123456789012:role/api-instances"]`,
			`{"StringEquals":{"iam:PassedToService":"ec2.amazonaws.com"}}`},
	}
	for _, c := range cases {
		t.Run(c.sid, func(t *testing.T) {
			st := on[c.sid]
			if st == nil {
				t.Fatalf("the forecaster lacks %s", c.sid)
			}
			if got := compact(st["Action"]); got != c.action {
				t.Errorf("action %s, want %s", got, c.action)
			}
			var res []string
			for _, r := range asAnyList(st["Resource"]) {
				res = append(res, flat(r))
			}
			if st["Resource"] != nil && len(res) == 0 {
				res = []string{flat(st["Resource"])}
			}
			if got := compact(res); c.resources != "" && got != c.resources {
				t.Errorf("resources %s, want %s", got, c.resources)
			}
			cond := st["Condition"]
			if c.sid == SidResizeRunResources {
				cond = map[string]any{"ArnLike": map[string]any{"ec2:LaunchTemplate": flat(st["Condition"].(map[string]any)["ArnLike"].(map[string]any)["ec2:LaunchTemplate"])}}
			}
			if got := compact(cond); got != c.condition {
				t.Errorf("condition %s, want %s", got, c.condition)
			}
		})
	}
	// The run statement bound to templates: instances and what they need,
	// never a launch template itself (those are only the enrolled ones).
	var runRes []string
	for _, r := range asAnyList(on[SidResizeRunResources]["Resource"]) {
		runRes = append(runRes, flat(r))
	}
	for _, want := range []string{":instance/*", ":volume/*", ":network-interface/*", ":subnet/*", ":security-group/*", "::image/*"} {
		if !strings.Contains(strings.Join(runRes, " "), want) {
			t.Errorf("%s lacks %s: %v", SidResizeRunResources, want, runRes)
		}
	}
	if strings.Contains(strings.Join(runRes, " "), "launch-template") {
		t.Errorf("%s names launch templates: %v", SidResizeRunResources, runRes)
	}

	// Without role ARNs: no PassRole statement at all.
	noRoles := resizeConfig()
	noRoles.ResizeInstanceRoleARNs = nil
	nr, _ := forecasterStatements(t, synth(t, noRoles, nil))
	if nr[SidResizePassRoles] != nil || nr[SidResizeRunTemplates] == nil {
		t.Errorf("resize without role ARNs: PassRole %v, run %v", nr[SidResizePassRoles] != nil, nr[SidResizeRunTemplates] != nil)
	}
}

// TestResizeCheckFailsWithoutTagCondition: the policy check passes the
// resize grant only because of its tag conditions; without them (on the
// template versions or the launch from templates) it must fail.
func TestResizeCheckFailsWithoutTagCondition(t *testing.T) {
	s := synth(t, resizeConfig(), nil)
	cases := []struct {
		sid  string
		want string
	}{
		{SidResizeTemplateVersions, policycheck.RuleUntaggedTemplate},
		{SidResizeRunTemplates, policycheck.RuleUntaggedTemplate},
		{SidResizeRunResources, policycheck.RuleUntaggedRun},
		{SidResizePassRoles, policycheck.RuleBroadPassRole},
	}
	for _, c := range cases {
		t.Run(c.sid, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(s.json, &doc); err != nil {
				t.Fatal(err)
			}
			stripped := 0
			for _, r := range doc["Resources"].(map[string]any) {
				m := r.(map[string]any)
				if m["Type"] != "AWS::IAM::Policy" {
					continue
				}
				for _, st := range m["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					if st := st.(map[string]any); st["Sid"] == c.sid {
						delete(st, "Condition")
						stripped++
					}
				}
			}
			if stripped != 1 {
				t.Fatalf("found %s %d times, want once", c.sid, stripped)
			}
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			vs, err := policycheck.CheckTemplate(b, "ShadowScaleTest")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, v := range vs {
				found = found || v.Rule == c.want
			}
			if !found {
				t.Errorf("without its condition, %s is not reported as %s (reported %v)", c.sid, c.want, vs)
			}
		})
	}

	// The launch bound to templates fails too once the principal may use
	// an unenrolled template: the same run statement with the enrolled
	// condition removed from the template grant.
	var doc map[string]any
	if err := json.Unmarshal(s.json, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc["Resources"].(map[string]any) {
		m := r.(map[string]any)
		if m["Type"] != "AWS::IAM::Policy" {
			continue
		}
		for _, st := range m["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			if st := st.(map[string]any); st["Sid"] == SidResizeRunTemplates {
				delete(st, "Condition")
			}
		}
	}
	b, _ := json.Marshal(doc)
	vs, err := policycheck.CheckTemplate(b, "ShadowScaleTest")
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, v := range vs {
		if v.Rule == policycheck.RuleUntaggedRun {
			runs++
		}
	}
	if runs != 1 {
		t.Errorf("an unenrolled template grant next to the bound launch: %d run-instances violations, want 1 (%v)", runs, vs)
	}
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
