package awssdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Audit is the decision audit trail: one item per decision under pk
// AUDIT#<group>, sk <time>#<id>, with a TTL.
type Audit struct{ t *Table }

// Audit returns the audit store.
func (t *Table) Audit() *Audit { return &Audit{t: t} }

// Put stores a decision once: a repeat of the same (Group, At, ID) is
// refused with shadow.ErrConflict, which a retried invocation may ignore.
func (a *Audit) Put(ctx context.Context, d control.AuditRecord) error {
	if d.Group == "" || d.At.IsZero() || d.ID == "" {
		return fmt.Errorf("%w: audit record needs a group, a time and an id", shadow.ErrInvalid)
	}
	if len(d.Body) > control.MaxAuditBody {
		return fmt.Errorf("audit record of %s is %d bytes, limit %d: %w", d.Group, len(d.Body), control.MaxAuditBody, ErrTooLarge)
	}
	if len(d.Body) > 0 && !json.Valid(d.Body) {
		return fmt.Errorf("%w: audit record body of %s is not JSON", shadow.ErrInvalid, d.Group)
	}
	at := d.At.UTC()
	m := key(pkAudit+d.Group, at.Format(auditFmt)+"#"+d.ID)
	m["kind"] = s("decision")
	m["group"] = s(d.Group)
	m["at"] = s(at.Format(auditFmt))
	m["id"] = s(d.ID)
	m["action"] = s(d.Action)
	m["mode"] = s(d.Mode)
	if len(d.Body) > 0 {
		m["body"] = s(string(d.Body))
	}
	m[AttrExpiresAt] = n(at.Add(a.t.opt.AuditTTL).Unix())
	_, err := a.t.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(a.t.name),
		Item:                     m,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if err != nil {
		return fmt.Errorf("writing audit record of %s at %s: %w", d.Group, at.Format(time.RFC3339), Classify(err))
	}
	return nil
}

// List returns a group's decisions between from and to (both included),
// newest first, at most limit of them (0: no limit).
func (a *Audit) List(ctx context.Context, group string, from, to time.Time, limit int) ([]control.AuditRecord, error) {
	if group == "" || to.Before(from) || limit < 0 {
		return nil, fmt.Errorf("%w: audit of group %q from %s to %s limit %d", shadow.ErrInvalid, group, from, to, limit)
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :a AND :b"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": s(pkAudit + group),
			":a":  s(from.UTC().Format(auditFmt)),
			":b":  s(to.UTC().Format(auditFmt) + afterMinute),
		},
		ScanIndexForward: aws.Bool(false),
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	var out []control.AuditRecord
	errEnough := errors.New("enough")
	err := a.t.query(ctx, in, func(m map[string]ddbtypes.AttributeValue) error {
		it := &item{m: m}
		d := control.AuditRecord{
			Group: it.str("group"), At: it.time("at", auditFmt), ID: it.str("id"),
			Action: it.str("action"), Mode: it.str("mode"),
		}
		if b := it.str("body"); b != "" {
			d.Body = json.RawMessage(b)
		}
		if it.err != nil {
			return it.err
		}
		out = append(out, d)
		if limit > 0 && len(out) >= limit {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, fmt.Errorf("querying audit of group %s: %w", group, err)
	}
	return out, nil
}
