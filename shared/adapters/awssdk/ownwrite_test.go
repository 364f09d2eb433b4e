package awssdk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// lostAnswer is a table whose PutItem takes effect and then answers as
// the SDK's retry of it would: the retry's condition fails against the
// item the first attempt wrote (a connection dropped after DynamoDB
// applied the write). Other calls are not expected.
type lostAnswer struct {
	awssdk.DynamoDBAPI
	item  map[string]ddbtypes.AttributeValue
	puts  int
	other bool // the stored item was written by someone else
}

func (l *lostAnswer) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	l.puts++
	if l.item != nil && l.other {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: strp("The conditional request failed"), Item: l.item}
	}
	l.item = in.Item
	if in.ReturnValuesOnConditionCheckFailure != ddbtypes.ReturnValuesOnConditionCheckFailureAllOld {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: strp("The conditional request failed")}
	}
	return nil, &ddbtypes.ConditionalCheckFailedException{Message: strp("The conditional request failed"), Item: in.Item}
}

func strp(s string) *string { return &s }

// A conditional write retried by the SDK after it took effect is the
// caller's own success, not a conflict: the shadow record's claim and its
// updates, and the control loop's state. The same condition failing
// against another caller's item, even one with the same content, stays a
// conflict.
func TestConditionalWriteRetriedAfterItTookEffect(t *testing.T) {
	ctx := context.Background()
	rec := shadow.Record{LiveID: "i-0b", Group: "web", AZ: "us-east-1a", LiveType: "m7g.xlarge", ShadowType: "t4g.small", SubnetID: "subnet-1", Status: shadow.Launching, Generation: 1, CreatedAt: u0, UpdatedAt: u0}
	for _, tc := range []struct {
		name  string
		write func(*awssdk.Table) error
	}{
		{"record create", func(tb *awssdk.Table) error { _, err := tb.Records().Create(ctx, rec); return err }},
		{"record update", func(tb *awssdk.Table) error {
			r := rec
			r.Version, r.Status, r.ShadowID = 1, shadow.Active, "i-0s"
			_, err := tb.Records().Update(ctx, r)
			return err
		}},
		{"state save (first)", func(tb *awssdk.Table) error { _, err := tb.States().Save(ctx, "web", []byte(`{}`), 0); return err }},
		{"state save", func(tb *awssdk.Table) error { _, err := tb.States().Save(ctx, "web", []byte(`{}`), 3); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &lostAnswer{}
			tb, err := awssdk.NewTable(api, "t", clock.NewFake(u0), awssdk.TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.write(tb); err != nil {
				t.Errorf("own write retried after it took effect: %v, want success", err)
			}
			// The same write again, as another caller: its condition fails
			// against the first caller's item.
			api.other = true
			if err := tc.write(tb); !errors.Is(err, shadow.ErrConflict) {
				t.Errorf("another caller's identical write: %v, want ErrConflict", err)
			}
		})
	}
}
