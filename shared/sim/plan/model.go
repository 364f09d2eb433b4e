package plan

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// Time and size units.
const (
	hoursPerMonth   = 730.0
	secondsPerMonth = hoursPerMonth * 3600
	mib             = 1 << 20
	gb              = 1 << 30 // AWS bills data by the binary gigabyte
)

// Service limits the model checks against (not account quotas: those are
// parameters). Sources: the Kinesis Data Streams developer guide ("Quotas
// and limits"), the Lambda developer guide, the DynamoDB developer guide
// ("Service, account, and table quotas"), the EC2 API reference ("Request
// throttling"); docs/OPERATIONS.md lists them.
const (
	ShardWriteBytes       = 1 * mib // a shard takes 1 MiB a second (data and partition keys)...
	ShardWriteRecords     = 1_000   // ...and 1,000 records a second
	ShardReadsPerSecond   = 5       // GetRecords calls a second per shard, all consumers
	ShardReadBytes        = 2 * mib // bytes read a second per shard
	GetRecordsMaxRecords  = 10_000  // one GetRecords answer
	PutRecordsMaxRecords  = 500     // one PutRecords call (shared/producer.MaxRecordsPerCall)
	PutRecordsMaxBytes    = 5 * mib // (shared/producer.MaxBytesPerCall)
	LambdaPayloadBytes    = 6_000_000
	PartitionWCU          = 1_000 // one DynamoDB partition, a second
	PartitionRCU          = 3_000
	EC2DescribeBucket     = 100 // non-mutating EC2 actions: the bucket; its refill is EC2DescribeRateLimit
	RecordShards          = 16  // SHADOW#nn (awssdk records.go)
	ResourceShards        = 8   // RHIST#g#n (awssdk.ResourceShards)
	asgPageSize           = 50  // DescribeAutoScalingGroups' default page
	ec2FilterValues       = 200 // ids a DescribeInstances filter holds (awssdk)
	ec2ListPage           = 1_000
	ec2StatusIDs          = 100
	ddbConcurrency        = 8 // awssdk.TableOptions' default: history writes, record queries
	forecasterDeadlineS   = 55.0
	forecasterReserveS    = 10.0
	reconcilerDeadlineS   = 240.0
	reconcilerReserveS    = 30.0
	recordItemBytes       = 400  // a shadow record
	histItemBytes         = 65   // a HIST item
	rhistItemBytes        = 190  // an RHIST item
	heartbeatRecordBytes  = 100  // a heartbeat's JSON
	histMinuteTTLDays     = 35.0 // docs/DYNAMODB.md
	histHourTTLDays       = 400.0
	rhistTTLDays          = 3.0
	auditTTLDays          = 90.0
	queryPageBytes        = 1 << 20
	churnLambdaSeconds    = 1.0 // a launch or terminate invocation
	churnLambdaMB         = 256
	forecasterOwnPerGroup = 5 // up to 5 groups, OwnScaling asks per group
)

// Plan is what a deployment does and costs, by the model.
type Plan struct {
	Params       Params        `json:"parameters"`
	Prices       Prices        `json:"prices"`
	PriceSources []PriceSource `json:"price_sources"`
	Groups       int           `json:"groups"`

	Producer   Producer  `json:"producer"`
	Stream     Stream    `json:"stream"`
	Fanout     Fanout    `json:"fanout"`
	Forecaster Runs      `json:"forecaster"`
	Reconciler Runs      `json:"reconciler"`
	Lifecycle  Lifecycle `json:"lifecycle"`
	DynamoDB   DynamoDB  `json:"dynamodb"`
	Fleet      Fleet     `json:"fleet"`
	Cost       Cost      `json:"cost"`
	Limits     []Limit   `json:"limits"`
	FirstLimit Limit     `json:"first_limit"`
	Notes      []string  `json:"notes"`
	// Calls is every AWS call the plane makes, a second on average, by
	// "<service>.<Operation>" (the service's signing name, as
	// shared/testing/e2e/harness.Calls keys them).
	Calls map[string]float64 `json:"calls_per_second"`
}

// Producer is the producer library's side.
type Producer struct {
	Producers            int     `json:"producers"`
	MutationsPerInstance float64 `json:"mutations_per_instance_per_second"` // of an instance that puts any
	FlushIntervalS       float64 `json:"flush_interval_s"`
	BoundaryLagS         float64 `json:"minute_end_flush_lag_s"` // the write at a minute's end comes this long after it                  // linger + a PutRecords call
	MutationsPerFlush    float64 `json:"mutations_per_instance_per_flush"`
	MutationsPerRecord   float64 `json:"mutations_per_record"`
	RecordBytes          float64 `json:"record_bytes"` // a record's data, on average
	RecordsPerInstance   float64 `json:"records_per_instance_per_second"`
	HeartbeatsPerSecond  float64 `json:"heartbeats_per_second"`
	PutRecordsPerSecond  float64 `json:"put_records_per_second"`
	KeyBytesPerSecond    float64 `json:"partition_key_bytes_per_second"` // one instance's, data and key
}

// Stream is the Kinesis stream.
type Stream struct {
	Mode                string  `json:"mode"`
	Shards              int     `json:"shards"`
	ShardsNeeded        int     `json:"shards_needed"` // what the hottest shard needs, provisioned
	RecordsPerSecond    float64 `json:"records_per_second"`
	WriteBytesPerSecond float64 `json:"write_bytes_per_second"`
	KeysPerShard        float64 `json:"keys_per_shard"`
	HotShardBytes       float64 `json:"hottest_shard_bytes_per_second"`
	HotShardRecords     float64 `json:"hottest_shard_records_per_second"`
	BilledIngestGBMonth float64 `json:"billed_ingest_gb_month"`
	ExtendedGBMonth     float64 `json:"extended_retention_gb_month"`
	PutPayloadUnits     float64 `json:"put_payload_units_month"`
}

// Fanout is the fan-out function under its event source mapping.
type Fanout struct {
	Concurrency          int     `json:"concurrency"`        // shards × parallelization factor: the most at once
	Batchers             float64 `json:"batchers_per_shard"` // the factor's batchers that get partition keys
	Environments         float64 `json:"environments"`       // batchers in all: the execution environments kept busy
	Busy                 bool    `json:"busy"`               // polls back to back (never caught up)
	PollCycleS           float64 `json:"poll_cycle_s"`       // idle: from one idle wait to the next; busy: a round
	ReadsPerShard        float64 `json:"get_records_per_shard_per_second"`
	InvocationsPerSecond float64 `json:"invocations_per_second"`
	RecordsPerInvocation float64 `json:"records_per_invocation"`
	MutationsPerInvoc    float64 `json:"mutations_per_invocation"`
	ResourcesPerInvoc    float64 `json:"resources_per_invocation"`
	InvocationMs         float64 `json:"invocation_ms"`
	BatchIntervalS       float64 `json:"batch_interval_s"` // between two invocations of one batcher
	ConcurrencyUsed      float64 `json:"concurrency_used"` // executions running on average
	BusyFraction         float64 `json:"busy_fraction"`    // of a batcher's time
	GBSecondsMonth       float64 `json:"gb_seconds_month"`
	ResourcesPerEnv      float64 `json:"resources_per_environment"`
	FlushesPerMinute     float64 `json:"flushes_per_minute"` // per environment
	FlushIntervalS       float64 `json:"flush_interval_s"`
	BoundaryLagS         float64 `json:"minute_end_flush_lag_s"` // the write at a minute's end comes this long after it
	ResourcesPerFlush    float64 `json:"resources_per_flush"`
	GroupsPerFlush       float64 `json:"groups_per_flush"`
	GroupsPerInvocation  float64 `json:"groups_per_invocation"`
	WritesPerMinute      float64 `json:"history_writes_per_environment_per_minute"`
	ResolvePeriodS       float64 `json:"route_refresh_period_s"` // a resource's route read again
	RoutesClustered      bool    `json:"routes_clustered"`       // every batch holds every resource: refreshed together
	PayloadBytes         float64 `json:"payload_bytes"`
	CrossAZBytesPerSec   float64 `json:"cross_az_bytes_per_second"`
	WCU                  float64 `json:"wcu_per_second"`
	RCU                  float64 `json:"rcu_per_second"`
	// Calls are the fan-out's AWS calls (and the mapping's GetRecords), a second.
	Calls map[string]float64 `json:"calls_per_second"`
}

// Runs is a scheduled function (the forecaster, the reconciler).
type Runs struct {
	EveryS         float64 `json:"every_s"`
	RunS           float64 `json:"run_s"`
	DeadlineS      float64 `json:"deadline_s"` // the run must end by then (the reserve left)
	GBSecondsMonth float64 `json:"gb_seconds_month"`
	WCUPerRun      float64 `json:"wcu_per_run"`
	RCUPerRun      float64 `json:"rcu_per_run"`
	// Calls are one run's AWS calls (the agents' HTTP not included).
	Calls map[string]float64 `json:"calls_per_run"`
	// AgentRequests are HTTP requests to agents a run (not AWS).
	AgentRequests float64 `json:"agent_requests_per_run"`
}

// Lifecycle is live instance churn: launch and terminate events.
type Lifecycle struct {
	LaunchesPerSecond float64            `json:"launches_per_second"`
	Calls             map[string]float64 `json:"calls_per_second"`
	WCU               float64            `json:"wcu_per_second"`
	RCU               float64            `json:"rcu_per_second"`
}

// DynamoDB is the table's load.
type DynamoDB struct {
	WCU            float64     `json:"wcu_per_second"`
	RCU            float64     `json:"rcu_per_second"`
	HotWrite       Partition   `json:"hottest_write"`
	HotRead        Partition   `json:"hottest_read"`
	Partitions     []Partition `json:"partitions"`
	StorageGB      float64     `json:"storage_gb"`
	ReconcileBurst float64     `json:"reconcile_rcu_per_partition_burst"` // a SHADOW#nn partition's strongly consistent read, in about a second, every reconcile
}

// Partition is one partition key's load, a second.
type Partition struct {
	Key string  `json:"key"`
	WCU float64 `json:"wcu"`
	RCU float64 `json:"rcu"`
}

// Fleet is the live and the shadow instances.
type Fleet struct {
	LiveType       string  `json:"live_type"`
	ShadowType     string  `json:"shadow_type"`
	LiveUSDHour    float64 `json:"live_usd_hour"`
	ShadowUSDHour  float64 `json:"shadow_usd_hour"`
	LiveUSDMonth   float64 `json:"live_usd_month"`   // instances only
	ShadowUSDMonth float64 `json:"shadow_usd_month"` // instances and their gp3 root volumes
	Ratio          float64 `json:"shadow_to_live"`
}

// Cost is USD a month, by service.
type Cost struct {
	ByService map[string]float64 `json:"by_service"`
	Total     float64            `json:"total"`         // shadows and plane
	Plane     float64            `json:"plane"`         // everything but the shadow instances
	Ratio     float64            `json:"total_to_live"` // total / live fleet
	// OtherMode is the stream mode not chosen, and OtherModeKinesis the
	// stream's month in it (provisioned: the shards the hottest shard needs).
	OtherMode        string  `json:"other_stream_mode"`
	OtherModeKinesis float64 `json:"other_stream_mode_kinesis"`
}

// Services in Cost.ByService, in print order.
var Services = []string{"ec2_shadows", "kinesis", "lambda", "dynamodb", "cloudwatch", "data_transfer", "s3", "sqs", "kms_secrets"}

// Limit is one AWS limit and the plan's use of it.
type Limit struct {
	Name   string  `json:"name"`
	What   string  `json:"what"`
	Demand float64 `json:"demand"`
	Limit  float64 `json:"limit"`
	Unit   string  `json:"unit"`
	Use    float64 `json:"use"` // demand / limit
	Raise  string  `json:"raise"`
}

// Compute models the deployment p describes, with the instance types and
// prices of cat and prices.
func Compute(p Params, cat *catalog.Catalog, prices Prices) (Plan, error) {
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	if cat == nil {
		return Plan{}, errors.New("no instance catalog")
	}
	live, err := cat.Lookup(p.LiveType)
	if err != nil {
		return Plan{}, fmt.Errorf("live_type: %w", err)
	}
	sh, err := cat.ShadowFor(p.LiveType, catalog.Fractions{CPU: p.CPUFraction, Memory: p.MemoryFraction, ExcludeBurstable: p.ExcludeBurstable})
	if err != nil {
		return Plan{}, err
	}
	pl := Plan{Params: p, Prices: prices, PriceSources: PriceSources(), Groups: p.GroupCount(), Calls: map[string]float64{}}
	pl.producer()
	pl.stream()
	pl.fanout()
	pl.forecaster()
	pl.reconciler()
	pl.lifecycle()
	pl.dynamodb()
	pl.fleet(live, sh)
	pl.cost()
	pl.limits()
	pl.notes()
	return pl, nil
}

// distinct is the expected number of distinct values among n draws,
// uniform over k values.
func distinct(k, n float64) float64 {
	if k <= 0 || n <= 0 {
		return 0
	}
	if k <= 1 {
		return math.Min(1, n)
	}
	return math.Min(n, k*(1-math.Pow(1-1/k, n)))
}

// hashMax is the expected largest of buckets loads of mean each, keys
// hashed evenly (a normal approximation of the maximum).
func hashMax(mean float64, buckets int) float64 {
	if buckets <= 1 || mean <= 0 {
		return mean
	}
	return mean + math.Sqrt(2*math.Log(float64(buckets)))*math.Sqrt(mean)
}

// userRecordBytes is one user record of size b inside an aggregated
// record (mutation.Aggregator: the record message and its framing).
func userRecordBytes(b int) float64 {
	inner := protowire.SizeTag(1) + protowire.SizeVarint(0) + protowire.SizeTag(3) + protowire.SizeBytes(b)
	return float64(protowire.SizeTag(3) + protowire.SizeBytes(inner))
}

func (pl *Plan) producer() {
	p := pl.Params
	pr := &pl.Producer
	n := float64(p.Instances)
	active := n * (1 - p.IdleFraction)
	pr.FlushIntervalS = (p.LingerMs + p.PutLatencyMs) / 1000
	if active > 0 {
		pr.MutationsPerInstance = p.MutationsPerSecond / active
	}
	pr.MutationsPerFlush = pr.MutationsPerInstance * pr.FlushIntervalS
	key := p.PartitionKeyBytes
	fixed := float64(mutation.AggregatedOverhead + protowire.SizeTag(1) + protowire.SizeBytes(key))
	ub := userRecordBytes(p.MutationBytes)
	perFull := math.Floor((float64(p.RecordBytes-key) - fixed) / ub)
	recsPerFlush := 1.0
	switch {
	case pr.MutationsPerInstance == 0:
		pr.RecordBytes = float64(p.MutationBytes)
	case pr.MutationsPerFlush <= 1:
		// At most one mutation a flush: each alone, a plain JSON record.
		pr.RecordsPerInstance = pr.MutationsPerInstance
		pr.MutationsPerRecord = 1
		pr.RecordBytes = float64(p.MutationBytes)
	default:
		recsPerFlush = math.Ceil(pr.MutationsPerFlush / perFull)
		pr.RecordsPerInstance = recsPerFlush / pr.FlushIntervalS
		pr.MutationsPerRecord = pr.MutationsPerFlush / recsPerFlush
		pr.RecordBytes = fixed + pr.MutationsPerRecord*ub
	}
	idle := n * p.IdleFraction
	pr.HeartbeatsPerSecond = idle / (p.HeartbeatS + pr.FlushIntervalS)
	pr.KeyBytesPerSecond = pr.RecordsPerInstance * (pr.RecordBytes + float64(key))
	pr.Producers = (p.Instances + p.InstancesPerProducer - 1) / p.InstancesPerProducer
	// A producer puts every flush that has anything, one round of records
	// per record of an instance, one call per 500 records or 5 MiB.
	k := math.Min(float64(p.InstancesPerProducer), n)
	kActive := k * (1 - p.IdleFraction)
	nonEmpty := 1 - math.Pow(1-math.Min(1, pr.MutationsPerFlush), kActive)
	perCall := math.Max(math.Ceil(kActive/PutRecordsMaxRecords), math.Ceil(kActive*(pr.RecordBytes+float64(key))/PutRecordsMaxBytes))
	calls := float64(pr.Producers) * nonEmpty / pr.FlushIntervalS * recsPerFlush * math.Max(1, perCall)
	if kActive == 0 || pr.MutationsPerInstance == 0 {
		// Heartbeats alone: one call a heartbeat round.
		calls = float64(pr.Producers) / (p.HeartbeatS + pr.FlushIntervalS)
	}
	pr.PutRecordsPerSecond = calls
	pl.Calls["kinesis.PutRecords"] = calls
}

func (pl *Plan) stream() {
	p := pl.Params
	pr := pl.Producer
	st := &pl.Stream
	n := float64(p.Instances)
	key := float64(p.PartitionKeyBytes)
	active := n * (1 - p.IdleFraction)
	st.Mode = p.StreamMode
	st.RecordsPerSecond = active*pr.RecordsPerInstance + pr.HeartbeatsPerSecond
	st.WriteBytesPerSecond = active*pr.RecordsPerInstance*(pr.RecordBytes+key) + pr.HeartbeatsPerSecond*(heartbeatRecordBytes+key)
	perKeyBytes, perKeyRecs := st.WriteBytesPerSecond/n, st.RecordsPerSecond/n
	fits := func(s int) bool {
		hot := math.Max(1, hashMax(n/float64(s), s))
		return hot*perKeyBytes <= ShardWriteBytes && hot*perKeyRecs <= ShardWriteRecords
	}
	s := max(1, int(math.Ceil(st.WriteBytesPerSecond/ShardWriteBytes)), int(math.Ceil(st.RecordsPerSecond/ShardWriteRecords)))
	for !fits(s) && s < p.Instances {
		s = max(s+1, int(math.Ceil(float64(s)*1.02)))
	}
	s = min(s, max(p.Instances, 1))
	st.ShardsNeeded = s
	if p.StreamMode == OnDemand {
		peak := math.Max(st.WriteBytesPerSecond/ShardWriteBytes, st.RecordsPerSecond/ShardWriteRecords)
		s = max(p.OnDemandMinShards, int(math.Ceil(p.OnDemandCapacityFactor*peak)), st.ShardsNeeded)
	}
	st.Shards = s
	st.KeysPerShard = n / float64(s)
	hot := math.Max(1, hashMax(st.KeysPerShard, s))
	st.HotShardBytes, st.HotShardRecords = hot*perKeyBytes, hot*perKeyRecs
	// Billing: on-demand rounds each record up to 1 KB, provisioned counts
	// 25 KB PUT payload units.
	kb := math.Ceil(pr.RecordBytes/1024) * 1024
	billed := active*pr.RecordsPerInstance*kb + pr.HeartbeatsPerSecond*1024
	st.BilledIngestGBMonth = billed * secondsPerMonth / gb
	st.ExtendedGBMonth = st.WriteBytesPerSecond * (p.RetentionHours - 24) * 3600 / gb
	units := math.Ceil(pr.RecordBytes / 25_600)
	st.PutPayloadUnits = (active*pr.RecordsPerInstance*units + pr.HeartbeatsPerSecond) * secondsPerMonth
}

// poll is the mapping's polling of one shard and the fan-out's batches.
type poll struct {
	busy                                  bool
	cycle, readsPerSec, roundsPerSec      float64
	invPerRound, recordsPerInv, invPerSec float64
	seq                                   float64 // invocations one batcher makes in a round
	dur                                   float64 // seconds, one invocation
}

func (pl *Plan) fanout() {
	p := pl.Params
	pr := pl.Producer
	st := pl.Stream
	f := &pl.Fanout
	n := float64(p.Instances)
	s := float64(st.Shards)
	g := float64(pl.Groups)
	f.Concurrency = st.Shards * p.ParallelizationFactor
	f.Batchers = distinct(float64(p.ParallelizationFactor), st.KeysPerShard)
	f.Environments = s * f.Batchers
	f.ResourcesPerEnv = n / f.Environments
	rs := st.RecordsPerSecond / s // records a second, one shard
	mpr := 0.0                    // mutations a record, heartbeats included
	if st.RecordsPerSecond > 0 {
		mpr = p.MutationsPerSecond / st.RecordsPerSecond
	}
	producersPerShard := distinct(float64(pr.Producers), st.KeysPerShard)
	tau := pr.FlushIntervalS
	putRate := 0.0 // one producer's puts a second
	if pr.Producers > 0 {
		putRate = pr.PutRecordsPerSecond / float64(pr.Producers)
	}
	gr := p.GetRecordsLatencyMs / 1000
	idleWait := p.PollIdleMs / 1000
	share := math.Min(1, float64(p.FanoutMemoryMB)/p.LambdaVCPUMB)
	cpu := 1 / (p.FanoutMutationsPerCPU * share) // seconds a mutation
	rtt := p.AgentRoundTripMs / 1000
	ddb := p.DynamoDBLatencyMs / 1000
	api := p.APILatencyMs / 1000
	payloadCap := math.Floor(LambdaPayloadBytes / (pr.RecordBytes*4/3 + 400))
	batchCap := math.Max(1, math.Min(float64(p.BatchSize), payloadCap))

	var (
		po    poll
		extra float64 // resolve and flush time, an invocation
	)
	dur := func(records float64) float64 {
		if p.FanoutInvocationMs > 0 {
			return p.FanoutInvocationMs / 1000
		}
		u := distinct(f.ResourcesPerEnv, records)
		return math.Ceil(u/float64(p.RouterConcurrency))*rtt + records*mpr*cpu + extra
	}
	solve := func() {
		po = poll{dur: dur(1), seq: 1}
		for range 60 {
			// The chance that records came while a read and a delivery took:
			// a producer putting every flush puts every tau; one putting
			// now and then, at random.
			w := gr + po.dur
			one := math.Min(1, w/tau)
			if putRate < 0.999/tau {
				one = 1 - math.Exp(-w*putRate)
			}
			q := 1 - math.Pow(1-one, producersPerShard)
			if rs == 0 {
				q = 0
			}
			round := po.seq * po.dur // a round's batches: in parallel across batchers, in turn within one
			// Idle: wait, read (records), deliver, read again while records
			// came meanwhile (q each time), a last empty read.
			po.busy = q >= 0.999
			if !po.busy {
				rounds := 1 / (1 - q)
				reads := rounds + 1
				po.cycle = idleWait + reads*gr + rounds*round
				po.roundsPerSec, po.readsPerSec = rounds/po.cycle, reads/po.cycle
				if po.readsPerSec > ShardReadsPerSecond {
					po.busy = true
				}
			}
			if po.busy {
				// Back to back: a read and a round of batches, at most
				// ShardReadsPerSecond reads a second.
				po.cycle = math.Max(1.0/ShardReadsPerSecond, gr+round)
				po.roundsPerSec, po.readsPerSec = 1/po.cycle, 1/po.cycle
			}
			if rs == 0 {
				po.invPerRound, po.recordsPerInv, po.invPerSec = 0, 0, 0
				return
			}
			perRound := rs / po.roundsPerSec
			batchers := math.Max(distinct(f.Batchers, perRound), 1e-9)
			perBatcher := perRound / batchers
			po.seq = math.Max(1, math.Ceil(perBatcher/batchCap))
			po.invPerRound = batchers * po.seq
			po.recordsPerInv = perBatcher / po.seq
			po.invPerSec = po.roundsPerSec * po.invPerRound
			po.dur = dur(po.recordsPerInv)
		}
	}
	// The resolve and flush work an invocation does depends on how often
	// invocations come: iterate.
	for range 8 {
		solve()
		pl.fanoutCounters(po, rs, g)
		perEnvInv := po.invPerSec * s / f.Environments
		extra = 0
		if perEnvInv > 0 {
			resolves := f.Calls["ec2.DescribeInstances"] / (po.invPerSec * s)
			flushes := f.FlushesPerMinute / 60 / perEnvInv
			items := f.ResourcesPerFlush + 2*f.GroupsPerFlush
			extra = resolves*(math.Ceil(f.ResourcesPerInvoc/ddbConcurrency)*ddb+2*api) + flushes*math.Ceil(items/ddbConcurrency)*ddb
		}
	}
	solve()
	pl.fanoutCounters(po, rs, g)

	f.Busy = po.busy
	f.PollCycleS = po.cycle
	f.ReadsPerShard = po.readsPerSec
	f.InvocationsPerSecond = po.invPerSec * s
	f.RecordsPerInvocation = po.recordsPerInv
	f.MutationsPerInvoc = po.recordsPerInv * mpr
	f.InvocationMs = po.dur * 1000
	f.ConcurrencyUsed = f.InvocationsPerSecond * po.dur
	if f.Environments > 0 {
		f.BusyFraction = f.ConcurrencyUsed / f.Environments
	}
	billedMs := math.Ceil(f.InvocationMs) // Lambda bills by the millisecond
	f.GBSecondsMonth = f.InvocationsPerSecond * billedMs / 1000 * float64(p.FanoutMemoryMB) / 1024 * secondsPerMonth
	f.PayloadBytes = po.recordsPerInv * (pr.RecordBytes*4/3 + 400)
	cross := 1 - 1/float64(p.AvailabilityZones)
	f.CrossAZBytesPerSec = 2 * (p.MutationsPerSecond*float64(p.MutationBytes) + f.InvocationsPerSecond*f.ResourcesPerInvoc*2*p.DeliveryRequestBytes) * cross
	pl.Calls["kinesis.GetRecords"] = po.readsPerSec * s
	for k, v := range f.Calls {
		pl.Calls[k] += v
	}
	f.Calls["kinesis.GetRecords"] = po.readsPerSec * s
}

// fanoutCounters sets the fan-out's history writes and route lookups for
// the polling po.
func (pl *Plan) fanoutCounters(po poll, rs, g float64) {
	p := pl.Params
	f := &pl.Fanout
	n := float64(p.Instances)
	e := f.Environments
	k := f.ResourcesPerEnv
	f.Calls = map[string]float64{}
	if po.invPerSec == 0 || e == 0 {
		f.BatchIntervalS, f.FlushesPerMinute, f.ResourcesPerInvoc = 0, 0, 0
		f.WCU, f.RCU, f.WritesPerMinute = 0, 0, 0
		return
	}
	perEnvInv := po.invPerSec * float64(pl.Stream.Shards) / e
	tb := 1 / perEnvInv
	f.BatchIntervalS = tb
	f.ResourcesPerInvoc = distinct(k, po.recordsPerInv)
	f.GroupsPerInvocation = distinct(g, f.ResourcesPerInvoc)
	// Counters are written at the first batch FlushEvery after the last
	// write, and at the first batch after a minute ends, which restarts
	// the cadence. An idle shard's batches come once a poll cycle,
	// regularly: a write comes ceil(FlushEvery / cycle) cycles after the
	// last. A busy one's come every round, jittered: half a round late on
	// average. A minute's end falls anywhere in a cycle: its write comes
	// half a cycle after it.
	fe := p.FlushEveryS
	late := func(period float64) float64 {
		if po.busy {
			return tb / 2
		}
		return math.Ceil(period/po.cycle)*po.cycle - period
	}
	f.BoundaryLagS = tb / 2
	if !po.busy {
		f.BoundaryLagS = po.cycle / 2
	}
	if tb >= fe {
		f.FlushIntervalS = tb
		f.FlushesPerMinute = 60 / tb
	} else {
		f.FlushIntervalS = fe + late(fe)
		f.FlushesPerMinute = 1 + math.Floor((60-f.BoundaryLagS)/f.FlushIntervalS)
	}
	perEnvRecords := rs * float64(pl.Stream.Shards) / e
	f.ResourcesPerFlush = distinct(k, perEnvRecords*f.FlushIntervalS)
	f.GroupsPerFlush = distinct(g, f.ResourcesPerFlush)
	// Per minute: a per-resource item for each resource a flush touched,
	// a minute and an hour item for each group; the flush at a minute's
	// end writes the new minute's items of its batch too.
	rhist := f.FlushesPerMinute*f.ResourcesPerFlush + f.ResourcesPerInvoc
	hist := 2*f.FlushesPerMinute*f.GroupsPerFlush + f.GroupsPerInvocation
	f.WritesPerMinute = rhist + hist
	f.WCU = e * f.WritesPerMinute / 60
	f.Calls["dynamodb.UpdateItem"] = f.WCU
	// Routes are cached for RouteTTL; a resource's is read again at the
	// first batch that holds it after that (the cadence above, then as
	// many more batches as it takes to come in one).
	in := 1 - math.Pow(1-1/k, po.recordsPerInv) // a resource in a batch
	if k <= 1 {
		in = 1
	}
	wait := late(p.RouteTTLS) + tb*(1/math.Max(in, 1e-9)-1)
	f.ResolvePeriodS = p.RouteTTLS + wait
	f.RoutesClustered = in >= 0.999
	active := n * (1 - p.IdleFraction)
	idle := n * p.IdleFraction
	idlePeriod := math.Max(p.RouteTTLS, p.HeartbeatS+pl.Producer.FlushIntervalS)
	reads := active/f.ResolvePeriodS + idle/idlePeriod
	f.RCU = reads
	f.Calls["dynamodb.GetItem"] = reads
	lookups := math.Ceil(2 * k / ec2FilterValues)
	envGroups := distinct(g, k)
	if f.RoutesClustered {
		f.Calls["ec2.DescribeInstances"] = e / f.ResolvePeriodS * lookups
		f.Calls["autoscaling.DescribeAutoScalingGroups"] = e * envGroups / f.ResolvePeriodS
	} else {
		// Refreshes spread out: a batch looks up whatever came due since
		// the last one.
		perEnv := (1 - math.Exp(-k*tb/f.ResolvePeriodS)) / tb
		f.Calls["ec2.DescribeInstances"] = e * perEnv
		f.Calls["autoscaling.DescribeAutoScalingGroups"] = math.Min(e*envGroups/f.ResolvePeriodS, e*perEnv*envGroups)
	}
	if idle > 0 {
		f.Calls["ec2.DescribeInstances"] += idle / idlePeriod
	}
}

func (pl *Plan) forecaster() {
	p := pl.Params
	g := float64(pl.Groups)
	n := float64(p.Instances)
	r := &pl.Forecaster
	r.EveryS = 60
	r.DeadlineS = forecasterDeadlineS - forecasterReserveS
	learn := math.Round(g * p.LearnFraction)
	c := map[string]float64{}
	c["autoscaling.DescribeAutoScalingGroups"] = math.Ceil(g / asgPageSize)
	if g <= forecasterOwnPerGroup {
		c["autoscaling.DescribePolicies"] = g
		c["autoscaling.DescribeScheduledActions"] = g
	} else {
		c["autoscaling.DescribePolicies"] = math.Max(1, math.Ceil(g*p.PoliciesPerGroup/100))
		c["autoscaling.DescribeScheduledActions"] = math.Max(1, math.Ceil(g*p.ScheduledActionsPerGroup/100))
	}
	if learn > 0 {
		c["monitoring.GetMetricData"] = math.Ceil(learn / 500)
	}
	c["ec2.DescribeLaunchTemplateVersions"] = g * r.EveryS / p.LaunchTemplateCacheS
	// Per group, a warm run (one new minute): the state, the group's
	// minute, its per-resource minutes (one Query a shard), the state
	// saved, the decision audited.
	perShard := n / g / ResourceShards * rhistItemBytes // bytes a shard's minute
	rhistPages := math.Max(1, math.Ceil(perShard/queryPageBytes))
	c["dynamodb.GetItem"] = g
	c["dynamodb.Query"] = g * (1 + ResourceShards*rhistPages)
	c["dynamodb.PutItem"] = 2 * g
	r.Calls = c
	r.RCUPerRun = g * (math.Ceil(p.StateBytes/4096) + 0.5 + ResourceShards*0.5*math.Max(1, math.Ceil(perShard/4096)))
	r.WCUPerRun = g * (math.Ceil(p.StateBytes/1024) + math.Ceil(p.AuditBytes/1024))
	api := p.APILatencyMs / 1000
	ddb := p.DynamoDBLatencyMs / 1000
	fixed := (c["autoscaling.DescribeAutoScalingGroups"] + c["autoscaling.DescribePolicies"] + c["autoscaling.DescribeScheduledActions"] + c["monitoring.GetMetricData"]) * api
	perGroup := 5*ddb + p.ForecasterCPUMsPerGroup/1000 + r.EveryS/p.LaunchTemplateCacheS*api
	r.RunS = fixed + math.Ceil(g/float64(p.ForecasterConcurrency))*perGroup
	r.GBSecondsMonth = secondsPerMonth / r.EveryS * r.RunS * float64(p.ForecasterMemoryMB) / 1024
	for k, v := range c {
		pl.Calls[k] += v / r.EveryS
	}
}

func (pl *Plan) reconciler() {
	p := pl.Params
	g := float64(pl.Groups)
	n := float64(p.Instances)
	r := &pl.Reconciler
	r.EveryS = p.ReconcileEveryS
	r.DeadlineS = reconcilerDeadlineS - reconcilerReserveS
	c := map[string]float64{}
	azs := float64(p.AvailabilityZones)
	c["dynamodb.GetItem"] = azs // the pools' slot counts
	c["autoscaling.DescribeAutoScalingGroups"] = math.Ceil(g / asgPageSize)
	c["ec2.DescribeInstances"] = math.Ceil(n/ec2FilterValues) + math.Ceil(n/ec2ListPage) // the live instances; the shadows by tag
	c["ec2.DescribeInstanceStatus"] = 2 * math.Ceil(n/ec2StatusIDs)
	perPartition := n / RecordShards * recordItemBytes
	// The record shards, and the earlier version's single record partition
	// (empty once migrated: one strongly consistent Query, 1 RCU).
	c["dynamodb.Query"] = RecordShards*math.Max(1, math.Ceil(perPartition/queryPageBytes)) + 1
	r.Calls = c
	r.AgentRequests = 2 * n // each active pair's states
	r.RCUPerRun = azs + RecordShards*math.Max(1, math.Ceil(perPartition/4096)) + 1
	api := p.APILatencyMs / 1000
	ddb := p.DynamoDBLatencyMs / 1000
	// EC2 answers a burst of EC2DescribeBucket calls, then its refill rate.
	ec2Time := func(calls float64) float64 {
		return calls*api + math.Max(0, calls-EC2DescribeBucket)/p.EC2DescribeRateLimit
	}
	r.RunS = ddb + azs*ddb + c["autoscaling.DescribeAutoScalingGroups"]*api + ec2Time(c["ec2.DescribeInstances"]) + ec2Time(c["ec2.DescribeInstanceStatus"]) +
		math.Ceil(c["dynamodb.Query"]/ddbConcurrency)*ddb + r.AgentRequests/float64(p.ReconcilerAgentConc)*p.AgentStateMs/1000
	r.GBSecondsMonth = secondsPerMonth / r.EveryS * r.RunS * float64(p.ReconcilerMemoryMB) / 1024
	for k, v := range c {
		pl.Calls[k] += v / r.EveryS
	}
}

// lifecycle is the launch and terminate handlers' work for live instance
// churn: each launch claims a slot and a record and runs a shadow; each
// termination retires them.
func (pl *Plan) lifecycle() {
	p := pl.Params
	l := &pl.Lifecycle
	l.LaunchesPerSecond = float64(p.Instances) * p.LaunchesPerInstanceDay / 86_400
	x := l.LaunchesPerSecond
	l.Calls = map[string]float64{
		"ec2.DescribeInstances": 2 * x, "ec2.RunInstances": x, "ec2.TerminateInstances": x,
		"dynamodb.GetItem": 2 * x, "dynamodb.UpdateItem": 2 * x, "dynamodb.PutItem": 3 * x, "dynamodb.DeleteItem": x,
	}
	l.WCU = 6 * x
	l.RCU = 2 * x
	for k, v := range l.Calls {
		pl.Calls[k] += v
	}
}

func (pl *Plan) dynamodb() {
	p := pl.Params
	f := pl.Fanout
	d := &pl.DynamoDB
	n := float64(p.Instances)
	g := float64(pl.Groups)
	d.WCU = f.WCU + pl.Forecaster.WCUPerRun/pl.Forecaster.EveryS + pl.Lifecycle.WCU
	d.RCU = f.RCU + pl.Forecaster.RCUPerRun/pl.Forecaster.EveryS + pl.Reconciler.RCUPerRun/pl.Reconciler.EveryS + pl.Lifecycle.RCU
	ng := n / g // the largest group: groups of equal size
	var parts []Partition
	if f.Environments > 0 && f.InvocationsPerSecond > 0 {
		k := f.ResourcesPerEnv
		touched := f.ResourcesPerFlush / k // a resource's share of the flushes that touch it
		inBatch := f.ResourcesPerInvoc / k
		envsOfGroup := distinct(f.Environments, ng)
		perEnv := ng / envsOfGroup // the group's resources in one of those
		pt := 1 - math.Pow(1-touched, perEnv)
		pb := 1 - math.Pow(1-inBatch, perEnv)
		parts = append(parts,
			Partition{Key: "HIST#<group>", WCU: envsOfGroup * (2*f.FlushesPerMinute*pt + pb) / 60, RCU: 0.5 / 60},
			Partition{Key: "RHIST#<group>#<shard>", WCU: hashMax(ng*(1-p.IdleFraction)/ResourceShards, ResourceShards) * (f.FlushesPerMinute*touched + inBatch) / 60,
				RCU: 0.5 * math.Max(1, math.Ceil(ng/ResourceShards*rhistItemBytes/4096)) / 60})
	}
	perShadow := hashMax(n/RecordShards, RecordShards)
	parts = append(parts,
		Partition{Key: "SHADOW#<nn>", WCU: 4 * pl.Lifecycle.LaunchesPerSecond / RecordShards,
			RCU: perShadow/n*f.RCU + 2*pl.Lifecycle.LaunchesPerSecond/RecordShards},
		Partition{Key: "STATE#<group>", WCU: math.Ceil(p.StateBytes/1024) / 60, RCU: math.Ceil(p.StateBytes/4096) / 60},
		Partition{Key: "AUDIT#<group>", WCU: math.Ceil(p.AuditBytes/1024) / 60},
		Partition{Key: "POOL#<az>", WCU: 2 * pl.Lifecycle.LaunchesPerSecond / float64(p.AvailabilityZones), RCU: 1 / pl.Reconciler.EveryS},
	)
	d.Partitions = parts
	d.HotWrite, d.HotRead = parts[0], parts[0]
	for _, pt := range parts {
		if pt.WCU > d.HotWrite.WCU {
			d.HotWrite = pt
		}
		if pt.RCU > d.HotRead.RCU {
			d.HotRead = pt
		}
	}
	d.ReconcileBurst = math.Ceil(perShadow * recordItemBytes / 4096)
	active := n * (1 - p.IdleFraction)
	bytes := g*((24*60*histMinuteTTLDays)+24*histHourTTLDays)*histItemBytes +
		active*24*60*rhistTTLDays*rhistItemBytes +
		g*24*60*auditTTLDays*p.AuditBytes + g*p.StateBytes + n*recordItemBytes
	d.StorageGB = bytes / gb
}

func (pl *Plan) fleet(live, sh catalog.InstanceType) {
	p := pl.Params
	n := float64(p.Instances)
	fl := &pl.Fleet
	fl.LiveType, fl.ShadowType = live.Name, sh.Name
	fl.LiveUSDHour, fl.ShadowUSDHour = live.USDPerHour, sh.USDPerHour
	fl.LiveUSDMonth = n * live.USDPerHour * hoursPerMonth
	fl.ShadowUSDMonth = n * (sh.USDPerHour*hoursPerMonth + p.ShadowVolumeGiB*pl.Prices.EBSGP3GBMonth)
	fl.Ratio = fl.ShadowUSDMonth / fl.LiveUSDMonth
}

// lambdaDuration prices GB-seconds a month on the tiers.
func lambdaDuration(gbs float64, pr Prices) float64 {
	const t1, t2 = 7.5e9, 11.25e9
	c := math.Min(gbs, t1) * pr.LambdaGBSecondTier1
	if gbs > t1 {
		c += math.Min(gbs-t1, t2) * pr.LambdaGBSecondTier2
	}
	if gbs > t1+t2 {
		c += (gbs - t1 - t2) * pr.LambdaGBSecondTier3
	}
	return c
}

// metricsMonth prices custom metrics on the tiers.
func metricsMonth(m float64, pr Prices) float64 {
	tiers := []struct{ upTo, price float64 }{{10_000, pr.MetricMonthTier1}, {250_000, pr.MetricMonthTier2}, {1_000_000, pr.MetricMonthTier3}, {math.Inf(1), pr.MetricMonthTier4}}
	c, from := 0.0, 0.0
	for _, t := range tiers {
		if m <= from {
			break
		}
		c += (math.Min(m, t.upTo) - from) * t.price
		from = t.upTo
	}
	return c
}

// kinesisCost is the stream's month in a mode, with shards (provisioned).
func (pl *Plan) kinesisCost(mode string, shards int) float64 {
	p, pr, st := pl.Params, pl.Prices, pl.Stream
	if mode == OnDemand {
		return hoursPerMonth*pr.KinesisStreamHour + st.BilledIngestGBMonth*(pr.KinesisIngestGB+pr.KinesisRetrievalGB) + st.ExtendedGBMonth*pr.KinesisExtendedGBMonth
	}
	c := float64(shards)*hoursPerMonth*pr.KinesisShardHour + st.PutPayloadUnits/1e6*pr.KinesisPutUnitMillion
	if p.RetentionHours > 24 {
		c += float64(shards) * hoursPerMonth * pr.KinesisExtendedShardHour
	}
	return c
}

func (pl *Plan) cost() {
	p := pl.Params
	pr := pl.Prices
	st := pl.Stream
	f := pl.Fanout
	g := float64(pl.Groups)
	c := map[string]float64{}
	c["ec2_shadows"] = pl.Fleet.ShadowUSDMonth
	c["kinesis"] = pl.kinesisCost(p.StreamMode, st.Shards)
	other, shards := Provisioned, st.ShardsNeeded
	if p.StreamMode == Provisioned {
		other, shards = OnDemand, max(p.OnDemandMinShards, st.ShardsNeeded)
	}
	pl.Cost.OtherMode, pl.Cost.OtherModeKinesis = other, pl.kinesisCost(other, shards)
	runsF := secondsPerMonth / pl.Forecaster.EveryS
	runsR := secondsPerMonth / pl.Reconciler.EveryS
	churn := 2 * pl.Lifecycle.LaunchesPerSecond * secondsPerMonth
	requests := f.InvocationsPerSecond*secondsPerMonth + runsF + runsR + churn
	gbs := f.GBSecondsMonth + pl.Forecaster.GBSecondsMonth + pl.Reconciler.GBSecondsMonth + churn*churnLambdaSeconds*churnLambdaMB/1024
	c["lambda"] = requests/1e6*pr.LambdaRequestMillion + lambdaDuration(gbs, pr)
	d := pl.DynamoDB
	c["dynamodb"] = d.WCU*secondsPerMonth/1e6*pr.DynamoDBWriteMillion + d.RCU*secondsPerMonth/1e6*pr.DynamoDBReadMillion +
		d.StorageGB*(pr.DynamoDBGBMonth+pr.DynamoDBPITRGBMonth)
	learn := math.Round(g * p.LearnFraction)
	logsGB := (f.InvocationsPerSecond*secondsPerMonth*(p.FanoutLogBytes+f.GroupsPerInvocation*p.FanoutEMFBytes) + runsF*g*p.ForecasterLogBytes + runsR*p.ReconcilerLogBytes) / gb
	c["cloudwatch"] = metricsMonth(g*p.MetricsPerGroup+p.PlaneMetrics, pr) + learn*runsF/1000*pr.GetMetricDataThousand +
		logsGB*(pr.LogsIngestGB+pr.LogsStorageGBMonth) + p.Alarms*pr.AlarmMonth + p.Dashboards*pr.DashboardMonth
	c["data_transfer"] = f.CrossAZBytesPerSec * secondsPerMonth / gb * pr.InterAZGB
	c["s3"] = 0 // dead letters too large for a message, and the mapping's on-failure records: none in a steady state
	c["sqs"] = p.DeadLettersPerSecond * secondsPerMonth / 10 / 1e6 * pr.SQSRequestMillion
	enrollments := 2 * pl.Lifecycle.LaunchesPerSecond * secondsPerMonth // a live and a shadow agent each launch
	c["kms_secrets"] = pr.KMSKeyMonth + pr.SecretMonth + 2*enrollments/1e4*pr.KMSRequestTenThousand
	pl.Cost.ByService = c
	for _, s := range Services {
		pl.Cost.Total += c[s]
	}
	pl.Cost.Plane = pl.Cost.Total - c["ec2_shadows"]
	pl.Cost.Ratio = pl.Cost.Total / pl.Fleet.LiveUSDMonth
}

func (pl *Plan) limits() {
	p := pl.Params
	st := pl.Stream
	f := pl.Fanout
	d := pl.DynamoDB
	var ls []Limit
	add := func(name, what string, demand, limit float64, unit, raise string) {
		ls = append(ls, Limit{Name: name, What: what, Demand: demand, Limit: limit, Unit: unit, Use: demand / limit, Raise: raise})
	}
	add("kinesis.partition_key_bytes", "one live instance's writes (one partition key: one shard)", pl.Producer.KeyBytesPerSecond, ShardWriteBytes, "bytes/s",
		"cannot be raised: an instance's mutations share its partition key and so one shard; put fewer or smaller mutations per instance")
	add("kinesis.partition_key_records", "one live instance's records a second", pl.Producer.RecordsPerInstance, ShardWriteRecords, "records/s",
		"keep the producer library's aggregation on (it puts at most a record an instance a flush)")
	if p.StreamMode == OnDemand {
		add("kinesis.on_demand_write", "the stream's writes (on-demand ceiling)", st.WriteBytesPerSecond, p.OnDemandMaxWriteMBps*1e6, "bytes/s",
			"a support ticket (on-demand streams reach 10 GB/s in us-east-1, us-west-2 and eu-west-1, 200 MB/s elsewhere); or split the fleet over two stacks")
	} else {
		add("kinesis.shards", "provisioned shards (account quota)", float64(st.Shards), p.KinesisShardQuota, "shards",
			"Service Quotas: Kinesis Data Streams 'Shards per Region'")
	}
	add("kinesis.shard_read_bytes", "bytes read a second on the hottest shard", st.HotShardBytes, ShardReadBytes, "bytes/s",
		"more shards (provisioned), or fewer bytes a mutation")
	add("lambda.concurrency", "the fan-out's batchers (shards × parallelization factor) with the forecaster and the reconciler", float64(f.Concurrency)+2, p.LambdaConcurrencyLimit, "executions",
		"Service Quotas: Lambda 'Concurrent executions' (1,000 by default); or a lower parallelization factor, or a provisioned stream with fewer shards")
	add("lambda.fanout_busy", "a fan-out batcher's share of time busy", f.BusyFraction, 1, "fraction",
		"more fan-out memory (more CPU), a higher parallelization factor, more shards")
	add("lambda.fanout_payload", "an invocation's payload", f.PayloadBytes, LambdaPayloadBytes, "bytes",
		"the mapping splits its batches below 6 MB itself; smaller records (record_bytes) make it split less")
	add("ec2.describe_instances", "EC2 DescribeInstances a second: the fan-out's route refreshes, the reconciler, launches", pl.Calls["ec2.DescribeInstances"], p.EC2DescribeRateLimit, "calls/s",
		"a longer fan-out route cache cuts these calls in proportion: deploy with -c routeCacheSeconds=N (SHADOWSCALE_ROUTE_TTL; plan it with --set route_ttl_s=N); or ask AWS Support to raise the account's EC2 API request rate for DescribeInstances (EC2 API throttling)")
	add("dynamodb.partition_write", "the hottest partition's writes ("+d.HotWrite.Key+")", d.HotWrite.WCU, PartitionWCU, "WCU/s",
		"more groups of fewer instances (HIST#<group>), more resource shards (awssdk.ResourceShards, a code change: RHIST#<group>#<n>)")
	add("dynamodb.partition_read", "the hottest partition's reads ("+d.HotRead.Key+")", d.HotRead.RCU, PartitionRCU, "RCU/s",
		"a longer fan-out route cache for SHADOW#<nn>: -c routeCacheSeconds=N (route_ttl_s)")
	add("dynamodb.table_write", "the table's writes (account's table-level quota)", d.WCU, p.DynamoDBTableWCULimit, "WCU/s",
		"Service Quotas: DynamoDB 'Table-level write throughput limit'")
	add("dynamodb.table_read", "the table's reads (account's table-level quota)", d.RCU, p.DynamoDBTableRCULimit, "RCU/s",
		"Service Quotas: DynamoDB 'Table-level read throughput limit'")
	add("forecaster.run", "a forecaster run (55 s timeout, 10 s reserve)", pl.Forecaster.RunS, pl.Forecaster.DeadlineS, "s",
		"forecasterConcurrency (SHADOWSCALE_FORECASTER_CONCURRENCY, up to 64); groups it cannot start are deferred to the next minute")
	add("reconciler.run", "a reconciler run (4 min timeout, 30 s reserve)", pl.Reconciler.RunS, pl.Reconciler.DeadlineS, "s",
		"actions it cannot start are deferred to the next run; agent states are read 8 at a time (ReconcilerOptions.AgentConcurrency, a code change)")
	sort.SliceStable(ls, func(a, b int) bool { return ls[a].Use > ls[b].Use })
	pl.Limits = ls
	pl.FirstLimit = ls[0]
}

func (pl *Plan) notes() {
	st := pl.Stream
	var ns []string
	if st.Mode == OnDemand && st.WriteBytesPerSecond > 4e6 {
		doublings := math.Ceil(math.Log2(st.WriteBytesPerSecond / 4e6))
		ns = append(ns, fmt.Sprintf("a new on-demand stream takes 4 MB/s and doubles its capacity within 15 minutes: %.0f doublings (about %.0f minutes of throttled writes) to reach this load; deploy it first with -c streamMode=provisioned -c streamShards=%d, then switch it to on-demand, to start warm", doublings, doublings*15, st.ShardsNeeded))
	}
	if pl.DynamoDB.WCU > 4_000 || pl.DynamoDB.RCU > 12_000 {
		ns = append(ns, "a new on-demand table takes 4,000 writes and 12,000 reads a second and doubles its previous peak within 30 minutes: warm it (warm throughput) before enrolling this fleet")
	}
	if r := pl.Calls["autoscaling.DescribeAutoScalingGroups"]; r > 10 {
		ns = append(ns, fmt.Sprintf("the fan-out's group checks make %.0f DescribeAutoScalingGroups calls a second: Auto Scaling publishes no rate limit for it; watch for throttling", r))
	}
	if c, o := pl.Cost.ByService["kinesis"], pl.Cost.OtherModeKinesis; o < c/2 {
		how := "-c streamMode=on-demand"
		if pl.Cost.OtherMode == Provisioned {
			how = fmt.Sprintf("-c streamMode=provisioned -c streamShards=%d", st.ShardsNeeded)
		}
		ns = append(ns, fmt.Sprintf("a %s stream would cost %.0f USD a month instead of %.0f: deploy with %s (docs/INFRA.md, \"Stream mode and route cache\")", pl.Cost.OtherMode, o, c, how))
	}
	ns = append(ns, "the shadows' share counts instances and their root volumes against the live instances alone (their volumes unknown): an upper bound")
	pl.Notes = ns
}
