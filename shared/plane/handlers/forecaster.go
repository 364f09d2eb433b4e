package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
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
	// LaunchType returns the type the launch template of a group (as
	// EnrolledGroups described it) gives new instances
	// (asg.ErrUnsupported without a launch template).
	LaunchType(ctx context.Context, g asg.Group) (string, error)
	SetDesiredCapacity(ctx context.Context, name string, desired int) error
	SetMaxSize(ctx context.Context, name string, maxSize int) error
	Resize(ctx context.Context, name, instanceType string) (asg.LaunchTemplateRef, error)
	// StartRefresh starts an instance refresh replacing the group's
	// instances that do not match its launch template, capacity kept, and
	// returns its id (asg.ErrInProgress when one is running).
	StartRefresh(ctx context.Context, name string) (string, error)
	// OwnScaling returns the named groups' own scaling policies and
	// scheduled actions, by group.
	OwnScaling(ctx context.Context, names []string) (map[string][]asg.Scaling, error)
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

// GroupUtilization is the live groups' CPU utilization
// (awssdk.GroupCPU and memory.Groups).
//
// Contract: CPUUtilization returns each named group's average CPU
// utilization in percent for the minutes from the minute of from to the
// minute of to that have a datapoint, keyed by the minute's start; a group
// or minute without one is absent.
type GroupUtilization interface {
	CPUUtilization(ctx context.Context, groups []string, from, to time.Time) (map[string]map[time.Time]float64, error)
}

// InstanceSizes looks instance types up (*catalog.Catalog), to count a
// group of mixed types in units of its launch template's type.
type InstanceSizes interface {
	Lookup(name string) (catalog.InstanceType, error)
}

var _ InstanceSizes = (*catalog.Catalog)(nil)

// ForecasterDeps are what the forecaster handler uses.
type ForecasterDeps struct {
	Registry *Registry
	Groups   ForecastGroups
	History  ForecastHistory
	States   ForecastStates
	Audit    AuditWriter
	NewLoop  LoopFactory
	// Utilization, when set, is read for the groups without a configured
	// per-instance capacity (the loop learns theirs from it).
	Utilization GroupUtilization
	// Sizes, when set, weighs instances of another type than the launch
	// template's by their vCPUs (a group in the middle of a resize).
	Sizes   InstanceSizes
	Clock   clock.Clock
	Metrics metrics.Sink
	Log     *slog.Logger
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
	// Concurrency bounds the groups run at once (DefaultForecasterConcurrency
	// when 0): each reads its history and state and writes its state and
	// audit, so a run over many groups overlaps them to fit its schedule.
	Concurrency int
	// Reserve is the time before the invocation's deadline after which no
	// group is started (DefaultForecasterReserve when 0): the groups left
	// are deferred to the next run, which takes them first.
	Reserve time.Duration
	// PerInstance is the policy's per-instance capacity (per_instance of
	// SHADOWSCALE_POLICY, 0: none). Groups without it and without a
	// shadowscale:per-instance tag have their CPU utilization read.
	PerInstance float64
	// UtilizationWindow is how far back CPU utilization is read (15 min
	// when 0); older minutes of a catch-up get none.
	UtilizationWindow time.Duration
	// Cold restores every group's loop from its saved state each run. By
	// default a group's loop stays in the function's memory between runs
	// and is used again when the state it saved is still the stored one
	// (same version): no restore, no history replay.
	Cold bool
}

// Defaults of ForecasterOptions.
const (
	DefaultForecasterConcurrency = 8
	DefaultForecasterReserve     = 10 * time.Second
)

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
		o.Concurrency = DefaultForecasterConcurrency
	}
	if o.Reserve <= 0 {
		o.Reserve = DefaultForecasterReserve
	}
	if o.UtilizationWindow <= 0 {
		o.UtilizationWindow = 15 * time.Minute
	}
	return o
}

// OutcomeForecasted: the forecaster ran over the enrolled groups.
const OutcomeForecasted = "forecasted"

// GroupDeferred is a group's outcome when the run's deadline came before
// it was started: the next run takes it first.
const GroupDeferred = "deferred to the next run: the run's deadline was near"

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
	// PerInstance is the per-instance capacity the last minute planned
	// with (mutations a minute), CapacitySource where it came from.
	PerInstance    number `json:"per_instance,omitempty"`
	CapacitySource string `json:"capacity_source,omitempty"`
	// OwnScaling names the group's own scaling policies and scheduled
	// actions that set its desired capacity (acting is refused then).
	OwnScaling []string `json:"own_scaling,omitempty"`
	// Acted: the decision was carried out on the group.
	Acted bool `json:"acted"`
	// Outcome says what was done, or why nothing was.
	Outcome string `json:"outcome,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Forecaster handles the scheduled event (every minute): for every
// enrolled group it loads the loop's state, reads the history minutes it
// has not seen, steps the loop through them with the group's capacity,
// saves the state (conditionally: of two overlapping runs one commits, the
// other is a logged no-op), carries the last decision out when the group
// acts (mode act, by SHADOWSCALE_MODE or its shadowscale:mode tag, tagged
// shadowscale:enrolled=true, and no scaling policy of its own that sets
// its desired capacity), audits it with its reason, and emits the metrics.
//
// A group's failure is logged, counted (ForecasterFailures) and reported in
// the answer; its state is not advanced, so the next run retries the same
// minutes. Groups not started before the deadline's reserve are deferred
// to the next run. The invocation fails (EventBridge retries it) only when
// the groups cannot be listed.
type Forecaster struct {
	d   ForecasterDeps
	opt ForecasterOptions
	base

	mu       sync.Mutex
	warm     map[string]warmLoop // by group: its loop as last saved by this container
	deferred map[string]bool     // groups the last run did not start
}

// warmLoop is a group's loop kept in memory after a run, valid while the
// stored state is the one it saved (version) and the group's
// configuration (key) is unchanged.
type warmLoop struct {
	version int64
	key     string
	loop    Loop
}

// NewForecaster returns the forecaster handler.
func NewForecaster(d ForecasterDeps, opt ForecasterOptions) (*Forecaster, error) {
	errs := missing(
		dep{"auto scaling groups", d.Groups != nil},
		dep{"history", d.History != nil},
		dep{"state store", d.States != nil},
		dep{"audit", d.Audit != nil},
		dep{"control loop", d.NewLoop != nil},
		dep{"clock", d.Clock != nil},
	)
	opt = opt.withDefaults()
	if opt.Mode != asg.ModeAct && opt.Mode != asg.ModeForecastOnly {
		errs = append(errs, fmt.Errorf("mode %q is not act or forecast-only", opt.Mode))
	}
	if opt.Concurrency > MaxForecasterConcurrency {
		errs = append(errs, fmt.Errorf("concurrency %d: at most %d", opt.Concurrency, MaxForecasterConcurrency))
	}
	if opt.PerInstance < 0 || math.IsNaN(opt.PerInstance) || math.IsInf(opt.PerInstance, 0) {
		errs = append(errs, fmt.Errorf("per-instance capacity %v: must be 0 (none) or positive", opt.PerInstance))
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
	return &Forecaster{d: d, opt: opt, base: base{function: "forecaster", metrics: d.Metrics, log: d.Log},
		warm: map[string]warmLoop{}, deferred: map[string]bool{}}, nil
}

// MaxForecasterConcurrency bounds ForecasterOptions.Concurrency: past it
// the groups wait on the SDK's connections and the function's CPU rather
// than on DynamoDB.
const MaxForecasterConcurrency = 64

// runInputs is what a run reads once for all its groups.
type runInputs struct {
	runID string
	// last is the Unix minute of the last complete minute.
	last int64
	// own are the groups' own scaling policies and actions; ownErr says
	// why they could not be read (acting is refused then).
	own    map[string][]asg.Scaling
	ownErr error
	// util is the CPU utilization of the groups that learn their
	// per-instance capacity, by group and minute.
	util map[string]map[time.Time]float64
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
	in := h.prepare(ctx, groups, h.runID(ctx, sc))
	resp := ForecastResponse{Outcome: OutcomeForecasted, Groups: make([]GroupForecast, len(groups))}
	started := h.runGroups(ctx, groups, in, resp.Groups)

	failed, deferred := 0, []string{}
	for i, g := range groups {
		if !started[i] {
			resp.Groups[i] = GroupForecast{Group: g.Name, Mode: h.mode(ctx, g), From: g.Desired, To: g.Desired, Decided: g.Desired, Outcome: GroupDeferred}
			deferred = append(deferred, g.Name)
			continue
		}
		if gf := resp.Groups[i]; gf.Error != "" {
			failed++
			h.metrics.Add("ForecasterFailures", metrics.Count, 1, metrics.Dim{Name: "Group", Value: g.Name})
			h.log.WarnContext(ctx, "group not forecast", "group", g.Name, "err", gf.Error)
		}
	}
	h.keep(groups, deferred)
	var why []string
	if failed > 0 {
		why = append(why, fmt.Sprintf("%d of %d groups failed; the next run retries their minutes", failed, len(groups)))
	}
	if len(deferred) > 0 {
		why = append(why, fmt.Sprintf("%d of %d groups deferred to the next run: the deadline was near", len(deferred), len(groups)))
		h.log.WarnContext(ctx, "groups deferred to the next run", "deferred", len(deferred), "groups", len(groups), "first", deferred[0])
	}
	resp.Reason = strings.Join(why, "; ")
	h.log.InfoContext(ctx, "forecast run done", "groups", len(groups), "failed", failed, "deferred", len(deferred))
	return resp, nil
}

// runID names the run in the audit records' keys: the EventBridge event
// id, else the Lambda request id, else the time.
func (h *Forecaster) runID(ctx context.Context, sc Scheduled) string {
	if sc.EventID != "" {
		return sc.EventID
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return strconv.FormatInt(h.d.Clock.Now().UnixNano(), 36)
}

// runGroups runs the groups, Concurrency at a time, those the last run
// deferred first; it starts none once the invocation's deadline is less
// than Reserve away. It reports which it started.
func (h *Forecaster) runGroups(ctx context.Context, groups []asg.Group, in *runInputs, out []GroupForecast) []bool {
	order := make([]int, 0, len(groups))
	h.mu.Lock()
	for pass := range 2 {
		for i, g := range groups {
			if h.deferred[g.Name] == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	h.mu.Unlock()
	deadline, bounded := ctx.Deadline()
	started := make([]bool, len(groups))
	slots := make(chan struct{}, h.opt.Concurrency)
	var wg sync.WaitGroup
	for _, i := range order {
		slots <- struct{}{}
		if bounded && deadline.Sub(h.d.Clock.Now()) < h.opt.Reserve {
			<-slots
			break
		}
		started[i] = true
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			out[i] = h.group(ctx, groups[i], in)
		}()
	}
	wg.Wait()
	return started
}

// keep remembers the deferred groups and forgets the warm loops of groups
// no longer enrolled.
func (h *Forecaster) keep(groups []asg.Group, deferred []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deferred = map[string]bool{}
	for _, n := range deferred {
		h.deferred[n] = true
	}
	enrolled := map[string]bool{}
	for _, g := range groups {
		enrolled[g.Name] = true
	}
	for n := range h.warm {
		if !enrolled[n] {
			delete(h.warm, n)
		}
	}
}

// prepare reads, once for the run, the groups' own scaling policies and
// the CPU utilization of the groups that learn their capacity.
func (h *Forecaster) prepare(ctx context.Context, groups []asg.Group, runID string) *runInputs {
	in := &runInputs{runID: runID, last: unixMinute(h.d.Clock.Now().Add(-h.opt.Settle)) - 1}
	names := make([]string, 0, len(groups))
	var learn []string
	for _, g := range groups {
		names = append(names, g.Name)
		if !h.capacityConfigured(g) {
			learn = append(learn, g.Name)
		}
	}
	if len(names) > 0 {
		in.own, in.ownErr = h.d.Groups.OwnScaling(ctx, names)
		if in.ownErr != nil {
			h.log.WarnContext(ctx, "could not read the groups' own scaling policies; acting refused this run", "err", in.ownErr)
		}
	}
	if len(learn) > 0 && h.d.Utilization != nil {
		to := minuteTime(in.last)
		from := to.Add(-h.opt.UtilizationWindow + time.Minute)
		u, err := h.d.Utilization.CPUUtilization(ctx, learn, from, to)
		if err != nil {
			h.log.WarnContext(ctx, "could not read CPU utilization; the minutes get none", "groups", len(learn), "err", err)
		}
		in.util = u
	}
	return in
}

// capacityConfigured reports whether a group's per-instance capacity is
// configured (a valid shadowscale:per-instance tag, or the policy's).
func (h *Forecaster) capacityConfigured(g asg.Group) bool {
	if _, ok, err := tagCapacity(g.Tags); ok && err == nil {
		return true
	}
	return h.opt.PerInstance > 0
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
func (h *Forecaster) group(ctx context.Context, g asg.Group, in *runInputs) GroupForecast {
	gf := GroupForecast{Group: g.Name, Mode: h.mode(ctx, g), From: g.Desired, To: g.Desired, Decided: g.Desired}
	fail := func(err error) GroupForecast { h.forget(g.Name); gf.Error = err.Error(); return gf }
	for _, s := range in.own[g.Name] {
		if s.Conflicts() {
			gf.OwnScaling = append(gf.OwnScaling, s.String())
		}
	}

	st, fs, err := h.loadState(ctx, g.Name)
	if err != nil {
		return fail(err)
	}
	if st.Version == 0 && len(gf.OwnScaling) > 0 {
		h.log.WarnContext(ctx, "newly enrolled group has scaling of its own that sets its desired capacity; the plane will not act on it while it does",
			"group", g.Name, "own_scaling", strings.Join(gf.OwnScaling, ", "))
	}
	if fs.Last >= in.last {
		gf.Outcome = "no new minute"
		return gf
	}
	c := groupCapacity(g, h.launchType(ctx, g), h.d.Sizes)
	lg := LoopGroup{Name: g.Name, Min: g.Min, Max: g.Max, Mode: gf.Mode, InstanceType: c.InstanceType, Tags: g.Tags}
	var loop Loop
	ok := false
	if len(fs.Loop) > 0 {
		loop, ok = h.warmed(g.Name, st.Version, lg)
	}
	if !ok {
		if loop, err = h.restoreLoop(ctx, lg, &fs); err != nil {
			return fail(err)
		}
	}
	obs, err := h.newObservations(ctx, g.Name, &fs, in.last, c, in.util[g.Name])
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
	fs.Last = in.last
	version, saved, err := h.saveState(ctx, g.Name, loop, fs, st.Version)
	if err != nil {
		return fail(err)
	} else if !saved {
		h.forget(g.Name)
		gf.Outcome = "lost the race to another run"
		return gf
	}
	h.remember(g.Name, version, lg, loop)
	h.decide(ctx, g, in, steps, c, &gf)
	return gf
}

// warmKey is what a loop was configured with: a warm loop is used again
// only for the same.
func warmKey(lg LoopGroup) string {
	b, _ := json.Marshal(lg) // map keys sorted: the same group gives the same key
	return string(b)
}

// warmed returns the group's loop kept from the last run when the stored
// state is still the one it saved.
func (h *Forecaster) warmed(group string, version int64, lg LoopGroup) (Loop, bool) {
	if h.opt.Cold || version == 0 {
		return nil, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := h.warm[group]
	if !ok || w.version != version || w.key != warmKey(lg) {
		delete(h.warm, group)
		return nil, false
	}
	delete(h.warm, group) // stepped from here on: kept again only once saved
	return w.loop, true
}

func (h *Forecaster) remember(group string, version int64, lg LoopGroup, loop Loop) {
	if h.opt.Cold {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.warm[group] = warmLoop{version: version, key: warmKey(lg), loop: loop}
}

func (h *Forecaster) forget(group string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.warm, group)
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

// launchType is the type the group's launch template launches, "" when
// it cannot be read (the instances' own types are used then).
func (h *Forecaster) launchType(ctx context.Context, g asg.Group) string {
	itype, err := h.d.Groups.LaunchType(ctx, g)
	if err != nil {
		h.log.DebugContext(ctx, "no launch template instance type; using the instances'", "group", g.Name, "err", err)
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
// data) and turns them into observations.
func (h *Forecaster) newObservations(ctx context.Context, group string, fs *forecastState, last int64, c capacity, util map[time.Time]float64) ([]Observation, error) {
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
	if fs.Last == 0 {
		first = last
		for _, gm := range groupMins {
			if _, ok := minuteDemand(gm); ok {
				first = unixMinute(gm.Start)
				break
			}
		}
	}
	obs := observations(first, last, groupMins, resMins, fs.Totals, c, util)
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

// saveState stores the loop's state at version and returns the new
// version; saved is false (and no error) when another run saved first:
// this run then changes nothing.
func (h *Forecaster) saveState(ctx context.Context, group string, loop Loop, fs forecastState, version int64) (int64, bool, error) {
	var err error
	if fs.Loop, err = loop.State(); err != nil {
		return 0, false, fmt.Errorf("saving the control loop of %s: %w", group, err)
	}
	blob, err := json.Marshal(fs)
	if err != nil {
		return 0, false, fmt.Errorf("encoding the state of %s: %w", group, err)
	}
	v, err := h.d.States.Save(ctx, group, blob, version)
	if err != nil {
		if errors.Is(err, shadow.ErrConflict) {
			h.log.InfoContext(ctx, "another run saved this group's state first; this run changes nothing", "group", group, "version", version)
			return 0, false, nil
		}
		// A write whose every answer was lost may still have taken
		// effect: then the state stored is this run's, and the run goes
		// on to act and audit (the next run would find no new minute,
		// and this minute's decision would be lost).
		if cur, lerr := h.d.States.Load(ctx, group); lerr == nil && cur.Version == version+1 && bytes.Equal(cur.Blob, blob) {
			h.log.WarnContext(ctx, "saving the state reported an error, but the state stored is this run's", "group", group, "version", cur.Version, "err", err)
			return cur.Version, true, nil
		}
		return 0, false, fmt.Errorf("saving the state of %s: %w", group, err)
	}
	return v, true, nil
}

// decide carries out the last minute's decision (in act mode), audits
// every minute that decided something, and emits the group's metrics.
// Each minute's decision first goes through the guards (no data, a resize
// under way).
func (h *Forecaster) decide(ctx context.Context, g asg.Group, in *runInputs, steps []stepped, c capacity, gf *GroupForecast) {
	for i := range steps {
		steps[i].r.Decision = guard(steps[i].o, c, steps[i].r.Decision)
	}
	lastStep := steps[len(steps)-1]
	d := lastStep.r.Decision
	gf.Action, gf.To, gf.Decided, gf.Max, gf.InstanceType, gf.Reason = d.Action, d.To, d.To, d.Max, d.InstanceType, d.Reason
	gf.PerInstance, gf.CapacitySource = number(lastStep.r.PerInstance), lastStep.r.CapacitySource
	if d.Action == "" {
		gf.Action = ActionNone
	}
	gf.Acted, gf.Outcome = h.act(ctx, g, gf.Mode, d, in, gf.OwnScaling)
	if !gf.Acted {
		gf.To = g.Desired
	} else if d.Action == ActionResize {
		gf.To = max(d.To, g.Desired) // see act: a resize never lowers the desired capacity
	}
	earlier, unaudited := catchUpAudits(steps)
	for _, i := range earlier {
		h.audit(ctx, g.Name, gf.Mode, in.runID, steps[i].o, steps[i].r, c, gf.OwnScaling, false, "superseded by a later minute of the same run", len(steps), 0)
	}
	h.audit(ctx, g.Name, gf.Mode, in.runID, lastStep.o, lastStep.r, c, gf.OwnScaling, gf.Acted, gf.Outcome, len(steps), unaudited)
	if unaudited > 0 {
		h.log.InfoContext(ctx, "earlier minutes of the run not audited", "group", g.Name, "minutes", len(steps),
			"audited", len(earlier)+1, "unaudited", unaudited, "cap", MaxCatchUpAudits)
	}
	h.emit(g.Name, lastStep.o, lastStep.r, *gf)
	h.log.InfoContext(ctx, "group forecast", "group", g.Name, "mode", gf.Mode, "minutes", gf.Minutes, "action", gf.Action,
		"from", g.Desired, "to", d.To, "acted", gf.Acted, "outcome", gf.Outcome, "reason", d.Reason,
		"per_instance", number(lastStep.r.PerInstance), "capacity_source", lastStep.r.CapacitySource)
}

// MaxCatchUpAudits is how many of a run's earlier minutes are audited at
// most: a run that catches up (after an outage of the forecaster) or
// rebuilds a loop from history (a week of minutes) steps through many,
// and each whose decision would have changed the group is audited as
// superseded, the latest MaxCatchUpAudits of them. Auditing every one cost
// a fresh deployment thousands of writes a group (5,532 on the scale
// benchmark's daily wave), 40% of its CPU, and filled the decision log
// with minutes the plane never acted in.
const MaxCatchUpAudits = 60

// catchUpAudits returns the earlier steps to audit (not the last one), in
// order, and how many more would have been.
func catchUpAudits(steps []stepped) (earlier []int, unaudited int) {
	for i := len(steps) - 2; i >= 0; i-- {
		if !steps[i].r.Decision.Changes() {
			continue
		}
		if len(earlier) == MaxCatchUpAudits {
			unaudited++
			continue
		}
		earlier = append(earlier, i)
	}
	slices.Reverse(earlier)
	return earlier, unaudited
}

// demandHistory reads a group's demand a minute up to the minute last
// (NaN for a minute without data, as the loop was fed it).
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
		for i := range out {
			out[i] = math.NaN()
		}
		for _, m := range mins {
			if i := unixMinute(m.Start) - first; i >= 0 && i < int64(len(out)) {
				out[i], _ = minuteDemand(m)
			}
		}
		return out, nil
	}
}

// act carries a decision out on the group when it acts, and says what it
// did or why it did not.
//
// A resize never lowers the desired capacity: the group keeps its count
// while the instance refresh replaces its instances with the bigger type
// (launching before terminating), and the loop scales it in once the
// refresh is done. Lowering the count at once would terminate instances
// of the old type before the new ones serve.
func (h *Forecaster) act(ctx context.Context, g asg.Group, mode string, d Decision, in *runInputs, own []string) (bool, string) {
	switch {
	case !d.Changes():
		return false, "no change needed"
	case mode != asg.ModeAct:
		return false, "not acted: forecast-only mode"
	case !g.EnrolledByTag:
		return false, fmt.Sprintf("not acted: the group is enrolled by name only; tag it %s=true to let the plane act", shadow.TagEnrolled)
	case in.ownErr != nil:
		return false, "not acted: could not check the group's own scaling policies and scheduled actions: " + in.ownErr.Error()
	case len(own) > 0:
		return false, "not acted: the group's own scaling sets its desired capacity too (" + strings.Join(own, ", ") +
			"), and two controllers would overwrite each other every minute; delete or disable them, make target tracking scale out only (DisableScaleIn), or keep the group forecast-only"
	}
	var did []string
	if d.Max > g.Max {
		if err := h.d.Groups.SetMaxSize(ctx, g.Name, d.Max); err != nil {
			return false, "error: " + err.Error()
		}
		did = append(did, fmt.Sprintf("max size raised from %d to %d", g.Max, d.Max))
	}
	to := d.To
	if d.Action == ActionResize && d.InstanceType != "" {
		ref, err := h.d.Groups.Resize(ctx, g.Name, d.InstanceType)
		if err != nil {
			return len(did) > 0, strings.Join(append(did, "error: "+err.Error()), "; ")
		}
		did = append(did, fmt.Sprintf("new instances are %s (launch template %s version %s)", d.InstanceType, ref.ID, ref.Version))
		switch id, err := h.d.Groups.StartRefresh(ctx, g.Name); {
		case errors.Is(err, asg.ErrInProgress):
			did = append(did, "an instance refresh already running replaces the running instances")
		case err != nil:
			did = append(did, "error starting the instance refresh (running instances keep their type): "+err.Error())
		default:
			did = append(did, fmt.Sprintf("instance refresh %s replaces the running instances, launching before terminating", id))
		}
		if to < g.Desired {
			did = append(did, fmt.Sprintf("desired capacity kept at %d until the refresh is done (then %d of the bigger type suffice)", g.Desired, to))
			to = g.Desired
		}
	}
	if to != g.Desired {
		if err := h.d.Groups.SetDesiredCapacity(ctx, g.Name, to); err != nil {
			return len(did) > 0, strings.Join(append(did, "error: "+err.Error()), "; ")
		}
		did = append(did, fmt.Sprintf("desired capacity set from %d to %d", g.Desired, to))
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
	// Capacity is the per-instance capacity the step planned with and
	// where that figure came from.
	Capacity struct {
		PerInstance number `json:"per_instance"`
		Source      string `json:"source"`
	} `json:"capacity"`
	Observation struct {
		// Demand is null for a minute without data.
		Demand      number `json:"demand"`
		NoData      bool   `json:"no_data,omitempty"`
		Utilization number `json:"utilization"`
		Desired     int    `json:"desired"`
		InService   int    `json:"in_service"`
		Warming     int    `json:"warming"`
		// Resizing counts the live instances of another type than the
		// launch template's (a resize under way).
		Resizing  int `json:"resizing,omitempty"`
		Resources int `json:"resources"`
	} `json:"observation"`
	OwnScaling  []string `json:"own_scaling,omitempty"`
	ForecastP50 number   `json:"forecast_p50"`
	ForecastP90 number   `json:"forecast_p90"`
	Delta       number   `json:"delta"`
	RunMinutes  int      `json:"run_minutes"`
	// Unaudited, on a run's last record, counts its earlier minutes whose
	// decision would have changed the group but are not audited
	// (MaxCatchUpAudits).
	Unaudited int             `json:"unaudited_minutes,omitempty"`
	Loop      json.RawMessage `json:"loop,omitempty"`
}

func (h *Forecaster) audit(ctx context.Context, group, mode, runID string, o Observation, r LoopResult, c capacity, own []string, acted bool, outcome string, runMinutes, unaudited int) {
	d := r.Decision
	b := auditBody{Minute: o.Minute, Mode: mode, Action: d.Action, From: d.From, To: d.To, Max: d.Max, InstanceType: d.InstanceType,
		Reason: d.Reason, Acted: acted, Outcome: outcome, ForecastP50: number(r.ForecastP50), ForecastP90: number(r.ForecastP90),
		Delta: number(r.Delta), RunMinutes: runMinutes, Unaudited: unaudited, OwnScaling: own}
	if b.Action == "" {
		b.Action = ActionNone
	}
	b.Capacity.PerInstance, b.Capacity.Source = number(r.PerInstance), r.CapacitySource
	ob := &b.Observation
	ob.Demand, ob.NoData, ob.Utilization = number(o.Demand), math.IsNaN(o.Demand), number(o.Utilization)
	ob.Desired, ob.InService, ob.Warming, ob.Resizing, ob.Resources = o.Desired, o.InService, o.Warming, c.Resizing, len(o.Resources)
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
