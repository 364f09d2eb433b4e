package memory

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Fleet is an in-memory EC2: it implements shadow.Fleet, and lets tests and
// the simulator add live instances and change states.
type Fleet struct {
	mu      sync.Mutex
	stack   string
	clock   clock.Clock
	subnets map[string]string // subnet -> AZ
	insts   map[string]*shadow.Instance
	// gone queues terminated instances in termination order: EC2 stops
	// reporting an instance about an hour after it terminated, and so does
	// this fleet (which also keeps long simulations fast).
	gone []goneInst
	next int
	// Launches counts successful Launch calls.
	Launches int
	// FailLaunch, when set, is consulted before each launch.
	FailLaunch func(spec shadow.LaunchSpec) error
	// FailDescribe, when set, is consulted before each Describe and Lookup.
	FailDescribe func(ids []string) error
	// Lookups and LookedUp count Lookup calls and the ids they asked for.
	Lookups, LookedUp int
}

var _ shadow.Fleet = (*Fleet)(nil)

type goneInst struct {
	id string
	at time.Time
}

// TerminatedVisibility is how long a terminated instance stays visible.
const TerminatedVisibility = time.Hour

// terminate marks i terminated and queues it for removal. f.mu is held.
func (f *Fleet) terminate(i *shadow.Instance) {
	if i.State == shadow.Terminated {
		return
	}
	i.State = shadow.Terminated
	f.gone = append(f.gone, goneInst{i.ID, f.clock.Now()})
}

// purge forgets instances terminated more than TerminatedVisibility ago.
// f.mu is held.
func (f *Fleet) purge() {
	now := f.clock.Now()
	n := 0
	for n < len(f.gone) && now.Sub(f.gone[n].at) > TerminatedVisibility {
		if i, ok := f.insts[f.gone[n].id]; ok && i.State == shadow.Terminated {
			delete(f.insts, f.gone[n].id)
		}
		n++
	}
	f.gone = f.gone[n:]
}

// NewFleet returns an empty fleet owned by stack, whose subnets lie in the
// given AZs (subnet id -> AZ).
func NewFleet(stack string, c clock.Clock, subnets map[string]string) *Fleet {
	return &Fleet{stack: stack, clock: c, subnets: maps.Clone(subnets), insts: map[string]*shadow.Instance{}}
}

// Reset removes every instance and hook.
func (f *Fleet) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.insts = map[string]*shadow.Instance{}
	f.gone = nil
	f.next, f.Launches, f.FailLaunch, f.FailDescribe = 0, 0, nil, nil
	f.Lookups, f.LookedUp = 0, 0
}

// Add puts an instance (a live one, or anything a test needs) in the fleet.
func (f *Fleet) Add(i shadow.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := i
	c.Tags = maps.Clone(i.Tags)
	f.insts[i.ID] = &c
}

// SetState changes an instance's state; it reports whether it exists.
func (f *Fleet) SetState(id string, s shadow.State) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.insts[id]
	if ok {
		if s == shadow.Terminated {
			f.terminate(i)
		} else {
			i.State = s
		}
	}
	return ok
}

// SetImpaired marks an instance's status checks impaired or ok.
func (f *Fleet) SetImpaired(id string, impaired bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.insts[id]; ok {
		i.Impaired = impaired
	}
}

// Get returns an instance.
func (f *Fleet) Get(id string) (shadow.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.insts[id]
	if !ok {
		return shadow.Instance{}, false
	}
	return copyInst(i), true
}

func copyInst(i *shadow.Instance) shadow.Instance {
	c := *i
	c.Tags = maps.Clone(i.Tags)
	return c
}

// Launch implements shadow.Fleet. The instance runs at once.
func (f *Fleet) Launch(_ context.Context, spec shadow.LaunchSpec) (shadow.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.FailLaunch != nil {
		if err := f.FailLaunch(spec); err != nil {
			return shadow.Instance{}, err
		}
	}
	az, ok := f.subnets[spec.SubnetID]
	if !ok {
		return shadow.Instance{}, fmt.Errorf("launching into subnet %s: no such subnet", spec.SubnetID)
	}
	f.next++
	i := &shadow.Instance{
		ID: fmt.Sprintf("i-shadow%05d", f.next), Type: spec.InstanceType, AZ: az, SubnetID: spec.SubnetID,
		PrivateIP: fmt.Sprintf("10.9.%d.%d", f.next/250, f.next%250+1),
		State:     shadow.Running, LaunchedAt: f.clock.Now(), Tags: maps.Clone(spec.Tags),
	}
	f.insts[i.ID] = i
	f.Launches++
	return copyInst(i), nil
}

// Terminate implements shadow.Fleet: it refuses anything that is not this
// stack's shadow.
func (f *Fleet) Terminate(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.insts[id]
	if !ok {
		return nil
	}
	if !i.IsShadow(f.stack) {
		return fmt.Errorf("terminating %s: %w", id, shadow.ErrNotOwned)
	}
	f.terminate(i)
	return nil
}

// Describe implements shadow.Fleet.
func (f *Fleet) Describe(_ context.Context, ids []string) ([]shadow.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.describe(ids)
}

// Lookup is Describe for the fan-out's resolver (EC2 without status
// checks), counted in Lookups and LookedUp.
func (f *Fleet) Lookup(_ context.Context, ids []string) ([]shadow.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Lookups++
	f.LookedUp += len(ids)
	return f.describe(ids)
}

// describe answers Describe and Lookup. f.mu is held.
func (f *Fleet) describe(ids []string) ([]shadow.Instance, error) {
	if f.FailDescribe != nil {
		if err := f.FailDescribe(ids); err != nil {
			return nil, err
		}
	}
	f.purge()
	var out []shadow.Instance
	for _, id := range ids {
		if i, ok := f.insts[id]; ok {
			out = append(out, copyInst(i))
		}
	}
	return out, nil
}

// Shadows implements shadow.Fleet.
func (f *Fleet) Shadows(_ context.Context, liveID string) ([]shadow.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purge()
	var out []shadow.Instance
	for _, i := range f.insts {
		if !i.IsShadow(f.stack) || i.State == shadow.Terminated {
			continue
		}
		if liveID != "" && i.Tags[shadow.TagLive] != liveID {
			continue
		}
		out = append(out, copyInst(i))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

// Running returns the running instances that are not shadows, of a group
// ("" for all).
func (f *Fleet) Running(group string) []shadow.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purge()
	var out []shadow.Instance
	for _, i := range f.insts {
		if i.State != shadow.Running || i.LooksLikeShadow() || (group != "" && i.Group != group) {
			continue
		}
		out = append(out, copyInst(i))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Now is a helper for tests: the fleet clock's time.
func (f *Fleet) Now() time.Time { return f.clock.Now() }
