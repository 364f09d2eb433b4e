package shadow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// ActionKind is what the reconciler decided for one live instance or shadow.
type ActionKind string

// The reconciler's actions.
const (
	// Create: a running live instance has no shadow record.
	Create ActionKind = "create"
	// Retire: a record's live instance is gone.
	Retire ActionKind = "retire"
	// Replace: a record's shadow failed, vanished, or its launch is stuck.
	Replace ActionKind = "replace"
	// DeleteOrphan: a shadow instance that no record owns.
	DeleteOrphan ActionKind = "delete-orphan"
	// Resync: a shadow whose state is stale or diverged from its live's.
	Resync ActionKind = "resync"
)

// Action is one step the reconciler wants taken, with the reason in words.
type Action struct {
	Kind     ActionKind
	LiveID   string
	ShadowID string
	Reason   string
}

// AgentPair is what the live and shadow agents of one record reported; Err
// is set when either could not be asked.
type AgentPair struct {
	Live, Shadow AgentState
	Err          error
}

// Observed is the world as the reconciler sees it at Now.
type Observed struct {
	// Lives are the running live instances of the enrolled groups.
	Lives []Instance
	// Shadows are instances carrying this stack's shadow tags.
	Shadows []Instance
	Records []Record
	// Agents holds agent states by live instance id, for active records
	// whose agents were asked.
	Agents map[string]AgentPair
	Now    time.Time
}

// ReconcileOptions tune the reconciler.
type ReconcileOptions struct {
	// LaunchTimeout: a record launching for longer is replaced.
	LaunchTimeout time.Duration
	// OrphanGrace: an unowned shadow younger than this is left alone (its
	// record may be on its way).
	OrphanGrace time.Duration
	// ResyncEvery: an active shadow not resynced for this long is resynced.
	ResyncEvery time.Duration
	// MaxLag: a shadow whose agent has accepted this many sequences fewer
	// than its live's is resynced (the fan-out missed it).
	MaxLag uint64
}

// DefaultReconcileOptions are the defaults of the 5-minute reconciler.
func DefaultReconcileOptions() ReconcileOptions {
	return ReconcileOptions{LaunchTimeout: 5 * time.Minute, OrphanGrace: 10 * time.Minute, ResyncEvery: 6 * time.Hour, MaxLag: 100_000}
}

// Reconcile compares what runs with what is recorded and returns the actions
// that make them agree, in a deterministic order. It is pure: it reads only
// its arguments.
func Reconcile(obs Observed, opt ReconcileOptions) []Action {
	var acts []Action
	lives := make(map[string]Instance, len(obs.Lives))
	for _, l := range obs.Lives {
		lives[l.ID] = l
	}
	shadows := make(map[string]Instance, len(obs.Shadows))
	for _, s := range obs.Shadows {
		shadows[s.ID] = s
	}
	records := make(map[string]Record, len(obs.Records))
	for _, r := range obs.Records {
		records[r.LiveID] = r
	}

	for _, l := range obs.Lives {
		if l.LooksLikeShadow() {
			continue // a shadow never gets a shadow
		}
		if _, ok := records[l.ID]; !ok {
			acts = append(acts, Action{Kind: Create, LiveID: l.ID, Reason: "live instance has no shadow"})
		}
	}
	for _, r := range obs.Records {
		if _, ok := lives[r.LiveID]; !ok {
			acts = append(acts, Action{Kind: Retire, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: "live instance is no longer running in an enrolled group"})
			continue
		}
		switch r.Status {
		case Retiring:
			acts = append(acts, Action{Kind: Retire, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: "retirement did not finish"})
			continue
		case Launching:
			if age := obs.Now.Sub(r.UpdatedAt); age >= opt.LaunchTimeout {
				acts = append(acts, Action{Kind: Replace, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: fmt.Sprintf("launch stuck for %s", age.Round(time.Second))})
			}
			continue
		}
		s, ok := shadows[r.ShadowID]
		switch {
		case !ok:
			acts = append(acts, Action{Kind: Replace, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: "shadow instance no longer exists"})
			continue
		case s.State.Gone() || s.State == Stopped || s.State == Stopping:
			acts = append(acts, Action{Kind: Replace, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: "shadow instance is " + string(s.State)})
			continue
		case s.Impaired:
			acts = append(acts, Action{Kind: Replace, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: "shadow instance status checks impaired"})
			continue
		case s.State != Running:
			continue // pending: nothing to judge yet
		}
		if reason := staleness(r, obs, opt); reason != "" {
			acts = append(acts, Action{Kind: Resync, LiveID: r.LiveID, ShadowID: r.ShadowID, Reason: reason})
		}
	}
	for _, s := range obs.Shadows {
		if s.State.Gone() || owned(s, records) {
			continue
		}
		if age := obs.Now.Sub(s.LaunchedAt); age < opt.OrphanGrace {
			continue
		}
		acts = append(acts, Action{Kind: DeleteOrphan, LiveID: s.Tags[TagLive], ShadowID: s.ID, Reason: "no shadow record owns this instance"})
	}
	sort.SliceStable(acts, func(i, j int) bool {
		if acts[i].LiveID != acts[j].LiveID {
			return acts[i].LiveID < acts[j].LiveID
		}
		return acts[i].ShadowID < acts[j].ShadowID
	})
	return acts
}

// owned reports whether a shadow instance belongs to its live's record: the
// recorded shadow, or the launch in flight of the record's generation.
func owned(s Instance, records map[string]Record) bool {
	r, ok := records[s.Tags[TagLive]]
	if !ok {
		return false
	}
	if r.ShadowID == s.ID {
		return true
	}
	return r.Status == Launching && s.Generation() == r.Generation
}

func staleness(r Record, obs Observed, opt ReconcileOptions) string {
	if r.SyncedAt.IsZero() {
		return "shadow was never synced from its live instance"
	}
	if p, ok := obs.Agents[r.LiveID]; ok && p.Err == nil {
		if p.Live.AppliedSeq == p.Shadow.AppliedSeq && p.Live.Digest != p.Shadow.Digest {
			return fmt.Sprintf("shadow diverged: same applied sequence %d, different digests", p.Live.AppliedSeq)
		}
		if seq, dl, ds, ok := CommonCheckpoint(p.Live, p.Shadow); ok && dl != ds {
			return fmt.Sprintf("shadow diverged: different digests at checkpoint %d", seq)
		}
		if p.Live.AcceptedSeq > p.Shadow.AcceptedSeq+opt.MaxLag {
			return fmt.Sprintf("shadow lags its live by %d sequences", p.Live.AcceptedSeq-p.Shadow.AcceptedSeq)
		}
	}
	if opt.ResyncEvery > 0 && obs.Now.Sub(r.SyncedAt) >= opt.ResyncEvery {
		return fmt.Sprintf("periodic resync (last %s ago)", obs.Now.Sub(r.SyncedAt).Round(time.Minute))
	}
	return ""
}

// Result is the outcome of one executed Action.
type Result struct {
	Action Action
	Err    error
}

// ExecuteOptions bound an Execute.
type ExecuteOptions struct {
	// Concurrency is how many actions run at once (1 when 0). Actions on
	// different live instances are independent: the records' conditional
	// writes and the pools' atomic slots keep them consistent.
	Concurrency int
	// StopAt, when set, is when no further action starts (the invocation's
	// deadline less a reserve for the actions in flight): the rest are
	// reported with ErrDeadline and left for the next run.
	StopAt time.Time
}

// Execute carries out the actions one after another, continuing past
// failures, and returns one Result per action. lives gives the live
// instances for Create.
func (m *Manager) Execute(ctx context.Context, acts []Action, lives []Instance) []Result {
	return m.ExecuteWith(ctx, acts, lives, ExecuteOptions{Concurrency: 1})
}

// ExecuteWith is Execute with bounded concurrency and a stop time; the
// results are in the actions' order.
func (m *Manager) ExecuteWith(ctx context.Context, acts []Action, lives []Instance, opt ExecuteOptions) []Result {
	byID := make(map[string]Instance, len(lives))
	for _, l := range lives {
		byID[l.ID] = l
	}
	out := make([]Result, len(acts))
	// A slot is taken before the stop time is checked (not errgroup's Go,
	// which checks after waiting): an action never starts after StopAt.
	slots := make(chan struct{}, max(opt.Concurrency, 1))
	var wg sync.WaitGroup
	for i, a := range acts {
		out[i].Action = a
		slots <- struct{}{}
		if ctx.Err() != nil || (!opt.StopAt.IsZero() && !m.Clock.Now().Before(opt.StopAt)) {
			<-slots
			out[i].Err = ErrDeadline
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			out[i].Err = m.execute(ctx, a, byID)
		}()
	}
	wg.Wait()
	skipped := 0
	for _, r := range out {
		if errors.Is(r.Err, ErrDeadline) {
			skipped++
		}
	}
	if skipped > 0 {
		m.Log.WarnContext(ctx, "reconcile stopped before the deadline; the rest is left for the next run", "skipped", skipped, "actions", len(acts))
	}
	return out
}

func (m *Manager) execute(ctx context.Context, a Action, byID map[string]Instance) error {
	var err error
	switch a.Kind {
	case Create:
		l, ok := byID[a.LiveID]
		if !ok {
			err = fmt.Errorf("live instance %s: %w", a.LiveID, ErrNotFound)
			break
		}
		_, err = m.Ensure(ctx, l)
	case Retire:
		err = m.Retire(ctx, a.LiveID)
	case Replace:
		_, err = m.Replace(ctx, a.LiveID, a.Reason)
	case DeleteOrphan:
		err = m.TerminateOrphan(ctx, a.ShadowID)
	case Resync:
		_, err = m.Resync(ctx, a.LiveID)
	default:
		err = fmt.Errorf("%w: unknown action %q", ErrInvalid, a.Kind)
	}
	switch {
	case err == nil:
		m.Log.InfoContext(ctx, "reconcile action done", "kind", a.Kind, "live", a.LiveID, "shadow", a.ShadowID, "reason", a.Reason)
	case Deferred(err):
		m.Log.InfoContext(ctx, "reconcile action deferred", "kind", a.Kind, "live", a.LiveID, "shadow", a.ShadowID, "reason", a.Reason, "err", err)
	default:
		m.Log.WarnContext(ctx, "reconcile action failed", "kind", a.Kind, "live", a.LiveID, "shadow", a.ShadowID, "reason", a.Reason, "err", err)
	}
	return err
}

// SlotCounts reads the pools' slot counts, per AZ of the configuration.
func (m *Manager) SlotCounts(ctx context.Context) (map[string]int, error) {
	out := make(map[string]int, len(m.cfg.Pools))
	for az := range m.cfg.Pools {
		n, err := m.Ledger.SlotsUsed(ctx, az)
		if err != nil {
			return nil, fmt.Errorf("reading the pool slots of %s: %w", az, err)
		}
		out[az] = n
	}
	return out, nil
}

// CorrectSlots sets each pool's slot count to the records that hold one,
// where it differs from what SlotCounts read before the records were
// listed (before); a count that moved since (a claim or retirement under
// way) is left for the next run. It returns the AZs corrected.
func (m *Manager) CorrectSlots(ctx context.Context, before map[string]int, records []Record) []string {
	held := map[string]int{}
	for _, r := range records {
		held[r.AZ]++
	}
	var fixed []string
	for _, az := range slices.Sorted(maps.Keys(before)) {
		if before[az] == held[az] {
			continue
		}
		err := m.Ledger.CorrectSlots(ctx, az, before[az], held[az])
		switch {
		case err == nil:
			m.Log.WarnContext(ctx, "pool slot count corrected", "az", az, "count", before[az], "records", held[az])
			m.Metrics.Add("PoolSlotsCorrected", metrics.Count, 1, metrics.Dim{Name: "AZ", Value: az})
			fixed = append(fixed, az)
		case errors.Is(err, ErrConflict):
			// moved meanwhile: the next run looks again
		default:
			m.Log.WarnContext(ctx, "could not correct a pool slot count", "az", az, "err", err)
		}
	}
	return fixed
}

// Failed returns the failed results joined into one error (nil if none);
// deferred ones (Deferred) are not failures.
func Failed(rs []Result) error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil && !Deferred(r.Err) {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Action.Kind, r.Action.LiveID, r.Err))
		}
	}
	return errors.Join(errs...)
}
