//go:build e2e

package harness

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// StreamReader reads a Kinesis stream with GetRecords, shard by shard from
// the start, remembering where it stopped, and hands back what it read as
// the Lambda Kinesis event an event source mapping would deliver (moto
// polls nothing for Lambda: the tests do what the mapping does).
type StreamReader struct {
	env    *Env
	stream string
	arn    string
	next   map[string]string // shard id -> iterator
}

// NewStreamReader returns a reader positioned at the start of every shard.
func (e *Env) NewStreamReader(ctx context.Context, stream string) (*StreamReader, error) {
	ds, err := e.Kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("describing stream %s: %w", stream, err)
	}
	r := &StreamReader{env: e, stream: stream, arn: aws.ToString(ds.StreamDescriptionSummary.StreamARN), next: map[string]string{}}
	shards, err := e.Kinesis.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("listing shards of %s: %w", stream, err)
	}
	for _, sh := range shards.Shards {
		it, err := e.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return nil, fmt.Errorf("iterating shard %s: %w", aws.ToString(sh.ShardId), err)
		}
		r.next[aws.ToString(sh.ShardId)] = aws.ToString(it.ShardIterator)
	}
	return r, nil
}

// Read returns, per shard id, the records put since the last Read, as the
// Kinesis event Lambda would deliver for that shard (a mapping never mixes
// shards in one batch). Shards without new records are absent.
func (r *StreamReader) Read(ctx context.Context) (map[string]events.KinesisEvent, error) {
	out := map[string]events.KinesisEvent{}
	for shard, it := range r.next {
		for it != "" {
			page, err := r.env.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(it), Limit: aws.Int32(10000)})
			if err != nil {
				return nil, fmt.Errorf("reading shard %s: %w", shard, err)
			}
			ev := out[shard]
			for _, rec := range page.Records {
				ev.Records = append(ev.Records, LambdaRecord(r.arn, shard, rec))
			}
			if len(ev.Records) > 0 {
				out[shard] = ev
			}
			r.next[shard] = aws.ToString(page.NextShardIterator)
			if len(page.Records) == 0 || aws.ToInt64(page.MillisBehindLatest) == 0 {
				break
			}
			it = aws.ToString(page.NextShardIterator)
		}
	}
	return out, nil
}

// LambdaRecord is a stream record as Lambda's event source mapping hands
// it to the function.
func LambdaRecord(streamARN, shard string, rec kintypes.Record) events.KinesisEventRecord {
	seq := aws.ToString(rec.SequenceNumber)
	kr := events.KinesisRecord{
		Data:                 rec.Data,
		PartitionKey:         aws.ToString(rec.PartitionKey),
		SequenceNumber:       seq,
		KinesisSchemaVersion: "1.0",
	}
	if rec.ApproximateArrivalTimestamp != nil {
		kr.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: *rec.ApproximateArrivalTimestamp}
	}
	return events.KinesisEventRecord{
		AwsRegion:         Region,
		EventID:           shard + ":" + seq,
		EventName:         "aws:kinesis:record",
		EventSource:       "aws:kinesis",
		EventSourceArn:    streamARN,
		EventVersion:      "1.0",
		InvokeIdentityArn: "arn:aws:iam::123456789012:role/shadowscale-fanout",
		Kinesis:           kr,
	}
}
