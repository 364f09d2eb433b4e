package awssdk

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// Dead-letter message attributes (SQS allows 10 per message).
const (
	DLQAttrReason         = "reason"
	DLQAttrSource         = "source"          // e.g. the Kinesis stream ARN
	DLQAttrPartitionKey   = "partition_key"   // the record's partition key (the resource)
	DLQAttrSequenceNumber = "sequence_number" // the record's Kinesis sequence number
	DLQAttrEventID        = "event_id"        // the Lambda event's id (shardId:sequence)
	DLQAttrEncoding       = "encoding"        // "raw" or "base64": how the body holds the record
	DLQAttrOriginalBytes  = "original_bytes"  // the record's size
	DLQAttrSHA256         = "sha256"          // of the whole record, hex
	DLQAttrTruncated      = "truncated"       // "true" when the body holds a prefix only
	DLQAttrDeadAt         = "dead_at"         // RFC 3339
)

// MaxDeadLetterBody bounds the record bytes a message carries: SQS messages
// are at most 256 KiB with their attributes; a larger record is cut (its
// size and hash stay in the attributes).
const MaxDeadLetterBody = 192 << 10

// DeadLetters writes dead letters to an SQS queue: the record in the body
// (as is when it is valid text SQS accepts, base64 otherwise) and the
// reason and provenance as message attributes.
type DeadLetters struct {
	api SQSAPI
	url string
}

// NewDeadLetters returns a writer for the queue URL (SHADOWSCALE_DLQ_URL).
func NewDeadLetters(api SQSAPI, queueURL string) (*DeadLetters, error) {
	if api == nil || queueURL == "" {
		return nil, fmt.Errorf("%w: dead letters need an SQS client and a queue url", shadow.ErrInvalid)
	}
	return &DeadLetters{api: api, url: queueURL}, nil
}

// Send writes the letters, ten per SendMessageBatch. It returns nil when
// every letter is on the queue, or an error naming those that are not
// (their indexes in letters), which the caller must not acknowledge.
func (d *DeadLetters) Send(ctx context.Context, letters ...mutation.DeadLetter) error {
	var errs []error
	for i, err := range d.SendEach(ctx, letters) {
		if err != nil {
			errs = append(errs, fmt.Errorf("dead letter %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// SendEach writes the letters, ten per SendMessageBatch, and returns one
// error per letter, in order: nil when the letter is on the queue. A letter
// whose error is not nil may still have landed (a call that failed after
// SQS stored it), so a retry can write it twice: dead letters are
// at-least-once, identified by their sequence_number attribute.
func (d *DeadLetters) SendEach(ctx context.Context, letters []mutation.DeadLetter) []error {
	errs := make([]error, len(letters))
	for start := 0; start < len(letters); start += 10 {
		batch := letters[start:min(start+10, len(letters))]
		entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
		for i, l := range batch {
			body, attrs := deadLetterMessage(l)
			entries[i] = sqstypes.SendMessageBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(start + i)),
				MessageBody:       aws.String(body),
				MessageAttributes: attrs,
			}
		}
		out, err := d.api.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.url), Entries: entries})
		if err != nil {
			err = fmt.Errorf("sending dead letters %d..%d: %w", start, start+len(batch)-1, Classify(err))
			for i := range batch {
				errs[start+i] = err
			}
			continue
		}
		done := make(map[string]bool, len(out.Successful))
		for _, s := range out.Successful {
			done[aws.ToString(s.Id)] = true
		}
		failed := make(map[string]sqstypes.BatchResultErrorEntry, len(out.Failed))
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = f
		}
		for i := range batch {
			id := strconv.Itoa(start + i)
			switch f, bad := failed[id]; {
			case bad:
				errs[start+i] = fmt.Errorf("sending dead letter %s: %s: %s", id, aws.ToString(f.Code), aws.ToString(f.Message))
			case !done[id]:
				errs[start+i] = fmt.Errorf("sending dead letter %s: SQS reported neither success nor failure", id)
			}
		}
	}
	return errs
}

// deadLetterMessage renders one letter.
func deadLetterMessage(l mutation.DeadLetter) (string, map[string]sqstypes.MessageAttributeValue) {
	sum := sha256.Sum256(l.Data)
	data := l.Data
	truncated := len(data) > MaxDeadLetterBody
	if truncated {
		data = data[:MaxDeadLetterBody]
	}
	body, enc := string(data), "raw"
	if !sqsText(data) || len(data) == 0 {
		body, enc = base64.StdEncoding.EncodeToString(data), "base64"
		if len(data) == 0 {
			body = "(empty record)"
			enc = "raw"
		}
	}
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
	str(DLQAttrEventID, l.EventID)
	str(DLQAttrEncoding, enc)
	str(DLQAttrSHA256, hex.EncodeToString(sum[:]))
	attrs[DLQAttrOriginalBytes] = sqstypes.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(len(l.Data)))}
	if truncated {
		str(DLQAttrTruncated, "true")
	}
	if !l.At.IsZero() {
		str(DLQAttrDeadAt, l.At.UTC().Format(time.RFC3339Nano))
	}
	return body, attrs
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
