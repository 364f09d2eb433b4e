package shadow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// Config is how a Manager sizes, places and times shadows.
type Config struct {
	// Stack is written into TagStack and required on every instance the
	// Manager terminates.
	Stack     string
	Pools     Pools
	Fractions catalog.Fractions
	// LaunchTimeout is how long a launching record may stay so before
	// another caller takes the launch over.
	LaunchTimeout time.Duration
	// AgentPort is the shadow agent's port on every instance
	// (DefaultAgentPort unless the stack says otherwise).
	AgentPort int
	// ReplaceBackoff is how long a shadow's second replacement waits after
	// its first; each further one waits twice as long, at most
	// ReplaceBackoffMax (defaults 1 minute and 1 hour). A shadow that dies
	// at boot (a bad AMI, a KMS key the role cannot use) is then retried
	// 1, 2, 4, ... minutes apart, not in a loop.
	ReplaceBackoff    time.Duration
	ReplaceBackoffMax time.Duration
	// HealthyAfter ends a replacement streak: a shadow whose last
	// replacement is this old proved healthy, and its next replacement
	// has no backoff (default 2 hours, above ReplaceBackoffMax).
	HealthyAfter time.Duration
	// ReplacementsPerHour caps a group's replacements per UTC hour
	// (default 20); past it replacement stops until the next hour, with a
	// ReplacementsHalted metric and an audit record (Ledger.RecordHalt).
	ReplacementsPerHour int
}

// Defaults of the replacement limits.
const (
	DefaultReplaceBackoff      = time.Minute
	DefaultReplaceBackoffMax   = time.Hour
	DefaultHealthyAfter        = 2 * time.Hour
	DefaultReplacementsPerHour = 20
)

func (c Config) withDefaults() Config {
	if c.ReplaceBackoff == 0 {
		c.ReplaceBackoff = DefaultReplaceBackoff
	}
	if c.ReplaceBackoffMax == 0 {
		c.ReplaceBackoffMax = DefaultReplaceBackoffMax
	}
	if c.HealthyAfter == 0 {
		c.HealthyAfter = DefaultHealthyAfter
	}
	if c.ReplacementsPerHour == 0 {
		c.ReplacementsPerHour = DefaultReplacementsPerHour
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Stack == "" {
		errs = append(errs, fmt.Errorf("%w: stack name is empty", ErrInvalid))
	}
	if err := c.Pools.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Fractions.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.LaunchTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%w: launch timeout %v must be positive", ErrInvalid, c.LaunchTimeout))
	}
	if c.AgentPort < 1 || c.AgentPort > 65535 {
		errs = append(errs, fmt.Errorf("%w: agent port %d out of range", ErrInvalid, c.AgentPort))
	}
	if c.ReplaceBackoff < 0 || c.ReplaceBackoffMax < 0 || c.HealthyAfter < 0 {
		errs = append(errs, fmt.Errorf("%w: replace backoff %v, its maximum %v and healthy-after %v must not be negative", ErrInvalid, c.ReplaceBackoff, c.ReplaceBackoffMax, c.HealthyAfter))
	}
	if c.ReplacementsPerHour < 0 {
		errs = append(errs, fmt.Errorf("%w: replacements per hour %d must not be negative", ErrInvalid, c.ReplacementsPerHour))
	}
	return errors.Join(errs...)
}

// Deps are a Manager's ports.
type Deps struct {
	Fleet   Fleet
	Records Records
	Agents  Agents // may be nil where no resync happens (launch, terminate)
	// Ledger holds the pools' slots and the replacement budget; nil takes
	// Records when it implements Ledger (both adapters do).
	Ledger  Ledger
	Catalog *catalog.Catalog
	Clock   clock.Clock
	Metrics metrics.Sink
	Log     *slog.Logger
}

// Manager keeps exactly one shadow per live instance.
type Manager struct {
	cfg Config
	Deps
}

// NewManager checks cfg and deps and returns a Manager.
func NewManager(cfg Config, d Deps) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("shadow manager config: %w", err)
	}
	cfg = cfg.withDefaults()
	if d.Ledger == nil {
		if l, ok := d.Records.(Ledger); ok {
			d.Ledger = l
		}
	}
	if d.Fleet == nil || d.Records == nil || d.Catalog == nil || d.Clock == nil || d.Ledger == nil {
		return nil, fmt.Errorf("%w: shadow manager needs a fleet, records, a ledger, a catalog and a clock", ErrInvalid)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.Discard{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, Deps: d}, nil
}

// Config returns the Manager's configuration.
func (m *Manager) Config() Config { return m.cfg }

// ClientToken is the deterministic EC2 idempotency token of one shadow
// generation of one live instance (64 characters at most, as EC2 requires).
func ClientToken(stack, liveID string, generation int) string {
	sum := sha256.Sum256([]byte(stack + "/" + liveID + "/" + strconv.Itoa(generation)))
	return "shadowscale-" + hex.EncodeToString(sum[:16])
}

// Tags returns the tags of a shadow of live in this stack.
func (m *Manager) Tags(liveID, group string, generation int) map[string]string {
	return map[string]string{
		TagRole:       RoleShadow,
		TagLive:       liveID,
		TagGroup:      group,
		TagStack:      m.cfg.Stack,
		TagGeneration: strconv.Itoa(generation),
		"Name":        "shadowscale-shadow-" + liveID,
	}
}

func validLive(live Instance) error {
	var errs []error
	if live.ID == "" {
		errs = append(errs, errors.New("instance id is empty"))
	}
	if live.AZ == "" {
		errs = append(errs, errors.New("availability zone is empty"))
	}
	if live.Type == "" {
		errs = append(errs, errors.New("instance type is empty"))
	}
	if live.Group == "" {
		errs = append(errs, errors.New("auto scaling group is empty"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: live instance %q: %w", ErrInvalid, live.ID, err)
	}
	return nil
}

// Ensure makes sure the live instance has a shadow, and returns its record.
// It is idempotent: repeated or concurrent calls for one live instance give
// one shadow. A record still launching under another caller is returned as
// it is (Status Launching) without a second launch.
func (m *Manager) Ensure(ctx context.Context, live Instance) (Record, error) {
	if live.LooksLikeShadow() {
		return Record{}, fmt.Errorf("ensuring a shadow for %s: %w", live.ID, ErrIsShadow)
	}
	if err := validLive(live); err != nil {
		return Record{}, err
	}
	rec, err := m.Records.Get(ctx, live.ID)
	switch {
	case err == nil:
		return m.resume(ctx, live, rec)
	case !errors.Is(err, ErrNotFound):
		return Record{}, fmt.Errorf("reading shadow record of %s: %w", live.ID, err)
	}

	st, err := m.Catalog.ShadowFor(live.Type, m.cfg.Fractions)
	if err != nil {
		return Record{}, fmt.Errorf("ensuring a shadow for %s: %w", live.ID, err)
	}
	subnet, err := m.cfg.Pools.Place(live.AZ, live.ID)
	if err != nil {
		return Record{}, fmt.Errorf("ensuring a shadow for %s: %w", live.ID, err)
	}
	// A slot of the AZ's pool, taken atomically (no read of every record):
	// held by the record from its claim to its deletion.
	if err := m.Ledger.AcquireSlot(ctx, live.AZ, m.cfg.Pools[live.AZ].Capacity); err != nil {
		if errors.Is(err, ErrPoolFull) {
			m.Metrics.Add("PoolFull", metrics.Count, 1, metrics.Dim{Name: "AZ", Value: live.AZ})
		}
		return Record{}, fmt.Errorf("ensuring a shadow for %s: %w", live.ID, err)
	}
	now := m.Clock.Now()
	rec, err = m.Records.Create(ctx, Record{
		LiveID: live.ID, Group: live.Group, AZ: live.AZ, LiveType: live.Type,
		ShadowType: st.Name, SubnetID: subnet, Status: Launching, Generation: 1,
		CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		// No record holds the slot: give it back (a failure here leaves
		// the count one high until the reconciler corrects it).
		if rerr := m.Ledger.ReleaseSlot(ctx, live.AZ); rerr != nil {
			m.Log.WarnContext(ctx, "could not release a pool slot; the reconciler corrects the count", "az", live.AZ, "err", rerr)
		}
	}
	if errors.Is(err, ErrConflict) {
		// Another caller claimed this live instance first.
		cur, gerr := m.Records.Get(ctx, live.ID)
		if gerr != nil {
			return Record{}, fmt.Errorf("reading shadow record of %s after a lost claim: %w", live.ID, gerr)
		}
		return cur, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("claiming shadow record of %s: %w", live.ID, err)
	}
	return m.launch(ctx, live, rec)
}

// resume handles Ensure for a live instance that has a record already.
func (m *Manager) resume(ctx context.Context, live Instance, rec Record) (Record, error) {
	switch rec.Status {
	case Active:
		return rec, nil
	case Retiring:
		return rec, fmt.Errorf("ensuring a shadow for %s: %w", live.ID, ErrRetiring)
	}
	if m.Clock.Now().Sub(rec.UpdatedAt) < m.cfg.LaunchTimeout {
		return rec, nil // someone else is launching it
	}
	return m.takeOver(ctx, live, rec)
}

// takeOver claims a stale launch (its caller crashed or failed) for this
// caller, conditionally on the record's version, and finishes it: the same
// generation, adopting an instance the stale launch made. A caller that
// lost the claim gets the current record. The original launcher, should it
// finish after all, loses its own write and gives way (launch).
func (m *Manager) takeOver(ctx context.Context, live Instance, rec Record) (Record, error) {
	rec.UpdatedAt = m.Clock.Now()
	taken, err := m.Records.Update(ctx, rec)
	if errors.Is(err, ErrConflict) {
		cur, gerr := m.Records.Get(ctx, live.ID)
		if gerr != nil {
			return Record{}, fmt.Errorf("reading shadow record of %s: %w", live.ID, gerr)
		}
		return cur, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("taking over the launch for %s: %w", live.ID, err)
	}
	m.Log.InfoContext(ctx, "taking over a stale shadow launch", "live", live.ID, "generation", taken.Generation)
	return m.launch(ctx, live, taken)
}

// launch starts (or adopts) the shadow of rec's generation and marks the
// record active. rec must be in Launching status, owned by this caller.
func (m *Manager) launch(ctx context.Context, live Instance, rec Record) (Record, error) {
	// An instance of this generation may exist already: launched by a caller
	// that crashed before recording it. Adopt it rather than launch twice;
	// EC2's ClientToken would make a repeat launch idempotent, but emulators
	// ignore it, so this check is ours.
	var inst Instance
	existing, err := m.Fleet.Shadows(ctx, live.ID)
	if err != nil {
		return rec, fmt.Errorf("listing shadows of %s: %w", live.ID, err)
	}
	for _, s := range existing {
		if s.Generation() == rec.Generation && !s.State.Gone() && s.IsShadow(m.cfg.Stack) {
			inst = s
			break
		}
	}
	if inst.ID == "" {
		st, err := m.Catalog.Lookup(rec.ShadowType)
		if err != nil {
			return rec, fmt.Errorf("launching shadow of %s: %w", live.ID, err)
		}
		spec := LaunchSpec{
			LiveID: live.ID, Group: live.Group, AZ: rec.AZ, SubnetID: rec.SubnetID,
			InstanceType: rec.ShadowType, Arch: st.Arch, Burstable: st.Burstable, Generation: rec.Generation,
			ClientToken: ClientToken(m.cfg.Stack, live.ID, rec.Generation),
			Tags:        m.Tags(live.ID, live.Group, rec.Generation),
		}
		inst, err = m.Fleet.Launch(ctx, spec)
		if err != nil {
			// Leave the claim to expire (LaunchTimeout) rather than delete it:
			// a retry or the reconciler takes it over, and a launch that did
			// happen despite the error is adopted above.
			return rec, fmt.Errorf("launching shadow of %s in %s: %w", live.ID, rec.AZ, err)
		}
		if inst.AZ != "" && inst.AZ != rec.AZ {
			// Never keep a shadow in another AZ.
			terr := m.Fleet.Terminate(ctx, inst.ID)
			return rec, fmt.Errorf("shadow %s of %s came up in %s, not %s (terminated: %v): %w", inst.ID, live.ID, inst.AZ, rec.AZ, terr, ErrInvalid)
		}
		m.Metrics.Add("ShadowsLaunched", metrics.Count, 1, metrics.Dim{Name: "Group", Value: live.Group})
		m.Log.InfoContext(ctx, "shadow launched", "live", live.ID, "shadow", inst.ID, "type", rec.ShadowType, "az", rec.AZ, "subnet", rec.SubnetID, "generation", rec.Generation)
	}
	rec.ShadowID = inst.ID
	if inst.SubnetID != "" {
		rec.SubnetID = inst.SubnetID
	}
	rec.Status = Active
	rec.UpdatedAt = m.Clock.Now()
	done, err := m.Records.Update(ctx, rec)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			// Someone took the launch over meanwhile; theirs wins, ours
			// would be a second shadow.
			cur, gerr := m.Records.Get(ctx, live.ID)
			if gerr == nil && cur.ShadowID != inst.ID {
				if terr := m.terminate(ctx, inst.ID, live.ID); terr != nil {
					m.Log.WarnContext(ctx, "could not terminate a duplicate shadow; the reconciler will", "shadow", inst.ID, "err", terr)
				}
				return cur, nil
			}
		}
		return rec, fmt.Errorf("recording shadow %s of %s: %w", inst.ID, live.ID, err)
	}
	return done, nil
}

// Retire terminates the shadow of a live instance that is gone, and deletes
// its record. Retiring a live instance without a shadow is not an error;
// stray shadows of it are terminated too.
func (m *Manager) Retire(ctx context.Context, liveID string) error {
	rec, err := m.Records.Get(ctx, liveID)
	hasRecord := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("reading shadow record of %s: %w", liveID, err)
	}
	if hasRecord && rec.Status != Retiring {
		rec.Status = Retiring
		rec.UpdatedAt = m.Clock.Now()
		if rec, err = m.Records.Update(ctx, rec); err != nil {
			return fmt.Errorf("marking shadow of %s retiring: %w", liveID, err)
		}
	}
	if hasRecord && rec.ShadowID != "" {
		if err := m.terminate(ctx, rec.ShadowID, liveID); err != nil {
			return err
		}
	}
	strays, err := m.Fleet.Shadows(ctx, liveID)
	if err != nil {
		return fmt.Errorf("listing shadows of %s: %w", liveID, err)
	}
	for _, s := range strays {
		if s.State.Gone() || (hasRecord && s.ID == rec.ShadowID) {
			continue
		}
		if err := m.terminate(ctx, s.ID, liveID); err != nil {
			return err
		}
	}
	if hasRecord {
		err := m.Records.Delete(ctx, liveID, rec.Version)
		switch {
		case errors.Is(err, ErrNotFound):
			// Deleted by another caller, who released its slot.
		case err != nil:
			return fmt.Errorf("deleting shadow record of %s: %w", liveID, err)
		default:
			if err := m.Ledger.ReleaseSlot(ctx, rec.AZ); err != nil {
				m.Log.WarnContext(ctx, "could not release a pool slot; the reconciler corrects the count", "az", rec.AZ, "err", err)
			}
		}
		m.Log.InfoContext(ctx, "shadow retired", "live", liveID, "shadow", rec.ShadowID)
	}
	return nil
}

// Replace terminates a failed shadow of a running live instance and launches
// its successor (next generation). The new shadow starts unsynced: the
// reconciler resyncs it from a live snapshot.
//
// A record still launching is not replaced but taken over, as Ensure does
// with a stale launch: the same generation, so an instance that launch did
// make is adopted (on AWS its ClientToken also returns it) rather than left
// for the orphan sweep, and nothing counts in the replacement streak or the
// hourly cap, since no shadow failed. Its caller (the reconciler, past its
// own launch timeout) has judged the launch stuck; Replace does not judge
// again by the Manager's timeout, which may differ.
func (m *Manager) Replace(ctx context.Context, liveID, reason string) (Record, error) {
	rec, err := m.Records.Get(ctx, liveID)
	if err != nil {
		return Record{}, fmt.Errorf("reading shadow record of %s: %w", liveID, err)
	}
	if rec.Status == Retiring {
		return rec, fmt.Errorf("replacing shadow of %s: %w", liveID, ErrRetiring)
	}
	lives, err := m.Fleet.Describe(ctx, []string{liveID})
	if err != nil {
		return rec, fmt.Errorf("describing live instance %s: %w", liveID, err)
	}
	if len(lives) == 0 || lives[0].State.Gone() {
		return rec, m.Retire(ctx, liveID)
	}
	live := lives[0]
	live.Group = rec.Group
	if rec.Status == Launching {
		return m.takeOver(ctx, live, rec)
	}
	now := m.Clock.Now()
	streak := rec.Replacements
	if rec.ReplacedAt.IsZero() || now.Sub(rec.ReplacedAt) >= m.cfg.HealthyAfter {
		streak = 0 // the last replacement proved healthy
	}
	if streak > 0 {
		if next := rec.ReplacedAt.Add(m.Backoff(streak)); now.Before(next) {
			m.Metrics.Add("ReplacementsDeferred", metrics.Count, 1, metrics.Dim{Name: "Group", Value: rec.Group})
			m.Log.InfoContext(ctx, "shadow replacement backing off", "live", liveID, "shadow", rec.ShadowID, "replacements", streak, "next", next, "reason", reason)
			return rec, fmt.Errorf("replacing shadow of %s (%d replacements in a row, next at %s): %w", liveID, streak, next.Format(time.RFC3339), ErrBackoff)
		}
	}
	if err := m.Ledger.TakeReplacement(ctx, rec.Group, now, m.cfg.ReplacementsPerHour); err != nil {
		if errors.Is(err, ErrReplaceLimit) {
			m.halt(ctx, rec, now, reason, streak)
		}
		return rec, fmt.Errorf("replacing shadow of %s: %w", liveID, err)
	}
	old := rec.ShadowID
	rec.Status = Launching
	rec.Generation++
	rec.ShadowID = ""
	rec.SyncedAt = time.Time{}
	rec.Replacements = streak + 1
	rec.ReplacedAt = now
	rec.UpdatedAt = now
	claimed, err := m.Records.Update(ctx, rec)
	if err != nil {
		return rec, fmt.Errorf("claiming replacement of the shadow of %s: %w", liveID, err)
	}
	if old != "" {
		if err := m.terminate(ctx, old, liveID); err != nil {
			return claimed, err
		}
	}
	m.Metrics.Add("ShadowsReplaced", metrics.Count, 1, metrics.Dim{Name: "Group", Value: rec.Group})
	m.Log.InfoContext(ctx, "replacing shadow", "live", liveID, "old", old, "generation", claimed.Generation, "reason", reason)
	return m.launch(ctx, live, claimed)
}

// Backoff is how long a shadow waits, after its n-th replacement in a row,
// before its next: ReplaceBackoff doubled n-1 times, at most
// ReplaceBackoffMax.
func (m *Manager) Backoff(n int) time.Duration {
	d := m.cfg.ReplaceBackoff
	for i := 1; i < n && d < m.cfg.ReplaceBackoffMax; i++ {
		d *= 2
	}
	return min(d, m.cfg.ReplaceBackoffMax)
}

// halt reports a replacement stopped by the group's hourly cap: a metric
// (the stack's alarm watches it), a log line, and an audit record.
func (m *Manager) halt(ctx context.Context, rec Record, now time.Time, reason string, streak int) {
	m.Metrics.Add("ReplacementsHalted", metrics.Count, 1, metrics.Dim{Name: "Group", Value: rec.Group})
	cause := fmt.Sprintf("group %s reached its %d shadow replacements in the hour from %s; replacement stops until the next hour (a shadow that dies at boot: check the shadow AMI, the EBS default KMS key and the instance role)",
		rec.Group, m.cfg.ReplacementsPerHour, now.UTC().Truncate(time.Hour).Format(time.RFC3339))
	m.Log.WarnContext(ctx, "shadow replacement halted", "live", rec.LiveID, "shadow", rec.ShadowID, "group", rec.Group, "limit", m.cfg.ReplacementsPerHour, "reason", reason)
	h := Halt{Group: rec.Group, LiveID: rec.LiveID, ShadowID: rec.ShadowID, At: now, Wanted: reason, Cause: cause, Replacements: streak, Limit: m.cfg.ReplacementsPerHour}
	if err := m.Ledger.RecordHalt(ctx, h); err != nil {
		m.Log.WarnContext(ctx, "could not write the audit record of a halted replacement", "live", rec.LiveID, "err", err)
	}
}

// Resync copies the live agent's state of the resource to the shadow's and
// records when.
func (m *Manager) Resync(ctx context.Context, liveID string) (Record, error) {
	if m.Agents == nil {
		return Record{}, fmt.Errorf("%w: resync needs an agents port", ErrInvalid)
	}
	rec, err := m.Records.Get(ctx, liveID)
	if err != nil {
		return Record{}, fmt.Errorf("reading shadow record of %s: %w", liveID, err)
	}
	if rec.Status != Active {
		return rec, fmt.Errorf("resyncing shadow of %s in status %s: %w", liveID, rec.Status, ErrInvalid)
	}
	insts, err := m.Fleet.Describe(ctx, []string{liveID, rec.ShadowID})
	if err != nil {
		return rec, fmt.Errorf("describing %s and %s: %w", liveID, rec.ShadowID, err)
	}
	var live, sh Instance
	for _, i := range insts {
		switch i.ID {
		case liveID:
			live = i
		case rec.ShadowID:
			sh = i
		}
	}
	if live.PrivateIP == "" || sh.PrivateIP == "" {
		return rec, fmt.Errorf("resyncing shadow of %s: live or shadow has no address: %w", liveID, ErrNotFound)
	}
	from := mutation.Endpoint{InstanceID: liveID, Address: net(live.PrivateIP, m.cfg.AgentPort)}
	to := mutation.Endpoint{InstanceID: sh.ID, Address: net(sh.PrivateIP, m.cfg.AgentPort)}
	if err := m.Agents.Resync(ctx, from, to, liveID); err != nil {
		return rec, fmt.Errorf("resyncing shadow %s from %s: %w", sh.ID, liveID, err)
	}
	rec.SyncedAt = m.Clock.Now()
	rec.UpdatedAt = rec.SyncedAt
	done, err := m.Records.Update(ctx, rec)
	if err != nil {
		return rec, fmt.Errorf("recording resync of %s: %w", liveID, err)
	}
	m.Log.InfoContext(ctx, "shadow resynced", "live", liveID, "shadow", sh.ID)
	return done, nil
}

// Endpoint returns the agent endpoint of an instance.
func (m *Manager) Endpoint(i Instance) mutation.Endpoint {
	return mutation.Endpoint{InstanceID: i.ID, Address: net(i.PrivateIP, m.cfg.AgentPort)}
}

func net(ip string, port int) string {
	if ip == "" {
		return ""
	}
	return ip + ":" + strconv.Itoa(port)
}

// TerminateOrphan terminates a shadow that no record owns. It refuses any
// instance that is not this stack's shadow.
func (m *Manager) TerminateOrphan(ctx context.Context, shadowID string) error {
	return m.terminate(ctx, shadowID, "")
}

// terminate terminates a shadow after checking, itself, that the instance is
// this stack's shadow (of liveID when given). The Fleet adapter checks again.
func (m *Manager) terminate(ctx context.Context, id, liveID string) error {
	insts, err := m.Fleet.Describe(ctx, []string{id})
	if err != nil {
		return fmt.Errorf("describing shadow %s: %w", id, err)
	}
	if len(insts) == 0 || insts[0].State == Terminated {
		return nil
	}
	inst := insts[0]
	if !inst.IsShadow(m.cfg.Stack) || (liveID != "" && inst.Tags[TagLive] != liveID) {
		m.Metrics.Add("RefusedNotOwned", metrics.Count, 1)
		m.Log.WarnContext(ctx, "refused to terminate an instance that is not our shadow", "instance", id, "expected_live", liveID, "role_tag", inst.Tags[TagRole], "stack_tag", inst.Tags[TagStack], "live_tag", inst.Tags[TagLive])
		return fmt.Errorf("terminating %s: %w", id, ErrNotOwned)
	}
	if err := m.Fleet.Terminate(ctx, id); err != nil {
		return fmt.Errorf("terminating shadow %s: %w", id, err)
	}
	m.Metrics.Add("ShadowsTerminated", metrics.Count, 1, metrics.Dim{Name: "Group", Value: inst.Tags[TagGroup]})
	return nil
}
