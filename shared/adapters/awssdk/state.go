package awssdk

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// States holds one opaque state blob per group for the control loop (the
// forecaster Lambda loads it at the start of a run and saves it at the end),
// under pk STATE#<group>, sk STATE, with an optimistic-concurrency version.
type States struct{ t *Table }

// States returns the control-loop state store.
func (t *Table) States() *States { return &States{t: t} }

// Load returns a group's state, or an error wrapping shadow.ErrNotFound
// when it has none yet (then Save with version 0).
func (st *States) Load(ctx context.Context, group string) (control.SavedState, error) {
	out, err := st.t.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(st.t.name),
		Key:            key(pkState+group, skState),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return control.SavedState{}, fmt.Errorf("loading control state of %s: %w", group, Classify(err))
	}
	if out.Item == nil {
		return control.SavedState{}, fmt.Errorf("control state of %s: %w", group, shadow.ErrNotFound)
	}
	it := &item{m: out.Item}
	s := control.SavedState{Blob: it.bytes("blob"), Version: it.int("version"), UpdatedAt: it.time("updated_at", time.RFC3339Nano)}
	if it.err != nil {
		return control.SavedState{}, fmt.Errorf("decoding control state of %s: %w", group, it.err)
	}
	return s, nil
}

// Save stores blob if the stored version is version (0: no state stored
// yet) and returns the new version. A lost race is shadow.ErrConflict: the
// caller reloads and recomputes, or drops its run. The save retried by the
// SDK after it took effect (the stored item is this one) is no lost race.
func (st *States) Save(ctx context.Context, group string, blob []byte, version int64) (int64, error) {
	if group == "" || version < 0 {
		return 0, fmt.Errorf("%w: saving control state of group %q at version %d", shadow.ErrInvalid, group, version)
	}
	if len(blob) > control.MaxStateBlob {
		return 0, fmt.Errorf("control state of %s is %d bytes, limit %d: %w", group, len(blob), control.MaxStateBlob, ErrTooLarge)
	}
	m := key(pkState+group, skState)
	m["kind"] = s("state")
	m["group"] = s(group)
	m["blob"] = &ddbtypes.AttributeValueMemberB{Value: blob}
	m["version"] = n(version + 1)
	m["updated_at"] = s(st.t.clock.Now().UTC().Format(time.RFC3339Nano))
	stampWrite(m)
	in := &dynamodb.PutItemInput{TableName: aws.String(st.t.name), Item: m, ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld}
	if version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": AttrPK}
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": "version"}
		in.ExpressionAttributeValues = map[string]ddbtypes.AttributeValue{":v": n(version)}
	}
	if _, err := st.t.api.PutItem(ctx, in); err != nil && !ownWrite(err, m) {
		return 0, fmt.Errorf("saving control state of %s at version %d: %w", group, version, Classify(err))
	}
	return version + 1, nil
}
