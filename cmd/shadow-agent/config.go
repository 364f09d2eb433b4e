package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/agent"
)

// config is everything the agent is started with.
type config struct {
	listen          string
	dataDir         string
	keyFile         string
	kmsKey          string
	instanceID      string
	instanceARN     string
	applyRate       float64
	maxBody         int64
	skew            time.Duration
	maxInflight     int
	retainEntries   uint64
	retainBytes     int64
	gapWait         time.Duration
	logLevel        slog.Level
	shutdownTimeout time.Duration
}

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

// parseConfig parses the command line and reports every problem at once.
func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	var port int
	var maxBody, retainBytes, logLevel string
	var retainEntries uint64
	fs := flag.NewFlagSet("shadow-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: shadow-agent --data-dir DIR (--kms-key ARN | --key-file FILE) [flags]\n\n"+
			"The shadowscale instance agent: applies mutations idempotently, durably,\n"+
			"and serves status, digests and snapshots over a signed API on TLS (docs/AGENT.md).\n"+
			"With --kms-key it waits for the control plane to enroll it (its own key, sealed\n"+
			"with that KMS key for this instance); with --key-file it holds its keys already.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", fmt.Sprintf(":%d", agent.DefaultPort), "address to listen on, host:port")
	fs.IntVar(&port, "port", 0, "port to listen on, all interfaces (shorthand for --listen :PORT)")
	fs.StringVar(&c.dataDir, "data-dir", "/var/lib/shadow-agent", "directory of the durable store (created if missing)")
	fs.StringVar(&c.kmsKey, "kms-key", "", "ARN of the KMS key the control plane seals this instance's key with (enrollment)")
	fs.StringVar(&c.instanceID, "instance-id", "", "this instance's id (with --kms-key; default: from the instance metadata, or --instance-arn)")
	fs.StringVar(&c.instanceARN, "instance-arn", "", "this instance's ARN, what enrollments are sealed for (with --kms-key; default: from the instance metadata)")
	fs.StringVar(&c.keyFile, "key-file", "", "file of the instance identities the agent answers for and their keys (instead of enrollment)")
	fs.Float64Var(&c.applyRate, "apply-rate", 0, "cap on applied mutations per second, to emulate a smaller instance (0: no cap)")
	fs.StringVar(&maxBody, "max-body", "8MiB", "largest request body (bytes, or with KiB/MiB suffix)")
	fs.DurationVar(&c.skew, "skew", agent.DefaultSkew, "a request's or an enrollment's timestamp must be strictly closer than this to the clock")
	fs.IntVar(&c.maxInflight, "max-inflight", agent.DefaultInflight, "request bodies buffered at once")
	fs.Uint64Var(&retainEntries, "retain-entries", 1_000_000, "applied log entries kept per resource for resync")
	fs.StringVar(&retainBytes, "retain-bytes", "256MiB", "applied log bytes kept per resource for resync")
	fs.DurationVar(&c.gapWait, "gap-wait", agent.DefaultGapWait, "how long a missing seq is waited for, from when its gap was first seen, before it is skipped (its late arrival then rejected)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for requests in flight")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	switch {
	case set["port"] && set["listen"]:
		bad("--port and --listen are exclusive")
	case set["port"] && (port < 1 || port > 65535):
		bad("--port %d is not 1-65535", port)
	case set["port"]:
		c.listen = fmt.Sprintf(":%d", port)
	}
	if _, p, err := net.SplitHostPort(c.listen); err != nil {
		bad("--listen %q is not host:port: %v", c.listen, err)
	} else if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		bad("--listen %q has a bad port", c.listen)
	}
	if c.dataDir == "" {
		bad("--data-dir is required")
	}
	switch {
	case c.keyFile == "" && c.kmsKey == "":
		bad("one of --kms-key (enrollment) or --key-file is required")
	case c.keyFile != "" && c.kmsKey != "":
		bad("--kms-key and --key-file are exclusive")
	case c.keyFile != "" && (c.instanceID != "" || c.instanceARN != ""):
		bad("--instance-id and --instance-arn go with --kms-key (the key file names its instances)")
	}
	if c.kmsKey != "" && !kmsKeyRE.MatchString(c.kmsKey) {
		bad("--kms-key %q is not a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)", c.kmsKey)
	}
	if c.instanceARN != "" {
		id, ok := instanceOfARN(c.instanceARN)
		switch {
		case !ok:
			bad("--instance-arn %q is not an EC2 instance ARN (arn:<partition>:ec2:<region>:<account>:instance/<id>)", c.instanceARN)
		case c.instanceID != "" && c.instanceID != id:
			bad("--instance-id %s is not the instance of --instance-arn (%s)", c.instanceID, id)
		default:
			c.instanceID = id
		}
	}
	if c.instanceID != "" {
		if err := agent.CheckInstanceID(c.instanceID); err != nil {
			bad("--instance-id: %v", err)
		}
	}
	if c.applyRate < 0 || c.applyRate != c.applyRate {
		bad("--apply-rate %v must be 0 (no cap) or positive", c.applyRate)
	}
	if n, err := parseSize(maxBody); err != nil {
		bad("--max-body: %v", err)
	} else if n < 64<<10 {
		bad("--max-body %s is below 64KiB", maxBody)
	} else {
		c.maxBody = n
	}
	if n, err := parseSize(retainBytes); err != nil {
		bad("--retain-bytes: %v", err)
	} else {
		c.retainBytes = n
	}
	c.retainEntries = retainEntries
	if retainEntries == 0 {
		bad("--retain-entries must be positive")
	}
	if c.gapWait < time.Second {
		bad("--gap-wait %s is below 1s", c.gapWait)
	}
	if c.skew < time.Second {
		bad("--skew %s is below 1s", c.skew)
	}
	if c.maxInflight < 1 {
		bad("--max-inflight must be positive")
	}
	if c.shutdownTimeout <= 0 {
		bad("--shutdown-timeout must be positive")
	}
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		bad("--log-level %q is not debug, info, warn or error", logLevel)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%w: %w", errUsage, errors.Join(errs...))
	}
	return c, nil
}

var (
	kmsKeyRE      = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+$`)
	instanceARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance/([a-z0-9-]+)$`)
)

// instanceOfARN returns the instance id of an EC2 instance ARN.
func instanceOfARN(arn string) (string, bool) {
	m := instanceARNRE.FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// parseSize reads a byte count: digits, optionally followed by KiB, MiB
// or GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a positive size (bytes, KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}
