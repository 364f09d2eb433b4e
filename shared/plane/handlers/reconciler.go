package handlers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// ReconcilerOptions tune the reconciler handler.
type ReconcilerOptions struct {
	shadow.ReconcileOptions
	// AgentTimeout bounds each agent state query.
	AgentTimeout time.Duration
	// AgentConcurrency bounds the agent queries in flight.
	AgentConcurrency int
	// Concurrency bounds the actions in flight (creates, replaces,
	// retires...): 16 keeps a 1,000-instance enrollment within one run
	// and RunInstances well inside EC2's request rate.
	Concurrency int
	// Reserve is how long before the invocation's deadline no further
	// action starts (one action's worst case, a throttled RunInstances
	// with its retries and the record writes): the run then ends cleanly
	// and the next one does the rest.
	Reserve time.Duration
}

// DefaultReconcilerOptions are the 5-minute reconciler's.
func DefaultReconcilerOptions() ReconcilerOptions {
	return ReconcilerOptions{ReconcileOptions: shadow.DefaultReconcileOptions(), AgentTimeout: 2 * time.Second, AgentConcurrency: 8,
		Concurrency: 16, Reserve: 30 * time.Second}
}

// Reconciler handles the scheduled event: it observes the enrolled groups'
// running instances, this stack's shadow instances, the shadow records and
// (when an agent client is wired) the agents' states, asks
// shadow.Reconcile what to do, does it (Manager.Execute), and reports
// LiveCount and ShadowCount per group.
type Reconciler struct {
	d   Deps
	opt ReconcilerOptions
	base
}

// NewReconciler returns the reconciler handler.
func NewReconciler(d Deps, opt ReconcilerOptions) (*Reconciler, error) {
	if err := d.check("reconciler"); err != nil {
		return nil, err
	}
	if opt.AgentTimeout <= 0 {
		opt.AgentTimeout = DefaultReconcilerOptions().AgentTimeout
	}
	if opt.AgentConcurrency <= 0 {
		opt.AgentConcurrency = DefaultReconcilerOptions().AgentConcurrency
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultReconcilerOptions().Concurrency
	}
	if opt.Reserve <= 0 {
		opt.Reserve = DefaultReconcilerOptions().Reserve
	}
	return &Reconciler{d: d, opt: opt, base: d.base("reconciler")}, nil
}

// Handle is the reconciler function's HandleFunc.
func (h *Reconciler) Handle(ctx context.Context, payload []byte) (Response, error) {
	ev, err := h.d.Registry.Parse(payload)
	if err != nil {
		return h.ignore(ctx, eventCode(err), err.Error()), nil
	}
	if _, ok := ev.(Scheduled); !ok {
		return h.ignore(ctx, "unexpected-event", fmt.Sprintf("the reconciler runs on its schedule, not on %T", ev)), nil
	}
	// When no further action may start: the deadline Lambda gives the
	// invocation (real time), less the reserve, on the handler's clock.
	var stopAt time.Time
	if dl, ok := ctx.Deadline(); ok {
		stopAt = h.d.Clock.Now().Add(time.Until(dl) - h.opt.Reserve)
	}
	// Records an earlier version stored elsewhere come first: a live
	// instance whose record is not yet where this version reads it would
	// get a second shadow, and its shadow would be deleted as an orphan.
	done, why, err := h.migrateLegacy(ctx)
	if err != nil {
		// As when it cannot observe: the invocation fails (the errors
		// alarm), and the next run tries again.
		return Response{}, err
	}
	if !done {
		h.log.WarnContext(ctx, "reconcile postponed: shadow records of an earlier version remain to be moved", "reason", why)
		return Response{Outcome: OutcomeDeferred, Reason: why}, nil
	}
	// The pools' slot counts are read before the records are listed, so
	// that a correction from them cannot undo a claim made in between.
	slots, serr := h.d.Manager.SlotCounts(ctx)
	if serr != nil {
		h.log.WarnContext(ctx, "pool slot counts unreadable; not corrected this run", "err", serr)
	}
	obs, groups, err := h.Observe(ctx)
	if err != nil {
		return Response{}, err
	}
	if serr == nil {
		h.d.Manager.CorrectSlots(ctx, slots, obs.Records)
	}
	acts := shadow.Reconcile(obs, h.opt.ReconcileOptions)
	if h.d.Manager.Agents == nil {
		kept := acts[:0]
		skipped := 0
		for _, a := range acts {
			if a.Kind == shadow.Resync {
				skipped++
				continue
			}
			kept = append(kept, a)
		}
		if skipped > 0 {
			h.log.InfoContext(ctx, "resyncs skipped: no agent client wired", "count", skipped)
		}
		acts = kept
	}
	results := h.d.Manager.ExecuteWith(ctx, acts, obs.Lives, shadow.ExecuteOptions{Concurrency: h.opt.Concurrency, StopAt: stopAt})

	resp := Response{Outcome: OutcomeReconciled, Counts: map[string]GroupCounts{}}
	for _, g := range groups {
		resp.Counts[g] = GroupCounts{}
	}
	for _, l := range obs.Lives {
		c := resp.Counts[l.Group]
		c.Live++
		resp.Counts[l.Group] = c
	}
	for _, s := range obs.Shadows {
		if s.State.Gone() {
			continue
		}
		g := s.Tags[shadow.TagGroup]
		c := resp.Counts[g]
		c.Shadows++
		resp.Counts[g] = c
	}
	for _, r := range obs.Records {
		c := resp.Counts[r.Group]
		c.Records++
		resp.Counts[r.Group] = c
	}
	names := make([]string, 0, len(resp.Counts))
	for g := range resp.Counts {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		c := resp.Counts[g]
		h.metrics.Add("LiveCount", metrics.Count, float64(c.Live), metrics.Dim{Name: "Group", Value: g})
		h.metrics.Add("ShadowCount", metrics.Count, float64(c.Shadows), metrics.Dim{Name: "Group", Value: g})
	}
	failed, deferred, unstarted := 0, 0, 0
	for _, r := range results {
		ar := ActionResult{Kind: string(r.Action.Kind), Live: r.Action.LiveID, Shadow: r.Action.ShadowID, Reason: r.Action.Reason}
		switch {
		case errors.Is(r.Err, shadow.ErrDeadline):
			ar.Deferred = r.Err.Error()
			unstarted++
			resp.Actions = append(resp.Actions, ar)
			continue // not attempted: not counted as an action
		case shadow.Deferred(r.Err):
			ar.Deferred = r.Err.Error()
			deferred++
		case r.Err != nil:
			ar.Error = r.Err.Error()
			failed++
		}
		h.metrics.Add("ReconcileActions", metrics.Count, 1, metrics.Dim{Name: "Kind", Value: ar.Kind})
		resp.Actions = append(resp.Actions, ar)
	}
	if failed > 0 {
		h.metrics.Add("ReconcileFailures", metrics.Count, float64(failed))
	}
	if deferred+unstarted > 0 {
		h.metrics.Add("ReconcileDeferred", metrics.Count, float64(deferred+unstarted))
	}
	var notes []string
	if failed > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d actions failed; the next run retries them", failed, len(results)))
	}
	if deferred > 0 {
		notes = append(notes, fmt.Sprintf("%d deferred (pool full, replacement backing off or capped)", deferred))
	}
	if unstarted > 0 {
		notes = append(notes, fmt.Sprintf("%d not started: the deadline was near; the next run does them", unstarted))
	}
	resp.Reason = strings.Join(notes, "; ")
	h.log.InfoContext(ctx, "reconciled", "lives", len(obs.Lives), "shadows", len(obs.Shadows), "records", len(obs.Records), "actions", len(results), "failed", failed, "deferred", deferred, "not_started", unstarted)
	return resp, nil
}

// LegacyPage is how many records of an earlier version's layout one
// call moves (docs/DYNAMODB.md, "Upgrading"); a run calls it until none
// remain or the deadline is near.
const LegacyPage = 1000

// migrateLegacy moves the records an earlier version stored where this one
// no longer reads them (Deps.Legacy), page after page. It reports false,
// and why, when some remain (the deadline came first, or a full page moved
// nothing), and an error when they could not be read: either way the run
// must not act, or it would launch a second shadow for their live
// instances. A record that could not be moved (one that cannot be
// decoded, a failed write) is logged and does not hold the run: its
// shadow is replaced as if it had none.
func (h *Reconciler) migrateLegacy(ctx context.Context) (bool, string, error) {
	if h.d.Legacy == nil {
		return true, "", nil
	}
	// The move stops at the run's stop time (the deadline less the
	// reserve): a record is moved whole or not at all, and the next run
	// goes on.
	mctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		mctx, cancel = context.WithDeadline(ctx, dl.Add(-h.opt.Reserve))
		defer cancel()
	}
	var total shadow.LegacyMigration
	defer func() {
		if total != (shadow.LegacyMigration{}) {
			h.log.InfoContext(ctx, "shadow records moved from an earlier version's layout",
				"moved", total.Moved, "dropped", total.Dropped, "skipped", total.Skipped, "failed", total.Failed, "more", total.More)
		}
	}()
	for {
		m, err := h.d.Legacy.MigrateLegacy(mctx, LegacyPage)
		total.Moved, total.Dropped, total.Skipped, total.Failed, total.More = total.Moved+m.Moved, total.Dropped+m.Dropped, total.Skipped+m.Skipped, total.Failed+m.Failed, m.More
		if err != nil {
			if m.Failed == 0 {
				if mctx.Err() != nil && ctx.Err() == nil {
					return false, fmt.Sprintf("moved %d shadow records of an earlier version; the stop time came, the next run goes on", total.Moved), nil
				}
				return false, "", fmt.Errorf("reading the shadow records of an earlier version: %w", err)
			}
			h.log.WarnContext(ctx, "some shadow records of an earlier version could not be moved", "failed", m.Failed, "err", err)
		}
		if !m.More {
			return true, "", nil
		}
		if mctx.Err() != nil {
			return false, fmt.Sprintf("moved %d shadow records of an earlier version; more remain, the next run goes on", total.Moved), nil
		}
		if m.Moved+m.Dropped == 0 {
			// A full page that moved nothing would be read again as is.
			return false, fmt.Sprintf("%d shadow records of an earlier version could not be moved", m.Skipped+m.Failed), nil
		}
	}
}

// Observe gathers what Reconcile compares, and the enrolled group names.
func (h *Reconciler) Observe(ctx context.Context) (shadow.Observed, []string, error) {
	groups, err := h.d.Groups.EnrolledGroups(ctx)
	if err != nil {
		return shadow.Observed{}, nil, fmt.Errorf("listing enrolled groups: %w", err)
	}
	member := map[string]string{}
	var ids, names []string
	for _, g := range groups {
		names = append(names, g.Name)
		for _, id := range g.InService() {
			member[id] = g.Name
			ids = append(ids, id)
		}
	}
	obs := shadow.Observed{Now: h.d.Clock.Now()}
	if len(ids) > 0 {
		insts, err := h.d.Fleet.Describe(ctx, ids)
		if err != nil {
			return shadow.Observed{}, nil, fmt.Errorf("describing live instances: %w", err)
		}
		for _, i := range insts {
			// Pending members are live too: a launch-successful event may
			// have given one its shadow already, which must not be retired.
			if (i.State != shadow.Running && i.State != shadow.Pending) || i.LooksLikeShadow() {
				continue
			}
			i.Group = member[i.ID]
			obs.Lives = append(obs.Lives, i)
		}
	}
	if obs.Shadows, err = h.d.Fleet.Shadows(ctx, ""); err != nil {
		return shadow.Observed{}, nil, fmt.Errorf("listing shadows: %w", err)
	}
	if obs.Records, err = h.d.Records.List(ctx); err != nil {
		return shadow.Observed{}, nil, fmt.Errorf("listing shadow records: %w", err)
	}
	if h.d.Manager.Agents != nil {
		obs.Agents = h.agentStates(ctx, obs)
	}
	return obs, names, nil
}

// agentStates asks the live and shadow agents of every active record whose
// two instances run, with bounded concurrency and a timeout per query.
func (h *Reconciler) agentStates(ctx context.Context, obs shadow.Observed) map[string]shadow.AgentPair {
	byID := map[string]shadow.Instance{}
	for _, i := range obs.Lives {
		byID[i.ID] = i
	}
	for _, i := range obs.Shadows {
		byID[i.ID] = i
	}
	out := map[string]shadow.AgentPair{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(h.opt.AgentConcurrency)
	for _, r := range obs.Records {
		live, lok := byID[r.LiveID]
		sh, sok := byID[r.ShadowID]
		if r.Status != shadow.Active || !lok || !sok || sh.State != shadow.Running {
			continue
		}
		g.Go(func() error {
			var p shadow.AgentPair
			p.Live, p.Err = h.state(ctx, h.d.Manager.Endpoint(live), r.LiveID)
			if p.Err == nil {
				p.Shadow, p.Err = h.state(ctx, h.d.Manager.Endpoint(sh), r.LiveID)
			}
			if p.Err != nil {
				h.log.WarnContext(ctx, "agent state unavailable", "live", r.LiveID, "shadow", r.ShadowID, "err", p.Err)
			}
			mu.Lock()
			out[r.LiveID] = p
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait() // every query reports its own failure in its pair
	return out
}

func (h *Reconciler) state(ctx context.Context, at mutation.Endpoint, resource string) (shadow.AgentState, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opt.AgentTimeout)
	defer cancel()
	return h.d.Manager.Agents.State(ctx, at, resource)
}
