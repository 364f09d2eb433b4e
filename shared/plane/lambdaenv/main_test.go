package lambdaenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRunMain(t *testing.T) {
	full := map[string]string{EnvStack: "s", EnvTable: "t", EnvLogLevel: "debug"}
	tests := []struct {
		name      string
		env       map[string]string
		startErr  error
		started   bool
		wantInLog string
	}{
		{"bad configuration: start is not called", map[string]string{EnvTable: "t"}, nil, false, EnvStack},
		{"start fails", full, errors.New("no credentials"), true, "no credentials"},
		{"the runtime returns", full, nil, true, "the Lambda runtime returned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			started := false
			var gotLevel slog.Level
			code := runMain(func(k string) string { return tt.env[k] }, &out, "forecaster", LoadForecaster,
				func(c Forecaster, log *slog.Logger) error {
					started = true
					gotLevel = c.Level()
					log.Debug("wiring")
					return tt.startErr
				})
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if started != tt.started {
				t.Fatalf("start called: %v, want %v", started, tt.started)
			}
			if tt.started && gotLevel != slog.LevelDebug {
				t.Errorf("level %v, want debug from %s", gotLevel, EnvLogLevel)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var last map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
				t.Fatalf("last log line %q: %v", lines[len(lines)-1], err)
			}
			if last["msg"] != "not started" && last["message"] != "not started" {
				t.Errorf("last line %v, want the not-started message", last)
			}
			if last["function"] != "forecaster" {
				t.Errorf("function %v, want forecaster", last["function"])
			}
			if !strings.Contains(out.String(), tt.wantInLog) {
				t.Errorf("log %q does not name %q", out.String(), tt.wantInLog)
			}
		})
	}
}
