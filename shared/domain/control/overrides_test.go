package control

import (
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/scaling"
)

func TestApplyOverrides(t *testing.T) {
	base := testConfig()
	base.Policy.Mode = scaling.ForecastOnly
	tests := []struct {
		name    string
		raw     string
		check   func(c Config) bool
		wantErr string
	}{
		{name: "empty keeps the defaults", raw: "  ", check: func(c Config) bool { return c.Policy.Mode == scaling.ForecastOnly }},
		{name: "act with bounds and windows", raw: `{"mode":"act","min":2,"max":40,"scale_in_window":"15m","signal_trip":0.08,"calibration_quantile":0.99}`, check: func(c Config) bool {
			return c.Policy.Mode == scaling.Act && c.Policy.Min == 2 && c.Policy.Max == 40 && c.Policy.ScaleInWindow == 15*time.Minute && c.Signal.Trip == 0.08 && c.Calibration.Quantile == 0.99
		}},
		{name: "raise max", raw: `{"over_max":"raise","max_buffer_pct":25,"allow_resize":true}`, check: func(c Config) bool {
			return c.Policy.OverMax == scaling.RaiseMax && c.Policy.MaxBufferPct == 25 && c.Policy.AllowResize
		}},
		{name: "unknown field", raw: `{"maximum":3}`, wantErr: `unknown field "maximum"`},
		{name: "bad duration", raw: `{"scale_in_window":"ten minutes"}`, wantErr: `scale_in_window "ten minutes"`},
		{name: "invalid value", raw: `{"mode":"yolo","target_utilization":3}`, wantErr: "target utilization 3"},
		{name: "not json", raw: `{"mode":`, wantErr: "decoding policy overrides"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ApplyOverrides(base, []byte(tc.raw))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want it to contain %q", err, tc.wantErr)
				}
				if c.Policy.Mode != base.Policy.Mode || c.Policy.Max != base.Policy.Max {
					t.Fatal("a refused override changed the config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config after %s: %+v", tc.raw, c)
			}
		})
	}
}
