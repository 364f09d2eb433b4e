package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// History is the fan-out's counters in memory, summed as the DynamoDB
// adapter sums them: per group per minute (live and shadow accepted,
// records seen), and
// per resource per minute (accepted summed, applied the highest reported,
// backlog the last).
type History struct {
	mu        sync.Mutex
	groups    map[string]map[time.Time]mutation.GroupCount
	resources map[string]map[resKey]mutation.ResourceCount
	adds      int
	queries   []string
	// Fail, when set, is consulted before each call with the call's name
	// ("add", "group-minutes", "resource-minutes") and the group ("" for
	// add).
	Fail func(op, group string) error
}

type resKey struct {
	minute   time.Time
	resource string
}

// NewHistory returns an empty history.
func NewHistory() *History {
	h := &History{}
	h.Reset()
	return h
}

// Reset removes every counter, query record and hook.
func (h *History) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.groups = map[string]map[time.Time]mutation.GroupCount{}
	h.resources = map[string]map[resKey]mutation.ResourceCount{}
	h.adds, h.queries, h.Fail = 0, nil, nil
}

func (h *History) fail(op, group string) error {
	if h.Fail != nil {
		return h.Fail(op, group)
	}
	return nil
}

// Add sums a Router's flushed counters. Like the DynamoDB adapter, a
// failed Add may have stored part of them; this one stores none.
func (h *History) Add(_ context.Context, counts map[mutation.CountKey]mutation.Count) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.adds++
	if err := h.fail("add", ""); err != nil {
		return err
	}
	for k := range counts {
		if k.Group == "" || k.Resource == "" || (k.Target != mutation.Live && k.Target != mutation.Shadow && k.Target != mutation.SeenTarget) {
			return fmt.Errorf("%w: counter %+v", shadow.ErrInvalid, k)
		}
	}
	for k, c := range counts {
		m := k.Minute.UTC().Truncate(time.Minute)
		gc := h.groupMinute(k.Group, m)
		if k.Target == mutation.SeenTarget {
			gc.Seen += int64(c.Seen)
			h.groups[k.Group][m] = gc
			continue
		}
		rc := h.resourceMinute(k.Group, k.Resource, m)
		if k.Target == mutation.Live {
			gc.Live += int64(c.Accepted)
			rc.Live += int64(c.Accepted)
			rc.LiveApplied, rc.LiveBacklog = max(rc.LiveApplied, c.Applied), c.Backlog
		} else {
			gc.Shadow += int64(c.Accepted)
			rc.Shadow += int64(c.Accepted)
			rc.ShadowApplied, rc.ShadowBacklog = max(rc.ShadowApplied, c.Applied), c.Backlog
		}
		h.groups[k.Group][m] = gc
		h.resources[k.Group][resKey{m, k.Resource}] = rc
	}
	return nil
}

func (h *History) groupMinute(group string, m time.Time) mutation.GroupCount {
	if h.groups[group] == nil {
		h.groups[group] = map[time.Time]mutation.GroupCount{}
	}
	gc, ok := h.groups[group][m]
	if !ok {
		gc.Start = m
	}
	return gc
}

func (h *History) resourceMinute(group, resource string, m time.Time) mutation.ResourceCount {
	if h.resources[group] == nil {
		h.resources[group] = map[resKey]mutation.ResourceCount{}
	}
	rc, ok := h.resources[group][resKey{m, resource}]
	if !ok {
		rc.Minute, rc.Resource = m, resource
	}
	return rc
}

// PutGroupMinute stores a group minute as given (replacing one).
func (h *History) PutGroupMinute(group string, gc mutation.GroupCount) {
	h.mu.Lock()
	defer h.mu.Unlock()
	gc.Start = gc.Start.UTC().Truncate(time.Minute)
	h.groupMinute(group, gc.Start)
	h.groups[group][gc.Start] = gc
}

// PutResourceMinute stores a resource minute as given (replacing one).
func (h *History) PutResourceMinute(group string, rc mutation.ResourceCount) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rc.Minute = rc.Minute.UTC().Truncate(time.Minute)
	h.resourceMinute(group, rc.Resource, rc.Minute)
	h.resources[group][resKey{rc.Minute, rc.Resource}] = rc
}

// DeleteGroupMinute removes a group minute (a minute nothing was counted).
func (h *History) DeleteGroupMinute(group string, minute time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.groups[group], minute.UTC().Truncate(time.Minute))
}

// Adds returns how many times Add was called.
func (h *History) Adds() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.adds
}

// Queries returns the reads so far as "G|R <group> <from>..<to>" (HH:MM).
func (h *History) Queries() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.queries)
}

// Accepted sums what a group's target accepted over all minutes.
func (h *History) Accepted(group string, t mutation.Target) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for _, gc := range h.groups[group] {
		if t == mutation.Live {
			n += gc.Live
		} else {
			n += gc.Shadow
		}
	}
	return n
}

// Seen sums the records seen for a group over all minutes.
func (h *History) Seen(group string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var n int64
	for _, gc := range h.groups[group] {
		n += gc.Seen
	}
	return n
}

func (h *History) query(kind, group string, from, to time.Time) {
	h.queries = append(h.queries, fmt.Sprintf("%s %s %s..%s", kind, group, from.Format("15:04"), to.Format("15:04")))
}

// GroupMinutes returns a group's minutes from the minute of from to the
// minute of to, both included, oldest first; minutes without mutations or
// records seen are absent.
func (h *History) GroupMinutes(_ context.Context, group string, from, to time.Time) ([]mutation.GroupCount, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.query("G", group, from, to)
	if err := h.fail("group-minutes", group); err != nil {
		return nil, err
	}
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	var out []mutation.GroupCount
	for m, gc := range h.groups[group] {
		if !m.Before(from) && !m.After(to) {
			out = append(out, gc)
		}
	}
	slices.SortFunc(out, func(a, b mutation.GroupCount) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// ResourceMinutes returns a group's resource minutes in [from, to] by
// minute then resource.
func (h *History) ResourceMinutes(_ context.Context, group string, from, to time.Time) ([]mutation.ResourceCount, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.query("R", group, from, to)
	if err := h.fail("resource-minutes", group); err != nil {
		return nil, err
	}
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	var out []mutation.ResourceCount
	for k, rc := range h.resources[group] {
		if !k.minute.Before(from) && !k.minute.After(to) {
			out = append(out, rc)
		}
	}
	slices.SortFunc(out, func(a, b mutation.ResourceCount) int {
		if c := a.Minute.Compare(b.Minute); c != 0 {
			return c
		}
		return cmp.Compare(a.Resource, b.Resource)
	})
	return out, nil
}

// States keeps one versioned loop state per group, as the table does.
type States struct {
	mu     sync.Mutex
	states map[string]control.SavedState
	// Fail, when set, is consulted before each call ("load", "save").
	Fail func(op, group string) error
	// FailAfter, when set, is consulted after a save took effect; an error
	// is returned as the save's answer (a write whose response was lost).
	FailAfter func(op, group string) error
}

// NewStates returns an empty state store.
func NewStates() *States { return &States{states: map[string]control.SavedState{}} }

// Reset removes every state and hook.
func (s *States) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states, s.Fail, s.FailAfter = map[string]control.SavedState{}, nil, nil
}

// Load returns a group's state, or an error wrapping shadow.ErrNotFound.
func (s *States) Load(_ context.Context, group string) (control.SavedState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		if err := s.Fail("load", group); err != nil {
			return control.SavedState{}, err
		}
	}
	st, ok := s.states[group]
	if !ok {
		return control.SavedState{}, fmt.Errorf("state of %s: %w", group, shadow.ErrNotFound)
	}
	st.Blob = slices.Clone(st.Blob)
	return st, nil
}

// Get returns a group's stored state as it is.
func (s *States) Get(group string) (control.SavedState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[group]
	return st, ok
}

// Put stores a state as given, version included (what another writer, or
// a corrupt item, would leave).
func (s *States) Put(group string, st control.SavedState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[group] = st
}

// Save stores blob if the stored version is still version (0: none yet),
// else shadow.ErrConflict; it returns the new version.
func (s *States) Save(_ context.Context, group string, blob []byte, version int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		if err := s.Fail("save", group); err != nil {
			return 0, err
		}
	}
	if len(blob) > control.MaxStateBlob {
		return 0, fmt.Errorf("%w: state of %s is %d bytes, limit %d", shadow.ErrInvalid, group, len(blob), control.MaxStateBlob)
	}
	if s.states[group].Version != version {
		return 0, fmt.Errorf("saving state of %s at version %d: %w", group, version, shadow.ErrConflict)
	}
	s.states[group] = control.SavedState{Blob: slices.Clone(blob), Version: version + 1}
	if s.FailAfter != nil {
		if err := s.FailAfter("save", group); err != nil {
			return 0, err // stored, but the answer is an error (a lost response)
		}
	}
	return version + 1, nil
}

// Audit keeps audit records, refusing a repeat of (group, time, id) with
// shadow.ErrConflict.
type Audit struct {
	mu   sync.Mutex
	recs []control.AuditRecord
	// Fail, when set, is consulted before each Put.
	Fail func(control.AuditRecord) error
}

// NewAudit returns an empty audit store.
func NewAudit() *Audit { return &Audit{} }

// Reset removes every record and hook.
func (a *Audit) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs, a.Fail = nil, nil
}

// Put stores a record once.
func (a *Audit) Put(_ context.Context, d control.AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Fail != nil {
		if err := a.Fail(d); err != nil {
			return err
		}
	}
	if d.Group == "" || d.At.IsZero() || d.ID == "" {
		return fmt.Errorf("%w: audit record needs a group, a time and an id", shadow.ErrInvalid)
	}
	if len(d.Body) > control.MaxAuditBody {
		return fmt.Errorf("%w: audit body of %d bytes, limit %d", shadow.ErrInvalid, len(d.Body), control.MaxAuditBody)
	}
	for _, r := range a.recs {
		if r.Group == d.Group && r.At.Equal(d.At) && r.ID == d.ID {
			return fmt.Errorf("audit record %s %s %s: %w", d.Group, d.At.Format(time.RFC3339), d.ID, shadow.ErrConflict)
		}
	}
	a.recs = append(a.recs, d)
	return nil
}

// Records returns the records stored so far, oldest first.
func (a *Audit) Records() []control.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recs)
}

// DeadLetters keeps dead letters.
type DeadLetters struct {
	mu      sync.Mutex
	letters []mutation.DeadLetter
	// Fail, when set, is consulted for each letter: a non-nil error leaves
	// that letter unsent.
	Fail func(mutation.DeadLetter) error
}

// NewDeadLetters returns an empty dead-letter store.
func NewDeadLetters() *DeadLetters { return &DeadLetters{} }

// Reset removes every letter and hook.
func (d *DeadLetters) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.letters, d.Fail = nil, nil
}

// SendEach stores the letters; errs[i] is letter i's failure.
func (d *DeadLetters) SendEach(_ context.Context, letters []mutation.DeadLetter) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	errs := make([]error, len(letters))
	for i, l := range letters {
		if d.Fail != nil {
			if errs[i] = d.Fail(l); errs[i] != nil {
				continue
			}
		}
		d.letters = append(d.letters, l)
	}
	return errs
}

// Letters returns the letters stored so far, oldest first.
func (d *DeadLetters) Letters() []mutation.DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.letters)
}
