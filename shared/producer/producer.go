// Package producer is the library an application uses to put its
// mutations on the shadowscale stream (docs/PRODUCER.md is the guide and
// the record contract).
//
// It numbers each instance's mutations (seq 1, 2, ... gap-free), packs an
// instance's pending mutations into KPL aggregated records up to Kinesis'
// record size, puts them with PutRecords within its limits (500 records,
// 5 MiB a call) retrying only the records that failed, keeps each
// instance's records in order (one record of an instance per call, the
// next only once it is on the stream), applies backpressure (Put blocks
// while MaxBuffered mutations wait), puts a heartbeat for every instance
// idle for Heartbeat (so the plane tells "no data" from "no demand"),
// reports every mutation it could not put (OnFailure, and Put's or Flush's
// error: none is dropped silently), and counts what it does (Stats, and a
// metrics.Sink).
//
// Kinesis access is the narrow interface Kinesis (the SDK client's
// PutRecords); time comes from a clock.Clock.
package producer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// Kinesis is the part of *kinesis.Client the producer uses.
type Kinesis interface {
	PutRecords(ctx context.Context, params *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var _ Kinesis = (*kinesis.Client)(nil)

// Kinesis PutRecords limits: 500 records and 5 MiB (data and partition
// keys) a call; a record's data and partition key at most 1 MiB.
const (
	MaxRecordsPerCall = 500
	MaxBytesPerCall   = 5 << 20
	MaxRecordBytes    = mutation.MaxRecordBytes
)

// Options tune a Producer. Stream is required.
type Options struct {
	Stream string
	// NoAggregation puts one mutation a Kinesis record (the plain JSON
	// record) instead of KPL aggregated records: more records, each
	// billed and counted against the shard's 1,000 records a second.
	NoAggregation bool
	// Binary puts each mutation in the binary form (a protobuf message;
	// docs/PRODUCER.md) instead of the JSON form: about half the bytes on
	// the stream for small values (Kinesis bills them), and about 1.5
	// times the fan-out's throughput. A plane older than the binary form
	// dead-letters such records: upgrade the plane first.
	Binary bool
	// RecordBytes bounds an aggregated record with its partition key
	// (MaxRecordBytes when 0).
	RecordBytes int
	// Linger is how long Run lets a mutation wait for others to share its
	// record (100 ms when 0).
	Linger time.Duration
	// Heartbeat: Run puts a heartbeat for an instance that put nothing for
	// this long (30 s when 0; at most a minute, which the plane relies on).
	Heartbeat time.Duration
	// MaxBuffered bounds the mutations waiting to be put: Put blocks
	// beyond it (100,000 when 0).
	MaxBuffered int
	// MaxAttempts bounds the PutRecords calls for one record (5 when 0);
	// BaseDelay and MaxDelay shape the full-jitter exponential backoff
	// between them (100 ms and 2 s when 0).
	MaxAttempts         int
	BaseDelay, MaxDelay time.Duration
	// OnFailure receives the mutations the producer gave up on (after
	// MaxAttempts, or a record error a retry cannot fix), with the
	// error. Called from the goroutine that sends; may be nil (the errors
	// of Flush and Run still say it).
	OnFailure func(Failure)
	Metrics   metrics.Sink
	Log       *slog.Logger
	// Sleep waits between attempts and between Run's rounds (a timer when
	// nil; tests pass their own).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Failure is mutations the producer could not put, and why.
type Failure struct {
	Mutations []mutation.Mutation
	Err       error
}

// ErrNotPut is wrapped by the errors of mutations the stream did not take.
var ErrNotPut = errors.New("mutations not put on the stream")

// Stats are the producer's counters since it was made.
type Stats struct {
	Mutations     int64 // put on the stream
	Heartbeats    int64 // put on the stream
	Records       int64 // Kinesis records put
	Calls         int64 // PutRecords calls
	RetriedRecord int64 // records put again after a failure
	Failed        int64 // mutations given up on (reported)
	Buffered      int   // waiting now
}

// Producer puts mutations on the stream. Safe for concurrent use.
type Producer struct {
	api   Kinesis
	clock clock.Clock
	opt   Options
	// encode writes a mutation's user record (mutation.Encode, or
	// mutation.EncodeBinary with Options.Binary).
	encode func(mutation.Mutation) ([]byte, error)

	mu       sync.Mutex
	space    *sync.Cond // signalled when buffered mutations leave
	seqs     map[string]uint64
	queue    map[string][]mutation.Mutation // by instance, in order
	order    []string                       // instances with queued mutations, first queued first
	lastPut  map[string]time.Time           // an instance's last record on the stream
	buffered int
	stats    Stats

	sendMu sync.Mutex // one send at a time: an instance's records in order
}

// New returns a Producer.
func New(api Kinesis, c clock.Clock, opt Options) (*Producer, error) {
	var errs []error
	if api == nil {
		errs = append(errs, errors.New("no kinesis client"))
	}
	if c == nil {
		errs = append(errs, errors.New("no clock"))
	}
	if opt.Stream == "" {
		errs = append(errs, errors.New("no stream name"))
	}
	if opt.RecordBytes < 0 || opt.RecordBytes > MaxRecordBytes {
		errs = append(errs, fmt.Errorf("record bytes %d, over Kinesis' %d", opt.RecordBytes, MaxRecordBytes))
	}
	if opt.Heartbeat > time.Minute {
		errs = append(errs, fmt.Errorf("heartbeat every %s: the plane needs one at least every minute", opt.Heartbeat))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	if opt.RecordBytes == 0 {
		opt.RecordBytes = MaxRecordBytes
	}
	if opt.Linger <= 0 {
		opt.Linger = 100 * time.Millisecond
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = 30 * time.Second
	}
	if opt.MaxBuffered <= 0 {
		opt.MaxBuffered = 100_000
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
	if opt.Metrics == nil {
		opt.Metrics = metrics.Discard{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Sleep == nil {
		opt.Sleep = sleep
	}
	p := &Producer{api: api, clock: c, opt: opt, seqs: map[string]uint64{}, queue: map[string][]mutation.Mutation{}, lastPut: map[string]time.Time{}}
	p.space = sync.NewCond(&p.mu)
	p.encode = mutation.Encode
	if opt.Binary {
		p.encode = mutation.EncodeBinary
	}
	return p, nil
}

// Resume sets an instance's last seq put, so that its numbering continues
// after it (an application restarting must: a seq the agents already hold
// is acknowledged as a duplicate and never applied). Register an instance
// with Resume(instance, 0) to have heartbeats put for it before its first
// mutation.
func (p *Producer) Resume(instance string, lastSeq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seqs[instance] = lastSeq
	if _, ok := p.lastPut[instance]; !ok {
		p.lastPut[instance] = time.Time{}
	}
}

// Forget stops numbering and heartbeats for an instance that is gone.
func (p *Producer) Forget(instance string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.seqs, instance)
	delete(p.lastPut, instance)
}

// Put numbers m (Seq 0: the instance's next seq; a Seq already set is
// kept, for a redrive, and numbering continues above it), sets V and
// ProducedAt when unset, validates it (fields and size), and queues it;
// Run or Flush puts it. It blocks while MaxBuffered mutations wait
// (backpressure) until ctx is done. It returns the mutation as queued.
func (p *Producer) Put(ctx context.Context, m mutation.Mutation) (mutation.Mutation, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.V == 0 {
		m.V = mutation.Version
	}
	if m.ProducedAt.IsZero() {
		m.ProducedAt = p.clock.Now().UTC()
	}
	next := m.Seq
	if next == 0 {
		next = p.seqs[m.Resource] + 1
	}
	check := m
	check.Seq = next
	b, err := p.encode(check) // validates, bounds the size
	if err != nil {
		return m, fmt.Errorf("putting a mutation of %s: %w", m.Resource, err)
	}
	if len(b)+len(m.Resource)+mutation.AggregatedOverhead+16 > p.opt.RecordBytes && !p.opt.NoAggregation {
		return m, fmt.Errorf("putting mutation %s/%d: %d bytes do not fit a record of %d: %w", m.Resource, next, len(b), p.opt.RecordBytes, mutation.ErrTooLarge)
	}
	if err := p.waitSpace(ctx); err != nil {
		return m, err
	}
	m.Seq = next
	p.seqs[m.Resource] = max(p.seqs[m.Resource], m.Seq)
	if _, ok := p.lastPut[m.Resource]; !ok {
		p.lastPut[m.Resource] = time.Time{}
	}
	p.enqueue(m)
	return m, nil
}

// waitSpace waits, holding p.mu between waits, for room in the buffer.
func (p *Producer) waitSpace(ctx context.Context) error {
	if p.buffered < p.opt.MaxBuffered {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.space.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	for p.buffered >= p.opt.MaxBuffered {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for room in the producer's buffer (%d mutations): %w", p.buffered, err)
		}
		p.space.Wait()
	}
	return nil
}

func (p *Producer) enqueue(m mutation.Mutation) {
	if len(p.queue[m.Resource]) == 0 {
		p.order = append(p.order, m.Resource)
	}
	p.queue[m.Resource] = append(p.queue[m.Resource], m)
	p.buffered++
}

// PutAll puts muts (as Put) and flushes: on return each is on the stream,
// or the error says which are not (ErrNotPut) or which were refused.
func (p *Producer) PutAll(ctx context.Context, muts ...mutation.Mutation) error {
	var errs []error
	for _, m := range muts {
		if _, err := p.Put(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Stats returns the counters.
func (p *Producer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Buffered = p.buffered
	return s
}

// Run puts what Put queued, every Linger, and the heartbeats of idle
// instances, until ctx is done; then it flushes what is left (with a
// fresh context of 10 s) and returns the failures' joined error, if any.
// A put in flight when ctx ends is not cut short: the ticks' puts run on
// a context ctx's end does not cancel (each is bounded by MaxAttempts),
// so stopping a producer loses none of the mutations it was sending.
func (p *Producer) Run(ctx context.Context) error {
	var errs []error
	tctx := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		if err := p.Tick(tctx); err != nil {
			errs = append(errs, err)
		}
		_ = p.opt.Sleep(ctx, p.opt.Linger)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Tick queues a heartbeat for every instance that put nothing for
// Heartbeat and has nothing queued, then puts everything queued.
func (p *Producer) Tick(ctx context.Context) error {
	now := p.clock.Now()
	p.mu.Lock()
	for inst, last := range p.lastPut {
		if len(p.queue[inst]) == 0 && now.Sub(last) >= p.opt.Heartbeat {
			p.enqueue(mutation.Heartbeat(inst, now.UTC()))
		}
	}
	p.mu.Unlock()
	return p.Flush(ctx)
}

// Flush puts everything queued now, and returns an error wrapping
// ErrNotPut when some mutations could not be put (each also reported to
// OnFailure).
func (p *Producer) Flush(ctx context.Context) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	p.mu.Lock()
	queue, order := p.queue, p.order
	p.queue, p.order = map[string][]mutation.Mutation{}, nil
	p.buffered = 0 // in flight now: room for more
	p.space.Broadcast()
	p.mu.Unlock()
	if len(order) == 0 {
		return nil
	}
	// Records per instance, in order.
	recs := map[string][]*record{}
	for _, inst := range order {
		recs[inst] = p.pack(inst, queue[inst])
	}
	var failed []Failure
	// Round by round: at most one record of an instance a round, so that
	// its records land in order (the next only once the previous is on
	// the stream, or given up).
	for round := 0; ; round++ {
		var batch []*record
		for _, inst := range order {
			if round < len(recs[inst]) {
				batch = append(batch, recs[inst][round])
			}
		}
		if len(batch) == 0 {
			break
		}
		for len(batch) > 0 {
			n, size := 0, 0
			for n < len(batch) && n < MaxRecordsPerCall && size+batch[n].size() <= MaxBytesPerCall {
				size += batch[n].size()
				n++
			}
			failed = append(failed, p.putCall(ctx, batch[:n])...)
			batch = batch[n:]
		}
	}
	var errs []error
	for _, f := range failed {
		p.opt.Metrics.Add("ProducerFailed", metrics.Count, float64(len(f.Mutations)))
		if p.opt.OnFailure != nil {
			p.opt.OnFailure(f)
		}
		errs = append(errs, f.Err)
	}
	p.mu.Lock()
	for _, f := range failed {
		p.stats.Failed += int64(len(f.Mutations))
	}
	p.mu.Unlock()
	if len(errs) > 0 {
		n := 0
		for _, f := range failed {
			n += len(f.Mutations)
		}
		return fmt.Errorf("%w: %d mutations on %s: %w", ErrNotPut, n, p.opt.Stream, errors.Join(errs...))
	}
	return nil
}

// record is one Kinesis record to put: its partition key, data and the
// user records (mutations and heartbeats) it holds.
type record struct {
	key  string
	data []byte
	muts []mutation.Mutation
}

func (r *record) size() int { return len(r.data) + len(r.key) }

// pack turns an instance's queued mutations into records: aggregated up
// to RecordBytes (one alone is put plain), or one each.
func (p *Producer) pack(inst string, muts []mutation.Mutation) []*record {
	var out []*record
	var agg mutation.Aggregator
	var in []mutation.Mutation
	var datas [][]byte
	done := func() {
		switch len(in) {
		case 0:
		case 1:
			out = append(out, &record{key: inst, data: datas[0], muts: in})
		default:
			out = append(out, &record{key: inst, data: agg.Bytes(), muts: in})
		}
		agg.Reset()
		in, datas = nil, nil
	}
	for _, m := range muts {
		b, err := p.encode(m)
		if err != nil { // validated by Put: cannot happen
			p.opt.Log.Error("mutation does not encode", "resource", inst, "seq", m.Seq, "err", err)
			continue
		}
		if p.opt.NoAggregation {
			out = append(out, &record{key: inst, data: b, muts: []mutation.Mutation{m}})
			continue
		}
		if len(in) > 0 && agg.SizeWith(inst, len(b))+len(inst) > p.opt.RecordBytes {
			done()
		}
		agg.Add(inst, b)
		in, datas = append(in, m), append(datas, b)
	}
	done()
	return out
}

// putCall puts one call's records, retrying the failed ones, and returns
// those given up on.
func (p *Producer) putCall(ctx context.Context, batch []*record) []Failure {
	for attempt := 1; ; attempt++ {
		entries := make([]kintypes.PutRecordsRequestEntry, len(batch))
		for i, r := range batch {
			entries[i] = kintypes.PutRecordsRequestEntry{Data: r.data, PartitionKey: aws.String(r.key)}
		}
		out, err := p.api.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.opt.Stream), Records: entries})
		p.count(func(s *Stats) { s.Calls++ })
		if err == nil && len(out.Records) != len(batch) {
			err = fmt.Errorf("PutRecords answered %d results for %d records", len(out.Records), len(batch))
		}
		var retry []*record
		var failed []Failure
		if err != nil {
			err = fmt.Errorf("putting %d records on %s: %w", len(batch), p.opt.Stream, err)
			if ctx.Err() != nil || attempt >= p.opt.MaxAttempts {
				return failuresOf(batch, err)
			}
			retry = batch
		} else {
			for i, r := range out.Records {
				b := batch[i]
				if r.ErrorCode == nil {
					p.done(b)
					continue
				}
				rerr := fmt.Errorf("%w after %d attempts: %s: %s", ErrNotPut, attempt, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				if retryable(aws.ToString(r.ErrorCode)) && attempt < p.opt.MaxAttempts {
					retry = append(retry, b)
				} else {
					failed = append(failed, failuresOf([]*record{b}, rerr)...)
				}
			}
		}
		if len(retry) == 0 {
			return failed
		}
		p.count(func(s *Stats) { s.RetriedRecord += int64(len(retry)) })
		p.opt.Metrics.Add("ProducerRetries", metrics.Count, float64(len(retry)))
		if err := p.opt.Sleep(ctx, p.backoff(attempt)); err != nil {
			return append(failed, failuresOf(retry, fmt.Errorf("%w: %w", ErrNotPut, err))...)
		}
		batch = retry
	}
}

func failuresOf(recs []*record, err error) []Failure {
	out := make([]Failure, 0, len(recs))
	for _, r := range recs {
		var muts []mutation.Mutation
		for _, m := range r.muts {
			if !m.IsHeartbeat() { // a lost heartbeat is no loss
				muts = append(muts, m)
			}
		}
		if len(muts) > 0 {
			out = append(out, Failure{Mutations: muts, Err: err})
		}
	}
	return out
}

// done notes a record on the stream.
func (p *Producer) done(r *record) {
	beats := 0
	for _, m := range r.muts {
		if m.IsHeartbeat() {
			beats++
		}
	}
	now := p.clock.Now()
	p.mu.Lock()
	p.stats.Records++
	p.stats.Heartbeats += int64(beats)
	p.stats.Mutations += int64(len(r.muts) - beats)
	if _, ok := p.lastPut[r.key]; ok {
		p.lastPut[r.key] = now
	}
	p.mu.Unlock()
	p.opt.Metrics.Add("ProducerRecords", metrics.Count, 1)
	if n := len(r.muts) - beats; n > 0 {
		p.opt.Metrics.Add("ProducerMutations", metrics.Count, float64(n))
	}
	if beats > 0 {
		p.opt.Metrics.Add("ProducerHeartbeats", metrics.Count, float64(beats))
	}
}

// count updates the counters.
func (p *Producer) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// retryable reports whether a per-record PutRecords error may pass on a
// retry (throughput and internal failures; KMS access errors do not).
func retryable(code string) bool {
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
