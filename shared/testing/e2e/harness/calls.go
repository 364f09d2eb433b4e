//go:build e2e

package harness

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Calls counts, per operation, the SDK calls the code made and the HTTP
// attempts each took (the retries the SDK's retryer added), from inside
// the SDK: a fault-injecting proxy sees the attempts only, this tells
// them apart, so a test can bound the retries of every call. Keys are
// "<signing name>.<Operation>", as the proxy's (shared/testing/faultproxy).
type Calls struct {
	mu  sync.Mutex
	ops map[string]*CallStats
}

// CallStats are one operation's counts.
type CallStats struct {
	Calls    int // calls the code made
	Attempts int // HTTP attempts they took
	Failed   int // calls that returned an error after their attempts
	// MaxAttempts is the most attempts one call took.
	MaxAttempts int
}

// NewCalls returns an empty counter.
func NewCalls() *Calls { return &Calls{ops: map[string]*CallStats{}} }

type callKey struct{}

type callState struct {
	service  string
	attempts int
}

// Option is the config option that installs the counter on every client
// built from the configuration.
func (c *Calls) Option() func(*config.LoadOptions) error {
	return config.WithAPIOptions([]func(*middleware.Stack) error{c.install})
}

var credentialScope = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/aws4_request`)

func (c *Calls) install(st *middleware.Stack) error {
	if err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("shadowscaleCountCalls", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		cs := &callState{}
		out, md, err := next.HandleInitialize(context.WithValue(ctx, callKey{}, cs), in)
		op := awsmiddleware.GetOperationName(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		key := cs.service + "." + op
		s := c.ops[key]
		if s == nil {
			s = &CallStats{}
			c.ops[key] = s
		}
		s.Calls++
		s.Attempts += cs.attempts
		s.MaxAttempts = max(s.MaxAttempts, cs.attempts)
		if err != nil {
			s.Failed++
		}
		return out, md, err
	}), middleware.After); err != nil {
		return err
	}
	// After signing: one pass per HTTP attempt, the signature names the
	// service as the proxy sees it.
	return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("shadowscaleCountAttempts", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if cs, ok := ctx.Value(callKey{}).(*callState); ok {
			cs.attempts++
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				if m := credentialScope.FindStringSubmatch(req.Header.Get("Authorization")); m != nil {
					cs.service = m[1]
				}
			}
		}
		return next.HandleFinalize(ctx, in)
	}), middleware.After)
}

// Stats returns a copy of the counts by operation.
func (c *Calls) Stats() map[string]CallStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]CallStats, len(c.ops))
	for k, s := range c.ops {
		out[k] = *s
	}
	return out
}

// Summary renders the counts, one line per operation, sorted.
func (c *Calls) Summary() string {
	st := c.Stats()
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		s := st[k]
		fmt.Fprintf(&b, "%s calls=%d attempts=%d max-attempts=%d failed=%d\n", k, s.Calls, s.Attempts, s.MaxAttempts, s.Failed)
	}
	return b.String()
}
