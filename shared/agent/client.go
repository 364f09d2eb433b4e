package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Client calls agents over TLS, signing every request with the target
// instance's own key, derived from the master key it holds. It implements
// mutation.Applier for the fan-out and offers Status, Digest and Resync to
// the reconciler. Timeouts come from the caller's context.
//
// Each connection is opened for one instance: the TLS server name is the
// instance id and the agent's certificate must carry the public key
// derived from that instance's key (the pin), or the connection is closed
// before a request is sent on it (*PinError). With a Sealer, a pin
// mismatch makes the client enroll the agent (seal the instance's key for
// it, POST /v1/enroll) and try once more: a new instance's agent learns its
// key from its first request.
type Client struct {
	master      []byte
	clock       clock.Clock
	hc          *http.Client // pinned connections, pooled per instance and address
	enrollHC    *http.Client // unpinned, never reused: enrollment only
	dialer      *net.Dialer
	maxBody     int64
	sealer      Sealer
	enrollEvery time.Duration
	peers       sync.Map     // instance id -> *peer
	encodes     atomic.Int64 // batches encoded (tests count them)
}

var _ mutation.Applier = (*Client)(nil)

// peer is what the client knows of one instance's agent.
type peer struct {
	id  Identity
	pin Pin
	mu  sync.Mutex // one enrollment at a time
	// lastEnroll is when the last enrollment was attempted, lastErr how it
	// ended.
	lastEnroll time.Time
	lastErr    error
}

// ClientOptions tune a Client; zero values take the defaults.
type ClientOptions struct {
	// MaxBody is the agents' body limit (default DefaultMaxBody): Apply
	// splits a batch so that no request exceeds it.
	MaxBody int64
	// Sealer seals an instance's enrollment (the plane's KMS key); nil: the
	// client never enrolls an agent (agents started with their keys).
	Sealer Sealer
	// EnrollEvery is the least time between two enrollments of one
	// instance (default 30 s): a pin mismatch within it is returned as is.
	EnrollEvery time.Duration
	// DialTimeout bounds connecting and the TLS handshake (default 5 s).
	DialTimeout time.Duration
	// MaxIdleConnsPerAgent is kept open per agent instance (default 8).
	MaxIdleConnsPerAgent int
}

// NewClient returns a client holding the master key, its timestamps from c.
func NewClient(master []byte, c clock.Clock, opts ClientOptions) (*Client, error) {
	if len(master) < MinKeyBytes {
		return nil, fmt.Errorf("agent master key is %d bytes, need at least %d", len(master), MinKeyBytes)
	}
	if c == nil {
		return nil, errors.New("agent client needs a clock")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.EnrollEvery <= 0 {
		opts.EnrollEvery = 30 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxIdleConnsPerAgent <= 0 {
		opts.MaxIdleConnsPerAgent = 8
	}
	cl := &Client{
		master: slices.Clone(master), clock: c, maxBody: opts.MaxBody, sealer: opts.Sealer, enrollEvery: opts.EnrollEvery,
		dialer: &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
	}
	cl.hc = &http.Client{Transport: &http.Transport{
		DialTLSContext:      cl.dialTLS(true, opts.DialTimeout),
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: opts.MaxIdleConnsPerAgent,
		IdleConnTimeout:     90 * time.Second,
	}}
	cl.enrollHC = &http.Client{Transport: &http.Transport{
		DialTLSContext:    cl.dialTLS(false, opts.DialTimeout),
		DisableKeepAlives: true,
	}}
	return cl, nil
}

// peer returns what the client knows of an instance's agent.
func (c *Client) peer(instance string) *peer {
	if p, ok := c.peers.Load(instance); ok {
		return p.(*peer)
	}
	id := DeriveIdentity(c.master, instance)
	p, _ := c.peers.LoadOrStore(instance, &peer{id: id, pin: id.Pin()})
	return p.(*peer)
}

// PinError is a connection to an agent that presented a certificate other
// than its instance's: an agent not enrolled yet, one enrolled with
// another master key, or not that instance at all. Retryable.
type PinError struct {
	Instance string
	Got      Pin // zero when it presented none
	Want     Pin
}

func (e *PinError) Error() string {
	return fmt.Sprintf("agent %s presented a certificate with pin %.16s…, want %.16s… (not enrolled yet, enrolled with another key, or not that instance)", e.Instance, e.Got, e.Want)
}

// dialHost is the host of the URLs of an endpoint: the instance id and the
// hex of its address, so that connections are pooled per instance and
// address (one agent process may answer for several instances on one
// address, each connection being opened for one). It is never resolved:
// dialTLS decodes it.
func dialHost(ep mutation.Endpoint) string {
	return ep.InstanceID + "." + hex.EncodeToString([]byte(ep.Address))
}

func parseDialHost(addr string) (instance, address string, err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("agent dial address %q: %w", addr, err)
	}
	instance, enc, ok := strings.Cut(host, ".")
	raw, herr := hex.DecodeString(enc)
	if !ok || herr != nil || len(raw) == 0 {
		return "", "", fmt.Errorf("agent dial address %q is not one the client made", addr)
	}
	return instance, string(raw), nil
}

// dialTLS connects to the agent and completes a TLS 1.3 handshake for the
// instance; with pin, the agent's certificate must carry the instance's
// derived key (checked before any request is sent).
func (c *Client) dialTLS(pin bool, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		instance, address, err := parseDialHost(addr)
		if err != nil {
			return nil, err
		}
		raw, err := c.dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		conf := &tls.Config{
			ServerName: instance,
			MinVersion: tls.VersionTLS13,
			// No CA chain: the certificate is self-signed, and its key is
			// checked against the pin in VerifyConnection (or, to enroll,
			// not at all: what is sent then is sealed for the instance).
			InsecureSkipVerify: true, //nolint:gosec // pinned below
		}
		if pin {
			want := c.peer(instance).pin
			conf.VerifyConnection = func(cs tls.ConnectionState) error {
				var got Pin
				if len(cs.PeerCertificates) > 0 {
					got = pinOf(cs.PeerCertificates[0])
				}
				if got != want {
					return &PinError{Instance: instance, Got: got, Want: want}
				}
				return nil
			}
		}
		tc := tls.Client(raw, conf)
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// StatusError is an agent's answer with a status other than 200. It wraps
// mutation.ErrPermanent for a 4xx other than 401, 408 and 429: a retry of
// the same request cannot succeed. A 401 is not permanent: it means a key
// mismatch (rotation in progress) or clock skew, an operator's fix after
// which the same mutations must still be delivered, not dead-lettered.
type StatusError struct {
	Code    int
	Message string // the agent's error text
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("agent answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Permanent reports whether retrying cannot help.
func (e *StatusError) Permanent() bool {
	return e.Code >= 400 && e.Code < 500 && e.Code != http.StatusUnauthorized && e.Code != http.StatusRequestTimeout && e.Code != http.StatusTooManyRequests
}

// Unwrap makes errors.Is(err, mutation.ErrPermanent) true for a permanent
// status.
func (e *StatusError) Unwrap() error {
	if e.Permanent() {
		return mutation.ErrPermanent
	}
	return nil
}

// Apply sends a batch of one resource's mutations to the agent at to. The
// batch is sorted by seq (stably; a repeated seq keeps its first copy) and
// split so that each request fits the agent's body limit; the requests go
// in seq order. The returned Ack sums the requests that succeeded (Rejected
// lists the seqs the agent refused as arriving after their gap was skipped):
// on an error after some succeeded, it reports what the agent accepted
// before the error (zero when the first request failed); the Router retries
// the whole batch and the agent acknowledges what it holds as duplicates.
//
// Errors: a mutation of another resource, a mutation too large for any
// request, and a 4xx answer other than 401/408/429 wrap mutation.ErrPermanent;
// 5xx, 408, 429, timeouts and connection errors are returned plain
// (retryable).
func (c *Client) Apply(ctx context.Context, to mutation.Endpoint, resource string, batch []mutation.Mutation) (mutation.Ack, error) {
	if len(batch) == 0 {
		return mutation.Ack{}, nil
	}
	// The request bodies depend on the batch alone: the Router's deliveries
	// of one batch to the live agent and to its shadow's share them.
	var enc *encodedBatch
	if share := mutation.BatchShareFrom(ctx); share != nil {
		enc = share.Do(func() any { return c.encode(resource, batch) }).(*encodedBatch)
	} else {
		enc = c.encode(resource, batch)
	}
	if m := enc.stranger; m != nil {
		return mutation.Ack{}, fmt.Errorf("applying to agent %s: mutation %s/%d in a batch for %s: %w", to.InstanceID, m.Resource, m.Seq, resource, mutation.ErrPermanent)
	}
	parts, tooBig := enc.parts, enc.tooBig
	var ack mutation.Ack
	for _, p := range parts {
		var resp ApplyResponse
		if err := c.call(ctx, to, http.MethodPost, PathApply, "", p.body, &resp); err != nil {
			return ack, fmt.Errorf("applying %s seq %d..%d to agent %s: %w", resource, p.first, p.last, to.InstanceID, err)
		}
		ack.Through = max(ack.Through, resp.Through)
		ack.Contiguous = resp.Contiguous
		ack.Accepted += resp.Accepted
		ack.Rejected = append(ack.Rejected, resp.Rejected...)
		ack.Applied, ack.Backlog = resp.Applied, resp.Backlog
	}
	if tooBig != nil {
		return ack, fmt.Errorf("applying %s to agent %s: %w", resource, to.InstanceID, tooBig)
	}
	return ack, nil
}

// encodedBatch is a batch's request bodies (split), or the mutation of
// another resource that refuses the batch.
type encodedBatch struct {
	parts    []applyPart
	tooBig   error
	stranger *mutation.Mutation
}

// encode sorts a batch by seq, drops repeated seqs, and splits it into
// request bodies. The bodies are only read afterwards (sent, hashed), so
// deliveries may share them.
func (c *Client) encode(resource string, batch []mutation.Mutation) *encodedBatch {
	c.encodes.Add(1)
	sorted := make([]*mutation.Mutation, len(batch))
	for i := range batch {
		if batch[i].Resource != resource {
			return &encodedBatch{stranger: &batch[i]}
		}
		sorted[i] = &batch[i]
	}
	slices.SortStableFunc(sorted, func(a, b *mutation.Mutation) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	sorted = slices.CompactFunc(sorted, func(a, b *mutation.Mutation) bool { return a.Seq == b.Seq })
	parts, tooBig := c.split(resource, sorted)
	return &encodedBatch{parts: parts, tooBig: tooBig}
}

type applyPart struct {
	body        []byte
	first, last uint64
}

// split encodes the mutations into request bodies of at most maxBody
// bytes. A mutation that cannot fit even alone ends the split: it and the
// rest are not sent, and the error (wrapping ErrPermanent) says why.
func (c *Client) split(resource string, muts []*mutation.Mutation) ([]applyPart, error) {
	res, _ := json.Marshal(resource)
	prefix := append(append([]byte(`{"resource":`), res...), `,"mutations":[`...)
	const suffix = "]}"
	var parts []applyPart
	var cur []byte
	var first, last uint64
	flush := func() {
		if cur != nil {
			parts = append(parts, applyPart{body: append(cur, suffix...), first: first, last: last})
			cur = nil
		}
	}
	var b []byte // each mutation's JSON (what json.Marshal writes), reused
	for _, m := range muts {
		var err error
		b, err = mutation.AppendJSON(b[:0], *m)
		if err != nil {
			flush()
			return parts, fmt.Errorf("encoding %s/%d: %v: %w", m.Resource, m.Seq, err, mutation.ErrPermanent)
		}
		if int64(len(prefix)+len(b)+len(suffix)) > c.maxBody {
			flush()
			return parts, fmt.Errorf("mutation %s/%d encodes to %d bytes, over the agent's %d-byte request limit: %w", m.Resource, m.Seq, len(b), c.maxBody, mutation.ErrPermanent)
		}
		if cur != nil && int64(len(cur)+1+len(b)+len(suffix)) > c.maxBody {
			flush()
		}
		if cur == nil {
			cur = append(make([]byte, 0, min(c.maxBody, 64<<10)), prefix...) // grown by append: a batch is rarely near the limit
			first = m.Seq
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, b...)
		last = m.Seq
	}
	flush()
	return parts, nil
}

// Status returns the agent's status of one resource, or of all when
// resource is empty.
func (c *Client) Status(ctx context.Context, ep mutation.Endpoint, resource string) (StatusResponse, error) {
	var out StatusResponse
	q := ""
	if resource != "" {
		q = url.Values{"resource": {resource}}.Encode()
	}
	if err := c.call(ctx, ep, http.MethodGet, PathStatus, q, nil, &out); err != nil {
		return StatusResponse{}, fmt.Errorf("getting status from agent %s: %w", ep.InstanceID, err)
	}
	return out, nil
}

// Digest returns the digest of a resource's applied state on the agent.
func (c *Client) Digest(ctx context.Context, ep mutation.Endpoint, resource string) (DigestInfo, error) {
	var out DigestInfo
	q := url.Values{"resource": {resource}}.Encode()
	if err := c.call(ctx, ep, http.MethodGet, PathDigest, q, nil, &out); err != nil {
		return DigestInfo{}, fmt.Errorf("getting digest of %s from agent %s: %w", resource, ep.InstanceID, err)
	}
	return out, nil
}

// Resync copies a resource from one agent to another: it streams the
// snapshot exported by from into an import on to (chunk-signed), never
// holding more than a chunk in memory. The receiver keeps its own log
// entries above the snapshot (see Store.Import); the caller delivers the
// rest of the stream as usual.
func (c *Client) Resync(ctx context.Context, from, to mutation.Endpoint, resource string) (ImportResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"resource": {resource}}.Encode()
	// The import's body is the export streaming through: it cannot be sent
	// twice. A status call first opens (and, if need be, enrolls) the
	// receiver's connection, which the import then reuses.
	if _, err := c.Status(ctx, to, resource); err != nil {
		return ImportResult{}, fmt.Errorf("importing %s into agent %s: %w", resource, to.InstanceID, err)
	}
	exp, err := c.send(ctx, from, http.MethodGet, PathSnapshot, q, nil)
	if err != nil {
		return ImportResult{}, fmt.Errorf("exporting %s from agent %s: %w", resource, from.InstanceID, err)
	}
	defer exp.Body.Close()

	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(to, PathSnapshot, q), pr)
	if err != nil {
		return ImportResult{}, fmt.Errorf("importing %s into agent %s: %w", resource, to.InstanceID, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	id := c.peer(to.InstanceID).id
	seed := signRequest(id, req, c.clock.Now(), newNonce(), StreamingPayload)
	copied := make(chan error, 1)
	go func() {
		cw := newChunkWriter(pw, id.Key, seed, 256<<10)
		_, err := io.Copy(cw, exp.Body)
		if err == nil {
			err = cw.Close()
		}
		pw.CloseWithError(err)
		copied <- err
	}()
	resp, err := c.hc.Do(req)
	err = plainURLError(err)
	pr.CloseWithError(errImportDone) // the writer must not block if the agent stopped reading
	copyErr := <-copied
	if copyErr != nil && errors.Is(copyErr, errImportDone) {
		copyErr = nil
	}
	if err != nil {
		if copyErr != nil {
			err = fmt.Errorf("streaming the snapshot: %w", copyErr)
		}
		return ImportResult{}, fmt.Errorf("importing %s from agent %s into agent %s: %w", resource, from.InstanceID, to.InstanceID, err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		serr := statusError(resp)
		if copyErr != nil { // a broken export is worth a retry, whatever the importer made of it
			return ImportResult{}, fmt.Errorf("importing %s from agent %s into agent %s: streaming the snapshot: %w (importer: %v)", resource, from.InstanceID, to.InstanceID, copyErr, serr)
		}
		return ImportResult{}, fmt.Errorf("importing %s into agent %s: %w", resource, to.InstanceID, serr)
	}
	var out ImportResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return ImportResult{}, fmt.Errorf("importing %s into agent %s: decoding answer: %w", resource, to.InstanceID, err)
	}
	return out, nil
}

var errImportDone = errors.New("import request finished")

func newNonce() [16]byte {
	var n [16]byte
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails (Go 1.24+)
	return n
}

func (c *Client) url(ep mutation.Endpoint, path, query string) string {
	u := url.URL{Scheme: "https", Host: dialHost(ep), Path: path, RawQuery: query}
	return u.String()
}

// plainURLError drops the *url.Error around a transport error: its URL is
// the client's internal host (dialHost), noise in a message that names
// the agent already.
func plainURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkEndpoint refuses an endpoint no request can be made for.
func checkEndpoint(ep mutation.Endpoint) error {
	if ep.Address == "" {
		return fmt.Errorf("agent %s has no address: %w", ep.InstanceID, mutation.ErrPermanent)
	}
	if err := CheckInstanceID(ep.InstanceID); err != nil {
		return fmt.Errorf("agent at %s: %w: %w", ep.Address, err, mutation.ErrPermanent)
	}
	return nil
}

// send signs and sends a request and returns the response when its status
// is 200; otherwise the error (a *StatusError for an error status). When
// the agent presents another certificate than its instance's and the
// client can enroll, it enrolls the agent and sends the request once more.
func (c *Client) send(ctx context.Context, ep mutation.Endpoint, method, path, query string, body []byte) (*http.Response, error) {
	if err := checkEndpoint(ep); err != nil {
		return nil, err
	}
	p := c.peer(ep.InstanceID)
	do := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.url(ep, path, query), bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("building request: %v: %w", err, mutation.ErrPermanent)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		signRequest(p.id, req, c.clock.Now(), newNonce(), bodyHash(body))
		resp, err := c.hc.Do(req)
		return resp, plainURLError(err)
	}
	resp, err := do()
	if pe := (*PinError)(nil); errors.As(err, &pe) && c.sealer != nil {
		if eerr := c.enrollPeer(ctx, ep, p); eerr != nil {
			return nil, fmt.Errorf("%w; enrolling it: %w", err, eerr)
		}
		resp, err = do()
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer drain(resp.Body)
		return nil, statusError(resp)
	}
	return resp, nil
}

// call sends a request and decodes the JSON answer into out.
func (c *Client) call(ctx context.Context, ep mutation.Endpoint, method, path, query string, body []byte, out any) error {
	resp, err := c.send(ctx, ep, method, path, query, body)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	return nil
}

func statusError(resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	var er ErrorResponse
	if json.Unmarshal(b, &er) == nil && er.Error != "" {
		msg = er.Error
	}
	return &StatusError{Code: resp.StatusCode, Message: msg}
}

// drain reads a little of what is left so the connection can be reused,
// then closes the body.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}

// Enroll delivers the instance's key to its agent (see Sealer): sealed for
// that instance, so only the agent running there can open it. Send
// enrolls by itself when an agent presents the wrong certificate; this is
// for callers that want to do it ahead.
func (c *Client) Enroll(ctx context.Context, ep mutation.Endpoint) error {
	if err := checkEndpoint(ep); err != nil {
		return err
	}
	if c.sealer == nil {
		return fmt.Errorf("enrolling agent %s: the client has no sealer: %w", ep.InstanceID, mutation.ErrPermanent)
	}
	p := c.peer(ep.InstanceID)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastEnroll, p.lastErr = c.clock.Now(), c.enroll(ctx, ep, p)
	return p.lastErr
}

// enrollPeer enrolls the agent unless that was attempted within
// enrollEvery: then it reports how that attempt ended (a concurrent caller
// that just enrolled it makes this one retry its request at once).
func (c *Client) enrollPeer(ctx context.Context, ep mutation.Endpoint, p *peer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := c.clock.Now()
	if !p.lastEnroll.IsZero() && now.Sub(p.lastEnroll) < c.enrollEvery {
		if p.lastErr != nil {
			return fmt.Errorf("the last enrollment, %s ago, failed (next try after %s): %w", now.Sub(p.lastEnroll).Round(time.Millisecond), c.enrollEvery, p.lastErr)
		}
		return nil
	}
	p.lastEnroll, p.lastErr = now, c.enroll(ctx, ep, p)
	return p.lastErr
}

// enroll seals the instance's enrollment and posts it. An agent busy
// enrolling (429: another function of the plane got there first, as every
// fanout environment meets a new agent at about the same time) is looked
// at again a second later: if it now presents the pinned certificate, the
// other enrollment did it; else it is asked once more.
func (c *Client) enroll(ctx context.Context, ep mutation.Endpoint, p *peer) error {
	err := c.enrollOnce(ctx, ep, p)
	if se := (*StatusError)(nil); errors.As(err, &se) && se.Code == http.StatusTooManyRequests {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(enrollInterval + 100*time.Millisecond):
		}
		if c.pinned(ctx, ep) {
			return nil
		}
		err = c.enrollOnce(ctx, ep, p)
	}
	return err
}

// pinned reports whether the agent now completes a pinned handshake.
func (c *Client) pinned(ctx context.Context, ep mutation.Endpoint) bool {
	conn, err := c.dialTLS(true, c.dialer.Timeout)(ctx, "tcp", net.JoinHostPort(dialHost(ep), "443"))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (c *Client) enrollOnce(ctx context.Context, ep mutation.Endpoint, p *peer) error {
	plain, err := json.Marshal(Enrollment{V: EnrollmentVersion, Instance: p.id.InstanceID, Key: p.id.Key, IssuedAt: c.clock.Now().Unix()})
	if err != nil {
		return fmt.Errorf("encoding the enrollment: %w", err)
	}
	sealed, err := c.sealer.Seal(ctx, p.id.InstanceID, plain)
	if err != nil {
		return fmt.Errorf("sealing the enrollment of %s: %w", p.id.InstanceID, err)
	}
	body, err := json.Marshal(EnrollRequest{Instance: p.id.InstanceID, Sealed: sealed})
	if err != nil {
		return fmt.Errorf("encoding the enrollment request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(ep, PathEnroll, ""), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the enrollment request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.enrollHC.Do(req)
	if err != nil {
		return plainURLError(err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	return nil
}
