package mutation

import (
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The binary form of a user record: the same fields as the JSON form, as a
// protobuf message (proto3), so that any protobuf tool reads it from this
// schema:
//
//	message Mutation {
//	  uint32 v = 1;                         // format version: 1
//	  string resource = 2;
//	  uint64 seq = 3;                       // absent (0) in a heartbeat
//	  Op op = 4;
//	  string key = 5;                       // absent in a heartbeat
//	  bytes value = 6;                      // absent for delete and heartbeat
//	  google.protobuf.Timestamp ts = 7;     // seconds = 1, nanos = 2
//	}
//	enum Op { OP_UNSPECIFIED = 0; PUT = 1; UPDATE = 2; DELETE = 3; HEARTBEAT = 4; }
//
// EncodeBinary writes v first, so a binary record always begins with the
// byte 0x08 (field 1, varint); no JSON record can (JSON allows only
// whitespace before its '{'). That byte is how Decode tells the forms
// apart. The value travels as raw bytes rather than base64 text, and the
// field names and the timestamp's digits are gone: for the fan-out's
// benchmark mutation the binary form is about half the JSON form's bytes,
// which Kinesis bills and the fan-out base64-decodes and checks (MD5).
//
// Decoding follows protobuf's rules where they speak (unknown fields are
// skipped, a field given twice takes its last value) and refuses what
// protobuf would misread: a known field with the wrong wire type, a
// truncated field, a timestamp that RFC 3339 cannot write (years 0 to
// 9999) or whose nanos are outside [0, 1e9). The instant is kept; the time
// zone is not (a decoded time is UTC).

// BinaryMark is the first byte of every record in the binary form.
const BinaryMark = 0x08

// Field numbers of the binary form.
const (
	binV        protowire.Number = 1
	binResource protowire.Number = 2
	binSeq      protowire.Number = 3
	binOp       protowire.Number = 4
	binKey      protowire.Number = 5
	binValue    protowire.Number = 6
	binTS       protowire.Number = 7

	tsSeconds protowire.Number = 1
	tsNanos   protowire.Number = 2
)

// The timestamp range of RFC 3339 (and of time.Time's MarshalJSON), in
// Unix seconds: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minUnixSeconds = -62167219200
	maxUnixSeconds = 253402300799
)

// opCodes are the enum's numbers, in order.
var opCodes = [...]Op{1: OpPut, 2: OpUpdate, 3: OpDelete, 4: OpHeartbeat}

func opCode(o Op) uint64 {
	for c, op := range opCodes {
		if op == o && c > 0 {
			return uint64(c)
		}
	}
	return 0
}

// IsBinary reports whether a user record is in the binary form (its first
// byte is BinaryMark).
func IsBinary(data []byte) bool { return len(data) > 0 && data[0] == BinaryMark }

// EncodeBinary is Encode in the binary form: it validates m (a mutation or
// a heartbeat) and returns the record, which plus the partition key fits
// MaxRecordBytes or ErrTooLarge is returned.
func EncodeBinary(m Mutation) ([]byte, error) {
	validate := m.Validate
	if m.IsHeartbeat() {
		validate = m.ValidateHeartbeat
	}
	if err := validate(); err != nil {
		return nil, err
	}
	s := m.ProducedAt.Unix()
	if s < minUnixSeconds || s > maxUnixSeconds {
		return nil, fmt.Errorf("%w: ts %s is outside RFC 3339's years 0 to 9999", ErrInvalid, m.ProducedAt)
	}
	// The record holds the resource, key and value and a few bytes more:
	// refuse before allocating when those alone are too many.
	if n := 2*len(m.Resource) + len(m.Key) + len(m.Value); n > MaxRecordBytes {
		return nil, fmt.Errorf("mutation %s/%d: its key, value and resource (twice, with the partition key) are %d bytes, over %d: %w", m.Resource, m.Seq, n, MaxRecordBytes, ErrTooLarge)
	}
	b := appendBinary(make([]byte, 0, len(m.Resource)+len(m.Key)+len(m.Value)+48), m)
	if len(b)+len(m.Resource) > MaxRecordBytes {
		return nil, fmt.Errorf("mutation %s/%d is %d bytes: %w", m.Resource, m.Seq, len(b)+len(m.Resource), ErrTooLarge)
	}
	return b, nil
}

// appendBinary appends m's binary form (proto3: zero fields left out, v
// always first).
func appendBinary(b []byte, m Mutation) []byte {
	b = protowire.AppendTag(b, binV, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(m.V))
	if m.Resource != "" {
		b = protowire.AppendTag(b, binResource, protowire.BytesType)
		b = protowire.AppendString(b, m.Resource)
	}
	if m.Seq != 0 {
		b = protowire.AppendTag(b, binSeq, protowire.VarintType)
		b = protowire.AppendVarint(b, m.Seq)
	}
	if c := opCode(m.Op); c != 0 {
		b = protowire.AppendTag(b, binOp, protowire.VarintType)
		b = protowire.AppendVarint(b, c)
	}
	if m.Key != "" {
		b = protowire.AppendTag(b, binKey, protowire.BytesType)
		b = protowire.AppendString(b, m.Key)
	}
	if len(m.Value) > 0 {
		b = protowire.AppendTag(b, binValue, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Value)
	}
	var ts [24]byte
	t := ts[:0]
	if s := m.ProducedAt.Unix(); s != 0 {
		t = protowire.AppendTag(t, tsSeconds, protowire.VarintType)
		t = protowire.AppendVarint(t, uint64(s))
	}
	if ns := m.ProducedAt.Nanosecond(); ns != 0 {
		t = protowire.AppendTag(t, tsNanos, protowire.VarintType)
		t = protowire.AppendVarint(t, uint64(ns))
	}
	b = protowire.AppendTag(b, binTS, protowire.BytesType)
	return protowire.AppendBytes(b, t)
}

// errBinary is wrapped, with ErrUndecoded, by the binary form's decoding
// errors.
var errBinary = errors.New("binary record")

// decodeBinary decodes a record in the binary form into m (zero on
// entry); prev and arena as for decodeFast. It does not validate.
func decodeBinary(d []byte, m *Mutation, prev string, arena *[]byte) error {
	for len(d) > 0 {
		num, typ, n := tag1(d)
		if n == 0 {
			num, typ, n = protowire.ConsumeTag(d)
		}
		if n < 0 {
			return fmt.Errorf("%w: %w", errBinary, protowire.ParseError(n))
		}
		d = d[n:]
		want := protowire.BytesType
		switch num {
		case binV, binSeq, binOp:
			want = protowire.VarintType
		case binResource, binKey, binValue, binTS:
		default: // unknown: skipped, as protobuf requires
			n := protowire.ConsumeFieldValue(num, typ, d)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errBinary, num, protowire.ParseError(n))
			}
			d = d[n:]
			continue
		}
		if typ != want {
			return fmt.Errorf("%w: field %d has wire type %d, want %d", errBinary, num, typ, want)
		}
		if want == protowire.VarintType {
			v, n := varint1(d)
			if n == 0 {
				v, n = protowire.ConsumeVarint(d)
			}
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", errBinary, num, protowire.ParseError(n))
			}
			d = d[n:]
			switch num {
			case binV:
				m.V = -1 // not a version number: Validate says so
				if v <= math.MaxInt32 {
					m.V = int(v)
				}
			case binSeq:
				m.Seq = v
			case binOp:
				m.Op = ""
				if v < uint64(len(opCodes)) {
					m.Op = opCodes[v]
				}
			}
			continue
		}
		s, n := bytes1(d)
		if n == 0 {
			s, n = protowire.ConsumeBytes(d)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", errBinary, num, protowire.ParseError(n))
		}
		d = d[n:]
		switch num {
		case binResource:
			if string(s) == prev { // no allocation
				m.Resource = prev
			} else {
				m.Resource = string(s)
			}
		case binKey:
			m.Key = arenaString(arena, s)
		case binValue:
			if len(s) == 0 {
				m.Value = nil
				break
			}
			b := take(arena, len(s))
			copy(b, s)
			m.Value = b
		case binTS:
			sec, nsec, err := decodeTimestamp(s)
			if err != nil {
				return err
			}
			m.ProducedAt = unixUTC(sec, nsec)
		}
	}
	return nil
}

// unixUTC is the instant sec, nsec in UTC: the value time.Time's
// UnmarshalJSON gives for the same instant written with "Z".
func unixUTC(sec, nsec int64) time.Time { return time.Unix(sec, nsec).UTC() }

// decodeTimestamp reads a google.protobuf.Timestamp message.
func decodeTimestamp(d []byte) (sec int64, nsec int64, err error) {
	for len(d) > 0 {
		num, typ, n := tag1(d)
		if n == 0 {
			num, typ, n = protowire.ConsumeTag(d)
		}
		if n < 0 {
			return 0, 0, fmt.Errorf("%w: ts: %w", errBinary, protowire.ParseError(n))
		}
		d = d[n:]
		if num != tsSeconds && num != tsNanos {
			n := protowire.ConsumeFieldValue(num, typ, d)
			if n < 0 {
				return 0, 0, fmt.Errorf("%w: ts field %d: %w", errBinary, num, protowire.ParseError(n))
			}
			d = d[n:]
			continue
		}
		if typ != protowire.VarintType {
			return 0, 0, fmt.Errorf("%w: ts field %d has wire type %d, want %d", errBinary, num, typ, protowire.VarintType)
		}
		v, n := varint1(d)
		if n == 0 {
			v, n = protowire.ConsumeVarint(d)
		}
		if n < 0 {
			return 0, 0, fmt.Errorf("%w: ts field %d: %w", errBinary, num, protowire.ParseError(n))
		}
		d = d[n:]
		if num == tsSeconds {
			sec = int64(v)
		} else {
			nsec = int64(int32(v)) // int32 on the wire, as protobuf reads it
		}
	}
	if sec < minUnixSeconds || sec > maxUnixSeconds {
		// Not quoted (a producer's bug can put anything there).
		return 0, 0, fmt.Errorf("%w: ts seconds are outside RFC 3339's years 0 to 9999", errBinary)
	}
	if nsec < 0 || nsec >= 1e9 {
		return 0, 0, fmt.Errorf("%w: ts nanos are outside [0, 1e9)", errBinary)
	}
	return sec, nsec, nil
}
