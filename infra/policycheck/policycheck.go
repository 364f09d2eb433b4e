// Package policycheck audits the IAM policies of a synthesized
// CloudFormation template against shadowscale's least-privilege rules:
//
//   - no wildcard actions ("*", "ec2:*", "ec2:Terminate*") and no NotAction;
//   - no AWS managed policy named *FullAccess attached to a role;
//   - ec2:TerminateInstances and ec2:StopInstances only with resource-tag
//     conditions shadowscale:role=shadow and shadowscale:stack=<stack>;
//   - ec2:RunInstances on instances only with request-tag conditions
//     shadowscale:role=shadow and shadowscale:stack=<stack>;
//   - ec2:CreateTags only as part of a launch (ec2:CreateAction);
//   - Auto Scaling writes only with the resource-tag condition
//     shadowscale:enrolled=true.
//
// It works on the template's JSON, so it runs on any template: the
// synthesized one, and deliberately bad ones in its tests.
package policycheck

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Violation is one statement breaking one rule.
type Violation struct {
	Resource  string // logical id of the policy, role or managed policy
	Statement int    // index in its document (-1 for a managed policy ARN)
	Rule      string
	Detail    string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s[%d]: %s: %s", v.Resource, v.Statement, v.Rule, v.Detail)
}

// Rules, as reported in Violation.Rule.
const (
	RuleWildcardAction   = "wildcard-action"
	RuleNotAction        = "not-action"
	RuleFullAccess       = "full-access-managed-policy"
	RuleUntaggedStop     = "terminate-or-stop-without-shadow-tags"
	RuleUntaggedRun      = "run-instances-without-shadow-request-tags"
	RuleCreateTags       = "create-tags-outside-launch"
	RuleUnenrolledScale  = "autoscaling-write-without-enrolled-tag"
	RuleMalformedPolicy  = "malformed-policy"
	tagRole, tagStack    = "shadowscale:role", "shadowscale:stack"
	tagEnrolled          = "shadowscale:enrolled"
	shadowValue, trueVal = "shadow", "true"
)

// CheckTemplate audits every IAM policy of the template JSON. stackName is
// the expected value of the shadowscale:stack conditions.
func CheckTemplate(templateJSON []byte, stackName string) ([]Violation, error) {
	var tpl struct {
		Resources map[string]struct {
			Type       string         `json:"Type"`
			Properties map[string]any `json:"Properties"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(templateJSON, &tpl); err != nil {
		return nil, fmt.Errorf("decoding template: %w", err)
	}
	var out []Violation
	ids := make([]string, 0, len(tpl.Resources))
	for id := range tpl.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := tpl.Resources[id]
		switch r.Type {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			out = append(out, checkDocument(id, r.Properties["PolicyDocument"], stackName)...)
		case "AWS::IAM::Role":
			for _, p := range asList(r.Properties["Policies"]) {
				m, _ := p.(map[string]any)
				out = append(out, checkDocument(id, m["PolicyDocument"], stackName)...)
			}
			for _, a := range asList(r.Properties["ManagedPolicyArns"]) {
				s := render(a)
				if strings.Contains(strings.ToLower(s), "fullaccess") {
					out = append(out, Violation{Resource: id, Statement: -1, Rule: RuleFullAccess, Detail: s})
				}
			}
		}
	}
	return out, nil
}

func checkDocument(id string, doc any, stackName string) []Violation {
	d, ok := doc.(map[string]any)
	if !ok {
		return []Violation{{Resource: id, Statement: -1, Rule: RuleMalformedPolicy, Detail: "no policy document"}}
	}
	var out []Violation
	for i, st := range asList(d["Statement"]) {
		s, ok := st.(map[string]any)
		if !ok {
			out = append(out, Violation{Resource: id, Statement: i, Rule: RuleMalformedPolicy, Detail: "statement is not an object"})
			continue
		}
		if s["Effect"] != "Allow" {
			continue
		}
		for _, v := range checkStatement(s, stackName) {
			v.Resource, v.Statement = id, i
			out = append(out, v)
		}
	}
	return out
}

func checkStatement(s map[string]any, stackName string) []Violation {
	var out []Violation
	bad := func(rule, format string, a ...any) {
		out = append(out, Violation{Rule: rule, Detail: fmt.Sprintf(format, a...)})
	}
	if _, ok := s["NotAction"]; ok {
		bad(RuleNotAction, "NotAction allows everything it does not name")
	}
	actions := strings2(s["Action"])
	resources := strings2(s["Resource"])
	if _, ok := s["NotResource"]; ok {
		resources = append(resources, "*")
	}
	cond, _ := s["Condition"].(map[string]any)

	for _, a := range actions {
		if strings.Contains(a, "*") || strings.Contains(a, "?") {
			bad(RuleWildcardAction, "action %q", a)
		}
	}
	has := func(action string) bool {
		for _, a := range actions {
			if strings.EqualFold(a, action) {
				return true
			}
		}
		return false
	}

	if has("ec2:TerminateInstances") || has("ec2:StopInstances") {
		if !tagCondition(cond, "ResourceTag/", tagRole, shadowValue) || !tagCondition(cond, "ResourceTag/", tagStack, stackName) {
			bad(RuleUntaggedStop, "actions %v need StringEquals aws:ResourceTag/%s=%s and aws:ResourceTag/%s=%s",
				actions, tagRole, shadowValue, tagStack, stackName)
		}
	}
	if has("ec2:RunInstances") && coversInstances(resources) {
		if !tagCondition(cond, "RequestTag/", tagRole, shadowValue) || !tagCondition(cond, "RequestTag/", tagStack, stackName) {
			bad(RuleUntaggedRun, "ec2:RunInstances on %v needs StringEquals aws:RequestTag/%s=%s and aws:RequestTag/%s=%s",
				resources, tagRole, shadowValue, tagStack, stackName)
		}
	}
	if has("ec2:CreateTags") && !conditionEquals(cond, "ec2:CreateAction", "RunInstances") {
		bad(RuleCreateTags, "ec2:CreateTags needs StringEquals ec2:CreateAction=RunInstances")
	}
	for _, a := range actions {
		la := strings.ToLower(a)
		if !strings.HasPrefix(la, "autoscaling:") || strings.HasPrefix(la, "autoscaling:describe") {
			continue
		}
		if !tagCondition(cond, "ResourceTag/", tagEnrolled, trueVal) {
			bad(RuleUnenrolledScale, "%s needs StringEquals aws:ResourceTag/%s=%s", a, tagEnrolled, trueVal)
		}
	}
	return out
}

// coversInstances reports whether a resource list can match an EC2
// instance ARN ("*", "...:instance/*", ...).
func coversInstances(resources []string) bool {
	for _, r := range resources {
		if r == "*" || strings.Contains(r, ":instance/") || strings.HasSuffix(r, ":*") || strings.Contains(r, ":ec2:*") {
			return true
		}
	}
	return false
}

// tagCondition reports whether cond requires, with StringEquals, the tag
// key (through aws:<kind><key> or ec2:/autoscaling:<kind><key>) to equal
// value. An empty value never satisfies it.
func tagCondition(cond map[string]any, kind, key, value string) bool {
	if value == "" {
		return false
	}
	for _, prefix := range []string{"aws:", "ec2:", "autoscaling:"} {
		if conditionEquals(cond, prefix+kind+key, value) {
			return true
		}
	}
	return false
}

// conditionEquals reports whether cond's StringEquals block (not an
// ...IfExists variant, which passes when the key is absent) pins key to
// exactly value.
func conditionEquals(cond map[string]any, key, value string) bool {
	block, _ := cond["StringEquals"].(map[string]any)
	for k, v := range block {
		if !strings.EqualFold(k, key) {
			continue
		}
		vals := strings2(v)
		return len(vals) == 1 && vals[0] == value
	}
	return false
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// strings2 renders a string or a list of strings/intrinsics.
func strings2(v any) []string {
	var out []string
	for _, e := range asList(v) {
		out = append(out, render(e))
	}
	return out
}

// render turns a CloudFormation value into a string: Fn::Join is joined,
// Ref and Fn::GetAtt become ${Name}, Fn::Sub keeps its template.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			var parts []string
			for _, p := range asList(j[1]) {
				parts = append(parts, render(p))
			}
			return strings.Join(parts, sep)
		}
		if r, ok := x["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return fmt.Sprintf("${%v.%v}", g[0], g[1])
		}
		if s, ok := x["Fn::Sub"]; ok {
			if l, ok := s.([]any); ok && len(l) > 0 {
				return render(l[0])
			}
			return render(s)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
