// Command infra is the shadowscale CDK app: `cdk synth` / `cdk deploy` run
// it (see cdk.json and docs/INFRA.md). Configuration comes from the CDK
// context (cdk.json, or -c key=value); see shadowscaling.Config.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/shadowscale/shadowscale/infra/shadowscaling"
)

func main() {
	defer jsii.Close()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	cfg, err := shadowscaling.ConfigFromContext(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	})
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	if _, _, err := shadowscaling.NewShadowScaleStack(app, shadowscaling.StackProps{Config: cfg}); err != nil {
		return fmt.Errorf("building the stack: %w", err)
	}
	app.Synth(nil)
	return nil
}
