package lambdaenv_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

// TestLoadForecasterConcurrencyAndReserve: the forecaster's group
// concurrency and deadline reserve, unset (the handler's defaults), set,
// and refused out of range, every problem at once.
func TestLoadForecasterConcurrencyAndReserve(t *testing.T) {
	f, err := lambdaenv.LoadForecaster(lambdaenv.Map(good()))
	if err != nil || f.Concurrency != 0 || f.Reserve != 0 {
		t.Fatalf("unset: %+v, %v", f, err)
	}
	f, err = lambdaenv.LoadForecaster(lambdaenv.Map(with(good(), lambdaenv.EnvForecasterConcurrency, "16", lambdaenv.EnvForecasterReserve, "15s")))
	if err != nil || f.Concurrency != 16 || f.Reserve != 15*time.Second {
		t.Fatalf("set: %+v, %v", f, err)
	}
	for _, tc := range []struct{ conc, reserve, want string }{
		{"65", "", "SHADOWSCALE_FORECASTER_CONCURRENCY=65"},
		{"-1", "", "SHADOWSCALE_FORECASTER_CONCURRENCY=-1"},
		{"many", "", `SHADOWSCALE_FORECASTER_CONCURRENCY="many"`},
		{"", "10", `SHADOWSCALE_FORECASTER_RESERVE="10"`},
		{"", "500ms", `SHADOWSCALE_FORECASTER_RESERVE="500ms"`},
		{"", "1h", `SHADOWSCALE_FORECASTER_RESERVE="1h"`},
	} {
		env := good()
		if tc.conc != "" {
			env[lambdaenv.EnvForecasterConcurrency] = tc.conc
		}
		if tc.reserve != "" {
			env[lambdaenv.EnvForecasterReserve] = tc.reserve
		}
		env[lambdaenv.EnvMode] = "yolo"
		_, err := lambdaenv.LoadForecaster(lambdaenv.Map(env))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "yolo") {
			t.Errorf("%+v: error %v, want %s and the mode, at once", tc, err, tc.want)
		}
	}
}
