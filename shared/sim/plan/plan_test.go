package plan

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
)

func compute(t *testing.T, p Params) Plan {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	pl, err := Compute(p, cat, DefaultPrices())
	if err != nil {
		t.Fatalf("Compute(%+v): %v", p, err)
	}
	return pl
}

// target is the fleet: 10,000 live instances, a million mutations
// a second.
func target(liveType string) Params {
	p := Defaults()
	p.Instances, p.MutationsPerSecond, p.LiveType = 10_000, 1_000_000, liveType
	return p
}

// TestTargetFleet: the 10,000-instance, 1M mutations/s plan at the
// defaults, for both live types of the issue: every line, the figures the
// model must give at these parameters, the hottest partition under its
// limits, the shadows under 12% of the live fleet.
func TestTargetFleet(t *testing.T) {
	cases := []struct {
		name       string
		p          Params
		shadowType string
		maxRatio   float64
	}{
		{"m7g.xlarge", target("m7g.xlarge"), "t4g.small", 0.12},
		{"m5.xlarge", target("m5.xlarge"), "t3a.small", 0.12},
		{"m7g.xlarge in one group", func() Params { p := target("m7g.xlarge"); p.Groups = 1; return p }(), "t4g.small", 0.12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl := compute(t, c.p)
			// The producer flushes every 100 ms linger + 20 ms put: each
			// instance's 100 mutations a second go in 8.33 records of 12.
			if got := pl.Stream.RecordsPerSecond; math.Abs(got-10_000/0.12) > 1 {
				t.Errorf("records/s %v, want 83,333 (10,000 instances, a record each every 120 ms)", got)
			}
			if got := pl.Producer.MutationsPerRecord; math.Abs(got-12) > 1e-9 {
				t.Errorf("mutations a record %v, want 12", got)
			}
			// On-demand shards: twice the peak in MiB/s (the write bound).
			wantShards := int(math.Ceil(2 * pl.Stream.WriteBytesPerSecond / mib))
			if pl.Stream.Shards != wantShards || pl.Fanout.Concurrency != 4*wantShards {
				t.Errorf("shards %d, concurrency %d; want %d and %d", pl.Stream.Shards, pl.Fanout.Concurrency, wantShards, 4*wantShards)
			}
			if !pl.Fanout.Busy || math.Abs(pl.Fanout.ReadsPerShard-ShardReadsPerSecond) > 1e-9 {
				t.Errorf("fan-out busy %v, %v reads a shard a second: want back to back at Kinesis' 5", pl.Fanout.Busy, pl.Fanout.ReadsPerShard)
			}
			if pl.Fanout.FlushesPerMinute != 12 {
				t.Errorf("flushes a minute %v, want 12 (every 5.1 s, the minute's end included)", pl.Fanout.FlushesPerMinute)
			}
			if pl.DynamoDB.HotWrite.WCU >= PartitionWCU || pl.DynamoDB.HotRead.RCU >= PartitionRCU {
				t.Errorf("hottest partitions %+v and %+v: want under 1,000 WCU/s and 3,000 RCU/s", pl.DynamoDB.HotWrite, pl.DynamoDB.HotRead)
			}
			if pl.Fleet.ShadowType != c.shadowType || pl.Fleet.Ratio > c.maxRatio || pl.Fleet.Ratio <= 0 {
				t.Errorf("shadows %s at %.4f of the live fleet, want %s at most %.2f", pl.Fleet.ShadowType, pl.Fleet.Ratio, c.shadowType, c.maxRatio)
			}
			// The shadow fleet: instances and 8 GiB gp3 each, 730 h.
			cat, _ := catalog.Default()
			st, _ := cat.Lookup(c.shadowType)
			if want := 10_000 * (st.USDPerHour*730 + 8*0.08); math.Abs(pl.Fleet.ShadowUSDMonth-want) > 0.01 {
				t.Errorf("shadow fleet %v USD, want %v", pl.Fleet.ShadowUSDMonth, want)
			}
			if pl.FirstLimit.Name != "ec2.describe_instances" || pl.FirstLimit.Use <= 1 {
				t.Errorf("first limit %+v: want EC2 DescribeInstances, over its 20/s", pl.FirstLimit)
			}
			sum := 0.0
			for _, s := range Services {
				if pl.Cost.ByService[s] < 0 {
					t.Errorf("cost %s %v", s, pl.Cost.ByService[s])
				}
				sum += pl.Cost.ByService[s]
			}
			if math.Abs(sum-pl.Cost.Total) > 1e-6 || pl.Cost.Plane >= pl.Cost.Total {
				t.Errorf("total %v, plane %v, sum of services %v", pl.Cost.Total, pl.Cost.Plane, sum)
			}
			assertLines(t, pl)
		})
	}
}

// wantLines are the figures the issue asks for, each a line.
var wantLines = []string{
	"stream.mode", "stream.shards", "stream.records_per_second",
	"fanout.concurrency", "fanout.lambda_gb_seconds_month",
	"dynamodb.writes_per_second", "dynamodb.reads_per_second", "dynamodb.hottest_partition_wcu", "dynamodb.hottest_partition_rcu",
	"shadow.instance_type", "shadow.fleet_usd_month", "shadow.ratio_to_live",
	"cost.ec2_shadows_usd_month", "cost.kinesis_usd_month", "cost.lambda_usd_month", "cost.dynamodb_usd_month", "cost.cloudwatch_usd_month",
	"cost.s3_usd_month", "cost.sqs_usd_month", "cost.total_usd_month", "prices.source", "prices.date",
	"limit.first", "limit.first_raise",
}

// assertLines: every line is `name value unit` (a value with spaces is
// quoted), names unique, every wanted name there.
func assertLines(t *testing.T, pl Plan) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(pl.String()), "\n") {
		fields := splitQuoted(line)
		if len(fields) != 3 {
			t.Errorf("line %q: %d fields, want name value unit", line, len(fields))
			continue
		}
		if seen[fields[0]] {
			t.Errorf("line %s twice", fields[0])
		}
		seen[fields[0]] = true
		if fields[1] == "" || fields[1] == "NaN" || strings.Contains(fields[1], "Inf") {
			t.Errorf("line %q: no value", line)
		}
	}
	for _, n := range wantLines {
		if !seen[n] {
			t.Errorf("no line %s", n)
		}
	}
}

// splitQuoted splits a line on blanks, keeping a double-quoted field whole.
func splitQuoted(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := 1
			for end < len(s) && (s[end] != '"' || s[end-1] == '\\') {
				end++
			}
			out = append(out, s[:min(end+1, len(s))])
			s = s[min(end+1, len(s)):]
			continue
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

// TestMonotonic: more mutations (the fleet fixed), or more instances (the
// mutations per instance fixed), never need fewer records, shards,
// fan-out GB-seconds or writes, nor cost less. (Invocations may fall: a
// busier shard's rounds take longer, with more records each.)
func TestMonotonic(t *testing.T) {
	type figs struct{ records, bytes, shards, gbs, wcu, rcu, cost, shadows float64 }
	of := func(pl Plan) figs {
		return figs{pl.Stream.RecordsPerSecond, pl.Stream.WriteBytesPerSecond, float64(pl.Stream.Shards), pl.Fanout.GBSecondsMonth,
			pl.DynamoDB.WCU, pl.DynamoDB.RCU, pl.Cost.Total, pl.Fleet.ShadowUSDMonth}
	}
	cases := []struct {
		name  string
		steps []Params
	}{}
	for _, mode := range []string{OnDemand, Provisioned} {
		var byRate, byFleet []Params
		for _, rate := range []float64{0, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 3_000_000} {
			p := target("m7g.xlarge")
			p.StreamMode, p.MutationsPerSecond = mode, rate
			byRate = append(byRate, p)
		}
		for _, n := range []int{1, 10, 100, 1_000, 10_000, 50_000} {
			p := Defaults()
			p.StreamMode, p.Instances, p.MutationsPerSecond, p.Groups = mode, n, float64(n)*100, 1
			byFleet = append(byFleet, p)
		}
		cases = append(cases, struct {
			name  string
			steps []Params
		}{"mutations, " + mode, byRate}, struct {
			name  string
			steps []Params
		}{"instances, " + mode, byFleet})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var prev *figs
			for _, p := range c.steps {
				f := of(compute(t, p))
				if prev != nil {
					for i, pair := range [][2]float64{{prev.records, f.records}, {prev.bytes, f.bytes}, {prev.shards, f.shards}, {prev.gbs, f.gbs},
						{prev.wcu, f.wcu}, {prev.rcu, f.rcu}, {prev.cost, f.cost}, {prev.shadows, f.shadows}} {
						if pair[1] < pair[0]*(1-1e-9) {
							t.Errorf("at %d instances, %v mutations/s: figure %d fell from %v to %v", p.Instances, p.MutationsPerSecond, i, pair[0], pair[1])
						}
					}
				}
				prev = &f
			}
		})
	}
}

// TestShardsAtKinesisLimits: a provisioned stream gets the fewest shards
// whose hottest one (the partition keys hashed unevenly) stays under 1 MiB
// and 1,000 records a second, whichever binds; on-demand gets twice the
// peak, at least 4.
func TestShardsAtKinesisLimits(t *testing.T) {
	cases := []struct {
		name           string
		instances      int
		rate           float64 // mutations a second, all instances
		bytes          int
		mode           string
		bytesBound     bool // else records bound
		wantShardsLow  int  // at least this (the total over the shard limit)
		wantShardsHigh int  // at most this
	}{
		// 100 MiB/s of aggregated records: at least 100 shards; 10,000
		// keys hashed over them, the hottest holds about 40% more.
		{"bytes bound", 10_000, 100 * mib / 500, 500, Provisioned, true, 100, 200},
		// The same over 1,000 keys: about 3.5 a shard, the hottest 10.
		{"few keys", 1_000, 100 * mib / 500, 500, Provisioned, true, 250, 320},
		// 5 mutations a second each: under one a flush, each its own
		// record: 500,000 records/s, at least 500 shards.
		{"records bound", 100_000, 500_000, 100, Provisioned, false, 500, 700},
		{"one shard", 10, 100, 200, Provisioned, true, 1, 1},
		{"on-demand floor", 10, 100, 200, OnDemand, true, 4, 4},
		{"on-demand twice the peak", 10_000, 100 * mib / 500, 500, OnDemand, true, 200, 220},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Defaults()
			p.Instances, p.MutationsPerSecond, p.MutationBytes, p.StreamMode, p.Groups = c.instances, c.rate, c.bytes, c.mode, 1
			pl := compute(t, p)
			st := pl.Stream
			if st.Shards < c.wantShardsLow || st.Shards > c.wantShardsHigh {
				t.Fatalf("%d shards (needed %d) for %.1f MiB/s and %.0f records/s, want %d to %d", st.Shards, st.ShardsNeeded, st.WriteBytesPerSecond/mib, st.RecordsPerSecond, c.wantShardsLow, c.wantShardsHigh)
			}
			if c.mode == OnDemand && st.Shards != max(4, st.ShardsNeeded, int(math.Ceil(2*math.Max(st.WriteBytesPerSecond/ShardWriteBytes, st.RecordsPerSecond/ShardWriteRecords)))) {
				t.Errorf("on-demand shards %d: want the most of 4, twice the peak and the %d the hottest shard needs", st.Shards, st.ShardsNeeded)
			}
			if c.mode == Provisioned {
				if st.HotShardBytes > ShardWriteBytes || st.HotShardRecords > ShardWriteRecords {
					t.Errorf("hottest shard %.0f bytes/s and %.0f records/s: over a shard's limits", st.HotShardBytes, st.HotShardRecords)
				}
				// One shard fewer would not do: the binding limit is near.
				bind := st.HotShardRecords / ShardWriteRecords
				if c.bytesBound {
					bind = st.HotShardBytes / ShardWriteBytes
				}
				if st.Shards > 1 && bind < 0.9 {
					t.Errorf("the binding limit is at %.2f of a shard: too many shards", bind)
				}
			}
		})
	}
}

// TestFirstLimit: the limit used the most is named first, with how to
// raise it; raising it (a parameter) lets the next one come first.
func TestFirstLimit(t *testing.T) {
	cases := []struct {
		name string
		p    func() Params
		want string
	}{
		{"the target fleet: the fan-out's route refreshes", func() Params { return target("m7g.xlarge") }, "ec2.describe_instances"},
		{"EC2's rate raised: Lambda concurrency", func() Params {
			p := target("m7g.xlarge")
			p.EC2DescribeRateLimit = 1e6
			return p
		}, "lambda.concurrency"},
		{"one instance's mutations over a shard", func() Params {
			p := Defaults()
			p.Instances, p.MutationsPerSecond, p.StreamMode = 1, 20_000, Provisioned
			return p
		}, "kinesis.partition_key_bytes"},
		{"100,000 instances: the reconciler's run after EC2's and Lambda's", func() Params {
			p := Defaults()
			p.Instances, p.MutationsPerSecond, p.Groups = 100_000, 1_000_000, 1_000
			p.EC2DescribeRateLimit, p.LambdaConcurrencyLimit = 1e6, 1e6
			return p
		}, "reconciler.run"},
		{"100,000 instances: the table's writes after those", func() Params {
			p := Defaults()
			p.Instances, p.MutationsPerSecond, p.Groups = 100_000, 1_000_000, 1_000
			p.EC2DescribeRateLimit, p.LambdaConcurrencyLimit, p.ReconcilerAgentConc = 1e6, 1e6, 64
			return p
		}, "dynamodb.table_write"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pl := compute(t, c.p())
			if pl.FirstLimit.Name != c.want || pl.FirstLimit.Raise == "" {
				t.Fatalf("first limit %+v, want %s", pl.FirstLimit, c.want)
			}
			for i := 1; i < len(pl.Limits); i++ {
				if pl.Limits[i].Use > pl.Limits[i-1].Use {
					t.Errorf("limits out of order at %d: %v after %v", i, pl.Limits[i].Use, pl.Limits[i-1].Use)
				}
			}
		})
	}
}

// TestSmallWorld: the e2e's world (two instances, one producer, one
// shard, the harness's poller) at latencies like moto's: the mapping
// polls once a second, the routes of both instances are refreshed
// together, the counters written 12 times a minute.
func TestSmallWorld(t *testing.T) {
	p := Defaults()
	p.Instances, p.Groups, p.MutationsPerSecond, p.MutationBytes, p.StreamMode = 2, 1, 100, 130, Provisioned
	p.InstancesPerProducer, p.ParallelizationFactor, p.AvailabilityZones = 2, 1, 2
	p.PutLatencyMs, p.GetRecordsLatencyMs, p.FanoutInvocationMs = 5, 5, 20
	pl := compute(t, p)
	f := pl.Fanout
	// One put of both instances' records every 105 ms.
	if got := pl.Calls["kinesis.PutRecords"]; math.Abs(got-1/0.105) > 1e-9 {
		t.Errorf("PutRecords %v/s, want 9.52", got)
	}
	// A read finds records with probability (5 + 20) / 105 ms after each
	// delivery: 1/(1-q) deliveries and one more read a cycle.
	q := 0.025 / 0.105
	cycle := 1 + (1/(1-q)+1)*0.005 + 1/(1-q)*0.020
	if f.Busy || math.Abs(f.PollCycleS-cycle) > 1e-9 || math.Abs(f.InvocationsPerSecond-1/(1-q)/cycle) > 1e-9 {
		t.Errorf("poll cycle %v s (busy %v), %v invocations/s; want %v s, %v", f.PollCycleS, f.Busy, f.InvocationsPerSecond, cycle, 1/(1-q)/cycle)
	}
	// An idle shard's batches come once a poll cycle, regularly: the
	// routes are read again at the first cycle 30 s on, the counters
	// written at the first cycle 5 s on, and at the first after a
	// minute's end (half a cycle later, on average), which restarts the
	// cadence. Each write: 2 resource items, a minute and an hour item;
	// at a minute's end the new minute's 3 too.
	c := f.PollCycleS
	if !f.RoutesClustered || math.Abs(f.ResolvePeriodS-math.Ceil(30/c)*c) > 1e-3 {
		t.Errorf("routes clustered %v, refreshed every %v s; want together, every %v s", f.RoutesClustered, f.ResolvePeriodS, math.Ceil(30/c)*c)
	}
	flushes := 1 + math.Floor((60-c/2)/(math.Ceil(5/c)*c))
	if math.Abs(f.FlushIntervalS-math.Ceil(5/c)*c) > 1e-9 || f.FlushesPerMinute != flushes || math.Abs(f.WritesPerMinute-(flushes*4+3)) > 1e-3 {
		t.Errorf("a write every %v s, %v a minute, %v items; want every %v s, %v and %v", f.FlushIntervalS, f.FlushesPerMinute, f.WritesPerMinute, math.Ceil(5/c)*c, flushes, flushes*4+3)
	}
	r := pl.Reconciler.Calls
	if r["dynamodb.Query"] != 17 || r["dynamodb.GetItem"] != 2 || r["ec2.DescribeInstances"] != 2 || r["ec2.DescribeInstanceStatus"] != 2 || r["autoscaling.DescribeAutoScalingGroups"] != 1 {
		t.Errorf("a reconcile's calls %v", r)
	}
	fc := pl.Forecaster.Calls
	if fc["dynamodb.Query"] != 9 || fc["dynamodb.GetItem"] != 1 || fc["dynamodb.PutItem"] != 2 || fc["monitoring.GetMetricData"] != 1 {
		t.Errorf("a forecaster run's calls %v", fc)
	}
}

// TestBadParamsRefused: every parameter out of range is refused, all at
// once, and Compute refuses what the catalog cannot size.
func TestBadParamsRefused(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Params)
		want []string
	}{
		{"no instances", func(p *Params) { p.Instances = 0 }, []string{"instances 0"}},
		{"more groups than instances", func(p *Params) { p.Instances, p.Groups = 10, 11 }, []string{"groups 11"}},
		{"negative groups", func(p *Params) { p.Groups = -1 }, []string{"groups -1"}},
		{"negative rate", func(p *Params) { p.MutationsPerSecond = -1 }, []string{"mutations_per_second -1"}},
		{"NaN rate", func(p *Params) { p.MutationsPerSecond = math.NaN() }, []string{"mutations_per_second NaN"}},
		{"infinite rate", func(p *Params) { p.MutationsPerSecond = math.Inf(1) }, []string{"mutations_per_second +Inf"}},
		{"mutation over a record", func(p *Params) { p.MutationBytes = 2 << 20 }, []string{"mutation_bytes 2097152"}},
		{"mutation too small", func(p *Params) { p.MutationBytes = 10 }, []string{"mutation_bytes 10"}},
		{"stream mode", func(p *Params) { p.StreamMode = "fast" }, []string{`stream_mode "fast"`}},
		{"fractions", func(p *Params) { p.CPUFraction, p.MemoryFraction = 0, 1.5 }, []string{"shadow_cpu_fraction 0", "shadow_memory_fraction 1.5"}},
		{"parallelization factor", func(p *Params) { p.ParallelizationFactor = 11 }, []string{"parallelization_factor 11"}},
		{"batch size", func(p *Params) { p.BatchSize = 0 }, []string{"batch_size 0"}},
		{"heartbeat over a minute", func(p *Params) { p.HeartbeatS = 90 }, []string{"heartbeat_s 90"}},
		{"zero latency", func(p *Params) { p.PutLatencyMs = 0 }, []string{"put_latency_ms 0"}},
		{"memory", func(p *Params) { p.FanoutMemoryMB = 64 }, []string{"fanout_memory_mb 64"}},
		{"every problem at once", func(p *Params) { p.Instances, p.StreamMode, p.BatchSize = -5, "", 0 },
			[]string{"instances -5", `stream_mode ""`, "batch_size 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Defaults()
			c.mod(&p)
			err := p.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			cat, _ := catalog.Default()
			if _, err := Compute(p, cat, DefaultPrices()); err == nil {
				t.Error("Compute accepted it")
			}
		})
	}
	t.Run("unknown live type", func(t *testing.T) {
		p := Defaults()
		p.LiveType = "q9.huge"
		cat, _ := catalog.Default()
		if _, err := Compute(p, cat, DefaultPrices()); err == nil || !strings.Contains(err.Error(), "q9.huge") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no catalog", func(t *testing.T) {
		if _, err := Compute(Defaults(), nil, DefaultPrices()); err == nil {
			t.Error("accepted")
		}
	})
}

// TestSet: a parameter by its name, its text checked against its type.
func TestSet(t *testing.T) {
	cases := []struct {
		name, value string
		wantErr     bool
		check       func(Params) bool
	}{
		{"put_latency_ms", "35.5", false, func(p Params) bool { return p.PutLatencyMs == 35.5 }},
		{"instances", "250", false, func(p Params) bool { return p.Instances == 250 }},
		{"stream_mode", "provisioned", false, func(p Params) bool { return p.StreamMode == Provisioned }},
		{"shadow_exclude_burstable", "true", false, func(p Params) bool { return p.ExcludeBurstable }},
		{"instances", "2.5", true, nil},
		{"instances", "many", true, nil},
		{"linger_ms", "NaN", true, nil},
		{"shadow_exclude_burstable", "maybe", true, nil},
		{"no_such_parameter", "1", true, nil},
	}
	for _, c := range cases {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			p := Defaults()
			err := p.Set(c.name, c.value)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error %v", err, c.wantErr)
			}
			if err == nil && !c.check(p) {
				t.Errorf("not set: %+v", p)
			}
			if err != nil && p != Defaults() {
				t.Error("a refused value changed the parameters")
			}
		})
	}
	names := Names()
	b, _ := json.Marshal(Defaults())
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if len(names) != len(m) || names[0] != "instances" {
		t.Errorf("Names %v: want every parameter, in order", names)
	}
}

// TestPrices: every price positive, every service with its source, the
// date given.
func TestPrices(t *testing.T) {
	pr := DefaultPrices()
	b, _ := json.Marshal(pr)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if f, ok := v.(float64); ok && !(f > 0) {
			t.Errorf("price %s = %v", k, f)
		}
	}
	if pr.Date != PriceDate || pr.Region != "us-east-1" {
		t.Errorf("prices of %s, %s", pr.Region, pr.Date)
	}
	services := map[string]bool{}
	for _, s := range PriceSources() {
		if s.Source == "" || s.Prices == "" {
			t.Errorf("source %+v", s)
		}
		services[s.Service] = true
	}
	for _, s := range []string{"EC2", "Kinesis", "Lambda", "DynamoDB", "CloudWatch", "S3, SQS"} {
		if !services[s] {
			t.Errorf("no source for %s", s)
		}
	}
	// The tiers: Lambda's second tier starts at 7.5 billion GB-s.
	if got, want := lambdaDuration(8e9, pr), 7.5e9*pr.LambdaGBSecondTier1+0.5e9*pr.LambdaGBSecondTier2; math.Abs(got-want) > 1e-6 {
		t.Errorf("8 billion GB-s cost %v, want %v", got, want)
	}
	if got, want := metricsMonth(10_100, pr), 10_000*0.30+100*0.10; math.Abs(got-want) > 1e-9 {
		t.Errorf("10,100 metrics cost %v, want %v", got, want)
	}
}
