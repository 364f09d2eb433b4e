// Package mutation defines the versioned mutation record that producers put
// on the Kinesis stream, and the Router that applies each mutation to a live
// instance and to its shadow.
//
// Wire format (version 1) is one JSON object a Kinesis record:
//
//		{"v":1,"resource":"i-0abc","seq":42,"op":"put","key":"user/7","value":"aGVsbG8=","ts":"2026-11-28T12:00:00Z"}
//
//	  - v: format version, 1.
//	  - resource: the live instance whose state the mutation changes; also the
//	    Kinesis partition key, so one resource's mutations stay in order on one
//	    shard.
//	  - seq: per-resource sequence, strictly increasing from 1. Appliers are
//	    idempotent by it: a mutation at or below the last applied seq is a
//	    duplicate and is acknowledged without being applied again.
//	  - op: put, update or delete. value is base64 and absent for delete.
//	  - ts: the producer's timestamp (RFC 3339).
//
// A record must fit Kinesis' limit: data blob plus partition key at most
// 1 MiB (MaxRecordBytes).
package mutation

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the record format version this package writes and reads.
const Version = 1

// Limits of the record format.
const (
	// MaxRecordBytes is Kinesis' limit on a record's data blob plus its
	// partition key.
	MaxRecordBytes = 1 << 20
	// MaxResourceLen is Kinesis' limit on a partition key (in Unicode code
	// points, which we bound by bytes to be strict).
	MaxResourceLen = 256
	// MaxKeyBytes bounds a mutation's key.
	MaxKeyBytes = 1024
)

// Op is what a mutation does to its key.
type Op string

// The operations.
const (
	OpPut    Op = "put"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Valid reports whether o is a known operation.
func (o Op) Valid() bool { return o == OpPut || o == OpUpdate || o == OpDelete }

// Mutation is one change to one key of one resource.
type Mutation struct {
	V          int       `json:"v"`
	Resource   string    `json:"resource"`
	Seq        uint64    `json:"seq"`
	Op         Op        `json:"op"`
	Key        string    `json:"key"`
	Value      []byte    `json:"value,omitempty"`
	ProducedAt time.Time `json:"ts"`
}

// Errors returned by Validate and Decode. Each wraps ErrInvalid.
var (
	ErrInvalid   = errors.New("invalid mutation")
	ErrTooLarge  = fmt.Errorf("%w: record exceeds %d bytes (Kinesis limit)", ErrInvalid, MaxRecordBytes)
	ErrVersion   = fmt.Errorf("%w: unsupported format version", ErrInvalid)
	ErrUndecoded = fmt.Errorf("%w: not a JSON mutation record", ErrInvalid)
)

// Validate checks every field and returns all problems at once, joined.
func (m Mutation) Validate() error {
	var errs []error
	if m.V != Version {
		errs = append(errs, fmt.Errorf("%w %d (want %d)", ErrVersion, m.V, Version))
	}
	switch {
	case m.Resource == "":
		errs = append(errs, fmt.Errorf("%w: resource is empty", ErrInvalid))
	case len(m.Resource) > MaxResourceLen:
		errs = append(errs, fmt.Errorf("%w: resource is %d bytes, limit %d", ErrInvalid, len(m.Resource), MaxResourceLen))
	case !utf8.ValidString(m.Resource):
		errs = append(errs, fmt.Errorf("%w: resource is not UTF-8", ErrInvalid))
	}
	if m.Seq == 0 {
		errs = append(errs, fmt.Errorf("%w: seq must be at least 1", ErrInvalid))
	}
	if !m.Op.Valid() {
		errs = append(errs, fmt.Errorf("%w: op %q is not put, update or delete", ErrInvalid, m.Op))
	}
	switch {
	case m.Key == "":
		errs = append(errs, fmt.Errorf("%w: key is empty", ErrInvalid))
	case len(m.Key) > MaxKeyBytes:
		errs = append(errs, fmt.Errorf("%w: key is %d bytes, limit %d", ErrInvalid, len(m.Key), MaxKeyBytes))
	case !utf8.ValidString(m.Key):
		errs = append(errs, fmt.Errorf("%w: key is not UTF-8", ErrInvalid))
	}
	if m.Op == OpDelete && len(m.Value) > 0 {
		errs = append(errs, fmt.Errorf("%w: delete carries a value", ErrInvalid))
	}
	if m.ProducedAt.IsZero() {
		errs = append(errs, fmt.Errorf("%w: ts (producer timestamp) is missing", ErrInvalid))
	}
	return errors.Join(errs...)
}

// Encode validates m and returns its wire form. The result plus the
// partition key (m.Resource) fits MaxRecordBytes, or ErrTooLarge is returned.
func Encode(m Mutation) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding mutation %s/%d: %w", m.Resource, m.Seq, err)
	}
	if len(b)+len(m.Resource) > MaxRecordBytes {
		return nil, fmt.Errorf("mutation %s/%d is %d bytes: %w", m.Resource, m.Seq, len(b)+len(m.Resource), ErrTooLarge)
	}
	return b, nil
}

// Decode parses and validates one wire record. It never panics; any failure
// wraps ErrInvalid, so the caller can dead-letter the record with the reason.
func Decode(data []byte) (Mutation, error) {
	var m Mutation
	if len(data) > MaxRecordBytes {
		return m, fmt.Errorf("record is %d bytes: %w", len(data), ErrTooLarge)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Mutation{}, fmt.Errorf("%w: %v", ErrUndecoded, err)
	}
	if err := m.Validate(); err != nil {
		return Mutation{}, err
	}
	return m, nil
}
