//go:build e2e

package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/agent"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
	"github.com/shadowscale/shadowscale/shared/producer"
)

// LagOptions shape a replication-lag run.
type LagOptions struct {
	Rate     int           // mutations a second produced (default 1000)
	Duration time.Duration // of production (default 60 s)
	// Lives is the group's live instances (resources), each with its shadow
	// (default 2). One agent process serves every live instance, another
	// every shadow.
	Lives  int
	Shards int // of the stream (default 2)
	// BatchSize is the event source mapping's (default 100).
	BatchSize int
	// BadEvery puts one malformed record every BadEvery mutations (0:
	// none), to show the dead-letter accounting.
	BadEvery int
	// ShadowApplyRate caps the shadow agent's applied mutations a second
	// (0: none).
	ShadowApplyRate float64
	// RIE runs the real fanout bootstrap under the Runtime Interface
	// Emulator (one per shard, as Lambda runs one invocation per shard at a
	// time) instead of the handler in process.
	RIE bool
	// Drain bounds the wait for the last mutations after production (default 60 s).
	Drain time.Duration
	// Sample, when set, is called every second with the elapsed time (for
	// memory and progress reports).
	Sample func(elapsed time.Duration, a LagProgress)
	// ReportEvery is the period of the progress lines and of the lag
	// windows they print (default 10 s); OnReport, when set, receives each
	// window.
	ReportEvery time.Duration
	OnReport    func(LagWindow)
}

// LagWindow is the lag of the mutations applied within one report period.
type LagWindow struct {
	Elapsed                   time.Duration // at the end of the window
	Produced                  int64         // so far
	LiveApplied               int64         // so far
	ShadowApplied             int64         // so far
	ShadowN, LiveN            int           // mutations applied in the window
	ShadowP50, ShadowP99      time.Duration
	LiveP50, LiveP99          time.Duration
	Invocations, BatchRetries int64 // so far
}

// LagProgress is a run's state at a moment.
type LagProgress struct {
	Produced, LiveApplied, ShadowApplied int64
	AgentPIDs                            map[string]int
	// FanoutPIDs are the emulators' process ids by shard (RIE runs: each
	// one's bootstrap is its child); empty for the handler in process.
	FanoutPIDs map[string]int
}

// LagResult is what a run measured.
type LagResult struct {
	Produced      int64 // records put on the stream (valid and malformed)
	Valid         int64 // mutations among them
	LiveApplied   int64 // applied by the live agent
	ShadowApplied int64 // applied by the shadow agent
	DeadLettered  int64 // messages in the dead-letter queue
	// Lag from a mutation's producer timestamp to its application on the
	// shadow (and on the live) agent, over every mutation.
	ShadowLag, LiveLag Percentiles
	ProducedRate       float64 // achieved, a second
	Invocations        int64
	Retries, Errors    int64
	ReadErrors         int64 // GetRecords calls that failed (and were retried)
	// Mean durations: a PutRecords call of the producer, a GetRecords call
	// of the poller, a delivery (one fanout invocation).
	PutMean, ReadMean, DeliverMean time.Duration
	Reads                          int64
	Elapsed                        time.Duration
}

// Percentiles of a lag distribution.
type Percentiles struct {
	// GapPolls counts the agent's status polls that found seqs missing,
	// MaxGapWait the longest a missing seq was waited for (seconds).
	GapPolls       int
	MaxGapWait     float64
	N              int
	P50, P99, Max  time.Duration
	Mean           time.Duration
	MissingSamples int // mutations never seen applied
}

// Balanced reports the accounting: produced = applied on live +
// dead-lettered = applied on shadow + dead-lettered.
func (r LagResult) Balanced() bool {
	return r.Produced == r.LiveApplied+r.DeadLettered && r.Produced == r.ShadowApplied+r.DeadLettered
}

func (o *LagOptions) defaults() {
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.Duration <= 0 {
		o.Duration = 60 * time.Second
	}
	if o.Lives <= 0 {
		o.Lives = 2
	}
	if o.Shards <= 0 {
		o.Shards = 2
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.Drain <= 0 {
		o.Drain = 60 * time.Second
	}
	if o.ReportEvery <= 0 {
		o.ReportEvery = 10 * time.Second
	}
}

// RunLag sets a world up on the emulator (the group's live instances get
// their shadows through the launch handler), starts a live and a shadow
// agent process, and runs the pipeline end to end for opt.Duration:
// mutations produced to Kinesis at opt.Rate with the Producer, the stream
// polled like Lambda's event source mapping, the fanout (in process or
// under the RIE) delivering to the agents. It measures, for every
// mutation, the time from its producer timestamp to its application on
// each agent (polling the agents' status every 10 ms), and checks the
// accounting. Progress lines go to out. The world is its own (a fresh
// namespace, torn down at the end): RunLag shares a server safely.
func RunLag(ctx context.Context, e *Env, opt LagOptions, out io.Writer) (LagResult, error) {
	opt.defaults()
	var res LagResult
	w, err := e.Setup(ctx, WorldOptions{Desired: opt.Lives, StreamShards: opt.Shards})
	if err != nil {
		return res, err
	}
	defer func() { _ = e.Teardown(context.WithoutCancel(ctx), w) }()
	lives, err := e.GroupInstances(ctx, w.Group, opt.Lives)
	if err != nil {
		return res, err
	}
	shadows, err := e.launchShadows(ctx, w, lives)
	if err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp("", "shadowscale-lag-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	bin, err := BuildAgent(ctx, tmp)
	if err != nil {
		return res, err
	}
	agents := map[string]*Agent{}
	defer func() {
		for _, a := range agents {
			_ = a.Stop()
		}
	}()
	addrs := map[string]string{}
	for _, spec := range []struct {
		name  string
		insts []string
		rate  float64
	}{{"live", lives, 0}, {"shadow", shadows, opt.ShadowApplyRate}} {
		a, err := StartAgent(ctx, bin, AgentOptions{Name: spec.name, DataDir: filepath.Join(tmp, spec.name), Key: w.AgentKey, Instances: spec.insts, ApplyRate: spec.rate})
		if err != nil {
			return res, err
		}
		agents[spec.name] = a
		for _, id := range spec.insts {
			addrs[id] = a.Addr
		}
	}
	fenv := w.FunctionEnv(e)
	b, _ := json.Marshal(addrs)
	fenv[lambdaenv.EnvAgentAddresses] = string(b)
	fenv[lambdaenv.EnvLogLevel] = "warn"
	deliver, stopFanout, fanoutPIDs, err := e.lagFanout(ctx, opt, fenv, tmp)
	if err != nil {
		return res, err
	}
	defer stopFanout()
	client, err := agent.NewClient([]byte(w.AgentKey), clock.System{}, agent.ClientOptions{})
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "lag: %d mutations/s for %s, %d live instances on %d shards, fanout %s, batch size %d, moto %s\n",
		opt.Rate, opt.Duration, opt.Lives, opt.Shards, map[bool]string{true: "bootstrap under the RIE", false: "handler in process"}[opt.RIE], opt.BatchSize, e.Server.URL)

	trk := newLagTracker(lives)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	stats := &PollStats{}
	var pollErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		pollErr = e.Poll(runCtx, w.Stream, PollerOptions{BatchSize: opt.BatchSize}, stats, deliver)
	}()
	for _, name := range []string{"live", "shadow"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trk.watch(runCtx, client, name, agents[name].Addr)
		}()
	}

	prod, err := producer.New(e.Kinesis, clock.System{}, producer.Options{Stream: w.Stream})
	if err != nil {
		return res, err
	}
	// One sender puts what the clock produced, coalescing whatever queued
	// while its previous PutRecords ran into the next call (as the KPL
	// aggregates under backpressure). One, because moto's put_record is
	// not safe for concurrent puts to a shard (two records can get the same
	// sequence number, and one is lost).
	type putJob struct {
		muts []mutation.Mutation
		raw  [][]byte
	}
	var (
		sendWG   sync.WaitGroup
		putMu    sync.Mutex
		putNanos time.Duration
		puts     int64
		putErr   error
	)
	jobs := make(chan putJob, 1<<16)
	sendWG.Add(1)
	go func() {
		defer sendWG.Done()
		for job := range jobs {
			muts, raw := job.muts, job.raw
		more:
			for len(muts) < 500 {
				select {
				case j, ok := <-jobs:
					if !ok {
						break more
					}
					muts, raw = append(muts, j.muts...), append(raw, j.raw...)
				default:
					break more
				}
			}
			t0 := time.Now()
			var err error
			if len(muts) > 0 {
				err = prod.PutAll(ctx, muts...)
			}
			if err == nil && len(raw) > 0 {
				err = e.putRaw(ctx, w.Stream, lives[0], raw)
			}
			putMu.Lock()
			putNanos += time.Since(t0)
			puts++
			if err != nil && putErr == nil {
				putErr = fmt.Errorf("producing: %w", err)
			}
			putMu.Unlock()
		}
	}()
	closeSenders := func() {
		close(jobs)
		sendWG.Wait()
	}
	start := time.Now()
	tick := 50 * time.Millisecond
	perTick := float64(opt.Rate) * tick.Seconds()
	ticker := time.NewTicker(tick)
	var produced, valid int64
	nextReport := start.Add(opt.ReportEvery)
	sampleAt := start.Add(time.Second)
	pids := map[string]int{}
	for n, a := range agents {
		pids[n] = a.PID()
	}
	for time.Since(start) < opt.Duration {
		select {
		case <-ctx.Done():
			closeSenders()
			return res, ctx.Err()
		case <-ticker.C:
		}
		putMu.Lock()
		failed := putErr
		putMu.Unlock()
		if failed != nil {
			closeSenders()
			return res, failed
		}
		// What is owed by now.
		n := int(float64(opt.Rate)*time.Since(start).Seconds()) - int(produced)
		n = max(0, min(n, int(4*perTick)))
		var muts []mutation.Mutation
		var bad [][]byte
		now := time.Now().UTC()
		for i := 0; i < n; i++ {
			produced++
			if opt.BadEvery > 0 && produced%int64(opt.BadEvery) == 0 {
				bad = append(bad, []byte(fmt.Sprintf(`{"v":1,"resource":"%s","seq":`, lives[0])))
				continue
			}
			muts = append(muts, trk.next(now))
			valid++
		}
		jobs <- putJob{muts: muts, raw: bad}
		if now := time.Now(); opt.Sample != nil && now.After(sampleAt) {
			sampleAt = sampleAt.Add(time.Second)
			l, s := trk.applied()
			opt.Sample(now.Sub(start), LagProgress{Produced: produced, LiveApplied: l, ShadowApplied: s, AgentPIDs: pids, FanoutPIDs: fanoutPIDs()})
		}
		if now := time.Now(); now.After(nextReport) {
			nextReport = nextReport.Add(opt.ReportEvery)
			l, s := trk.applied()
			w := LagWindow{Elapsed: now.Sub(start), Produced: produced, LiveApplied: l, ShadowApplied: s, Invocations: stats.Invocations.Load(), BatchRetries: stats.Retries.Load()}
			w.ShadowN, w.ShadowP50, w.ShadowP99 = trk.window("shadow")
			w.LiveN, w.LiveP50, w.LiveP99 = trk.window("live")
			fmt.Fprintf(out, "  %3.0fs: produced %d, applied live %d, shadow %d, invocations %d, retries %d; lag over the last %s: shadow p50 %s, p99 %s; live p50 %s, p99 %s\n",
				w.Elapsed.Seconds(), produced, l, s, w.Invocations, w.BatchRetries, opt.ReportEvery, w.ShadowP50.Round(time.Millisecond), w.ShadowP99.Round(time.Millisecond), w.LiveP50.Round(time.Millisecond), w.LiveP99.Round(time.Millisecond))
			if opt.OnReport != nil {
				opt.OnReport(w)
			}
		}
	}
	ticker.Stop()
	res.ProducedRate = float64(produced) / time.Since(start).Seconds()
	closeSenders()
	if putErr != nil {
		return res, putErr
	}
	res.Produced, res.Valid = produced, valid
	// Drain: wait for both agents to have applied every valid mutation.
	_ = Eventually(ctx, opt.Drain, func() (bool, error) {
		l, s := trk.applied()
		if l < valid || s < valid {
			return false, nil
		}
		dl, err := e.queueDepth(ctx, w.QueueURL)
		return err == nil && dl >= produced-valid, err
	})
	res.Elapsed = time.Since(start)
	stopRun()
	wg.Wait()
	if pollErr != nil {
		return res, pollErr
	}
	for _, name := range []string{"live", "shadow"} {
		st, err := client.Status(ctx, mutationEndpoint(name, agents[name].Addr), "")
		if err != nil {
			return res, err
		}
		var n int64
		for _, r := range st.Resources {
			n += int64(r.AppliedCount)
		}
		if name == "live" {
			res.LiveApplied = n
		} else {
			res.ShadowApplied = n
		}
	}
	if res.DeadLettered, err = e.queueDepth(ctx, w.QueueURL); err != nil {
		return res, err
	}
	res.ShadowLag, res.LiveLag = trk.percentiles("shadow"), trk.percentiles("live")
	res.Invocations, res.Retries, res.Errors, res.ReadErrors = stats.Invocations.Load(), stats.Retries.Load(), stats.Errors.Load(), stats.ReadErrors.Load()
	res.Reads = stats.Reads.Load()
	if puts > 0 {
		res.PutMean = putNanos / time.Duration(puts)
	}
	if res.Reads > 0 {
		res.ReadMean = time.Duration(stats.ReadNanos.Load() / res.Reads)
	}
	if res.Invocations > 0 {
		res.DeliverMean = time.Duration(stats.DeliverNanos.Load() / res.Invocations)
	}
	return res, nil
}

func mutationEndpoint(name, addr string) mutation.Endpoint {
	return mutation.Endpoint{InstanceID: name, Address: addr}
}

// launchShadows gives every live instance its shadow with the launch
// handler in process and returns the shadows, in the order of lives.
func (e *Env) launchShadows(ctx context.Context, w *World, lives []string) ([]string, error) {
	cfg, err := lambdaenv.LoadLaunch(lambdaenv.Map(w.FunctionEnv(e)))
	if err != nil {
		return nil, err
	}
	deps, err := handlers.LifecycleDeps(w.Scoped.Cfg, cfg.Common, cfg.Shadows, 0, nil, metrics.Discard{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	h, err := handlers.NewLaunch(deps)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range lives {
		r, err := h.Handle(ctx, StateChange(id, "running", time.Now()))
		if err != nil || r.Shadow == "" {
			return nil, fmt.Errorf("launching the shadow of %s: %+v %v", id, r, err)
		}
		out = append(out, r.Shadow)
	}
	return out, nil
}

// lagFanout returns how a batch reaches the fanout: the handler in process,
// or one bootstrap under the RIE per shard.
func (e *Env) lagFanout(ctx context.Context, opt LagOptions, fenv map[string]string, tmp string) (Deliver, func(), func() map[string]int, error) {
	noPIDs := func() map[string]int { return nil }
	if !opt.RIE {
		cfg, err := lambdaenv.LoadFanout(lambdaenv.Map(fenv))
		if err != nil {
			return nil, nil, nil, err
		}
		key, _ := e.secret(ctx, cfg.Agent.SecretARN)
		client, err := agent.NewClient(key, clock.System{}, agent.ClientOptions{})
		if err != nil {
			return nil, nil, nil, err
		}
		deps, err := handlers.NewFanoutDeps(e.Cfg, cfg, client, metrics.Discard{}, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, nil, nil, err
		}
		h, err := handlers.NewFanout(deps, handlers.FanoutOptions{})
		if err != nil {
			return nil, nil, nil, err
		}
		var n int64
		var mu sync.Mutex
		return func(ctx context.Context, _ string, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
			b, err := json.Marshal(ev) // what the Lambda runtime hands the handler
			if err != nil {
				return events.KinesisEventResponse{}, err
			}
			mu.Lock()
			n++
			id := "lag-" + strconv.FormatInt(n, 10)
			mu.Unlock()
			ictx, cancel := context.WithTimeout(lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: id}), time.Minute)
			defer cancel()
			return h.Handle(ictx, b)
		}, func() {}, noPIDs, nil
	}
	rie, err := RIE(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	bins, err := BuildFunctions(ctx, tmp, "fanout")
	if err != nil {
		return nil, nil, nil, err
	}
	fns := map[string]*Function{}
	var mu sync.Mutex
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range fns {
			_ = f.Stop()
		}
	}
	pids := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for shard, f := range fns {
			out[shard] = f.PID()
		}
		return out
	}
	return func(ctx context.Context, shard string, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		mu.Lock()
		f, ok := fns[shard]
		if !ok {
			var err error
			if f, err = StartFunction(ctx, rie, "fanout", bins["fanout"], fenv); err != nil {
				mu.Unlock()
				return events.KinesisEventResponse{}, err
			}
			fns[shard] = f
		}
		mu.Unlock()
		b, err := json.Marshal(ev)
		if err != nil {
			return events.KinesisEventResponse{}, err
		}
		out, err := f.Invoke(ctx, b)
		if err != nil {
			return events.KinesisEventResponse{}, err
		}
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return resp, fmt.Errorf("fanout answered %s", out)
		}
		return resp, nil
	}, stop, pids, nil
}

func (e *Env) secret(ctx context.Context, arn string) ([]byte, error) {
	return awssdk.ReadSecret(ctx, e.Secrets, arn)
}

// PutRaw puts records as they are, under one partition key (what a broken
// producer could send).
func (e *Env) PutRaw(ctx context.Context, stream, key string, datas [][]byte) error {
	return e.putRaw(ctx, stream, key, datas)
}

func (e *Env) putRaw(ctx context.Context, stream, key string, datas [][]byte) error {
	recs := make([]kintypes.PutRecordsRequestEntry, len(datas))
	for i, d := range datas {
		recs[i] = kintypes.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String(key)}
	}
	out, err := e.Kinesis.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: recs})
	if err != nil {
		return fmt.Errorf("putting raw records: %w", err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 0 {
		return errors.New("putting raw records: some failed")
	}
	return nil
}

func (e *Env) queueDepth(ctx context.Context, url string) (int64, error) {
	out, err := e.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, fmt.Errorf("reading the dead-letter queue depth: %w", err)
	}
	return strconv.ParseInt(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
}

// lagTracker hands out mutations round-robin over the resources and
// records when each agent applied them.
type lagTracker struct {
	mu        sync.Mutex
	resources []string
	i         int
	produced  map[string][]time.Time       // resource -> producer timestamp by seq-1
	seen      map[string]map[string]uint64 // agent -> resource -> applied seq
	lags      map[string][]time.Duration   // agent -> lags
	// gapPolls counts status polls that found seqs missing (held back
	// behind a gap), maxMissingAge the longest a gap was waited for.
	gapPolls      map[string]int
	maxMissingAge map[string]float64
	windowFrom    map[string]int // index in lags where the current report window starts
}

// window returns the count, p50 and p99 of the agent's lags recorded
// since the last call, and starts a new window.
func (t *lagTracker) window(name string) (n int, p50, p99 time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := append([]time.Duration(nil), t.lags[name][t.windowFrom[name]:]...)
	t.windowFrom[name] = len(t.lags[name])
	if len(l) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l, func(a, b int) bool { return l[a] < l[b] })
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(math.Ceil(q*float64(len(l))))-1)] }
	return len(l), at(0.5), at(0.99)
}

func newLagTracker(resources []string) *lagTracker {
	t := &lagTracker{resources: resources, produced: map[string][]time.Time{}, seen: map[string]map[string]uint64{"live": {}, "shadow": {}}, lags: map[string][]time.Duration{},
		gapPolls: map[string]int{}, maxMissingAge: map[string]float64{}, windowFrom: map[string]int{}}
	return t
}

func (t *lagTracker) next(now time.Time) mutation.Mutation {
	t.mu.Lock()
	defer t.mu.Unlock()
	res := t.resources[t.i%len(t.resources)]
	t.i++
	t.produced[res] = append(t.produced[res], now)
	seq := uint64(len(t.produced[res]))
	m := mutation.Mutation{V: 1, Resource: res, Seq: seq, Op: mutation.OpPut, Key: "user/" + strconv.FormatUint(seq%500, 10), Value: []byte(`{"visits":` + strconv.FormatUint(seq, 10) + `}`), ProducedAt: now}
	if seq%10 == 0 {
		m.Op, m.Value = mutation.OpDelete, nil
	}
	return m
}

// watch polls an agent's status every 10 ms and records, for every seq it
// newly applied, the lag from its producer timestamp.
func (t *lagTracker) watch(ctx context.Context, c *agent.Client, name, addr string) {
	ep := mutationEndpoint(name, addr)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.Status(qctx, ep, "")
		cancel()
		if err != nil {
			continue
		}
		now := time.Now()
		t.mu.Lock()
		for _, r := range st.Resources {
			if r.Missing > 0 {
				t.gapPolls[name]++
				t.maxMissingAge[name] = max(t.maxMissingAge[name], r.MissingOldestSeconds)
			}
			prev := t.seen[name][r.Resource]
			times := t.produced[r.Resource]
			for s := prev + 1; s <= r.AppliedSeq && s <= uint64(len(times)); s++ {
				t.lags[name] = append(t.lags[name], now.Sub(times[s-1]))
			}
			if r.AppliedSeq > prev {
				t.seen[name][r.Resource] = r.AppliedSeq
			}
		}
		t.mu.Unlock()
	}
}

func (t *lagTracker) applied() (live, shadow int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.seen["live"] {
		live += int64(n)
	}
	for _, n := range t.seen["shadow"] {
		shadow += int64(n)
	}
	return live, shadow
}

func (t *lagTracker) percentiles(name string) Percentiles {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := append([]time.Duration(nil), t.lags[name]...)
	total := 0
	for _, p := range t.produced {
		total += len(p)
	}
	p := Percentiles{N: len(l), MissingSamples: total - len(l), GapPolls: t.gapPolls[name], MaxGapWait: t.maxMissingAge[name]}
	if len(l) == 0 {
		return p
	}
	sort.Slice(l, func(a, b int) bool { return l[a] < l[b] })
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(math.Ceil(q*float64(len(l))))-1)] }
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	p.P50, p.P99, p.Max, p.Mean = at(0.50), at(0.99), l[len(l)-1], sum/time.Duration(len(l))
	return p
}
