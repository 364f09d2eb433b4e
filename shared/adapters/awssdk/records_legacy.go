package awssdk

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// pkLegacyShadows is the one partition that held every shadow record
// before the records were spread over shards (versions before 2026-12-06):
// pk SHADOW, sk LIVE#<live id>, the same attributes as today's records.
const pkLegacyShadows = pkShadows

// MigrateLegacy moves up to limit shadow records from the partition an
// earlier version kept them all in to their shards, so that an upgraded
// plane adopts the shadows running under it instead of launching a second
// shadow for every live instance and deleting the first as an orphan
// (docs/DYNAMODB.md, "Upgrading"). Each record moves in one
// TransactWriteItems: the put at its shard on condition that no record is
// there, and the delete of the old item on condition that its version is
// the one read. A record is therefore always at one key or the other, and
// a call that stops midway loses nothing. Records move one at a time, and
// none starts once ctx is done (More is then true). An old item that cannot be
// decoded is left where it is, counted Failed and named in the error.
//
// An empty partition (every deployment created after the sharding, and
// every one migrated) costs one strongly consistent Query of 1 RCU.
func (r *Records) MigrateLegacy(ctx context.Context, limit int) (shadow.LegacyMigration, error) {
	var res shadow.LegacyMigration
	if limit <= 0 {
		return res, fmt.Errorf("migrating legacy shadow records: limit %d must be positive", limit)
	}
	out, err := r.t.api.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(r.t.name),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :live)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s(pkLegacyShadows), ":live": s(skLive)},
		Limit:                     aws.Int32(int32(min(limit, 1<<30))),
		// Consistent, so that a page read right after the one before does
		// not see its records again.
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return res, fmt.Errorf("reading legacy shadow records: %w", Classify(err))
	}
	res.More = len(out.LastEvaluatedKey) > 0
	// One at a time: a one-time move needs no speed (about 1,000 a
	// minute at DynamoDB's latency), it leaves the SDK's retry budget to
	// the rest of the run, and emulators cannot run transactions at once:
	// moto (5.x) deep-copies the table for each one, and concurrent ones
	// failed with HTTP 500 (389 of 1,000 at 8 at a time, none one by one).
	var errs []error
	for _, m := range out.Items {
		if ctx.Err() != nil {
			// The caller's deadline: the rest is for the next call.
			res.More = true
			break
		}
		outcome, err := r.migrateOne(ctx, m)
		switch {
		case err != nil:
			errs = append(errs, err)
			res.Failed++
		case outcome == migratedMoved:
			res.Moved++
		case outcome == migratedDropped:
			res.Dropped++
		default:
			res.Skipped++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("migrating legacy shadow records: %w", err)
	}
	return res, nil
}

type migrated int

const (
	migratedSkipped migrated = iota
	migratedMoved
	migratedDropped
)

// migrateOne moves one old item (see MigrateLegacy).
func (r *Records) migrateOne(ctx context.Context, m map[string]ddbtypes.AttributeValue) (migrated, error) {
	rec, err := recordFrom(m)
	if err != nil {
		sk := ""
		if v, ok := m[AttrSK].(*ddbtypes.AttributeValueMemberS); ok {
			sk = v.Value
		}
		return migratedSkipped, fmt.Errorf("legacy shadow record %q left in place: %w", sk, err)
	}
	// The old item's delete, in the transaction and after it, is
	// conditioned on the version read.
	oldKey := key(pkLegacyShadows, skLive+rec.LiveID)
	cond, names, values := aws.String("#v = :v"), map[string]string{"#v": "version"}, map[string]ddbtypes.AttributeValue{":v": n(rec.Version)}
	_, err = r.t.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
		{Put: &ddbtypes.Put{
			TableName:                aws.String(r.t.name),
			Item:                     stampWrite(recordItem(rec)),
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		}},
		{Delete: &ddbtypes.Delete{
			TableName: aws.String(r.t.name), Key: oldKey,
			ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		}},
	}})
	if err == nil {
		return migratedMoved, nil
	}
	var tce *ddbtypes.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 {
		return migratedSkipped, fmt.Errorf("moving the legacy shadow record of %s: %w", rec.LiveID, Classify(err))
	}
	putFailed := aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed"
	delFailed := aws.ToString(tce.CancellationReasons[1].Code) == "ConditionalCheckFailed"
	switch {
	case delFailed:
		// The old item changed or is gone (moved by this call's own
		// retried transaction, or by another run): nothing to do now.
		return migratedSkipped, nil
	case putFailed:
		// The live instance has a record at its shard already: it wins.
		_, err := r.t.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(r.t.name), Key: oldKey,
			ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		})
		var ccf *ddbtypes.ConditionalCheckFailedException
		switch {
		case errors.As(err, &ccf):
			return migratedSkipped, nil
		case err != nil:
			return migratedSkipped, fmt.Errorf("deleting the legacy shadow record of %s (a record at its shard exists): %w", rec.LiveID, Classify(err))
		}
		return migratedDropped, nil
	}
	return migratedSkipped, fmt.Errorf("moving the legacy shadow record of %s: %w", rec.LiveID, Classify(err))
}
