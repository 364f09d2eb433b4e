package mutation

import "time"

// The fan-out stores the Router's counters as history (per group per minute
// and hour, per resource per minute); the forecaster reads them back as
// these.

// GroupCount is what a group's live and shadow agents newly accepted during
// one minute or hour starting at Start.
type GroupCount struct {
	Start        time.Time
	Live, Shadow int64
	// Seen is how many records (mutations and producers' heartbeats) the
	// fan-out processed for the group in the period: a period with Seen 0
	// and no mutation is one the fan-out did not cover (an outage, or no
	// producer running), which the forecaster must not read as zero
	// demand. 0 in history written before it was counted.
	Seen int64
}

// ResourceCount is one resource's minute.
type ResourceCount struct {
	Minute                     time.Time
	Resource                   string
	Live, Shadow               int64
	LiveApplied, ShadowApplied uint64
	LiveBacklog, ShadowBacklog uint64
}

// DeadLetter is a record that can never succeed, and why: the fan-out hands
// it to a dead-letter store with its provenance instead of retrying it.
type DeadLetter struct {
	// Data is the original record, as it came (possibly not even UTF-8):
	// the whole Kinesis record, or, when SubSequence >= 0, one user record
	// of an aggregated Kinesis record.
	Data           []byte
	Reason         string
	Source         string
	PartitionKey   string
	SequenceNumber string
	// SubSequence is the user record's index in its aggregated Kinesis
	// record (what the KCL calls its subsequence number), or -1 when Data
	// is the whole Kinesis record.
	SubSequence int
	// Mutations is how many failed user records (mutations, or records
	// that do not decode) Data holds: 1 for one user record, more for an
	// aggregated record dead-lettered whole, 0 for a Kinesis record that
	// is not even that (oversized, a corrupt aggregated record).
	Mutations int
	EventID   string
	At        time.Time
}
