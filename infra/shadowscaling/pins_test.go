package shadowscaling

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestEmulatorPinAgrees: localstack/run-moto.sh installs the Lambda Runtime
// Interface Emulator into .cache/tools, where the e2e harness installs it
// too: both must pin the same version, or one would use the other's binary
// at a version it was not written for.
func TestEmulatorPinAgrees(t *testing.T) {
	re := regexp.MustCompile(`github\.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@[A-Za-z0-9.+-]+`)
	pin := func(path string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		all := re.FindAllString(string(b), -1)
		if len(all) == 0 {
			t.Fatalf("%s pins no emulator version", path)
		}
		for _, p := range all[1:] {
			if p != all[0] {
				t.Errorf("%s pins two versions: %s and %s", path, all[0], p)
			}
		}
		return all[0]
	}
	script, harness := pin("localstack/run-moto.sh"), pin("shared/testing/e2e/harness/rie.go")
	if script != harness {
		t.Errorf("localstack/run-moto.sh installs %s, the e2e harness %s", script, harness)
	}
}

// TestAgentPortAgrees: the stack's default agentPort (what the launch
// template starts the agent with, the security groups open and the
// functions are told) is the plane's shadow.DefaultAgentPort, the port the
// functions use when they are told none.
func TestAgentPortAgrees(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "domain", "shadow", "types.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const DefaultAgentPort = (\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("shared/domain/shadow/types.go declares no DefaultAgentPort")
	}
	if got := strconv.Itoa(DefaultConfig().AgentPort); got != string(m[1]) {
		t.Errorf("the stack's default agentPort is %s, the plane's DefaultAgentPort %s", got, m[1])
	}
}

// TestEnrollContextKeyAgrees: the encryption context key the instance
// roles' kms:Decrypt condition names is the one the plane seals under and
// the agent decrypts under (shared/agent's EnrollContextKey).
func TestEnrollContextKeyAgrees(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "agent", "enroll.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const EnrollContextKey = "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("shared/agent/enroll.go declares no EnrollContextKey")
	}
	if string(m[1]) != EnrollContextKey {
		t.Errorf("the stack's IAM conditions name %q, the agent and the plane %q", EnrollContextKey, m[1])
	}
}
