package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Client calls agents over HTTP, signing every request. It implements
// mutation.Applier for the fan-out and offers Status, Digest and Resync to
// the reconciler. Timeouts come from the caller's context.
type Client struct {
	key     []byte
	clock   clock.Clock
	hc      *http.Client
	maxBody int64
	scheme  string
}

var _ mutation.Applier = (*Client)(nil)

// ClientOptions tune a Client; zero values take the defaults.
type ClientOptions struct {
	// HTTPClient carries the requests (default: a pooled transport without
	// proxy, dial timeout 5s, no overall timeout: use contexts).
	HTTPClient *http.Client
	// MaxBody is the agents' body limit (default DefaultMaxBody): Apply
	// splits a batch so that no request exceeds it.
	MaxBody int64
	// Scheme is "http" (default) or "https".
	Scheme string
}

// NewClient returns a client signing with key, its timestamps from c.
func NewClient(key []byte, c clock.Clock, opts ClientOptions) (*Client, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("agent key is %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	if c == nil {
		return nil, errors.New("agent client needs a clock")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	switch opts.Scheme {
	case "":
		opts.Scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("agent client scheme %q is not http or https", opts.Scheme)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	return &Client{key: slices.Clone(key), clock: c, hc: opts.HTTPClient, maxBody: opts.MaxBody, scheme: opts.Scheme}, nil
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
	sorted := make([]*mutation.Mutation, len(batch))
	for i := range batch {
		if batch[i].Resource != resource {
			return mutation.Ack{}, fmt.Errorf("applying to agent %s: mutation %s/%d in a batch for %s: %w", to.InstanceID, batch[i].Resource, batch[i].Seq, resource, mutation.ErrPermanent)
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
	for _, m := range muts {
		b, err := json.Marshal(m)
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
			cur = append(make([]byte, 0, min(c.maxBody, 1<<20)), prefix...)
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
	seed := signRequest(c.key, req, c.clock.Now(), newNonce(), StreamingPayload)
	copied := make(chan error, 1)
	go func() {
		cw := newChunkWriter(pw, c.key, seed, 256<<10)
		_, err := io.Copy(cw, exp.Body)
		if err == nil {
			err = cw.Close()
		}
		pw.CloseWithError(err)
		copied <- err
	}()
	resp, err := c.hc.Do(req)
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
	u := url.URL{Scheme: c.scheme, Host: ep.Address, Path: path, RawQuery: query}
	return u.String()
}

// send signs and sends a request and returns the response when its status
// is 200; otherwise the error (a *StatusError for an error status).
func (c *Client) send(ctx context.Context, ep mutation.Endpoint, method, path, query string, body []byte) (*http.Response, error) {
	if ep.Address == "" {
		return nil, fmt.Errorf("agent %s has no address: %w", ep.InstanceID, mutation.ErrPermanent)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(ep, path, query), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request: %v: %w", err, mutation.ErrPermanent)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	signRequest(c.key, req, c.clock.Now(), newNonce(), bodyHash(body))
	resp, err := c.hc.Do(req)
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
