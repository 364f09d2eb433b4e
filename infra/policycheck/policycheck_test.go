package policycheck

import (
	"encoding/json"
	"testing"
)

// template wraps statements into one AWS::IAM::Policy of a template.
func template(t *testing.T, statements ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Resources": map[string]any{
		"Pol": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{
			"PolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": statements},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var templateArn = map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":ec2:", map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":launch-template/*"}}}

var instanceArn = map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":ec2:", map[string]any{"Ref": "AWS::Region"}, ":", map[string]any{"Ref": "AWS::AccountId"}, ":instance/*"}}}

func stringEquals(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return map[string]any{"StringEquals": m}
}

// withBounds is an enrolled-tag condition with extra blocks and Null keys.
func withBounds(blocks map[string]any, null map[string]any) map[string]any {
	c := stringEquals("aws:ResourceTag/shadowscale:enrolled", "true")
	for k, v := range blocks {
		c[k] = v
	}
	if null != nil {
		c["Null"] = null
	}
	return c
}

func TestCheckTemplate(t *testing.T) {
	shadowTags := stringEquals("aws:ResourceTag/shadowscale:role", "shadow", "aws:ResourceTag/shadowscale:stack", "S")
	cases := []struct {
		name      string
		statement map[string]any
		want      []string // rules, in order
	}{
		{"terminate with both tags", map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": instanceArn, "Condition": shadowTags}, nil},
		{"terminate untagged", map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"}, []string{RuleUntaggedStop}},
		{"stop untagged", map[string]any{"Effect": "Allow", "Action": []any{"ec2:StopInstances"}, "Resource": instanceArn}, []string{RuleUntaggedStop}},
		{"terminate with role tag only", map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
			"Condition": stringEquals("aws:ResourceTag/shadowscale:role", "shadow")}, []string{RuleUntaggedStop}},
		{"terminate tagged for another stack", map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
			"Condition": stringEquals("aws:ResourceTag/shadowscale:role", "shadow", "aws:ResourceTag/shadowscale:stack", "Other")}, []string{RuleUntaggedStop}},
		{"terminate with IfExists is not a requirement", map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
			"Condition": map[string]any{"StringEqualsIfExists": map[string]any{"aws:ResourceTag/shadowscale:role": "shadow", "aws:ResourceTag/shadowscale:stack": "S"}}}, []string{RuleUntaggedStop}},
		{"terminate with ec2:ResourceTag keys", map[string]any{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
			"Condition": stringEquals("ec2:ResourceTag/shadowscale:role", "shadow", "ec2:ResourceTag/shadowscale:stack", "S")}, nil},
		{"deny is not checked", map[string]any{"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}, nil},
		{"wildcard action", map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}, []string{RuleWildcardAction}},
		{"service wildcard", map[string]any{"Effect": "Allow", "Action": []any{"dynamodb:GetItem", "ec2:*"}, "Resource": "*"}, []string{RuleWildcardAction}},
		{"prefix wildcard on terminate", map[string]any{"Effect": "Allow", "Action": "ec2:Terminate*", "Resource": "*"}, []string{RuleWildcardAction}},
		{"not action", map[string]any{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, []string{RuleNotAction}},
		{"run instances with request tags", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": instanceArn,
			"Condition": stringEquals("aws:RequestTag/shadowscale:role", "shadow", "aws:RequestTag/shadowscale:stack", "S")}, nil},
		{"run instances untagged", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}, []string{RuleUntaggedRun}},
		{"run instances on subnets only", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": []any{"arn:aws:ec2:us-east-1:1:subnet/subnet-1", "arn:aws:ec2:us-east-1::image/*"}}, nil},
		{"create tags at launch", map[string]any{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": instanceArn,
			"Condition": stringEquals("ec2:CreateAction", "RunInstances")}, nil},
		{"create tags anywhere", map[string]any{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*"}, []string{RuleCreateTags}},
		{"desired capacity on enrolled", map[string]any{"Effect": "Allow", "Action": "autoscaling:SetDesiredCapacity", "Resource": "*",
			"Condition": stringEquals("aws:ResourceTag/shadowscale:enrolled", "true")}, nil},
		{"update on enrolled, unbounded", map[string]any{"Effect": "Allow", "Action": []any{"autoscaling:SetDesiredCapacity", "autoscaling:UpdateAutoScalingGroup"}, "Resource": "*",
			"Condition": stringEquals("aws:ResourceTag/shadowscale:enrolled", "true")}, []string{RuleUnboundedUpdate}},
		{"update on enrolled, bounded", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"NumericLessThanEqualsIfExists": map[string]any{"autoscaling:MaxSize": float64(100)}},
				map[string]any{"autoscaling:MinSize": "true", "autoscaling:VPCZoneIdentifiers": "true"})}, nil},
		{"update that never sets sizes or subnets", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(nil, map[string]any{"autoscaling:MaxSize": "true", "autoscaling:MinSize": "true", "autoscaling:VPCZoneIdentifiers": "true"})}, nil},
		{"update with subnets pinned", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"NumericLessThanEquals": map[string]any{"autoscaling:MaxSize": "40", "autoscaling:MinSize": "4"},
				"ForAllValues:StringEquals": map[string]any{"autoscaling:VPCZoneIdentifiers": []any{"subnet-1", "subnet-2"}}}, nil)}, nil},
		{"update with the min free", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"NumericLessThanEqualsIfExists": map[string]any{"autoscaling:MaxSize": float64(100)}},
				map[string]any{"autoscaling:VPCZoneIdentifiers": "true"})}, []string{RuleUnboundedUpdate}},
		{"update with the max bounded from below only", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"NumericGreaterThanEquals": map[string]any{"autoscaling:MaxSize": float64(1)}},
				map[string]any{"autoscaling:MinSize": "true", "autoscaling:VPCZoneIdentifiers": "true"})}, []string{RuleUnboundedUpdate}},
		{"update with a bound that is no number", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"NumericLessThanEquals": map[string]any{"autoscaling:MaxSize": "lots"}},
				map[string]any{"autoscaling:MinSize": "true", "autoscaling:VPCZoneIdentifiers": "true"})}, []string{RuleUnboundedUpdate}},
		{"update with subnets by wildcard", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"ForAllValues:StringEquals": map[string]any{"autoscaling:VPCZoneIdentifiers": "subnet-*"}},
				map[string]any{"autoscaling:MaxSize": "true", "autoscaling:MinSize": "true"})}, []string{RuleUnboundedUpdate}},
		{"update with the subnet key only tolerated", map[string]any{"Effect": "Allow", "Action": "autoscaling:UpdateAutoScalingGroup", "Resource": "*",
			"Condition": withBounds(map[string]any{"ForAnyValue:StringEquals": map[string]any{"autoscaling:VPCZoneIdentifiers": "subnet-1"}},
				map[string]any{"autoscaling:MaxSize": "true", "autoscaling:MinSize": "true"})}, []string{RuleUnboundedUpdate}},
		{"metrics in our namespace", map[string]any{"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
			"Condition": stringEquals("cloudwatch:namespace", "ShadowScale")}, nil},
		{"metrics in any namespace", map[string]any{"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}, []string{RuleAnyNamespace}},
		{"metrics in a wildcard namespace", map[string]any{"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
			"Condition": stringEquals("cloudwatch:namespace", "Shadow*")}, []string{RuleAnyNamespace}},
		{"autoscaling write anywhere", map[string]any{"Effect": "Allow", "Action": "autoscaling:SetDesiredCapacity", "Resource": "*"}, []string{RuleUnenrolledScale}},
		{"autoscaling describe", map[string]any{"Effect": "Allow", "Action": "autoscaling:DescribeAutoScalingGroups", "Resource": "*"}, nil},
		{"template version on enrolled templates", map[string]any{"Effect": "Allow", "Action": "ec2:CreateLaunchTemplateVersion", "Resource": templateArn,
			"Condition": stringEquals("aws:ResourceTag/shadowscale:enrolled", "true")}, nil},
		{"template version on any template", map[string]any{"Effect": "Allow", "Action": "ec2:CreateLaunchTemplateVersion", "Resource": templateArn},
			[]string{RuleUntaggedTemplate}},
		{"template version on everything", map[string]any{"Effect": "Allow", "Action": []any{"ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"}, "Resource": "*"},
			[]string{RuleUntaggedTemplate, RuleUntaggedTemplate}},
		{"template version of one named template", map[string]any{"Effect": "Allow", "Action": "ec2:CreateLaunchTemplateVersion",
			"Resource": "arn:aws:ec2:us-east-1:1:launch-template/lt-0123456789abcdef0"}, nil},
		{"template version tagged otherwise", map[string]any{"Effect": "Allow", "Action": "ec2:CreateLaunchTemplateVersion", "Resource": templateArn,
			"Condition": stringEquals("aws:ResourceTag/shadowscale:enrolled", "false")}, []string{RuleUntaggedTemplate}},
		{"run from enrolled templates", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": templateArn,
			"Condition": stringEquals("ec2:ResourceTag/shadowscale:enrolled", "true")}, nil},
		{"run from any template", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": templateArn},
			[]string{RuleUntaggedTemplate}},
		{"run bound to templates but naming templates itself", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": []any{instanceArn, templateArn},
			"Condition": map[string]any{"ArnLike": map[string]any{"ec2:LaunchTemplate": templateArn}}}, []string{RuleUntaggedRun}},
		{"run bound to something that is not a template", map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": instanceArn,
			"Condition": map[string]any{"ArnLike": map[string]any{"ec2:LaunchTemplate": "*"}}}, []string{RuleUntaggedRun}},
		{"pass named role to ec2", map[string]any{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/web",
			"Condition": stringEquals("iam:PassedToService", "ec2.amazonaws.com")}, nil},
		{"pass any role", map[string]any{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/*",
			"Condition": stringEquals("iam:PassedToService", "ec2.amazonaws.com")}, []string{RuleBroadPassRole}},
		{"pass role to any service", map[string]any{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/web"},
			[]string{RuleBroadPassRole}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := CheckTemplate(template(t, tc.statement), "S")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.Rule)
				if v.Resource != "Pol" || v.Statement != 0 {
					t.Errorf("violation located at %s[%d], want Pol[0]", v.Resource, v.Statement)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("rules %v, want %v (violations %v)", got, tc.want, vs)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("rule %d: %s, want %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCheckTemplateRoles(t *testing.T) {
	tpl := []byte(`{"Resources": {
	  "R": {"Type": "AWS::IAM::Role", "Properties": {
	    "ManagedPolicyArns": [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonEC2FullAccess"]]},
	                          "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
	    "Policies": [{"PolicyName": "inline", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*"}]}}]}},
	  "M": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}}},
	  "T": {"Type": "AWS::DynamoDB::Table", "Properties": {}}
	}}`)
	vs, err := CheckTemplate(tpl, "S")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"M/" + RuleWildcardAction: true, "R/" + RuleUntaggedStop: true, "R/" + RuleFullAccess: true}
	if len(vs) != len(want) {
		t.Fatalf("violations %v, want %d", vs, len(want))
	}
	for _, v := range vs {
		if !want[v.Resource+"/"+v.Rule] {
			t.Errorf("unexpected violation %v", v)
		}
	}
}

func TestCheckTemplateBadInput(t *testing.T) {
	if _, err := CheckTemplate([]byte("{not json"), "S"); err == nil {
		t.Fatal("want an error for a template that is not JSON")
	}
	vs, err := CheckTemplate([]byte(`{"Resources": {"P": {"Type": "AWS::IAM::Policy", "Properties": {}}}}`), "S")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Rule != RuleMalformedPolicy {
		t.Fatalf("violations %v, want one %s", vs, RuleMalformedPolicy)
	}
}

// TestLaunchFromTemplatesNeedsEveryTemplateEnrolled: RunInstances of
// untagged instances bound to launch templates passes only when the
// principal may launch from no template but enrolled ones, over every
// policy attached to its role.
func TestLaunchFromTemplatesNeedsEveryTemplateEnrolled(t *testing.T) {
	bound := map[string]any{"Sid": "Bound", "Effect": "Allow", "Action": "ec2:RunInstances", "Resource": []any{instanceArn, "arn:aws:ec2:us-east-1::image/*"},
		"Condition": map[string]any{"ArnLike": map[string]any{"ec2:LaunchTemplate": templateArn}}}
	enrolledTemplates := map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": templateArn,
		"Condition": stringEquals("aws:ResourceTag/shadowscale:enrolled", "true")}
	ourTemplate := map[string]any{"Effect": "Allow", "Action": "ec2:RunInstances",
		"Resource": []any{"arn:aws:ec2:us-east-1:1:launch-template/lt-0123456789abcdef0", "arn:aws:ec2:us-east-1:1:volume/*"}}
	policy := func(id string, role string, sts ...map[string]any) map[string]any {
		p := map[string]any{"PolicyDocument": map[string]any{"Statement": sts}}
		if role != "" {
			p["Roles"] = []any{map[string]any{"Ref": role}}
		}
		return map[string]any{"Type": "AWS::IAM::Policy", "Properties": p}
	}
	cases := []struct {
		name      string
		resources map[string]any
		want      int // run-instances violations
	}{
		{"only enrolled templates", map[string]any{"P": policy("P", "R", bound, enrolledTemplates)}, 0},
		{"no template grant at all", map[string]any{"P": policy("P", "R", bound)}, 0},
		{"an untagged template in the same policy", map[string]any{"P": policy("P", "R", bound, enrolledTemplates, ourTemplate)}, 1},
		{"an untagged template in another policy of the role", map[string]any{
			"P": policy("P", "R", bound, enrolledTemplates), "Q": policy("Q", "R", ourTemplate)}, 1},
		{"an untagged template of another role", map[string]any{
			"P": policy("P", "R", bound, enrolledTemplates), "Q": policy("Q", "Other", ourTemplate)}, 0},
		{"an untagged template in the role's inline policy", map[string]any{
			"P": policy("P", "R", bound),
			"R": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"Policies": []any{
				map[string]any{"PolicyName": "inline", "PolicyDocument": map[string]any{"Statement": []any{ourTemplate}}}}}}}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(map[string]any{"Resources": tc.resources})
			if err != nil {
				t.Fatal(err)
			}
			vs, err := CheckTemplate(b, "S")
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, v := range vs {
				if v.Rule != RuleUntaggedRun || v.Resource != "P" {
					t.Errorf("unexpected violation %v", v)
					continue
				}
				got++
			}
			if got != tc.want {
				t.Errorf("%d run-instances violations, want %d: %v", got, tc.want, vs)
			}
		})
	}
}

// TestInstancePrincipals: the agents' keys. A role EC2 may assume, and a
// managed policy attached to no role of the template (the operator's live
// instance roles), may read no secret and may use KMS only to decrypt
// under an encryption context bound to the requesting instance; a Lambda
// role may do both (the plane holds the master key and seals
// enrollments).
func TestInstancePrincipals(t *testing.T) {
	keyArn := map[string]any{"Fn::GetAtt": []any{"AgentEnrollmentKey", "Arn"}}
	own := stringEquals("kms:EncryptionContext:shadowscale-instance", "${ec2:SourceInstanceARN}")
	cases := []struct {
		name      string
		statement map[string]any
		instance  []string // rules for an instance principal
	}{
		{"decrypt bound to the requesting instance", map[string]any{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": keyArn, "Condition": own}, nil},
		{"decrypt unbound", map[string]any{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": keyArn}, []string{RuleInstanceKMS}},
		{"decrypt bound to one fixed instance", map[string]any{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": keyArn,
			"Condition": stringEquals("kms:EncryptionContext:shadowscale-instance", "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc")}, []string{RuleInstanceKMS}},
		{"decrypt bound with a pattern", map[string]any{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": keyArn,
			"Condition": map[string]any{"StringLike": map[string]any{"kms:EncryptionContext:shadowscale-instance": "*"}}}, []string{RuleInstanceKMS}},
		{"decrypt bound only if the context exists", map[string]any{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": keyArn,
			"Condition": map[string]any{"StringEqualsIfExists": map[string]any{"kms:EncryptionContext:shadowscale-instance": "${ec2:SourceInstanceARN}"}}}, []string{RuleInstanceKMS}},
		{"encrypt (seal an enrollment for anyone)", map[string]any{"Effect": "Allow", "Action": []any{"kms:Encrypt", "kms:Decrypt"}, "Resource": keyArn, "Condition": own}, []string{RuleInstanceKMS}},
		{"read the agent master key", map[string]any{"Effect": "Allow", "Action": []any{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
			"Resource": "arn:aws:secretsmanager:us-east-1:123456789012:secret:S/agent-key-??????"}, []string{RuleInstanceSecret}},
		{"describe a key", map[string]any{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": keyArn}, nil},
		{"read the agent binaries", map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/agent"}, nil},
	}
	trust := func(svc string) map[string]any {
		return map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": map[string]any{"Service": svc}}}}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := map[string]any{"Statement": []any{tc.statement}}
			b, err := json.Marshal(map[string]any{"Resources": map[string]any{
				"Inst":    map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"AssumeRolePolicyDocument": trust("ec2.amazonaws.com")}},
				"Fn":      map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"AssumeRolePolicyDocument": trust("lambda.amazonaws.com")}},
				"InstPol": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{"PolicyDocument": doc, "Roles": []any{map[string]any{"Ref": "Inst"}}}},
				"FnPol":   map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{"PolicyDocument": doc, "Roles": []any{map[string]any{"Ref": "Fn"}}}},
				"Live":    map[string]any{"Type": "AWS::IAM::ManagedPolicy", "Properties": map[string]any{"PolicyDocument": doc}},
				"FnMP":    map[string]any{"Type": "AWS::IAM::ManagedPolicy", "Properties": map[string]any{"PolicyDocument": doc, "Roles": []any{map[string]any{"Ref": "Fn"}}}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			vs, err := CheckTemplate(b, "S")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, v := range vs {
				got[v.Resource] = append(got[v.Resource], v.Rule)
			}
			for _, id := range []string{"InstPol", "Live"} {
				if len(got[id]) != len(tc.instance) || (len(tc.instance) > 0 && got[id][0] != tc.instance[0]) {
					t.Errorf("%s (an instance principal): rules %v, want %v", id, got[id], tc.instance)
				}
			}
			for _, id := range []string{"FnPol", "FnMP"} {
				if len(got[id]) != 0 {
					t.Errorf("%s (a Lambda role): rules %v, want none", id, got[id])
				}
			}
		})
	}
}
