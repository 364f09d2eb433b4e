package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// The state digest is an incremental multiset hash: the accumulator is the
// lane-wise sum (mod 2^64 in each of four lanes) of SHA-256(uvarint(len(key))
// || key || value) over the resource's key/value pairs. Setting a key
// subtracts the old pair's hash and adds the new one, so the digest costs
// O(1) per applied mutation and never a scan, and it depends only on the
// final set of pairs, not on the order that produced them. A snapshot
// import recomputes it from the pairs it receives.
//
// What GET /v1/digest reports is SHA-256 over a domain tag, the applied
// seq, the number of keys and the accumulator: two agents report the same
// digest exactly when they hold the same pairs at the same applied seq.
type digestAcc [4]uint64

func pairHash(key, value []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	h.Write(key)
	h.Write(value)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (a *digestAcc) add(key, value []byte) {
	h := pairHash(key, value)
	for i := range a {
		a[i] += binary.BigEndian.Uint64(h[8*i:])
	}
}

func (a *digestAcc) sub(key, value []byte) {
	h := pairHash(key, value)
	for i := range a {
		a[i] -= binary.BigEndian.Uint64(h[8*i:])
	}
}

func (a digestAcc) bytes() []byte {
	b := make([]byte, 32)
	for i, v := range a {
		binary.BigEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func accFromBytes(b []byte) (digestAcc, error) {
	var a digestAcc
	if len(b) != 32 {
		return a, fmt.Errorf("digest accumulator is %d bytes, want 32", len(b))
	}
	for i := range a {
		a[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	return a, nil
}

// MarshalText writes the accumulator as hex (for JSON).
func (a digestAcc) MarshalText() ([]byte, error) {
	return []byte(hex.EncodeToString(a.bytes())), nil
}

// UnmarshalText reads the hex form.
func (a *digestAcc) UnmarshalText(b []byte) error {
	raw, err := hex.DecodeString(string(b))
	if err != nil {
		return fmt.Errorf("decoding digest accumulator: %w", err)
	}
	v, err := accFromBytes(raw)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

const digestDomain = "shadowscale-agent-digest-v1"

// stateDigest is the digest reported for a state at an applied seq.
func stateDigest(appliedSeq, keys uint64, acc digestAcc) string {
	h := sha256.New()
	h.Write([]byte(digestDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], appliedSeq)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], keys)
	h.Write(n[:])
	h.Write(acc.bytes())
	return hex.EncodeToString(h.Sum(nil))
}

// Log entries: the durable form of an accepted mutation, keyed in the log
// bucket by its seq (8 bytes, big-endian). Resource and seq are implied.
//
//	byte 0     entry format (1)
//	byte 1     op: 1 put, 2 update, 3 delete
//	bytes 2-9  producer timestamp, unix nanoseconds, big-endian
//	uvarint    key length, then the key, then the value (the rest)
const entryFormat = 1

var errBadEntry = errors.New("malformed log entry")

func opCode(op mutation.Op) byte {
	switch op {
	case mutation.OpPut:
		return 1
	case mutation.OpUpdate:
		return 2
	default:
		return 3
	}
}

func opFromCode(c byte) (mutation.Op, bool) {
	switch c {
	case 1:
		return mutation.OpPut, true
	case 2:
		return mutation.OpUpdate, true
	case 3:
		return mutation.OpDelete, true
	}
	return "", false
}

func encodeEntry(m *mutation.Mutation) []byte {
	b := make([]byte, 10, 10+binary.MaxVarintLen64+len(m.Key)+len(m.Value))
	b[0] = entryFormat
	b[1] = opCode(m.Op)
	binary.BigEndian.PutUint64(b[2:], uint64(m.ProducedAt.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(m.Key)))
	b = append(b, m.Key...)
	return append(b, m.Value...)
}

// entry is a decoded log entry; key and value alias the input.
type entry struct {
	op    mutation.Op
	ts    int64
	key   []byte
	value []byte
}

func decodeEntry(b []byte) (entry, error) {
	if len(b) < 11 || b[0] != entryFormat {
		return entry{}, errBadEntry
	}
	op, ok := opFromCode(b[1])
	if !ok {
		return entry{}, errBadEntry
	}
	ts := int64(binary.BigEndian.Uint64(b[2:]))
	kl, n := binary.Uvarint(b[10:])
	if n <= 0 || kl > uint64(len(b)-10-n) {
		return entry{}, errBadEntry
	}
	rest := b[10+n:]
	return entry{op: op, ts: ts, key: rest[:kl], value: rest[kl:]}, nil
}

// mutation rebuilds the wire mutation of an entry.
func (e entry) mutation(resource string, seq uint64) mutation.Mutation {
	m := mutation.Mutation{
		V:          mutation.Version,
		Resource:   resource,
		Seq:        seq,
		Op:         e.op,
		Key:        string(e.key),
		ProducedAt: time.Unix(0, e.ts).UTC(),
	}
	if len(e.value) > 0 {
		m.Value = append([]byte(nil), e.value...)
	}
	return m
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func seqFromKey(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}
