package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Groups is Auto Scaling in memory, with the awssdk adapter's rules: only a
// group tagged enrolled is written (asg.ErrNotEnrolled), a desired capacity
// outside [min, max] or a max below min is shadow.ErrInvalid, a group without
// a launch template has no instance type (asg.ErrUnsupported), a second
// instance refresh while one runs is asg.ErrInProgress. It records every
// write as "<group> <what>" (desired=N, max=N, type=T, refresh).
type Groups struct {
	mu        sync.Mutex
	groups    map[string]asg.Group
	types     map[string]string
	scaling   map[string][]asg.Scaling
	refreshes map[string]bool
	cpu       map[string]map[time.Time]float64
	cpuReads  [][]string
	writes    []string
	// Fail, when set, is consulted before each call with the call's name
	// ("group", "enrolled", "group-of", "instance-type", "set-desired",
	// "set-max", "resize", "refresh", "own-scaling") and the group's name
	// ("" for enrolled and own-scaling).
	Fail func(op, group string) error
}

// NewGroups returns Auto Scaling with no group.
func NewGroups() *Groups {
	g := &Groups{}
	g.Reset()
	return g
}

// Reset removes every group, policy, refresh, write and hook.
func (g *Groups) Reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups, g.types, g.writes, g.Fail = map[string]asg.Group{}, map[string]string{}, nil, nil
	g.scaling, g.refreshes = map[string][]asg.Scaling{}, map[string]bool{}
	g.cpu, g.cpuReads = map[string]map[time.Time]float64{}, nil
}

// SetCPU sets a group's average CPU utilization (percent) in a minute, as
// CloudWatch would report it.
func (g *Groups) SetCPU(group string, minute time.Time, pct float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cpu[group] == nil {
		g.cpu[group] = map[time.Time]float64{}
	}
	g.cpu[group][minute.UTC().Truncate(time.Minute)] = pct
}

// CPUReads returns the groups of each CPUUtilization call so far.
func (g *Groups) CPUReads() [][]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.cpuReads)
}

// CPUUtilization returns the minutes set by SetCPU of the named groups
// from the minute of from to the minute of to (the awssdk.GroupCPU
// contract; "cpu" for Fail).
func (g *Groups) CPUUtilization(_ context.Context, groups []string, from, to time.Time) (map[string]map[time.Time]float64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cpuReads = append(g.cpuReads, slices.Clone(groups))
	if err := g.fail("cpu", ""); err != nil {
		return nil, err
	}
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	out := map[string]map[time.Time]float64{}
	for _, n := range groups {
		for m, v := range g.cpu[n] {
			if m.Before(from) || m.After(to) {
				continue
			}
			if out[n] == nil {
				out[n] = map[time.Time]float64{}
			}
			out[n][m] = v
		}
	}
	return out, nil
}

// SetScaling sets a group's own scaling policies and scheduled actions.
func (g *Groups) SetScaling(group string, s ...asg.Scaling) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range s {
		s[i].Group = group
	}
	g.scaling[group] = s
}

// FinishRefresh ends a group's instance refresh (Auto Scaling would, once
// it replaced the instances).
func (g *Groups) FinishRefresh(group string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.refreshes, group)
}

// Put adds or replaces a group.
func (g *Groups) Put(gr asg.Group) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.groups[gr.Name] = gr
}

// Update changes a stored group in place; it reports whether it exists.
func (g *Groups) Update(name string, f func(*asg.Group)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.groups[name]
	if ok {
		f(&gr)
		g.groups[name] = gr
	}
	return ok
}

// Get returns a stored group.
func (g *Groups) Get(name string) (asg.Group, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr, ok := g.groups[name]
	return gr, ok
}

// SetInstanceType sets the type the group's launch template launches.
func (g *Groups) SetInstanceType(name, instanceType string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.types[name] = instanceType
}

// Writes returns the writes so far, oldest first.
func (g *Groups) Writes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.writes)
}

func (g *Groups) fail(op, group string) error {
	if g.Fail != nil {
		return g.Fail(op, group)
	}
	return nil
}

// Group returns a group, or an error wrapping shadow.ErrNotFound.
func (g *Groups) Group(_ context.Context, name string) (asg.Group, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail("group", name); err != nil {
		return asg.Group{}, err
	}
	gr, ok := g.groups[name]
	if !ok {
		return asg.Group{}, fmt.Errorf("group %s: %w", name, shadow.ErrNotFound)
	}
	return gr, nil
}

// EnrolledGroups returns the enrolled groups by name.
func (g *Groups) EnrolledGroups(context.Context) ([]asg.Group, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail("enrolled", ""); err != nil {
		return nil, err
	}
	var out []asg.Group
	for _, gr := range g.groups {
		if gr.Enrolled() {
			out = append(out, gr)
		}
	}
	slices.SortFunc(out, func(a, b asg.Group) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// GroupOf returns the group an instance is a member of, "" when none.
func (g *Groups) GroupOf(_ context.Context, instanceID string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail("group-of", ""); err != nil {
		return "", err
	}
	for name, gr := range g.groups {
		for _, i := range gr.Instances {
			if i.ID == instanceID {
				return name, nil
			}
		}
	}
	return "", nil
}

// LaunchType returns the type set by SetInstanceType for the group.
func (g *Groups) LaunchType(ctx context.Context, gr asg.Group) (string, error) {
	return g.InstanceType(ctx, gr.Name)
}

// OwnScaling returns the policies and actions set by SetScaling of the
// named groups.
func (g *Groups) OwnScaling(_ context.Context, names []string) (map[string][]asg.Scaling, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail("own-scaling", ""); err != nil {
		return nil, err
	}
	out := map[string][]asg.Scaling{}
	for _, n := range names {
		if s := g.scaling[n]; len(s) > 0 {
			out[n] = slices.Clone(s)
		}
	}
	return out, nil
}

// StartRefresh starts an instance refresh of an enrolled group (recorded
// as "<group> refresh"); one already running is asg.ErrInProgress.
func (g *Groups) StartRefresh(_ context.Context, name string) (string, error) {
	err := g.write("refresh", name, "refresh", func(*asg.Group) error {
		if g.refreshes[name] {
			return fmt.Errorf("instance refresh of %s: %w", name, asg.ErrInProgress)
		}
		g.refreshes[name] = true
		return nil
	})
	if err != nil {
		return "", err
	}
	return "refresh-" + name, nil
}

// InstanceType returns the type set by SetInstanceType.
func (g *Groups) InstanceType(_ context.Context, name string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail("instance-type", name); err != nil {
		return "", err
	}
	if t, ok := g.types[name]; ok {
		return t, nil
	}
	return "", fmt.Errorf("instance type of group %s (no launch template): %w", name, asg.ErrUnsupported)
}

// write runs f on an enrolled group under the lock.
func (g *Groups) write(op, name, what string, f func(*asg.Group) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.fail(op, name); err != nil {
		return err
	}
	gr, ok := g.groups[name]
	if !ok {
		return fmt.Errorf("group %s: %w", name, shadow.ErrNotFound)
	}
	if !gr.EnrolledByTag {
		return fmt.Errorf("%s on group %s: %w", what, name, asg.ErrNotEnrolled)
	}
	if err := f(&gr); err != nil {
		return err
	}
	g.groups[name] = gr
	g.writes = append(g.writes, name+" "+what)
	return nil
}

// SetDesiredCapacity sets an enrolled group's desired capacity.
func (g *Groups) SetDesiredCapacity(_ context.Context, name string, desired int) error {
	return g.write("set-desired", name, "desired="+strconv.Itoa(desired), func(gr *asg.Group) error {
		if desired < gr.Min || desired > gr.Max {
			return fmt.Errorf("%w: desired capacity %d of group %s outside [%d, %d]", shadow.ErrInvalid, desired, name, gr.Min, gr.Max)
		}
		gr.Desired = desired
		return nil
	})
}

// SetMaxSize changes an enrolled group's maximum size.
func (g *Groups) SetMaxSize(_ context.Context, name string, maxSize int) error {
	return g.write("set-max", name, "max="+strconv.Itoa(maxSize), func(gr *asg.Group) error {
		if maxSize < gr.Min || maxSize < 0 {
			return fmt.Errorf("%w: max size %d of group %s below its min %d", shadow.ErrInvalid, maxSize, name, gr.Min)
		}
		gr.Max = maxSize
		return nil
	})
}

// Resize points an enrolled group's launch template at instanceType: a new
// version when the type changes.
func (g *Groups) Resize(_ context.Context, name, instanceType string) (asg.LaunchTemplateRef, error) {
	var ref asg.LaunchTemplateRef
	err := g.write("resize", name, "type="+instanceType, func(gr *asg.Group) error {
		if instanceType == "" {
			return fmt.Errorf("%w: resizing group %s: instance type is empty", shadow.ErrInvalid, name)
		}
		if gr.MixedInstances {
			return fmt.Errorf("resizing group %s: only groups with a single launch template: %w", name, asg.ErrUnsupported)
		}
		ref = gr.LaunchTemplate
		if ref.ID == "" && ref.Name == "" {
			ref.ID = "lt-" + name
		}
		if g.types[name] != instanceType {
			v, _ := strconv.Atoi(ref.Version)
			ref.Version = strconv.Itoa(max(v, 1) + 1)
			g.types[name] = instanceType
		}
		gr.LaunchTemplate = ref
		return nil
	})
	return ref, err
}
