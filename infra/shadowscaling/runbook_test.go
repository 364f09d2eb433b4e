package shadowscaling

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryAlarmLinksItsRunbook: every alarm's description ends with the
// runbook address and a section that docs/RUNBOOK.md has, at the address
// the operator configured.
func TestEveryAlarmLinksItsRunbook(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## ([a-z0-9-]+)$`).FindAllStringSubmatch(string(doc), -1) {
		sections[m[1]] = true
	}
	cfg := testConfig()
	cfg.RunbookURL = "https://wiki.example.com/shadowscale/RUNBOOK.md"
	s := synth(t, cfg, nil)
	alarms := s.resources("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarm in the template")
	}
	link := regexp.MustCompile(`\. Runbook: ` + regexp.QuoteMeta(cfg.RunbookURL) + `#([a-z0-9-]+)$`)
	for id, p := range alarms {
		props, _ := p["Properties"].(map[string]any)
		desc, _ := props["AlarmDescription"].(string)
		m := link.FindStringSubmatch(desc)
		switch {
		case m == nil:
			t.Errorf("alarm %s: description %q has no runbook link", id, desc)
		case !sections[m[1]]:
			t.Errorf("alarm %s links section %q, which docs/RUNBOOK.md lacks", id, m[1])
		}
	}
	if _, err := ConfigFromContext(getter(map[string]any{"runbookUrl": "docs/RUNBOOK.md#x"})); err == nil || !strings.Contains(err.Error(), "runbookUrl") {
		t.Errorf("a runbookUrl that is no address: %v", err)
	}
}
