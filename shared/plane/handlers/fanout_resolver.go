package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// ResolverFleet is EC2 as the resolver needs it (awssdk.Instances and memory.Fleet).
type ResolverFleet interface {
	// Lookup returns the instances with these ids that exist, with their
	// state, private IP, tags and Auto Scaling group; unknown ids are
	// absent, not an error.
	Lookup(ctx context.Context, ids []string) ([]shadow.Instance, error)
}

// ResolverRecords is the shadow records as the resolver needs them.
type ResolverRecords interface {
	// Get returns the record of a live instance, or an error wrapping
	// shadow.ErrNotFound.
	Get(ctx context.Context, liveID string) (shadow.Record, error)
}

// ResolverGroups is Auto Scaling as the resolver needs it.
type ResolverGroups interface {
	// Group returns a group, or an error wrapping shadow.ErrNotFound.
	Group(ctx context.Context, name string) (asg.Group, error)
}

// ResolverConfig tunes the Resolver.
type ResolverConfig struct {
	// AgentPort is the agents' port on every instance (shadow.DefaultAgentPort when 0).
	AgentPort int
	// Addresses overrides an instance's agent address (instance id ->
	// host:port). For tests and local runs only (SHADOWSCALE_AGENT_ADDRESSES):
	// the instances an emulator creates have private IPs nothing listens on.
	Addresses map[string]string
	// TTL is how long a resolved route (or an unknown resource, or a
	// group's enrollment) is reused (DefaultRouteTTL when 0;
	// SHADOWSCALE_ROUTE_TTL, the stack's routeCacheSeconds). A shadow replaced or resynced is picked up within it;
	// a failed delivery drops the route at once (Invalidate).
	TTL time.Duration
	// Concurrency bounds the record reads of one Prime (8 when 0).
	Concurrency int
	// Breaker, when set, takes a shadow out of its route while its
	// breaker is open (see ShadowBreaker).
	Breaker *ShadowBreaker
	// UnknownGrace is how long an instance id EC2 does not show is taken
	// for EC2 lagging behind (a just-launched instance: DescribeInstances
	// is eventually consistent) rather than for an unknown resource: its
	// mutations are retried, counted from the first time it was asked,
	// and dead-lettered only after it (0: at once).
	// SHADOWSCALE_UNKNOWN_INSTANCE_GRACE, 2 minutes by default.
	UnknownGrace time.Duration
}

// DefaultRouteTTL is the Resolver's TTL when none is given
// (lambdaenv.DefaultRouteTTL, the stack's routeCacheSeconds, agree).
const DefaultRouteTTL = 30 * time.Second

// unseenMax bounds the ids remembered as not yet shown by EC2.
const unseenMax = 10_000

// Resolver is the fan-out's mutation.Resolver: a resource is a live
// instance id, routed to the agent on that instance and, when its shadow
// record is active and the shadow runs, to the agent on its shadow.
//
// A resource is unknown (mutation.ErrUnknownResource: its mutations can
// never succeed and are dead-lettered) when it is not an EC2 instance id,
// EC2 does not know it (past UnknownGrace: a just-launched instance EC2
// does not show yet is retried meanwhile), it is a shadow, it is not running (pending excepted,
// see below), it belongs to no Auto Scaling group, or its group is not
// enrolled. A pending live instance, a failed AWS call and a running
// instance without an address are transient errors: the records are
// retried.
//
// Routes and unknown resources are cached for TTL; transient errors are
// not. Prime resolves the resources of a whole batch with one record read
// each and one DescribeInstances call; Resolve falls back to it for a
// resource the batch did not prime.
type Resolver struct {
	fleet   ResolverFleet
	records ResolverRecords
	groups  ResolverGroups
	clock   clock.Clock
	cfg     ResolverConfig

	mu       sync.Mutex
	routes   map[string]cachedRoute
	enrolled map[string]cachedGroup
	// unseen: ids EC2 did not show, with when it first did not.
	unseen map[string]time.Time
}

type cachedRoute struct {
	route mutation.Route
	err   error // nil, or an error wrapping mutation.ErrUnknownResource
	at    time.Time
}

type cachedGroup struct {
	enrolled bool
	at       time.Time
}

var _ mutation.Resolver = (*Resolver)(nil)

// NewResolver returns a Resolver; every port is required.
func NewResolver(fleet ResolverFleet, records ResolverRecords, groups ResolverGroups, c clock.Clock, cfg ResolverConfig) (*Resolver, error) {
	errs := missing(
		dep{"fleet", fleet != nil},
		dep{"records", records != nil},
		dep{"auto scaling groups", groups != nil},
		dep{"clock", c != nil},
	)
	if cfg.AgentPort < 0 || cfg.AgentPort > 65535 {
		errs = append(errs, fmt.Errorf("agent port %d", cfg.AgentPort))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: resolver: %w", shadow.ErrInvalid, err)
	}
	if cfg.AgentPort == 0 {
		cfg.AgentPort = shadow.DefaultAgentPort
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultRouteTTL
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.UnknownGrace < 0 {
		cfg.UnknownGrace = 0
	}
	return &Resolver{fleet: fleet, records: records, groups: groups, clock: c, cfg: cfg,
		routes: map[string]cachedRoute{}, enrolled: map[string]cachedGroup{}, unseen: map[string]time.Time{}}, nil
}

// Resolve implements mutation.Resolver.
func (r *Resolver) Resolve(ctx context.Context, resource string) (mutation.Route, error) {
	c, ok := r.cached(resource)
	if !ok {
		c = r.resolve(ctx, []string{resource})[resource]
	}
	if c.err == nil && c.route.ShadowReady && r.cfg.Breaker != nil && !r.cfg.Breaker.Allow(c.route.Shadow.InstanceID) {
		c.route.ShadowReady = false
	}
	return c.route, c.err
}

// Prime resolves the resources that are not cached, together, so that the
// Router's Resolve calls for a batch hit the cache.
func (r *Resolver) Prime(ctx context.Context, resources []string) {
	var todo []string
	seen := map[string]bool{}
	for _, res := range resources {
		if seen[res] {
			continue
		}
		seen[res] = true
		if _, ok := r.cached(res); !ok {
			todo = append(todo, res)
		}
	}
	if len(todo) > 0 {
		r.resolve(ctx, todo)
	}
}

// TTL is how long a resolved route is reused.
func (r *Resolver) TTL() time.Duration { return r.cfg.TTL }

// Invalidate forgets a resource's route, so the next delivery resolves it
// again (after a failed delivery: the shadow may have been replaced).
func (r *Resolver) Invalidate(resource string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.routes, resource)
}

func (r *Resolver) cached(resource string) (cachedRoute, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.routes[resource]
	if !ok || r.clock.Now().Sub(c.at) >= r.cfg.TTL {
		return cachedRoute{}, false
	}
	return c, true
}

func unknown(format string, a ...any) error {
	return fmt.Errorf("%w: %s", mutation.ErrUnknownResource, fmt.Sprintf(format, a...))
}

// resolve resolves resources (none cached) and caches the routes and the
// unknown ones; transient errors are returned, not cached.
func (r *Resolver) resolve(ctx context.Context, resources []string) map[string]cachedRoute {
	now := r.clock.Now()
	out := make(map[string]cachedRoute, len(resources))
	var ids []string
	for _, res := range resources {
		if !validInstanceID(res) {
			out[res] = cachedRoute{err: unknown("resource %q is not an EC2 instance id", clip(res)), at: now}
			continue
		}
		ids = append(ids, res)
	}
	recs, recErrs := r.readRecords(ctx, ids)
	lookup := append([]string(nil), ids...)
	for _, rec := range recs {
		if rec.ShadowID != "" {
			lookup = append(lookup, rec.ShadowID)
		}
	}
	var insts map[string]shadow.Instance
	var lookupErr error
	if len(ids) > 0 {
		found, err := r.fleet.Lookup(ctx, lookup)
		if err != nil {
			lookupErr = fmt.Errorf("describing instances: %w", err)
		}
		insts = make(map[string]shadow.Instance, len(found))
		for _, i := range found {
			insts[i.ID] = i
		}
	}
	for _, res := range ids {
		switch {
		case lookupErr != nil:
			out[res] = cachedRoute{err: lookupErr}
		case recErrs[res] != nil:
			out[res] = cachedRoute{err: recErrs[res]}
		default:
			rec, hasRec := recs[res]
			route, err := r.route(ctx, res, insts, rec, hasRec)
			out[res] = cachedRoute{route: route, err: err, at: now}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for res, c := range out {
		if c.err == nil || errors.Is(c.err, mutation.ErrUnknownResource) {
			r.routes[res] = c
		}
	}
	return out
}

// readRecords reads the shadow records of ids with bounded concurrency.
// A missing record is absent from the map, not an error.
func (r *Resolver) readRecords(ctx context.Context, ids []string) (map[string]shadow.Record, map[string]error) {
	recs := make(map[string]shadow.Record, len(ids))
	errs := map[string]error{}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(r.cfg.Concurrency)
	for _, id := range ids {
		g.Go(func() error {
			rec, err := r.records.Get(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				recs[id] = rec
			case !errors.Is(err, shadow.ErrNotFound):
				errs[id] = fmt.Errorf("reading the shadow record of %s: %w", id, err)
			}
			return nil
		})
	}
	_ = g.Wait() // the errors are per id, in errs
	return recs, errs
}

func (r *Resolver) route(ctx context.Context, res string, insts map[string]shadow.Instance, rec shadow.Record, hasRec bool) (mutation.Route, error) {
	live, ok := insts[res]
	if ok {
		r.seen(res)
	}
	switch {
	case !ok:
		if first, now := r.notSeen(res); now.Sub(first) < r.cfg.UnknownGrace {
			return mutation.Route{}, fmt.Errorf("EC2 does not show instance %s yet (first asked %s ago; retried for %s): %w",
				res, now.Sub(first).Round(time.Millisecond), r.cfg.UnknownGrace, ErrNotYetVisible)
		}
		return mutation.Route{}, unknown("EC2 does not know instance %s", res)
	case live.LooksLikeShadow():
		return mutation.Route{}, unknown("instance %s is a shadow, not a live instance", res)
	case live.State == shadow.Pending:
		return mutation.Route{}, fmt.Errorf("live instance %s is pending: its agent is not up yet", res)
	case live.State != shadow.Running:
		return mutation.Route{}, unknown("live instance %s is %s", res, live.State)
	}
	group := live.Group
	if group == "" && hasRec {
		group = rec.Group
	}
	if group == "" {
		return mutation.Route{}, unknown("instance %s belongs to no Auto Scaling group", res)
	}
	enrolled, err := r.groupEnrolled(ctx, group)
	if err != nil {
		return mutation.Route{}, err
	}
	if !enrolled {
		return mutation.Route{}, unknown("the group %s of instance %s is not enrolled", group, res)
	}
	addr := r.address(live)
	if addr == "" {
		return mutation.Route{}, fmt.Errorf("live instance %s has no private address yet", res)
	}
	route := mutation.Route{Resource: res, Group: group, Live: mutation.Endpoint{InstanceID: res, Address: addr}}
	if hasRec && rec.Status == shadow.Active && rec.ShadowID != "" {
		if sh, ok := insts[rec.ShadowID]; ok && sh.State == shadow.Running {
			if a := r.address(sh); a != "" {
				route.Shadow = mutation.Endpoint{InstanceID: sh.ID, Address: a}
				route.ShadowReady = true
			}
		}
	}
	return route, nil
}

// notSeen remembers when EC2 first did not show res, and returns that and
// now.
func (r *Resolver) notSeen(res string) (first, now time.Time) {
	now = r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	first, ok := r.unseen[res]
	if !ok {
		if len(r.unseen) >= unseenMax {
			for id, at := range r.unseen { // forget those past their grace
				if now.Sub(at) >= r.cfg.UnknownGrace {
					delete(r.unseen, id)
				}
			}
		}
		if len(r.unseen) < unseenMax {
			r.unseen[res] = now
		}
		first = now
	}
	return first, now
}

// seen forgets that EC2 did not show res.
func (r *Resolver) seen(res string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.unseen, res)
}

// groupEnrolled answers from the cache or asks Auto Scaling; a group that
// does not exist is not enrolled.
func (r *Resolver) groupEnrolled(ctx context.Context, name string) (bool, error) {
	now := r.clock.Now()
	r.mu.Lock()
	c, ok := r.enrolled[name]
	r.mu.Unlock()
	if ok && now.Sub(c.at) < r.cfg.TTL {
		return c.enrolled, nil
	}
	g, err := r.groups.Group(ctx, name)
	switch {
	case errors.Is(err, shadow.ErrNotFound):
		g = asg.Group{}
	case err != nil:
		return false, fmt.Errorf("describing group %s: %w", name, err)
	}
	r.mu.Lock()
	r.enrolled[name] = cachedGroup{enrolled: g.Enrolled(), at: now}
	r.mu.Unlock()
	return g.Enrolled(), nil
}

func (r *Resolver) address(i shadow.Instance) string {
	if a, ok := r.cfg.Addresses[i.ID]; ok {
		return a
	}
	if i.PrivateIP == "" {
		return ""
	}
	return net.JoinHostPort(i.PrivateIP, strconv.Itoa(r.cfg.AgentPort))
}
