// Package lambdaenv loads each function's typed configuration from the
// environment (docs/CONTRACTS.md) once, in main, and builds what main wires:
// the AWS config with a bounded retryer (endpoint override honoured), the
// CloudWatch client on a protocol emulators serve, and the Lambda logger.
//
// Load functions report every problem at once (errors.Join), so a broken
// deployment shows all its mistakes in one cold start.
package lambdaenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
)

// Environment variable names (docs/CONTRACTS.md).
const (
	EnvStack          = "SHADOWSCALE_STACK"
	EnvTable          = "SHADOWSCALE_TABLE"
	EnvGroups         = "SHADOWSCALE_GROUPS"
	EnvMode           = "SHADOWSCALE_MODE"
	EnvPools          = "SHADOWSCALE_POOLS"
	EnvCPUFraction    = "SHADOWSCALE_SHADOW_CPU_FRACTION"
	EnvMemFraction    = "SHADOWSCALE_SHADOW_MEMORY_FRACTION"
	EnvLaunchTemplate = "SHADOWSCALE_SHADOW_LAUNCH_TEMPLATE"
	EnvAgentPort      = "SHADOWSCALE_AGENT_PORT"
	EnvAgentSecret    = "SHADOWSCALE_AGENT_SECRET_ARN"
	// EnvAgentKMSKey is the ARN of the KMS key the functions seal an
	// instance's agent key with to enroll its agent (docs/AGENT.md,
	// "Enrollment"). Unset: they enroll no agent (agents started with
	// their keys, as in the tests).
	EnvAgentKMSKey = "SHADOWSCALE_AGENT_KMS_KEY"
	EnvDLQURL      = "SHADOWSCALE_DLQ_URL"
	// EnvDLQBucket is the bucket of the dead letters too large for an SQS
	// message (optional: without it they are cut).
	EnvDLQBucket = "SHADOWSCALE_DLQ_BUCKET"
	// EnvAgentAddresses is for tests and local runs only: a JSON object
	// from instance id to the host:port of its agent, overriding
	// <private ip>:SHADOWSCALE_AGENT_PORT (e.g. instances an emulator
	// created, served by agents on the loopback). Never set it in a
	// deployment.
	EnvAgentAddresses = "SHADOWSCALE_AGENT_ADDRESSES"
	EnvStream         = "SHADOWSCALE_STREAM"
	EnvPolicy         = "SHADOWSCALE_POLICY"
	EnvNamespace      = "SHADOWSCALE_NAMESPACE"
	EnvLogLevel       = "LOG_LEVEL"
	EnvEndpoint       = "AWS_ENDPOINT_URL"
	// EnvForecasterConcurrency bounds the groups the forecaster runs at
	// once (1-64; default 8), EnvForecasterReserve is how long before its
	// deadline it starts no more groups (a Go duration; default 10s).
	EnvForecasterConcurrency = "SHADOWSCALE_FORECASTER_CONCURRENCY"
	EnvForecasterReserve     = "SHADOWSCALE_FORECASTER_RESERVE"
)

// The shadow lifecycle's variables (docs/CONTRACTS.md).
const (
	// EnvLaunchTemplates is a JSON object of architecture (arm64,
	// x86_64) to the shadow launch template of that architecture. It
	// replaces EnvLaunchTemplate (one template for every architecture),
	// now refused: a shadow of an x86 instance cannot boot an arm64 AMI.
	EnvLaunchTemplates  = "SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES"
	EnvExcludeBurstable = "SHADOWSCALE_SHADOW_EXCLUDE_BURSTABLE"
	EnvReplacementsHour = "SHADOWSCALE_SHADOW_REPLACEMENTS_PER_HOUR"
	// EnvUnknownGrace: how long the fanout retries the mutations of an
	// instance EC2 does not show (yet) before dead-lettering them.
	EnvUnknownGrace = "SHADOWSCALE_UNKNOWN_INSTANCE_GRACE"
	// EnvRouteTTL: how long the fanout reuses a resolved route (a Go
	// duration, 1s-10m; the stack's routeCacheSeconds).
	EnvRouteTTL = "SHADOWSCALE_ROUTE_TTL"
	// EnvLaunchHook names the launch lifecycle hook whose actions the
	// launch function completes once the shadow is ensured (optional).
	EnvLaunchHook = "SHADOWSCALE_LAUNCH_HOOK"
)

// Getenv looks a variable up (os.Getenv in main, a map in tests).
type Getenv func(string) string

// Map returns a Getenv over a map.
func Map(m map[string]string) Getenv { return func(k string) string { return m[k] } }

// reader reads variables and collects every problem.
type reader struct {
	get  Getenv
	errs []error
}

func (r *reader) str(name string) string { return strings.TrimSpace(r.get(name)) }

func (r *reader) required(name string) string {
	v := r.str(name)
	if v == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

func (r *reader) float(name string, def float64) float64 {
	v := r.str(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a number", name, v))
		return def
	}
	return f
}

func (r *reader) int(name string, def int) int {
	v := r.str(name)
	if v == "" {
		return def
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not an integer", name, v))
		return def
	}
	return i
}

func (r *reader) list(name string) []string {
	var out []string
	for _, p := range strings.Split(r.str(name), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *reader) err() error { return errors.Join(r.errs...) }

// addresses reads a JSON object of instance id -> host:port (nil when the
// variable is unset).
func (r *reader) addresses(name string) map[string]string {
	raw := r.str(name)
	if raw == "" {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s is not a JSON object of instance id to host:port: %w", name, err))
		return nil
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		host, port, err := net.SplitHostPort(m[id])
		if id == "" || err != nil || host == "" || port == "" {
			r.errs = append(r.errs, fmt.Errorf("%s: %q -> %q is not instance id -> host:port", name, id, m[id]))
		}
	}
	return m
}

// Common is what every function reads.
type Common struct {
	Stack     string
	Table     string
	Groups    []string // SHADOWSCALE_GROUPS
	Namespace string
	LogLevel  slog.Level
	// Endpoint is AWS_ENDPOINT_URL (the SDK honours it itself; kept for
	// logs and checks).
	Endpoint string
}

func (r *reader) common() Common {
	c := Common{
		Stack:     r.required(EnvStack),
		Table:     r.required(EnvTable),
		Groups:    r.list(EnvGroups),
		Namespace: r.str(EnvNamespace),
		Endpoint:  r.str(EnvEndpoint),
	}
	if c.Namespace == "" {
		c.Namespace = "ShadowScale"
	}
	lvl, err := ParseLevel(r.str(EnvLogLevel))
	if err != nil {
		r.errs = append(r.errs, err)
	}
	c.LogLevel = lvl
	return c
}

// ParseLevel reads LOG_LEVEL: debug, info (default), warn or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("%s=%q is not debug, info, warn or error", EnvLogLevel, s)
}

// Shadows is what the functions that launch and terminate shadows read.
type Shadows struct {
	Pools     shadow.Pools
	Fractions catalog.Fractions
	// LaunchTemplates maps an architecture (arm64, x86_64) to the shadow
	// launch template whose AMI is of that architecture.
	LaunchTemplates map[string]string
	// ReplacementsPerHour caps a group's shadow replacements per hour
	// (shadow.DefaultReplacementsPerHour when unset).
	ReplacementsPerHour int
	// LaunchHook is SHADOWSCALE_LAUNCH_HOOK: the launch lifecycle hook the
	// launch function completes ("" for none).
	LaunchHook string
}

func (r *reader) shadows() Shadows {
	s := Shadows{
		LaunchTemplates: r.launchTemplates(),
		Fractions: catalog.Fractions{
			CPU:              r.float(EnvCPUFraction, catalog.DefaultFractions().CPU),
			Memory:           r.float(EnvMemFraction, catalog.DefaultFractions().Memory),
			ExcludeBurstable: r.boolean(EnvExcludeBurstable),
		},
		ReplacementsPerHour: r.int(EnvReplacementsHour, shadow.DefaultReplacementsPerHour),
		LaunchHook:          r.str(EnvLaunchHook),
	}
	if len(s.LaunchHook) > 255 {
		r.errs = append(r.errs, fmt.Errorf("%s: a hook name is at most 255 characters", EnvLaunchHook))
	}
	if s.ReplacementsPerHour < 1 {
		r.errs = append(r.errs, fmt.Errorf("%s=%d: want at least 1", EnvReplacementsHour, s.ReplacementsPerHour))
	}
	if err := s.Fractions.Validate(); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s/%s: %w", EnvCPUFraction, EnvMemFraction, err))
	}
	if raw := r.required(EnvPools); raw != "" {
		p, err := shadow.ParsePools(raw)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s: %w", EnvPools, err))
		}
		s.Pools = p
	}
	return s
}

// launchTemplates reads SHADOWSCALE_SHADOW_LAUNCH_TEMPLATES.
func (r *reader) launchTemplates() map[string]string {
	if r.str(EnvLaunchTemplate) != "" {
		r.errs = append(r.errs, fmt.Errorf("%s is replaced by %s (a JSON object of architecture to template id: a shadow of an x86_64 instance needs an x86_64 AMI)", EnvLaunchTemplate, EnvLaunchTemplates))
	}
	raw := r.required(EnvLaunchTemplates)
	if raw == "" {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s is not a JSON object of architecture to launch template id: %w", EnvLaunchTemplates, err))
		return nil
	}
	if len(m) == 0 {
		r.errs = append(r.errs, fmt.Errorf("%s names no launch template", EnvLaunchTemplates))
	}
	archs := make([]string, 0, len(m))
	for a := range m {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	for _, a := range archs {
		if a != "arm64" && a != "x86_64" {
			r.errs = append(r.errs, fmt.Errorf("%s: architecture %q: want arm64 or x86_64", EnvLaunchTemplates, a))
		}
		if strings.TrimSpace(m[a]) == "" {
			r.errs = append(r.errs, fmt.Errorf("%s: the %s launch template id is empty", EnvLaunchTemplates, a))
		}
	}
	return m
}

// duration reads a Go duration in [0, most] (unset: def).
func (r *reader) duration(name string, def, most time.Duration) time.Duration {
	v := r.str(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > most {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a duration between 0s and %s", name, v, most))
		return def
	}
	return d
}

// boolean reads true/false (unset: false).
func (r *reader) boolean(name string) bool {
	v := r.str(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not true or false", name, v))
	}
	return b
}

// Agent is what the functions that talk to agents read.
type Agent struct {
	Port int
	// SecretARN names the Secrets Manager secret holding the master key
	// the agents' keys are derived from.
	SecretARN string
	// KMSKey is the ARN of the KMS key enrollments are sealed with ("":
	// no enrollment).
	KMSKey string
}

// kmsKeyARN: a KMS key or alias ARN (the instances' ARNs are built from
// its partition, region and account).
var kmsKeyARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$`)

func (r *reader) agent() Agent {
	a := Agent{Port: r.int(EnvAgentPort, shadow.DefaultAgentPort), SecretARN: r.required(EnvAgentSecret), KMSKey: r.str(EnvAgentKMSKey)}
	if a.Port < 1 || a.Port > 65535 {
		r.errs = append(r.errs, fmt.Errorf("%s=%d is not a TCP port", EnvAgentPort, a.Port))
	}
	if a.KMSKey != "" && !kmsKeyARN.MatchString(a.KMSKey) {
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)", EnvAgentKMSKey, a.KMSKey))
	}
	return a
}

// Launch is the launch function's configuration.
type Launch struct {
	Common
	Shadows
}

// Terminate is the terminate function's configuration.
type Terminate struct {
	Common
	Shadows
}

// Reconciler is the reconciler function's configuration.
type Reconciler struct {
	Common
	Shadows
	Agent
}

// Fanout is the fanout function's configuration.
type Fanout struct {
	Common
	Agent
	DLQURL string
	// DLQBucket is SHADOWSCALE_DLQ_BUCKET ("" when unset).
	DLQBucket string
	// AgentAddresses is SHADOWSCALE_AGENT_ADDRESSES (tests and local runs
	// only): instance id -> host:port of its agent; nil when unset.
	AgentAddresses map[string]string
	// UnknownGrace is SHADOWSCALE_UNKNOWN_INSTANCE_GRACE (a Go duration,
	// default 2m, 0s at most 15m): how long the mutations of an instance
	// EC2 does not show are retried (it may have just launched) before
	// they are dead-lettered.
	UnknownGrace time.Duration
	// RouteTTL is SHADOWSCALE_ROUTE_TTL (a Go duration, default
	// DefaultRouteTTL, 1s to 10m): how long a resolved route, an unknown
	// resource and a group's enrollment are reused before they are read
	// again (handlers.ResolverConfig.TTL). Longer cuts the fan-out's
	// DescribeInstances and record reads; a new or replaced shadow is
	// picked up within it.
	RouteTTL time.Duration
}

// DefaultRouteTTL is the fan-out's route cache when SHADOWSCALE_ROUTE_TTL
// is unset (the stack's routeCacheSeconds default).
const DefaultRouteTTL = 30 * time.Second

// Forecaster is the forecaster function's configuration.
type Forecaster struct {
	Common
	// Mode is SHADOWSCALE_MODE: "forecast-only" (default) or "act"; a
	// group's shadowscale:mode tag overrides it.
	Mode string
	// Policy is SHADOWSCALE_POLICY, checked to be a JSON object (the
	// control loop reads its fields); nil when unset.
	Policy json.RawMessage
	// Concurrency is SHADOWSCALE_FORECASTER_CONCURRENCY (0: the
	// handler's default), Reserve SHADOWSCALE_FORECASTER_RESERVE (0: the
	// handler's default).
	Concurrency int
	Reserve     time.Duration
}

// LoadLaunch reads the launch function's configuration.
func LoadLaunch(get Getenv) (Launch, error) {
	r := &reader{get: get}
	c := Launch{Common: r.common(), Shadows: r.shadows()}
	return c, wrap("launch", r.err())
}

// LoadTerminate reads the terminate function's configuration.
func LoadTerminate(get Getenv) (Terminate, error) {
	r := &reader{get: get}
	c := Terminate{Common: r.common(), Shadows: r.shadows()}
	return c, wrap("terminate", r.err())
}

// LoadReconciler reads the reconciler's configuration.
func LoadReconciler(get Getenv) (Reconciler, error) {
	r := &reader{get: get}
	c := Reconciler{Common: r.common(), Shadows: r.shadows(), Agent: r.agent()}
	return c, wrap("reconciler", r.err())
}

// LoadFanout reads the fanout function's configuration.
func LoadFanout(get Getenv) (Fanout, error) {
	r := &reader{get: get}
	c := Fanout{Common: r.common(), Agent: r.agent(), DLQURL: r.required(EnvDLQURL), DLQBucket: r.str(EnvDLQBucket), AgentAddresses: r.addresses(EnvAgentAddresses),
		UnknownGrace: r.duration(EnvUnknownGrace, 2*time.Minute, 15*time.Minute)}
	if c.RouteTTL = r.duration(EnvRouteTTL, DefaultRouteTTL, 10*time.Minute); c.RouteTTL < time.Second {
		// 0 would mean "the resolver's default" there: refuse it here
		// rather than run with a figure the operator did not give.
		r.errs = append(r.errs, fmt.Errorf("%s=%q: want at least 1s (routes are cached; at most 10m)", EnvRouteTTL, r.str(EnvRouteTTL)))
	}
	return c, wrap("fanout", r.err())
}

// LoadForecaster reads the forecaster's configuration.
func LoadForecaster(get Getenv) (Forecaster, error) {
	r := &reader{get: get}
	c := Forecaster{Common: r.common(), Mode: r.str(EnvMode)}
	switch c.Mode {
	case "":
		c.Mode = "forecast-only"
	case "forecast-only", "act":
	default:
		r.errs = append(r.errs, fmt.Errorf("%s=%q is not forecast-only or act", EnvMode, c.Mode))
	}
	if p := r.str(EnvPolicy); p != "" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(p), &obj); err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s is not a JSON object: %w", EnvPolicy, err))
		} else {
			c.Policy = json.RawMessage(p)
		}
	}
	if c.Concurrency = r.int(EnvForecasterConcurrency, 0); c.Concurrency < 0 || c.Concurrency > 64 {
		r.errs = append(r.errs, fmt.Errorf("%s=%d: must be 1 to 64 (or unset)", EnvForecasterConcurrency, c.Concurrency))
	}
	if v := r.str(EnvForecasterReserve); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > 10*time.Minute {
			r.errs = append(r.errs, fmt.Errorf("%s=%q: must be a duration from 1s to 10m", EnvForecasterReserve, v))
		} else {
			c.Reserve = d
		}
	}
	return c, wrap("forecaster", r.err())
}

func wrap(fn string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s configuration: %w", fn, err)
}
