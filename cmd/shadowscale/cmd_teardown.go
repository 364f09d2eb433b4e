//go:build !sim

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/plane/lambdaenv"
)

func init() {
	register(&command{
		name:    "teardown",
		usage:   "teardown [--stack NAME] [--yes] [--json]",
		summary: "after the stack is destroyed: terminate the shadows it left (the functions launch them, CloudFormation does not delete them); lists them first, terminates with --yes",
		run:     runTeardown,
	})
}

// teardownOut is what teardown prints with --json.
type teardownOut struct {
	Stack string `json:"stack"`
	// Shadows are the instances found with the stack's shadow tags.
	Shadows []teardownShadow `json:"shadows"`
	// Terminated is how many it asked EC2 to terminate (0 without --yes).
	Terminated int  `json:"terminated"`
	NeedsYes   bool `json:"needs_confirmation,omitempty"`
}

type teardownShadow struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	AZ    string `json:"az"`
	State string `json:"state"`
	Live  string `json:"live_instance"`
}

// runTeardown terminates what `cdk destroy` leaves behind: the shadow
// instances the plane's functions launched, found by the stack's shadow
// tags. It refuses while the stack is deployed, as its reconciler would
// launch new ones within minutes.
func runTeardown(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, commands["teardown"])
	// The plane's flags but --table: the stack is gone, its tag is all
	// there is to go by.
	pf := &planeFlags{}
	fs.StringVar(&pf.stack, "stack", envOr("SHADOWSCALE_STACK", defaultStack), "the destroyed stack's name (env SHADOWSCALE_STACK): its shadows carry the tag shadowscale:stack=`NAME`")
	fs.StringVar(&pf.region, "region", "", "AWS `region` (default: the AWS default chain, e.g. AWS_REGION)")
	fs.BoolVar(&pf.json, "json", false, "print JSON on stdout")
	yes := fs.Bool("yes", false, "terminate the shadows listed")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	if pf.stack == "" {
		return usageErrorf("--stack NAME is required (the shadows' shadowscale:stack tag)")
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var opts []func(*config.LoadOptions) error
	if pf.region != "" {
		opts = append(opts, config.WithRegion(pf.region))
	}
	cfg, err := lambdaenv.AWSConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("%w (set AWS_REGION or pass --region)", err)
	}
	switch _, err := awssdk.StackOutputs(ctx, cloudformation.NewFromConfig(cfg), pf.stack); {
	case err == nil:
		return fmt.Errorf("stack %s is still deployed in %s: its reconciler would launch new shadows within 5 minutes. Destroy it first (make destroy), then run teardown; nothing changed", pf.stack, cfg.Region)
	case !errors.Is(err, shadow.ErrNotFound):
		return err
	}
	api := ec2.NewFromConfig(cfg)
	insts, err := awssdk.StackShadows(ctx, api, pf.stack)
	if err != nil {
		return err
	}
	out := teardownOut{Stack: pf.stack, Shadows: make([]teardownShadow, 0, len(insts))}
	for _, i := range insts {
		out.Shadows = append(out.Shadows, teardownShadow{ID: i.ID, Type: i.Type, AZ: i.AZ, State: string(i.State), Live: i.Tags[shadow.TagLive]})
	}
	if len(insts) > 0 && !*yes {
		out.NeedsYes = true
		if pf.json {
			if err := printJSON(e.stdout, out); err != nil {
				return err
			}
		} else {
			printTeardown(e, out)
		}
		return needConfirmf("%d shadows of stack %s left running; run again with --yes to terminate them", len(insts), pf.stack)
	}
	if len(insts) > 0 {
		if out.Terminated, err = awssdk.TerminateStackShadows(ctx, api, pf.stack, insts); err != nil {
			return err
		}
	}
	if pf.json {
		return printJSON(e.stdout, out)
	}
	if len(insts) == 0 {
		fmt.Fprintf(e.stdout, "No shadow of stack %s is left in %s (tags %s=%s, %s=%s): nothing to do.\n", pf.stack, cfg.Region, shadow.TagRole, shadow.RoleShadow, shadow.TagStack, pf.stack)
		return nil
	}
	printTeardown(e, out)
	fmt.Fprintf(e.stdout, "Terminated %d shadows of stack %s.\n", out.Terminated, pf.stack)
	return nil
}

func printTeardown(e *env, out teardownOut) {
	fmt.Fprintf(e.stdout, "Shadows of stack %s (the stack is gone; nothing else will terminate them):\n", out.Stack)
	const shown = 20
	for i, s := range out.Shadows {
		if i == shown {
			fmt.Fprintf(e.stdout, "  ... and %d more\n", len(out.Shadows)-shown)
			break
		}
		fmt.Fprintf(e.stdout, "  %s  %s  %s  %s  shadow of %s\n", s.ID, s.Type, s.AZ, s.State, orDash(s.Live))
	}
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
