package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Records is an in-memory shadow.Records with the same conditional-write
// semantics as the DynamoDB adapter.
type Records struct {
	mu   sync.Mutex
	recs map[string]shadow.Record
	// Fail, when set, is consulted before each call with the call's name
	// ("get", "create", "update", "delete", "list").
	Fail func(op string) error
}

var _ shadow.Records = (*Records)(nil)

// NewRecords returns an empty store.
func NewRecords() *Records { return &Records{recs: map[string]shadow.Record{}} }

// Reset removes every record and hook.
func (r *Records) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = map[string]shadow.Record{}
	r.Fail = nil
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
