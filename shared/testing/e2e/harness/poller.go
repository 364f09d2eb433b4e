//go:build e2e

package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Deliver hands one shard's batch to the fan-out function, as Lambda's
// event source mapping does, and returns its answer; an error is a failed
// invocation (the whole batch is retried).
type Deliver func(ctx context.Context, shard string, ev events.KinesisEvent) (events.KinesisEventResponse, error)

// PollerOptions shape the polling.
type PollerOptions struct {
	// BatchSize is the most records one invocation gets (default 100, the
	// mapping's default).
	BatchSize int
	// Idle is the wait after a GetRecords that returned nothing (default
	// 200 ms; Lambda's mapping polls an idle shard about once a second).
	Idle time.Duration
	// RetryWait is the wait before a failed batch is redelivered (default
	// 200 ms).
	RetryWait time.Duration
}

// PollStats count what a Poller did.
type PollStats struct {
	Invocations, Records, Retries, Errors atomic.Int64
	// ReadErrors counts failed GetRecords calls (retried).
	ReadErrors atomic.Int64
	// Time spent in GetRecords calls and in deliveries, and their count.
	ReadNanos, DeliverNanos, Reads atomic.Int64
}

// Poll does what Lambda's Kinesis event source mapping does, for every
// shard of the stream from its trim horizon until ctx ends: GetRecords,
// deliver the records in batches of at most BatchSize, one batch per shard
// at a time, in order; on an answer with batchItemFailures, redeliver from
// the reported sequence number (ReportBatchItemFailures); on an error,
// redeliver the whole batch. It returns when ctx ends (nil) or a stream
// call fails.
func (e *Env) Poll(ctx context.Context, stream string, opt PollerOptions, stats *PollStats, deliver Deliver) error {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 100
	}
	if opt.Idle <= 0 {
		opt.Idle = 200 * time.Millisecond
	}
	if opt.RetryWait <= 0 {
		opt.RetryWait = 200 * time.Millisecond
	}
	if stats == nil {
		stats = &PollStats{}
	}
	ds, err := e.Kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return fmt.Errorf("describing stream %s: %w", stream, err)
	}
	arn := aws.ToString(ds.StreamDescriptionSummary.StreamARN)
	shards, err := e.Kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return fmt.Errorf("listing shards of %s: %w", stream, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(shards.Shards))
	for i, sh := range shards.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.pollShard(ctx, stream, arn, aws.ToString(sh.ShardId), opt, stats, deliver)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *Env) pollShard(ctx context.Context, stream, arn, shard string, opt PollerOptions, stats *PollStats, deliver Deliver) error {
	it, err := e.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return fmt.Errorf("iterating shard %s: %w", shard, err)
	}
	next := aws.ToString(it.ShardIterator)
	var pending []events.KinesisEventRecord
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	readFailures := 0
	for ctx.Err() == nil {
		if len(pending) == 0 {
			t0 := time.Now()
			page, err := e.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(next), Limit: aws.Int32(int32(opt.BatchSize))})
			stats.ReadNanos.Add(int64(time.Since(t0)))
			stats.Reads.Add(1)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				// The mapping keeps polling through transient errors (moto
				// answers 500 when a put lands while it scans the shard).
				stats.ReadErrors.Add(1)
				if readFailures++; readFailures >= 100 {
					return fmt.Errorf("reading shard %s, %d times in a row: %w", shard, readFailures, err)
				}
				if !wait(opt.RetryWait / 4) {
					return nil
				}
				continue
			}
			readFailures = 0
			next = aws.ToString(page.NextShardIterator)
			for _, r := range page.Records {
				pending = append(pending, LambdaRecord(arn, shard, r))
			}
			if len(pending) == 0 {
				if !wait(opt.Idle) {
					return nil
				}
				continue
			}
		}
		batch := pending[:min(len(pending), opt.BatchSize)]
		stats.Invocations.Add(1)
		t0 := time.Now()
		resp, err := deliver(ctx, shard, events.KinesisEvent{Records: batch})
		stats.DeliverNanos.Add(int64(time.Since(t0)))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			stats.Errors.Add(1)
			if !wait(opt.RetryWait) {
				return nil
			}
			continue
		}
		from := len(batch)
		for _, f := range resp.BatchItemFailures {
			found := false
			for i, r := range batch {
				if r.Kinesis.SequenceNumber == f.ItemIdentifier {
					from, found = min(from, i), true
				}
			}
			if !found { // Lambda takes an unknown identifier for a failed batch
				from = 0
			}
		}
		stats.Records.Add(int64(from))
		pending = pending[from:]
		if from < len(batch) {
			stats.Retries.Add(1)
			if !wait(opt.RetryWait) {
				return nil
			}
		}
	}
	return nil
}
