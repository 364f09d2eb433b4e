//go:build !sim

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

func TestReadSettings(t *testing.T) {
	fn := map[string]string{"SHADOWSCALE_MODE": "act", "SHADOWSCALE_POLICY": `{"per_instance": 600, "max": 8}`, "SHADOWSCALE_GROUPS": " web , api,"}
	for _, tc := range []struct {
		name       string
		fn         map[string]string
		env        map[string]string
		wantMode   string
		wantPer    float64
		wantGroups int
		wantSource string
		wantErr    bool
	}{
		{name: "the forecaster's", fn: fn, wantMode: "act", wantPer: 600, wantGroups: 2, wantSource: "forecaster function f"},
		{name: "defaults", wantMode: "forecast-only", wantSource: "defaults"},
		{name: "the environment over the forecaster's", fn: fn, env: map[string]string{"SHADOWSCALE_MODE": "forecast-only"}, wantMode: "forecast-only", wantPer: 600, wantGroups: 2, wantSource: "forecaster function f, overridden by the environment"},
		{name: "the environment alone", env: map[string]string{"SHADOWSCALE_POLICY": `{"per_instance": 50}`}, wantMode: "forecast-only", wantPer: 50, wantSource: "environment"},
		{name: "a policy that is not JSON", env: map[string]string{"SHADOWSCALE_POLICY": `per_instance=5`}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"SHADOWSCALE_MODE", "SHADOWSCALE_POLICY", "SHADOWSCALE_GROUPS"} {
				t.Setenv(k, "")
				unsetenv(t, k)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			source := "defaults"
			if tc.fn != nil {
				source = "forecaster function f"
			}
			s, err := readSettings(tc.fn, source)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want an error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if s.Mode != tc.wantMode || s.PerInstance != tc.wantPer || len(s.Groups) != tc.wantGroups || s.Source != tc.wantSource {
				t.Errorf("settings %+v, want mode %s, per instance %v, %d groups, source %q", s, tc.wantMode, tc.wantPer, tc.wantGroups, tc.wantSource)
			}
		})
	}
}

func TestModeAndCapacityOf(t *testing.T) {
	p := &plane{Settings: settings{Mode: "act", PerInstance: 600}}
	none := &plane{Settings: settings{Mode: "forecast-only"}}
	for _, tc := range []struct {
		name       string
		p          *plane
		tags       map[string]string
		mode, from string
		per        float64
		capSource  string
	}{
		{"the stack's", p, nil, "act", "stack", 600, "policy"},
		{"the group's tags", p, map[string]string{"shadowscale:mode": "forecast-only", "shadowscale:per-instance": "250"}, "forecast-only", "tag", 250, "tag"},
		{"a mode tag not understood", p, map[string]string{"shadowscale:mode": "yolo"}, "forecast-only", `tag "yolo" not understood`, 600, "policy"},
		{"no capacity figure", none, nil, "forecast-only", "stack", 0, "learned from the group's CPU utilization (no figure configured)"},
		{"a bad capacity tag", p, map[string]string{"shadowscale:per-instance": "-3"}, "act", "stack", 0, `tag shadowscale:per-instance="-3" is not a positive number: not forecast`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := asg.Group{Name: "web", Tags: tc.tags, Mode: tc.tags["shadowscale:mode"]}
			mode, from := tc.p.modeOf(g)
			c := tc.p.capacityOf(g)
			if mode != tc.mode || from != tc.from || c.PerInstance != tc.per || c.Source != tc.capSource {
				t.Errorf("mode %s (%s), capacity %+v; want %s (%s), %v (%s)", mode, from, c, tc.mode, tc.from, tc.per, tc.capSource)
			}
		})
	}
}

func TestShadowHealth(t *testing.T) {
	running := &shadowRow{ID: "i-s", State: "running"}
	active := &recordRow{Status: "active", ShadowID: "i-s"}
	for _, tc := range []struct {
		name     string
		enrolled bool
		l        liveRow
		want     string
	}{
		{"ok", true, liveRow{Shadow: running, Record: active}, "ok"},
		{"not enrolled", false, liveRow{}, "none (group not enrolled)"},
		{"none yet", true, liveRow{}, "no shadow yet (the launch handler or the next reconcile makes it)"},
		{"launching", true, liveRow{Record: &recordRow{Status: "launching"}}, "record launching"},
		{"gone", true, liveRow{Record: active}, "shadow gone (the next reconcile replaces it)"},
		{"another shadow than the record's", true, liveRow{Shadow: &shadowRow{ID: "i-other", State: "running"}, Record: active}, "shadow gone (the next reconcile replaces it)"},
		{"stopped", true, liveRow{Shadow: &shadowRow{ID: "i-s", State: "stopped"}, Record: active}, "shadow stopped"},
		{"impaired", true, liveRow{Shadow: &shadowRow{ID: "i-s", State: "running", Impaired: true}, Record: active}, "shadow impaired (status checks)"},
		{"no record", true, liveRow{Shadow: running}, "no record (the reconciler adopts or retires the shadow)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shadowHealth(tc.enrolled, tc.l); got != tc.want {
				t.Errorf("shadowHealth = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewestMinutes(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	got := newestMinutes([]mutation.ResourceCount{
		{Minute: t0.Add(time.Minute), Resource: "a", LiveApplied: 20},
		{Minute: t0, Resource: "a", LiveApplied: 10},
		{Minute: t0, Resource: "b", LiveApplied: 5},
	})
	if len(got) != 2 || got["a"].LiveApplied != 20 || got["b"].LiveApplied != 5 {
		t.Errorf("newestMinutes = %+v", got)
	}
}

// unsetenv removes k for the test (t.Setenv restores it after).
func unsetenv(t *testing.T, k string) {
	t.Helper()
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

func TestOwnScalingWarnings(t *testing.T) {
	tt := asg.Scaling{Name: "cpu50", Kind: asg.ScalingTargetTracking, Enabled: true}
	ttNoIn := asg.Scaling{Name: "backstop", Kind: asg.ScalingTargetTracking, Enabled: true, DisableScaleIn: true}
	minOnly := asg.Scaling{Name: "nightly-min", Kind: asg.ScalingScheduled, Enabled: true}
	for _, tc := range []struct {
		name        string
		own         []asg.Scaling
		blocked     int
		wantInWarns []string
	}{
		{"none", nil, 0, nil},
		{"target tracking that scales in blocks", []asg.Scaling{tt}, 1, []string{"will NOT act", `"cpu50"`}},
		{"a backstop and a min-only schedule do not", []asg.Scaling{ttNoIn, minOnly}, 0, []string{"do not block acting", `"backstop"`, `"nightly-min"`}},
		{"both kinds, each said", []asg.Scaling{tt, ttNoIn}, 1, []string{"will NOT act", "do not block acting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocked, warns := ownScalingWarnings(tc.own, []string{"earlier"})
			if len(blocked) != tc.blocked {
				t.Errorf("blocked by %v, want %d", blocked, tc.blocked)
			}
			all := strings.Join(warns, "\n")
			if !strings.HasPrefix(all, "earlier") {
				t.Errorf("the earlier warnings were dropped: %q", all)
			}
			for _, w := range tc.wantInWarns {
				if !strings.Contains(all, w) {
					t.Errorf("warnings %q do not say %q", all, w)
				}
			}
			if len(tc.own) == 0 && len(warns) != 1 {
				t.Errorf("warnings %q for a group without policies", warns)
			}
		})
	}
}

// TestWaitingOnLaunch: unenroll does not delete the launch hook while an
// instance waits on a launch hook (AWS would abandon its launch).
func TestWaitingOnLaunch(t *testing.T) {
	g := asg.Group{Name: "web", Instances: []asg.Instance{
		{ID: "i-1", Lifecycle: "InService"},
		{ID: "i-2", Lifecycle: "Pending:Wait"},
		{ID: "i-3", Lifecycle: "Pending:Proceed"},
		{ID: "i-4", Lifecycle: "Warmed:Pending:Wait"},
		{ID: "i-5", Lifecycle: "Terminating:Wait"},
		{ID: "i-6", Lifecycle: "Pending"},
	}}
	if got := strings.Join(waitingOnLaunch(g), ","); got != "i-2,i-4" {
		t.Errorf("waiting on a launch hook: %s, want i-2,i-4", got)
	}
	if got := waitingOnLaunch(asg.Group{Name: "idle"}); len(got) != 0 {
		t.Errorf("an empty group waits: %v", got)
	}
}

// TestLaunchActionsReach: enroll puts the launch hook only on a group
// whose lifecycle actions the stack's Auto Scaling rules pass on.
func TestLaunchActionsReach(t *testing.T) {
	tests := []struct {
		name    string
		outputs map[string]string
		g       asg.Group
		want    bool
		why     string
	}{
		{"every group", map[string]string{"AutoScalingEventGroups": "*"}, asg.Group{Name: "batch", EnrolledByTag: true}, true, ""},
		{"named", map[string]string{"AutoScalingEventGroups": "api,web"}, asg.Group{Name: "web"}, true, ""},
		{"not named", map[string]string{"AutoScalingEventGroups": "api,web"}, asg.Group{Name: "batch", EnrolledByTag: true}, false, "match only its named groups (api,web)"},
		{"no word from the stack, enrolled by name", nil, asg.Group{Name: "web", EnrolledByName: true}, true, ""},
		{"no word from the stack", nil, asg.Group{Name: "batch", EnrolledByTag: true}, false, "no AutoScalingEventGroups output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := (&plane{Outputs: tc.outputs}).launchActionsReach(tc.g)
			if ok != tc.want || !strings.Contains(why, tc.why) || (tc.want && why != "") {
				t.Errorf("reach %v (%q), want %v (%q)", ok, why, tc.want, tc.why)
			}
		})
	}
}
