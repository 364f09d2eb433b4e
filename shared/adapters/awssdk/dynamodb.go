package awssdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// DynamoDBAPI is the part of *dynamodb.Client the table adapters use.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, params *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// The table's key and TTL attributes (docs/DYNAMODB.md).
const (
	AttrPK        = "pk"
	AttrSK        = "sk"
	AttrExpiresAt = "expires_at"
)

// Key prefixes and formats of the single-table design. Times in sort keys
// are UTC, fixed width, so that string order is time order.
const (
	pkShadows   = "SHADOW"
	skLive      = "LIVE#"
	pkHist      = "HIST#"  // + group: group totals, minute (M#) and hour (H#) items
	pkResHist   = "RHIST#" // + group: per-resource minute items
	pkAudit     = "AUDIT#" // + group: decision audit records
	pkState     = "STATE#" // + group: the control loop's state blob
	skState     = "STATE"
	skMinute    = "M#"
	skHour      = "H#"
	minuteFmt   = "2006-01-02T15:04Z"
	hourFmt     = "2006-01-02T15Z"
	auditFmt    = "2006-01-02T15:04:05.000000000Z"
	afterMinute = "$" // sorts after "#": the upper bound of a minute's resource items
)

// TableOptions are the retention periods (DynamoDB TTL, counted from the
// item's own minute or decision time).
type TableOptions struct {
	MinuteTTL   time.Duration // group totals per minute
	HourTTL     time.Duration // group totals per hour
	ResourceTTL time.Duration // per-resource items per minute
	AuditTTL    time.Duration // decision audit records
	// Concurrency bounds the parallel UpdateItem calls of one AddCounts.
	Concurrency int
}

// DefaultTableOptions keep five weeks of minutes (the forecaster's weekly
// season plus slack), 400 days of hours, three days of per-resource minutes
// and 90 days of decisions.
func DefaultTableOptions() TableOptions {
	return TableOptions{
		MinuteTTL:   35 * 24 * time.Hour,
		HourTTL:     400 * 24 * time.Hour,
		ResourceTTL: 3 * 24 * time.Hour,
		AuditTTL:    90 * 24 * time.Hour,
		Concurrency: 8,
	}
}

// Table is the plane's single DynamoDB table. Its item kinds are reached
// through Records, History, Audit and States.
type Table struct {
	api   DynamoDBAPI
	name  string
	clock clock.Clock
	opt   TableOptions
}

// NewTable returns the table adapter. Zero options take their defaults.
func NewTable(api DynamoDBAPI, name string, c clock.Clock, opt TableOptions) (*Table, error) {
	var errs []error
	if api == nil {
		errs = append(errs, errors.New("no DynamoDB client"))
	}
	if name == "" {
		errs = append(errs, errors.New("table name is empty"))
	}
	if c == nil {
		errs = append(errs, errors.New("no clock"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: dynamodb table: %w", shadow.ErrInvalid, err)
	}
	def := DefaultTableOptions()
	if opt.MinuteTTL <= 0 {
		opt.MinuteTTL = def.MinuteTTL
	}
	if opt.HourTTL <= 0 {
		opt.HourTTL = def.HourTTL
	}
	if opt.ResourceTTL <= 0 {
		opt.ResourceTTL = def.ResourceTTL
	}
	if opt.AuditTTL <= 0 {
		opt.AuditTTL = def.AuditTTL
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = def.Concurrency
	}
	return &Table{api: api, name: name, clock: c, opt: opt}, nil
}

// Name returns the table name.
func (t *Table) Name() string { return t.name }

// query pages through a Query.
func (t *Table) query(ctx context.Context, in *dynamodb.QueryInput, each func(map[string]ddbtypes.AttributeValue) error) error {
	in.TableName = aws.String(t.name)
	p := dynamodb.NewQueryPaginator(t.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Classify(err)
		}
		for _, it := range page.Items {
			if err := each(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// conditionFailed classifies a failed conditional write: ErrNotFound when
// DynamoDB returned no old item, ErrConflict otherwise (and any other error
// through Classify).
func conditionFailed(err error) error {
	var ccf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &ccf) && ccf.Item == nil {
		return fmt.Errorf("%w: %w", shadow.ErrNotFound, err)
	}
	return Classify(err)
}

// AttrWriteID is the attribute a conditional write stamps its item with:
// a random id of that one call (see ownWrite).
const AttrWriteID = "write_id"

// stampWrite gives the item a fresh write id.
func stampWrite(m map[string]ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	m[AttrWriteID] = s(hex.EncodeToString(b[:]))
	return m
}

// ownWrite reports whether err is a conditional write's failed condition
// against exactly the item the write stores, its write id included: the
// write took effect, its answer was lost (a connection dropped after
// DynamoDB applied it), and the SDK's retry then failed the condition
// against it. Such a write succeeded. The write must stamp its item
// (stampWrite) and ask for the old item on a failed condition
// (ReturnValuesOnConditionCheckFailure ALL_OLD); the write id is random
// per call, so another caller's item, even with the same content, is a
// conflict.
func ownWrite(err error, wrote map[string]ddbtypes.AttributeValue) bool {
	var ccf *ddbtypes.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || ccf.Item == nil {
		return false
	}
	return sameItem(ccf.Item, wrote)
}

// sameItem compares two items attribute by attribute (the scalar types the
// adapters write; any other type compares unequal).
func sameItem(a, b map[string]ddbtypes.AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		switch x := av.(type) {
		case *ddbtypes.AttributeValueMemberS:
			y, ok := bv.(*ddbtypes.AttributeValueMemberS)
			if !ok || x.Value != y.Value {
				return false
			}
		case *ddbtypes.AttributeValueMemberN:
			y, ok := bv.(*ddbtypes.AttributeValueMemberN)
			if !ok || x.Value != y.Value { // the adapters write canonical integers
				return false
			}
		case *ddbtypes.AttributeValueMemberB:
			y, ok := bv.(*ddbtypes.AttributeValueMemberB)
			if !ok || !bytes.Equal(x.Value, y.Value) {
				return false
			}
		case *ddbtypes.AttributeValueMemberBOOL:
			y, ok := bv.(*ddbtypes.AttributeValueMemberBOOL)
			if !ok || x.Value != y.Value {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Attribute helpers.

func s(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

func n(v int64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func nu(v uint64) ddbtypes.AttributeValue {
	return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatUint(v, 10)}
}

func key(pk, sk string) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{AttrPK: s(pk), AttrSK: s(sk)}
}

// item reads typed attributes, remembering the first problem.
type item struct {
	m   map[string]ddbtypes.AttributeValue
	err error
}

func (it *item) str(name string) string {
	switch v := it.m[name].(type) {
	case nil:
		return ""
	case *ddbtypes.AttributeValueMemberS:
		return v.Value
	default:
		it.fail(name, "a string")
		return ""
	}
}

func (it *item) int(name string) int64 {
	switch v := it.m[name].(type) {
	case nil:
		return 0
	case *ddbtypes.AttributeValueMemberN:
		x, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			it.fail(name, "an integer")
		}
		return x
	default:
		it.fail(name, "a number")
		return 0
	}
}

func (it *item) uint(name string) uint64 {
	switch v := it.m[name].(type) {
	case nil:
		return 0
	case *ddbtypes.AttributeValueMemberN:
		x, err := strconv.ParseUint(v.Value, 10, 64)
		if err != nil {
			it.fail(name, "a non-negative integer")
		}
		return x
	default:
		it.fail(name, "a number")
		return 0
	}
}

func (it *item) bytes(name string) []byte {
	switch v := it.m[name].(type) {
	case nil:
		return nil
	case *ddbtypes.AttributeValueMemberB:
		return v.Value
	default:
		it.fail(name, "binary")
		return nil
	}
}

func (it *item) time(name, layout string) time.Time {
	v := it.str(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(layout, v)
	if err != nil {
		it.fail(name, "a "+layout+" time")
	}
	return t.UTC()
}

func (it *item) fail(name, want string) {
	if it.err == nil {
		it.err = fmt.Errorf("attribute %s of item %s/%s is not %s", name, it.str(AttrPK), it.str(AttrSK), want)
	}
}
