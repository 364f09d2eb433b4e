//go:build e2e

package e2e_test

import (
	"os"
	"strings"
	"testing"
)

// keepLogs writes what a failed test's component logged to a file and
// names the file in one line. Printed inline, hundreds of log lines would
// push the failure's own message far above the test's FAIL line, out of
// sight of whoever reads the end of the output (a CI excerpt). The file
// is kept: it is what the failure is read from.
func keepLogs(t *testing.T, what, text string) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_", "'", "").Replace(t.Name() + "-" + what)
	f, err := os.CreateTemp("", "shadowscale-e2e-"+name+"-*.log")
	if err != nil {
		t.Logf("%s (%d bytes) not written: %v", what, len(text), err)
		return
	}
	_, werr := f.WriteString(text)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		t.Logf("%s (%d bytes): writing %s: %v", what, len(text), f.Name(), werr)
		return
	}
	t.Logf("%s (%d lines): %s", what, strings.Count(text, "\n"), f.Name())
}
