// Package mutation defines the versioned mutation record that producers put
// on the Kinesis stream, and the Router that applies each mutation to a live
// instance and to its shadow.
//
// Wire format (version 1): a user record is one JSON object, a mutation
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
// or a heartbeat, a producer's sign of life for a resource that had nothing
// to put for a while (at least one a minute while idle):
//
//	{"v":1,"resource":"i-0abc","op":"heartbeat","ts":"2026-11-28T12:00:00Z"}
//
// with no seq, key or value. The fan-out counts it (the group's records seen
// that minute: no data is not zero demand) and never forwards it to an
// agent.
//
// The same record may instead be in the binary form, a protobuf message
// (binary.go): the first byte tells the forms apart, and Decode reads both.
//
// A Kinesis record holds one user record, or many in the KPL aggregated
// format (aggregate.go): magic bytes, an AggregatedRecord protobuf message,
// its MD5. Either way a Kinesis record must fit Kinesis' limit: data blob
// plus partition key at most 1 MiB (MaxRecordBytes). docs/PRODUCER.md is
// the contract for producers.
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
	"unsafe"

	"github.com/shadowscale/shadowscale/shared/platform/b64"
	"github.com/shadowscale/shadowscale/shared/platform/jsonscan"
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
	// OpHeartbeat marks a heartbeat record: not a mutation (Valid is false
	// for it, so no agent accepts one), counted by the fan-out only.
	OpHeartbeat Op = "heartbeat"
)

// Valid reports whether o is an operation a mutation applies (put,
// update, delete; a heartbeat is not one).
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

// Heartbeat returns the heartbeat record of resource at time at.
func Heartbeat(resource string, at time.Time) Mutation {
	return Mutation{V: Version, Resource: resource, Op: OpHeartbeat, ProducedAt: at}
}

// IsHeartbeat reports whether m is a heartbeat record rather than a
// mutation.
func (m Mutation) IsHeartbeat() bool { return m.Op == OpHeartbeat }

// ValidateHeartbeat checks a heartbeat record: version, resource and
// timestamp as a mutation's, and no seq, key or value. It returns every
// problem at once, joined.
func (m Mutation) ValidateHeartbeat() error { return m.validateHeartbeat(false) }

// validateHeartbeat is ValidateHeartbeat; resourceOK says m.Resource is
// known to pass its checks (it is a string that passed them before: they
// depend on its bytes only), which are then skipped.
func (m *Mutation) validateHeartbeat(resourceOK bool) error {
	var errs []error
	if m.Op != OpHeartbeat {
		errs = append(errs, fmt.Errorf("%w: not a heartbeat", ErrInvalid))
	}
	errs = append(errs, m.validateCommon(resourceOK)...)
	if m.Seq != 0 || m.Key != "" || len(m.Value) > 0 {
		errs = append(errs, fmt.Errorf("%w: a heartbeat carries no seq, key or value", ErrInvalid))
	}
	return errors.Join(errs...)
}

// Errors returned by Validate and Decode. Each wraps ErrInvalid.
var (
	ErrInvalid   = errors.New("invalid mutation")
	ErrTooLarge  = fmt.Errorf("%w: record exceeds %d bytes (Kinesis limit)", ErrInvalid, MaxRecordBytes)
	ErrVersion   = fmt.Errorf("%w: unsupported format version", ErrInvalid)
	ErrUndecoded = fmt.Errorf("%w: not a mutation record (JSON or binary)", ErrInvalid)
)

// Validate checks every field of a mutation and returns all problems at
// once, joined. A heartbeat is not a valid mutation (its op is none of
// put, update, delete): agents refuse it.
func (m Mutation) Validate() error { return m.validate(false) }

// validate is Validate; resourceOK as for validateHeartbeat.
func (m *Mutation) validate(resourceOK bool) error {
	errs := m.validateCommon(resourceOK)
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
	return errors.Join(errs...)
}

// validateCommon checks what mutations and heartbeats share: version,
// resource (unless resourceOK: known to pass), timestamp.
func (m *Mutation) validateCommon(resourceOK bool) []error {
	var errs []error
	switch {
	case m.V == Version:
	case m.V >= 0 && m.V < 1000: // a format version, worth naming
		errs = append(errs, fmt.Errorf("%w %d (want %d)", ErrVersion, m.V, Version))
	default: // no version: not quoted (it could be anything a producer put there)
		errs = append(errs, fmt.Errorf("%w: not a version number (want %d)", ErrVersion, Version))
	}
	switch {
	case resourceOK:
	case m.Resource == "":
		errs = append(errs, fmt.Errorf("%w: resource is empty", ErrInvalid))
	case len(m.Resource) > MaxResourceLen:
		errs = append(errs, fmt.Errorf("%w: resource is %d bytes, limit %d", ErrInvalid, len(m.Resource), MaxResourceLen))
	case !utf8.ValidString(m.Resource):
		errs = append(errs, fmt.Errorf("%w: resource is not UTF-8", ErrInvalid))
	}
	if m.ProducedAt.IsZero() {
		errs = append(errs, fmt.Errorf("%w: ts (producer timestamp) is missing", ErrInvalid))
	}
	return errs
}

// Encode validates m and returns its wire form: a mutation, or a
// heartbeat (m.IsHeartbeat: only v, resource, op and ts are written). The
// result plus the partition key (m.Resource) fits MaxRecordBytes, or
// ErrTooLarge is returned.
func Encode(m Mutation) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if m.IsHeartbeat() {
		if err := m.ValidateHeartbeat(); err != nil {
			return nil, err
		}
		b, err = json.Marshal(heartbeatWire{V: m.V, Resource: m.Resource, Op: m.Op, ProducedAt: m.ProducedAt})
	} else {
		if err := m.Validate(); err != nil {
			return nil, err
		}
		b, err = AppendJSON(nil, m) // json.Marshal(m), faster
	}
	if err != nil {
		return nil, fmt.Errorf("encoding mutation %s/%d: %w", m.Resource, m.Seq, err)
	}
	if len(b)+len(m.Resource) > MaxRecordBytes {
		return nil, fmt.Errorf("mutation %s/%d is %d bytes: %w", m.Resource, m.Seq, len(b)+len(m.Resource), ErrTooLarge)
	}
	return b, nil
}

// heartbeatWire is a heartbeat's wire form.
type heartbeatWire struct {
	V          int       `json:"v"`
	Resource   string    `json:"resource"`
	Op         Op        `json:"op"`
	ProducedAt time.Time `json:"ts"`
}

// Decode parses and validates one user record: a mutation, or a heartbeat
// (m.IsHeartbeat(); validated by ValidateHeartbeat). It never panics; any
// failure wraps ErrInvalid, so the caller can dead-letter the record with
// the reason. It does not read aggregated records (Deaggregate does).
//
// Records in the form Encode writes (the known fields, each once, plain
// strings without escapes) take a fast path; anything else is decoded by
// encoding/json, so the result, errors included, is always what
// json.Unmarshal and Validate give (FuzzDecodeFastPath checks it).
func Decode(data []byte) (Mutation, error) {
	var m Mutation
	err := DecodeInto(data, &m)
	return m, err
}

// DecodeInto is Decode into *m, which it overwrites; m.Resource's string
// is reused when the record names the same resource (a batch of one
// resource's records then allocates it once). On error *m is zero.
func DecodeInto(data []byte, m *Mutation) error { return decodeInto(data, m, nil, nil) }

// Decoder decodes user records with less allocation than DecodeInto:
// values and keys are cut from shared 64 KiB buffers (each value's
// capacity is its length, so appending to one never touches another; a
// key's bytes are never written again), and, as with DecodeInto, a
// resource's string is reused while records name it. A value or key kept
// keeps its whole buffer alive: a Decoder is for mutations that are
// passed on and dropped (the fan-out's), not stored. The zero value is
// ready; not safe for concurrent use.
type Decoder struct {
	arena []byte
	// valid is the resource of the last record decoded without error: a
	// record naming the same resource (the same string, mostly: see
	// decodeFast) skips the resource's checks, which it passed then.
	valid string
}

// Decode is DecodeInto with the Decoder's buffers.
func (d *Decoder) Decode(data []byte, m *Mutation) error {
	return decodeInto(data, m, &d.arena, &d.valid)
}

// take returns n bytes from the arena (a new slice when arena is nil or
// n is large).
func take(arena *[]byte, n int) []byte {
	const chunk = 64 << 10
	if arena == nil || n > chunk/4 {
		return make([]byte, n)
	}
	a := *arena
	if a == nil || cap(a)-len(a) < n {
		a = make([]byte, 0, chunk)
	}
	*arena = a[:len(a)+n]
	return a[len(a) : len(a)+n : len(a)+n]
}

// arenaString returns s as a string whose bytes are copied into the arena
// (a string of its own when arena is nil): one allocation in a thousand
// instead of one a mutation. take hands out disjoint slices that nothing
// writes after their copy, so the string never changes.
func arenaString(arena *[]byte, s []byte) string {
	if len(s) == 0 {
		return ""
	}
	b := take(arena, len(s))
	copy(b, s)
	return unsafe.String(&b[0], len(b))
}

// decodeInto decodes with arena (nil: none) and valid, the resource known
// to pass its checks (nil: none known), which it updates.
func decodeInto(data []byte, m *Mutation, arena *[]byte, valid *string) error {
	if len(data) > MaxRecordBytes {
		*m = Mutation{}
		return fmt.Errorf("record is %d bytes: %w", len(data), ErrTooLarge)
	}
	prev := m.Resource
	*m = Mutation{}
	if IsBinary(data) {
		if err := decodeBinary(data, m, prev, arena); err != nil {
			*m = Mutation{}
			return fmt.Errorf("%w: %w", ErrUndecoded, err)
		}
	} else if !decodeFast(data, m, prev, arena) {
		*m = Mutation{}
		if err := json.Unmarshal(data, m); err != nil {
			*m = Mutation{}
			return undecoded(err)
		}
	}
	resourceOK := valid != nil && *valid != "" && m.Resource == *valid
	var err error
	if m.IsHeartbeat() {
		err = m.validateHeartbeat(resourceOK)
	} else {
		err = m.validate(resourceOK)
	}
	if err != nil {
		*m = Mutation{}
		return err
	}
	if valid != nil {
		*valid = m.Resource
	}
	return nil
}

// decodeFast decodes a record in the canonical form into m and reports
// whether it could; false leaves m undefined and the record to
// encoding/json. It accepts only what json.Unmarshal decodes to the same
// value: a single object of the known lowercase keys, each at most once;
// v an integer and seq a non-negative one, without leading zeros or
// exponent; resource, op and key strings of valid UTF-8 without escapes or
// control characters; value such a string in base64 (decoded as
// encoding/json does) or absent; ts such a string that time.Time's
// UnmarshalJSON takes. It reads with jsonscan, the scanner the fan-out
// reads the Lambda event with. A resource equal to prev is set to prev's
// string (no allocation).
func decodeFast(d []byte, m *Mutation, prev string, arena *[]byte) bool {
	i, ok := jsonscan.Byte(d, 0, '{')
	if !ok {
		return false
	}
	var seen uint8
	if j, ok := jsonscan.Byte(d, i, '}'); ok {
		return jsonscan.Space(d, j) == len(d)
	}
	for {
		key, j, ok := jsonscan.String(d, jsonscan.Space(d, i))
		if !ok {
			return false
		}
		if i, ok = jsonscan.Byte(d, j, ':'); !ok {
			return false
		}
		i = jsonscan.Space(d, i)
		var bit uint8
		switch string(key) {
		case "v":
			bit = 1
			n, j, ok := jsonscan.Int(d, i)
			if !ok || n < math.MinInt || n > math.MaxInt {
				return false
			}
			m.V, i = int(n), j
		case "resource":
			bit = 2
			s, j, ok := jsonscan.String(d, i)
			if !ok {
				return false
			}
			if string(s) == prev { // no allocation
				m.Resource = prev
			} else {
				m.Resource = string(s)
			}
			i = j
		case "seq":
			bit = 4
			n, j, ok := jsonscan.Uint(d, i)
			if !ok {
				return false
			}
			m.Seq, i = n, j
		case "op":
			bit = 8
			s, j, ok := jsonscan.String(d, i)
			if !ok {
				return false
			}
			m.Op, i = internOp(s), j
		case "key":
			bit = 16
			s, j, ok := jsonscan.String(d, i)
			if !ok {
				return false
			}
			m.Key, i = arenaString(arena, s), j
		case "value":
			bit = 32
			s, j, ok := jsonscan.String(d, i)
			if !ok {
				return false
			}
			b := take(arena, base64.StdEncoding.DecodedLen(len(s)))
			n, ok := b64.Decode(b, s)
			if !ok {
				return false
			}
			m.Value, i = b[:n:n], j
		case "ts":
			bit = 64
			s, j, ok := jsonscan.String(d, i)
			if !ok {
				return false
			}
			if t, ok := parseUTC(s); ok {
				m.ProducedAt = t
			} else if m.ProducedAt.UnmarshalJSON(d[i:j]) != nil {
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
		if j, ok := jsonscan.Byte(d, i, '}'); ok {
			return jsonscan.Space(d, j) == len(d)
		}
		if i, ok = jsonscan.Byte(d, i, ','); !ok {
			return false
		}
	}
}

// parseUTC parses the timestamp form Encode writes, RFC 3339 in UTC with
// at most nine digits of fraction (2026-11-28T12:00:00Z,
// 2026-11-28T12:00:00.123456789Z), to exactly what time.Time's
// UnmarshalJSON gives for it, in about 40% of its time (BenchmarkParseUTC:
// 36 against 90 ns here). Anything else (an offset, a field out of range)
// is false: the caller falls back to UnmarshalJSON, which then decides
// (TestParseUTC, TestParseUTCEveryDay and FuzzDecodeFastPath check that
// what it accepts is read the same).
func parseUTC(s []byte) (time.Time, bool) {
	n := len(s)
	if n < 20 || n > 30 || s[n-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	ok := true
	num := func(a, b int) int {
		v := 0
		for _, c := range s[a:b] {
			if c < '0' || c > '9' {
				ok = false
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	ns := 0
	switch {
	case n == 20:
	case n >= 22 && s[19] == '.':
		ns = num(20, n-1)
		for range 30 - n { // scale the fraction to nine digits
			ns *= 10
		}
	default:
		return time.Time{}, false
	}
	if !ok || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	// The day must exist in its month (time.Date would normalise it).
	last := daysIn[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		last = 29
	}
	if day > last {
		return time.Time{}, false
	}
	// Days since 1970-01-01 of the proleptic Gregorian date, counted in
	// years that start on March 1 (the leap day is then a year's last).
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 { // January and February of year 0: floor, not toward zero
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (month + 9) % 12 // March 0 ... February 11
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := int64(era)*146097 + int64(doe) - 719468
	return time.Unix(days*86400+int64(hour*3600+minute*60+sec), int64(ns)).UTC(), true
}

// daysIn is the number of days of each month (February's in a common
// year), by month number.
var daysIn = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// internOp returns the Op of s without allocating for the known ones.
func internOp(s []byte) Op {
	switch string(s) {
	case string(OpPut):
		return OpPut
	case string(OpUpdate):
		return OpUpdate
	case string(OpDelete):
		return OpDelete
	case string(OpHeartbeat):
		return OpHeartbeat
	}
	return Op(s)
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
