// Package agent is the shadow agent that runs on every live and shadow
// instance (docs/AGENT.md): an authenticated API over TLS, each agent
// holding only its own instance's key (derived from the plane's master
// key, delivered sealed for that instance), that accepts batches
// of mutations idempotently by seq into a durable log (bbolt, synced before
// the ack), a worker that applies them to a key/value state, status, a
// state digest, and snapshot export/import for resync; and the Client the
// control plane uses to call it (a mutation.Applier).
//
// The package is pure Go: time comes from a clock.Clock, the key from the
// caller.
package agent

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
)

// Defaults of the agent.
const (
	DefaultPort = shadow.DefaultAgentPort
	// DefaultMaxBody fits a batch holding one maximal (1 MiB) mutation and
	// plenty of small ones, base64 and JSON overhead included.
	DefaultMaxBody  = 8 << 20
	DefaultSkew     = 5 * time.Minute
	DefaultReplay   = 1 << 18
	DefaultInflight = 16
)

// API paths.
const (
	PathApply    = "/v1/apply"
	PathStatus   = "/v1/status"
	PathDigest   = "/v1/digest"
	PathSnapshot = "/v1/snapshot"
)

// ApplyRequest is the body of POST /v1/apply.
type ApplyRequest struct {
	Resource  string              `json:"resource"`
	Mutations []mutation.Mutation `json:"mutations"`
}

// ApplyResponse is the answer to POST /v1/apply (the Ack plus detail);
// docs/AGENT.md describes every field.
type ApplyResponse struct {
	Resource   string   `json:"resource"`
	Through    uint64   `json:"through"`
	Contiguous uint64   `json:"contiguous"`
	Accepted   int      `json:"accepted"`
	Filled     int      `json:"filled"`
	Duplicates int      `json:"duplicates"`
	Rejected   []uint64 `json:"rejected"`
	Opened     uint64   `json:"opened"`
	Missing    uint64   `json:"missing"`
	Applied    uint64   `json:"applied"`
	Backlog    uint64   `json:"backlog"`
}

// StatusResponse is the answer to GET /v1/status.
type StatusResponse struct {
	StartedAt time.Time        `json:"started_at"`
	Now       time.Time        `json:"now"`
	Resources []ResourceStatus `json:"resources"`
}

// ErrorResponse is the body of every error status.
type ErrorResponse struct {
	Error string `json:"error"`
}

// ServerConfig configures a Server. Clock is required, and at least one
// identity or Enroll.
type ServerConfig struct {
	// Identities are the instances the agent answers for, with their keys
	// (a key file): normally one, the instance it runs on.
	Identities []Identity
	// Enroll, when set, lets the plane deliver this instance's key
	// (POST /v1/enroll); the agent answers for no instance until then
	// (unless Enroll.Current holds one from before).
	Enroll *EnrollConfig
	Clock  clock.Clock
	Logger *slog.Logger
	// MaxBody bounds a request body (default DefaultMaxBody); larger ones
	// get 413. A chunk-signed snapshot import is bounded per chunk instead.
	MaxBody int64
	// Skew bounds how far a request's timestamp may be from the clock:
	// strictly less than it (default 5 minutes).
	Skew time.Duration
	// ReplayCache bounds the nonces remembered (default 262,144); when
	// full of unexpired nonces, requests get 503.
	ReplayCache int
	// MaxInflight bounds the request bodies buffered at once (default 16),
	// and so the memory they take.
	MaxInflight int
}

// Server is the agent's HTTP API over a Store. It must be served over TLS
// with the configuration TLSConfig returns.
type Server struct {
	store  *Store
	cfg    ServerConfig
	log    *slog.Logger
	ids    *identitySet
	enroll *enroller // nil: started with its keys
	ver    *verifier
	mux    *http.ServeMux
	sem    chan struct{}
}

var _ http.Handler = (*Server)(nil)

// NewServer returns the API handler for st.
func NewServer(st *Store, cfg ServerConfig) (*Server, error) {
	if cfg.Clock == nil {
		return nil, errors.New("agent server needs a clock")
	}
	if len(cfg.Identities) == 0 && cfg.Enroll == nil {
		return nil, errors.New("agent server needs its identities (a key file) or enrollment")
	}
	ids := &identitySet{byID: map[string]*tls.Certificate{}, keys: map[string][]byte{}}
	for _, id := range cfg.Identities {
		cert, err := id.Certificate(cfg.Clock.Now())
		if err != nil {
			return nil, err
		}
		if _, dup := ids.keys[id.InstanceID]; dup {
			return nil, fmt.Errorf("identity %s given twice", id.InstanceID)
		}
		ids.set(id, &cert)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.ReplayCache <= 0 {
		cfg.ReplayCache = DefaultReplay
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultInflight
	}
	s := &Server{
		store: st, cfg: cfg, log: cfg.Logger, ids: ids,
		ver: &verifier{key: ids.key, clock: cfg.Clock, skew: cfg.Skew, replay: newReplayCache(cfg.ReplayCache)},
		mux: http.NewServeMux(),
		sem: make(chan struct{}, cfg.MaxInflight),
	}
	if cfg.Enroll != nil {
		if len(cfg.Identities) > 0 {
			return nil, errors.New("agent server takes its identities from a key file or from enrollment, not both")
		}
		e, err := newEnroller(*cfg.Enroll, cfg.Clock.Now())
		if err != nil {
			return nil, err
		}
		s.enroll = e
		if cur := cfg.Enroll.Current; cur != nil {
			if err := cur.Check(); err != nil {
				return nil, fmt.Errorf("the saved enrollment: %w", err)
			}
			cert, err := cur.Identity().Certificate(cfg.Clock.Now())
			if err != nil {
				return nil, err
			}
			ids.set(cur.Identity(), &cert)
		}
	}
	s.mux.HandleFunc("POST "+PathApply, s.apply)
	s.mux.HandleFunc("GET "+PathStatus, s.status)
	s.mux.HandleFunc("GET "+PathDigest, s.digest)
	s.mux.HandleFunc("GET "+PathSnapshot, s.export)
	s.mux.HandleFunc("POST "+PathSnapshot, s.importSnapshot)
	return s, nil
}

// SetIdentities replaces the identities of an agent started with its keys
// (its key file read again): requests for an instance no longer listed are
// refused from now on, on connections already open too.
func (s *Server) SetIdentities(ids []Identity) error {
	if s.enroll != nil {
		return errors.New("an agent that is enrolled takes its identity from enrollment, not a key file")
	}
	if len(ids) == 0 {
		return errors.New("no identity")
	}
	certs := make(map[string]*tls.Certificate, len(ids))
	keys := make(map[string][]byte, len(ids))
	for _, id := range ids {
		if _, dup := keys[id.InstanceID]; dup {
			return fmt.Errorf("identity %s given twice", id.InstanceID)
		}
		c, err := id.Certificate(s.cfg.Clock.Now())
		if err != nil {
			return err
		}
		certs[id.InstanceID], keys[id.InstanceID] = &c, slices.Clone(id.Key)
	}
	s.ids.mu.Lock()
	defer s.ids.mu.Unlock()
	s.ids.byID, s.ids.keys = certs, keys
	return nil
}

// Identities returns the instances the agent answers for now, sorted.
func (s *Server) Identities() []string { return s.ids.names() }

// TLSConfig is the agent's TLS configuration: TLS 1.3, and for each
// connection the certificate of the instance it names (the server name
// the client sends), derived from that instance's key, which the client
// pins. An agent waiting for its enrollment presents a placeholder
// certificate for its own instance; a connection for an instance the agent
// is not fails.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: s.certificate}
}

func (s *Server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c, ok := s.ids.cert(hello.ServerName); ok {
		return c, nil
	}
	if s.enroll != nil && hello.ServerName == s.enroll.cfg.InstanceID {
		return s.enroll.unenrolled, nil
	}
	return nil, fmt.Errorf("no identity for server name %.64q", hello.ServerName)
}

// identitySet holds the identities the agent answers for; enrollment
// replaces one while requests are served.
type identitySet struct {
	mu   sync.RWMutex
	byID map[string]*tls.Certificate
	keys map[string][]byte
}

func (s *identitySet) set(id Identity, cert *tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[id.InstanceID] = cert
	s.keys[id.InstanceID] = slices.Clone(id.Key)
}

func (s *identitySet) key(instance string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[instance]
	return k, ok
}

func (s *identitySet) cert(instance string) (*tls.Certificate, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.byID[instance]
	return c, ok
}

func (s *identitySet) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.keys))
	for k := range s.keys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ServeHTTP authenticates the request, bounds and checks its body, then
// routes it. Enrollment is authenticated by its sealed body instead.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathEnroll {
		s.enrollHTTP(w, r)
		return
	}
	if r.TLS == nil {
		s.reject(w, r, http.StatusForbidden, errors.New("the agent API is served over TLS only"))
		return
	}
	sr, err := s.ver.verifyHeaders(r)
	if err != nil {
		if errors.Is(err, errReplayCacheFull) {
			s.reject(w, r, http.StatusServiceUnavailable, err)
			return
		}
		w.Header().Set("WWW-Authenticate", AuthScheme)
		s.reject(w, r, http.StatusUnauthorized, err)
		return
	}
	if sr.contentHash == StreamingPayload {
		if r.Method != http.MethodPost || r.URL.Path != PathSnapshot {
			s.reject(w, r, http.StatusBadRequest, errors.New("a chunk-signed body is only accepted by POST "+PathSnapshot))
			return
		}
		r.Body = io.NopCloser(newChunkReader(r.Body, sr.key, sr.signature))
		s.mux.ServeHTTP(w, r)
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		s.reject(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes exceeds the limit of %d", r.ContentLength, s.cfg.MaxBody))
		return
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-r.Context().Done():
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			s.reject(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("body exceeds the limit of %d bytes", s.cfg.MaxBody))
			return
		}
		s.reject(w, r, http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != sr.contentHash {
		w.Header().Set("WWW-Authenticate", AuthScheme)
		s.reject(w, r, http.StatusUnauthorized, fmt.Errorf("%w: body does not match the signed content hash", ErrUnauthorized))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mux.ServeHTTP(w, r)
}

// reject answers an error status and logs it (never the body).
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	drainRejected(r)
	level := slog.LevelWarn
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request rejected", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
	writeJSON(w, status, ErrorResponse{Error: err.Error()})
}

// maxDrain bounds how much of a rejected request's unread body is read.
const maxDrain = 1 << 20

// drainRejected reads what is left of a rejected request's body, up to maxDrain.
// A connection that closes on unread data (the client asked for close, or
// the body went over a limit) is reset, and a client still writing the
// body then reads the reset instead of the answer (a 413 or 401 would
// become a retried transport error).
func drainRejected(r *http.Request) {
	if r.Body != nil && r.ContentLength != 0 {
		_, _ = io.CopyN(io.Discard, r.Body, maxDrain)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusOf maps a store error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadBatch), errors.Is(err, ErrBadSnapshot):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrNoResource):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	var req ApplyRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.reject(w, r, http.StatusBadRequest, fmt.Errorf("%w: decoding request: %s", ErrBadBatch, jsonReason(err)))
		return
	}
	res, err := s.store.Accept(req.Resource, req.Mutations)
	if err != nil {
		s.reject(w, r, statusOf(err), err)
		return
	}
	if len(res.Rejected) > 0 {
		s.log.Warn("late mutations rejected", "resource", req.Resource, "count", len(res.Rejected),
			"first_seq", res.Rejected[0], "last_seq", res.Rejected[len(res.Rejected)-1])
	}
	rejected := res.Rejected
	if rejected == nil {
		rejected = []uint64{}
	}
	writeJSON(w, http.StatusOK, ApplyResponse{
		Resource: req.Resource, Through: res.Through, Contiguous: res.Contiguous,
		Accepted: res.Accepted, Filled: res.Filled, Duplicates: res.Duplicates, Rejected: rejected,
		Opened: res.Opened, Missing: res.Missing, Applied: res.Applied, Backlog: res.Backlog,
	})
}

// jsonReason describes a JSON decoding error without quoting the input
// (which may hold a mutation's value).
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		kind, _, _ := strings.Cut(te.Value, " ") // "number 4111..." holds the number itself
		return fmt.Sprintf("field %q cannot hold a JSON %s", te.Field, kind)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "invalid JSON document"
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	resp := StatusResponse{StartedAt: s.store.OpenedAt(), Now: s.cfg.Clock.Now()}
	if res := r.URL.Query().Get("resource"); res != "" {
		resp.Resources = []ResourceStatus{s.store.Status(res)}
	} else {
		resp.Resources = s.store.Statuses()
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) resourceParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	res := r.URL.Query().Get("resource")
	if res == "" || len(res) > mutation.MaxResourceLen {
		s.reject(w, r, http.StatusBadRequest, fmt.Errorf("query parameter resource must be 1 to %d bytes", mutation.MaxResourceLen))
		return "", false
	}
	return res, true
}

func (s *Server) digest(w http.ResponseWriter, r *http.Request) {
	res, ok := s.resourceParam(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.store.Digest(res))
}

// countingWriter tracks whether the response has started.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n == 0 {
		c.w.Header().Set("Content-Type", "application/octet-stream")
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	res, ok := s.resourceParam(w, r)
	if !ok {
		return
	}
	cw := &countingWriter{w: w}
	if err := s.store.Export(res, cw); err != nil {
		if cw.n == 0 {
			s.reject(w, r, statusOf(err), err)
			return
		}
		// Too late for a status: abort the connection, so the caller sees a
		// broken stream (retryable), not a clean end without the end record.
		s.log.Error("snapshot export aborted", "resource", res, "bytes", cw.n, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("snapshot exported", "resource", res, "bytes", cw.n)
}

func (s *Server) importSnapshot(w http.ResponseWriter, r *http.Request) {
	res, ok := s.resourceParam(w, r)
	if !ok {
		return
	}
	out, err := s.store.Import(res, r.Body)
	if err != nil {
		s.reject(w, r, statusOf(err), err)
		return
	}
	s.log.Info("snapshot imported", "resource", res, "applied_seq", out.AppliedSeq, "accepted_seq", out.AcceptedSeq,
		"keys", out.Keys, "backlog", out.Backlog, "kept", out.Kept, "dropped", out.Dropped)
	writeJSON(w, http.StatusOK, out)
}
