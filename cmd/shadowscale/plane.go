// The operator commands against a deployed stack link the AWS SDK: the
// build tag sim leaves them out (make run builds the simulator alone, fast).

//go:build !sim

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/asg"
	"github.com/shadowscale/shadowscale/shared/domain/control"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// The commands against a deployed stack (groups, status, forecast --group,
// decisions, enroll, mode) find it the same way (docs/OPERATIONS.md):
// AWS credentials and region from the default chain (AWS_PROFILE,
// AWS_REGION, ...; AWS_ENDPOINT_URL honoured), the stack by its name
// (--stack, SHADOWSCALE_STACK, default ShadowScale) and its outputs, the
// plane's settings (mode, policy, groups named) from the forecaster
// function's environment. The plane's data is read through the same
// adapters the functions use.

// defaultStack is the stack name the CDK app deploys by default
// (infra/shadowscaling/config.go).
const defaultStack = "ShadowScale"

// Stack outputs the CLI reads (infra/shadowscaling/stack.go declares them).
const (
	outTable       = "TableName"
	outForecaster  = "ForecasterFunctionName"
	outTemplate    = "ShadowLaunchTemplateId"
	outLaunchHook  = "LaunchLifecycleHookName"
	outEventGroups = "AutoScalingEventGroups"
)

// commandTimeout bounds one command's AWS calls.
const commandTimeout = 2 * time.Minute

// planeFlags are the flags every command against the plane takes.
type planeFlags struct {
	stack, table, region string
	json                 bool
}

func addPlaneFlags(fs *flag.FlagSet) *planeFlags {
	p := &planeFlags{}
	fs.StringVar(&p.stack, "stack", envOr("SHADOWSCALE_STACK", defaultStack), "the plane's CloudFormation `stack` (env SHADOWSCALE_STACK); also the shadows' shadowscale:stack tag")
	fs.StringVar(&p.table, "table", os.Getenv("SHADOWSCALE_TABLE"), "the plane's DynamoDB `table`: skips reading the stack (env SHADOWSCALE_TABLE)")
	fs.StringVar(&p.region, "region", "", "AWS `region` (default: the AWS default chain, e.g. AWS_REGION)")
	fs.BoolVar(&p.json, "json", false, "print JSON on stdout")
	return p
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// settings are the plane's own settings the commands explain groups with:
// the forecaster function's SHADOWSCALE_MODE, SHADOWSCALE_POLICY and
// SHADOWSCALE_GROUPS, each overridden by the same variable in the CLI's
// environment.
type settings struct {
	Mode        string          `json:"mode"`
	Policy      json.RawMessage `json:"policy,omitempty"`
	PerInstance float64         `json:"per_instance,omitempty"` // the policy's per_instance (0: none)
	Groups      []string        `json:"groups,omitempty"`
	// Source says where they came from.
	Source string `json:"source"`
}

// plane is a deployed stack as the CLI sees it.
type plane struct {
	Stack    string            `json:"stack"`
	Region   string            `json:"region"`
	Table    string            `json:"table"`
	Outputs  map[string]string `json:"-"`
	Settings settings          `json:"settings"`

	asg      *autoscaling.Client
	ec2      *ec2.Client
	groups   *awssdk.Groups
	table    *awssdk.Table
	template string // shadow launch template (what NewFleet requires; never used to launch)
}

// openPlane finds the stack and builds the adapters. A stack (or table)
// that is not there is errNoStack.
func openPlane(ctx context.Context, e *env, pf *planeFlags) (*plane, error) {
	var opts []func(*config.LoadOptions) error
	if pf.region != "" {
		opts = append(opts, config.WithRegion(pf.region))
	}
	cfg, err := lambdaenv.AWSConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w (set AWS_REGION or pass --region)", err)
	}
	p := &plane{Stack: pf.stack, Region: cfg.Region, Table: pf.table, asg: autoscaling.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg)}
	ddb := dynamodb.NewFromConfig(cfg)
	fnEnv := map[string]string{}
	source := "defaults"
	if p.Table == "" {
		outs, err := awssdk.StackOutputs(ctx, cloudformation.NewFromConfig(cfg), p.Stack)
		switch {
		case errors.Is(err, shadow.ErrNotFound):
			return nil, noStackf("stack %q is not deployed in %s: deploy it (make deploy), name yours with --stack, or give the table with --table", p.Stack, p.Region)
		case err != nil:
			return nil, err
		}
		p.Outputs = outs
		if p.Table = outs[outTable]; p.Table == "" {
			return nil, noStackf("stack %q has no %s output: is it a shadowscale stack?", p.Stack, outTable)
		}
		p.template = outs[outTemplate]
		if fn := outs[outForecaster]; fn != "" {
			got, err := awssdk.FunctionEnvironment(ctx, lambda.NewFromConfig(cfg), fn)
			if err != nil {
				warn(e, "could not read the forecaster's settings (%v): the plane's default mode and policy are assumed", err)
			} else {
				fnEnv, source = got, "forecaster function "+fn
			}
		}
	}
	if err := awssdk.TableExists(ctx, ddb, p.Table); errors.Is(err, shadow.ErrNotFound) {
		return nil, noStackf("table %q is not there in %s", p.Table, p.Region)
	} else if err != nil {
		return nil, err
	}
	if p.Settings, err = readSettings(fnEnv, source); err != nil {
		return nil, err
	}
	if tag := fnEnv[lambdaenv.EnvStack]; tag != "" {
		p.Stack = tag // the shadows' tag, should the stack's name differ
	}
	if p.template == "" {
		p.template = envOr(lambdaenv.EnvLaunchTemplate, "lt-unknown")
	}
	if p.groups, err = awssdk.NewGroups(p.asg, p.ec2, awssdk.GroupsConfig{Names: p.Settings.Groups}, nil, nil); err != nil {
		return nil, err
	}
	if p.table, err = awssdk.NewTable(ddb, p.Table, clock.System{}, awssdk.TableOptions{}); err != nil {
		return nil, err
	}
	return p, nil
}

// launchHook is the name of the launch lifecycle hook the plane completes
// (the stack's launchLifecycleHook), "" when it has none: the CLI's
// SHADOWSCALE_LAUNCH_HOOK when set (also when empty: no hook), else the
// stack's output.
func (p *plane) launchHook() string {
	if v, ok := os.LookupEnv(lambdaenv.EnvLaunchHook); ok {
		return strings.TrimSpace(v)
	}
	return p.Outputs[outLaunchHook]
}

// launchActionsReach reports whether the stack's Auto Scaling rules pass
// g's launch lifecycle actions to the plane, and why not when they do not
// (a hook on a group whose actions never reach the plane holds every
// launch for the hook's timeout): the stack's AutoScalingEventGroups
// output, "*" or the named groups; without it, only a group enrolled by
// name is known to be matched.
func (p *plane) launchActionsReach(g asg.Group) (bool, string) {
	v, ok := p.Outputs[outEventGroups]
	switch {
	case ok && v == "*":
		return true, ""
	case ok && slices.Contains(strings.Split(v, ","), g.Name):
		return true, ""
	case ok:
		return false, fmt.Sprintf("the stack's Auto Scaling rules match only its named groups (%s)", v)
	case g.EnrolledByName:
		return true, ""
	default:
		return false, fmt.Sprintf("the stack does not say which groups' Auto Scaling events reach it (no %s output)", outEventGroups)
	}
}

// readSettings takes the forecaster's environment, then the CLI's own.
func readSettings(fn map[string]string, source string) (settings, error) {
	fromEnv := false
	get := func(k string) string {
		if v, ok := os.LookupEnv(k); ok {
			fromEnv = true
			return v
		}
		return fn[k]
	}
	s := settings{Mode: get(lambdaenv.EnvMode)}
	if s.Mode == "" {
		s.Mode = asg.ModeForecastOnly
	}
	for _, g := range strings.Split(get(lambdaenv.EnvGroups), ",") {
		if g = strings.TrimSpace(g); g != "" {
			s.Groups = append(s.Groups, g)
		}
	}
	if pol := strings.TrimSpace(get(lambdaenv.EnvPolicy)); pol != "" {
		var o control.Overrides
		if err := json.Unmarshal([]byte(pol), &o); err != nil {
			return s, fmt.Errorf("the plane's %s is not the JSON of control overrides: %w", lambdaenv.EnvPolicy, err)
		}
		s.Policy = json.RawMessage(pol)
		if o.PerInstance != nil {
			s.PerInstance = *o.PerInstance
		}
	}
	switch {
	case fromEnv && source == "defaults":
		source = "environment"
	case fromEnv:
		source += ", overridden by the environment"
	}
	s.Source = source
	return s, nil
}

func warn(e *env, format string, a ...any) {
	fmt.Fprintf(e.stderr, "shadowscale: warning: "+format+"\n", a...)
}

// group returns the group, errNoGroup when Auto Scaling does not know it.
func (p *plane) group(ctx context.Context, name string) (asg.Group, error) {
	g, err := p.groups.Group(ctx, name)
	if errors.Is(err, shadow.ErrNotFound) {
		return g, noGroupf("no Auto Scaling group %q in %s", name, p.Region)
	}
	return g, err
}

// enrolledGroup returns the group when it is enrolled (by tag or by name),
// errNoGroup otherwise.
func (p *plane) enrolledGroup(ctx context.Context, name string) (asg.Group, error) {
	g, err := p.group(ctx, name)
	if err != nil {
		return g, err
	}
	g.EnrolledByName = contains(p.Settings.Groups, name)
	if !g.Enrolled() {
		return g, noGroupf("group %q is not enrolled in stack %s (enroll it: shadowscale enroll --group %s)", name, p.Stack, name)
	}
	return g, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// modeOf is the group's effective mode and where it comes from, as the
// forecaster decides it: its shadowscale:mode tag, else the plane's mode.
func (p *plane) modeOf(g asg.Group) (mode, source string) {
	switch g.Mode {
	case "":
		return p.Settings.Mode, "stack"
	case asg.ModeAct, asg.ModeForecastOnly:
		return g.Mode, "tag"
	}
	return asg.ModeForecastOnly, fmt.Sprintf("tag %q not understood", g.Mode)
}

// capacity is a group's per-instance capacity figure (mutations a minute
// one live instance serves) and where it comes from; 0 when there is none
// (the forecaster does not forecast the group then).
type capacity struct {
	PerInstance float64 `json:"per_instance,omitempty"`
	Source      string  `json:"source"`
}

func (p *plane) capacityOf(g asg.Group) capacity {
	if v := strings.TrimSpace(g.Tags[handlers.TagPerInstance]); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) {
			return capacity{Source: fmt.Sprintf("tag %s=%q is not a positive number: not forecast", handlers.TagPerInstance, v)}
		}
		return capacity{PerInstance: f, Source: "tag"}
	}
	if p.Settings.PerInstance > 0 {
		return capacity{PerInstance: p.Settings.PerInstance, Source: "policy"}
	}
	return capacity{Source: "learned from the group's CPU utilization (no figure configured)"}
}

func (c capacity) String() string {
	if c.PerInstance > 0 {
		return fmt.Sprintf("%s/min (%s)", strconv.FormatFloat(c.PerInstance, 'f', -1, 64), c.Source)
	}
	return c.Source
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// withTimeout bounds a command.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, commandTimeout)
}

// groupFlags parses the flags of the command name on one group: the
// plane's and --group, required. ok is false when the command is done
// (its help shown, or err).
func groupFlags(e *env, name string, args []string) (pf *planeFlags, group string, ok bool, err error) {
	fs := newFlagSet(e, commands[name])
	pf = addPlaneFlags(fs)
	g := fs.String("group", "", "the Auto Scaling `group` (required)")
	if ok, err := parseFlags(fs, args); !ok {
		return nil, "", false, err
	}
	if err := requireGroup(fs, *g); err != nil {
		return nil, "", false, err
	}
	return pf, *g, true, nil
}

// openGroup opens the plane and reads the group named.
func openGroup(ctx context.Context, e *env, pf *planeFlags, name string) (*plane, asg.Group, error) {
	p, err := openPlane(ctx, e, pf)
	if err != nil {
		return nil, asg.Group{}, err
	}
	g, err := p.group(ctx, name)
	if err != nil {
		return nil, asg.Group{}, err
	}
	return p, g, nil
}

// requireGroup checks --group and the arguments.
func requireGroup(fs *flag.FlagSet, group string) error {
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if group == "" {
		return usageErrorf("--group G is required")
	}
	return nil
}

// ago formats how long before now t was.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		return "in " + (-d).String()
	}
	return d.String() + " ago"
}

// hhmm formats a time as the tables show it (UTC).
func hhmm(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// lastDecisions returns the group's newest audited decisions, newest
// first, from within the last since.
func (p *plane) lastDecisions(ctx context.Context, group string, since time.Duration, limit int) ([]control.AuditRecord, error) {
	now := time.Now()
	return p.table.Audit().List(ctx, group, now.Add(-since), now.Add(time.Minute), limit)
}

// decisionBody is what the CLI reads of an audited decision's body (the
// forecaster's audit format; other fields are kept in --json output).
type decisionBody struct {
	Mode        string   `json:"mode"`
	Action      string   `json:"action"`
	From        int      `json:"from"`
	To          int      `json:"to"`
	Max         int      `json:"max"`
	Reason      string   `json:"reason"`
	Acted       bool     `json:"acted"`
	Outcome     string   `json:"outcome"`
	ForecastP50 *float64 `json:"forecast_p50"`
	ForecastP90 *float64 `json:"forecast_p90"`
	Delta       *float64 `json:"delta"`
	Loop        struct {
		Signal struct {
			Live       *float64 `json:"live"`
			Shadow     *float64 `json:"shadow"`
			Delta      *float64 `json:"delta"`
			Backlog    *float64 `json:"backlog"`
			LagMinutes *float64 `json:"lag_minutes"`
			Tripped    bool     `json:"tripped"`
			Behind     int      `json:"behind"`
		} `json:"signal"`
		Model string `json:"model"`
	} `json:"loop"`
}

func readBody(d control.AuditRecord) decisionBody {
	var b decisionBody
	_ = json.Unmarshal(d.Body, &b) // a body of another shape shows what decoded
	if b.Action == "" {
		b.Action = d.Action
	}
	if b.Mode == "" {
		b.Mode = d.Mode
	}
	return b
}

// num formats an optional figure ("-" when unknown).
func optNum(v *float64) string {
	if v == nil {
		return "-"
	}
	return num(*v)
}

// summary is one line of a decision: action, counts, acted or why not.
func (b decisionBody) summary() string {
	s := b.Action
	if b.From != b.To || b.Action != "none" {
		s += fmt.Sprintf(" %d -> %d", b.From, b.To)
	}
	if b.Acted {
		s += " (acted)"
	} else {
		s += " (not acted)"
	}
	return s
}
