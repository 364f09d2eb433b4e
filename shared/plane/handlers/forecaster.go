package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"golang.org/x/sync/errgroup"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// ForecastGroups is Auto Scaling as the forecaster needs it
// (awssdk.Groups and memory.Groups). The writes refuse, with asg.ErrNotEnrolled, a group
// that does not carry shadowscale:enrolled=true.
type ForecastGroups interface {
	EnrolledGroups(ctx context.Context) ([]asg.Group, error)
	// InstanceType returns the type the group's launch template gives new
	// instances (asg.ErrUnsupported without a launch template).
	InstanceType(ctx context.Context, name string) (string, error)
	SetDesiredCapacity(ctx context.Context, name string, desired int) error
	SetMaxSize(ctx context.Context, name string, maxSize int) error
	Resize(ctx context.Context, name, instanceType string) (asg.LaunchTemplateRef, error)
}

// ForecastHistory is the fan-out's per-minute counters (awssdk.History and memory.History).
type ForecastHistory interface {
	GroupMinutes(ctx context.Context, group string, from, to time.Time) ([]mutation.GroupCount, error)
	ResourceMinutes(ctx context.Context, group string, from, to time.Time) ([]mutation.ResourceCount, error)
}

// ForecastStates keeps one state blob per group (awssdk.States and memory.States).
//
// Contract: Load returns shadow.ErrNotFound before the first Save; Save
// stores only if the stored version is still version, else
// shadow.ErrConflict.
type ForecastStates interface {
	Load(ctx context.Context, group string) (control.SavedState, error)
	Save(ctx context.Context, group string, blob []byte, version int64) (int64, error)
}

// AuditWriter stores decisions (awssdk.Audit and memory.Audit): a repeat of the same
// (group, time, id) is shadow.ErrConflict.
type AuditWriter interface {
	Put(ctx context.Context, d control.AuditRecord) error
}

// ForecasterDeps are what the forecaster handler uses.
type ForecasterDeps struct {
	Registry *Registry
	Groups   ForecastGroups
	History  ForecastHistory
	States   ForecastStates
	Audit    AuditWriter
	NewLoop  LoopFactory
	Clock    clock.Clock
	Metrics  metrics.Sink
	Log      *slog.Logger
}

// ForecasterOptions tune the forecaster.
type ForecasterOptions struct {
	// Mode is SHADOWSCALE_MODE ("forecast-only" when empty), which a
	// group's shadowscale:mode tag overrides.
	Mode string
	// Settle is how long after a minute ends its counters are taken as
	// complete (the fan-out flushes at the end of each batch). 5 s when 0.
	Settle time.Duration
	// Rebuild is how much history a fresh (or unusable) loop state is
	// rebuilt from, and the most a run catches up. 7 days when 0.
	Rebuild time.Duration
	// ResourceWindow is how far back per-resource minutes are read for the
	// delta (older minutes of a catch-up get none). 30 min when 0.
	ResourceWindow time.Duration
	// Concurrency bounds the groups run at once (4 when 0): each reads up
	// to 7 days of minutes, so a run over many groups must overlap them to
	// fit the one-minute schedule.
	Concurrency int
}

func (o ForecasterOptions) withDefaults() ForecasterOptions {
	if o.Mode == "" {
		o.Mode = asg.ModeForecastOnly
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.Rebuild <= 0 {
		o.Rebuild = 7 * 24 * time.Hour
	}
	if o.ResourceWindow <= 0 {
		o.ResourceWindow = 30 * time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	return o
}

// OutcomeForecasted: the forecaster ran over the enrolled groups.
const OutcomeForecasted = "forecasted"

// ForecastResponse is the forecaster's answer.
type ForecastResponse struct {
	Outcome string          `json:"outcome"`
	Reason  string          `json:"reason,omitempty"`
	Groups  []GroupForecast `json:"groups,omitempty"`
}

// GroupForecast is one group's run.
type GroupForecast struct {
	Group   string `json:"group"`
	Mode    string `json:"mode"`
	Minutes int    `json:"minutes"` // minutes observed this run
	Action  string `json:"action,omitempty"`
	// From is the desired capacity before the run, To after it; Decided
	// is the count the loop decided (To when acted on).
	From         int    `json:"from"`
	To           int    `json:"to"`
	Decided      int    `json:"decided"`
	Max          int    `json:"max,omitempty"`
	InstanceType string `json:"instance_type,omitempty"`
	Reason       string `json:"reason,omitempty"`
	// Acted: the decision was carried out on the group.
	Acted bool `json:"acted"`
	// Outcome says what was done, or why nothing was.
	Outcome string `json:"outcome,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Forecaster handles the scheduled event (every minute, reserved
// concurrency 1): for every enrolled group it loads the loop's state, reads
// the history minutes it has not seen, steps the loop through them with
// the group's capacity, saves the state (conditionally: of two overlapping
// runs one commits, the other is a logged no-op), carries the last
// decision out when the group acts (mode act, by SHADOWSCALE_MODE or its
// shadowscale:mode tag, and tagged shadowscale:enrolled=true), audits it
// with its reason, and emits the metrics.
//
// A group's failure is logged, counted (ForecasterFailures) and reported in
// the answer; its state is not advanced, so the next run retries the same
// minutes. The invocation fails (EventBridge retries it) only when the
// groups cannot be listed.
type Forecaster struct {
	d   ForecasterDeps
	opt ForecasterOptions
	base
}

// NewForecaster returns the forecaster handler.
func NewForecaster(d ForecasterDeps, opt ForecasterOptions) (*Forecaster, error) {
	var errs []error
	if d.Groups == nil {
		errs = append(errs, errors.New("no auto scaling groups"))
	}
	if d.History == nil {
		errs = append(errs, errors.New("no history"))
	}
	if d.States == nil {
		errs = append(errs, errors.New("no state store"))
	}
	if d.Audit == nil {
		errs = append(errs, errors.New("no audit"))
	}
	if d.NewLoop == nil {
		errs = append(errs, errors.New("no control loop"))
	}
	if d.Clock == nil {
		errs = append(errs, errors.New("no clock"))
	}
	opt = opt.withDefaults()
	if opt.Mode != asg.ModeAct && opt.Mode != asg.ModeForecastOnly {
		errs = append(errs, fmt.Errorf("mode %q is not act or forecast-only", opt.Mode))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: forecaster handler: %w", shadow.ErrInvalid, err)
	}
	if d.Registry == nil {
		d.Registry = DefaultRegistry()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.Discard{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Forecaster{d: d, opt: opt, base: base{function: "forecaster", metrics: d.Metrics, log: d.Log}}, nil
}

// Handle is the forecaster function's handler.
func (h *Forecaster) Handle(ctx context.Context, payload []byte) (ForecastResponse, error) {
	ev, err := h.d.Registry.Parse(payload)
	if err != nil {
		r := h.ignore(ctx, eventCode(err), err.Error())
		return ForecastResponse{Outcome: r.Outcome, Reason: r.Reason}, nil
	}
	sc, ok := ev.(Scheduled)
	if !ok {
		r := h.ignore(ctx, "unexpected-event", fmt.Sprintf("the forecaster runs on its schedule, not on %T", ev))
		return ForecastResponse{Outcome: r.Outcome, Reason: r.Reason}, nil
	}
	groups, err := h.d.Groups.EnrolledGroups(ctx)
	if err != nil {
		return ForecastResponse{}, fmt.Errorf("listing enrolled groups: %w", err)
	}
	runID := sc.EventID
	if runID == "" {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			runID = lc.AwsRequestID
		}
	}
	if runID == "" {
		runID = strconv.FormatInt(h.d.Clock.Now().UnixNano(), 36)
	}
	resp := ForecastResponse{Outcome: OutcomeForecasted}
	failed := 0
	resp.Groups = make([]GroupForecast, len(groups))
	var eg errgroup.Group
	eg.SetLimit(h.opt.Concurrency)
	for i, g := range groups {
		eg.Go(func() error {
			resp.Groups[i] = h.group(ctx, g, runID)
			return nil
		})
	}
	_ = eg.Wait() // a group's failure is in its answer
	for i, g := range groups {
		if gf := resp.Groups[i]; gf.Error != "" {
			failed++
			h.metrics.Add("ForecasterFailures", metrics.Count, 1, metrics.Dim{Name: "Group", Value: g.Name})
			h.log.WarnContext(ctx, "group not forecast", "group", g.Name, "err", gf.Error)
		}
	}
	if failed > 0 {
		resp.Reason = fmt.Sprintf("%d of %d groups failed; the next run retries their minutes", failed, len(groups))
	}
	h.log.InfoContext(ctx, "forecast run done", "groups", len(groups), "failed", failed)
	return resp, nil
}

// mode returns the group's effective mode: its shadowscale:mode tag, else
// SHADOWSCALE_MODE. An unreadable tag value counts as forecast-only.
func (h *Forecaster) mode(ctx context.Context, g asg.Group) string {
	switch g.Mode {
	case "":
		return h.opt.Mode
	case asg.ModeAct, asg.ModeForecastOnly:
		return g.Mode
	}
	h.log.WarnContext(ctx, "group mode tag not understood; forecast-only", "group", g.Name, "tag", shadow.TagMode, "value", clip(g.Mode))
	return asg.ModeForecastOnly
}

// group runs one group; failures are in the answer's Error.
func (h *Forecaster) group(ctx context.Context, g asg.Group, runID string) GroupForecast {
	gf := GroupForecast{Group: g.Name, Mode: h.mode(ctx, g), From: g.Desired, To: g.Desired, Decided: g.Desired}
	fail := func(err error) GroupForecast { gf.Error = err.Error(); return gf }

	st, fs, err := h.loadState(ctx, g.Name)
	if err != nil {
		return fail(err)
	}
	last := unixMinute(h.d.Clock.Now().Add(-h.opt.Settle)) - 1 // the last complete minute
	if fs.Last >= last {
		gf.Outcome = "no new minute"
		return gf
	}
	c := groupCapacity(g, h.instanceType(ctx, g.Name))
	loop, err := h.restoreLoop(ctx, LoopGroup{Name: g.Name, Min: g.Min, Max: g.Max, Mode: gf.Mode, InstanceType: c.InstanceType, Tags: g.Tags}, &fs)
	if err != nil {
		return fail(err)
	}
	obs, err := h.newObservations(ctx, g.Name, &fs, last, c)
	if err != nil {
		return fail(err)
	}
	steps, err := stepLoop(g.Name, loop, obs)
	if err != nil {
		return fail(err)
	}
	if gf.Minutes = len(steps); gf.Minutes == 0 {
		gf.Outcome = "no new minute"
		return gf
	}
	fs.Last = last
	if saved, err := h.saveState(ctx, g.Name, loop, fs, st.Version); err != nil {
		return fail(err)
	} else if !saved {
		gf.Outcome = "lost the race to another run"
		return gf
	}
	h.decide(ctx, g, runID, steps, &gf)
	return gf
}

// loadState returns a group's stored state, and its forecaster state
// decoded (empty when there is none, or when it cannot be read: the loop is
// then rebuilt from history).
func (h *Forecaster) loadState(ctx context.Context, group string) (control.SavedState, forecastState, error) {
	st, err := h.d.States.Load(ctx, group)
	if err != nil && !errors.Is(err, shadow.ErrNotFound) {
		return st, forecastState{}, fmt.Errorf("loading the state of %s: %w", group, err)
	}
	fs, err := decodeForecastState(st.Blob)
	if err != nil {
		h.log.WarnContext(ctx, "forecaster state unreadable; rebuilding from history", "group", group, "err", err)
		fs = forecastState{}
	}
	fs.V = forecastStateVersion
	if fs.Totals == nil {
		fs.Totals = map[string]appliedTotals{}
	}
	return st, fs, nil
}

// instanceType is the type the group's launch template launches, "" when
// it cannot be read (the instances' own types are used then).
func (h *Forecaster) instanceType(ctx context.Context, group string) string {
	itype, err := h.d.Groups.InstanceType(ctx, group)
	if err != nil {
		h.log.DebugContext(ctx, "no launch template instance type; using the instances'", "group", group, "err", err)
		return ""
	}
	return itype
}

// restoreLoop restores the group's control loop from its saved state, or
// makes a fresh one (fs.Last = 0: fed from history) when there is none or
// the saved one is unusable.
func (h *Forecaster) restoreLoop(ctx context.Context, lg LoopGroup, fs *forecastState) (Loop, error) {
	if len(fs.Loop) > 0 {
		loop, err := h.d.NewLoop(lg, fs.Loop, h.demandHistory(ctx, lg.Name, fs.Last))
		if err == nil {
			return loop, nil
		}
		if !errors.Is(err, ErrNeedHistory) {
			return nil, fmt.Errorf("restoring the control loop of %s: %w", lg.Name, err)
		}
		h.log.InfoContext(ctx, "control loop state unusable; rebuilding from history", "group", lg.Name, "err", err)
	}
	fs.Last = 0
	loop, err := h.d.NewLoop(lg, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("making the control loop of %s: %w", lg.Name, err)
	}
	return loop, nil
}

// newObservations reads the history minutes after fs.Last up to last (at
// most Rebuild of them; a fresh loop starts at the first minute with
// mutations) and turns them into observations.
func (h *Forecaster) newObservations(ctx context.Context, group string, fs *forecastState, last int64, c capacity) ([]Observation, error) {
	oldest := last - int64(h.opt.Rebuild/time.Minute) + 1
	first := max(fs.Last+1, oldest)
	groupMins, err := h.d.History.GroupMinutes(ctx, group, minuteTime(first), minuteTime(last))
	if err != nil {
		return nil, err
	}
	resFrom := max(first, last-int64(h.opt.ResourceWindow/time.Minute)+1)
	resMins, err := h.d.History.ResourceMinutes(ctx, group, minuteTime(resFrom), minuteTime(last))
	if err != nil {
		return nil, err
	}
	if fs.Last == 0 && len(groupMins) > 0 {
		first = unixMinute(groupMins[0].Start)
	} else if fs.Last == 0 {
		first = last
	}
	obs := observations(first, last, groupMins, resMins, fs.Totals, c)
	pruneTotals(fs.Totals, last-60)
	return obs, nil
}

// stepped is one minute fed to the loop and what it answered.
type stepped struct {
	o Observation
	r LoopResult
}

// stepLoop feeds the observations to the loop in order.
func stepLoop(group string, loop Loop, obs []Observation) ([]stepped, error) {
	steps := make([]stepped, 0, len(obs))
	for _, o := range obs {
		r, err := loop.Step(o)
		if err != nil {
			return steps, fmt.Errorf("stepping the control loop of %s at %s: %w", group, o.Minute.Format(time.RFC3339), err)
		}
		steps = append(steps, stepped{o, r})
	}
	return steps, nil
}

// saveState stores the loop's state at version; false (and no error) when
// another run saved first: this run then changes nothing.
func (h *Forecaster) saveState(ctx context.Context, group string, loop Loop, fs forecastState, version int64) (bool, error) {
	var err error
	if fs.Loop, err = loop.State(); err != nil {
		return false, fmt.Errorf("saving the control loop of %s: %w", group, err)
	}
	blob, err := json.Marshal(fs)
	if err != nil {
		return false, fmt.Errorf("encoding the state of %s: %w", group, err)
	}
	if _, err := h.d.States.Save(ctx, group, blob, version); err != nil {
		if errors.Is(err, shadow.ErrConflict) {
			h.log.InfoContext(ctx, "another run saved this group's state first; this run changes nothing", "group", group, "version", version)
			return false, nil
		}
		return false, fmt.Errorf("saving the state of %s: %w", group, err)
	}
	return true, nil
}

// decide carries out the last minute's decision (in act mode), audits
// every minute that decided something, and emits the group's metrics.
func (h *Forecaster) decide(ctx context.Context, g asg.Group, runID string, steps []stepped, gf *GroupForecast) {
	lastStep := steps[len(steps)-1]
	d := lastStep.r.Decision
	gf.Action, gf.To, gf.Decided, gf.Max, gf.InstanceType, gf.Reason = d.Action, d.To, d.To, d.Max, d.InstanceType, d.Reason
	if d.Action == "" {
		gf.Action = ActionNone
	}
	gf.Acted, gf.Outcome = h.act(ctx, g, gf.Mode, d)
	if !gf.Acted {
		gf.To = g.Desired
	}
	for i, s := range steps {
		lastOne := i == len(steps)-1
		if !lastOne && (s.r.Decision.Action == "" || s.r.Decision.Action == ActionNone) {
			continue
		}
		outcome, acted := "superseded by a later minute of the same run", false
		if lastOne {
			outcome, acted = gf.Outcome, gf.Acted
		}
		h.audit(ctx, g.Name, gf.Mode, runID, s.o, s.r, acted, outcome, len(steps))
	}
	h.emit(g.Name, lastStep.o, lastStep.r, *gf)
	h.log.InfoContext(ctx, "group forecast", "group", g.Name, "mode", gf.Mode, "minutes", gf.Minutes, "action", gf.Action,
		"from", g.Desired, "to", d.To, "acted", gf.Acted, "outcome", gf.Outcome, "reason", d.Reason)
}

// demandHistory reads a group's demand a minute up to the minute last.
func (h *Forecaster) demandHistory(ctx context.Context, group string, last int64) DemandHistory {
	return func() ([]float64, error) {
		if last <= 0 {
			return nil, nil
		}
		first := last - int64(h.opt.Rebuild/time.Minute) + 1
		mins, err := h.d.History.GroupMinutes(ctx, group, minuteTime(first), minuteTime(last))
		if err != nil {
			return nil, fmt.Errorf("reading the demand history of %s: %w", group, err)
		}
		out := make([]float64, last-first+1)
		for _, m := range mins {
			if i := unixMinute(m.Start) - first; i >= 0 && i < int64(len(out)) {
				out[i] = float64(m.Live)
			}
		}
		return out, nil
	}
}

// act carries a decision out on the group when it acts, and says what it
// did or why it did not.
func (h *Forecaster) act(ctx context.Context, g asg.Group, mode string, d Decision) (bool, string) {
	changes := d.Action != "" && d.Action != ActionNone
	switch {
	case !changes:
		return false, "no change needed"
	case mode != asg.ModeAct:
		return false, "not acted: forecast-only mode"
	case !g.EnrolledByTag:
		return false, fmt.Sprintf("not acted: the group is enrolled by name only; tag it %s=true to let the plane act", shadow.TagEnrolled)
	}
	var did []string
	if d.Max > g.Max {
		if err := h.d.Groups.SetMaxSize(ctx, g.Name, d.Max); err != nil {
			return false, "error: " + err.Error()
		}
		did = append(did, fmt.Sprintf("max size raised from %d to %d", g.Max, d.Max))
	}
	if d.Action == ActionResize && d.InstanceType != "" {
		ref, err := h.d.Groups.Resize(ctx, g.Name, d.InstanceType)
		if err != nil {
			return len(did) > 0, strings.Join(append(did, "error: "+err.Error()), "; ")
		}
		did = append(did, fmt.Sprintf("new instances are %s (launch template %s version %s)", d.InstanceType, ref.ID, ref.Version))
	}
	if d.To != g.Desired {
		if err := h.d.Groups.SetDesiredCapacity(ctx, g.Name, d.To); err != nil {
			return len(did) > 0, strings.Join(append(did, "error: "+err.Error()), "; ")
		}
		did = append(did, fmt.Sprintf("desired capacity set from %d to %d", g.Desired, d.To))
	}
	if len(did) == 0 {
		return false, "nothing to change on the group"
	}
	return true, strings.Join(did, "; ")
}

// number is a float that encodes NaN and infinities as null.
type number float64

func (n number) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(f)
}

// auditBody is the JSON body of an audit record.
type auditBody struct {
	Minute       time.Time `json:"minute"`
	Mode         string    `json:"mode"`
	Action       string    `json:"action"`
	From         int       `json:"from"`
	To           int       `json:"to"`
	Max          int       `json:"max,omitempty"`
	InstanceType string    `json:"instance_type,omitempty"`
	Reason       string    `json:"reason"`
	Acted        bool      `json:"acted"`
	Outcome      string    `json:"outcome"`
	Observation  struct {
		Demand    number `json:"demand"`
		Desired   int    `json:"desired"`
		InService int    `json:"in_service"`
		Warming   int    `json:"warming"`
		Resources int    `json:"resources"`
	} `json:"observation"`
	ForecastP50 number          `json:"forecast_p50"`
	ForecastP90 number          `json:"forecast_p90"`
	Delta       number          `json:"delta"`
	RunMinutes  int             `json:"run_minutes"`
	Loop        json.RawMessage `json:"loop,omitempty"`
}

func (h *Forecaster) audit(ctx context.Context, group, mode, runID string, o Observation, r LoopResult, acted bool, outcome string, runMinutes int) {
	d := r.Decision
	b := auditBody{Minute: o.Minute, Mode: mode, Action: d.Action, From: d.From, To: d.To, Max: d.Max, InstanceType: d.InstanceType,
		Reason: d.Reason, Acted: acted, Outcome: outcome, ForecastP50: number(r.ForecastP50), ForecastP90: number(r.ForecastP90),
		Delta: number(r.Delta), RunMinutes: runMinutes}
	if b.Action == "" {
		b.Action = ActionNone
	}
	b.Observation.Demand, b.Observation.Desired, b.Observation.InService, b.Observation.Warming, b.Observation.Resources =
		number(o.Demand), o.Desired, o.InService, o.Warming, len(o.Resources)
	if r.Detail != nil {
		if raw, err := json.Marshal(r.Detail); err == nil && len(raw) < control.MaxAuditBody/2 {
			b.Loop = raw
		}
	}
	body, err := json.Marshal(b)
	if err != nil {
		h.log.WarnContext(ctx, "could not encode an audit record", "group", group, "err", err)
		return
	}
	err = h.d.Audit.Put(ctx, control.AuditRecord{Group: group, At: o.Minute, ID: runID, Action: b.Action, Mode: mode, Body: body})
	switch {
	case errors.Is(err, shadow.ErrConflict):
		h.log.InfoContext(ctx, "decision already audited (a retried run)", "group", group, "minute", o.Minute)
	case err != nil:
		h.metrics.Add("AuditErrors", metrics.Count, 1, metrics.Dim{Name: "Group", Value: group})
		h.log.WarnContext(ctx, "could not write an audit record", "group", group, "minute", o.Minute, "err", err)
	}
}

// emit writes the run's metrics of a group (docs/CONTRACTS.md).
func (h *Forecaster) emit(group string, o Observation, r LoopResult, gf GroupForecast) {
	gd := metrics.Dim{Name: "Group", Value: group}
	finite := func(name string, u metrics.Unit, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			h.metrics.Add(name, u, v, gd)
		}
	}
	finite("Delta", metrics.None, r.Delta)
	finite("ForecastP50", metrics.CountPerSecond, r.ForecastP50/60)
	finite("ForecastP90", metrics.CountPerSecond, r.ForecastP90/60)
	finite("ActualRate", metrics.CountPerSecond, o.Demand/60)
	h.metrics.Add("DesiredCapacity", metrics.Count, float64(gf.To), gd)
	h.metrics.Add("InServiceCapacity", metrics.Count, float64(o.InService), gd)
	h.metrics.Add("Decisions", metrics.Count, 1, gd, metrics.Dim{Name: "Action", Value: gf.Action})
}
