package shadowscaling

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/shadowscale/shadowscale/infra/policycheck"
)

// deadLetterBucket returns the logical id of the dead-letter bucket.
func (s *synthesized) deadLetterBucket(t *testing.T) string {
	t.Helper()
	buckets := s.resources("AWS::S3::Bucket")
	if len(buckets) != 1 {
		t.Fatalf("%d buckets, want the dead-letter bucket alone", len(buckets))
	}
	for id := range buckets {
		return id
	}
	return ""
}

// TestDeadLetterBucket: encrypted (SSE-S3), no public access, ACLs off,
// TLS only, letters expire after 14 days as the queue's do; kept on
// destroy when deletion protection is on; named to the fanout
// (SHADOWSCALE_DLQ_BUCKET) and in the outputs.
func TestDeadLetterBucket(t *testing.T) {
	s := demo(t)
	id := s.deadLetterBucket(t)
	try(t, "bucket properties", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
			}},
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
			"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
			"LifecycleConfiguration": map[string]any{"Rules": []any{
				map[string]any{"Id": "expire-dead-letters", "ExpirationInDays": 14, "Status": "Enabled"},
			}},
		})
	})
	try(t, "TLS only", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"Bucket": map[string]any{"Ref": id},
			"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Effect":    "Deny",
					"Action":    "s3:*",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				})}),
			}),
		})
	})
	try(t, "kept with deletion protection", func() {
		s.tpl.HasResource(jsii.String("AWS::S3::Bucket"), map[string]any{"DeletionPolicy": "Retain"})
	})
	cfg := testConfig()
	cfg.DeletionProtection = false
	off := synth(t, cfg, nil)
	try(t, "deleted without deletion protection", func() {
		off.tpl.HasResource(jsii.String("AWS::S3::Bucket"), map[string]any{"DeletionPolicy": "Delete"})
	})

	_, fn := s.function(t, FnFanout)
	vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if got := flat(vars["SHADOWSCALE_DLQ_BUCKET"]); got != "${"+id+"}" {
		t.Errorf("SHADOWSCALE_DLQ_BUCKET = %s, want the bucket's name", got)
	}
	outs, _ := s.doc["Outputs"].(map[string]any)
	o, _ := outs["DeadLetterBucketName"].(map[string]any)
	if got := flat(o["Value"]); got != "${"+id+"}" {
		t.Errorf("output DeadLetterBucketName = %s, want the bucket's name", got)
	}
}

// bucketStatement is one IAM statement naming the dead-letter bucket, as
// the test compares it.
type bucketStatement struct {
	Principal string // the function whose role has it
	Sid       string
	Actions   string
	Resources string
	Condition string
}

// bucketStatements returns every Allow statement of the template's IAM
// policies whose resources name the bucket, with the function it belongs
// to (its role's), sorted.
func (s *synthesized) bucketStatements(t *testing.T, bucket string) []bucketStatement {
	t.Helper()
	fnOfRole := map[string]string{}
	for _, fn := range Functions {
		_, p := s.function(t, fn)
		fnOfRole[strings.TrimSuffix(flat(p["Role"]), ".Arn}")+"}"] = fn
	}
	var out []bucketStatement
	for _, r := range s.resources("AWS::IAM::Policy") {
		p := props(r)
		var who []string
		for _, role := range asAnyList(p["Roles"]) {
			name := fnOfRole[flat(role)]
			if name == "" {
				name = flat(role)
			}
			who = append(who, name)
		}
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := st.(map[string]any)
			res := list(m["Resource"])
			named := false
			var rs []string
			for _, x := range res {
				f := flat(x)
				rs = append(rs, f)
				named = named || strings.Contains(f, "${"+bucket+".Arn}") || strings.Contains(f, "${"+bucket+"}")
			}
			if !named || m["Effect"] != "Allow" {
				continue
			}
			var acts []string
			for _, a := range list(m["Action"]) {
				acts = append(acts, flat(a))
			}
			sort.Strings(acts)
			sort.Strings(rs)
			cond := ""
			if c, ok := m["Condition"]; ok {
				b, _ := json.Marshal(c)
				cond = string(b)
			}
			sid, _ := m["Sid"].(string)
			for _, w := range who {
				out = append(out, bucketStatement{Principal: w, Sid: sid, Actions: strings.Join(acts, ","), Resources: strings.Join(rs, ","), Condition: cond})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sid < out[j].Sid })
	return out
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// TestDeadLetterBucketGrants: the only rights on the bucket are the
// fanout's, exactly: PutObject under dead-letters/ (its oversized letters),
// PutObject under aws/lambda/ and ListBucket (what Lambda needs of the
// execution role for the mapping's S3 on-failure destination). No read, no
// delete, no wildcard action, no other principal; the policy check finds
// nothing.
func TestDeadLetterBucketGrants(t *testing.T) {
	s := demo(t)
	id := s.deadLetterBucket(t)
	arn := "${" + id + ".Arn}"
	want := []bucketStatement{
		{Principal: FnFanout, Sid: "OnFailureDestinationList", Actions: "s3:ListBucket", Resources: arn},
		{Principal: FnFanout, Sid: "OnFailureDestinationPut", Actions: "s3:PutObject", Resources: arn + "/aws/lambda/*"},
		{Principal: FnFanout, Sid: "PutOversizedDeadLetters", Actions: "s3:PutObject", Resources: arn + "/dead-letters/*"},
	}
	got := s.bucketStatements(t, id)
	if len(got) != len(want) {
		t.Fatalf("statements on the bucket:\n got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	vs, err := policycheck.CheckTemplate(s.json, "ShadowScaleTest")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Errorf("policy violation: %v", v)
	}
}

// TestDeadLetterBucketGrantsCanFail: the grants test and the policy check
// see what CDK's S3OnFailureDestination would have granted (the bucket's
// read-write: s3:GetObject*, s3:List*, s3:DeleteObject*, ...).
func TestDeadLetterBucketGrantsCanFail(t *testing.T) {
	bad := synth(t, testConfig(), func(p *ShadowScaling) {
		p.DeadLetterBucket.GrantReadWrite(p.Functions[FnFanout], nil)
	})
	id := bad.deadLetterBucket(t)
	if got := bad.bucketStatements(t, id); len(got) <= 3 {
		t.Errorf("the read-write grant is not seen: %+v", got)
	}
	vs, err := policycheck.CheckTemplate(bad.json, "ShadowScaleTest")
	if err != nil {
		t.Fatal(err)
	}
	wild := 0
	for _, v := range vs {
		if v.Rule == policycheck.RuleWildcardAction {
			wild++
		}
	}
	if wild == 0 {
		t.Errorf("the policy check did not report the read-write grant's wildcard actions: %v", vs)
	}
}

// TestMaxRecordAgeFollowsRetention: the fan-out mapping's maximum record
// age is a day below the stream's retention, whatever the retention; a
// retention that leaves no day of retries (under 48 hours) is refused.
func TestMaxRecordAgeFollowsRetention(t *testing.T) {
	cfg := testConfig()
	cfg.StreamRetentionHours = 48
	s := synth(t, cfg, nil)
	try(t, "48 hours' retention", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::Kinesis::Stream"), map[string]any{"RetentionPeriodHours": 48})
		s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventSourceMapping"), map[string]any{"MaximumRecordAgeInSeconds": 24 * 3600})
	})
	for _, h := range []int{24, 47, 169} {
		cfg.StreamRetentionHours = h
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "streamRetentionHours") {
			t.Errorf("retention %d h: %v, want it refused", h, err)
		}
	}
	if got := MaxRecordAgeHours(DefaultConfig().StreamRetentionHours); got != 144 {
		t.Errorf("default maximum record age %d h, want 144 (7 days less one)", got)
	}
}

// TestDeadLetterPinsAgree: what the stack grants and sizes is what the
// fan-out's dead-letter writer does (shared/adapters/awssdk/sqs.go): its
// default object prefix and the maximum message size it batches against.
func TestDeadLetterPinsAgree(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "adapters", "awssdk", "sqs.go"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`opt\.Prefix = "([^"]+)"`).FindSubmatch(b); m == nil || string(m[1]) != DeadLetterPrefix {
		t.Errorf("the dead-letter writer's default prefix is %q, the stack grants %q", m, DeadLetterPrefix)
	}
	if !regexp.MustCompile(`SQSMaxMessageBytes\s*=\s*1 << 20`).Match(b) || DeadLetterMaxMessageBytes != 1<<20 {
		t.Errorf("the dead-letter writer's SQSMaxMessageBytes and the queue's maximum message size (%d) differ", DeadLetterMaxMessageBytes)
	}
}
