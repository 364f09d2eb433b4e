package agent

import (
	"bufio"
	"container/heap"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Request authentication (docs/AGENT.md, "Authentication"), version 2.
//
// Every request carries five headers:
//
//	X-Shadow-Instance: i-0abc                          (the instance the request is for)
//	X-Shadow-Timestamp: 1764331200                      (unix seconds)
//	X-Shadow-Nonce: 9f86d081884c7d659a2feaa0c55ad015   (16 random bytes, hex)
//	X-Shadow-Content-Sha256: <hex SHA-256 of the body> (or StreamingPayload)
//	Authorization: SHADOW2-HMAC-SHA256 Signature=<hex HMAC-SHA256>
//
// The signature is HMAC-SHA256 with the target instance's own key (see
// DeriveKey) over the string to sign:
//
//	SHADOW2-HMAC-SHA256 "\n" instance "\n" METHOD "\n" escaped-path ["?" raw-query] "\n" timestamp "\n" nonce "\n" content-sha256
//
// The agent refuses a request for an instance it is not (and one that
// arrived on a TLS connection for another instance), so a request signed
// for one agent cannot be replayed to another. A body too large to hash
// before sending (a snapshot) is sent with content-sha256 =
// StreamingPayload and framed in signed chunks (see chunkWriter).
const (
	HeaderInstance      = "X-Shadow-Instance"
	HeaderTimestamp     = "X-Shadow-Timestamp"
	HeaderNonce         = "X-Shadow-Nonce"
	HeaderContentSHA256 = "X-Shadow-Content-Sha256"
	HeaderAuthorization = "Authorization"
	// AuthScheme names the scheme in the Authorization header and starts
	// the string to sign. Version 1 (SHADOW-HMAC-SHA256: one fleet-wide
	// key, no target instance) is refused.
	AuthScheme = "SHADOW2-HMAC-SHA256"
	// StreamingPayload replaces the body hash of a chunk-signed body.
	StreamingPayload = "STREAMING-SHADOW2-HMAC-SHA256-CHUNKS"
	// MaxChunkBytes bounds one chunk of a chunk-signed body.
	MaxChunkBytes = 1 << 20
	// MinKeyBytes is the shortest master key accepted.
	MinKeyBytes = 16
)

// ErrUnauthorized marks a request that failed authentication.
var ErrUnauthorized = errors.New("unauthorized")

// errReplayCacheFull is returned when the replay cache cannot remember one
// more nonce: the request is refused (503) rather than risking a replay.
var errReplayCacheFull = errors.New("replay cache full")

// KeyFromSecret turns the secret's text (a Secrets Manager SecretString,
// a file's content) into the master key the plane derives the agents'
// keys from: its bytes with surrounding whitespace removed.
func KeyFromSecret(secret []byte) ([]byte, error) {
	k := []byte(strings.TrimSpace(string(secret)))
	if len(k) < MinKeyBytes {
		return nil, fmt.Errorf("agent key is %d bytes after trimming whitespace, need at least %d", len(k), MinKeyBytes)
	}
	return k, nil
}

// canonicalURI is the path and query as signed: the escaped path, and the
// raw query when there is one.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		return p + "?" + u.RawQuery
	}
	return p
}

func stringToSign(instance, method, uri, ts, nonce, contentHash string) []byte {
	var b strings.Builder
	b.Grow(len(AuthScheme) + len(instance) + len(method) + len(uri) + len(ts) + len(nonce) + len(contentHash) + 6)
	b.WriteString(AuthScheme)
	b.WriteByte('\n')
	b.WriteString(instance)
	b.WriteByte('\n')
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(ts)
	b.WriteByte('\n')
	b.WriteString(nonce)
	b.WriteByte('\n')
	b.WriteString(contentHash)
	return []byte(b.String())
}

func sign(key []byte, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// signRequest sets the authentication headers of req, a request for the
// identity's instance, for a body with the given content hash (hex
// SHA-256, or StreamingPayload) and returns the raw signature (the seed of
// a chunk-signed body).
func signRequest(id Identity, req *http.Request, now time.Time, nonce [16]byte, contentHash string) []byte {
	ts := strconv.FormatInt(now.Unix(), 10)
	n := hex.EncodeToString(nonce[:])
	sig := sign(id.Key, stringToSign(id.InstanceID, req.Method, canonicalURI(req.URL), ts, n, contentHash))
	req.Header.Set(HeaderInstance, id.InstanceID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, n)
	req.Header.Set(HeaderContentSHA256, contentHash)
	req.Header.Set(HeaderAuthorization, AuthScheme+" Signature="+hex.EncodeToString(sig))
	return sig
}

func bodyHash(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// verifier checks request signatures and remembers nonces.
type verifier struct {
	// key returns the key of an identity the agent answers for.
	key    func(instance string) ([]byte, bool)
	clock  clock.Clock
	skew   time.Duration
	replay *replayCache
}

// signedRequest is what verifyHeaders learned from a request.
type signedRequest struct {
	instance    string
	key         []byte // the instance's
	contentHash string // hex SHA-256 or StreamingPayload
	signature   []byte
}

// verifyHeaders authenticates the request line and headers: presence, a
// target instance the agent answers for (and, over TLS, the one the
// connection was opened for), timestamp within the skew window, the
// signature with that instance's key, and a nonce not seen before. The
// body is checked afterwards against contentHash.
func (v *verifier) verifyHeaders(r *http.Request) (signedRequest, error) {
	instance := r.Header.Get(HeaderInstance)
	ts := r.Header.Get(HeaderTimestamp)
	nonceHex := r.Header.Get(HeaderNonce)
	ch := r.Header.Get(HeaderContentSHA256)
	auth := r.Header.Get(HeaderAuthorization)
	if instance == "" || ts == "" || nonceHex == "" || ch == "" || auth == "" {
		return signedRequest{}, fmt.Errorf("%w: missing authentication headers", ErrUnauthorized)
	}
	key, ok := v.key(instance)
	if !ok {
		return signedRequest{}, fmt.Errorf("%w: the request is for instance %.64q, which this agent is not", ErrUnauthorized, instance)
	}
	if r.TLS != nil && r.TLS.ServerName != instance {
		return signedRequest{}, fmt.Errorf("%w: the request for %s came on a connection opened for %.64q", ErrUnauthorized, instance, r.TLS.ServerName)
	}
	sigHex, ok := strings.CutPrefix(auth, AuthScheme+" Signature=")
	if !ok {
		return signedRequest{}, fmt.Errorf("%w: authorization is not %s", ErrUnauthorized, AuthScheme)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != sha256.Size {
		return signedRequest{}, fmt.Errorf("%w: malformed signature", ErrUnauthorized)
	}
	var nonce [16]byte
	if len(nonceHex) != 2*len(nonce) {
		return signedRequest{}, fmt.Errorf("%w: nonce must be %d hex digits", ErrUnauthorized, 2*len(nonce))
	}
	if _, err := hex.Decode(nonce[:], []byte(nonceHex)); err != nil {
		return signedRequest{}, fmt.Errorf("%w: nonce is not hex", ErrUnauthorized)
	}
	if ch != StreamingPayload && (len(ch) != 2*sha256.Size || !isLowerHex(ch)) {
		return signedRequest{}, fmt.Errorf("%w: content hash is not lowercase hex SHA-256", ErrUnauthorized)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return signedRequest{}, fmt.Errorf("%w: timestamp is not unix seconds", ErrUnauthorized)
	}
	now := v.clock.Now()
	at := time.Unix(sec, 0)
	if !withinSkew(now, at, v.skew) {
		return signedRequest{}, fmt.Errorf("%w: timestamp outside the %s skew window", ErrUnauthorized, v.skew)
	}
	want := sign(key, stringToSign(instance, r.Method, canonicalURI(r.URL), ts, nonceHex, ch))
	if !hmac.Equal(sig, want) {
		return signedRequest{}, fmt.Errorf("%w: bad signature", ErrUnauthorized)
	}
	// Only a correctly signed request may occupy the replay cache. A nonce
	// must be remembered until its timestamp leaves the window.
	if err := v.replay.add(nonce, at.Add(v.skew), now); err != nil {
		return signedRequest{}, err
	}
	return signedRequest{instance: instance, key: key, contentHash: ch, signature: sig}, nil
}

// withinSkew reports whether at is strictly closer than skew to now: the
// window of a request's timestamp and of an enrollment's. Strictly: a
// request signed exactly skew ago would be accepted at the instant its
// nonce leaves the replay cache (at + skew), and so could be replayed then.
func withinSkew(now, at time.Time, skew time.Duration) bool {
	d := now.Sub(at)
	return d < skew && d > -skew
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// replayCache remembers nonces until they expire. It is bounded: when full
// of unexpired nonces it refuses new ones (fail closed).
type replayCache struct {
	mu   sync.Mutex
	max  int
	seen map[[16]byte]struct{}
	exp  expiryHeap
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[[16]byte]struct{})}
}

func (c *replayCache) add(nonce [16]byte, expires, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.exp) > 0 && !c.exp[0].at.After(now) {
		e := heap.Pop(&c.exp).(expiry)
		delete(c.seen, e.nonce)
	}
	if _, dup := c.seen[nonce]; dup {
		return fmt.Errorf("%w: replayed nonce", ErrUnauthorized)
	}
	if len(c.seen) >= c.max {
		return errReplayCacheFull
	}
	c.seen[nonce] = struct{}{}
	heap.Push(&c.exp, expiry{at: expires, nonce: nonce})
	return nil
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type expiry struct {
	at    time.Time
	nonce [16]byte
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// Chunk-signed bodies.
//
// A body sent with content hash StreamingPayload is a sequence of chunks:
//
//	uint32 big-endian length n (0..MaxChunkBytes) | n bytes of data | 32 bytes signature
//
// where signature_i = HMAC-SHA256(key, "SHADOW2-CHUNK\n" || signature_{i-1} || data_i)
// and signature_0's predecessor is the request's signature. The body ends
// with one chunk of length 0 (signed the same way); nothing may follow it.
// A truncated, reordered or altered stream fails verification.
const chunkDomain = "SHADOW2-CHUNK\n"

func chunkSignature(key, prev, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(chunkDomain))
	m.Write(prev)
	m.Write(data)
	return m.Sum(nil)
}

// chunkWriter frames what is written to it into signed chunks.
type chunkWriter struct {
	w    *bufio.Writer
	key  []byte
	prev []byte
	buf  []byte
	done bool
}

// newChunkWriter returns a writer that frames into w; seed is the
// request's raw signature. Close writes the final chunk.
func newChunkWriter(w io.Writer, key, seed []byte, chunkSize int) *chunkWriter {
	if chunkSize <= 0 || chunkSize > MaxChunkBytes {
		chunkSize = 256 << 10
	}
	return &chunkWriter{w: bufio.NewWriterSize(w, 64<<10), key: key, prev: seed, buf: make([]byte, 0, chunkSize)}
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		room := cap(c.buf) - len(c.buf)
		take := min(room, len(p))
		c.buf = append(c.buf, p[:take]...)
		p = p[take:]
		n += take
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(c.buf)))
	sig := chunkSignature(c.key, c.prev, c.buf)
	if _, err := c.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("writing chunk: %w", err)
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return fmt.Errorf("writing chunk: %w", err)
	}
	if _, err := c.w.Write(sig); err != nil {
		return fmt.Errorf("writing chunk: %w", err)
	}
	c.prev = sig
	c.buf = c.buf[:0]
	return nil
}

// Close flushes pending data and writes the final, empty chunk.
func (c *chunkWriter) Close() error {
	if c.done {
		return nil
	}
	c.done = true
	if len(c.buf) > 0 {
		if err := c.flush(); err != nil {
			return err
		}
	}
	if err := c.flush(); err != nil { // the empty final chunk
		return err
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("writing chunk: %w", err)
	}
	return nil
}

// chunkReader verifies a chunk-signed body and yields its data; a chunk's
// data is released only after its signature is verified.
type chunkReader struct {
	r    *bufio.Reader
	key  []byte
	prev []byte
	buf  []byte
	off  int
	err  error
}

func newChunkReader(r io.Reader, key, seed []byte) *chunkReader {
	return &chunkReader{r: bufio.NewReaderSize(r, 64<<10), key: key, prev: seed}
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.next()
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

func (c *chunkReader) next() error {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return fmt.Errorf("%w: chunked body truncated before its final chunk", ErrUnauthorized)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxChunkBytes {
		return fmt.Errorf("%w: chunk of %d bytes exceeds %d", ErrUnauthorized, n, MaxChunkBytes)
	}
	if cap(c.buf) < int(n) {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	c.off = 0
	sig := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		c.buf = c.buf[:0]
		return fmt.Errorf("%w: chunked body truncated in a chunk", ErrUnauthorized)
	}
	if _, err := io.ReadFull(c.r, sig); err != nil {
		c.buf = c.buf[:0]
		return fmt.Errorf("%w: chunked body truncated in a signature", ErrUnauthorized)
	}
	if !hmac.Equal(sig, chunkSignature(c.key, c.prev, c.buf)) {
		c.buf = c.buf[:0]
		return fmt.Errorf("%w: bad chunk signature", ErrUnauthorized)
	}
	c.prev = sig
	if n == 0 {
		switch _, err := c.r.ReadByte(); {
		case err == nil:
			return fmt.Errorf("%w: data after the final chunk", ErrUnauthorized)
		case err != io.EOF:
			return fmt.Errorf("reading chunked body: %w", err)
		}
		return io.EOF
	}
	return nil
}
