package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// steady writes group minutes of n live mutations from..to (Seen too, as
// the fan-out counts them) and per-resource items for two resources.
func (e *fcEnv) steady(group string, from, to time.Time, n int64) {
	for m := from; !m.After(to); m = m.Add(time.Minute) {
		e.hist.PutGroupMinute(group, mutation.GroupCount{Start: m, Live: n, Shadow: n, Seen: n})
	}
}

// auditBodies decodes the audit records' bodies.
func (e *fcEnv) auditBodies(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range e.audit.Records() {
		var b map[string]any
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestForecasterOutageNeverScalesIn: a group sized for steady demand, then
// 30 minutes in which the fan-out writes nothing for it (no group item:
// an outage of the fan-out or its counters). With the real control loop in
// act mode, run every minute, the group is never scaled in, and every
// decision of those minutes says it had no data. The same 30 minutes with
// the fan-out up but nothing to count (Seen > 0, no mutation: real zero
// demand) do scale it in: the difference is the data, not the demand.
func TestForecasterOutageNeverScalesIn(t *testing.T) {
	for _, tc := range []struct {
		name        string
		quiet       func(e *fcEnv, m time.Time)
		wantScaleIn bool
	}{
		{name: "outage: no group item", quiet: func(*fcEnv, time.Time) {}},
		{name: "outage: an item with nothing seen", quiet: func(e *fcEnv, m time.Time) {
			e.hist.PutGroupMinute("web", mutation.GroupCount{Start: m}) // e.g. a counter write of zeros
		}},
		{name: "the fan-out up, nothing to count", wantScaleIn: true, quiet: func(e *fcEnv, m time.Time) {
			e.hist.PutGroupMinute("web", mutation.GroupCount{Start: m, Seen: 12}) // producers' heartbeats
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFcEnvWith(t, "act", controlLoops(t, `{"per_instance": 600}`))
			g, _ := e.groups.Get("web")
			g.Desired, g.Max = 5, 10
			g.Instances = nil
			for i := range 5 {
				g.Instances = append(g.Instances, asg.Instance{ID: fmt.Sprintf("i-%d", i), Type: "m7g.xlarge", Lifecycle: "InService"})
			}
			e.groups.Put(g)
			// Three hours of 2,400 a minute: 80% of five instances, desired 5.
			e.steady("web", minute("09:00"), minute("12:09"), 2400)
			e.run(t)
			if w := e.groups.Writes(); len(w) != 0 {
				t.Fatalf("steady demand changed the group: %v", w)
			}
			for i := range 30 {
				now := fcNow.Add(time.Duration(i+1) * time.Minute)
				e.clock.Set(now)
				tc.quiet(e, minute("12:10").Add(time.Duration(i)*time.Minute))
				gf := e.run(t).Groups[0]
				if gf.Error != "" || gf.Minutes != 1 {
					t.Fatalf("minute %d: %+v", i, gf)
				}
			}
			scaledIn := false
			for _, w := range e.groups.Writes() {
				var d int
				if _, err := fmt.Sscanf(w, "web desired=%d", &d); err == nil && d < 5 {
					scaledIn = true
				}
			}
			if scaledIn != tc.wantScaleIn {
				t.Errorf("scaled in: %v, want %v (writes %v)", scaledIn, tc.wantScaleIn, e.groups.Writes())
			}
			if tc.wantScaleIn {
				return
			}
			outage := 0
			for _, b := range e.auditBodies(t) {
				if b["minute"].(string) < "2026-11-28T12:10:00Z" {
					continue
				}
				outage++
				ob := b["observation"].(map[string]any)
				if ob["demand"] != nil || ob["no_data"] != true || !strings.Contains(b["reason"].(string), "no data for this minute") {
					t.Errorf("outage minute audited %v: want demand null, no_data and the reason saying so", b)
					break
				}
			}
			if outage != 30 {
				t.Errorf("%d outage minutes audited, want 30", outage)
			}
		})
	}
}

// TestForecasterGuards: whatever the loop decides, a minute without data
// and a group in the middle of a resize are not scaled in nor resized; the
// reason says why and keeps the loop's proposal.
func TestForecasterGuards(t *testing.T) {
	scaleIn := func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		return handlers.Decision{Action: handlers.ActionScaleIn, From: o.Desired, To: o.Desired - 1, Max: g.Max, InstanceType: o.InstanceType, Reason: "the need fell"}
	}
	launch := func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		return launchOne(g, o)
	}
	mixed := []asg.Instance{
		{ID: "i-1", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-2", Type: "m7g.xlarge", Lifecycle: "InService"},
		{ID: "i-3", Type: "m7g.2xlarge", Lifecycle: "InService"}, {ID: "i-4", Type: "m7g.2xlarge", Lifecycle: "Pending"},
	}
	for _, tc := range []struct {
		name       string
		data       bool
		instances  []asg.Instance
		decide     func(handlers.LoopGroup, handlers.Observation) handlers.Decision
		wantWrites string
		wantWhy    string
		wantIn     int // in service, in units of the template's type
	}{
		{name: "data: scale in", data: true, decide: scaleIn, wantWrites: "[web desired=1]", wantWhy: "the need fell", wantIn: 2},
		{name: "no data: no scale-in", decide: scaleIn, wantWrites: "[]", wantWhy: "no data for this minute", wantIn: 2},
		{name: "no data: a scale-out still goes", decide: launch, wantWrites: "[web desired=3]", wantWhy: "no data for this minute (demand unknown", wantIn: 2},
		{name: "mid-resize: no scale-in", data: true, instances: mixed, decide: scaleIn, wantWrites: "[]", wantWhy: "in the middle of a resize: 2 instances are not yet m7g.xlarge", wantIn: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFcEnv(t, "act")
			if tc.instances != nil {
				g, _ := e.groups.Get("web")
				g.Instances = tc.instances
				e.groups.Put(g)
			}
			if tc.data {
				e.traffic("web", "12:05", "12:09", 600, 100)
			} else {
				e.traffic("web", "12:05", "12:08", 600, 100) // 12:09: nothing written
			}
			var fed handlers.Observation
			e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision { fed = o; return tc.decide(g, o) }
			gf := e.run(t).Groups[0]
			if got := fmt.Sprint(e.groups.Writes()); got != tc.wantWrites {
				t.Errorf("writes %s, want %s", got, tc.wantWrites)
			}
			if !strings.Contains(gf.Reason, tc.wantWhy) {
				t.Errorf("reason %q, want %q", gf.Reason, tc.wantWhy)
			}
			if tc.wantWrites == "[]" && !strings.Contains(gf.Reason, "the loop proposed scale-in") {
				t.Errorf("reason %q does not keep the loop's proposal", gf.Reason)
			}
			if fed.InService != tc.wantIn {
				t.Errorf("in service fed %d, want %d", fed.InService, tc.wantIn)
			}
		})
	}
}

// TestForecasterCapacityInTemplateUnits: a group half-way through a resize
// from m7g.xlarge (4 vCPUs) to m7g.2xlarge (8) counts its old instances at
// half of one of the template's type, rounded down over the group.
func TestForecasterCapacityInTemplateUnits(t *testing.T) {
	e := newFcEnv(t, "forecast-only")
	e.groups.SetInstanceType("web", "m7g.2xlarge")
	g, _ := e.groups.Get("web")
	g.Instances = []asg.Instance{
		{ID: "i-1", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-2", Type: "m7g.xlarge", Lifecycle: "InService"},
		{ID: "i-3", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-4", Type: "m7g.2xlarge", Lifecycle: "InService"},
		{ID: "i-5", Type: "m7g.2xlarge", Lifecycle: "Pending:Wait"}, {ID: "i-6", Type: "m7g.xlarge", Lifecycle: "Terminating"},
	}
	e.groups.Put(g)
	e.traffic("web", "12:08", "12:09", 600, 100)
	var fed handlers.Observation
	e.h2(t, func(o handlers.Observation) { fed = o })
	if fed.InService != 2 || fed.Warming != 1 || fed.InstanceType != "m7g.2xlarge" { // 3 x 0.5 + 1 = 2.5
		t.Errorf("fed %+v, want 2 in service, 1 warming, of m7g.2xlarge", fed)
	}
	b := e.auditBodies(t)
	if r := b[len(b)-1]["observation"].(map[string]any)["resizing"]; r != float64(3) {
		t.Errorf("audit resizing %v, want 3", r)
	}
}

// TestForecasterResizeKeepsCapacity: a resize to fewer, bigger instances
// starts an instance refresh and does not lower the desired capacity
// (that would terminate old instances before the new ones serve); a
// refresh already running is said so.
func TestForecasterResizeKeepsCapacity(t *testing.T) {
	for _, tc := range []struct {
		name       string
		running    bool
		wantWrites string
		wantWhy    []string
	}{
		{name: "refresh started", wantWrites: "[web type=m7g.2xlarge web refresh]",
			wantWhy: []string{"new instances are m7g.2xlarge", "instance refresh refresh-web replaces the running instances", "desired capacity kept at 8"}},
		{name: "refresh already running", running: true, wantWrites: "[web refresh web type=m7g.2xlarge]",
			wantWhy: []string{"an instance refresh already running"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFcEnv(t, "act")
			g, _ := e.groups.Get("web")
			g.Desired, g.Max = 8, 8
			e.groups.Put(g)
			if tc.running {
				if _, err := e.groups.StartRefresh(context.Background(), "web"); err != nil {
					t.Fatal(err)
				}
			}
			e.traffic("web", "12:08", "12:09", 600, 100)
			e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
				return handlers.Decision{Action: handlers.ActionResize, From: o.Desired, To: 5, Max: 8, InstanceType: "m7g.2xlarge", Reason: "at max: a bigger type"}
			}
			gf := e.run(t).Groups[0]
			if writes := fmt.Sprint(e.groups.Writes()); writes != tc.wantWrites {
				t.Errorf("writes %s, want %s", writes, tc.wantWrites)
			}
			for _, w := range tc.wantWhy {
				if !gf.Acted || !strings.Contains(gf.Outcome, w) {
					t.Errorf("outcome %q, want %q", gf.Outcome, w)
				}
			}
			if gr, _ := e.groups.Get("web"); gr.Desired != 8 || gf.To != 8 {
				t.Errorf("desired %d (answer %d), want 8 kept", gr.Desired, gf.To)
			}
		})
	}
}

// TestForecasterOwnScaling: a group with scaling of its own that sets its
// desired capacity is forecast and audited but not acted on, with the
// policies named; what cannot fight (target tracking that only scales out,
// a disabled policy, predictive forecast-only, a schedule of the min and
// max) lets the plane act; a listing that fails refuses acting.
func TestForecasterOwnScaling(t *testing.T) {
	for _, tc := range []struct {
		name      string
		own       []asg.Scaling
		fail      bool
		mode      string
		wantActed bool
		wantWhy   string
		wantOwn   string
	}{
		{name: "none", wantActed: true},
		{name: "target tracking", own: []asg.Scaling{{Name: "cpu50", Kind: asg.ScalingTargetTracking, Enabled: true}},
			wantWhy: `not acted: the group's own scaling sets its desired capacity too (target-tracking policy "cpu50")`, wantOwn: `[target-tracking policy "cpu50"]`},
		{name: "step and a schedule of the desired", own: []asg.Scaling{
			{Name: "up", Kind: asg.ScalingStep, Enabled: true}, {Name: "nightly", Kind: asg.ScalingScheduled, Enabled: true, SetsDesired: true}},
			wantWhy: `step policy "up", scheduled action "nightly"`, wantOwn: `[step policy "up" scheduled action "nightly"]`},
		{name: "predictive that scales", own: []asg.Scaling{{Name: "p", Kind: asg.ScalingPredictive, Enabled: true, PredictiveMode: "ForecastAndScale"}},
			wantWhy: `predictive policy "p"`, wantOwn: `[predictive policy "p"]`},
		{name: "what coexists", wantActed: true, own: []asg.Scaling{
			{Name: "backstop", Kind: asg.ScalingTargetTracking, Enabled: true, DisableScaleIn: true},
			{Name: "off", Kind: asg.ScalingSimple, Enabled: false},
			{Name: "p", Kind: asg.ScalingPredictive, Enabled: true, PredictiveMode: "ForecastOnly"},
			{Name: "business-hours-min", Kind: asg.ScalingScheduled, Enabled: true}}},
		{name: "forecast-only: named, not refused", mode: "forecast-only", own: []asg.Scaling{{Name: "cpu50", Kind: asg.ScalingTargetTracking, Enabled: true}},
			wantWhy: "not acted: forecast-only mode", wantOwn: `[target-tracking policy "cpu50"]`},
		{name: "the listing fails", fail: true, wantWhy: "not acted: could not check the group's own scaling policies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := "act"
			if tc.mode != "" {
				mode = tc.mode
			}
			e := newFcEnv(t, mode)
			e.groups.SetScaling("web", tc.own...)
			if tc.fail {
				e.groups.Fail = func(op, _ string) error {
					if op == "own-scaling" {
						return errors.New("Throttling: Rate exceeded")
					}
					return nil
				}
			}
			e.traffic("web", "12:08", "12:09", 600, 100)
			e.decide = launchOne
			gf := e.run(t).Groups[0]
			if gf.Acted != tc.wantActed || !strings.Contains(gf.Outcome, tc.wantWhy) || gf.Error != "" {
				t.Errorf("answer %+v, want acted %v (%s)", gf, tc.wantActed, tc.wantWhy)
			}
			if got := fmt.Sprint(gf.OwnScaling); tc.wantOwn != "" && got != tc.wantOwn {
				t.Errorf("own scaling %s, want %s", got, tc.wantOwn)
			}
			b := e.auditBodies(t)
			last := b[len(b)-1]
			if last["outcome"] != gf.Outcome || (tc.wantOwn != "" && last["own_scaling"] == nil) {
				t.Errorf("audit %v", last)
			}
			if !tc.wantActed && len(e.groups.Writes()) != 0 {
				t.Errorf("writes %v on a group not acted on", e.groups.Writes())
			}
		})
	}
}

// TestForecasterDeadline: groups not started before the deadline's
// reserve are deferred (not failed), and the next run takes them first.
func TestForecasterDeadline(t *testing.T) {
	e := newFcEnvOpt(t, handlers.ForecasterOptions{Mode: "forecast-only", Concurrency: 1, Reserve: 12 * time.Second}, nil)
	for i := range 6 {
		n := fmt.Sprintf("g%d", i)
		e.groups.Put(asg.Group{Name: n, Min: 1, Max: 4, Desired: 1, EnrolledByTag: true})
		e.traffic(n, "12:08", "12:09", 60, 100)
	}
	g, _ := e.groups.Get("web")
	g.EnrolledByTag = false
	e.groups.Put(g) // only the six
	// Each group's history read takes 4 s; the deadline is 30 s away.
	e.hist.Fail = func(op, _ string) error {
		if op == "group-minutes" {
			e.clock.Advance(4 * time.Second)
		}
		return nil
	}
	ctx, cancel := context.WithDeadline(invocation(), fcNow.Add(30*time.Second))
	defer cancel()
	resp, err := e.h.Handle(ctx, fixture(t, "scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	var done, deferred []string
	for _, gf := range resp.Groups {
		switch {
		case gf.Outcome == handlers.GroupDeferred:
			deferred = append(deferred, gf.Group)
		case gf.Error == "":
			done = append(done, gf.Group)
		default:
			t.Errorf("group %s failed: %s", gf.Group, gf.Error)
		}
	}
	// Started at 0, 4, 8, 12, 16 s (each then 14 s or more from the
	// deadline); at 20 s only 10 s are left, under the 12 s reserve: g5
	// is deferred.
	if fmt.Sprint(done) != "[g0 g1 g2 g3 g4]" || fmt.Sprint(deferred) != "[g5]" {
		t.Errorf("done %v, deferred %v", done, deferred)
	}
	if !strings.Contains(resp.Reason, "1 of 6 groups deferred to the next run") || e.metrics.Sum("ForecasterFailures", metrics.Dim{Name: "Group", Value: "g5"}) != 0 {
		t.Errorf("reason %q; a deferred group is no failure", resp.Reason)
	}
	// The next run (a minute later, no deadline) starts with g5.
	e.hist.Fail = nil
	e.clock.Set(fcNow.Add(time.Minute))
	before := len(e.hist.Queries())
	if _, err := e.h.Handle(invocation(), fixture(t, "scheduled.json")); err != nil {
		t.Fatal(err)
	}
	if q := e.hist.Queries()[before]; !strings.HasPrefix(q, "G g5 ") {
		t.Errorf("the next run began with %q, want the deferred g5", q)
	}
}

// TestForecasterKeepsLoopsWarm: the second run of a group in the same
// container uses the loop it saved (no new loop, no 7-day demand read);
// a state saved by someone else, or a lost race, sends it back to restoring.
func TestForecasterKeepsLoopsWarm(t *testing.T) {
	e := newFcEnv(t, "forecast-only")
	e.resumeFromHistory = true
	e.traffic("web", "12:00", "12:12", 600, 100)
	e.run(t)
	made := len(e.loops)
	e.clock.Set(fcNow.Add(time.Minute))
	if gf := e.run(t).Groups[0]; gf.Minutes != 1 || gf.Error != "" {
		t.Fatalf("second run %+v", gf)
	}
	if len(e.loops) != made || e.resumedWith != nil {
		t.Errorf("the second run made %d loops and read %d minutes of demand, want the warm loop", len(e.loops)-made, len(e.resumedWith))
	}
	// Another container saved meanwhile: the version moved on.
	st, _ := e.states.Get("web")
	st.Version++
	e.states.Put("web", st)
	e.clock.Set(fcNow.Add(2 * time.Minute))
	if gf := e.run(t).Groups[0]; gf.Error != "" {
		t.Fatalf("third run %+v", gf)
	}
	if len(e.loops) != made+1 || len(e.resumedWith) != 7*24*60 {
		t.Errorf("a state saved elsewhere: %d new loops, %d minutes of demand; want a restore", len(e.loops)-made, len(e.resumedWith))
	}
}

// TestForecasterReadsUtilizationOnlyWithoutAFigure: the CPU utilization of
// the groups without a per-instance figure is read in one call for all of
// them and fed with each minute (NaN where CloudWatch has none); groups
// with a figure (tag or policy) are not read; the answer and every audit
// record say which figure the step used and where it came from.
func TestForecasterReadsUtilizationOnlyWithoutAFigure(t *testing.T) {
	e := newFcEnv(t, "forecast-only")
	g, _ := e.groups.Get("web")
	e.groups.Put(asg.Group{Name: "api", Min: 1, Max: 4, Desired: 1, EnrolledByTag: true})
	e.groups.Put(asg.Group{Name: "tagged", Min: 1, Max: 4, Desired: 1, EnrolledByTag: true, Tags: map[string]string{handlers.TagPerInstance: "900"}})
	e.groups.Put(g)
	for _, n := range []string{"web", "api", "tagged"} {
		e.traffic(n, "12:08", "12:09", 600, 100)
	}
	e.groups.SetCPU("web", minute("12:09"), 42)
	e.groups.SetCPU("tagged", minute("12:09"), 10)
	fed := map[string][]float64{}
	var mu sync.Mutex // the groups step concurrently
	e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		mu.Lock()
		defer mu.Unlock()
		fed[g.Name] = append(fed[g.Name], o.Utilization)
		return handlers.Decision{Action: handlers.ActionNone, From: o.Desired, To: o.Desired, Max: g.Max, Reason: "steady"}
	}
	resp := e.run(t)
	if got := fmt.Sprint(e.groups.CPUReads()); got != "[[api web]]" {
		t.Errorf("CPU reads %s, want one read of the two groups without a figure", got)
	}
	if w := fed["web"]; len(w) != 2 || !math.IsNaN(w[0]) || w[1] != 42 {
		t.Errorf("web fed utilization %v, want [NaN 42]", w)
	}
	if tg := fed["tagged"]; len(tg) != 2 || !math.IsNaN(tg[1]) {
		t.Errorf("tagged fed utilization %v, want none read", tg)
	}
	for _, gf := range resp.Groups {
		if gf.PerInstance != 600 || gf.CapacitySource != control.CapacityConfigured {
			t.Errorf("%s: capacity %v from %q in the answer", gf.Group, gf.PerInstance, gf.CapacitySource)
		}
	}
	for _, b := range e.auditBodies(t) {
		c, _ := b["capacity"].(map[string]any)
		if c["per_instance"] != float64(600) || c["source"] != control.CapacityConfigured {
			t.Errorf("audit capacity %v", b["capacity"])
		}
	}
	// A policy figure: nothing is read.
	e2 := newFcEnvOpt(t, handlers.ForecasterOptions{Mode: "forecast-only", PerInstance: 600}, nil)
	e2.traffic("web", "12:08", "12:09", 600, 100)
	e2.run(t)
	if r := e2.groups.CPUReads(); len(r) != 0 {
		t.Errorf("CPU read %v with the policy's figure", r)
	}
}

// TestForecasterOverlappingRunsActOnce: two forecaster functions (two
// containers, no reserved concurrency) on the same state: whichever saves
// the group's state first acts, the other changes nothing.
func TestForecasterOverlappingRunsActOnce(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:05", "12:09", 600, 100)
	e.decide = launchOne
	gate := &gatedStates{ForecastStates: e.states, loaded: make(chan struct{}), release: make(chan struct{})}
	other, err := handlers.NewForecaster(handlers.ForecasterDeps{
		Groups: e.groups, History: e.hist, States: gate, Audit: e.audit, NewLoop: func(g handlers.LoopGroup, _ json.RawMessage, _ handlers.DemandHistory) (handlers.Loop, error) {
			return &scriptLoop{g: g, decide: launchOne}, nil
		}, Clock: e.clock,
	}, handlers.ForecasterOptions{Mode: "act"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan handlers.ForecastResponse)
	go func() {
		r, _ := other.Handle(invocation(), fixture(t, "scheduled.json"))
		done <- r
	}()
	<-gate.loaded // the other run holds version 0 and waits
	first := e.run(t).Groups[0]
	close(gate.release)
	second := (<-done).Groups[0]
	if !first.Acted || second.Acted || !strings.Contains(second.Outcome, "lost the race") {
		t.Errorf("first %+v, second %+v: want exactly one to act", first, second)
	}
	if got := fmt.Sprint(e.groups.Writes()); got != "[web desired=3]" {
		t.Errorf("writes %s, want one", got)
	}
}

// gatedStates holds its caller after the first Load until released.
type gatedStates struct {
	handlers.ForecastStates
	loaded, release chan struct{}
	once            sync.Once
}

func (g *gatedStates) Load(ctx context.Context, group string) (control.SavedState, error) {
	st, err := g.ForecastStates.Load(ctx, group)
	g.once.Do(func() { close(g.loaded); <-g.release })
	return st, err
}
