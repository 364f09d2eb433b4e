package mutation

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The KPL aggregated record format (awslabs/amazon-kinesis-producer,
// aggregation-format.md), which the KPL writes and the KCL and the
// kinesis-aggregation libraries read:
//
//	0               4                  N          N+15
//	+---+---+---+---+==================+---+...+---+
//	|  MAGIC NUMBER | PROTOBUF MESSAGE |    MD5    |
//	+---+---+---+---+==================+---+...+---+
//
// The magic number is F3 89 9A C2; the MD5 is over the protobuf message
// bytes only; the message is (proto2):
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Tag    { required string key = 1; optional string value = 2; }
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//
// It is encoded and decoded here field by field with protowire (no
// generated code): the message is small and fixed.

// AggregatedMagic is the first four bytes of an aggregated record.
const AggregatedMagic = "\xF3\x89\x9A\xC2"

// AggregatedOverhead is what an aggregated record adds around its message:
// the magic number and the MD5.
const AggregatedOverhead = len(AggregatedMagic) + md5.Size

// Field numbers of the messages.
const (
	aggFieldPartitionKeys    protowire.Number = 1
	aggFieldExplicitHashKeys protowire.Number = 2
	aggFieldRecords          protowire.Number = 3

	recFieldPartitionKeyIndex protowire.Number = 1
	recFieldExplicitHashIndex protowire.Number = 2
	recFieldData              protowire.Number = 3
	recFieldTags              protowire.Number = 4
)

// ErrAggregate is wrapped by Deaggregate's errors: the record starts with
// the magic number but is not a valid aggregated record.
var ErrAggregate = fmt.Errorf("%w: not a valid KPL aggregated record", ErrInvalid)

// UserRecord is one record packed in an aggregated record.
type UserRecord struct {
	PartitionKey    string
	ExplicitHashKey string // "" when it has none
	// Data is a slice of the aggregated record given to Deaggregate (not
	// a copy).
	Data []byte
}

// IsAggregated reports whether a Kinesis record's data starts with the
// aggregated record's magic number. A JSON user record never does (0xF3
// is no JSON byte).
func IsAggregated(data []byte) bool {
	return len(data) >= len(AggregatedMagic) && string(data[:len(AggregatedMagic)]) == AggregatedMagic
}

// Deaggregate appends the user records of an aggregated record to dst, in
// their order in the record, and returns it. A record that is not valid
// (too short, an MD5 that does not match, a message that does not parse, a
// required field missing, a key index outside its table) is an error
// wrapping ErrAggregate, and dst is returned unchanged: the record is
// dead-lettered whole. Unknown fields are skipped, as protobuf requires.
func Deaggregate(dst []UserRecord, data []byte) ([]UserRecord, error) {
	if !IsAggregated(data) || len(data) < AggregatedOverhead {
		return dst, fmt.Errorf("%w: %d bytes, no magic number and MD5", ErrAggregate, len(data))
	}
	msg := data[len(AggregatedMagic) : len(data)-md5.Size]
	if sum := md5.Sum(msg); !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return dst, fmt.Errorf("%w: MD5 does not match the message", ErrAggregate)
	}
	if out, ok := deaggregateOnePass(dst, msg); ok {
		return out, nil
	}
	return deaggregateTwoPasses(dst, msg)
}

// deaggregateTwoPasses is Deaggregate on the message msg (MD5 checked).
func deaggregateTwoPasses(dst []UserRecord, msg []byte) ([]UserRecord, error) {
	start := len(dst)
	// Two passes: the key tables first (they may come after the records
	// in the message), then the records, each resolved as it is read.
	var keys, hashKeys []string
	if err := eachField(msg, func(num protowire.Number, v []byte) error {
		switch num {
		case aggFieldPartitionKeys:
			keys = append(keys, string(v))
		case aggFieldExplicitHashKeys:
			hashKeys = append(hashKeys, string(v))
		}
		return nil
	}); err != nil {
		return dst, err
	}
	err := eachField(msg, func(num protowire.Number, v []byte) error {
		if num != aggFieldRecords {
			return nil
		}
		var err error
		dst, err = appendUserRecord(dst, len(dst)-start, v, keys, hashKeys)
		return err
	})
	if err != nil {
		clear(dst[start:])
		return dst[:start], err
	}
	return dst, nil
}

// deaggregateOnePass is Deaggregate's common case in one pass over the
// message: the KPL writes the key tables before the records, so that every
// record's keys are known when it is read. Where that does not hold (a
// record before its key's table entry), or on anything wrong, it gives up
// (false, dst unchanged) and the two passes decide, with their errors: its
// result, when it has one, is theirs, since the tables only grow.
func deaggregateOnePass(dst []UserRecord, msg []byte) ([]UserRecord, bool) {
	start := len(dst)
	var keys, hashKeys []string
	err := eachField(msg, func(num protowire.Number, v []byte) error {
		switch num {
		case aggFieldPartitionKeys:
			keys = append(keys, string(v))
		case aggFieldExplicitHashKeys:
			hashKeys = append(hashKeys, string(v))
		default:
			var err error
			dst, err = appendUserRecord(dst, len(dst)-start, v, keys, hashKeys)
			return err
		}
		return nil
	})
	if err != nil {
		clear(dst[start:])
		return dst[:start], false
	}
	return dst, true
}

// appendUserRecord appends the i-th user record of an aggregated record,
// the Record message v, resolved against the key tables read so far.
func appendUserRecord(dst []UserRecord, i int, v []byte, keys, hashKeys []string) ([]UserRecord, error) {
	ki, hi, d, err := parseUserRecord(v)
	switch {
	case err != nil:
		return dst, fmt.Errorf("%w: record %d: %w", ErrAggregate, i, err)
	case ki >= uint64(len(keys)):
		return dst, fmt.Errorf("%w: record %d: partition key index %d, table of %d", ErrAggregate, i, ki, len(keys))
	case hi >= int64(len(hashKeys)):
		return dst, fmt.Errorf("%w: record %d: explicit hash key index %d, table of %d", ErrAggregate, i, hi, len(hashKeys))
	}
	r := UserRecord{PartitionKey: keys[ki], Data: d}
	if hi >= 0 {
		r.ExplicitHashKey = hashKeys[hi]
	}
	return append(dst, r), nil
}

// eachField calls fn with the value of every length-delimited field of
// the AggregatedRecord message msg (the three known fields must be, or the
// message is refused), skipping other fields.
func eachField(msg []byte, fn func(num protowire.Number, v []byte) error) error {
	for b := msg; len(b) > 0; {
		num, typ, n := tag1(b)
		if n == 0 {
			num, typ, n = protowire.ConsumeTag(b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrAggregate, protowire.ParseError(n))
		}
		b = b[n:]
		known := num == aggFieldPartitionKeys || num == aggFieldExplicitHashKeys || num == aggFieldRecords
		if known && typ != protowire.BytesType {
			return fmt.Errorf("%w: field %d has wire type %d", ErrAggregate, num, typ)
		}
		if !known {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w: %v", ErrAggregate, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := bytes1(b)
		if n == 0 {
			v, n = protowire.ConsumeBytes(b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrAggregate, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}

// parseUserRecord reads one Record message.
func parseUserRecord(b []byte) (keyIdx uint64, hashIdx int64, data []byte, err error) {
	hashIdx = -1
	var haveKey, haveData bool
	for len(b) > 0 {
		num, typ, n := tag1(b)
		if n == 0 {
			num, typ, n = protowire.ConsumeTag(b)
		}
		if n < 0 {
			return 0, 0, nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case recFieldPartitionKeyIndex, recFieldExplicitHashIndex:
			if typ != protowire.VarintType {
				return 0, 0, nil, fmt.Errorf("field %d has wire type %d", num, typ)
			}
			v, n := varint1(b)
			if n == 0 {
				v, n = protowire.ConsumeVarint(b)
			}
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			b = b[n:]
			if num == recFieldPartitionKeyIndex {
				keyIdx, haveKey = v, true
			} else {
				if v > 1<<62 {
					return 0, 0, nil, fmt.Errorf("explicit hash key index %d", v)
				}
				hashIdx = int64(v)
			}
		case recFieldData, recFieldTags:
			if typ != protowire.BytesType {
				return 0, 0, nil, fmt.Errorf("field %d has wire type %d", num, typ)
			}
			v, n := bytes1(b)
			if n == 0 {
				v, n = protowire.ConsumeBytes(b)
			}
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			b = b[n:]
			if num == recFieldData {
				data, haveData = v, true
			}
			// tags: not used by the KPL or the KCL, skipped
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return 0, 0, nil, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if !haveKey || !haveData {
		return 0, 0, nil, errors.New("partition_key_index or data missing (both are required)")
	}
	return keyIdx, hashIdx, data, nil
}

// Aggregator packs user records into one aggregated record. Every record
// added with the same partition key shares one entry of the key table. The
// zero value is ready to use.
type Aggregator struct {
	keys    []string // the partition key table, in order
	table   []byte   // its encoding (field 1 entries)
	records []byte   // the records (field 3 entries)
	n       int
}

// Len returns how many user records were added since the last Reset.
func (a *Aggregator) Len() int { return a.n }

// Size returns the size of the aggregated record Bytes would return now.
func (a *Aggregator) Size() int {
	return AggregatedOverhead + len(a.table) + len(a.records)
}

// SizeWith returns the size of the aggregated record after adding a user
// record of partitionKey with dataLen bytes of data.
func (a *Aggregator) SizeWith(partitionKey string, dataLen int) int {
	idx, found := a.keyIndex(partitionKey)
	size := a.Size() + userRecordSize(idx, dataLen)
	if !found {
		size += protowire.SizeTag(aggFieldPartitionKeys) + protowire.SizeBytes(len(partitionKey))
	}
	return size
}

func userRecordSize(keyIdx, dataLen int) int {
	inner := protowire.SizeTag(recFieldPartitionKeyIndex) + protowire.SizeVarint(uint64(keyIdx)) +
		protowire.SizeTag(recFieldData) + protowire.SizeBytes(dataLen)
	return protowire.SizeTag(aggFieldRecords) + protowire.SizeBytes(inner)
}

func (a *Aggregator) keyIndex(key string) (int, bool) {
	for i, k := range a.keys {
		if k == key {
			return i, true
		}
	}
	return len(a.keys), false
}

// Add appends a user record (data is copied).
func (a *Aggregator) Add(partitionKey string, data []byte) {
	idx, found := a.keyIndex(partitionKey)
	if !found {
		a.keys = append(a.keys, partitionKey)
		a.table = protowire.AppendTag(a.table, aggFieldPartitionKeys, protowire.BytesType)
		a.table = protowire.AppendString(a.table, partitionKey)
	}
	inner := protowire.SizeTag(recFieldPartitionKeyIndex) + protowire.SizeVarint(uint64(idx)) +
		protowire.SizeTag(recFieldData) + protowire.SizeBytes(len(data))
	a.records = protowire.AppendTag(a.records, aggFieldRecords, protowire.BytesType)
	a.records = protowire.AppendVarint(a.records, uint64(inner))
	a.records = protowire.AppendTag(a.records, recFieldPartitionKeyIndex, protowire.VarintType)
	a.records = protowire.AppendVarint(a.records, uint64(idx))
	a.records = protowire.AppendTag(a.records, recFieldData, protowire.BytesType)
	a.records = protowire.AppendBytes(a.records, data)
	a.n++
}

// Bytes returns the aggregated record: magic number, message (the key
// table, then the records), MD5 of the message. It is a new slice.
func (a *Aggregator) Bytes() []byte {
	out := make([]byte, 0, a.Size())
	out = append(out, AggregatedMagic...)
	out = append(out, a.table...)
	out = append(out, a.records...)
	sum := md5.Sum(out[len(AggregatedMagic):])
	return append(out, sum[:]...)
}

// Reset empties the aggregator, keeping its buffers.
func (a *Aggregator) Reset() {
	a.keys, a.table, a.records, a.n = a.keys[:0], a.table[:0], a.records[:0], 0
}
