package awssdk

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Records is shadow.Records on the table: one item per live instance under
// pk SHADOW#<shard>, sk LIVE#<live id>, written with conditions on a version
// attribute. EC2's ClientToken is not relied upon (emulators ignore it): this
// conditional claim is the idempotency of a shadow launch.
//
// The shard (recordShards of them, by a hash of the live instance id)
// spreads the records over partitions: a Get or a write touches one item,
// a List queries every shard. It is also shadow.Ledger: the pools' slot
// counters (POOL#<az>), the replacements per group and hour
// (REPLACE#<group>) and the audit of halted replacements
// (LIFECYCLE#<group>), each an item of its own (docs/DYNAMODB.md).
type Records struct{ t *Table }

var (
	_ shadow.Records       = (*Records)(nil)
	_ shadow.Ledger        = (*Records)(nil)
	_ shadow.LegacyRecords = (*Records)(nil)
)

// recordShards is how many partitions the shadow records spread over.
const recordShards = 16

// recordPK is the partition of a live instance's record.
func recordPK(liveID string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(liveID)) // a hash.Hash never fails to write
	return fmt.Sprintf("%s#%02d", pkShadows, h.Sum32()%recordShards)
}

// Records returns the shadow record store.
func (t *Table) Records() *Records { return &Records{t: t} }

const recordTime = time.RFC3339Nano

func recordItem(r shadow.Record) map[string]ddbtypes.AttributeValue {
	m := key(recordPK(r.LiveID), skLive+r.LiveID)
	m["kind"] = s("shadow")
	m["live_id"] = s(r.LiveID)
	m["group"] = s(r.Group)
	m["az"] = s(r.AZ)
	m["live_type"] = s(r.LiveType)
	m["shadow_type"] = s(r.ShadowType)
	m["subnet_id"] = s(r.SubnetID)
	m["status"] = s(string(r.Status))
	m["generation"] = n(int64(r.Generation))
	m["version"] = n(r.Version)
	if r.ShadowID != "" {
		m["shadow_id"] = s(r.ShadowID)
	}
	if r.Replacements > 0 {
		m["replacements"] = n(int64(r.Replacements))
	}
	for name, t := range map[string]time.Time{"created_at": r.CreatedAt, "updated_at": r.UpdatedAt, "synced_at": r.SyncedAt, "replaced_at": r.ReplacedAt} {
		if !t.IsZero() {
			m[name] = s(t.UTC().Format(recordTime))
		}
	}
	return m
}

func recordFrom(m map[string]ddbtypes.AttributeValue) (shadow.Record, error) {
	it := &item{m: m}
	r := shadow.Record{
		LiveID:     it.str("live_id"),
		Group:      it.str("group"),
		AZ:         it.str("az"),
		LiveType:   it.str("live_type"),
		ShadowID:   it.str("shadow_id"),
		ShadowType: it.str("shadow_type"),
		SubnetID:   it.str("subnet_id"),
		Status:     shadow.Status(it.str("status")),
		Generation: int(it.int("generation")),
		Version:    it.int("version"),
		CreatedAt:  it.time("created_at", recordTime),
		UpdatedAt:  it.time("updated_at", recordTime),
		SyncedAt:   it.time("synced_at", recordTime),
		// Replacement streak (absent: none).
		Replacements: int(it.int("replacements")),
		ReplacedAt:   it.time("replaced_at", recordTime),
	}
	if it.err == nil && r.LiveID == "" {
		it.fail("live_id", "set")
	}
	return r, it.err
}

// Get implements shadow.Records (a strongly consistent read).
func (r *Records) Get(ctx context.Context, liveID string) (shadow.Record, error) {
	out, err := r.t.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(r.t.name),
		Key:            key(recordPK(liveID), skLive+liveID),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return shadow.Record{}, fmt.Errorf("reading shadow record of %s: %w", liveID, Classify(err))
	}
	if out.Item == nil {
		return shadow.Record{}, fmt.Errorf("shadow record of %s: %w", liveID, shadow.ErrNotFound)
	}
	rec, err := recordFrom(out.Item)
	if err != nil {
		return shadow.Record{}, fmt.Errorf("decoding shadow record of %s: %w", liveID, err)
	}
	return rec, nil
}

// Create implements shadow.Records: a put conditioned on no item. A
// condition that fails against exactly the item this call writes is this
// call's own write, retried by the SDK after its answer was lost: success,
// not a conflict (the claim is ours; taking it for another caller's would
// leave the shadow unlaunched until the reconciler's launch timeout).
func (r *Records) Create(ctx context.Context, rec shadow.Record) (shadow.Record, error) {
	if rec.LiveID == "" {
		return shadow.Record{}, fmt.Errorf("%w: creating a shadow record: live instance id is empty", shadow.ErrInvalid)
	}
	rec.Version = 1
	it := stampWrite(recordItem(rec))
	_, err := r.t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(r.t.name),
		Item:                                it,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": AttrPK},
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil && !ownWrite(err, it) {
		return shadow.Record{}, fmt.Errorf("creating shadow record of %s: %w", rec.LiveID, Classify(err))
	}
	return rec, nil
}

// Update implements shadow.Records: a put conditioned on the stored
// version; the failed condition's old item tells a conflict (some version)
// from a missing record (none), and from this call's own write retried by
// the SDK after it took effect (the old item is the one written: success).
func (r *Records) Update(ctx context.Context, rec shadow.Record) (shadow.Record, error) {
	want := rec.Version
	rec.Version++
	it := stampWrite(recordItem(rec))
	_, err := r.t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(r.t.name),
		Item:                                it,
		ConditionExpression:                 aws.String("#v = :v"),
		ExpressionAttributeNames:            map[string]string{"#v": "version"},
		ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":v": n(want)},
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil && !ownWrite(err, it) {
		return shadow.Record{}, fmt.Errorf("updating shadow record of %s at version %d: %w", rec.LiveID, want, conditionFailed(err))
	}
	return rec, nil
}

// Delete implements shadow.Records.
func (r *Records) Delete(ctx context.Context, liveID string, version int64) error {
	_, err := r.t.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(r.t.name),
		Key:                                 key(recordPK(liveID), skLive+liveID),
		ConditionExpression:                 aws.String("#v = :v"),
		ExpressionAttributeNames:            map[string]string{"#v": "version"},
		ExpressionAttributeValues:           map[string]ddbtypes.AttributeValue{":v": n(version)},
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return fmt.Errorf("deleting shadow record of %s at version %d: %w", liveID, version, conditionFailed(err))
	}
	return nil
}

// List implements shadow.Records: one strongly consistent Query of each
// shard's partition (Table concurrency at a time), in live instance id order.
func (r *Records) List(ctx context.Context) ([]shadow.Record, error) {
	shards := make([][]shadow.Record, recordShards)
	var g errgroup.Group
	g.SetLimit(r.t.opt.Concurrency)
	for i := range recordShards {
		g.Go(func() error {
			pk := fmt.Sprintf("%s#%02d", pkShadows, i)
			return r.t.query(ctx, &dynamodb.QueryInput{
				KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :live)"),
				ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s(pk), ":live": s(skLive)},
				ConsistentRead:            aws.Bool(true),
			}, func(m map[string]ddbtypes.AttributeValue) error {
				rec, err := recordFrom(m)
				if err != nil {
					return err
				}
				shards[i] = append(shards[i], rec)
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("listing shadow records: %w", err)
	}
	out := slices.Concat(shards...)
	slices.SortFunc(out, func(a, b shadow.Record) int { return strings.Compare(a.LiveID, b.LiveID) })
	return out, nil
}

// Ledger items (docs/DYNAMODB.md).
const (
	pkPool      = "POOL#" // + AZ: sk SLOTS, attribute used
	skSlots     = "SLOTS"
	pkReplace   = "REPLACE#" // + group: sk H#<hour>, attribute count
	pkLifecycle = "LIFECYCLE#"
	skHalt      = "HALT#" // + hour + # + live instance id
	replaceTTL  = 2 * 24 * time.Hour
	haltTTL     = 90 * 24 * time.Hour
)

// AcquireSlot implements shadow.Ledger: one UpdateItem ADD used 1, on
// condition that the count is below capacity. ADD is not idempotent: an
// SDK retry of a call that landed counts twice; the reconciler corrects a
// count that differs from the records (Manager.CorrectSlots).
func (r *Records) AcquireSlot(ctx context.Context, az string, capacity int) error {
	_, err := r.t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.t.name),
		Key:                       key(pkPool+az, skSlots),
		UpdateExpression:          aws.String("SET #kind = :kind ADD #used :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#used) OR #used < :cap"),
		ExpressionAttributeNames:  map[string]string{"#used": "used", "#kind": "kind"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": n(1), ":cap": n(int64(capacity)), ":kind": s("pool-slots")},
	})
	if err != nil {
		var ccf *ddbtypes.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("pool %s: %d slots used: %w", az, capacity, shadow.ErrPoolFull)
		}
		return fmt.Errorf("taking a slot of pool %s: %w", az, Classify(err))
	}
	return nil
}

// ReleaseSlot implements shadow.Ledger: ADD used -1 on condition that it
// is above zero (at zero, nothing to give back: not an error).
func (r *Records) ReleaseSlot(ctx context.Context, az string) error {
	_, err := r.t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.t.name),
		Key:                       key(pkPool+az, skSlots),
		UpdateExpression:          aws.String("ADD #used :minus"),
		ConditionExpression:       aws.String("#used > :zero"),
		ExpressionAttributeNames:  map[string]string{"#used": "used"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":minus": n(-1), ":zero": n(0)},
	})
	var ccf *ddbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("releasing a slot of pool %s: %w", az, Classify(err))
	}
	return nil
}

// SlotsUsed implements shadow.Ledger (a strongly consistent GetItem).
func (r *Records) SlotsUsed(ctx context.Context, az string) (int, error) {
	out, err := r.t.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(r.t.name),
		Key:            key(pkPool+az, skSlots),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("reading the slots of pool %s: %w", az, Classify(err))
	}
	it := &item{m: out.Item}
	used := it.int("used")
	if it.err != nil {
		return 0, fmt.Errorf("decoding the slots of pool %s: %w", az, it.err)
	}
	return int(used), nil
}

// CorrectSlots implements shadow.Ledger: SET used on condition that it is
// still old (an absent count is 0).
func (r *Records) CorrectSlots(ctx context.Context, az string, old, to int) error {
	cond := "#used = :old"
	if old == 0 {
		cond = "attribute_not_exists(#used) OR #used = :old"
	}
	_, err := r.t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.t.name),
		Key:                       key(pkPool+az, skSlots),
		UpdateExpression:          aws.String("SET #used = :n, #kind = :kind"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#used": "used", "#kind": "kind"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":n": n(int64(to)), ":old": n(int64(old)), ":kind": s("pool-slots")},
	})
	if err != nil {
		return fmt.Errorf("correcting the slots of pool %s from %d to %d: %w", az, old, to, Classify(err))
	}
	return nil
}

// TakeReplacement implements shadow.Ledger: ADD count 1 on the group's
// hour item, on condition that it is below limit; the item expires two
// days after its hour.
func (r *Records) TakeReplacement(ctx context.Context, group string, at time.Time, limit int) error {
	hour := at.UTC().Truncate(time.Hour)
	_, err := r.t.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.t.name),
		Key:                       key(pkReplace+group, skHour+hour.Format(hourFmt)),
		UpdateExpression:          aws.String("SET #kind = :kind, #exp = :exp ADD #count :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#count) OR #count < :limit"),
		ExpressionAttributeNames:  map[string]string{"#count": "count", "#kind": "kind", "#exp": AttrExpiresAt},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": n(1), ":limit": n(int64(limit)), ":kind": s("replacements"), ":exp": n(hour.Add(replaceTTL).Unix())},
	})
	if err != nil {
		var ccf *ddbtypes.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("group %s: %d replacements in the hour from %s: %w", group, limit, hour.Format(time.RFC3339), shadow.ErrReplaceLimit)
		}
		return fmt.Errorf("counting a replacement of group %s: %w", group, Classify(err))
	}
	return nil
}

// RecordHalt implements shadow.Ledger: a PutItem under LIFECYCLE#<group>,
// sort key HALT#<hour>#<live id> (a repeat in the same hour overwrites
// it), kept 90 days.
func (r *Records) RecordHalt(ctx context.Context, h shadow.Halt) error {
	hour := h.At.UTC().Truncate(time.Hour)
	it := key(pkLifecycle+h.Group, skHalt+hour.Format(hourFmt)+"#"+h.LiveID)
	it["kind"] = s("replacement-halted")
	it["group"] = s(h.Group)
	it["live_id"] = s(h.LiveID)
	if h.ShadowID != "" {
		it["shadow_id"] = s(h.ShadowID)
	}
	it["at"] = s(h.At.UTC().Format(recordTime))
	it["wanted"] = s(h.Wanted)
	it["cause"] = s(h.Cause)
	it["replacements"] = n(int64(h.Replacements))
	it["limit"] = n(int64(h.Limit))
	it[AttrExpiresAt] = n(h.At.Add(haltTTL).Unix())
	if _, err := r.t.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(r.t.name), Item: it}); err != nil {
		return fmt.Errorf("writing the halt record of %s: %w", h.LiveID, Classify(err))
	}
	return nil
}

// Halts reads the audit records of a group's halted replacements, oldest
// first (for operators and tests).
func (r *Records) Halts(ctx context.Context, group string) ([]shadow.Halt, error) {
	var out []shadow.Halt
	err := r.t.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :halt)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s(pkLifecycle + group), ":halt": s(skHalt)},
	}, func(m map[string]ddbtypes.AttributeValue) error {
		it := &item{m: m}
		h := shadow.Halt{
			Group: it.str("group"), LiveID: it.str("live_id"), ShadowID: it.str("shadow_id"),
			At: it.time("at", recordTime), Wanted: it.str("wanted"), Cause: it.str("cause"),
			Replacements: int(it.int("replacements")), Limit: int(it.int("limit")),
		}
		out = append(out, h)
		return it.err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the halt records of %s: %w", group, err)
	}
	return out, nil
}
