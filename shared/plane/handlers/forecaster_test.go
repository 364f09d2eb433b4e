package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// fcGroups is Auto Scaling for the forecaster tests: groups by name, and
// the writes it received.
type fcGroups struct {
	mu       sync.Mutex
	groups   map[string]awssdk.Group
	types    map[string]string
	writes   []string
	err      error // of EnrolledGroups
	writeErr error
}

func (g *fcGroups) EnrolledGroups(context.Context) ([]awssdk.Group, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return nil, g.err
	}
	var out []awssdk.Group
	for _, gr := range g.groups {
		if gr.Enrolled() {
			out = append(out, gr)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func (g *fcGroups) InstanceType(_ context.Context, name string) (string, error) {
	if t, ok := g.types[name]; ok {
		return t, nil
	}
	return "", fmt.Errorf("instance type of group %s: %w", name, awssdk.ErrUnsupported)
}

func (g *fcGroups) write(name, what string, f func(*awssdk.Group)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writeErr != nil {
		return g.writeErr
	}
	gr := g.groups[name]
	if !gr.EnrolledByTag {
		return fmt.Errorf("%s on %s: %w", what, name, awssdk.ErrNotEnrolled)
	}
	f(&gr)
	g.groups[name] = gr
	g.writes = append(g.writes, name+" "+what)
	return nil
}

func (g *fcGroups) SetDesiredCapacity(_ context.Context, name string, desired int) error {
	return g.write(name, fmt.Sprint("desired=", desired), func(gr *awssdk.Group) { gr.Desired = desired })
}

func (g *fcGroups) SetMaxSize(_ context.Context, name string, maxSize int) error {
	return g.write(name, fmt.Sprint("max=", maxSize), func(gr *awssdk.Group) { gr.Max = maxSize })
}

func (g *fcGroups) Resize(_ context.Context, name, itype string) (awssdk.LaunchTemplateRef, error) {
	return awssdk.LaunchTemplateRef{ID: "lt-1", Version: "2"}, g.write(name, "type="+itype, func(*awssdk.Group) {})
}

// memHistory is the history table in memory.
type memHistory struct {
	mu        sync.Mutex
	groups    map[string][]awssdk.GroupCount
	resources map[string][]awssdk.ResourceCount
	err       map[string]error
	queries   []string
}

func (h *memHistory) GroupMinutes(_ context.Context, group string, from, to time.Time) ([]awssdk.GroupCount, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queries = append(h.queries, fmt.Sprintf("G %s %s..%s", group, from.Format("15:04"), to.Format("15:04")))
	if err := h.err[group]; err != nil {
		return nil, err
	}
	var out []awssdk.GroupCount
	for _, c := range h.groups[group] {
		if !c.Start.Before(from) && !c.Start.After(to) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (h *memHistory) ResourceMinutes(_ context.Context, group string, from, to time.Time) ([]awssdk.ResourceCount, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.queries = append(h.queries, fmt.Sprintf("R %s %s..%s", group, from.Format("15:04"), to.Format("15:04")))
	var out []awssdk.ResourceCount
	for _, c := range h.resources[group] {
		if !c.Minute.Before(from) && !c.Minute.After(to) {
			out = append(out, c)
		}
	}
	return out, nil
}

// memStates keeps versioned blobs like the table.
type memStates struct {
	mu       sync.Mutex
	blobs    map[string]awssdk.State
	conflict bool // the next Save loses a race
}

func (s *memStates) Load(_ context.Context, group string) (awssdk.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.blobs[group]
	if !ok {
		return awssdk.State{}, fmt.Errorf("state of %s: %w", group, shadow.ErrNotFound)
	}
	return st, nil
}

func (s *memStates) Save(_ context.Context, group string, blob []byte, version int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflict || s.blobs[group].Version != version {
		s.conflict = false
		return 0, fmt.Errorf("saving state of %s: %w", group, shadow.ErrConflict)
	}
	s.blobs[group] = awssdk.State{Blob: append([]byte(nil), blob...), Version: version + 1}
	return version + 1, nil
}

// memAudit keeps decisions, refusing repeats.
type memAudit struct {
	mu   sync.Mutex
	recs []awssdk.Decision
}

func (a *memAudit) Put(_ context.Context, d awssdk.Decision) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.recs {
		if r.Group == d.Group && r.At.Equal(d.At) && r.ID == d.ID {
			return shadow.ErrConflict
		}
	}
	a.recs = append(a.recs, d)
	return nil
}

// scriptLoop is a stand-in control loop: it records what it is fed and
// returns the decision its script gives for each observation. It holds no
// policy of its own.
type scriptLoop struct {
	g      handlers.LoopGroup
	st     scriptState
	decide func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision
}

type scriptState struct {
	Steps   int         `json:"steps"`
	Minutes []time.Time `json:"minutes"`
	Demands []float64   `json:"demands"`
	Samples int         `json:"samples"`
}

func (l *scriptLoop) Step(o handlers.Observation) (handlers.LoopResult, error) {
	l.st.Steps++
	l.st.Minutes = append(l.st.Minutes, o.Minute)
	l.st.Demands = append(l.st.Demands, o.Demand)
	l.st.Samples += len(o.Resources)
	d := handlers.Decision{Action: handlers.ActionNone, From: o.Desired, To: o.Desired, Max: l.g.Max, InstanceType: o.InstanceType, Reason: "steady"}
	if l.decide != nil {
		d = l.decide(l.g, o)
	}
	return handlers.LoopResult{Decision: d, ForecastP50: o.Demand, ForecastP90: o.Demand * 1.2, Delta: 0.05, Detail: map[string]int{"step": l.st.Steps}}, nil
}

func (l *scriptLoop) State() (json.RawMessage, error) { return json.Marshal(l.st) }

type fcEnv struct {
	clock   *clock.Fake
	groups  *fcGroups
	hist    *memHistory
	states  *memStates
	audit   *memAudit
	metrics *metrics.Recorder
	logs    *bytes.Buffer
	mu      sync.Mutex
	loops   []*scriptLoop // made, in order
	restore func(saved json.RawMessage) error
	// resumeFromHistory: the loop reads the demand history when restored
	// (a predictor without a snapshot); resumedWith is what it got.
	resumeFromHistory bool
	resumedWith       []float64
	decide            func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision
	h                 *handlers.Forecaster
}

// now is 12:10:30: the last complete minute is 12:09.
var fcNow = time.Date(2026, 11, 28, 12, 10, 30, 0, time.UTC)

func minute(hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 28, t.Hour(), t.Minute(), 0, 0, time.UTC)
}

func newFcEnv(t *testing.T, mode string) *fcEnv { return newFcEnvWith(t, mode, nil) }

// newFcEnvWith uses the given loop factory (nil: the script loop).
func newFcEnvWith(t *testing.T, mode string, loops handlers.LoopFactory) *fcEnv {
	t.Helper()
	e := &fcEnv{
		clock: clock.NewFake(fcNow),
		groups: &fcGroups{groups: map[string]awssdk.Group{
			"web": {Name: "web", Min: 1, Max: 10, Desired: 2, EnrolledByTag: true, Instances: []awssdk.GroupInstance{
				{ID: "i-1", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-2", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-3", Type: "m7g.xlarge", Lifecycle: "Pending:Wait"},
			}},
		}, types: map[string]string{"web": "m7g.xlarge"}},
		hist:   &memHistory{groups: map[string][]awssdk.GroupCount{}, resources: map[string][]awssdk.ResourceCount{}, err: map[string]error{}},
		states: &memStates{blobs: map[string]awssdk.State{}}, audit: &memAudit{}, metrics: metrics.NewRecorder(), logs: &bytes.Buffer{},
	}
	factory := func(g handlers.LoopGroup, saved json.RawMessage, demand handlers.DemandHistory) (handlers.Loop, error) {
		l := &scriptLoop{g: g, decide: e.decide}
		if saved != nil {
			if e.resumeFromHistory {
				d, err := demand()
				if err != nil {
					return nil, err
				}
				e.resumedWith = d
			}
			if e.restore != nil {
				if err := e.restore(saved); err != nil {
					return nil, err
				}
			}
			if err := json.Unmarshal(saved, &l.st); err != nil {
				return nil, err
			}
		}
		e.mu.Lock()
		e.loops = append(e.loops, l)
		e.mu.Unlock()
		return l, nil
	}
	if loops != nil {
		factory = loops
	}
	var err error
	e.h, err = handlers.NewForecaster(handlers.ForecasterDeps{
		Groups: e.groups, History: e.hist, States: e.states, Audit: e.audit, NewLoop: factory,
		Clock: e.clock, Metrics: e.metrics, Log: lambdaenv.NewLogger(e.logs, slog.LevelDebug, "forecaster"),
	}, handlers.ForecasterOptions{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs)
		}
	})
	return e
}

// traffic adds group minutes (live count n each) and per-resource items
// for two resources whose shadows apply shadowPct percent of their lives.
func (e *fcEnv) traffic(group string, from, to string, n int64, shadowPct uint64) {
	var la, sa uint64
	for m := minute(from); !m.After(minute(to)); m = m.Add(time.Minute) {
		e.hist.groups[group] = append(e.hist.groups[group], awssdk.GroupCount{Start: m, Live: n, Shadow: n})
		la += uint64(n / 2)
		sa += uint64(n/2) * shadowPct / 100
		for _, r := range []string{"i-1", "i-2"} {
			e.hist.resources[group] = append(e.hist.resources[group], awssdk.ResourceCount{Minute: m, Resource: r, Live: n / 2, Shadow: n / 2, LiveApplied: la, ShadowApplied: sa, ShadowBacklog: la - sa})
		}
	}
}

func (e *fcEnv) run(t *testing.T) handlers.ForecastResponse {
	t.Helper()
	resp, err := e.h.Handle(invocation(), fixture(t, "scheduled.json"))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if resp.Outcome != handlers.OutcomeForecasted {
		t.Fatalf("outcome %+v", resp)
	}
	return resp
}

func launchOne(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
	return handlers.Decision{Action: handlers.ActionLaunchOne, From: o.Desired, To: o.Desired + 1, Max: g.Max, InstanceType: o.InstanceType, Reason: "the forecast P90 needs one more instance in 5 minutes"}
}

type auditView struct {
	Mode, Action, Reason, Outcome string
	Acted                         bool
	From, To                      int
	RunMinutes                    int `json:"run_minutes"`
}

func (e *fcEnv) audits(t *testing.T) []auditView {
	t.Helper()
	var out []auditView
	for _, r := range e.audit.recs {
		var v auditView
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Action != r.Action || v.Mode != r.Mode {
			t.Errorf("audit item %s/%s disagrees with its body %+v", r.Action, r.Mode, v)
		}
		out = append(out, v)
	}
	return out
}

func TestForecasterModes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		envMode    string
		tag        string
		byNameOnly bool
		wantActed  bool
		wantMode   string
		wantWrites string
		wantWhy    string
	}{
		{name: "forecast-only by default", wantMode: "forecast-only", wantWrites: "[]", wantWhy: "not acted: forecast-only mode"},
		{name: "act by SHADOWSCALE_MODE", envMode: "act", wantActed: true, wantMode: "act", wantWrites: "[web desired=3]", wantWhy: "desired capacity set from 2 to 3"},
		{name: "act by the group's tag", tag: "act", wantActed: true, wantMode: "act", wantWrites: "[web desired=3]"},
		{name: "the tag keeps a group forecast-only", envMode: "act", tag: "forecast-only", wantMode: "forecast-only", wantWrites: "[]"},
		{name: "a tag value not understood is forecast-only", envMode: "act", tag: "yes", wantMode: "forecast-only", wantWrites: "[]"},
		{name: "enrolled by name only: never acted on", envMode: "act", byNameOnly: true, wantMode: "act", wantWrites: "[]", wantWhy: "enrolled by name only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFcEnv(t, tc.envMode)
			g := e.groups.groups["web"]
			g.Mode = tc.tag
			if tc.byNameOnly {
				g.EnrolledByTag, g.EnrolledByName = false, true
			}
			e.groups.groups["web"] = g
			e.traffic("web", "12:00", "12:09", 600, 100)
			e.decide = launchOne
			resp := e.run(t)
			gf := resp.Groups[0]
			if gf.Mode != tc.wantMode || gf.Acted != tc.wantActed || gf.Action != handlers.ActionLaunchOne || gf.Error != "" || gf.Minutes != 10 {
				t.Errorf("answer %+v", gf)
			}
			if got := fmt.Sprint(e.groups.writes); got != tc.wantWrites {
				t.Errorf("writes %s, want %s", got, tc.wantWrites)
			}
			if tc.wantWhy != "" && !strings.Contains(gf.Outcome, tc.wantWhy) {
				t.Errorf("outcome %q, want %q", gf.Outcome, tc.wantWhy)
			}
			au := e.audits(t)
			last := au[len(au)-1]
			if last.Mode != tc.wantMode || last.Acted != tc.wantActed || last.Outcome != gf.Outcome || last.Reason == "" || last.From != 2 || last.To != 3 || last.RunMinutes != 10 {
				t.Errorf("last audit %+v", last)
			}
			if len(au) != 10 { // every minute decided a change: nine superseded, the last acted on or not
				t.Errorf("%d audit records, want 10", len(au))
			}
			wantDesired := 2.0
			if tc.wantActed {
				wantDesired = 3
			}
			gd := metrics.Dim{Name: "Group", Value: "web"}
			if got := e.metrics.Sum("DesiredCapacity", gd); got != wantDesired {
				t.Errorf("DesiredCapacity = %v, want %v", got, wantDesired)
			}
			if got := e.metrics.Sum("Decisions", gd, metrics.Dim{Name: "Action", Value: "launch-one"}); got != 1 {
				t.Errorf("Decisions{launch-one} = %v", got)
			}
		})
	}
}

func TestForecasterRunsMinuteByMinute(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "11:55", "12:12", 600, 80)
	r := e.run(t) // 12:10:30: from 11:55 to 12:09
	if gf := r.Groups[0]; gf.Minutes != 15 || gf.Action != handlers.ActionNone || gf.Acted || gf.Outcome != "no change needed" {
		t.Fatalf("first run %+v", gf)
	}
	l := e.loops[0]
	if l.st.Minutes[0] != minute("11:55") || l.st.Minutes[14] != minute("12:09") || l.st.Demands[3] != 600 {
		t.Errorf("first run fed %v %v", l.st.Minutes, l.st.Demands)
	}
	// The first minute of each resource is its baseline: 14 minutes of
	// samples for two resources.
	if l.st.Samples != 28 {
		t.Errorf("first run fed %d resource samples, want 28", l.st.Samples)
	}
	if n := len(e.audit.recs); n != 1 {
		t.Errorf("%d audit records for a run without changes, want 1 (the last minute)", n)
	}
	// The same minute again: nothing new.
	if gf := e.run(t).Groups[0]; gf.Minutes != 0 || gf.Outcome != "no new minute" {
		t.Errorf("second run in the same minute %+v", gf)
	}
	// One minute later: the loop is restored and fed exactly 12:10.
	e.clock.Set(fcNow.Add(time.Minute))
	if gf := e.run(t).Groups[0]; gf.Minutes != 1 {
		t.Errorf("next minute %+v", gf)
	}
	l = e.loops[len(e.loops)-1]
	if l.st.Steps != 16 || l.st.Minutes[15] != minute("12:10") || l.st.Samples != 30 {
		t.Errorf("the restored loop: %d steps, last %v, %d samples", l.st.Steps, l.st.Minutes[len(l.st.Minutes)-1], l.st.Samples)
	}
	// Two runs missed: the next catches up two minutes, with a gap of
	// counts in the history (12:12 has no item at 12:13 but is complete).
	e.clock.Set(fcNow.Add(4 * time.Minute))
	if gf := e.run(t).Groups[0]; gf.Minutes != 3 {
		t.Errorf("catch-up %+v", gf)
	}
	l = e.loops[len(e.loops)-1]
	if got := fmt.Sprint(l.st.Demands[16:]); got != "[600 600 0]" {
		t.Errorf("catch-up demands %s, want [600 600 0] (12:13 counted nothing)", got)
	}
	if e.states.blobs["web"].Version != 3 {
		t.Errorf("state version %d, want 3 saves", e.states.blobs["web"].Version)
	}
}

func TestForecasterRaisesMaxAndResizes(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:05", "12:09", 600, 100)
	e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		return handlers.Decision{Action: handlers.ActionResize, From: o.Desired, To: 12, Max: 13, InstanceType: "m7g.2xlarge", Reason: "at max: a bigger type"}
	}
	gf := e.run(t).Groups[0]
	if got := fmt.Sprint(e.groups.writes); got != "[web max=13 web type=m7g.2xlarge web desired=12]" {
		t.Errorf("writes %s", got)
	}
	if !gf.Acted || !strings.Contains(gf.Outcome, "max size raised from 10 to 13") || !strings.Contains(gf.Outcome, "new instances are m7g.2xlarge") {
		t.Errorf("answer %+v", gf)
	}
}

func TestForecasterActFailureIsAudited(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:08", "12:09", 600, 100)
	e.decide = launchOne
	e.groups.writeErr = errors.New("ScalingActivityInProgress")
	gf := e.run(t).Groups[0]
	if gf.Acted || !strings.Contains(gf.Outcome, "error: ScalingActivityInProgress") || gf.To != 2 {
		t.Errorf("answer %+v", gf)
	}
	au := e.audits(t)
	if last := au[len(au)-1]; last.Acted || !strings.Contains(last.Outcome, "ScalingActivityInProgress") {
		t.Errorf("audit %+v", last)
	}
}

func TestForecasterLostRaceChangesNothing(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:08", "12:09", 600, 100)
	e.decide = launchOne
	e.states.conflict = true
	gf := e.run(t).Groups[0]
	if gf.Acted || gf.Error != "" || !strings.Contains(gf.Outcome, "lost the race") {
		t.Errorf("answer %+v", gf)
	}
	if len(e.groups.writes) != 0 || len(e.audit.recs) != 0 {
		t.Errorf("the loser acted %v or audited %d", e.groups.writes, len(e.audit.recs))
	}
}

func TestForecasterRebuildsAnUnusableState(t *testing.T) {
	e := newFcEnv(t, "forecast-only")
	e.traffic("web", "11:00", "12:09", 600, 100)
	e.run(t)
	e.clock.Set(fcNow.Add(time.Minute))
	e.traffic("web", "12:10", "12:10", 600, 100)
	e.restore = func(json.RawMessage) error { return fmt.Errorf("predictor v2: %w", handlers.ErrNeedHistory) }
	gf := e.run(t).Groups[0]
	l := e.loops[len(e.loops)-1]
	if gf.Error != "" || gf.Minutes != 71 || l.st.Minutes[0] != minute("11:00") {
		t.Errorf("rebuild: %+v, fed from %v", gf, l.st.Minutes[0])
	}
	// A state blob that is not even the forecaster's: rebuilt too.
	e.states.blobs["web"] = awssdk.State{Blob: []byte("garbage"), Version: e.states.blobs["web"].Version}
	e.restore = nil
	e.clock.Set(fcNow.Add(2 * time.Minute))
	if gf := e.run(t).Groups[0]; gf.Error != "" || gf.Minutes != 72 {
		t.Errorf("garbage state: %+v", gf)
	}
}

func TestForecasterIsolatesGroupFailures(t *testing.T) {
	e := newFcEnv(t, "act")
	e.groups.groups["api"] = awssdk.Group{Name: "api", Min: 1, Max: 4, Desired: 1, EnrolledByTag: true}
	e.traffic("web", "12:08", "12:09", 600, 100)
	e.traffic("api", "12:08", "12:09", 60, 100)
	e.hist.err["api"] = errors.New("ProvisionedThroughputExceededException")
	resp := e.run(t)
	if len(resp.Groups) != 2 || resp.Groups[0].Group != "api" || resp.Groups[0].Error == "" || resp.Groups[1].Error != "" || !strings.Contains(resp.Reason, "1 of 2 groups failed") {
		t.Errorf("answer %+v", resp)
	}
	if _, ok := e.states.blobs["api"]; ok {
		t.Error("the failed group's state was advanced")
	}
	if e.metrics.Sum("ForecasterFailures", metrics.Dim{Name: "Group", Value: "api"}) != 1 {
		t.Error("ForecasterFailures not counted")
	}
	e.groups.err = errors.New("Throttling")
	if _, err := e.h.Handle(invocation(), fixture(t, "scheduled.json")); err == nil {
		t.Error("no error when the groups cannot be listed (EventBridge must retry)")
	}
}

func TestForecasterIgnoresOtherEvents(t *testing.T) {
	e := newFcEnv(t, "")
	for _, f := range []string{"ec2-running.json", "invalid-not-json.json", "kinesis-mutations.json"} {
		resp, err := e.h.Handle(invocation(), fixture(t, f))
		if err != nil || resp.Outcome != handlers.OutcomeIgnored {
			t.Errorf("%s: %+v, %v", f, resp, err)
		}
	}
	if len(e.loops) != 0 {
		t.Error("a loop ran on an ignored event")
	}
}

func TestForecasterNoHistoryYet(t *testing.T) {
	e := newFcEnv(t, "act")
	gf := e.run(t).Groups[0]
	if gf.Minutes != 1 || len(e.audit.recs) != 1 {
		t.Errorf("a group without history: %+v, %d audits", gf, len(e.audit.recs))
	}
	l := e.loops[0]
	if l.st.Minutes[0] != minute("12:09") || l.st.Demands[0] != 0 {
		t.Errorf("fed %v %v", l.st.Minutes, l.st.Demands)
	}
	// Capacity as Auto Scaling reports it: 2 in service, 1 warming.
	if e.metrics.Sum("InServiceCapacity", metrics.Dim{Name: "Group", Value: "web"}) != 2 {
		t.Error("InServiceCapacity")
	}
}

func TestNewForecasterValidates(t *testing.T) {
	_, err := handlers.NewForecaster(handlers.ForecasterDeps{}, handlers.ForecasterOptions{Mode: "yolo"})
	for _, w := range []string{"no auto scaling groups", "no history", "no state store", "no audit", "no control loop", "no clock", `mode "yolo"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not say %q", err, w)
		}
	}
}

// TestObservationsFromHistory checks the applied counts derived from the
// agents' running totals.
func TestObservationsFromHistory(t *testing.T) {
	e := newFcEnv(t, "forecast-only")
	rc := func(hhmm, res string, live, shadowN int64, la, sa, sb uint64) awssdk.ResourceCount {
		return awssdk.ResourceCount{Minute: minute(hhmm), Resource: res, Live: live, Shadow: shadowN, LiveApplied: la, ShadowApplied: sa, ShadowBacklog: sb}
	}
	e.hist.groups["web"] = []awssdk.GroupCount{{Start: minute("12:05"), Live: 100}, {Start: minute("12:06"), Live: 120}, {Start: minute("12:09"), Live: 90}}
	e.hist.resources["web"] = []awssdk.ResourceCount{
		rc("12:05", "i-1", 100, 100, 1000, 900, 100),
		rc("12:06", "i-1", 120, 120, 1120, 980, 140), // +120 live, +80 shadow
		rc("12:09", "i-1", 90, 90, 1420, 1100, 320),  // +300/3 live, +120/3 shadow
		rc("12:06", "i-2", 5, 0, 50, 0, 0),           // its shadow not reported: no sample
		rc("12:05", "i-3", 10, 10, 500, 500, 0),
		rc("12:09", "i-3", 10, 10, 20, 20, 0), // totals went down: an agent replaced, new baseline
	}
	var fed []handlers.Observation
	e.h2(t, func(o handlers.Observation) { fed = append(fed, o) })
	if len(fed) != 5 || fed[0].Minute != minute("12:05") || fed[0].Demand != 100 || fed[2].Demand != 0 || fed[4].Demand != 90 {
		t.Fatalf("fed %+v", fed)
	}
	if len(fed[0].Resources) != 0 {
		t.Errorf("12:05 has no baseline yet: %+v", fed[0].Resources)
	}
	want := []handlers.ResourceSample{{Resource: "i-1", LiveApplied: 120, ShadowApplied: 80, ShadowBacklog: 140}}
	if fmt.Sprint(fed[1].Resources) != fmt.Sprint(want) {
		t.Errorf("12:06 samples %+v, want %+v", fed[1].Resources, want)
	}
	want = []handlers.ResourceSample{{Resource: "i-1", LiveApplied: 100, ShadowApplied: 40, ShadowBacklog: 320}}
	if fmt.Sprint(fed[4].Resources) != fmt.Sprint(want) {
		t.Errorf("12:09 samples %+v, want %+v", fed[4].Resources, want)
	}
	if fed[4].Desired != 2 || fed[4].InService != 2 || fed[4].Warming != 1 || fed[4].InstanceType != "m7g.xlarge" {
		t.Errorf("capacity %+v", fed[4])
	}
}

// h2 runs the forecaster once with a loop that reports what it is fed.
func (e *fcEnv) h2(t *testing.T, fed func(handlers.Observation)) {
	t.Helper()
	e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		fed(o)
		return handlers.Decision{Action: handlers.ActionNone, From: o.Desired, To: o.Desired, Max: g.Max, Reason: "steady"}
	}
	e.run(t)
}

func TestForecasterMetricsSkipNaN(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:08", "12:09", 600, 100)
	e.run(t)
	gd := metrics.Dim{Name: "Group", Value: "web"}
	if got := e.metrics.Sum("ActualRate", gd); got != 10 {
		t.Errorf("ActualRate = %v, want 600/60", got)
	}
	if got := e.metrics.Sum("ForecastP90", gd); math.Abs(got-12) > 1e-9 {
		t.Errorf("ForecastP90 = %v, want 720/60", got)
	}
}

// TestForecasterResumesFromDemandHistory: a loop that keeps no predictor
// state is given the demand a minute up to its last observed minute.
func TestForecasterResumesFromDemandHistory(t *testing.T) {
	e := newFcEnv(t, "forecast-only")
	e.traffic("web", "12:00", "12:09", 600, 100)
	e.hist.groups["web"] = append(e.hist.groups["web"][:3], e.hist.groups["web"][4:]...) // 12:03 counted nothing
	e.run(t)
	e.resumeFromHistory = true
	e.clock.Set(fcNow.Add(time.Minute))
	e.run(t)
	d := e.resumedWith
	if len(d) != 7*24*60 || d[len(d)-1] != 600 || d[len(d)-7] != 0 || d[len(d)-8] != 600 || d[0] != 0 {
		t.Errorf("demand history: %d minutes, last %v, 12:03 %v, 12:02 %v", len(d), d[len(d)-1], d[len(d)-7], d[len(d)-8])
	}
}
