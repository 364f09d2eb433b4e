package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Records is an in-memory shadow.Records with the same conditional-write
// semantics as the DynamoDB adapter.
type Records struct {
	mu   sync.Mutex
	recs map[string]shadow.Record
	// The ledger (shadow.Ledger): slots per AZ, replacements per group and
	// hour, and the audit of halted replacements.
	slots    map[string]int
	replaced map[string]int // group + "#" + hour
	halts    []shadow.Halt
	// Fail, when set, is consulted before each call with the call's name
	// ("get", "create", "update", "delete", "list").
	Fail func(op string) error
}

var (
	_ shadow.Records = (*Records)(nil)
	_ shadow.Ledger  = (*Records)(nil)
)

// NewRecords returns an empty store.
func NewRecords() *Records {
	return &Records{recs: map[string]shadow.Record{}, slots: map[string]int{}, replaced: map[string]int{}}
}

// Reset removes every record, counter and hook.
func (r *Records) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = map[string]shadow.Record{}
	r.slots, r.replaced, r.halts = map[string]int{}, map[string]int{}, nil
	r.Fail = nil
}

// AcquireSlot implements shadow.Ledger ("acquire-slot" for Fail).
func (r *Records) AcquireSlot(_ context.Context, az string, capacity int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("acquire-slot"); err != nil {
		return err
	}
	if r.slots[az] >= capacity {
		return fmt.Errorf("pool %s: %d of %d slots used: %w", az, r.slots[az], capacity, shadow.ErrPoolFull)
	}
	r.slots[az]++
	return nil
}

// ReleaseSlot implements shadow.Ledger ("release-slot" for Fail).
func (r *Records) ReleaseSlot(_ context.Context, az string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("release-slot"); err != nil {
		return err
	}
	if r.slots[az] > 0 {
		r.slots[az]--
	}
	return nil
}

// SlotsUsed implements shadow.Ledger.
func (r *Records) SlotsUsed(_ context.Context, az string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("slots-used"); err != nil {
		return 0, err
	}
	return r.slots[az], nil
}

// CorrectSlots implements shadow.Ledger.
func (r *Records) CorrectSlots(_ context.Context, az string, old, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("correct-slots"); err != nil {
		return err
	}
	if r.slots[az] != old {
		return fmt.Errorf("pool %s count is %d, not %d: %w", az, r.slots[az], old, shadow.ErrConflict)
	}
	r.slots[az] = n
	return nil
}

// TakeReplacement implements shadow.Ledger ("take-replacement" for Fail).
func (r *Records) TakeReplacement(_ context.Context, group string, at time.Time, limit int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("take-replacement"); err != nil {
		return err
	}
	k := group + "#" + at.UTC().Format("2006-01-02T15")
	if r.replaced[k] >= limit {
		return fmt.Errorf("group %s: %d replacements this hour: %w", group, r.replaced[k], shadow.ErrReplaceLimit)
	}
	r.replaced[k]++
	return nil
}

// RecordHalt implements shadow.Ledger: one record per live instance and
// hour, a repeat replaces it.
func (r *Records) RecordHalt(_ context.Context, h shadow.Halt) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("record-halt"); err != nil {
		return err
	}
	for i, o := range r.halts {
		if o.Group == h.Group && o.LiveID == h.LiveID && o.At.Truncate(time.Hour).Equal(h.At.Truncate(time.Hour)) {
			r.halts[i] = h
			return nil
		}
	}
	r.halts = append(r.halts, h)
	return nil
}

// Halts returns the audit records of halted replacements.
func (r *Records) Halts() []shadow.Halt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]shadow.Halt(nil), r.halts...)
}

func (r *Records) fail(op string) error {
	if r.Fail != nil {
		return r.Fail(op)
	}
	return nil
}

// Get implements shadow.Records.
func (r *Records) Get(_ context.Context, liveID string) (shadow.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("get"); err != nil {
		return shadow.Record{}, err
	}
	rec, ok := r.recs[liveID]
	if !ok {
		return shadow.Record{}, fmt.Errorf("shadow record of %s: %w", liveID, shadow.ErrNotFound)
	}
	return rec, nil
}

// Create implements shadow.Records.
func (r *Records) Create(_ context.Context, rec shadow.Record) (shadow.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("create"); err != nil {
		return shadow.Record{}, err
	}
	if _, ok := r.recs[rec.LiveID]; ok {
		return shadow.Record{}, fmt.Errorf("shadow record of %s exists: %w", rec.LiveID, shadow.ErrConflict)
	}
	rec.Version = 1
	r.recs[rec.LiveID] = rec
	return rec, nil
}

// Update implements shadow.Records.
func (r *Records) Update(_ context.Context, rec shadow.Record) (shadow.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("update"); err != nil {
		return shadow.Record{}, err
	}
	cur, ok := r.recs[rec.LiveID]
	if !ok {
		return shadow.Record{}, fmt.Errorf("shadow record of %s: %w", rec.LiveID, shadow.ErrNotFound)
	}
	if cur.Version != rec.Version {
		return shadow.Record{}, fmt.Errorf("shadow record of %s is at version %d, not %d: %w", rec.LiveID, cur.Version, rec.Version, shadow.ErrConflict)
	}
	rec.Version++
	r.recs[rec.LiveID] = rec
	return rec, nil
}

// Delete implements shadow.Records.
func (r *Records) Delete(_ context.Context, liveID string, version int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("delete"); err != nil {
		return err
	}
	cur, ok := r.recs[liveID]
	if !ok {
		return fmt.Errorf("shadow record of %s: %w", liveID, shadow.ErrNotFound)
	}
	if cur.Version != version {
		return fmt.Errorf("shadow record of %s is at version %d, not %d: %w", liveID, cur.Version, version, shadow.ErrConflict)
	}
	delete(r.recs, liveID)
	return nil
}

// List implements shadow.Records.
func (r *Records) List(context.Context) ([]shadow.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fail("list"); err != nil {
		return nil, err
	}
	out := make([]shadow.Record, 0, len(r.recs))
	for _, rec := range r.recs {
		out = append(out, rec)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].LiveID < out[b].LiveID })
	return out, nil
}
