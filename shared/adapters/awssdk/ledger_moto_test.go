//go:build e2e

package awssdk_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/adapters/memory"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// ledgerStore is what both adapters are: records and the ledger.
type ledgerStore interface {
	shadow.Records
	shadow.Ledger
}

// TestLedgerContract runs one contract of the lifecycle's counters against
// the DynamoDB adapter (moto) and the in-memory one.
//
// The claimers race only on the in-memory ledger. moto (5.2.1) checks an
// UpdateItem's condition and applies its update with no lock between
// them, so two concurrent claims of the last slot can both pass on it (a
// clone CI run took 7 of 5 slots). DynamoDB applies a conditional write to
// an item as one step; on moto the same claims are made one at a time,
// which checks the condition and the count, not the emulator's threading.
func TestLedgerContract(t *testing.T) {
	for _, tc := range []struct {
		name       string
		new        func(t *testing.T) ledgerStore
		concurrent bool
	}{
		{"dynamodb", func(t *testing.T) ledgerStore { return newTable(t).Records() }, false},
		{"memory", func(*testing.T) ledgerStore { return memory.NewRecords() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) { ledgerContract(t, tc.new(t), tc.concurrent) })
	}
}

func ledgerContract(t *testing.T, l ledgerStore, concurrent bool) {
	ctx := context.Background()
	const az = "us-east-1a"
	if n, err := l.SlotsUsed(ctx, az); err != nil || n != 0 {
		t.Fatalf("SlotsUsed before any = %d, %v", n, err)
	}
	// Eight claimers for five slots (racing when concurrent): exactly five
	// win.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, full := 0, 0
	claim := func() {
		err := l.AcquireSlot(ctx, az, 5)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			won++
		case errors.Is(err, shadow.ErrPoolFull):
			full++
		default:
			t.Error(err)
		}
	}
	for range 8 {
		if !concurrent {
			claim()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			claim()
		}()
	}
	wg.Wait()
	if won != 5 || full != 3 {
		t.Fatalf("%d slots taken, %d refused: want 5 and 3", won, full)
	}
	if err := l.ReleaseSlot(ctx, az); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.SlotsUsed(ctx, az); n != 4 {
		t.Fatalf("SlotsUsed after a release = %d, want 4", n)
	}
	if err := l.CorrectSlots(ctx, az, 3, 1); !errors.Is(err, shadow.ErrConflict) {
		t.Errorf("CorrectSlots from a stale count = %v, want ErrConflict", err)
	}
	if err := l.CorrectSlots(ctx, az, 4, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.ReleaseSlot(ctx, az); err != nil {
		t.Errorf("ReleaseSlot at zero = %v, want nil", err)
	}
	if n, _ := l.SlotsUsed(ctx, az); n != 0 {
		t.Errorf("SlotsUsed = %d after releasing at zero, want 0", n)
	}
	if err := l.CorrectSlots(ctx, "us-east-1b", 0, 2); err != nil {
		t.Errorf("CorrectSlots of a count never written = %v", err)
	}

	// Replacements: 3 an hour, then refused until the next hour.
	for i := range 4 {
		err := l.TakeReplacement(ctx, "web", t0.Add(time.Duration(i)*time.Minute), 3)
		if (i < 3) != (err == nil) || (i == 3 && !errors.Is(err, shadow.ErrReplaceLimit)) {
			t.Fatalf("replacement %d: %v", i, err)
		}
	}
	if err := l.TakeReplacement(ctx, "api", t0, 3); err != nil {
		t.Errorf("another group's replacement = %v", err)
	}
	if err := l.TakeReplacement(ctx, "web", t0.Add(time.Hour), 3); err != nil {
		t.Errorf("the next hour's = %v", err)
	}
	h := shadow.Halt{Group: "web", LiveID: "i-0b", ShadowID: "i-0s", At: t0.Add(5 * time.Minute), Wanted: "shadow instance is terminated", Cause: "cap", Replacements: 4, Limit: 3}
	for range 2 { // a repeat in the hour overwrites
		if err := l.RecordHalt(ctx, h); err != nil {
			t.Fatal(err)
		}
	}

	// The replacement streak of a record round-trips.
	r := shadow.Record{LiveID: "i-0r", Group: "web", AZ: az, Status: shadow.Launching, Generation: 3, Replacements: 2, ReplacedAt: t0.Add(90 * time.Second)}
	if _, err := l.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	back, err := l.Get(ctx, "i-0r")
	if err != nil || back.Replacements != 2 || !back.ReplacedAt.Equal(r.ReplacedAt) {
		t.Errorf("record streak %d at %v (%v), want 2 at %v", back.Replacements, back.ReplacedAt, err, r.ReplacedAt)
	}
}

// The halt audit record says why, once per live instance and hour.
func TestHaltRecords(t *testing.T) {
	ctx := context.Background()
	rs := newTable(t).Records()
	h := shadow.Halt{Group: "web", LiveID: "i-0b", ShadowID: "i-0s", At: t0.Add(5 * time.Minute), Wanted: "shadow instance is terminated", Cause: "cap reached", Replacements: 4, Limit: 3}
	for range 2 {
		if err := rs.RecordHalt(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rs.Halts(ctx, "web")
	if err != nil || len(got) != 1 {
		t.Fatalf("Halts = %+v, %v; want one", got, err)
	}
	if g := got[0]; g.LiveID != h.LiveID || g.ShadowID != h.ShadowID || !g.At.Equal(h.At) || g.Wanted != h.Wanted || g.Cause != h.Cause || g.Limit != 3 || g.Replacements != 4 {
		t.Errorf("Halts = %+v, want %+v", g, h)
	}
}

// Records spread over partitions: no single SHADOW partition.
func TestRecordsSpreadOverPartitions(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t)
	rs := tb.Records()
	for i := range 64 {
		if _, err := rs.Create(ctx, shadow.Record{LiveID: fmt.Sprintf("i-%017x", i), Group: "web", Status: shadow.Launching, Generation: 1}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := env.DDB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tb.Name())})
	if err != nil {
		t.Fatal(err)
	}
	pks := map[string]int{}
	for _, it := range out.Items {
		if pk, ok := it[awssdk.AttrPK].(*ddbtypes.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "SHADOW") {
			pks[pk.Value]++
		}
	}
	if len(pks) < 12 {
		t.Errorf("64 records in %d partitions %v, want them spread over most of 16", len(pks), pks)
	}
	list, err := rs.List(ctx)
	if err != nil || len(list) != 64 || list[0].LiveID != "i-00000000000000000" || list[63].LiveID != fmt.Sprintf("i-%017x", 63) {
		t.Errorf("List = %d records (%v), want all 64 in id order", len(list), err)
	}
}
