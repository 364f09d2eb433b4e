package shadowscaling

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// assetDir is a temporary stand-in for the Makefile's build output: a
// dummy bootstrap per function and dummy agent binaries, so the tests need
// no cross-compile.
var assetDir string

func TestMain(m *testing.M) {
	// The jsii runtime starts before TestMain runs: its Node version banner
	// is silenced by the environment (make infra-test sets
	// JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20), not from here.
	code := func() int {
		dir, err := os.MkdirTemp("", "shadowscale-assets-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "creating asset dir:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		for _, fn := range Functions {
			if err := writeFile(filepath.Join(dir, "lambda", fn, "bootstrap"), "#!/bin/sh\n# dummy "+fn+"\n"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		for _, arch := range []string{"arm64", "amd64"} {
			if err := writeFile(filepath.Join(dir, "agent", "shadow-agent-linux-"+arch), "dummy agent "+arch); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		assetDir = dir
		return m.Run()
	}()
	jsii.Close()
	os.Exit(code)
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// try runs an assertion and turns a jsii panic (how a failed
// awscdk/assertions check surfaces in Go) into a test error, so one
// failure does not abort the whole test binary.
func try(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// synthesized is one synthesized stack: the assertions template and its
// JSON decoded, for checks that are simpler in Go.
type synthesized struct {
	stack awscdk.Stack
	plane *ShadowScaling
	tpl   assertions.Template
	json  []byte
	doc   map[string]any
}

// synth builds a stack from cfg in its own app. before, when not nil,
// may add to the construct before synthesis.
func synth(t *testing.T, cfg Config, before func(*ShadowScaling)) *synthesized {
	t.Helper()
	var s synthesized
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("synthesizing: %v", r)
			}
		}()
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
		s.stack, s.plane, err = NewShadowScaleStack(app, StackProps{Config: cfg})
		if err != nil {
			return
		}
		if before != nil {
			before(s.plane)
		}
		s.tpl = assertions.Template_FromStack(s.stack, nil)
		s.json, err = json.Marshal(s.tpl.ToJSON())
	}()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(s.json, &s.doc); err != nil {
		t.Fatalf("decoding template: %v", err)
	}
	return &s
}

// testConfig is a configuration with two named groups and an alarm topic.
func testConfig() Config {
	c := DefaultConfig()
	c.StackName = "ShadowScaleTest"
	c.Groups = []string{"web", "api"}
	c.AssetDir = assetDir
	c.AlarmEmails = []string{"ops@example.com"}
	c.Policy = `{"thresholds":{"delta":0.2}}`
	return c
}

// resources returns the template's resources of a type, by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.doc["Resources"].(map[string]any) {
		m := r.(map[string]any)
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// props returns a resource's Properties.
func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// functionByName finds the logical id of a function by its Description.
func (s *synthesized) function(t *testing.T, fn string) (string, map[string]any) {
	t.Helper()
	for id, r := range s.resources("AWS::Lambda::Function") {
		if props(r)["Description"] == "shadowscale "+fn {
			return id, props(r)
		}
	}
	t.Fatalf("no function %s in the template", fn)
	return "", nil
}

// flat renders a CloudFormation value as text (Fn::Join joined, Ref and
// GetAtt as ${...}) for substring checks.
func flat(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, flat(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		if r, ok := x["Ref"].(string); ok {
			return "${" + r + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("${%v.%v}", g[0], g[1])
		}
		if b, ok := x["Fn::Base64"]; ok {
			return flat(b)
		}
		if sub, ok := x["Fn::Sub"]; ok {
			if l, ok := sub.([]any); ok && len(l) > 0 {
				return flat(l[0])
			}
			return flat(sub)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
