//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/testing/e2e/harness"
)

func runtimeArch() string { return runtime.GOARCH }

// coldInit starts a bootstrap fresh under the emulator five times with env
// and reports the median and worst cold init.
func coldInit(t *testing.T, name, bin string, fenv map[string]string) {
	t.Helper()
	ctx := context.Background()
	rie, err := harness.RIE(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inits []time.Duration
	for range 5 {
		f, err := harness.StartFunction(ctx, rie, name, bin, fenv)
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.ColdInit(ctx)
		if err != nil {
			t.Fatalf("%v\n%s", err, f.Logs())
		}
		var reports []harness.Report
		_ = harness.Eventually(ctx, 5*time.Second, func() (bool, error) { reports = f.Reports(); return len(reports) >= 2, nil })
		_ = f.Stop()
		// Two REPORT lines: the cold invocation and the warm one. (Which
		// took longer is not asserted: on a loaded machine a warm
		// invocation can be descheduled longer than the cold start took.)
		if len(reports) != 2 {
			t.Errorf("%s: REPORT lines %+v: want two", name, reports)
		}
		inits = append(inits, d)
	}
	sort.Slice(inits, func(a, b int) bool { return inits[a] < inits[b] })
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	figures.Store("cold init under RIE (median, max of 5): "+name, ms(inits[2])+", "+ms(inits[4]))
	t.Logf("%s cold init under the RIE: median %s, max %s", name, ms(inits[2]), ms(inits[4]))
}

// TestColdInitFanoutForecasterUnderRIE measures the cold init of the
// fanout and forecaster bootstraps (target: under 50 ms). The fanout's
// includes reading the agent key from Secrets Manager.
func TestColdInitFanoutForecasterUnderRIE(t *testing.T) {
	ctx := context.Background()
	w := env.NewWorld(t, harness.WorldOptions{Desired: 1})
	names := []string{"fanout", "forecaster"}
	bins, err := harness.BuildFunctions(ctx, t.TempDir(), names...)
	if err != nil {
		t.Fatal(err)
	}
	fenv := w.FunctionEnv(env)
	fenv[lambdaenv.EnvPolicy] = forecastPolicy
	for _, name := range names {
		coldInit(t, name, bins[name], fenv)
	}
}
