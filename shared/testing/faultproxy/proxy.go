// Package faultproxy is a test harness: an HTTP reverse proxy between AWS SDK
// clients and an AWS emulator (moto server) that injects AWS-shaped failures
// at configurable rates: throttling in each protocol's own error shape
// (ThrottlingException, RequestLimitExceeded,
// ProvisionedThroughputExceededException), 500 and 503, added latency, and
// dropped connections (before the request reaches the emulator, or after it
// took effect there, which is what makes retries dangerous). It counts every
// request per service and operation, so tests can bound retries.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Fault is one kind of injected failure.
type Fault string

// The faults.
const (
	// Throttle answers with the service's throttling error, without
	// forwarding.
	Throttle Fault = "throttle"
	// ServerError answers 500 InternalError, without forwarding.
	ServerError Fault = "500"
	// Unavailable answers 503 ServiceUnavailable, without forwarding.
	Unavailable Fault = "503"
	// Drop closes the connection without forwarding or answering.
	Drop Fault = "drop"
	// DropAfter forwards the request (it takes effect) and closes the
	// connection instead of answering.
	DropAfter Fault = "drop-after"
	// Latency forwards the request after Rule.Latency.
	Latency Fault = "latency"
)

// Rule injects Fault into a fraction Rate of the requests it matches.
type Rule struct {
	Service   string        // signing name, e.g. "ec2", "dynamodb"; "" matches any
	Operation string        // e.g. "RunInstances"; "" matches any
	Rate      float64       // 0..1
	Fault     Fault         //
	Latency   time.Duration // for Latency
	// Limit, when positive, is the most requests the rule injects into
	// (e.g. 1: drop exactly the first RunInstances after it took effect,
	// and let the SDK's retry through).
	Limit int
}

// Stats counts the requests of one service and operation.
type Stats struct {
	Requests int
	Injected map[Fault]int
}

// Proxy is the fault-injecting reverse proxy.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy

	mu    sync.Mutex
	rules []Rule
	rng   *rand.Rand
	stats map[string]*Stats // "service.Operation"
	hits  []int             // injections per rule, for Rule.Limit
}

// New returns a proxy to target (e.g. "http://127.0.0.1:5000") applying
// rules, with a seeded random source so a run can be repeated.
func New(target string, seed uint64, rules ...Rule) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("proxy target %q: want scheme://host:port", target)
	}
	if err := validate(rules); err != nil {
		return nil, err
	}
	p := &Proxy{target: u, rules: rules, hits: make([]int, len(rules)), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stats: map[string]*Stats{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = nil
	return p, nil
}

func validate(rules []Rule) error {
	var errs []error
	for i, r := range rules {
		if r.Limit < 0 {
			errs = append(errs, fmt.Errorf("rule %d: negative limit %d", i, r.Limit))
		}
		if r.Rate < 0 || r.Rate > 1 {
			errs = append(errs, fmt.Errorf("rule %d: rate %v outside [0, 1]", i, r.Rate))
		}
		switch r.Fault {
		case Throttle, ServerError, Unavailable, Drop, DropAfter:
		case Latency:
			if r.Latency <= 0 {
				errs = append(errs, fmt.Errorf("rule %d: latency fault needs a positive Latency", i))
			}
		default:
			errs = append(errs, fmt.Errorf("rule %d: unknown fault %q", i, r.Fault))
		}
	}
	return errors.Join(errs...)
}

// SetRules replaces the rules (e.g. to heal the network mid-test); their
// Limits count afresh.
func (p *Proxy) SetRules(rules ...Rule) error {
	if err := validate(rules); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rules
	p.hits = make([]int, len(rules))
	return nil
}

// Stats returns a copy of the counters, keyed "service.Operation".
func (p *Proxy) Stats() map[string]Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Stats, len(p.stats))
	for k, s := range p.stats {
		c := Stats{Requests: s.Requests, Injected: map[Fault]int{}}
		for f, n := range s.Injected {
			c.Injected[f] = n
		}
		out[k] = c
	}
	return out
}

// Total returns the number of requests and of injected faults seen.
func (p *Proxy) Total() (requests, injected int) {
	for _, s := range p.Stats() {
		requests += s.Requests
		for _, n := range s.Injected {
			injected += n
		}
	}
	return requests, injected
}

// Summary renders the counters, one line per operation, sorted.
func (p *Proxy) Summary() string {
	st := p.Stats()
	keys := make([]string, 0, len(st))
	for k := range st {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		inj := 0
		for _, n := range st[k].Injected {
			inj += n
		}
		fmt.Fprintf(&b, "%s requests=%d injected=%d\n", k, st[k].Requests, inj)
	}
	return b.String()
}

// Reset zeroes the counters.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = map[string]*Stats{}
}

// Start serves the proxy on a free loopback port and returns its URL and a
// function that stops it.
func (p *Proxy) Start() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

var scopeRE = regexp.MustCompile(`Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/aws4_request`)

// identify returns the signing service and operation of an SDK request,
// restoring the body it reads.
func identify(r *http.Request) (service, op string) {
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		service = m[1]
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			return service, t[i+1:]
		}
		return service, t
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err == nil {
			if v, err := url.ParseQuery(string(body)); err == nil {
				op = v.Get("Action")
			}
		}
	}
	if op == "" {
		op = r.Method + " " + r.URL.Path
	}
	return service, op
}

func (p *Proxy) choose(service, op string) (Rule, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := service + "." + op
	st := p.stats[key]
	if st == nil {
		st = &Stats{Injected: map[Fault]int{}}
		p.stats[key] = st
	}
	st.Requests++
	for i, r := range p.rules {
		if (r.Service != "" && r.Service != service) || (r.Operation != "" && r.Operation != op) {
			continue
		}
		if r.Limit > 0 && p.hits[i] >= r.Limit {
			continue
		}
		if p.rng.Float64() < r.Rate {
			p.hits[i]++
			st.Injected[r.Fault]++
			return r, true
		}
	}
	return Rule{}, false
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	service, op := identify(r)
	rule, hit := p.choose(service, op)
	if !hit {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch rule.Fault {
	case Latency:
		select {
		case <-time.After(rule.Latency):
		case <-r.Context().Done():
			return
		}
		p.rp.ServeHTTP(w, r)
	case Drop:
		hangUp(w)
	case DropAfter:
		rec := &discard{header: http.Header{}}
		p.rp.ServeHTTP(rec, r) // the request takes effect upstream
		hangUp(w)
	case Throttle:
		writeError(w, r, service, throttleCode(service), http.StatusBadRequest, "Rate exceeded")
	case ServerError:
		writeError(w, r, service, "InternalError", http.StatusInternalServerError, "We encountered an internal error. Please try again.")
	case Unavailable:
		writeError(w, r, service, "ServiceUnavailable", http.StatusServiceUnavailable, "Service is unavailable. Please try again.")
	}
}

func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// throttleCode is the throttling error code each service really returns.
func throttleCode(service string) string {
	switch service {
	case "ec2":
		return "RequestLimitExceeded"
	case "dynamodb", "kinesis":
		return "ProvisionedThroughputExceededException"
	case "autoscaling", "monitoring", "cloudformation", "iam", "sts":
		return "Throttling"
	default:
		return "ThrottlingException"
	}
}

// writeError answers in the error shape of the request's protocol.
func writeError(w http.ResponseWriter, r *http.Request, service, code string, status int, msg string) {
	reqID := fmt.Sprintf("faultproxy-%d", time.Now().UnixNano())
	ct := r.Header.Get("Content-Type")
	w.Header().Set("X-Amzn-RequestId", reqID)
	switch {
	case strings.HasPrefix(ct, "application/x-amz-json"):
		// awsJson1_0 / awsJson1_1: DynamoDB, Kinesis, SQS, Secrets Manager...
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, code, msg)
	case service == "ec2":
		// EC2 query protocol: throttling comes as 503 RequestLimitExceeded.
		if code == "RequestLimitExceeded" {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`, code, msg, reqID)
	default:
		// AWS query protocol (Auto Scaling, CloudWatch query, IAM, STS) and
		// anything else: an XML ErrorResponse.
		kind := "Receiver"
		if status < 500 {
			kind = "Sender"
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, kind, code, msg, reqID)
	}
}

// Mix returns rules that fail a fraction total of every request, shared
// among the failing faults in the given proportions (weights; a fault
// missing from weights gets none), plus added latency on a further
// fraction latencyRate of the requests. Rules are tried in order, each
// only on what the earlier ones let through, so each rule's rate is its
// share of what is left: the fractions of all requests come out as asked.
func Mix(total float64, weights map[Fault]float64, latencyRate float64, latency time.Duration) ([]Rule, error) {
	order := []Fault{Throttle, ServerError, Unavailable, Drop, DropAfter}
	sum := 0.0
	for f, w := range weights {
		if w < 0 || f == Latency || !slices.Contains(order, f) {
			return nil, fmt.Errorf("mix: bad weight %v for fault %q", w, f)
		}
		sum += w
	}
	if total < 0 || total+latencyRate > 1 || sum <= 0 && total > 0 {
		return nil, fmt.Errorf("mix: total %v and latency rate %v do not make a fraction", total, latencyRate)
	}
	var rules []Rule
	left := 1.0
	for _, f := range order {
		share := total * weights[f] / max(sum, 1e-300)
		if share <= 0 {
			continue
		}
		rules = append(rules, Rule{Rate: min(1, share/left), Fault: f})
		left -= share
	}
	if latencyRate > 0 {
		rules = append(rules, Rule{Rate: min(1, latencyRate/left), Fault: Latency, Latency: latency})
	}
	return rules, validate(rules)
}
