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
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
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
	switch {
	case m.V == Version:
	case m.V >= 0 && m.V < 1000: // a format version, worth naming
		errs = append(errs, fmt.Errorf("%w %d (want %d)", ErrVersion, m.V, Version))
	default: // no version: not quoted (it could be anything a producer put there)
		errs = append(errs, fmt.Errorf("%w: not a version number (want %d)", ErrVersion, Version))
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
		// Not quoted: a producer's bug can put anything there, a value
		// included, and reasons reach logs and dead letters.
		errs = append(errs, fmt.Errorf("%w: op is not put, update or delete (%d bytes)", ErrInvalid, len(m.Op)))
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
//
// Records in the form Encode writes (the known fields, each once, plain
// strings without escapes) take a fast path; anything else is decoded by
// encoding/json, so the result, errors included, is always what
// json.Unmarshal and Validate give (FuzzDecodeFastPath checks it).
func Decode(data []byte) (Mutation, error) {
	var m Mutation
	if len(data) > MaxRecordBytes {
		return m, fmt.Errorf("record is %d bytes: %w", len(data), ErrTooLarge)
	}
	if !decodeFast(data, &m) {
		m = Mutation{}
		if err := json.Unmarshal(data, &m); err != nil {
			return Mutation{}, undecoded(err)
		}
	}
	if err := m.Validate(); err != nil {
		return Mutation{}, err
	}
	return m, nil
}

// decodeFast decodes a record in the canonical form into m and reports
// whether it could; false leaves m undefined and the record to
// encoding/json. It accepts only what json.Unmarshal decodes to the same
// value: a single object of the known lowercase keys, each at most once;
// v an integer and seq a non-negative one, without leading zeros or
// exponent; resource, op and key strings of valid UTF-8 without escapes or
// control characters; value such a string in base64 (decoded as
// encoding/json does) or absent; ts such a string that time.Time's
// UnmarshalJSON takes.
func decodeFast(d []byte, m *Mutation) bool {
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return false
	}
	i = skipWS(d, i+1)
	var seen uint8
	if i < len(d) && d[i] == '}' {
		return skipWS(d, i+1) == len(d)
	}
	for {
		key, j, ok := fastString(d, i)
		if !ok {
			return false
		}
		i = skipWS(d, j)
		if i >= len(d) || d[i] != ':' {
			return false
		}
		i = skipWS(d, i+1)
		var bit uint8
		switch string(key) {
		case "v":
			bit = 1
			n, j, ok := fastInt(d, i)
			if !ok || n < math.MinInt || n > math.MaxInt {
				return false
			}
			m.V, i = int(n), j
		case "resource":
			bit = 2
			s, j, ok := fastString(d, i)
			if !ok {
				return false
			}
			m.Resource, i = string(s), j
		case "seq":
			bit = 4
			if i < len(d) && d[i] == '-' {
				return false
			}
			n, j, ok := fastUint(d, i)
			if !ok {
				return false
			}
			m.Seq, i = n, j
		case "op":
			bit = 8
			s, j, ok := fastString(d, i)
			if !ok {
				return false
			}
			m.Op, i = Op(s), j
		case "key":
			bit = 16
			s, j, ok := fastString(d, i)
			if !ok {
				return false
			}
			m.Key, i = string(s), j
		case "value":
			bit = 32
			s, j, ok := fastString(d, i)
			if !ok {
				return false
			}
			b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(b, s)
			if err != nil {
				return false
			}
			m.Value, i = b[:n], j
		case "ts":
			bit = 64
			_, j, ok := fastString(d, i)
			if !ok || m.ProducedAt.UnmarshalJSON(d[i:j]) != nil {
				return false
			}
			i = j
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		i = skipWS(d, i)
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case '}':
			return skipWS(d, i+1) == len(d)
		default:
			return false
		}
	}
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// fastString reads a JSON string at d[i] without escapes, of valid UTF-8
// and no control character, and returns its contents and the index after
// its closing quote.
func fastString(d []byte, i int) ([]byte, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			s := d[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// fastUint reads a JSON integer without sign, leading zero, fraction or
// exponent that fits a uint64.
func fastUint(d []byte, i int) (uint64, int, bool) {
	j := i
	var n uint64
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		c := uint64(d[j] - '0')
		if n > (math.MaxUint64-c)/10 {
			return 0, 0, false
		}
		n = n*10 + c
		j++
	}
	if j == i || (d[i] == '0' && j-i > 1) {
		return 0, 0, false
	}
	if j < len(d) && (d[j] == '.' || d[j] == 'e' || d[j] == 'E') {
		return 0, 0, false
	}
	return n, j, true
}

// fastInt reads a JSON integer that fits an int64, as fastUint with an
// optional minus sign.
func fastInt(d []byte, i int) (int64, int, bool) {
	neg := i < len(d) && d[i] == '-'
	if neg {
		i++
	}
	u, j, ok := fastUint(d, i)
	if !ok || u > math.MaxInt64 {
		return 0, 0, false
	}
	if neg {
		return -int64(u), j, true
	}
	return int64(u), j, true
}

// undecoded wraps an encoding/json error as ErrUndecoded without quoting
// the record: encoding/json's messages hold a number that does not fit
// its field ("cannot unmarshal number 4111111111111111 into ...") and
// time's parse errors the text they got, and either could be a value a
// broken producer put in the wrong place. The reason reaches logs and dead
// letters; the record itself goes only to the dead-letter queue.
func undecoded(err error) error {
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &te):
		kind, _, _ := strings.Cut(te.Value, " ") // "number 123" -> "number"
		return fmt.Errorf("%w: json: cannot unmarshal a %s into field %s of type %v", ErrUndecoded, kind, te.Field, te.Type)
	case errors.As(err, &pe):
		return fmt.Errorf("%w: ts is not an RFC 3339 time", ErrUndecoded)
	}
	return fmt.Errorf("%w: %v", ErrUndecoded, err)
}
