//go:build e2e

package awssdk_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// legacyItem is a shadow record as versions before the sharding wrote it:
// every record under pk SHADOW, built here attribute by attribute rather
// than by today's code, so that the test pins the old format.
func legacyItem(live, shadowID string, version int64) map[string]ddbtypes.AttributeValue {
	str := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	num := func(v int64) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	it := map[string]ddbtypes.AttributeValue{
		"pk": str("SHADOW"), "sk": str("LIVE#" + live), "kind": str("shadow"),
		"live_id": str(live), "group": str("web"), "az": str("us-east-1a"), "live_type": str("m7g.xlarge"),
		"shadow_type": str("t4g.small"), "subnet_id": str("subnet-0a"), "status": str("active"),
		"generation": num(2), "version": num(version),
		"created_at": str("2026-12-01T10:00:00.5Z"), "updated_at": str("2026-12-01T10:02:00Z"), "synced_at": str("2026-12-01T11:00:00Z"),
	}
	if shadowID != "" {
		it["shadow_id"] = str(shadowID)
	}
	return it
}

func putRaw(t *testing.T, table string, it map[string]ddbtypes.AttributeValue) {
	t.Helper()
	if _, err := env.DDB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

// legacyLeft is how many items the old partition still holds.
func legacyLeft(t *testing.T, table string) int {
	t.Helper()
	out, err := env.DDB.Query(context.Background(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: "SHADOW"}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Items)
}

// TestMigrateLegacyRecords: records an earlier version kept in one
// partition move to their shards, whole, in pages, and nothing is lost on
// the way: a record already at its shard wins, an item that cannot be
// decoded stays, and an item that changed after it was read is left for
// the next call.
func TestMigrateLegacyRecords(t *testing.T) {
	ctx := context.Background()
	tb := newTable(t)
	rs := tb.Records()
	for i := range 5 {
		putRaw(t, tb.Name(), legacyItem(fmt.Sprintf("i-0live%012d", i), fmt.Sprintf("i-0shad%012d", i), int64(3+i)))
	}
	got, err := rs.MigrateLegacy(ctx, 3)
	if err != nil || got.Moved != 3 || !got.More {
		t.Fatalf("first page: %+v, %v; want 3 moved and more", got, err)
	}
	if got, err = rs.MigrateLegacy(ctx, 3); err != nil || got.Moved != 2 || got.More {
		t.Fatalf("second page: %+v, %v; want 2 moved and no more", got, err)
	}
	if got, err = rs.MigrateLegacy(ctx, 3); err != nil || got != (shadow.LegacyMigration{}) {
		t.Fatalf("an empty partition: %+v, %v; want nothing done", got, err)
	}
	if n := legacyLeft(t, tb.Name()); n != 0 {
		t.Errorf("%d items left in the old partition, want 0", n)
	}
	list, err := rs.List(ctx)
	if err != nil || len(list) != 5 {
		t.Fatalf("List after the move = %d records, %v; want 5", len(list), err)
	}
	r, err := rs.Get(ctx, "i-0live000000000002")
	want := shadow.Record{LiveID: "i-0live000000000002", Group: "web", AZ: "us-east-1a", LiveType: "m7g.xlarge", ShadowID: "i-0shad000000000002",
		ShadowType: "t4g.small", SubnetID: "subnet-0a", Status: shadow.Active, Generation: 2, Version: 5,
		CreatedAt: time.Date(2026, 12, 1, 10, 0, 0, 5e8, time.UTC), UpdatedAt: time.Date(2026, 12, 1, 10, 2, 0, 0, time.UTC), SyncedAt: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)}
	if err != nil || !r.CreatedAt.Equal(want.CreatedAt) || !r.UpdatedAt.Equal(want.UpdatedAt) || !r.SyncedAt.Equal(want.SyncedAt) {
		t.Fatalf("moved record = %+v, %v; want %+v", r, err, want)
	}
	r.CreatedAt, r.UpdatedAt, r.SyncedAt = want.CreatedAt, want.UpdatedAt, want.SyncedAt
	if r != want {
		t.Errorf("moved record = %+v\nwant %+v", r, want)
	}
	// The moved record takes today's versioned updates.
	r.Status = shadow.Retiring
	if _, err := rs.Update(ctx, r); err != nil {
		t.Errorf("updating a moved record at its version: %v", err)
	}

	t.Run("a record at its shard wins", func(t *testing.T) {
		tb := newTable(t)
		rs := tb.Records()
		if _, err := rs.Create(ctx, shadow.Record{LiveID: "i-0both", Group: "web", ShadowID: "i-0new", Status: shadow.Active, Generation: 1}); err != nil {
			t.Fatal(err)
		}
		putRaw(t, tb.Name(), legacyItem("i-0both", "i-0old", 7))
		got, err := rs.MigrateLegacy(ctx, 10)
		if err != nil || got.Dropped != 1 || got.Moved != 0 {
			t.Fatalf("MigrateLegacy = %+v, %v; want 1 dropped", got, err)
		}
		if r, err := rs.Get(ctx, "i-0both"); err != nil || r.ShadowID != "i-0new" || r.Version != 1 {
			t.Errorf("record = %+v, %v; want the new one untouched", r, err)
		}
		if n := legacyLeft(t, tb.Name()); n != 0 {
			t.Errorf("%d old items left, want 0", n)
		}
	})

	t.Run("an undecodable item stays", func(t *testing.T) {
		tb := newTable(t)
		rs := tb.Records()
		bad := legacyItem("i-0bad", "i-0s", 1)
		bad["version"] = &ddbtypes.AttributeValueMemberS{Value: "one"}
		putRaw(t, tb.Name(), bad)
		putRaw(t, tb.Name(), legacyItem("i-0good", "i-0s2", 1))
		got, err := rs.MigrateLegacy(ctx, 10)
		if err == nil || !strings.Contains(err.Error(), "LIVE#i-0bad") || got.Moved != 1 || got.Failed != 1 {
			t.Fatalf("MigrateLegacy = %+v, %v; want the good one moved and an error naming the bad one", got, err)
		}
		if n := legacyLeft(t, tb.Name()); n != 1 {
			t.Errorf("%d old items left, want the undecodable one", n)
		}
	})

	t.Run("an item changed after the read is left for the next call", func(t *testing.T) {
		w := newTable(t)
		api := &changeBeforeTransact{DynamoDBAPI: env.DDB, table: w.Name(), t: t}
		tb, err := awssdk.NewTable(api, w.Name(), clock.NewFake(t0), awssdk.TableOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rs := tb.Records()
		putRaw(t, tb.Name(), legacyItem("i-0race", "i-0s", 4))
		got, err := rs.MigrateLegacy(ctx, 10)
		if err != nil || got.Skipped != 1 || got.Moved != 0 {
			t.Fatalf("MigrateLegacy = %+v, %v; want 1 skipped", got, err)
		}
		if _, err := rs.Get(ctx, "i-0race"); err == nil {
			t.Error("a record was written at the shard from the stale read")
		}
		// The next call reads the changed item and moves it.
		api.done = true
		if got, err := rs.MigrateLegacy(ctx, 10); err != nil || got.Moved != 1 {
			t.Fatalf("second call = %+v, %v; want 1 moved", got, err)
		}
		if r, err := rs.Get(ctx, "i-0race"); err != nil || r.Version != 5 || r.ShadowID != "i-0changed" {
			t.Errorf("record = %+v, %v; want the changed item (version 5)", r, err)
		}
	})
}

// TestMigrateLegacyStopsWithItsContext: no record starts moving once the
// caller's context is done (the reconciler's stop time); the ones left
// are for the next call.
func TestMigrateLegacyStopsWithItsContext(t *testing.T) {
	w := newTable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := &cancelAfterTransact{DynamoDBAPI: env.DDB, cancel: cancel}
	tb, err := awssdk.NewTable(api, w.Name(), clock.NewFake(t0), awssdk.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		putRaw(t, tb.Name(), legacyItem(fmt.Sprintf("i-0stop%d", i), "i-0s", 1))
	}
	got, err := tb.Records().MigrateLegacy(ctx, 10)
	if err != nil || got.Moved != 1 || !got.More {
		t.Fatalf("MigrateLegacy = %+v, %v; want 1 moved, more left", got, err)
	}
	if got, err := tb.Records().MigrateLegacy(context.Background(), 10); err != nil || got.Moved != 2 || got.More {
		t.Fatalf("the next call = %+v, %v; want the other 2", got, err)
	}
}

// cancelAfterTransact cancels the caller's context once a transaction is
// done.
type cancelAfterTransact struct {
	awssdk.DynamoDBAPI
	cancel func()
}

func (c *cancelAfterTransact) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opt ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := c.DynamoDBAPI.TransactWriteItems(ctx, in, opt...)
	c.cancel()
	return out, err
}

// changeBeforeTransact writes a newer version of the old item just before
// the first transaction, as an old function still running would.
type changeBeforeTransact struct {
	awssdk.DynamoDBAPI
	table string
	t     *testing.T
	done  bool
}

func (c *changeBeforeTransact) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opt ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if !c.done {
		c.done = true
		putRaw(c.t, c.table, legacyItem("i-0race", "i-0changed", 5))
	}
	return c.DynamoDBAPI.TransactWriteItems(ctx, in, opt...)
}
