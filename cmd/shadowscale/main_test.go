package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
		// emptyOut / emptyErr: that stream must stay empty.
		emptyOut, emptyErr bool
		// plane: the case needs the operator commands, which a build
		// with the tag sim (make run) leaves out.
		plane bool
	}{
		{name: "no args", args: nil, wantCode: 2, wantErr: "Usage: shadowscale <command>", emptyOut: true},
		{name: "help", args: []string{"help"}, wantCode: 0, wantOut: "Commands:", emptyErr: true},
		{name: "help lists the plane commands", args: []string{"--help"}, wantCode: 0, wantOut: "forecast --group", emptyErr: true, plane: true},
		{name: "unknown", args: []string{"frobnicate"}, wantCode: 2, wantErr: `unknown command "frobnicate"`, emptyOut: true},
		{name: "help unknown", args: []string{"help", "frobnicate"}, wantCode: 2, wantErr: "unknown command", emptyOut: true},
		{name: "a command's help asked for goes to stdout", args: []string{"version", "-h"}, wantCode: 0, wantOut: "Usage: shadowscale version", emptyErr: true},
		{name: "--help too", args: []string{"groups", "--help"}, wantCode: 0, wantOut: "Usage: shadowscale groups", emptyErr: true, plane: true},
		{name: "help of a command", args: []string{"help", "mode"}, wantCode: 0, wantOut: "forecast-only|act", emptyErr: true, plane: true},
		{name: "forecast -h shows both forecasts", args: []string{"forecast", "-h"}, wantCode: 0, wantOut: "forecast --group G", emptyErr: true, plane: true},
		{name: "help forecast --group shows the plane's", args: []string{"help", "forecast", "--group"}, wantCode: 0, wantOut: "saved state", emptyErr: true, plane: true},
		{name: "a usage error goes to stderr", args: []string{"version", "extra"}, wantCode: 2, wantErr: `unexpected argument "extra"`, emptyOut: true},
		{name: "a bad flag", args: []string{"status", "--frob"}, wantCode: 2, wantErr: "flag provided but not defined", emptyOut: true, plane: true},
		{name: "status needs --group", args: []string{"status"}, wantCode: 2, wantErr: "--group G is required", emptyOut: true, plane: true},
		{name: "decisions --since must be positive", args: []string{"decisions", "--group", "g", "--since", "-1h"}, wantCode: 2, wantErr: "--since", emptyOut: true, plane: true},
		{name: "mode wants a mode", args: []string{"mode", "--group", "g", "sometimes"}, wantCode: 2, wantErr: `the mode "sometimes"`, emptyOut: true, plane: true},
		{name: "mode takes flags after the mode", args: []string{"mode", "--group", "g", "act", "--frob"}, wantCode: 2, wantErr: "flag provided but not defined", emptyOut: true, plane: true},
		{name: "help of a subcommand", args: []string{"help", "bench", "forecast"}, wantCode: 0, wantOut: "-horizon", emptyErr: true},
		{name: "version", args: []string{"version"}, wantCode: 0, wantOut: "shadowscale ", emptyErr: true},
		{name: "version --json", args: []string{"version", "--json"}, wantCode: 0, wantOut: `"platform":`, emptyErr: true},
	}
	_, havePlane := commands["status"]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.plane && !havePlane {
				t.Skip("built with the tag sim: no operator commands")
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d (stderr: %s)", code, tc.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("stdout %q does not contain %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errOut.String(), tc.wantErr) {
				t.Fatalf("stderr %q does not contain %q", errOut.String(), tc.wantErr)
			}
			if tc.emptyOut && out.Len() > 0 {
				t.Errorf("stdout should be empty: %q", out.String())
			}
			if tc.emptyErr && errOut.Len() > 0 {
				t.Errorf("stderr should be empty: %q", errOut.String())
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, 0},
		{"failure", errors.New("boom"), 1},
		{"usage", usageErrorf("bad"), 2},
		{"no stack", noStackf("stack %q", "x"), 3},
		{"no group, wrapped", fmt.Errorf("status: %w", noGroupf("group %q", "g")), 4},
		{"not confirmed", needConfirmf("say --yes"), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
	if got := noGroupf("group %q", "g").Error(); got != `group "g"` {
		t.Errorf("the message carries no code: %q", got)
	}
}

func TestHasFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string
		want bool
	}{
		{[]string{"--group", "g"}, "group", true},
		{[]string{"-group=g"}, "group", true},
		{[]string{"--trace", "f.csv"}, "group", false},
		{[]string{"group"}, "group", false},
		{[]string{"--", "--group"}, "group", false},
		{[]string{"--groups"}, "group", false},
		{[]string{"-h"}, "h", true},
	} {
		if got := hasFlag(tc.args, tc.name); got != tc.want {
			t.Errorf("hasFlag(%q, %q) = %v, want %v", tc.args, tc.name, got, tc.want)
		}
	}
	if _, havePlane := commands["status"]; havePlane { // not with the tag sim: forecast is the trace's alone
		if c := pick("forecast", []string{"--group", "g"}); c == nil || !strings.Contains(c.usage, "--group") {
			t.Errorf("forecast --group picks %+v", c)
		}
	}
	if c := pick("forecast", []string{"--trace", "f"}); c == nil || c != commands["forecast"] {
		t.Errorf("forecast --trace picks %+v", c)
	}
}
