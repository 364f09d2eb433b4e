// Package embedded runs the control plane's domain code on in-memory
// adapters, driven by the simulator: as the simulated group launches and
// terminates live instances, the shadow Manager creates and retires their
// shadows; every tick a sample of the mutations is fanned out through the
// Router to in-memory agents; every few minutes the reconciler compares
// what runs with what is recorded and resyncs, replaces and cleans up, as
// the Lambda functions do on AWS. Only the adapters differ from AWS.
//
// It wraps a simulator policy (the shadow policy) without changing its
// decisions, and checks the plane's invariants on the way: one shadow per
// in-service live instance, in its AZ, and equal live and shadow digests
// after the final reconcile.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	"github.com/shadowscale/shadowscale/shared/sim"
)

// Config of the embedded plane.
type Config struct {
	Stack    string
	Group    string
	LiveType string
	// AZs the live instances are spread over (each gets a shadow pool).
	AZs []string
	// PoolCapacity is each AZ pool's shadow capacity.
	PoolCapacity int
	// SampleEvery: one mutation is fanned out for every SampleEvery the
	// model counts (the simulator's load is abstract; routing all of it
	// would only slow the run down).
	SampleEvery float64
	// ReconcileEvery is the reconciler's period in ticks (5 minutes on AWS).
	ReconcileEvery int
	// GapWait is the agents' reorder-buffer wait.
	GapWait time.Duration
	// Fractions size the shadows.
	Fractions catalog.Fractions
	// Progress, when set, is called every ProgressEvery ticks with the tick
	// and the number of ticks.
	Progress      func(tick, ticks int)
	ProgressEvery int
}

// DefaultConfig returns a plane over three AZs.
func DefaultConfig() Config {
	return Config{
		Stack: "shadowscale-embedded", Group: "demo", LiveType: "m7g.xlarge",
		AZs: []string{"us-east-1a", "us-east-1b", "us-east-1c"}, PoolCapacity: 50,
		SampleEvery: 100, ReconcileEvery: 5, GapWait: 30 * time.Second,
		Fractions: catalog.DefaultFractions(),
	}
}

// Stats is what the plane did and saw.
type Stats struct {
	Ticks                int
	ShadowsCreated       int
	ShadowsRetired       int
	ShadowsReplaced      int
	Resyncs              int
	Reconciles           int
	ReconcileActions     int
	ActionErrors         int
	MutationsRouted      int64
	MutationsFailed      int64
	ShadowRejected       int64
	MaxLive              int
	TicksShadowsMismatch int // ticks where shadows != in-service live instances after the tick's events
	// LiveCount and ShadowCount are per tick (after the tick's events).
	LiveCount, ShadowCount []int32
	// Final checks, after Finish.
	DigestsCompared, DigestsEqual int
	Orphans                       int
	ShadowType                    string
}

// Plane is the embedded control plane.
type Plane struct {
	cfg     Config
	clock   *clock.Fake
	fleet   *memory.Fleet
	records *memory.Records
	agents  *memory.Agents
	mgr     *shadow.Manager
	router  *mutation.Router
	metrics *metrics.Recorder

	lives  map[string]shadow.Instance // live instances in service, by id
	seq    map[string]uint64          // next seq per resource
	carry  map[string]float64         // fractional mutations carried per resource
	stats  Stats
	ticks  int
	errors []error
}

// New returns a plane for a run of ticks ticks.
func New(cfg Config, ticks int, start time.Time) (*Plane, error) {
	if len(cfg.AZs) == 0 || cfg.SampleEvery < 1 || cfg.ReconcileEvery < 1 || cfg.PoolCapacity < 1 {
		return nil, fmt.Errorf("embedded plane: %w: needs AZs, sample-every >= 1, reconcile-every >= 1 and a pool capacity", shadow.ErrInvalid)
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, fmt.Errorf("embedded plane: %w", err)
	}
	st, err := cat.ShadowFor(cfg.LiveType, cfg.Fractions)
	if err != nil {
		return nil, fmt.Errorf("embedded plane: %w", err)
	}
	p := &Plane{cfg: cfg, clock: clock.NewFake(start), records: memory.NewRecords(), metrics: metrics.NewRecorder(),
		lives: map[string]shadow.Instance{}, seq: map[string]uint64{}, carry: map[string]float64{}, ticks: ticks}
	p.agents = memory.NewAgents(memory.WithClock(p.clock), memory.WithGapWait(cfg.GapWait))
	subnets := map[string]string{}
	pools := shadow.Pools{}
	for _, az := range cfg.AZs {
		sub := "subnet-pool-" + az
		subnets[sub] = az
		subnets["subnet-live-"+az] = az
		pools[az] = shadow.Pool{Subnets: []string{sub}, Capacity: cfg.PoolCapacity}
	}
	p.fleet = memory.NewFleet(cfg.Stack, p.clock, subnets)
	p.mgr, err = shadow.NewManager(shadow.Config{
		Stack: cfg.Stack, Pools: pools, Fractions: cfg.Fractions, LaunchTimeout: 5 * time.Minute, AgentPort: shadow.DefaultAgentPort,
	}, shadow.Deps{Fleet: p.fleet, Records: p.records, Agents: p.agents, Catalog: cat, Clock: p.clock, Metrics: p.metrics})
	if err != nil {
		return nil, fmt.Errorf("embedded plane: %w", err)
	}
	p.router = mutation.NewRouter(resolver{p}, p.agents, p.clock)
	p.stats.ShadowType = st.Name
	p.stats.LiveCount = make([]int32, 0, ticks)
	p.stats.ShadowCount = make([]int32, 0, ticks)
	return p, nil
}

// resolver routes a resource (a live instance id) to its agent and, when
// its shadow record is active, to its shadow's: the fan-out's rule.
type resolver struct{ p *Plane }

func (r resolver) Resolve(ctx context.Context, resource string) (mutation.Route, error) {
	live, ok := r.p.lives[resource]
	if !ok {
		return mutation.Route{}, fmt.Errorf("resource %s: %w", resource, mutation.ErrUnknownResource)
	}
	route := mutation.Route{Resource: resource, Group: live.Group, Live: r.p.mgr.Endpoint(live)}
	rec, err := r.p.records.Get(ctx, resource)
	if err != nil {
		return route, shadow.IgnoreNotFound(err)
	}
	if rec.Status == shadow.Active {
		if sh, ok := r.p.fleet.Get(rec.ShadowID); ok && sh.State == shadow.Running {
			route.Shadow, route.ShadowReady = r.p.mgr.Endpoint(sh), true
		}
	}
	return route, nil
}

// Wrap returns inner with the plane attached: the decisions are inner's.
func (p *Plane) Wrap(inner sim.Policy) sim.Policy { return &wrapped{p: p, inner: inner} }

type wrapped struct {
	p     *Plane
	inner sim.Policy
}

func (w *wrapped) Name() string { return w.inner.Name() }

// RunsShadows makes the simulator model and bill shadows for the wrapped
// policy (the shadow policy runs them).
func (w *wrapped) RunsShadows() bool { return true }

func (w *wrapped) Decide(v sim.View) sim.Order {
	w.p.tick(v)
	return w.inner.Decide(v)
}

func (p *Plane) azOf(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return p.cfg.AZs[int(h.Sum32())%len(p.cfg.AZs)]
}

// tick mirrors one simulator tick into the plane.
func (p *Plane) tick(v sim.View) {
	ctx := context.Background()
	p.clock.Set(v.Time)
	p.stats.Ticks++
	// Lifecycle: instances that came into service get a shadow (the launch
	// function on AWS); those gone lose theirs (the terminate function).
	seen := make(map[string]bool, len(v.Resources))
	for _, r := range v.Resources {
		seen[r.ID] = true
		if _, ok := p.lives[r.ID]; ok {
			continue
		}
		az := p.azOf(r.ID)
		live := shadow.Instance{ID: r.ID, Type: p.cfg.LiveType, AZ: az, SubnetID: "subnet-live-" + az,
			PrivateIP: "10.0." + strconv.Itoa(len(p.lives)%250) + ".10", Group: p.cfg.Group, State: shadow.Running, LaunchedAt: v.Time}
		p.fleet.Add(live)
		p.lives[r.ID] = live
		if _, err := p.mgr.Ensure(ctx, live); err != nil {
			p.fail(fmt.Errorf("tick %d: ensuring the shadow of %s: %w", v.Tick, r.ID, err))
		} else {
			p.stats.ShadowsCreated++
		}
	}
	gone := make([]string, 0)
	for id := range p.lives {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	for _, id := range gone {
		p.fleet.SetState(id, shadow.Terminated)
		delete(p.lives, id)
		if err := p.mgr.Retire(ctx, id); err != nil {
			p.fail(fmt.Errorf("tick %d: retiring the shadow of %s: %w", v.Tick, id, err))
		} else {
			p.stats.ShadowsRetired++
		}
	}
	p.stats.MaxLive = max(p.stats.MaxLive, len(p.lives))

	// Fan-out: a sample of the tick's mutations, through the Router.
	var batch []mutation.Mutation
	for _, r := range v.Resources {
		want := r.LiveAccepted/p.cfg.SampleEvery + p.carry[r.ID]
		n := int(math.Floor(want))
		p.carry[r.ID] = want - float64(n)
		for range n {
			p.seq[r.ID]++
			s := p.seq[r.ID]
			m := mutation.Mutation{V: mutation.Version, Resource: r.ID, Seq: s, Op: mutation.OpPut,
				Key: "k" + strconv.FormatUint(s%97, 10), Value: []byte(strconv.FormatUint(s, 10)), ProducedAt: v.Time}
			if s%13 == 0 {
				m.Op, m.Value = mutation.OpDelete, nil
			}
			batch = append(batch, m)
		}
	}
	if len(batch) > 0 {
		for _, o := range p.router.Route(ctx, batch) {
			switch {
			case o.Err != nil:
				p.stats.MutationsFailed++
			case o.ShadowRejected:
				p.stats.ShadowRejected++
			}
		}
		p.stats.MutationsRouted += int64(len(batch))
		p.router.Flush()
	}

	if v.Tick%p.cfg.ReconcileEvery == 0 {
		p.reconcile(ctx)
	}
	shadows, _ := p.fleet.Shadows(ctx, "")
	p.stats.LiveCount = append(p.stats.LiveCount, int32(len(p.lives)))
	p.stats.ShadowCount = append(p.stats.ShadowCount, int32(len(shadows)))
	if len(shadows) != len(p.lives) {
		p.stats.TicksShadowsMismatch++
	}
	if p.cfg.Progress != nil && p.cfg.ProgressEvery > 0 && v.Tick%p.cfg.ProgressEvery == 0 {
		p.cfg.Progress(v.Tick, p.ticks)
	}
}

func (p *Plane) fail(err error) {
	if len(p.errors) < 20 {
		p.errors = append(p.errors, err)
	}
	p.stats.ActionErrors++
}

// observe gathers what the reconciler Lambda reads: running lives, our
// shadows, records and the agents' states.
func (p *Plane) observe(ctx context.Context) (shadow.Observed, error) {
	shadows, err := p.fleet.Shadows(ctx, "")
	if err != nil {
		return shadow.Observed{}, err
	}
	recs, err := p.records.List(ctx)
	if err != nil {
		return shadow.Observed{}, err
	}
	obs := shadow.Observed{Lives: p.fleet.Running(p.cfg.Group), Shadows: shadows, Records: recs, Now: p.clock.Now(), Agents: map[string]shadow.AgentPair{}}
	for _, r := range recs {
		if r.Status != shadow.Active {
			continue
		}
		live, ok := p.lives[r.LiveID]
		sh, ok2 := p.fleet.Get(r.ShadowID)
		if !ok || !ok2 {
			continue
		}
		var pair shadow.AgentPair
		pair.Live, err = p.agents.State(ctx, p.mgr.Endpoint(live), r.LiveID)
		if err == nil {
			pair.Shadow, err = p.agents.State(ctx, p.mgr.Endpoint(sh), r.LiveID)
		}
		pair.Err = err
		if errors.Is(err, memory.ErrNoAgent) {
			continue // nothing routed to it yet
		}
		obs.Agents[r.LiveID] = pair
	}
	return obs, nil
}

func (p *Plane) reconcile(ctx context.Context) int {
	obs, err := p.observe(ctx)
	if err != nil {
		p.fail(fmt.Errorf("observing: %w", err))
		return 0
	}
	acts := shadow.Reconcile(obs, shadow.DefaultReconcileOptions())
	p.stats.Reconciles++
	p.stats.ReconcileActions += len(acts)
	for _, r := range p.mgr.Execute(ctx, acts, obs.Lives) {
		if r.Err != nil {
			p.fail(fmt.Errorf("reconcile %s %s: %w", r.Action.Kind, r.Action.LiveID, r.Err))
			continue
		}
		switch r.Action.Kind {
		case shadow.Resync:
			p.stats.Resyncs++
		case shadow.Replace:
			p.stats.ShadowsReplaced++
		}
	}
	return len(acts)
}

// Finish lets the agents' gap waits pass, reconciles until nothing is left
// to do, and checks the invariants: every live instance's shadow agent
// holds the live agent's digest, and no shadow is left without its live.
func (p *Plane) Finish() (Stats, error) {
	ctx := context.Background()
	for range 5 {
		p.clock.Advance(p.cfg.GapWait + time.Minute)
		if p.reconcile(ctx) == 0 {
			break
		}
	}
	obs, err := p.observe(ctx)
	if err != nil {
		return p.stats, err
	}
	for _, r := range obs.Records {
		pair, ok := obs.Agents[r.LiveID]
		if !ok || pair.Err != nil {
			continue
		}
		p.stats.DigestsCompared++
		if pair.Live.Digest == pair.Shadow.Digest && pair.Live.AppliedSeq == pair.Shadow.AppliedSeq {
			p.stats.DigestsEqual++
		}
	}
	for _, s := range obs.Shadows {
		if _, ok := p.lives[s.Tags[shadow.TagLive]]; !ok {
			p.stats.Orphans++
		}
	}
	var errs []error
	if p.stats.DigestsEqual != p.stats.DigestsCompared {
		errs = append(errs, fmt.Errorf("%d of %d shadows hold a different state than their live instance", p.stats.DigestsCompared-p.stats.DigestsEqual, p.stats.DigestsCompared))
	}
	if p.stats.Orphans > 0 {
		errs = append(errs, fmt.Errorf("%d shadows left without their live instance", p.stats.Orphans))
	}
	errs = append(errs, p.errors...)
	return p.stats, errors.Join(errs...)
}
