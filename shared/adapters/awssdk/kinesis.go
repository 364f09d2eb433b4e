package awssdk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// KinesisAPI is the part of *kinesis.Client the Producer uses.
type KinesisAPI interface {
	PutRecords(ctx context.Context, params *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var _ KinesisAPI = (*kinesis.Client)(nil)

// Kinesis PutRecords limits.
const (
	putRecordsMax   = 500
	putRecordsBytes = 5 << 20
)

// ProducerOptions tune the retry of records that PutRecords reports failed.
type ProducerOptions struct {
	// MaxAttempts bounds the PutRecords calls for one record (default 5).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff with full jitter
	// between attempts (defaults 100 ms and 2 s).
	BaseDelay, MaxDelay time.Duration
}

// Producer puts mutations on the stream, partition key = resource, so one
// resource's mutations stay on one shard in order.
//
// PutRecords is not atomic: each record succeeds or fails on its own. The
// Producer retries only the failed records, with backoff, up to MaxAttempts.
// A record retried after a later record of the same resource succeeded lands
// after it: consumers must not take a sequence gap for a loss, nor a late
// lower sequence for a duplicate, without checking (see docs/PLANE.md).
type Producer struct {
	api    KinesisAPI
	stream string
	opt    ProducerOptions
	// sleep waits between attempts; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewProducer returns a Producer for the named stream.
func NewProducer(api KinesisAPI, stream string, opt ProducerOptions) (*Producer, error) {
	if api == nil || stream == "" {
		return nil, fmt.Errorf("%w: kinesis producer needs a client and a stream name", shadow.ErrInvalid)
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.BaseDelay <= 0 {
		opt.BaseDelay = 100 * time.Millisecond
	}
	if opt.MaxDelay <= 0 {
		opt.MaxDelay = 2 * time.Second
	}
	return &Producer{api: api, stream: stream, opt: opt, sleep: sleepCtx}, nil
}

// PutResult is the fate of one mutation given to Put.
type PutResult struct {
	Index          int // position in Put's input
	ShardID        string
	SequenceNumber string
	// Err is nil when the record is on the stream.
	Err error
}

// ErrNotPut is wrapped by the per-record errors of records the stream did
// not take after every attempt.
var ErrNotPut = errors.New("record not put on the stream")

type pending struct {
	idx  int
	key  string
	data []byte
}

// Put encodes and puts muts, and returns one result per mutation, in input
// order. A mutation that does not encode (mutation.ErrInvalid) is not sent.
// The error is nil when every mutation is on the stream; otherwise it says
// how many are not, and the results tell which and why.
func (p *Producer) Put(ctx context.Context, muts []mutation.Mutation) ([]PutResult, error) {
	res := make([]PutResult, len(muts))
	var todo []pending
	for i, m := range muts {
		res[i].Index = i
		b, err := mutation.Encode(m)
		if err != nil {
			res[i].Err = fmt.Errorf("encoding mutation %d: %w", i, err)
			continue
		}
		todo = append(todo, pending{idx: i, key: m.Resource, data: b})
	}
	for len(todo) > 0 {
		n, size := 0, 0
		for n < len(todo) && n < putRecordsMax && size+len(todo[n].data)+len(todo[n].key) <= putRecordsBytes {
			size += len(todo[n].data) + len(todo[n].key)
			n++
		}
		if n == 0 {
			n = 1 // cannot happen: Encode bounds a record to 1 MiB
		}
		p.putBatch(ctx, todo[:n], res)
		todo = todo[n:]
	}
	failed := 0
	var first error
	for _, r := range res {
		if r.Err != nil {
			failed++
			if first == nil {
				first = r.Err
			}
		}
	}
	if failed > 0 {
		return res, fmt.Errorf("putting %d mutations on %s: %d not put, first: %w", len(muts), p.stream, failed, first)
	}
	return res, nil
}

// putBatch puts one request's worth of records, retrying the failed ones.
func (p *Producer) putBatch(ctx context.Context, batch []pending, res []PutResult) {
	for attempt := 1; len(batch) > 0; attempt++ {
		entries := make([]kintypes.PutRecordsRequestEntry, len(batch))
		for i, b := range batch {
			entries[i] = kintypes.PutRecordsRequestEntry{Data: b.data, PartitionKey: aws.String(b.key)}
		}
		out, err := p.api.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
		if err == nil && len(out.Records) != len(batch) {
			err = fmt.Errorf("PutRecords answered %d results for %d records", len(out.Records), len(batch))
		}
		if err != nil {
			err = fmt.Errorf("putting records on %s: %w", p.stream, Classify(err))
			for _, b := range batch {
				res[b.idx].Err = err
			}
			return
		}
		var retry []pending
		for i, r := range out.Records {
			b := batch[i]
			if r.ErrorCode == nil {
				res[b.idx] = PutResult{Index: b.idx, ShardID: aws.ToString(r.ShardId), SequenceNumber: aws.ToString(r.SequenceNumber)}
				continue
			}
			res[b.idx].Err = fmt.Errorf("%w after %d attempts: %s: %s", ErrNotPut, attempt, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
			if retryablePut(aws.ToString(r.ErrorCode)) {
				retry = append(retry, b)
			}
		}
		if len(retry) == 0 || attempt >= p.opt.MaxAttempts {
			return
		}
		if err := p.sleep(ctx, p.backoff(attempt)); err != nil {
			return // the records keep their last error
		}
		batch = retry
	}
}

// retryablePut reports whether a per-record PutRecords error may pass on a
// retry (throughput and internal failures; KMS access errors do not).
func retryablePut(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "InternalFailure", "ServiceUnavailable", "KMSThrottlingException":
		return true
	}
	return false
}

// backoff is the exponential backoff with full jitter before attempt+1.
func (p *Producer) backoff(attempt int) time.Duration {
	d := p.opt.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > p.opt.MaxDelay {
		d = p.opt.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
