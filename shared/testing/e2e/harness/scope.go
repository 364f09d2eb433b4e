//go:build e2e

package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// scopeProxy is a world's endpoint for the plane under test: a reverse
// proxy to the emulator that passes every call through unchanged but one.
// The plane lists "every enrolled group" (DescribeAutoScalingGroups with
// the shadowscale:enrolled=true tag filter and no names): on a server other
// tests share, that would hand the reconciler and the forecaster of this
// world the groups of every other world, to give shadows to and to act on.
// The proxy adds the world's group names to that listing (names and
// filters together select the groups matching both, in AWS as in moto), so
// the plane sees its own world only, as it would in an account where the
// world's groups are the only enrolled ones. Nothing else is rewritten.
//
// Auto Scaling speaks the AWS query protocol (a form body with Action=...);
// a call to Auto Scaling in any other shape is refused with 400 and says
// so, rather than passed on unscoped, should the SDK ever change protocol.
type scopeProxy struct {
	URL      string
	srv      *http.Server
	ln       net.Listener
	proxy    *httputil.ReverseProxy
	mu       sync.Mutex
	groups   []string
	rewrites atomic.Int64
}

func startScopeProxy(target string, groups ...string) (*scopeProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("scope proxy: bad target %q: %v", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("scope proxy: %w", err)
	}
	p := &scopeProxy{URL: "http://" + ln.Addr().String(), ln: ln, groups: append([]string(nil), groups...)}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // SigV4 signed the host the client called
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "scope proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// add puts more group names in the scope.
func (p *scopeProxy) add(names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range names {
		if n != "" && !contains(p.groups, n) {
			p.groups = append(p.groups, n)
		}
	}
}

func (p *scopeProxy) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.groups...)
}

func (p *scopeProxy) stop() error {
	if p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.srv.Shutdown(ctx)
}

// service is the AWS service a SigV4-signed request is for ("" unsigned).
func service(r *http.Request) string {
	// Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/autoscaling/aws4_request, ...
	a := r.Header.Get("Authorization")
	i := strings.Index(a, "Credential=")
	if i < 0 {
		return ""
	}
	parts := strings.Split(strings.SplitN(a[i+len("Credential="):], ",", 2)[0], "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[3]
}

func (p *scopeProxy) serve(w http.ResponseWriter, r *http.Request) {
	if service(r) == "autoscaling" {
		if err := p.scope(r); err != nil {
			http.Error(w, "scope proxy: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

// scope rewrites r's body when it lists groups without naming them.
func (p *scopeProxy) scope(r *http.Request) error {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return fmt.Errorf("an Auto Scaling call that is not on the query protocol (Content-Type %q): the proxy cannot scope it", r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return fmt.Errorf("parsing the request: %w", err)
	}
	if q.Get("Action") == "DescribeAutoScalingGroups" && !named(q) {
		for i, n := range p.names() {
			q.Set("AutoScalingGroupNames.member."+strconv.Itoa(i+1), n)
		}
		body = []byte(q.Encode())
		p.rewrites.Add(1)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

func named(q url.Values) bool {
	for k := range q {
		if strings.HasPrefix(k, "AutoScalingGroupNames.member.") {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
