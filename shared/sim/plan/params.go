// Package plan sizes a shadowscale deployment. From the fleet (live
// instances, groups, mutations a second and their size, the live instance
// type, the shadow sizing) and named assumptions it models what the plane
// does on AWS, as the code does it: the records the producer library puts
// after its aggregation, the stream's shards, the fan-out mapping's polls
// and invocations, the fan-out's DynamoDB counters and route lookups, the
// forecaster's and the reconciler's runs, the AWS calls each makes; then
// the load on the hottest DynamoDB partition, the shadow fleet, the
// monthly cost per service at list prices (prices.go: source and date),
// and the first AWS limit the deployment runs into and how to raise it.
//
// It is pure: no AWS SDK, no clock, no I/O. `shadowscale plan`
// (cmd/shadowscale/cmd_plan.go) prints it; the e2e suite
// (TestPlanAgreesWithTheMeasuredCalls, shared/testing/e2e/plan_test.go)
// counts the calls it predicts at the AWS endpoint; docs/OPERATIONS.md
// ("Planning a deployment") documents every parameter.
package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// Stream modes.
const (
	OnDemand    = "on-demand"
	Provisioned = "provisioned"
)

// Params is a plan's input: the fleet (the command's flags) and every
// assumption, each a named parameter with its default (Defaults). JSON
// names are the parameters' names (`shadowscale plan --set NAME=VALUE`).
// Durations are in milliseconds (_ms) or seconds (_s), sizes in bytes
// unless the name says otherwise.
type Params struct {
	// The fleet.
	Instances          int     `json:"instances"`            // live instances (each gets a shadow)
	Groups             int     `json:"groups"`               // enrolled Auto Scaling groups; 0: one per 100 live instances (at least 1)
	MutationsPerSecond float64 `json:"mutations_per_second"` // over the whole fleet, spread evenly over the live instances
	MutationBytes      int     `json:"mutation_bytes"`       // one mutation as put: its JSON record (docs/PRODUCER.md), key and base64 value included
	LiveType           string  `json:"live_type"`            // the live instances' EC2 type (the catalog's)
	CPUFraction        float64 `json:"shadow_cpu_fraction"`  // shadow sizing: fraction of the live type's vCPUs
	MemoryFraction     float64 `json:"shadow_memory_fraction"`
	ExcludeBurstable   bool    `json:"shadow_exclude_burstable"` // no T types for shadows
	StreamMode         string  `json:"stream_mode"`              // on-demand (the stack's) or provisioned

	// The producer library (shared/producer), one per live instance by default.
	InstancesPerProducer int     `json:"instances_per_producer"` // live instances one producer process puts for
	LingerMs             float64 `json:"linger_ms"`              // Options.Linger: Run's wait between flushes
	PutLatencyMs         float64 `json:"put_latency_ms"`         // one PutRecords call's round trip
	RecordBytes          int     `json:"record_bytes"`           // Options.RecordBytes: an aggregated record's bound
	PartitionKeyBytes    int     `json:"partition_key_bytes"`    // an instance id's length (i-0123456789abcdef0)
	HeartbeatS           float64 `json:"heartbeat_s"`            // Options.Heartbeat
	IdleFraction         float64 `json:"idle_fraction"`          // live instances putting no mutation (heartbeats only)

	// The stream and the fan-out's event source mapping (infra/shadowscaling).
	RetentionHours         float64 `json:"retention_hours"`           // streamRetentionHours
	OnDemandCapacityFactor float64 `json:"on_demand_capacity_factor"` // on-demand keeps write capacity for this multiple of the peak: its shards
	OnDemandMinShards      int     `json:"on_demand_min_shards"`      // a new on-demand stream's 4 MB/s
	GetRecordsLatencyMs    float64 `json:"get_records_latency_ms"`    // the mapping's GetRecords round trip
	PollIdleMs             float64 `json:"poll_idle_ms"`              // the mapping's wait after an empty read (it polls an idle shard once a second)
	BatchSize              int     `json:"batch_size"`                // the mapping's BatchSize
	ParallelizationFactor  int     `json:"parallelization_factor"`    // the mapping's ParallelizationFactor

	// The fan-out function.
	FanoutMemoryMB        int     `json:"fanout_memory_mb"`
	FanoutTimeoutS        float64 `json:"fanout_timeout_s"`
	FanoutMutationsPerCPU float64 `json:"fanout_mutations_per_cpu_second"` // BenchmarkFanout/aggregated, one core, with the agent client's encoding of the batch, once for both agents (BenchmarkClientEncode)
	AgentRoundTripMs      float64 `json:"agent_round_trip_ms"`             // one delivery to an agent (TLS, durable ack)
	FanoutInvocationMs    float64 `json:"fanout_invocation_ms"`            // an invocation's duration when measured; 0: modeled from the round trips, the CPU figure and the calls it makes
	RouterConcurrency     int     `json:"router_concurrency"`              // resources delivered at once (mutation.Router)
	FlushEveryS           float64 `json:"flush_every_s"`                   // FanoutOptions.FlushEvery
	RouteTTLS             float64 `json:"route_ttl_s"`                     // ResolverConfig.TTL: route and group cache
	DynamoDBLatencyMs     float64 `json:"dynamodb_latency_ms"`             // one DynamoDB call's round trip
	APILatencyMs          float64 `json:"api_latency_ms"`                  // one EC2, Auto Scaling or CloudWatch call's round trip
	FanoutLogBytes        float64 `json:"fanout_log_bytes_per_invocation"` // its "batch fanned out" line and Lambda's START/END/REPORT
	FanoutEMFBytes        float64 `json:"fanout_emf_bytes_per_group"`      // its EMF documents for each group of a batch (MutationsApplied, live and shadow)
	DeliveryRequestBytes  float64 `json:"delivery_request_bytes"`          // an agent request's headers and TLS framing, each way
	AvailabilityZones     int     `json:"availability_zones"`              // the fan-out reaches an agent in another AZ (1 - 1/AZs) of the time
	LambdaVCPUMB          float64 `json:"lambda_vcpu_mb"`                  // memory at which a function has one vCPU

	// The forecaster (every minute) and the reconciler (every 5 minutes).
	ForecasterMemoryMB       int     `json:"forecaster_memory_mb"`
	ForecasterConcurrency    int     `json:"forecaster_concurrency"`      // groups at a time
	ForecasterCPUMsPerGroup  float64 `json:"forecaster_cpu_ms_per_group"` // a warm loop's step (BenchmarkForecasterThousandGroups)
	StateBytes               float64 `json:"state_bytes"`                 // a group's saved state
	AuditBytes               float64 `json:"audit_bytes"`                 // a decision's audit item
	LearnFraction            float64 `json:"learn_fraction"`              // groups without a capacity figure (their CPU is read)
	PoliciesPerGroup         float64 `json:"policies_per_group"`          // the groups' own scaling policies
	ScheduledActionsPerGroup float64 `json:"scheduled_actions_per_group"`
	LaunchTemplateCacheS     float64 `json:"launch_template_cache_s"` // a $Latest/$Default template's type is read again after this
	ForecasterLogBytes       float64 `json:"forecaster_log_bytes_per_group"`
	ReconcileEveryS          float64 `json:"reconcile_every_s"`
	ReconcilerMemoryMB       int     `json:"reconciler_memory_mb"`
	AgentStateMs             float64 `json:"agent_state_ms"` // one agent state read (the reconciler)
	ReconcilerAgentConc      int     `json:"reconciler_agent_concurrency"`
	ReconcilerLogBytes       float64 `json:"reconciler_log_bytes_per_run"`
	LaunchesPerInstanceDay   float64 `json:"launches_per_instance_per_day"` // live instance churn: a launch and a terminate each

	// Shadows, CloudWatch, dead letters.
	ShadowVolumeGiB      float64 `json:"shadow_volume_gib"` // each shadow's gp3 root volume
	MetricsPerGroup      float64 `json:"metrics_per_group"` // custom metrics (EMF) per group
	PlaneMetrics         float64 `json:"plane_metrics"`     // custom metrics not per group
	Alarms               float64 `json:"alarms"`
	Dashboards           float64 `json:"dashboards"`
	DeadLettersPerSecond float64 `json:"dead_letters_per_second"`

	// Account quotas (defaults of a new account in us-east-1): raise them
	// with AWS, then tell the plan.
	LambdaConcurrencyLimit float64 `json:"lambda_concurrency_limit"`
	EC2DescribeRateLimit   float64 `json:"ec2_describe_rate_limit"`           // DescribeInstances refill, a second
	KinesisShardQuota      float64 `json:"kinesis_shard_quota"`               // provisioned shards per account
	OnDemandMaxWriteMBps   float64 `json:"on_demand_max_write_mb_per_second"` // an on-demand stream's write ceiling
	DynamoDBTableWCULimit  float64 `json:"dynamodb_table_wcu_limit"`
	DynamoDBTableRCULimit  float64 `json:"dynamodb_table_rcu_limit"`
}

// Defaults are the plane as deployed (infra/shadowscaling, the handlers'
// and the producer's defaults) and the assumptions this package makes,
// for a fleet of 100 m7g.xlarge instances putting 10 mutations a second
// each. docs/OPERATIONS.md explains each.
func Defaults() Params {
	return Params{
		Instances: 100, MutationsPerSecond: 1_000, MutationBytes: 200, LiveType: "m7g.xlarge",
		CPUFraction: 0.25, MemoryFraction: 0.10, StreamMode: OnDemand,

		InstancesPerProducer: 1, LingerMs: 100, PutLatencyMs: 20, RecordBytes: mutation.MaxRecordBytes,
		PartitionKeyBytes: 19, HeartbeatS: 30,

		RetentionHours: 168, OnDemandCapacityFactor: 2, OnDemandMinShards: 4, GetRecordsLatencyMs: 20,
		PollIdleMs: 1_000, BatchSize: 500, ParallelizationFactor: 4,

		FanoutMemoryMB: 512, FanoutTimeoutS: 60, FanoutMutationsPerCPU: 330_000, AgentRoundTripMs: 5,
		RouterConcurrency: 8, FlushEveryS: 5, RouteTTLS: 30, DynamoDBLatencyMs: 6, APILatencyMs: 50,
		FanoutLogBytes: 700, FanoutEMFBytes: 450, DeliveryRequestBytes: 400, AvailabilityZones: 3, LambdaVCPUMB: 1_769,

		ForecasterMemoryMB: 1_769, ForecasterConcurrency: 8, ForecasterCPUMsPerGroup: 0.34, StateBytes: 9_216,
		AuditBytes: 1_500, LearnFraction: 1, LaunchTemplateCacheS: 300, ForecasterLogBytes: 600,
		ReconcileEveryS: 300, ReconcilerMemoryMB: 512, AgentStateMs: 10, ReconcilerAgentConc: 8,
		ReconcilerLogBytes: 2_000, LaunchesPerInstanceDay: 1,

		ShadowVolumeGiB: 8, MetricsPerGroup: 13, PlaneMetrics: 30, Alarms: 12, Dashboards: 1,

		LambdaConcurrencyLimit: 1_000, EC2DescribeRateLimit: 20, KinesisShardQuota: 20_000,
		OnDemandMaxWriteMBps: 10_000, DynamoDBTableWCULimit: 40_000, DynamoDBTableRCULimit: 40_000,
	}
}

// GroupCount is the groups the plan uses: Groups, or one per 100 live
// instances (at least one) when Groups is 0.
func (p Params) GroupCount() int {
	if p.Groups > 0 {
		return p.Groups
	}
	return max(1, (p.Instances+99)/100)
}

// Validate reports every parameter out of its range at once.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Instances < 1 {
		bad("instances %d: want at least 1", p.Instances)
	}
	if p.Groups < 0 {
		bad("groups %d: want 0 (one per 100 instances) or more", p.Groups)
	} else if p.Instances >= 1 && p.Groups > p.Instances {
		bad("groups %d: more than the %d live instances (a group has at least one)", p.Groups, p.Instances)
	}
	if !(p.MutationsPerSecond >= 0) || math.IsInf(p.MutationsPerSecond, 0) {
		bad("mutations_per_second %v: want a finite number, 0 or more", p.MutationsPerSecond)
	}
	// A mutation must fit a record: its JSON, the partition key, the
	// aggregated record's framing (the producer refuses larger ones).
	if maxB := mutation.MaxRecordBytes - p.PartitionKeyBytes - mutation.AggregatedOverhead - 64; p.MutationBytes < 64 || p.MutationBytes > maxB {
		bad("mutation_bytes %d: want 64 to %d (a mutation's JSON record: the smallest is about 100 bytes; one must fit a 1 MiB Kinesis record)", p.MutationBytes, maxB)
	}
	if p.LiveType == "" {
		bad("live_type is empty")
	}
	if !(p.CPUFraction > 0 && p.CPUFraction <= 1) {
		bad("shadow_cpu_fraction %v: want (0, 1]", p.CPUFraction)
	}
	if !(p.MemoryFraction > 0 && p.MemoryFraction <= 1) {
		bad("shadow_memory_fraction %v: want (0, 1]", p.MemoryFraction)
	}
	if p.StreamMode != OnDemand && p.StreamMode != Provisioned {
		bad("stream_mode %q: want %s or %s", p.StreamMode, OnDemand, Provisioned)
	}
	if p.InstancesPerProducer < 1 {
		bad("instances_per_producer %d: want at least 1", p.InstancesPerProducer)
	}
	if p.RecordBytes < 1024 || p.RecordBytes > mutation.MaxRecordBytes {
		bad("record_bytes %d: want 1024 to %d (Kinesis' record limit)", p.RecordBytes, mutation.MaxRecordBytes)
	} else if p.MutationBytes+p.PartitionKeyBytes+mutation.AggregatedOverhead+64 > p.RecordBytes {
		bad("record_bytes %d: a mutation of %d bytes does not fit", p.RecordBytes, p.MutationBytes)
	}
	if p.PartitionKeyBytes < 1 || p.PartitionKeyBytes > 256 {
		bad("partition_key_bytes %d: want 1 to 256", p.PartitionKeyBytes)
	}
	if p.HeartbeatS <= 0 || p.HeartbeatS > 60 {
		bad("heartbeat_s %v: want (0, 60] (the plane needs one a minute)", p.HeartbeatS)
	}
	if !(p.IdleFraction >= 0 && p.IdleFraction <= 1) {
		bad("idle_fraction %v: want [0, 1]", p.IdleFraction)
	}
	if p.RetentionHours < 24 || p.RetentionHours > 8_760 {
		bad("retention_hours %v: want 24 to 8760", p.RetentionHours)
	}
	if !(p.OnDemandCapacityFactor >= 1) || math.IsInf(p.OnDemandCapacityFactor, 0) {
		bad("on_demand_capacity_factor %v: want 1 or more", p.OnDemandCapacityFactor)
	}
	if p.OnDemandMinShards < 1 {
		bad("on_demand_min_shards %d: want at least 1", p.OnDemandMinShards)
	}
	if p.BatchSize < 1 || p.BatchSize > 10_000 {
		bad("batch_size %d: want 1 to 10000 (Lambda's range for Kinesis)", p.BatchSize)
	}
	if p.ParallelizationFactor < 1 || p.ParallelizationFactor > 10 {
		bad("parallelization_factor %d: want 1 to 10 (Lambda's range)", p.ParallelizationFactor)
	}
	for _, m := range []struct {
		name string
		v    int
	}{{"fanout_memory_mb", p.FanoutMemoryMB}, {"forecaster_memory_mb", p.ForecasterMemoryMB}, {"reconciler_memory_mb", p.ReconcilerMemoryMB}} {
		if m.v < 128 || m.v > 10_240 {
			bad("%s %d: want 128 to 10240 (Lambda's range)", m.name, m.v)
		}
	}
	if p.RouterConcurrency < 1 || p.ForecasterConcurrency < 1 || p.ReconcilerAgentConc < 1 {
		bad("router_concurrency %d, forecaster_concurrency %d, reconciler_agent_concurrency %d: want at least 1 each", p.RouterConcurrency, p.ForecasterConcurrency, p.ReconcilerAgentConc)
	}
	if p.AvailabilityZones < 1 {
		bad("availability_zones %d: want at least 1", p.AvailabilityZones)
	}
	positive := map[string]float64{
		"put_latency_ms": p.PutLatencyMs, "get_records_latency_ms": p.GetRecordsLatencyMs, "poll_idle_ms": p.PollIdleMs,
		"fanout_timeout_s": p.FanoutTimeoutS, "fanout_mutations_per_cpu_second": p.FanoutMutationsPerCPU,
		"agent_round_trip_ms": p.AgentRoundTripMs, "flush_every_s": p.FlushEveryS, "route_ttl_s": p.RouteTTLS,
		"dynamodb_latency_ms": p.DynamoDBLatencyMs, "api_latency_ms": p.APILatencyMs, "lambda_vcpu_mb": p.LambdaVCPUMB,
		"state_bytes": p.StateBytes, "audit_bytes": p.AuditBytes, "launch_template_cache_s": p.LaunchTemplateCacheS,
		"reconcile_every_s": p.ReconcileEveryS, "agent_state_ms": p.AgentStateMs,
		"lambda_concurrency_limit": p.LambdaConcurrencyLimit, "ec2_describe_rate_limit": p.EC2DescribeRateLimit,
		"kinesis_shard_quota": p.KinesisShardQuota, "on_demand_max_write_mb_per_second": p.OnDemandMaxWriteMBps,
		"dynamodb_table_wcu_limit": p.DynamoDBTableWCULimit, "dynamodb_table_rcu_limit": p.DynamoDBTableRCULimit,
	}
	nonNegative := map[string]float64{
		"linger_ms": p.LingerMs, "fanout_invocation_ms": p.FanoutInvocationMs, "fanout_log_bytes_per_invocation": p.FanoutLogBytes, "fanout_emf_bytes_per_group": p.FanoutEMFBytes, "delivery_request_bytes": p.DeliveryRequestBytes,
		"forecaster_cpu_ms_per_group": p.ForecasterCPUMsPerGroup, "policies_per_group": p.PoliciesPerGroup,
		"scheduled_actions_per_group": p.ScheduledActionsPerGroup, "forecaster_log_bytes_per_group": p.ForecasterLogBytes,
		"reconciler_log_bytes_per_run": p.ReconcilerLogBytes, "launches_per_instance_per_day": p.LaunchesPerInstanceDay,
		"shadow_volume_gib": p.ShadowVolumeGiB, "metrics_per_group": p.MetricsPerGroup, "plane_metrics": p.PlaneMetrics,
		"alarms": p.Alarms, "dashboards": p.Dashboards, "dead_letters_per_second": p.DeadLettersPerSecond,
	}
	for _, name := range sortedKeys(positive) {
		if v := positive[name]; !(v > 0) || math.IsInf(v, 0) {
			bad("%s %v: want a finite number above 0", name, v)
		}
	}
	for _, name := range sortedKeys(nonNegative) {
		if v := nonNegative[name]; !(v >= 0) || math.IsInf(v, 0) {
			bad("%s %v: want a finite number, 0 or more", name, v)
		}
	}
	if !(p.LearnFraction >= 0 && p.LearnFraction <= 1) {
		bad("learn_fraction %v: want [0, 1]", p.LearnFraction)
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Names returns every parameter's name (its JSON name), in the order of
// Params.
func Names() []string {
	b, _ := json.Marshal(Defaults())
	return orderedKeys(b)
}

// orderedKeys returns the keys of a JSON object in the order they appear.
func orderedKeys(b []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		out = append(out, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return out
		}
	}
	return out
}

// Set sets the parameter name (its JSON name) from its text: a number, a
// boolean or a string as the parameter's type wants.
func (p *Params) Set(name, value string) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	old, ok := m[name]
	if !ok {
		return fmt.Errorf("no parameter %q (shadowscale plan --json lists them)", name)
	}
	var raw json.RawMessage
	switch {
	case len(old) > 0 && old[0] == '"':
		raw = json.RawMessage(strconv.Quote(value))
	case string(old) == "true" || string(old) == "false":
		v, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", name, value)
		}
		raw = json.RawMessage(strconv.FormatBool(v))
	default:
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s=%q: want a finite number", name, value)
		}
		raw = json.RawMessage(strconv.FormatFloat(v, 'f', -1, 64))
	}
	m[name] = raw
	b, err = json.Marshal(m)
	if err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	var np Params
	if err := json.Unmarshal(b, &np); err != nil {
		return fmt.Errorf("%s=%q: %w", name, value, err)
	}
	*p = np
	return nil
}
