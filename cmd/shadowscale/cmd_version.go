package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

func init() {
	register(&command{
		name:    "version",
		usage:   "version [--json]",
		summary: "print the CLI's version, the Go version and the platform",
		run:     runVersion,
	})
}

// version is set at build time (-ldflags "-X main.version=v1.2.3"); when
// empty, the module version Go recorded in the binary is used.
var version = ""

// versionInfo is what `version --json` prints.
type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Revision = s.Value
			}
		}
	}
	if v.Version == "" || v.Version == "(devel)" {
		v.Version = "devel"
	}
	return v
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, commands["version"])
	asJSON := fs.Bool("json", false, "print JSON")
	if ok, err := parseFlags(fs, args); !ok {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	v := currentVersion()
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(v)
	}
	rev := ""
	if v.Revision != "" {
		rev = ", " + v.Revision
	}
	_, err := fmt.Fprintf(e.stdout, "shadowscale %s (%s, %s%s)\n", v.Version, v.Go, v.Platform, rev)
	return err
}
