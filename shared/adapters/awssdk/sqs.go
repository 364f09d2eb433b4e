package awssdk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// SQSAPI is the part of *sqs.Client the dead-letter writer uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// S3API is the part of *s3.Client the dead-letter writer uses for letters
// too large for a message.
type S3API interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// Dead-letter message attributes (SQS allows 10 per message).
const (
	DLQAttrReason         = "reason"
	DLQAttrSource         = "source"              // e.g. the Kinesis stream ARN
	DLQAttrPartitionKey   = "partition_key"       // the record's partition key (the resource)
	DLQAttrSequenceNumber = "sequence_number"     // the Kinesis record's sequence number
	DLQAttrSubSequence    = "sub_sequence_number" // the user record's index in its aggregated Kinesis record (absent: the whole record)
	DLQAttrEventID        = "event_id"            // the Lambda event's id (shardId:sequence)
	DLQAttrEncoding       = "encoding"            // how the body holds the record: raw, base64, s3 (a pointer), raw-prefix or base64-prefix (cut)
	DLQAttrOriginalBytes  = "original_bytes"      // the record's size
	DLQAttrSHA256         = "sha256"              // of the whole record, hex
	DLQAttrDeadAt         = "dead_at"             // RFC 3339
)

// SQS limits (SendMessageBatch, as of the 1 MiB raise of August 2025): a
// message, its body plus every attribute's name, type and value, is at
// most the queue's MaximumMessageSize, itself at most 1 MiB; a batch holds
// at most 10 messages of at most 1 MiB together.
const (
	SQSMaxMessageBytes = 1 << 20
	sqsBatchBytes      = 1 << 20
	sqsBatchEntries    = 10
)

// DeadLetterOptions tune the dead-letter writer.
type DeadLetterOptions struct {
	// MaxMessageBytes is the queue's MaximumMessageSize (the stack sets
	// it to SQSMaxMessageBytes, the default when 0).
	MaxMessageBytes int
	// S3 and Bucket receive a letter whose message would exceed
	// MaxMessageBytes: the object holds the record as it came, the message
	// its location (encoding s3). Without them such a message carries the
	// longest prefix of the record that fits (encoding raw-prefix or
	// base64-prefix; original_bytes and sha256 describe the whole).
	S3     S3API
	Bucket string
	// Prefix of the objects' keys ("dead-letters/" when empty).
	Prefix string
}

// DeadLetters writes dead letters to an SQS queue: the record in the body
// (as is when it is valid text SQS accepts, base64 otherwise; in S3 when it
// does not fit a message) and the reason and provenance as message
// attributes.
type DeadLetters struct {
	api SQSAPI
	url string
	opt DeadLetterOptions
}

// NewDeadLetters returns a writer for the queue URL (SHADOWSCALE_DLQ_URL).
func NewDeadLetters(api SQSAPI, queueURL string, opt DeadLetterOptions) (*DeadLetters, error) {
	if api == nil || queueURL == "" {
		return nil, fmt.Errorf("%w: dead letters need an SQS client and a queue url", shadow.ErrInvalid)
	}
	if (opt.S3 == nil) != (opt.Bucket == "") {
		return nil, fmt.Errorf("%w: dead letters in S3 need both a client and a bucket", shadow.ErrInvalid)
	}
	if opt.MaxMessageBytes <= 0 || opt.MaxMessageBytes > SQSMaxMessageBytes {
		opt.MaxMessageBytes = SQSMaxMessageBytes
	}
	if opt.Prefix == "" {
		opt.Prefix = "dead-letters/"
	}
	return &DeadLetters{api: api, url: queueURL, opt: opt}, nil
}

// Send writes the letters. It returns nil when every letter is on the
// queue, or an error naming those that are not (their indexes in
// letters), which the caller must not acknowledge.
func (d *DeadLetters) Send(ctx context.Context, letters ...mutation.DeadLetter) error {
	var errs []error
	for i, err := range d.SendEach(ctx, letters) {
		if err != nil {
			errs = append(errs, fmt.Errorf("dead letter %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

type dlEntry struct {
	i     int // the letter
	entry sqstypes.SendMessageBatchRequestEntry
	size  int
}

// SendEach writes the letters and returns one error per letter, in order:
// nil when the letter is on the queue. Messages go by SendMessageBatch,
// filled by count (10) and by bytes (1 MiB together, attributes counted);
// a letter too large for one message goes to S3 first (DeadLetterOptions).
// A letter whose error is not nil may still have landed (a call that
// failed after SQS stored it), so a retry can write it twice: dead letters
// are at-least-once, identified by their sequence_number and
// sub_sequence_number attributes.
func (d *DeadLetters) SendEach(ctx context.Context, letters []mutation.DeadLetter) []error {
	errs := make([]error, len(letters))
	var batch []dlEntry
	total := 0
	flush := func() {
		if len(batch) > 0 {
			d.sendBatch(ctx, batch, errs)
		}
		batch, total = batch[:0], 0
	}
	for i, l := range letters {
		body, attrs, err := d.message(ctx, l)
		if err != nil {
			errs[i] = err
			continue
		}
		e := dlEntry{i: i, entry: sqstypes.SendMessageBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body), MessageAttributes: attrs,
		}, size: messageSize(body, attrs)}
		if len(batch) == sqsBatchEntries || total+e.size > sqsBatchBytes {
			flush()
		}
		batch = append(batch, e)
		total += e.size
	}
	flush()
	return errs
}

func (d *DeadLetters) sendBatch(ctx context.Context, batch []dlEntry, errs []error) {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
	for k, e := range batch {
		entries[k] = e.entry
	}
	out, err := d.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.url), Entries: entries})
	if err != nil {
		err = fmt.Errorf("sending dead letters %d..%d: %w", batch[0].i, batch[len(batch)-1].i, Classify(err))
		for _, e := range batch {
			errs[e.i] = err
		}
		return
	}
	done := make(map[string]bool, len(out.Successful))
	for _, s := range out.Successful {
		done[aws.ToString(s.Id)] = true
	}
	failed := make(map[string]sqstypes.BatchResultErrorEntry, len(out.Failed))
	for _, f := range out.Failed {
		failed[aws.ToString(f.Id)] = f
	}
	for _, e := range batch {
		id := aws.ToString(e.entry.Id)
		switch f, bad := failed[id]; {
		case bad:
			errs[e.i] = fmt.Errorf("sending dead letter %s: %s: %s", id, aws.ToString(f.Code), aws.ToString(f.Message))
		case !done[id]:
			errs[e.i] = fmt.Errorf("sending dead letter %s: SQS reported neither success nor failure", id)
		}
	}
}

// messageSize is what SQS counts of a message against its limits: the
// body, and every attribute's name, data type and value.
func messageSize(body string, attrs map[string]sqstypes.MessageAttributeValue) int {
	n := len(body)
	for k, v := range attrs {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// message renders one letter: the body holds the record (as text, or
// base64), or, when that would not fit MaxMessageBytes, its S3 location
// (or, without S3, its longest prefix that fits).
func (d *DeadLetters) message(ctx context.Context, l mutation.DeadLetter) (string, map[string]sqstypes.MessageAttributeValue, error) {
	sum := sha256.Sum256(l.Data)
	attrs := map[string]sqstypes.MessageAttributeValue{}
	str := func(k, v string) {
		if v != "" {
			attrs[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(clip(sanitize(v), 1024))}
		}
	}
	str(DLQAttrReason, orDefault(l.Reason, "unknown"))
	str(DLQAttrSource, l.Source)
	str(DLQAttrPartitionKey, l.PartitionKey)
	str(DLQAttrSequenceNumber, l.SequenceNumber)
	if l.SubSequence >= 0 && l.SequenceNumber != "" {
		attrs[DLQAttrSubSequence] = sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(l.SubSequence))}
	}
	str(DLQAttrEventID, l.EventID)
	str(DLQAttrSHA256, hex.EncodeToString(sum[:]))
	attrs[DLQAttrOriginalBytes] = sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(len(l.Data)))}
	if !l.At.IsZero() {
		str(DLQAttrDeadAt, l.At.UTC().Format(time.RFC3339Nano))
	}
	text := sqsText(l.Data) && len(l.Data) > 0
	enc := "raw"
	if !text {
		enc = "base64"
	}
	// Room for the body: the limit less the attributes (the encoding
	// attribute's longest value counted).
	room := d.opt.MaxMessageBytes - messageSize("", attrs) - len(DLQAttrEncoding) - len("String") - len("base64-prefix")
	switch {
	case len(l.Data) == 0:
		str(DLQAttrEncoding, "raw")
		return "(empty record)", attrs, nil
	case text && len(l.Data) <= room:
		str(DLQAttrEncoding, enc)
		return string(l.Data), attrs, nil
	case !text && base64.StdEncoding.EncodedLen(len(l.Data)) <= room:
		str(DLQAttrEncoding, enc)
		return base64.StdEncoding.EncodeToString(l.Data), attrs, nil
	case d.opt.S3 != nil:
		key := d.objectKey(l, sum)
		if _, err := d.opt.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(d.opt.Bucket), Key: aws.String(key), Body: bytes.NewReader(l.Data),
			ContentLength: aws.Int64(int64(len(l.Data))), ContentType: aws.String("application/octet-stream"),
		}); err != nil {
			return "", nil, fmt.Errorf("putting dead letter %s in s3://%s: %w", key, d.opt.Bucket, Classify(err))
		}
		str(DLQAttrEncoding, "s3")
		body, _ := json.Marshal(map[string]string{"bucket": d.opt.Bucket, "key": key})
		return string(body), attrs, nil
	default:
		str(DLQAttrEncoding, enc+"-prefix")
		if text {
			return clipBytes(l.Data, max(0, room)), attrs, nil
		}
		return base64.StdEncoding.EncodeToString(l.Data[:max(0, room)/4*3]), attrs, nil
	}
}

// objectKey names a letter's object: by day, then sequence number,
// sub-sequence and hash (a letter written twice lands on one object).
func (d *DeadLetters) objectKey(l mutation.DeadLetter, sum [32]byte) string {
	at := l.At
	if at.IsZero() {
		at = time.Unix(0, 0)
	}
	seq := orDefault(l.SequenceNumber, "unknown")
	return fmt.Sprintf("%s%s/%s-%d-%s", d.opt.Prefix, at.UTC().Format("2006/01/02"), seq, l.SubSequence, hex.EncodeToString(sum[:8]))
}

// clipBytes cuts text to at most n bytes on a rune boundary.
func clipBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}

// sqsText reports whether b is text SQS accepts in a body: valid UTF-8 of
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func sqsText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// sanitize replaces what SQS does not accept in a string attribute by '?'.
func sanitize(s string) string {
	if sqsText([]byte(s)) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range strings.ToValidUTF8(s, "?") {
		if !sqsText([]byte(string(r))) {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
