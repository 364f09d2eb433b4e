package shadowscaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Pool is the shadow pool of one Availability Zone: the subnets shadows of
// that AZ's live instances launch into, and how many shadows it may hold.
// Its JSON form is the value of SHADOWSCALE_POOLS (docs/CONTRACTS.md).
type Pool struct {
	Subnets  []string `json:"subnets"`
	Capacity int      `json:"capacity"`
}

// Config is everything an operator chooses about a deployment. It is read
// once from the CDK context (cdk.json, or `-c key=value` on the command
// line) by ConfigFromContext; Validate reports every problem at once.
type Config struct {
	// StackName is the CloudFormation stack name; it is also the value of
	// the shadowscale:stack tag, and so part of the IAM conditions.
	StackName string
	// Groups are Auto Scaling group names enrolled by name (SHADOWSCALE_GROUPS).
	// Groups tagged shadowscale:enrolled=true are enrolled too. Each named
	// group gets its own dashboard row and count/lag alarms.
	Groups []string
	// Mode is forecast-only (default) or act (SHADOWSCALE_MODE).
	Mode string
	// CPUFraction and MemoryFraction size a shadow from its live instance.
	CPUFraction    float64
	MemoryFraction float64
	// Policy is the JSON object of control-loop overrides as the operator
	// gave it (the policy context key), or empty. The forecaster gets
	// PolicyJSON: this merged with PerInstance and AllowResize.
	Policy string
	// PerInstance is what one live instance applies at 100%, in mutations
	// a minute: per_instance in SHADOWSCALE_POLICY, for every group without
	// a shadowscale:per-instance tag. 0: not set here.
	PerInstance float64
	// AllowResize lets the forecaster resize a group (allow_resize in
	// SHADOWSCALE_POLICY) and grants it what a resize needs, on launch
	// templates tagged shadowscale:enrolled=true only.
	AllowResize bool
	// ResizeInstanceRoleARNs are the roles of the instance profiles of the
	// enrolled groups' launch templates: the forecaster may pass exactly
	// these to EC2 when it points a group at a resized template version.
	ResizeInstanceRoleARNs []string
	// ForecasterReservedConcurrency reserves that many concurrent
	// executions for the forecaster (0: none, the default). Lambda refuses
	// a reservation that leaves the account under 100 unreserved
	// executions, so an account at the new-account quota of 10 cannot
	// deploy any; the forecaster does not need one (docs/INFRA.md).
	ForecasterReservedConcurrency int
	// ForecasterMemoryMB is the forecaster's memory (CPU grows with it).
	ForecasterMemoryMB int
	// ForecasterConcurrency bounds the groups the forecaster runs at once
	// (SHADOWSCALE_FORECASTER_CONCURRENCY; 0: the function's default, 8).
	ForecasterConcurrency int
	// MaxSizeLimit is the largest MaxSize the forecaster may give a group
	// (an IAM condition on autoscaling:MaxSize); it only sets one when the
	// policy raises the max (over_max=raise).
	MaxSizeLimit int
	// AgentPort is the shadow agent's TCP port (SHADOWSCALE_AGENT_PORT).
	AgentPort int
	// LogLevel of the functions (LOG_LEVEL).
	LogLevel string

	// VpcID selects the operator's own VPC. Empty: the stack creates a demo
	// VPC (isolated subnets and VPC endpoints, no NAT gateway) with a
	// plane subnet and a shadow pool subnet in each of two AZs.
	VpcID string
	// AvailabilityZones of the operator's VPC, in the order of PlaneSubnetIDs.
	AvailabilityZones []string
	// PlaneSubnetIDs are where the fanout and reconciler functions run
	// (they must reach the agents and, through NAT or VPC endpoints, the AWS APIs).
	PlaneSubnetIDs []string
	// Pools maps an AZ to its shadow pool, for the operator's VPC.
	Pools map[string]Pool
	// PoolCapacity is the shadow capacity of each demo pool.
	PoolCapacity int
	// ShadowImageIDArm64 and ShadowImageIDX86 pin the AMIs of the two
	// shadow launch templates (one per architecture: a shadow's type is of
	// its live instance's architecture, and its AMI must be too); empty
	// resolves the latest Amazon Linux 2023 of that architecture from its
	// public SSM parameter at deploy time.
	ShadowImageIDArm64 string
	ShadowImageIDX86   string
	// ShadowExcludeBurstable leaves T-family types out of shadow sizing
	// (SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE). Burstable shadows launch
	// with standard CPU credits: cheaper, but a shadow past its credit
	// baseline is throttled to it, so its lag reflects its credits as well
	// as its size. Excluding them sizes shadows on M/C types: steadier,
	// and dearer (a c6g.medium rather than a t4g.small for an m7g.xlarge:
	// twice the price).
	ShadowExcludeBurstable bool
	// ShadowReplacementsPerHour caps a group's shadow replacements per
	// hour (SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR); past it replacement
	// stops until the next hour and the replacement alarm fires.
	ShadowReplacementsPerHour int
	// AsgEventsAllGroups makes the Auto Scaling event rules match every
	// group of the account. By default, with groups named, they match
	// only the named groups; a group enrolled by tag alone then gets its
	// shadows from the reconciler (within 5 minutes), not at launch.
	AsgEventsAllGroups bool
	// LaunchLifecycleHook names a launch lifecycle hook the operator put
	// on enrolled groups (SHADOWSCALE_LAUNCH_HOOK): its actions go to the
	// launch function, which ensures the shadow while the instance waits
	// in Pending:Wait and then continues it, so the shadow exists before
	// the instance is in service. Empty: no hook.
	LaunchLifecycleHook string

	// DeletionProtection of the DynamoDB table (and RETAIN on stack deletion).
	DeletionProtection bool
	// AlarmTopic creates an SNS topic that every alarm notifies.
	AlarmTopic bool
	// AlarmEmails subscribe to that topic (implies AlarmTopic).
	AlarmEmails []string
	// RunbookURL is where every alarm's description sends the operator:
	// docs/RUNBOOK.md, one section (anchor) per alarm.
	RunbookURL string
	// ShadowGapAlarmPercent: a named group's shadows accepting this much
	// less than its live instances (percent of the live count) for 15
	// minutes raises its shadow gap alarm.
	ShadowGapAlarmPercent float64
	// IteratorAgeAlarmSeconds is the fan-out iterator age that raises its alarm.
	IteratorAgeAlarmSeconds int
	// StreamRetentionHours is the mutation stream's retention (48-168);
	// the fan-out mapping's maximum record age is a day below it
	// (MaxRecordAgeHours): a failing record is retried until it is that
	// old, then written whole to the dead-letter bucket.
	StreamRetentionHours int
	// StreamMode is the mutation stream's capacity mode: "on-demand"
	// (the default: no shard planning) or "provisioned" with StreamShards
	// shards (cheaper at a steady high rate: `shadowscale plan
	// --stream-mode provisioned` prices it and gives the shard count).
	StreamMode string
	// StreamShards is the provisioned stream's shard count (0 on demand).
	StreamShards int
	// RouteCacheSeconds is how long the fan-out reuses a resolved route
	// (SHADOWSCALE_ROUTE_TTL): longer cuts its DescribeInstances and
	// shadow record reads, and delays the pickup of a new or replaced
	// shadow by as much.
	RouteCacheSeconds int

	// AssetDir is the Makefile's build output: lambda/<fn>/bootstrap and
	// agent/shadow-agent-linux-{arm64,amd64}, relative to the CDK app's
	// working directory (infra/).
	AssetDir string
}

// The mutation stream's capacity modes (context streamMode).
const (
	StreamOnDemand    = "on-demand"
	StreamProvisioned = "provisioned"
)

// MaxStreamShards bounds streamShards: far above any fleet this plane
// serves (`shadowscale plan` gives 407 shards for 10,000 instances at
// 1M mutations/s); the account's shard quota is usually lower.
const MaxStreamShards = 10000

// DefaultRunbookURL is docs/RUNBOOK.md on the project's main branch.
const DefaultRunbookURL = "https://github.com/shadowscale/shadowscale/blob/main/docs/RUNBOOK.md"

// DefaultConfig is the configuration with nothing chosen.
func DefaultConfig() Config {
	c := Config{
		StackName:               "ShadowScale",
		Mode:                    "forecast-only",
		CPUFraction:             0.25,
		MemoryFraction:          0.10,
		AgentPort:               8470,
		ForecasterMemoryMB:      DefaultForecasterMemoryMB,
		MaxSizeLimit:            100,
		LogLevel:                "info",
		PoolCapacity:            50,
		DeletionProtection:      true,
		RunbookURL:              DefaultRunbookURL,
		ShadowGapAlarmPercent:   10,
		IteratorAgeAlarmSeconds: 60,
		StreamRetentionHours:    168,
		StreamMode:              StreamOnDemand,
		RouteCacheSeconds:       30,
		AssetDir:                "../build",
	}
	// The shadow lifecycle's defaults.
	c.ShadowReplacementsPerHour = 20 // shadow.DefaultReplacementsPerHour
	return c
}

// ContextGetter returns the raw context value of key, or nil when unset
// (awscdk's Node().TryGetContext has this shape).
type ContextGetter func(key string) any

// Context keys that ConfigFromContext reads.
var contextKeys = []string{
	"stackName", "groups", "mode", "shadowCpuFraction", "shadowMemoryFraction",
	"policy", "perInstance", "allowResize", "resizeInstanceRoleArns",
	"forecasterReservedConcurrency", "forecasterMemoryMb", "forecasterConcurrency", "maxSizeLimit",
	"agentPort", "logLevel", "vpcId", "availabilityZones",
	"planeSubnetIds", "shadowPools", "poolCapacity",
	"shadowImageIdArm64", "shadowImageIdX86", "shadowExcludeBurstable",
	"shadowReplacementsPerHour", "asgEventsAllGroups", "launchLifecycleHook", "deletionProtection",
	"alarmTopic", "alarmEmails", "runbookUrl", "shadowGapAlarmPercent",
	"iteratorAgeAlarmSeconds", "streamRetentionHours", "streamMode", "streamShards",
	"routeCacheSeconds", "assetDir",
}

// removedKeys are context keys of earlier versions, with what replaced
// them: given one, the configuration is refused rather than silently
// ignored.
var removedKeys = map[string]string{
	"liveSecurityGroupIds": "live instances no longer reach the shadows' agent port: only the plane's functions do " +
		"(a resync goes from the live's agent through the reconciler); drop the key",
	"syncLagAlarmSeconds": "no function emits ShadowSyncLagSeconds, so its alarms could never fire; " +
		"the shadows are watched by the per-group shadow gap alarm (shadowGapAlarmPercent) and the shadow breaker alarm",
	"shadowArchitecture": "shadows get a launch template per architecture, chosen by the shadow type's (a live m5 gets an x86_64 shadow); " +
		"pin their AMIs with shadowImageIdArm64 and shadowImageIdX86",
	"shadowImageId": "an AMI is of one architecture: use shadowImageIdArm64 and shadowImageIdX86",
}

// ContextKeys lists the context keys the app reads, for documentation and tests.
func ContextKeys() []string { return append([]string(nil), contextKeys...) }

// ConfigFromContext reads the configuration from the CDK context, over
// DefaultConfig, and validates it. Values come as JSON types from cdk.json
// and as strings from `-c key=value`; both are accepted.
func ConfigFromContext(get ContextGetter) (Config, error) {
	c := DefaultConfig()
	var errs []error
	str := func(key string, dst *string) {
		if v := get(key); v != nil {
			s, err := asString(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: %w", key, err))
				return
			}
			*dst = s
		}
	}
	list := func(key string, dst *[]string) {
		if v := get(key); v != nil {
			l, err := asStringList(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: %w", key, err))
				return
			}
			*dst = l
		}
	}
	num := func(key string, dst *float64) {
		if v := get(key); v != nil {
			f, err := asFloat(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: %w", key, err))
				return
			}
			*dst = f
		}
	}
	integer := func(key string, dst *int) {
		if v := get(key); v != nil {
			f, err := asFloat(v)
			if err == nil && (f != math.Trunc(f) || math.Abs(f) > 1e9) {
				err = fmt.Errorf("%v is not a whole number", v)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: %w", key, err))
				return
			}
			*dst = int(f)
		}
	}
	boolean := func(key string, dst *bool) {
		if v := get(key); v != nil {
			b, err := asBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: %w", key, err))
				return
			}
			*dst = b
		}
	}

	str("stackName", &c.StackName)
	list("groups", &c.Groups)
	str("mode", &c.Mode)
	num("shadowCpuFraction", &c.CPUFraction)
	num("shadowMemoryFraction", &c.MemoryFraction)
	if v := get("policy"); v != nil {
		p, err := asJSONObject(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context policy: %w", err))
		} else {
			c.Policy = p
		}
	}
	num("perInstance", &c.PerInstance)
	boolean("allowResize", &c.AllowResize)
	list("resizeInstanceRoleArns", &c.ResizeInstanceRoleARNs)
	integer("forecasterReservedConcurrency", &c.ForecasterReservedConcurrency)
	integer("forecasterMemoryMb", &c.ForecasterMemoryMB)
	integer("forecasterConcurrency", &c.ForecasterConcurrency)
	integer("maxSizeLimit", &c.MaxSizeLimit)
	integer("agentPort", &c.AgentPort)
	str("logLevel", &c.LogLevel)
	str("vpcId", &c.VpcID)
	list("availabilityZones", &c.AvailabilityZones)
	list("planeSubnetIds", &c.PlaneSubnetIDs)
	if v := get("shadowPools"); v != nil {
		p, err := asPools(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("context shadowPools: %w", err))
		} else {
			c.Pools = p
		}
	}
	integer("poolCapacity", &c.PoolCapacity)
	str("shadowImageIdArm64", &c.ShadowImageIDArm64)
	str("shadowImageIdX86", &c.ShadowImageIDX86)
	boolean("shadowExcludeBurstable", &c.ShadowExcludeBurstable)
	integer("shadowReplacementsPerHour", &c.ShadowReplacementsPerHour)
	boolean("asgEventsAllGroups", &c.AsgEventsAllGroups)
	str("launchLifecycleHook", &c.LaunchLifecycleHook)
	boolean("deletionProtection", &c.DeletionProtection)
	boolean("alarmTopic", &c.AlarmTopic)
	list("alarmEmails", &c.AlarmEmails)
	str("runbookUrl", &c.RunbookURL)
	num("shadowGapAlarmPercent", &c.ShadowGapAlarmPercent)
	integer("iteratorAgeAlarmSeconds", &c.IteratorAgeAlarmSeconds)
	integer("streamRetentionHours", &c.StreamRetentionHours)
	str("streamMode", &c.StreamMode)
	integer("streamShards", &c.StreamShards)
	integer("routeCacheSeconds", &c.RouteCacheSeconds)
	str("assetDir", &c.AssetDir)
	for _, key := range sortedKeys(removedKeys) {
		if get(key) != nil {
			errs = append(errs, fmt.Errorf("context %s: removed: %s", key, removedKeys[key]))
		}
	}

	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

var (
	stackNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	groupRE     = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)
	subnetRE    = regexp.MustCompile(`^subnet-[0-9a-f]{1,17}$`)
	vpcRE       = regexp.MustCompile(`^vpc-[0-9a-f]{1,17}$`)
	amiRE       = regexp.MustCompile(`^ami-[0-9a-f]{1,17}$`)
	hookRE      = regexp.MustCompile(`^[A-Za-z0-9_/-]{1,255}$`)
	azRE        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d[a-z]$`)
	emailRE     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	// roleArnRE: an IAM role ARN, no wildcard (the path may hold slashes).
	roleArnRE = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
)

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if !stackNameRE.MatchString(c.StackName) {
		bad("stackName %q: want a letter then letters, digits or hyphens, at most 128", c.StackName)
	}
	seen := map[string]bool{}
	for _, g := range c.Groups {
		if !groupRE.MatchString(g) || strings.Contains(g, ",") {
			bad("groups: %q is not an Auto Scaling group name (1-255 printable characters, no comma)", g)
		}
		if seen[g] {
			bad("groups: %q named twice", g)
		}
		seen[g] = true
	}
	if c.Mode != "forecast-only" && c.Mode != "act" {
		bad("mode %q: want forecast-only or act", c.Mode)
	}
	if !(c.CPUFraction > 0 && c.CPUFraction <= 1) {
		bad("shadowCpuFraction %v: want a fraction in (0, 1]", c.CPUFraction)
	}
	if !(c.MemoryFraction > 0 && c.MemoryFraction <= 1) {
		bad("shadowMemoryFraction %v: want a fraction in (0, 1]", c.MemoryFraction)
	}
	if c.AgentPort < 1024 || c.AgentPort > 65535 {
		bad("agentPort %d: want 1024-65535", c.AgentPort)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("logLevel %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.ShadowImageIDArm64 != "" && !amiRE.MatchString(c.ShadowImageIDArm64) {
		bad("shadowImageIdArm64 %q: want ami-...", c.ShadowImageIDArm64)
	}
	if c.ShadowImageIDX86 != "" && !amiRE.MatchString(c.ShadowImageIDX86) {
		bad("shadowImageIdX86 %q: want ami-...", c.ShadowImageIDX86)
	}
	if c.ShadowReplacementsPerHour < 1 || c.ShadowReplacementsPerHour > 10000 {
		bad("shadowReplacementsPerHour %d: want 1-10000", c.ShadowReplacementsPerHour)
	}
	if c.LaunchLifecycleHook != "" && !hookRE.MatchString(c.LaunchLifecycleHook) {
		bad("launchLifecycleHook %q: want a lifecycle hook name (1-255 letters, digits, -, _ or /)", c.LaunchLifecycleHook)
	}
	if u, err := url.Parse(c.RunbookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		bad("runbookUrl %q: want an http(s) address of docs/RUNBOOK.md, without a #section", c.RunbookURL)
	}
	for _, e := range c.AlarmEmails {
		if !emailRE.MatchString(e) {
			bad("alarmEmails: %q is not an e-mail address", e)
		}
	}
	if !(c.ShadowGapAlarmPercent > 0 && c.ShadowGapAlarmPercent <= 100) {
		bad("shadowGapAlarmPercent %v: want a percentage in (0, 100]", c.ShadowGapAlarmPercent)
	}
	switch c.StreamMode {
	case StreamOnDemand:
		if c.StreamShards != 0 {
			bad("streamShards %d: an on-demand stream has no shard count; set streamMode %q to use it", c.StreamShards, StreamProvisioned)
		}
	case StreamProvisioned:
		if c.StreamShards < 1 || c.StreamShards > MaxStreamShards {
			bad("streamShards %d: a provisioned stream needs 1-%d shards (`shadowscale plan --stream-mode provisioned` gives the count for your fleet)", c.StreamShards, MaxStreamShards)
		}
	default:
		bad("streamMode %q: want %q or %q", c.StreamMode, StreamOnDemand, StreamProvisioned)
	}
	if c.RouteCacheSeconds < 1 || c.RouteCacheSeconds > 600 {
		bad("routeCacheSeconds %d: want 1-600 (the fan-out's route cache)", c.RouteCacheSeconds)
	}
	if c.StreamRetentionHours < 48 || c.StreamRetentionHours > 168 {
		bad("streamRetentionHours %d: want 48-168 (the fan-out mapping's maximum record age is a day below it: at least a day, at most 7 days)", c.StreamRetentionHours)
	}
	if c.PerInstance < 0 || math.IsNaN(c.PerInstance) || math.IsInf(c.PerInstance, 0) {
		bad("perInstance %v: want a positive number of mutations a minute", c.PerInstance)
	}
	for _, r := range c.ResizeInstanceRoleARNs {
		if !roleArnRE.MatchString(r) {
			bad("resizeInstanceRoleArns: %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>, no wildcard)", r)
		}
	}
	if len(c.ResizeInstanceRoleARNs) > 0 && !c.AllowResize {
		bad("resizeInstanceRoleArns: needs allowResize=true")
	}
	if _, err := c.PolicyJSON(); err != nil {
		errs = append(errs, err)
	}
	if c.ForecasterReservedConcurrency < 0 || c.ForecasterReservedConcurrency > 1 {
		bad("forecasterReservedConcurrency %d: want 0 (none) or 1 (one forecaster at a time; needs 101 unreserved executions in the account)", c.ForecasterReservedConcurrency)
	}
	if c.ForecasterMemoryMB < 128 || c.ForecasterMemoryMB > 10240 {
		bad("forecasterMemoryMb %d: want 128-10240", c.ForecasterMemoryMB)
	}
	if c.ForecasterConcurrency < 0 || c.ForecasterConcurrency > 64 {
		bad("forecasterConcurrency %d: want 1-64 (or 0: the function's default)", c.ForecasterConcurrency)
	}
	if c.MaxSizeLimit < 1 || c.MaxSizeLimit > 100000 {
		bad("maxSizeLimit %d: want 1-100000", c.MaxSizeLimit)
	}
	if c.IteratorAgeAlarmSeconds < 1 {
		bad("iteratorAgeAlarmSeconds %d: want at least 1", c.IteratorAgeAlarmSeconds)
	}
	if c.AssetDir == "" {
		bad("assetDir: empty")
	}

	if c.VpcID == "" {
		if len(c.PlaneSubnetIDs) > 0 || len(c.Pools) > 0 || len(c.AvailabilityZones) > 0 {
			bad("planeSubnetIds, availabilityZones and shadowPools need vpcId (without it the stack makes a demo VPC)")
		}
		if c.PoolCapacity < 1 {
			bad("poolCapacity %d: want at least 1", c.PoolCapacity)
		}
		return errors.Join(errs...)
	}
	if !vpcRE.MatchString(c.VpcID) {
		bad("vpcId %q: want vpc-...", c.VpcID)
	}
	if len(c.PlaneSubnetIDs) == 0 {
		bad("planeSubnetIds: need at least one subnet for the fanout and reconciler functions")
	}
	if len(c.AvailabilityZones) != len(c.PlaneSubnetIDs) {
		bad("availabilityZones: want one per plane subnet (%d), got %d", len(c.PlaneSubnetIDs), len(c.AvailabilityZones))
	}
	for _, az := range c.AvailabilityZones {
		if !azRE.MatchString(az) {
			bad("availabilityZones: %q is not an AZ name", az)
		}
	}
	for _, s := range c.PlaneSubnetIDs {
		if !subnetRE.MatchString(s) {
			bad("planeSubnetIds: %q is not a subnet id", s)
		}
	}
	if len(c.Pools) == 0 {
		bad("shadowPools: need a pool for at least one AZ with an own VPC")
	}
	for _, az := range sortedKeys(c.Pools) {
		p := c.Pools[az]
		if !azRE.MatchString(az) {
			bad("shadowPools: %q is not an AZ name", az)
		}
		if len(p.Subnets) == 0 {
			bad("shadowPools[%s]: no subnets", az)
		}
		for _, s := range p.Subnets {
			if !subnetRE.MatchString(s) {
				bad("shadowPools[%s]: %q is not a subnet id", az, s)
			}
		}
		if p.Capacity < 1 {
			bad("shadowPools[%s]: capacity %d, want at least 1", az, p.Capacity)
		}
	}
	return errors.Join(errs...)
}

// DefaultForecasterMemoryMB is the forecaster's memory by default: about
// one vCPU (1,769 MB), for 1,000 groups a minute (docs/INFRA.md).
const DefaultForecasterMemoryMB = 1769

// RaisesMax reports whether the policy lets the forecaster raise a group's
// max (over_max "raise"): only then may it set MaxSize.
func (c Config) RaisesMax() bool {
	var o struct {
		OverMax string `json:"over_max"`
	}
	_ = json.Unmarshal([]byte(c.Policy), &o) // a policy that does not decode is refused by Validate
	return o.OverMax == "raise"
}

// PolicyJSON is SHADOWSCALE_POLICY: the policy object merged with
// PerInstance (per_instance) and AllowResize (allow_resize), keys sorted,
// or "" when there is nothing to say. A value given both ways must agree;
// allow_resize in the policy needs AllowResize (which grants what a resize
// needs). Only these two keys are checked here: the forecaster validates
// the rest (control.Overrides) at its start.
func (c Config) PolicyJSON() (string, error) {
	obj := map[string]any{}
	if strings.TrimSpace(c.Policy) != "" {
		dec := json.NewDecoder(strings.NewReader(c.Policy))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return "", fmt.Errorf("policy: decoding object: %w", err)
		}
		if obj == nil {
			obj = map[string]any{}
		}
	}
	var errs []error
	if v, ok := obj["per_instance"]; ok {
		n, isNum := v.(json.Number)
		f, err := n.Float64()
		switch {
		case !isNum || err != nil || !(f > 0) || math.IsInf(f, 0):
			errs = append(errs, fmt.Errorf("policy per_instance %v: want a positive number of mutations a minute", v))
		case c.PerInstance > 0 && f != c.PerInstance:
			errs = append(errs, fmt.Errorf("perInstance %v conflicts with per_instance %v of the policy: give it once", c.PerInstance, f))
		}
	}
	if c.PerInstance > 0 {
		obj["per_instance"] = json.Number(strconv.FormatFloat(c.PerInstance, 'f', -1, 64))
	}
	if v, ok := obj["allow_resize"]; ok {
		b, isBool := v.(bool)
		switch {
		case !isBool:
			errs = append(errs, fmt.Errorf("policy allow_resize %v: want true or false", v))
		case b && !c.AllowResize:
			errs = append(errs, errors.New("policy allow_resize=true needs allowResize=true, which also grants the forecaster what a resize needs"))
		case !b && c.AllowResize:
			errs = append(errs, errors.New("allowResize=true conflicts with allow_resize=false of the policy"))
		}
	}
	if c.AllowResize {
		obj["allow_resize"] = true
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	if len(obj) == 0 {
		return "", nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("policy: encoding object: %w", err)
	}
	return string(b), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("want a string, got %T", v)
}

// asStringList accepts a JSON array of strings, a JSON array in a string,
// or a comma-separated string ("" is the empty list).
func asStringList(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("item %d: want a string, got %T", i, e)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		s := strings.TrimSpace(x)
		if strings.HasPrefix(s, "[") {
			var out []string
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				return nil, fmt.Errorf("decoding list: %w", err)
			}
			return out, nil
		}
		if s == "" {
			return nil, nil
		}
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	return nil, fmt.Errorf("want a list or a comma-separated string, got %T", v)
}

func asFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("parsing number: %w", err)
		}
		return f, nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

func asBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("parsing boolean: %w", err)
		}
		return b, nil
	}
	return false, fmt.Errorf("want a boolean, got %T", v)
}

// asJSONObject returns the compact JSON of an object given as a JSON value
// or as a string holding one.
func asJSONObject(v any) (string, error) {
	var obj map[string]any
	switch x := v.(type) {
	case map[string]any:
		obj = x
	case string:
		if strings.TrimSpace(x) == "" {
			return "", nil
		}
		if err := json.Unmarshal([]byte(x), &obj); err != nil {
			return "", fmt.Errorf("decoding object: %w", err)
		}
	default:
		return "", fmt.Errorf("want a JSON object, got %T", v)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("encoding object: %w", err)
	}
	return string(b), nil
}

func asPools(v any) (map[string]Pool, error) {
	var raw []byte
	switch x := v.(type) {
	case string:
		raw = []byte(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("encoding pools: %w", err)
		}
		raw = b
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var pools map[string]Pool
	if err := dec.Decode(&pools); err != nil {
		return nil, fmt.Errorf("decoding pools: %w", err)
	}
	return pools, nil
}
