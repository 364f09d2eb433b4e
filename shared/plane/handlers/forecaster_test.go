package handlers_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

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
	Demands []jnum      `json:"demands"`
	Samples int         `json:"samples"`
}

// jnum is a float that survives JSON as null when NaN (a minute without
// data).
type jnum float64

func (n jnum) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(n))
}

func (n *jnum) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = jnum(math.NaN())
		return nil
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*n = jnum(f)
	return err
}

func (l *scriptLoop) Step(o handlers.Observation) (handlers.LoopResult, error) {
	l.st.Steps++
	l.st.Minutes = append(l.st.Minutes, o.Minute)
	l.st.Demands = append(l.st.Demands, jnum(o.Demand))
	l.st.Samples += len(o.Resources)
	d := handlers.Decision{Action: handlers.ActionNone, From: o.Desired, To: o.Desired, Max: l.g.Max, InstanceType: o.InstanceType, Reason: "steady"}
	if l.decide != nil {
		d = l.decide(l.g, o)
	}
	return handlers.LoopResult{Decision: d, ForecastP50: o.Demand, ForecastP90: o.Demand * 1.2, Delta: 0.05, Detail: map[string]int{"step": l.st.Steps},
		PerInstance: 600, CapacitySource: control.CapacityConfigured}, nil
}

func (l *scriptLoop) State() (json.RawMessage, error) { return json.Marshal(l.st) }

type fcEnv struct {
	clock   *clock.Fake
	groups  *memory.Groups
	hist    *memory.History
	states  *memory.States
	audit   *memory.Audit
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
	return newFcEnvOpt(t, handlers.ForecasterOptions{Mode: mode}, loops)
}

// newFcEnvOpt takes the handler's options.
func newFcEnvOpt(t *testing.T, opt handlers.ForecasterOptions, loops handlers.LoopFactory) *fcEnv {
	t.Helper()
	e := &fcEnv{
		clock:  clock.NewFake(fcNow),
		groups: memory.NewGroups(), hist: memory.NewHistory(), states: memory.NewStates(), audit: memory.NewAudit(),
		metrics: metrics.NewRecorder(), logs: &bytes.Buffer{},
	}
	e.groups.Put(asg.Group{Name: "web", Min: 1, Max: 10, Desired: 2, EnrolledByTag: true, Instances: []asg.Instance{
		{ID: "i-1", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-2", Type: "m7g.xlarge", Lifecycle: "InService"}, {ID: "i-3", Type: "m7g.xlarge", Lifecycle: "Pending:Wait"},
	}})
	e.groups.SetInstanceType("web", "m7g.xlarge")
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
		Utilization: e.groups, Sizes: testCatalog(t),
		Clock: e.clock, Metrics: e.metrics, Log: lambdaenv.NewLogger(e.logs, slog.LevelDebug, "forecaster"),
	}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// slog writes !ERROR for a value it cannot encode (a NaN float)
		if i := strings.Index(e.logs.String(), "!ERROR"); i >= 0 {
			t.Errorf("a log value did not encode: %s", e.logs.String()[max(0, i-200):min(e.logs.Len(), i+100)])
		}
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
		e.hist.PutGroupMinute(group, mutation.GroupCount{Start: m, Live: n, Shadow: n})
		la += uint64(n / 2)
		sa += uint64(n/2) * shadowPct / 100
		for _, r := range []string{"i-1", "i-2"} {
			e.hist.PutResourceMinute(group, mutation.ResourceCount{Minute: m, Resource: r, Live: n / 2, Shadow: n / 2, LiveApplied: la, ShadowApplied: sa, ShadowBacklog: la - sa})
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
	Unaudited                     int `json:"unaudited_minutes"`
}

func (e *fcEnv) audits(t *testing.T) []auditView {
	t.Helper()
	var out []auditView
	for _, r := range e.audit.Records() {
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
			g, _ := e.groups.Get("web")
			g.Mode = tc.tag
			if tc.byNameOnly {
				g.EnrolledByTag, g.EnrolledByName = false, true
			}
			e.groups.Put(g)
			e.traffic("web", "12:00", "12:09", 600, 100)
			e.decide = launchOne
			resp := e.run(t)
			gf := resp.Groups[0]
			if gf.Mode != tc.wantMode || gf.Acted != tc.wantActed || gf.Action != handlers.ActionLaunchOne || gf.Error != "" || gf.Minutes != 10 {
				t.Errorf("answer %+v", gf)
			}
			if got := fmt.Sprint(e.groups.Writes()); got != tc.wantWrites {
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

// TestForecasterSaveThatTookEffectDespiteItsError: a state save whose
// answer was lost but which stored this run's state is a save: the run
// acts and audits (a retry would find no new minute, and the minute's
// decision would be lost). A save that did not take effect stays a
// failure.
func TestForecasterSaveThatTookEffectDespiteItsError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		landed bool
	}{{"the save took effect", true}, {"the save did not", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFcEnv(t, "act")
			e.traffic("web", "12:00", "12:09", 600, 100)
			e.decide = launchOne
			lost := errors.New("read tcp: connection reset by peer")
			if tc.landed {
				e.states.FailAfter = func(op, _ string) error { return lost }
			} else {
				e.states.Fail = func(op, _ string) error {
					if op == "save" {
						return lost
					}
					return nil
				}
			}
			gf := e.run(t).Groups[0]
			st, stored := e.states.Get("web")
			switch {
			case tc.landed && (gf.Error != "" || !gf.Acted || gf.Minutes != 10 || len(e.audits(t)) != 10 || st.Version != 1):
				t.Errorf("answer %+v, %d audit records, state version %d: want acted, 10 minutes, 10 records, version 1", gf, len(e.audits(t)), st.Version)
			case !tc.landed && (gf.Error == "" || gf.Acted || len(e.audits(t)) != 0 || stored):
				t.Errorf("answer %+v, %d audit records, state stored %v: want the group failed, nothing acted, audited or stored", gf, len(e.audits(t)), stored)
			}
		})
	}
}

// TestForecasterCatchUpAuditsAreBounded: a run that steps through many
// minutes (a catch-up, a loop rebuilt from history) audits its last
// minute and, of the earlier minutes whose decision would have changed the
// group, the latest MaxCatchUpAudits; the last record counts the others.
func TestForecasterCatchUpAuditsAreBounded(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "10:00", "12:09", 600, 100) // 130 minutes
	e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		if o.Minute.Minute()%2 == 0 {
			return launchOne(g, o)
		}
		return handlers.Decision{Action: handlers.ActionNone, From: o.Desired, To: o.Desired, Reason: "enough capacity"}
	}
	gf := e.run(t).Groups[0]
	if gf.Minutes != 130 || gf.Error != "" {
		t.Fatalf("answer %+v", gf)
	}
	// The earlier minutes that would have changed the group: the even
	// ones from 10:00 to 12:08, 65 of them (12:09 is the last minute).
	var changing []time.Time
	for m := minute("10:00"); m.Before(minute("12:09")); m = m.Add(time.Minute) {
		if m.Minute()%2 == 0 {
			changing = append(changing, m)
		}
	}
	recs := e.audit.Records()
	au := e.audits(t)
	if len(recs) != handlers.MaxCatchUpAudits+1 {
		t.Fatalf("%d audit records, want %d (the cap and the last minute)", len(recs), handlers.MaxCatchUpAudits+1)
	}
	want := append(slices.Clone(changing[len(changing)-handlers.MaxCatchUpAudits:]), minute("12:09"))
	var got []time.Time
	for _, r := range recs {
		got = append(got, r.At)
	}
	slices.SortFunc(got, time.Time.Compare)
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("audited minutes %v, want the latest %d changing ones and the last: %v", got, handlers.MaxCatchUpAudits, want)
	}
	var last auditView
	for i, r := range recs {
		if r.At.Equal(minute("12:09")) {
			last = au[i]
		} else if au[i].Unaudited != 0 || au[i].Outcome != "superseded by a later minute of the same run" {
			t.Errorf("earlier record %+v", au[i])
		}
	}
	if last.RunMinutes != 130 || last.Unaudited != len(changing)-handlers.MaxCatchUpAudits {
		t.Errorf("last record %+v, want run_minutes 130 and unaudited_minutes %d", last, len(changing)-handlers.MaxCatchUpAudits)
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
	if n := len(e.audit.Records()); n != 1 {
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
	if got := fmt.Sprint(l.st.Demands[16:]); got != "[600 600 NaN]" {
		t.Errorf("catch-up demands %s, want [600 600 NaN] (12:13 has no item: no data, not zero demand)", got)
	}
	if func() int64 { st, _ := e.states.Get("web"); return st.Version }() != 3 {
		t.Errorf("state version %d, want 3 saves", func() int64 { st, _ := e.states.Get("web"); return st.Version }())
	}
}

func TestForecasterRaisesMaxAndResizes(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:05", "12:09", 600, 100)
	e.decide = func(g handlers.LoopGroup, o handlers.Observation) handlers.Decision {
		return handlers.Decision{Action: handlers.ActionResize, From: o.Desired, To: 12, Max: 13, InstanceType: "m7g.2xlarge", Reason: "at max: a bigger type"}
	}
	gf := e.run(t).Groups[0]
	if got := fmt.Sprint(e.groups.Writes()); got != "[web max=13 web type=m7g.2xlarge web refresh web desired=12]" {
		t.Errorf("writes %s", got)
	}
	for _, w := range []string{"max size raised from 10 to 13", "new instances are m7g.2xlarge", "instance refresh refresh-web replaces the running instances"} {
		if !gf.Acted || !strings.Contains(gf.Outcome, w) {
			t.Errorf("answer %+v, want %q", gf, w)
		}
	}
}

func TestForecasterActFailureIsAudited(t *testing.T) {
	e := newFcEnv(t, "act")
	e.traffic("web", "12:08", "12:09", 600, 100)
	e.decide = launchOne
	e.groups.Fail = func(op, _ string) error {
		if strings.HasPrefix(op, "set-") || op == "resize" {
			return errors.New("ScalingActivityInProgress")
		}
		return nil
	}
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
	lost := false
	e.states.Fail = func(op, _ string) error {
		if op == "save" && !lost {
			lost = true
			return shadow.ErrConflict
		}
		return nil
	}
	gf := e.run(t).Groups[0]
	if gf.Acted || gf.Error != "" || !strings.Contains(gf.Outcome, "lost the race") {
		t.Errorf("answer %+v", gf)
	}
	if len(e.groups.Writes()) != 0 || len(e.audit.Records()) != 0 {
		t.Errorf("the loser acted %v or audited %d", e.groups.Writes(), len(e.audit.Records()))
	}
}

func TestForecasterRebuildsAnUnusableState(t *testing.T) {
	e := newFcEnvOpt(t, handlers.ForecasterOptions{Mode: "forecast-only", Cold: true}, nil)
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
	st, _ := e.states.Get("web")
	e.states.Put("web", control.SavedState{Blob: []byte("garbage"), Version: st.Version})
	e.restore = nil
	e.clock.Set(fcNow.Add(2 * time.Minute))
	if gf := e.run(t).Groups[0]; gf.Error != "" || gf.Minutes != 72 {
		t.Errorf("garbage state: %+v", gf)
	}
}

func TestForecasterIsolatesGroupFailures(t *testing.T) {
	e := newFcEnv(t, "act")
	e.groups.Put(asg.Group{Name: "api", Min: 1, Max: 4, Desired: 1, EnrolledByTag: true})
	e.traffic("web", "12:08", "12:09", 600, 100)
	e.traffic("api", "12:08", "12:09", 60, 100)
	e.hist.Fail = func(_, group string) error {
		if group == "api" {
			return errors.New("ProvisionedThroughputExceededException")
		}
		return nil
	}
	resp := e.run(t)
	if len(resp.Groups) != 2 || resp.Groups[0].Group != "api" || resp.Groups[0].Error == "" || resp.Groups[1].Error != "" || !strings.Contains(resp.Reason, "1 of 2 groups failed") {
		t.Errorf("answer %+v", resp)
	}
	if _, ok := e.states.Get("api"); ok {
		t.Error("the failed group's state was advanced")
	}
	if e.metrics.Sum("ForecasterFailures", metrics.Dim{Name: "Group", Value: "api"}) != 1 {
		t.Error("ForecasterFailures not counted")
	}
	e.groups.Fail = func(op, _ string) error {
		if op == "enrolled" {
			return errors.New("Throttling")
		}
		return nil
	}
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
	if gf.Minutes != 1 || len(e.audit.Records()) != 1 {
		t.Errorf("a group without history: %+v, %d audits", gf, len(e.audit.Records()))
	}
	l := e.loops[0]
	if l.st.Minutes[0] != minute("12:09") || !math.IsNaN(float64(l.st.Demands[0])) {
		t.Errorf("fed %v %v, want 12:09 without data", l.st.Minutes, l.st.Demands)
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
	rc := func(hhmm, res string, live, shadowN int64, la, sa, sb uint64) mutation.ResourceCount {
		return mutation.ResourceCount{Minute: minute(hhmm), Resource: res, Live: live, Shadow: shadowN, LiveApplied: la, ShadowApplied: sa, ShadowBacklog: sb}
	}
	for _, gc := range []mutation.GroupCount{{Start: minute("12:05"), Live: 100}, {Start: minute("12:06"), Live: 120}, {Start: minute("12:09"), Live: 90}} {
		e.hist.PutGroupMinute("web", gc)
	}
	for _, r := range []mutation.ResourceCount{
		rc("12:05", "i-1", 100, 100, 1000, 900, 100),
		rc("12:06", "i-1", 120, 120, 1120, 980, 140), // +120 live, +80 shadow
		rc("12:09", "i-1", 90, 90, 1420, 1100, 320),  // +300/3 live, +120/3 shadow
		rc("12:06", "i-2", 5, 0, 50, 0, 0),           // its shadow not reported: no sample
		rc("12:05", "i-3", 10, 10, 500, 500, 0),
		rc("12:09", "i-3", 10, 10, 20, 20, 0), // totals went down: an agent replaced, new baseline
	} {
		e.hist.PutResourceMinute("web", r)
	}
	var fed []handlers.Observation
	e.h2(t, func(o handlers.Observation) { fed = append(fed, o) })
	if len(fed) != 5 || fed[0].Minute != minute("12:05") || fed[0].Demand != 100 || !math.IsNaN(fed[2].Demand) || fed[4].Demand != 90 {
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
	e := newFcEnvOpt(t, handlers.ForecasterOptions{Mode: "forecast-only", Cold: true}, nil)
	e.traffic("web", "12:00", "12:09", 600, 100)
	e.hist.DeleteGroupMinute("web", minute("12:03"))                                    // no item: no data
	e.hist.PutGroupMinute("web", mutation.GroupCount{Start: minute("12:04"), Seen: 40}) // seen, nothing counted: 0
	e.run(t)
	e.resumeFromHistory = true
	e.clock.Set(fcNow.Add(time.Minute))
	e.run(t)
	d := e.resumedWith
	if len(d) != 7*24*60 || d[len(d)-1] != 600 || !math.IsNaN(d[len(d)-7]) || d[len(d)-6] != 0 || d[len(d)-8] != 600 || !math.IsNaN(d[0]) {
		t.Errorf("demand history: %d minutes, last %v, 12:03 %v (want NaN), 12:04 %v (want 0), 12:02 %v", len(d), d[len(d)-1], d[len(d)-7], d[len(d)-6], d[len(d)-8])
	}
}

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}
