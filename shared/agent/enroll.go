package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Enrollment: how an agent on an instance learns its key without ever
// being able to read the master (docs/AGENT.md, "Enrollment").
//
// The plane seals the instance's Enrollment with a KMS key under the
// encryption context {EnrollContextKey: <the instance's ARN>} and posts it
// to the agent (POST /v1/enroll); the agent opens it with kms:Decrypt
// under its own ARN. IAM lets an instance role decrypt only under its own
// ARN (kms:EncryptionContext:shadowscale-instance = ${ec2:SourceInstanceARN})
// and never encrypt, so an instance can read no other instance's key and
// forge no enrollment; the request itself needs no other authentication.

// EnrollContextKey is the KMS encryption context key that binds a sealed
// enrollment to one instance (its value: the instance's ARN). The stack's
// IAM conditions name it too.
const EnrollContextKey = "shadowscale-instance"

// EnrollmentVersion is the version of the Enrollment format and of the key
// derivation it carries.
const EnrollmentVersion = 2

// PathEnroll is the enrollment endpoint.
const PathEnroll = "/v1/enroll"

// maxEnrollBody bounds an enrollment request (a KMS ciphertext of a small
// JSON document is well under 1 KiB).
const maxEnrollBody = 16 << 10

// enrollInterval is the least time between two unseal attempts of an
// agent: each costs a KMS call, and anyone who reaches the port can ask.
const enrollInterval = time.Second

// Enrollment is what the plane seals for one instance: its key, and when
// it was issued (an agent takes no enrollment older than the one it holds,
// nor one outside its clock skew window).
type Enrollment struct {
	V        int    `json:"v"`
	Instance string `json:"instance"`
	Key      []byte `json:"key"`
	IssuedAt int64  `json:"issued_at"` // unix seconds
}

// Identity is the enrolled identity.
func (e Enrollment) Identity() Identity { return Identity{InstanceID: e.Instance, Key: e.Key} }

// Check reports whether the enrollment is well formed.
func (e Enrollment) Check() error {
	if e.V != EnrollmentVersion {
		return fmt.Errorf("enrollment version %d, want %d", e.V, EnrollmentVersion)
	}
	if e.IssuedAt <= 0 {
		return errors.New("enrollment without an issue time")
	}
	return e.Identity().Check()
}

// EnrollRequest is the body of POST /v1/enroll.
type EnrollRequest struct {
	Instance string `json:"instance"`
	Sealed   []byte `json:"sealed"` // base64 in JSON
}

// EnrollResponse is the answer to POST /v1/enroll. It is not
// authenticated: the plane learns that the enrollment took when the
// agent's certificate matches the pin.
type EnrollResponse struct {
	Instance string `json:"instance"`
	Pin      string `json:"pin"`
}

// Sealer seals an enrollment for one instance (the plane's side: KMS
// Encrypt under the instance's ARN).
type Sealer interface {
	Seal(ctx context.Context, instanceID string, plaintext []byte) ([]byte, error)
}

// Unsealer opens what was sealed for the agent's own instance (the agent's
// side: KMS Decrypt under its own ARN). An error means the ciphertext was
// not sealed for this instance with the expected key, or KMS failed.
type Unsealer interface {
	Unseal(ctx context.Context, sealed []byte) ([]byte, error)
}

// EnrollConfig lets the plane enroll the agent.
type EnrollConfig struct {
	// InstanceID is the instance the agent runs on.
	InstanceID string
	Unsealer   Unsealer
	// Current is the enrollment the agent holds from before (its data
	// dir), or nil.
	Current *Enrollment
	// Save persists a new enrollment before the agent uses it, so a
	// restart keeps it.
	Save func(Enrollment) error
}

// ErrEnrollment marks a refused enrollment.
var ErrEnrollment = errors.New("enrollment refused")

// enroller is the server's enrollment state.
type enroller struct {
	cfg        EnrollConfig
	unenrolled *tls.Certificate // presented until an enrollment takes
	mu         sync.Mutex       // one enrollment at a time
	last       time.Time        // of the last unseal attempt
	current    *Enrollment
}

func newEnroller(cfg EnrollConfig, now time.Time) (*enroller, error) {
	if err := CheckInstanceID(cfg.InstanceID); err != nil {
		return nil, fmt.Errorf("enrollment: %w", err)
	}
	if cfg.Unsealer == nil || cfg.Save == nil {
		return nil, errors.New("enrollment needs an unsealer and a way to save")
	}
	if cfg.Current != nil && cfg.Current.Instance != cfg.InstanceID {
		return nil, fmt.Errorf("enrollment: the saved identity is %s's, this is %s", cfg.Current.Instance, cfg.InstanceID)
	}
	// The placeholder certificate of an agent not enrolled yet: a random
	// key nobody pins, so a client sees at once that it must enroll.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the placeholder key: %w", err)
	}
	cert, err := selfSigned(priv, cfg.InstanceID, now)
	if err != nil {
		return nil, err
	}
	return &enroller{cfg: cfg, unenrolled: &cert, current: cfg.Current}, nil
}

// enroll opens and checks a sealed enrollment and returns it; it is the
// caller's to install.
func (e *enroller) enroll(ctx context.Context, req EnrollRequest, now time.Time, skew time.Duration) (Enrollment, error) {
	if req.Instance != e.cfg.InstanceID {
		return Enrollment{}, fmt.Errorf("%w: it is for %.64q, this agent is %s", ErrEnrollment, req.Instance, e.cfg.InstanceID)
	}
	if !e.last.IsZero() && now.Sub(e.last) < enrollInterval {
		return Enrollment{}, errEnrollBusy
	}
	e.last = now
	plain, err := e.cfg.Unsealer.Unseal(ctx, req.Sealed)
	if err != nil {
		return Enrollment{}, fmt.Errorf("%w: unsealing: %w", ErrEnrollment, err)
	}
	var en Enrollment
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&en); err != nil {
		return Enrollment{}, fmt.Errorf("%w: the sealed enrollment is not an enrollment: %s", ErrEnrollment, jsonReason(err))
	}
	if err := en.Check(); err != nil {
		return Enrollment{}, fmt.Errorf("%w: %w", ErrEnrollment, err)
	}
	if en.Instance != e.cfg.InstanceID {
		return Enrollment{}, fmt.Errorf("%w: the sealed enrollment is for %s, this agent is %s", ErrEnrollment, en.Instance, e.cfg.InstanceID)
	}
	at := time.Unix(en.IssuedAt, 0)
	if !withinSkew(now, at, skew) {
		return Enrollment{}, fmt.Errorf("%w: issued at %s, outside the %s skew window (a replayed or delayed enrollment)", ErrEnrollment, at.UTC().Format(time.RFC3339), skew)
	}
	if cur := e.current; cur != nil {
		switch {
		case en.IssuedAt < cur.IssuedAt:
			return Enrollment{}, fmt.Errorf("%w: issued at %s, before the enrollment held (%s)", ErrEnrollment,
				at.UTC().Format(time.RFC3339), time.Unix(cur.IssuedAt, 0).UTC().Format(time.RFC3339))
		case en.IssuedAt == cur.IssuedAt && !bytes.Equal(en.Key, cur.Key):
			return Enrollment{}, fmt.Errorf("%w: another key issued in the same second as the one held", ErrEnrollment)
		}
	}
	return en, nil
}

var errEnrollBusy = errors.New("an enrollment is under way or was just attempted: retry in a second")

// enrollHTTP serves POST /v1/enroll: no request signature (the agent has
// no key yet); the sealed enrollment authenticates itself.
func (s *Server) enrollHTTP(w http.ResponseWriter, r *http.Request) {
	e := s.enroll
	switch {
	case e == nil:
		s.reject(w, r, http.StatusNotFound, errors.New("this agent was started with its keys: it takes no enrollment"))
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		s.reject(w, r, http.StatusMethodNotAllowed, errors.New("enrollment is POST"))
		return
	case r.TLS == nil || r.TLS.ServerName != e.cfg.InstanceID:
		s.reject(w, r, http.StatusForbidden, fmt.Errorf("%w: not on a TLS connection opened for %s", ErrEnrollment, e.cfg.InstanceID))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEnrollBody))
	if err != nil {
		s.reject(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("enrollment body over %d bytes", maxEnrollBody))
		return
	}
	var req EnrollRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.reject(w, r, http.StatusBadRequest, fmt.Errorf("decoding the enrollment: %s", jsonReason(err)))
		return
	}
	if !e.mu.TryLock() {
		w.Header().Set("Retry-After", "1")
		s.reject(w, r, http.StatusTooManyRequests, errEnrollBusy)
		return
	}
	defer e.mu.Unlock()
	en, err := e.enroll(r.Context(), req, s.cfg.Clock.Now(), s.cfg.Skew)
	switch {
	case errors.Is(err, errEnrollBusy):
		w.Header().Set("Retry-After", "1")
		s.reject(w, r, http.StatusTooManyRequests, err)
		return
	case err != nil:
		s.reject(w, r, http.StatusForbidden, err)
		return
	}
	if err := s.install(en); err != nil {
		s.reject(w, r, http.StatusInternalServerError, err)
		return
	}
	id := en.Identity()
	s.log.Info("agent enrolled", "instance", en.Instance, "issued_at", time.Unix(en.IssuedAt, 0).UTC().Format(time.RFC3339), "pin", id.Pin().String())
	writeJSON(w, http.StatusOK, EnrollResponse{Instance: en.Instance, Pin: id.Pin().String()})
}

// install saves the enrollment, then serves its identity (in that order:
// an identity in use is never one a restart would lose).
func (s *Server) install(en Enrollment) error {
	id := en.Identity()
	cert, err := id.Certificate(s.cfg.Clock.Now())
	if err != nil {
		return err
	}
	if err := s.enroll.cfg.Save(en); err != nil {
		return fmt.Errorf("saving the enrollment: %w", err)
	}
	s.enroll.current = &en
	s.ids.set(id, &cert)
	return nil
}
