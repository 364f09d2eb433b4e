package agent

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/shadowscale/shadowscale/shared/agent/seqs"
	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// Snapshot stream (docs/AGENT.md, "Snapshot format"): the magic line, then
// records, each `type byte | uvarint length | payload`:
//
//	'H' header, JSON (snapshotHeader), exactly once, first
//	'K' one key/value pair: uvarint key length, key, value; keys ascending
//	'L' one pending log entry: uvarint seq, then the entry (digest.go);
//	    seqs ascending, in (applied_seq, accepted_seq]
//	'E' end, empty; exactly once, last
//
// The header carries the counts and the digest accumulator of the pairs, so
// the receiver detects a truncated or altered stream before it commits, and
// the sequence bookkeeping (missing gaps with their first-seen times, ranges
// given up on), so the receiver waits for and refuses the same seqs as the
// sender: every seq in (applied_seq, accepted_seq] is exactly one of a
// pending entry, missing, or given up on.
const snapshotMagic = "SHADOWSCALE-SNAPSHOT-1\n"

const (
	recHeader byte = 'H'
	recPair   byte = 'K'
	recLog    byte = 'L'
	recEnd    byte = 'E'
)

// maxSnapshotRecord bounds one record: a pair or an entry holds at most one
// mutation's key and value.
const maxSnapshotRecord = mutation.MaxKeyBytes + mutation.MaxRecordBytes + 64

// ErrBadSnapshot marks a snapshot stream that is malformed, truncated or
// inconsistent with its header.
var ErrBadSnapshot = errors.New("bad snapshot")

type snapshotHeader struct {
	Format        int       `json:"format"`
	Resource      string    `json:"resource"`
	AppliedSeq    uint64    `json:"applied_seq"`
	AcceptedSeq   uint64    `json:"accepted_seq"`
	AppliedCount  uint64    `json:"applied_count"`
	AcceptedCount uint64    `json:"accepted_count"`
	Gaps          uint64    `json:"gaps"`
	Keys          uint64    `json:"keys"`
	Pending       uint64    `json:"pending"`
	Acc           digestAcc `json:"acc"`
	// Missing, Skipped and Floor are the sender's seqs.Tracker (absent
	// when empty, so a snapshot without gaps reads as before).
	Missing []seqs.Gap   `json:"missing,omitempty"`
	Skipped []seqs.Range `json:"skipped,omitempty"`
	Floor   uint64       `json:"floor,omitempty"`
}

// tracker is the header's sequence bookkeeping.
func (h *snapshotHeader) tracker() seqs.Tracker {
	return seqs.Tracker{High: h.AcceptedSeq, Missing: h.Missing, Skipped: h.Skipped, Floor: h.Floor, GivenUp: h.Gaps}
}

type snapshotWriter struct {
	w   *bufio.Writer
	tmp []byte
}

func newSnapshotWriter(w io.Writer) (*snapshotWriter, error) {
	sw := &snapshotWriter{w: bufio.NewWriterSize(w, 64<<10)}
	if _, err := sw.w.WriteString(snapshotMagic); err != nil {
		return nil, fmt.Errorf("writing snapshot: %w", err)
	}
	return sw, nil
}

func (s *snapshotWriter) record(t byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	s.tmp = append(s.tmp[:0], t)
	s.tmp = binary.AppendUvarint(s.tmp, uint64(n))
	if _, err := s.w.Write(s.tmp); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	for _, p := range parts {
		if _, err := s.w.Write(p); err != nil {
			return fmt.Errorf("writing snapshot: %w", err)
		}
	}
	return nil
}

func (s *snapshotWriter) header(h snapshotHeader) error {
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding snapshot header: %w", err)
	}
	return s.record(recHeader, b)
}

func (s *snapshotWriter) pair(key, value []byte) error {
	var n [binary.MaxVarintLen64]byte
	return s.record(recPair, n[:binary.PutUvarint(n[:], uint64(len(key)))], key, value)
}

func (s *snapshotWriter) entry(seq uint64, e []byte) error {
	var n [binary.MaxVarintLen64]byte
	return s.record(recLog, n[:binary.PutUvarint(n[:], seq)], e)
}

func (s *snapshotWriter) end() error {
	if err := s.record(recEnd); err != nil {
		return err
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	return nil
}

// snapshotReader reads and checks a snapshot stream record by record. The
// slices it returns are valid until the next call.
type snapshotReader struct {
	r       *bufio.Reader
	buf     []byte
	hdr     snapshotHeader
	trk     seqs.Tracker
	state   int // 0 before header, 1 pairs, 2 entries, 3 ended
	lastKey []byte
	lastSeq uint64
	pairs   uint64
	entries uint64
	acc     digestAcc
}

func badSnapshot(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, a...))
}

// newSnapshotReader reads the magic and the header.
func newSnapshotReader(r io.Reader) (*snapshotReader, error) {
	sr := &snapshotReader{r: bufio.NewReaderSize(r, 64<<10)}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(sr.r, magic); err != nil {
		return nil, readErr(err, "magic")
	}
	if string(magic) != snapshotMagic {
		return nil, badSnapshot("not a shadowscale snapshot (bad magic)")
	}
	t, p, err := sr.next()
	if err != nil {
		return nil, err
	}
	if t != recHeader {
		return nil, badSnapshot("first record is %q, want header", t)
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr.hdr); err != nil {
		return nil, badSnapshot("decoding header: %s", jsonReason(err))
	}
	h := sr.hdr
	switch {
	case h.Format != 1:
		return nil, badSnapshot("format %d, want 1", h.Format)
	case h.Resource == "" || len(h.Resource) > mutation.MaxResourceLen:
		return nil, badSnapshot("resource name empty or longer than %d bytes", mutation.MaxResourceLen)
	case h.AppliedSeq > h.AcceptedSeq:
		return nil, badSnapshot("applied seq %d above accepted seq %d", h.AppliedSeq, h.AcceptedSeq)
	case h.Pending > h.AcceptedSeq-h.AppliedSeq:
		return nil, badSnapshot("%d pending entries do not fit in seqs (%d, %d]", h.Pending, h.AppliedSeq, h.AcceptedSeq)
	}
	sr.trk = h.tracker()
	if err := sr.trk.Validate(h.AppliedSeq); err != nil {
		return nil, badSnapshot("%v", err)
	}
	// Every seq in (applied, accepted] is a pending entry, missing or
	// given up on (the entries are checked one by one as they come).
	if a, b := sr.trk.MissingCount(), sr.trk.SkippedBetween(h.AppliedSeq, h.AcceptedSeq); a+b < a || a+b+h.Pending < a+b || a+b+h.Pending != h.AcceptedSeq-h.AppliedSeq {
		return nil, badSnapshot("%d pending, %d missing and %d given-up seqs do not make up seqs (%d, %d]", h.Pending, a, b, h.AppliedSeq, h.AcceptedSeq)
	}
	sr.state = 1
	sr.lastSeq = h.AppliedSeq
	return sr, nil
}

func readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badSnapshot("truncated in %s", what)
	}
	return fmt.Errorf("reading snapshot %s: %w", what, err)
}

func (s *snapshotReader) next() (byte, []byte, error) {
	t, err := s.r.ReadByte()
	if err != nil {
		return 0, nil, readErr(err, "record type")
	}
	n, err := s.readUvarint()
	if err != nil {
		return 0, nil, err
	}
	if n > maxSnapshotRecord {
		return 0, nil, badSnapshot("record of %d bytes exceeds %d", n, maxSnapshotRecord)
	}
	if uint64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		return 0, nil, readErr(err, "record")
	}
	return t, s.buf, nil
}

// readUvarint reads a record length; an overlong varint is a bad
// snapshot, not an I/O error.
func (s *snapshotReader) readUvarint() (uint64, error) {
	var x uint64
	for i := range binary.MaxVarintLen64 {
		b, err := s.r.ReadByte()
		if err != nil {
			return 0, readErr(err, "record length")
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<(7*i), nil
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, badSnapshot("record length overflows 64 bits")
}

// snapshotItem is one pair or one entry.
type snapshotItem struct {
	kind  byte // recPair or recLog
	key   []byte
	value []byte
	seq   uint64
	entry []byte
}

// read returns the next pair or entry, or io.EOF after a valid end record
// whose counts and digest match the header.
func (s *snapshotReader) read() (snapshotItem, error) {
	if s.state == 3 {
		return snapshotItem{}, io.EOF
	}
	t, p, err := s.next()
	if err != nil {
		return snapshotItem{}, err
	}
	switch t {
	case recPair:
		if s.state != 1 {
			return snapshotItem{}, badSnapshot("pair after log entries")
		}
		kl, n := binary.Uvarint(p)
		if n <= 0 || kl > uint64(len(p)-n) || kl == 0 || kl > mutation.MaxKeyBytes {
			return snapshotItem{}, badSnapshot("malformed pair")
		}
		key, value := p[n:n+int(kl)], p[n+int(kl):]
		if s.pairs > 0 && bytes.Compare(key, s.lastKey) <= 0 {
			return snapshotItem{}, badSnapshot("pair keys not strictly ascending")
		}
		s.lastKey = append(s.lastKey[:0], key...)
		s.pairs++
		s.acc.add(key, value)
		return snapshotItem{kind: recPair, key: key, value: value}, nil
	case recLog:
		if s.state == 1 {
			s.state = 2
		}
		seq, n := binary.Uvarint(p)
		if n <= 0 {
			return snapshotItem{}, badSnapshot("malformed log entry")
		}
		if seq <= s.lastSeq || seq > s.hdr.AcceptedSeq {
			return snapshotItem{}, badSnapshot("log entry seq %d not ascending in (%d, %d]", seq, s.hdr.AppliedSeq, s.hdr.AcceptedSeq)
		}
		if v := s.trk.Classify(seq); v != seqs.Duplicate {
			return snapshotItem{}, badSnapshot("log entry seq %d is %s per the header", seq, map[seqs.Verdict]string{seqs.Filled: "missing", seqs.Late: "given up on"}[v])
		}
		e := p[n:]
		if _, err := decodeEntry(e); err != nil {
			return snapshotItem{}, badSnapshot("log entry seq %d: %v", seq, err)
		}
		s.lastSeq = seq
		s.entries++
		return snapshotItem{kind: recLog, seq: seq, entry: e}, nil
	case recEnd:
		if len(p) != 0 {
			return snapshotItem{}, badSnapshot("end record carries data")
		}
		switch {
		case s.pairs != s.hdr.Keys:
			return snapshotItem{}, badSnapshot("%d pairs, header says %d", s.pairs, s.hdr.Keys)
		case s.entries != s.hdr.Pending:
			return snapshotItem{}, badSnapshot("%d log entries, header says %d", s.entries, s.hdr.Pending)
		case s.acc != s.hdr.Acc:
			return snapshotItem{}, badSnapshot("pairs do not match the header's digest")
		}
		if _, err := s.r.ReadByte(); err == nil {
			return snapshotItem{}, badSnapshot("data after the end record")
		} else if !errors.Is(err, io.EOF) {
			return snapshotItem{}, fmt.Errorf("reading snapshot: %w", err)
		}
		s.state = 3
		return snapshotItem{}, io.EOF
	default:
		return snapshotItem{}, badSnapshot("unknown record type %q", t)
	}
}
