// Package policycheck audits the IAM policies of a synthesized
// CloudFormation template against shadowscale's least-privilege rules:
//
//   - no wildcard actions ("*", "ec2:*", "ec2:Terminate*") and no NotAction;
//   - no AWS managed policy named *FullAccess attached to a role;
//   - ec2:TerminateInstances and ec2:StopInstances only with resource-tag
//     conditions shadowscale:role=shadow and shadowscale:stack=<stack>;
//   - ec2:RunInstances on instances only with request-tag conditions
//     shadowscale:role=shadow and shadowscale:stack=<stack>, or (the
//     forecaster's resize) only in a launch from a launch template (an
//     ec2:LaunchTemplate condition) by a principal that may launch from no
//     template but those tagged shadowscale:enrolled=true;
//   - launch templates on a wildcard of templates (ec2:RunInstances with a
//     template, ec2:CreateLaunchTemplateVersion, ec2:ModifyLaunchTemplate,
//     deleting templates or versions) only with the resource-tag condition
//     shadowscale:enrolled=true;
//   - ec2:CreateTags only as part of a launch (ec2:CreateAction);
//   - Auto Scaling writes only with the resource-tag condition
//     shadowscale:enrolled=true;
//   - autoscaling:UpdateAutoScalingGroup and CreateAutoScalingGroup only
//     with autoscaling:MaxSize and autoscaling:MinSize bounded from above
//     (NumericLessThan[Equals][IfExists]) or forbidden (Null "true"), and
//     autoscaling:VPCZoneIdentifiers forbidden or pinned to named subnets
//     (ForAllValues:StringEquals);
//   - cloudwatch:PutMetricData only in a named namespace (StringEquals
//     cloudwatch:namespace);
//   - iam:PassRole only of named roles (no wildcard), only to the service
//     named by iam:PassedToService;
//   - an instance principal (a role EC2 may assume, or a managed policy the
//     template attaches to no role: one for the operator's live instance
//     roles) reads no Secrets Manager secret (the agents' master key is
//     the plane's alone), and uses KMS only to decrypt under an encryption
//     context bound to itself (kms:EncryptionContext:<key> =
//     ${ec2:SourceInstanceARN}): it can open what was sealed for it, and
//     neither open another instance's enrollment nor seal one.
//
// It works on the template's JSON, so it runs on any template: the
// synthesized one, and deliberately bad ones in its tests.
package policycheck

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
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
	RuleUntaggedTemplate = "launch-template-without-enrolled-tag"
	RuleBroadPassRole    = "pass-role-too-broad"
	RuleUnboundedUpdate  = "autoscaling-update-unbounded"
	RuleAnyNamespace     = "put-metric-data-any-namespace"
	RuleInstanceSecret   = "instance-reads-a-secret"
	RuleInstanceKMS      = "instance-kms-not-bound-to-itself"
	RuleMalformedPolicy  = "malformed-policy"
	tagRole, tagStack    = "shadowscale:role", "shadowscale:stack"
	tagEnrolled          = "shadowscale:enrolled"
	shadowValue, trueVal = "shadow", "true"
)

// document is one policy document of the template and the principals
// (roles, by ${logical id}) it applies to.
type document struct {
	id    string
	doc   any
	roles []string
	// standalone: a managed policy attached to no role of the template,
	// for principals outside it (the live instances' role).
	standalone bool
}

// sourceInstance is the policy variable of the instance a request with
// EC2 instance role credentials comes from.
const sourceInstance = "${ec2:SourceInstanceARN}"

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
	var docs []document
	instanceRoles := map[string]bool{} // ${logical id} of roles EC2 may assume
	ids := make([]string, 0, len(tpl.Resources))
	for id := range tpl.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := tpl.Resources[id]
		switch r.Type {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			var roles []string
			for _, ref := range asList(r.Properties["Roles"]) {
				roles = append(roles, render(ref))
			}
			docs = append(docs, document{id: id, doc: r.Properties["PolicyDocument"], roles: roles,
				standalone: r.Type == "AWS::IAM::ManagedPolicy" && len(roles) == 0 && len(asList(r.Properties["Users"])) == 0 && len(asList(r.Properties["Groups"])) == 0})
		case "AWS::IAM::Role":
			if assumedByEC2(r.Properties["AssumeRolePolicyDocument"]) {
				instanceRoles["${"+id+"}"] = true
			}
			for _, p := range asList(r.Properties["Policies"]) {
				m, _ := p.(map[string]any)
				docs = append(docs, document{id: id, doc: m["PolicyDocument"], roles: []string{"${" + id + "}"}})
			}
			for _, a := range asList(r.Properties["ManagedPolicyArns"]) {
				s := render(a)
				if strings.Contains(strings.ToLower(s), "fullaccess") {
					out = append(out, Violation{Resource: id, Statement: -1, Rule: RuleFullAccess, Detail: s})
				}
			}
		}
	}

	// A principal's statements: a role's over every document attached to
	// it; a document attached to no role stands alone.
	principalsOf := func(d document) []string {
		if len(d.roles) == 0 {
			return []string{"policy " + d.id}
		}
		return d.roles
	}
	byPrincipal := map[string][]map[string]any{}
	for _, d := range docs {
		for _, st := range allows(d.doc) {
			for _, p := range principalsOf(d) {
				byPrincipal[p] = append(byPrincipal[p], st)
			}
		}
	}

	for _, d := range docs {
		m, ok := d.doc.(map[string]any)
		if !ok {
			out = append(out, Violation{Resource: d.id, Statement: -1, Rule: RuleMalformedPolicy, Detail: "no policy document"})
			continue
		}
		for i, st := range asList(m["Statement"]) {
			s, ok := st.(map[string]any)
			if !ok {
				out = append(out, Violation{Resource: d.id, Statement: i, Rule: RuleMalformedPolicy, Detail: "statement is not an object"})
				continue
			}
			if s["Effect"] != "Allow" {
				continue
			}
			vs, boundToTemplates := checkStatement(s, stackName)
			if d.standalone || anyOf(d.roles, instanceRoles) {
				vs = append(vs, checkInstanceStatement(s)...)
			}
			if boundToTemplates {
				// Non-shadow instances from launch templates: acceptable
				// only if every template the principal may launch from is
				// tagged enrolled.
				for _, p := range principalsOf(d) {
					if other := untaggedTemplateLaunch(byPrincipal[p]); other != "" {
						vs = append(vs, Violation{Rule: RuleUntaggedRun, Detail: fmt.Sprintf(
							"ec2:RunInstances on instances without shadow request tags is bound to launch templates (ec2:LaunchTemplate), "+
								"but %s may also launch from templates not tagged %s=%s (%s)", p, tagEnrolled, trueVal, other)})
						break
					}
				}
			}
			for _, v := range vs {
				v.Resource, v.Statement = d.id, i
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// assumedByEC2 reports whether a trust policy lets the EC2 service assume
// the role (an instance profile's role).
func assumedByEC2(doc any) bool {
	for _, s := range allows(doc) {
		p, _ := s["Principal"].(map[string]any)
		for _, svc := range strings2(p["Service"]) {
			if strings.HasPrefix(svc, "ec2.") {
				return true
			}
		}
	}
	return false
}

func anyOf(roles []string, set map[string]bool) bool {
	for _, r := range roles {
		if set[r] {
			return true
		}
	}
	return false
}

// checkInstanceStatement checks an Allow statement of an instance
// principal: no secret read, KMS only to decrypt what was sealed for that
// very instance.
func checkInstanceStatement(s map[string]any) (out []Violation) {
	cond, _ := s["Condition"].(map[string]any)
	for _, a := range strings2(s["Action"]) {
		la := strings.ToLower(a)
		switch {
		case la == "secretsmanager:getsecretvalue" || (strings.HasPrefix(la, "secretsmanager:") && strings.ContainsAny(la, "*?")):
			out = append(out, Violation{Rule: RuleInstanceSecret, Detail: fmt.Sprintf(
				"%s on %v: an instance reads no secret (the agents' master key is the plane's; an agent holds its own key only)", a, resourcesOf(s))})
		case la == "kms:decrypt":
			if !boundToSourceInstance(cond) {
				out = append(out, Violation{Rule: RuleInstanceKMS, Detail: fmt.Sprintf(
					"kms:Decrypt needs StringEquals kms:EncryptionContext:<key> = %s: else an instance opens what was sealed for another", sourceInstance)})
			}
		case strings.HasPrefix(la, "kms:") && !strings.HasPrefix(la, "kms:describe"):
			out = append(out, Violation{Rule: RuleInstanceKMS, Detail: fmt.Sprintf(
				"%s: an instance may only decrypt (to encrypt is to seal an enrollment for any instance)", a)})
		}
	}
	if _, ok := s["NotAction"]; ok {
		out = append(out, Violation{Rule: RuleInstanceKMS, Detail: "NotAction on an instance principal allows KMS and Secrets Manager"})
	}
	return out
}

// boundToSourceInstance reports whether cond's StringEquals pins an
// encryption context key to the requesting instance's ARN.
func boundToSourceInstance(cond map[string]any) bool {
	block, _ := cond["StringEquals"].(map[string]any)
	for k, v := range block {
		if !strings.HasPrefix(strings.ToLower(k), "kms:encryptioncontext:") || len(k) == len("kms:EncryptionContext:") {
			continue
		}
		vals := strings2(v)
		if len(vals) == 1 && vals[0] == sourceInstance {
			return true
		}
	}
	return false
}

// allows returns the Allow statements of a policy document.
func allows(doc any) []map[string]any {
	m, _ := doc.(map[string]any)
	var out []map[string]any
	for _, st := range asList(m["Statement"]) {
		if s, ok := st.(map[string]any); ok && s["Effect"] == "Allow" {
			out = append(out, s)
		}
	}
	return out
}

// untaggedTemplateLaunch returns the resources of the first statement that
// allows ec2:RunInstances on a launch template (by ARN or wildcard)
// without the enrolled tag condition, or "" when there is none.
func untaggedTemplateLaunch(sts []map[string]any) string {
	for _, s := range sts {
		if _, ok := s["NotAction"]; ok {
			return "a NotAction statement"
		}
		if !hasAction(strings2(s["Action"]), "ec2:RunInstances") {
			continue
		}
		resources := resourcesOf(s)
		cond, _ := s["Condition"].(map[string]any)
		if covers(resources, "launch-template", false) && !tagCondition(cond, "ResourceTag/", tagEnrolled, trueVal) {
			return strings.Join(resources, ", ")
		}
	}
	return ""
}

func hasAction(actions []string, action string) bool {
	for _, a := range actions {
		if strings.EqualFold(a, action) {
			return true
		}
	}
	return false
}

// resourcesOf returns a statement's resources; NotResource counts as "*".
func resourcesOf(s map[string]any) []string {
	resources := strings2(s["Resource"])
	if _, ok := s["NotResource"]; ok {
		resources = append(resources, "*")
	}
	return resources
}

// templateWrites change or delete launch templates or their versions.
var templateWrites = []string{"ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
	"ec2:DeleteLaunchTemplateVersions", "ec2:DeleteLaunchTemplate"}

// checkStatement checks one Allow statement. boundToTemplates reports an
// ec2:RunInstances on instances without shadow request tags that is bound
// to launch templates (an ec2:LaunchTemplate condition, and no template
// among its own resources): whether that is acceptable depends on the
// principal's other statements, which CheckTemplate looks at.
func checkStatement(s map[string]any, stackName string) (out []Violation, boundToTemplates bool) {
	bad := func(rule, format string, a ...any) {
		out = append(out, Violation{Rule: rule, Detail: fmt.Sprintf(format, a...)})
	}
	if _, ok := s["NotAction"]; ok {
		bad(RuleNotAction, "NotAction allows everything it does not name")
	}
	actions := strings2(s["Action"])
	resources := resourcesOf(s)
	cond, _ := s["Condition"].(map[string]any)

	for _, a := range actions {
		if strings.Contains(a, "*") || strings.Contains(a, "?") {
			bad(RuleWildcardAction, "action %q", a)
		}
	}
	has := func(action string) bool { return hasAction(actions, action) }

	if has("ec2:TerminateInstances") || has("ec2:StopInstances") {
		if !tagCondition(cond, "ResourceTag/", tagRole, shadowValue) || !tagCondition(cond, "ResourceTag/", tagStack, stackName) {
			bad(RuleUntaggedStop, "actions %v need StringEquals aws:ResourceTag/%s=%s and aws:ResourceTag/%s=%s",
				actions, tagRole, shadowValue, tagStack, stackName)
		}
	}
	enrolled := tagCondition(cond, "ResourceTag/", tagEnrolled, trueVal)
	if has("ec2:RunInstances") {
		shadowTagged := tagCondition(cond, "RequestTag/", tagRole, shadowValue) && tagCondition(cond, "RequestTag/", tagStack, stackName)
		switch {
		case covers(resources, "instance", false) && !shadowTagged:
			if launchTemplateBound(cond) && !covers(resources, "launch-template", false) {
				boundToTemplates = true
			} else {
				bad(RuleUntaggedRun, "ec2:RunInstances on %v needs StringEquals aws:RequestTag/%s=%s and aws:RequestTag/%s=%s",
					resources, tagRole, shadowValue, tagStack, stackName)
			}
		case covers(resources, "launch-template", true) && !shadowTagged && !enrolled:
			bad(RuleUntaggedTemplate, "ec2:RunInstances on launch templates %v needs StringEquals aws:ResourceTag/%s=%s",
				resources, tagEnrolled, trueVal)
		}
	}
	for _, a := range templateWrites {
		if has(a) && covers(resources, "launch-template", true) && !enrolled {
			bad(RuleUntaggedTemplate, "%s on %v needs StringEquals aws:ResourceTag/%s=%s", a, resources, tagEnrolled, trueVal)
		}
	}
	if has("ec2:CreateTags") && !conditionEquals(cond, "ec2:CreateAction", "RunInstances") {
		bad(RuleCreateTags, "ec2:CreateTags needs StringEquals ec2:CreateAction=RunInstances")
	}
	if has("iam:PassRole") {
		for _, r := range resources {
			if strings.ContainsAny(r, "*?") {
				bad(RuleBroadPassRole, "iam:PassRole on %q: name the roles", r)
			}
		}
		if !passedToNamedService(cond) {
			bad(RuleBroadPassRole, "iam:PassRole needs StringEquals iam:PassedToService naming the service")
		}
	}
	if has("autoscaling:UpdateAutoScalingGroup") || has("autoscaling:CreateAutoScalingGroup") {
		var loose []string
		for _, key := range []string{"autoscaling:MaxSize", "autoscaling:MinSize"} {
			if !upperBound(cond, key) && !nullTrue(cond, key) {
				loose = append(loose, key+" (NumericLessThanEquals[IfExists] a number, or Null \"true\")")
			}
		}
		if !nullTrue(cond, "autoscaling:VPCZoneIdentifiers") && !pinnedValues(cond, "autoscaling:VPCZoneIdentifiers") {
			loose = append(loose, "autoscaling:VPCZoneIdentifiers (Null \"true\", or ForAllValues:StringEquals named subnets)")
		}
		if len(loose) > 0 {
			bad(RuleUnboundedUpdate, "%v needs bounds on %s", actions, strings.Join(loose, ", "))
		}
	}
	if has("cloudwatch:PutMetricData") && !pinnedNamespace(cond) {
		bad(RuleAnyNamespace, "cloudwatch:PutMetricData needs StringEquals cloudwatch:namespace naming the namespace")
	}
	for _, a := range actions {
		la := strings.ToLower(a)
		if !strings.HasPrefix(la, "autoscaling:") || strings.HasPrefix(la, "autoscaling:describe") {
			continue
		}
		if !enrolled {
			bad(RuleUnenrolledScale, "%s needs StringEquals aws:ResourceTag/%s=%s", a, tagEnrolled, trueVal)
		}
	}
	return out, boundToTemplates
}

// conditionValues returns the values cond's block op gives key (matched
// case-insensitively), and whether it names key.
func conditionValues(cond map[string]any, op, key string) ([]string, bool) {
	block, _ := cond[op].(map[string]any)
	for k, v := range block {
		if strings.EqualFold(k, key) {
			return strings2(v), true
		}
	}
	return nil, false
}

// upperBound reports whether cond bounds the numeric key from above with a
// finite number (NumericLessThan, NumericLessThanEquals, or their
// IfExists variants, which pass a request that does not set the key).
func upperBound(cond map[string]any, key string) bool {
	for _, op := range []string{"NumericLessThan", "NumericLessThanEquals", "NumericLessThanIfExists", "NumericLessThanEqualsIfExists"} {
		vals, ok := conditionValues(cond, op, key)
		if !ok || len(vals) != 1 {
			continue
		}
		if f, err := strconv.ParseFloat(vals[0], 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return true
		}
	}
	return false
}

// nullTrue reports whether cond requires key to be absent from the
// request (Null "true").
func nullTrue(cond map[string]any, key string) bool {
	vals, ok := conditionValues(cond, "Null", key)
	return ok && len(vals) == 1 && strings.EqualFold(vals[0], "true")
}

// pinnedValues reports whether cond allows the multivalued key only values
// it names, without wildcards (ForAllValues:StringEquals).
func pinnedValues(cond map[string]any, key string) bool {
	vals, ok := conditionValues(cond, "ForAllValues:StringEquals", key)
	if !ok || len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		if v == "" || strings.ContainsAny(v, "*?") {
			return false
		}
	}
	return true
}

// pinnedNamespace reports whether cond's StringEquals pins
// cloudwatch:namespace to named namespaces.
func pinnedNamespace(cond map[string]any) bool {
	vals, ok := conditionValues(cond, "StringEquals", "cloudwatch:namespace")
	if !ok || len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		if v == "" || strings.ContainsAny(v, "*?") {
			return false
		}
	}
	return true
}

// passedToNamedService reports whether cond's StringEquals pins
// iam:PassedToService to services named without wildcards.
func passedToNamedService(cond map[string]any) bool {
	block, _ := cond["StringEquals"].(map[string]any)
	for k, v := range block {
		if !strings.EqualFold(k, "iam:PassedToService") {
			continue
		}
		vals := strings2(v)
		for _, svc := range vals {
			if svc == "" || strings.ContainsAny(svc, "*?") {
				return false
			}
		}
		return len(vals) > 0
	}
	return false
}

// launchTemplateBound reports whether cond requires the request to use a
// launch template: ec2:LaunchTemplate matched (ArnLike, ArnEquals,
// StringLike, StringEquals) against launch template ARNs only, or Null
// ec2:LaunchTemplate=false.
func launchTemplateBound(cond map[string]any) bool {
	for op, block := range cond {
		b, _ := block.(map[string]any)
		for k, v := range b {
			if !strings.EqualFold(k, "ec2:LaunchTemplate") {
				continue
			}
			vals := strings2(v)
			switch op {
			case "ArnLike", "ArnEquals", "StringLike", "StringEquals":
				if len(vals) == 0 {
					return false
				}
				for _, val := range vals {
					if !strings.Contains(val, ":launch-template/") {
						return false
					}
				}
				return true
			case "Null":
				return len(vals) == 1 && vals[0] == "false"
			}
		}
	}
	return false
}

// intrinsic matches a rendered Ref or GetAtt (${AWS::Partition} holds colons).
var intrinsic = regexp.MustCompile(`\$\{[^}]*\}`)

// covers reports whether a resource list can match an EC2 resource of
// typ ("instance", "launch-template"): "*", an ARN of that type, or an ARN
// whose service or resource part is a wildcard. With wildcardOnly, an ARN
// naming one resource of the type does not count.
func covers(resources []string, typ string, wildcardOnly bool) bool {
	for _, r := range resources {
		if r == "*" {
			return true
		}
		parts := strings.SplitN(intrinsic.ReplaceAllString(r, "x"), ":", 6)
		if len(parts) < 6 {
			continue
		}
		service, res := parts[2], parts[5]
		if service != "ec2" && !strings.ContainsAny(service, "*?") {
			continue
		}
		if strings.HasPrefix(res, "*") || strings.HasPrefix(res, "?") {
			return true
		}
		if name, ok := strings.CutPrefix(res, typ+"/"); ok {
			if !wildcardOnly || strings.ContainsAny(name, "*?") {
				return true
			}
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
