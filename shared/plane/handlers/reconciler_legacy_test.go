package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

// oldLayout stands in for the records an earlier version stored where
// this one no longer reads them (the DynamoDB adapter's old partition,
// proven on moto in awssdk's TestMigrateLegacyRecords): MigrateLegacy
// moves them into the env's records, at most page a call.
type oldLayout struct {
	e       *env
	held    []shadow.Record
	page    int  // records a call moves (0: the caller's limit)
	skipAll bool // every record read is skipped (changed since the read)
	err     error
	calls   int
}

func (o *oldLayout) MigrateLegacy(ctx context.Context, limit int) (shadow.LegacyMigration, error) {
	o.calls++
	if o.err != nil {
		return shadow.LegacyMigration{}, o.err
	}
	n := min(limit, len(o.held))
	if o.page > 0 {
		n = min(n, o.page)
	}
	var m shadow.LegacyMigration
	if o.skipAll {
		m.Skipped = n
		m.More = len(o.held) > n
		return m, nil
	}
	moved := 0
	for _, r := range o.held[:n] {
		if ctx.Err() != nil { // as the adapter: none starts once ctx is done
			break
		}
		if _, err := o.e.records.Create(ctx, r); err != nil {
			return m, err
		}
		moved++
	}
	m.Moved = moved
	o.held = o.held[moved:]
	m.More = len(o.held) > 0
	return m, nil
}

// toOldLayout takes a live instance's record out of the records into an
// old layout: the shadow runs, and this version cannot see its record.
func toOldLayout(t *testing.T, e *env, rec shadow.Record) *oldLayout {
	t.Helper()
	if err := e.records.Delete(context.Background(), rec.LiveID, rec.Version); err != nil {
		t.Fatal(err)
	}
	return &oldLayout{e: e, held: []shadow.Record{rec}}
}

func actionKinds(resp handlers.Response) string {
	var kinds []string
	for _, a := range resp.Actions {
		kinds = append(kinds, a.Kind+":"+a.Live)
	}
	return fmt.Sprint(kinds)
}

// TestReconcilerMovesAnEarlierVersionsRecordsFirst: after an upgrade, the
// reconciler adopts the shadows an earlier version's records describe
// instead of giving their live instances a second shadow; and it does not
// act while such records may remain unread.
func TestReconcilerMovesAnEarlierVersionsRecordsFirst(t *testing.T) {
	setup := func(t *testing.T) (*env, shadow.Record, *oldLayout) {
		ctx := context.Background()
		e := newEnv(t, 10)
		withShadow(t, e)
		// A record an earlier version wrote: its second shadow, synced.
		rec, err := e.manager.Replace(ctx, liveID, "test")
		if err != nil || rec.Generation != 2 {
			t.Fatalf("Replace = %+v, %v", rec, err)
		}
		rec.SyncedAt = e.clock.Now()
		if rec, err = e.records.Update(ctx, rec); err != nil {
			t.Fatal(err)
		}
		old := toOldLayout(t, e, rec)
		e.addLive("i-0b", "web", "us-east-1b") // no shadow yet, in any layout
		e.clock.Advance(time.Minute)
		return e, rec, old
	}

	t.Run("moved, then reconciled", func(t *testing.T) {
		e, rec, old := setup(t)
		e.deps.Legacy = old
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil || resp.Outcome != handlers.OutcomeReconciled {
			t.Fatalf("%+v, %v", resp, err)
		}
		if got := actionKinds(resp); got != "[create:i-0b]" {
			t.Errorf("actions %s, want only i-0b's shadow created", got)
		}
		if sh := e.shadows(t, liveID); len(sh) != 1 || sh[0].ID != rec.ShadowID {
			t.Errorf("shadows of %s = %+v, want its old one alone", liveID, sh)
		}
		if got, err := e.records.Get(context.Background(), liveID); err != nil || got.ShadowID != rec.ShadowID || got.Generation != 2 || !got.SyncedAt.Equal(rec.SyncedAt) {
			t.Errorf("record = %+v, %v; want the old one's shadow, generation and sync", got, err)
		}
		if old.calls != 1 {
			t.Errorf("%d calls, want 1 (nothing more to move)", old.calls)
		}
	})

	t.Run("without the move, a second shadow (what the move prevents)", func(t *testing.T) {
		// (A record of the first generation would have its shadow adopted
		// by the new claim, but lose its sync and its replacement streak.)
		e, _, _ := setup(t)
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil {
			t.Fatal(err)
		}
		if got := actionKinds(resp); got != fmt.Sprintf("[create:%s create:i-0b]", liveID) {
			t.Errorf("actions %s", got)
		}
		if sh := e.shadows(t, liveID); len(sh) != 2 {
			t.Errorf("%d shadows of %s, want 2", len(sh), liveID)
		}
	})

	t.Run("the old records unreadable: nothing done, the invocation fails", func(t *testing.T) {
		e, _, old := setup(t)
		old.err = fmt.Errorf("query: %w", awssdk.ErrThrottled)
		e.deps.Legacy = old
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if !errors.Is(err, awssdk.ErrThrottled) || !strings.Contains(err.Error(), "earlier version") || len(resp.Actions) != 0 {
			t.Fatalf("%+v, %v; want the read's error, no action", resp, err)
		}
		if len(e.shadows(t, liveID)) != 1 || len(e.shadows(t, "i-0b")) != 0 {
			t.Error("the fleet changed")
		}
	})

	t.Run("the deadline before the last page: nothing done, the next run goes on", func(t *testing.T) {
		e, _, old := setup(t)
		extra, err := e.manager.Ensure(context.Background(), e.addLive("i-0c", "web", "us-east-1a"))
		if err != nil {
			t.Fatal(err)
		}
		old.held = append(old.held, toOldLayout(t, e, extra).held...)
		old.page = 1
		e.deps.Legacy = old
		// 10 s left: within the reserve, so the first page is the last.
		ctx, cancel := context.WithTimeout(invocation(), 10*time.Second)
		defer cancel()
		resp, err := reconciler(t, e).Handle(ctx, fixture(t, "scheduled.json"))
		if err != nil || resp.Outcome != handlers.OutcomeDeferred || len(resp.Actions) != 0 || old.calls != 1 || len(old.held) != 2 {
			t.Fatalf("%+v, %v after %d calls, %d left; want deferred after 1, nothing moved past the stop time", resp, err, old.calls, len(old.held))
		}
		resp, err = reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil || resp.Outcome != handlers.OutcomeReconciled || actionKinds(resp) != "[create:i-0b]" {
			t.Fatalf("the next run: %+v, %v", resp, err)
		}
		if len(e.shadows(t, "i-0c")) != 1 {
			t.Error("i-0c got a second shadow")
		}
	})

	t.Run("a full page that moves nothing: nothing done", func(t *testing.T) {
		e, _, old := setup(t)
		old.held = append(old.held, shadow.Record{LiveID: "i-0other"})
		old.page, old.skipAll = 1, true
		e.deps.Legacy = old
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil || resp.Outcome != handlers.OutcomeDeferred || len(resp.Actions) != 0 || old.calls != 1 {
			t.Fatalf("%+v, %v after %d calls; want deferred after 1", resp, err, old.calls)
		}
	})

	t.Run("only a record that cannot be moved left: the run goes on", func(t *testing.T) {
		e, rec, old := setup(t)
		if _, err := e.records.Create(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		old.held = nil // moved by an earlier run; an undecodable one stays
		e.deps.Legacy = failSome{old}
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil || resp.Outcome != handlers.OutcomeReconciled || actionKinds(resp) != "[create:i-0b]" {
			t.Fatalf("%+v, %v", resp, err)
		}
	})

	t.Run("some records not moved: the run goes on", func(t *testing.T) {
		e, _, old := setup(t)
		e.deps.Legacy = failSome{old}
		resp, err := reconciler(t, e).Handle(invocation(), fixture(t, "scheduled.json"))
		if err != nil || resp.Outcome != handlers.OutcomeReconciled || actionKinds(resp) != "[create:i-0b]" {
			t.Fatalf("%+v, %v", resp, err)
		}
		if !strings.Contains(e.logs.String(), "could not be moved") {
			t.Error("the failed record was not logged")
		}
	})
}

// failSome moves what its old layout holds and reports one more record
// that could not be moved (one that cannot be decoded).
type failSome struct{ *oldLayout }

func (f failSome) MigrateLegacy(ctx context.Context, limit int) (shadow.LegacyMigration, error) {
	m, err := f.oldLayout.MigrateLegacy(ctx, limit)
	m.Failed++
	return m, errors.Join(err, errors.New(`legacy shadow record "LIVE#i-0bad" left in place: version: not a number`))
}
