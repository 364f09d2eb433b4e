package awssdk

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Records is shadow.Records on the table: one item per live instance under
// pk SHADOW, sk LIVE#<live id>, written with conditions on a version
// attribute. EC2's ClientToken is not relied upon (emulators ignore it): this
// conditional claim is the idempotency of a shadow launch.
type Records struct{ t *Table }

var _ shadow.Records = (*Records)(nil)

// Records returns the shadow record store.
func (t *Table) Records() *Records { return &Records{t: t} }

const recordTime = time.RFC3339Nano

func recordItem(r shadow.Record) map[string]ddbtypes.AttributeValue {
	m := key(pkShadows, skLive+r.LiveID)
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
	for name, t := range map[string]time.Time{"created_at": r.CreatedAt, "updated_at": r.UpdatedAt, "synced_at": r.SyncedAt} {
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
		Key:            key(pkShadows, skLive+liveID),
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
		Key:                                 key(pkShadows, skLive+liveID),
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

// List implements shadow.Records: one strongly consistent Query of the
// SHADOW partition, in sort key (live instance id) order.
func (r *Records) List(ctx context.Context) ([]shadow.Record, error) {
	var out []shadow.Record
	err := r.t.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :live)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s(pkShadows), ":live": s(skLive)},
		ConsistentRead:            aws.Bool(true),
	}, func(m map[string]ddbtypes.AttributeValue) error {
		rec, err := recordFrom(m)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing shadow records: %w", err)
	}
	// Sort keys are LIVE#<id>, so this is id order already; sorting keeps
	// the contract independent of the key encoding.
	slices.SortFunc(out, func(a, b shadow.Record) int { return strings.Compare(a.LiveID, b.LiveID) })
	return out, nil
}
