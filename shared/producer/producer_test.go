package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	"github.com/shadowscale/shadowscale/shared/producer"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// stream is a Kinesis stub: it keeps what it took, per partition key in
// order, and fails the records fail says (by call number and index).
type stream struct {
	mu    sync.Mutex
	calls []*kinesis.PutRecordsInput
	got   map[string][]mutation.Mutation // user records by partition key
	fail  func(call, i int) string       // an error code, or ""
	err   func(call int) error
}

func newStream() *stream { return &stream{got: map[string][]mutation.Mutation{}} }

func (s *stream) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, in)
	call := len(s.calls)
	if s.err != nil {
		if err := s.err(call); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{}
	for i, e := range in.Records {
		if s.fail != nil {
			if code := s.fail(call, i); code != "" {
				out.Records = append(out.Records, kintypes.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("try again")})
				out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
				continue
			}
		}
		datas := [][]byte{e.Data}
		if mutation.IsAggregated(e.Data) {
			users, err := mutation.Deaggregate(nil, e.Data)
			if err != nil {
				return nil, err
			}
			datas = datas[:0]
			for _, u := range users {
				datas = append(datas, u.Data)
			}
		}
		for _, d := range datas {
			m, err := mutation.Decode(d)
			if err != nil {
				return nil, fmt.Errorf("the stream got a record that does not decode: %w", err)
			}
			s.got[aws.ToString(e.PartitionKey)] = append(s.got[aws.ToString(e.PartitionKey)], m)
		}
		out.Records = append(out.Records, kintypes.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(call, "-", i)), ShardId: aws.String("shardId-0")})
	}
	return out, nil
}

func (s *stream) seqs(key string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []uint64
	for _, m := range s.got[key] {
		if !m.IsHeartbeat() {
			out = append(out, m.Seq)
		}
	}
	return out
}

func put(res string, key string) mutation.Mutation {
	return mutation.Mutation{Resource: res, Op: mutation.OpPut, Key: key, Value: []byte(`{"n":1}`)}
}

func noSleep(context.Context, time.Duration) error { return nil }

func newProducer(t *testing.T, s *stream, opt producer.Options) (*producer.Producer, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(t0)
	opt.Stream = "mutations"
	if opt.Sleep == nil {
		opt.Sleep = noSleep
	}
	p, err := producer.New(s, c, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// TestProducerNumbersAndAggregates: each instance's mutations are numbered
// from 1 without gaps (continuing after Resume), packed into aggregated
// records by instance, and decode back as put.
func TestProducerNumbersAndAggregates(t *testing.T) {
	s := newStream()
	p, _ := newProducer(t, s, producer.Options{})
	p.Resume("i-b", 41)
	ctx := context.Background()
	for i := range 10 {
		if _, err := p.Put(ctx, put("i-a", fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Put(ctx, put("i-b", fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.seqs("i-a")); got != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Errorf("i-a seqs %s", got)
	}
	if got := fmt.Sprint(s.seqs("i-b")); got != "[42 43 44 45 46 47 48 49 50 51]" {
		t.Errorf("i-b seqs %s (after Resume at 41)", got)
	}
	if len(s.calls) != 1 || len(s.calls[0].Records) != 2 || !mutation.IsAggregated(s.calls[0].Records[0].Data) {
		t.Errorf("%d calls; want one call of two aggregated records", len(s.calls))
	}
	st := p.Stats()
	if st.Mutations != 20 || st.Records != 2 || st.Calls != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestProducerBinary: with Options.Binary every user record, aggregated
// or not, heartbeats included, is in the binary form, decodes to the
// mutation put, and an aggregated record carries about twice as many of
// them as in the JSON form.
func TestProducerBinary(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  producer.Options
	}{
		{"aggregated", producer.Options{Binary: true}},
		{"one a record", producer.Options{Binary: true, NoAggregation: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStream()
			p, c := newProducer(t, s, tc.opt)
			ctx := context.Background()
			for i := range 5 {
				if _, err := p.Put(ctx, put("i-a", fmt.Sprint("k", i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			c.Advance(time.Minute)
			if err := p.Tick(ctx); err != nil { // a heartbeat for the idle instance
				t.Fatal(err)
			}
			if got := fmt.Sprint(s.seqs("i-a")); got != "[1 2 3 4 5]" {
				t.Errorf("seqs %s", got)
			}
			beats := 0
			for _, m := range s.got["i-a"] {
				if m.IsHeartbeat() {
					beats++
				} else if m.Key == "" || string(m.Value) != `{"n":1}` {
					t.Errorf("mutation %+v is not the one put", m)
				}
			}
			if beats != 1 {
				t.Errorf("%d heartbeats, want 1", beats)
			}
			for _, call := range s.calls {
				for _, r := range call.Records {
					datas := [][]byte{r.Data}
					if mutation.IsAggregated(r.Data) {
						users, err := mutation.Deaggregate(nil, r.Data)
						if err != nil {
							t.Fatal(err)
						}
						datas = datas[:0]
						for _, u := range users {
							datas = append(datas, u.Data)
						}
					}
					for _, d := range datas {
						if !mutation.IsBinary(d) {
							t.Errorf("user record %q is not in the binary form", d)
						}
					}
				}
			}
		})
	}
	// How many fit a record: twice as many, or near it.
	count := func(opt producer.Options) int {
		s := newStream()
		opt.RecordBytes = 4096
		p, _ := newProducer(t, s, opt)
		ctx := context.Background()
		for i := range 200 {
			if _, err := p.Put(ctx, put("i-a", fmt.Sprint("user/", i))); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return int(p.Stats().Records)
	}
	if j, b := count(producer.Options{}), count(producer.Options{Binary: true}); float64(b) > 0.6*float64(j) {
		t.Errorf("200 mutations take %d records of 4 KiB in the binary form, %d in JSON: want at most 60%%", b, j)
	}
}

// TestProducerRequestLimits: every call holds at most 500 records and
// 5 MiB; every record at most 1 MiB with its key; one record of an
// instance per call (its records land in order).
func TestProducerRequestLimits(t *testing.T) {
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprint("aggregated=", agg), func(t *testing.T) {
			s := newStream()
			p, _ := newProducer(t, s, producer.Options{NoAggregation: !agg})
			ctx := context.Background()
			big := make([]byte, 300<<10)
			var want int
			for i := range 700 {
				m := put(fmt.Sprintf("i-%03d", i%600), "k")
				if i%50 == 0 {
					m.Value = big
				}
				if _, err := p.Put(ctx, m); err != nil {
					t.Fatal(err)
				}
				want++
			}
			for range 8 { // one instance with 2.4 MiB: three aggregated records
				m := put("i-big", "k")
				m.Value = big
				if _, err := p.Put(ctx, m); err != nil {
					t.Fatal(err)
				}
				want++
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, c := range s.calls {
				size := 0
				keys := map[string]bool{}
				for _, r := range c.Records {
					n := len(r.Data) + len(aws.ToString(r.PartitionKey))
					if n > producer.MaxRecordBytes {
						t.Errorf("a record of %d bytes", n)
					}
					if agg && keys[aws.ToString(r.PartitionKey)] {
						t.Errorf("two records of %s in one call", aws.ToString(r.PartitionKey))
					}
					keys[aws.ToString(r.PartitionKey)] = true
					size += n
				}
				if len(c.Records) > producer.MaxRecordsPerCall || size > producer.MaxBytesPerCall {
					t.Errorf("a call of %d records, %d bytes", len(c.Records), size)
				}
			}
			for _, ms := range s.got {
				got += len(ms)
			}
			if got != want {
				t.Errorf("%d mutations on the stream, want %d", got, want)
			}
			if s := fmt.Sprint(s.seqs("i-big")); s != "[1 2 3 4 5 6 7 8]" {
				t.Errorf("i-big landed as %s", s)
			}
		})
	}
}

// TestProducerRetriesOnlyFailedRecords: a throttled record is put again
// (alone), the others once; one that keeps failing is reported with its
// mutations, never dropped silently.
func TestProducerRetriesOnlyFailedRecords(t *testing.T) {
	s := newStream()
	s.fail = func(call, i int) string {
		if call == 1 && i == 1 {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}
	var failures []producer.Failure
	p, _ := newProducer(t, s, producer.Options{OnFailure: func(f producer.Failure) { failures = append(failures, f) }})
	ctx := context.Background()
	if err := p.PutAll(ctx, put("i-a", "1"), put("i-b", "1"), put("i-c", "1")); err != nil {
		t.Fatal(err)
	}
	if len(s.calls) != 2 || len(s.calls[1].Records) != 1 || aws.ToString(s.calls[1].Records[0].PartitionKey) != "i-b" {
		t.Fatalf("calls %d; want the failed record alone in the second", len(s.calls))
	}
	// Kept failing: reported, with the mutations.
	s.fail = func(call, i int) string {
		if call > 2 {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}
	err := p.PutAll(ctx, put("i-a", "2"), put("i-a", "3"))
	if !errors.Is(err, producer.ErrNotPut) || len(failures) != 1 || len(failures[0].Mutations) != 2 || failures[0].Mutations[1].Seq != 3 {
		t.Fatalf("PutAll = %v, failures %+v", err, failures)
	}
	if st := p.Stats(); st.Failed != 2 || st.RetriedRecord < 4 {
		t.Errorf("stats %+v", st)
	}
	// A record error a retry cannot fix is reported at once.
	s.fail = func(int, int) string { return "KMSAccessDeniedException" }
	calls := len(s.calls)
	if err := p.PutAll(ctx, put("i-a", "4")); !errors.Is(err, producer.ErrNotPut) || len(s.calls) != calls+1 {
		t.Errorf("PutAll = %v after %d calls", err, len(s.calls)-calls)
	}
}

// TestProducerHeartbeats: an instance idle for Heartbeat gets a heartbeat
// record; a busy one does not.
func TestProducerHeartbeats(t *testing.T) {
	s := newStream()
	rec := metrics.NewRecorder()
	p, c := newProducer(t, s, producer.Options{Heartbeat: 30 * time.Second, Metrics: rec})
	ctx := context.Background()
	p.Resume("i-idle", 0)
	if _, err := p.Put(ctx, put("i-busy", "k")); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(ctx); err != nil { // i-idle never put: a heartbeat at once
		t.Fatal(err)
	}
	c.Advance(20 * time.Second)
	if _, err := p.Put(ctx, put("i-busy", "k")); err != nil {
		t.Fatal(err)
	}
	_ = p.Tick(ctx) // 20 s: nothing idle long enough
	c.Advance(31 * time.Second)
	_ = p.Tick(ctx) // 51 s: i-idle's heartbeat is 51 s old, i-busy's last record 31 s
	beats := func(key string) int {
		n := 0
		for _, m := range s.got[key] {
			if m.IsHeartbeat() {
				n++
			}
		}
		return n
	}
	if beats("i-idle") != 2 || beats("i-busy") != 1 {
		t.Errorf("heartbeats: idle %d, busy %d; want 2 and 1", beats("i-idle"), beats("i-busy"))
	}
	if st := p.Stats(); st.Heartbeats != 3 || st.Mutations != 2 || rec.Total("ProducerHeartbeats") != 3 {
		t.Errorf("stats %+v, metric %v", st, rec.Total("ProducerHeartbeats"))
	}
	p.Forget("i-idle")
	c.Advance(time.Minute)
	_ = p.Tick(ctx)
	if beats("i-idle") != 2 {
		t.Error("a forgotten instance still beats")
	}
}

// TestProducerBackpressure: Put blocks while MaxBuffered mutations wait,
// and goes on once a flush makes room (or fails with its context).
func TestProducerBackpressure(t *testing.T) {
	s := newStream()
	p, _ := newProducer(t, s, producer.Options{MaxBuffered: 2})
	ctx := context.Background()
	for i := range 2 {
		if _, err := p.Put(ctx, put("i-a", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Put(short, put("i-a", "x")); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Put on a full buffer = %v, want it to wait and give up with its context", err)
	}
	done := make(chan error)
	go func() { _, err := p.Put(ctx, put("i-a", "3")); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Put returned %v with the buffer full", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.seqs("i-a")); got != "[1 2 3]" {
		t.Errorf("seqs %s: the refused Put took no seq", got)
	}
}

// TestProducerValidates: a mutation that is invalid or too large is
// refused at Put, and takes no seq.
func TestProducerValidates(t *testing.T) {
	s := newStream()
	p, _ := newProducer(t, s, producer.Options{})
	ctx := context.Background()
	huge := put("i-a", "k")
	huge.Value = make([]byte, 800<<10) // base64: over 1 MiB
	for name, m := range map[string]mutation.Mutation{
		"no key":      {Resource: "i-a", Op: mutation.OpPut},
		"no resource": {Op: mutation.OpPut, Key: "k"},
		"bad op":      {Resource: "i-a", Op: "upsert", Key: "k"},
		"too large":   huge,
	} {
		if _, err := p.Put(ctx, m); !errors.Is(err, mutation.ErrInvalid) {
			t.Errorf("%s: Put = %v, want ErrInvalid", name, err)
		}
	}
	if m, err := p.Put(ctx, put("i-a", "k")); err != nil || m.Seq != 1 {
		t.Errorf("the first valid mutation got seq %d, %v", m.Seq, err)
	}
	if _, err := producer.New(s, nil, producer.Options{Heartbeat: 2 * time.Minute}); err == nil ||
		!strings.Contains(err.Error(), "no clock") || !strings.Contains(err.Error(), "no stream") || !strings.Contains(err.Error(), "heartbeat") {
		t.Errorf("New = %v", err)
	}
}

// TestProducerRunFlushesOnStop: Run puts what was queued every Linger, and
// what is left when its context ends.
func TestProducerRunFlushesOnStop(t *testing.T) {
	s := newStream()
	ctx, cancel := context.WithCancel(context.Background())
	rounds := 0
	p, _ := newProducer(t, s, producer.Options{Sleep: func(context.Context, time.Duration) error {
		rounds++
		if rounds == 3 {
			cancel()
		}
		return nil
	}})
	for i := range 5 {
		if _, err := p.Put(ctx, put("i-a", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s.seqs("i-a")); got != "[1 2 3 4 5]" {
		t.Errorf("seqs %s", got)
	}
}

// slowStream holds its first PutRecords until release is closed, failing
// it as the SDK does if its context ends first.
type slowStream struct {
	*stream
	inFlight, release chan struct{}
	once              sync.Once
}

func (s *slowStream) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opt ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.inFlight)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, fmt.Errorf("operation error Kinesis: PutRecords: canceled, %w", ctx.Err())
		}
	}
	return s.stream.PutRecords(ctx, in, opt...)
}

// TestProducerRunFinishesThePutInFlight: stopping Run while a put is in
// flight lets that put finish: its mutations are not lost to the
// shutdown (they were, as "not put: context canceled", when the put ran
// on Run's own context).
func TestProducerRunFinishesThePutInFlight(t *testing.T) {
	s := &slowStream{stream: newStream(), inFlight: make(chan struct{}), release: make(chan struct{})}
	c := clock.NewFake(t0)
	p, err := producer.New(s, c, producer.Options{Stream: "mutations", Sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 5 {
		if _, err := p.Put(ctx, put("i-a", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-s.inFlight
	cancel()
	close(s.release)
	if err := <-done; err != nil {
		t.Fatalf("Run stopped with a put in flight: %v", err)
	}
	if got := fmt.Sprint(s.seqs("i-a")); got != "[1 2 3 4 5]" {
		t.Errorf("seqs on the stream %s, want [1 2 3 4 5]", got)
	}
	if st := p.Stats(); st.Failed != 0 {
		t.Errorf("stats %+v: want nothing failed", st)
	}
}
