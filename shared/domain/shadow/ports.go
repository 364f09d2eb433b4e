package shadow

import (
	"context"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
)

// Fleet is EC2, as the shadow domain needs it.
type Fleet interface {
	// Launch starts one shadow instance with spec.Tags applied at creation,
	// in spec.SubnetID (which lies in spec.AZ), and returns it.
	Launch(ctx context.Context, spec LaunchSpec) (Instance, error)
	// Terminate terminates a shadow. Implementations MUST refuse, with
	// ErrNotOwned, an instance that does not carry TagRole=RoleShadow and
	// this stack's TagStack; terminating an instance already gone is not an
	// error.
	Terminate(ctx context.Context, id string) error
	// Describe returns the instances with these ids that exist (terminated
	// ones included while EC2 still reports them); unknown ids are absent.
	Describe(ctx context.Context, ids []string) ([]Instance, error)
	// Shadows returns this stack's shadow instances (every state but
	// terminated), those of one live instance when liveID is not empty.
	Shadows(ctx context.Context, liveID string) ([]Instance, error)
}

// Records stores shadow records with optimistic concurrency.
type Records interface {
	// Get returns the record of a live instance, or ErrNotFound.
	Get(ctx context.Context, liveID string) (Record, error)
	// Create stores a new record with Version 1, or returns ErrConflict if
	// the live instance already has one. It returns the stored record.
	Create(ctx context.Context, r Record) (Record, error)
	// Update stores r if the stored Version equals r.Version (ErrConflict
	// otherwise, ErrNotFound if there is none) and returns it with Version+1.
	Update(ctx context.Context, r Record) (Record, error)
	// Delete removes the record if its Version equals version.
	Delete(ctx context.Context, liveID string, version int64) error
	// List returns every record, ordered by live instance id.
	List(ctx context.Context) ([]Record, error)
}

// LegacyRecords moves the shadow records an earlier version of the plane
// stored where this one no longer reads them (docs/DYNAMODB.md,
// "Upgrading"), at most limit a call. The DynamoDB Records implement it;
// the reconciler calls it before it lists the records.
type LegacyRecords interface {
	MigrateLegacy(ctx context.Context, limit int) (LegacyMigration, error)
}

// LegacyMigration counts what one LegacyRecords call did.
type LegacyMigration struct {
	// Moved records are where this version reads them now.
	Moved int
	// Dropped old records belonged to a live instance that already had a
	// record where this version reads it (written since the upgrade): that
	// record wins, and the old record's shadow is left to the reconciler as
	// an orphan.
	Dropped int
	// Skipped old records changed or vanished between the read and the
	// move (an old version's function still writing during the rollout);
	// the next call sees them again if they are still there.
	Skipped int
	// Failed old records could not be moved (one that cannot be decoded,
	// a write that failed); the call's error says why.
	Failed int
	// More is true when more old records remain than the call's limit.
	More bool
}

// Ledger holds the atomic counters that bound the lifecycle without reading
// every record (docs/DYNAMODB.md): the shadow pools' slots per AZ and the
// replacements per group and hour; and the audit of a halted replacement.
// The DynamoDB and in-memory Records implement it; Deps.Ledger defaults to
// Deps.Records when it does.
type Ledger interface {
	// AcquireSlot takes one of the AZ pool's capacity slots atomically, or
	// returns an error wrapping ErrPoolFull when all are taken.
	AcquireSlot(ctx context.Context, az string, capacity int) error
	// ReleaseSlot gives one back (the count never goes below zero).
	ReleaseSlot(ctx context.Context, az string) error
	// SlotsUsed returns the AZ pool's count (0 before the first slot).
	SlotsUsed(ctx context.Context, az string) (int, error)
	// CorrectSlots sets the AZ pool's count to n if it still is old
	// (ErrConflict otherwise): the reconciler's repair of a count that a
	// crash between a slot and its record left wrong.
	CorrectSlots(ctx context.Context, az string, old, n int) error
	// TakeReplacement counts one replacement of the group in the UTC hour
	// holding at, unless limit were exceeded (an error wrapping
	// ErrReplaceLimit, and nothing counted).
	TakeReplacement(ctx context.Context, group string, at time.Time, limit int) error
	// RecordHalt stores the audit record of a replacement that stopped
	// (one per live instance and hour: a repeat overwrites it).
	RecordHalt(ctx context.Context, h Halt) error
}

// Halt is the audit record of a replacement that did not happen, and why.
type Halt struct {
	Group    string
	LiveID   string
	ShadowID string // the shadow that failed ("" when none was recorded)
	At       time.Time
	// Wanted is why a replacement was wanted (e.g. "shadow instance is terminated").
	Wanted string
	// Cause is why it stopped, in words.
	Cause string
	// Replacements of this live instance in its current streak, and the
	// group's limit per hour.
	Replacements int
	Limit        int
}

// AgentState is what an agent reports for one resource.
type AgentState struct {
	AcceptedSeq uint64
	AppliedSeq  uint64
	Applied     uint64
	Backlog     uint64
	Digest      string // of the state at AppliedSeq
	// Checkpoints are digests of the state at fixed sequence multiples, so
	// a live and its lagging shadow can be compared at a common sequence
	// while mutations still flow.
	Checkpoints []Checkpoint
}

// Checkpoint is the digest of a resource's state holding exactly the
// mutations with sequence <= Seq.
type Checkpoint struct {
	Seq    uint64
	Digest string
}

// CommonCheckpoint returns the highest sequence both states hold a
// checkpoint for, with both digests; ok is false when there is none.
func CommonCheckpoint(a, b AgentState) (seq uint64, da, db string, ok bool) {
	bs := make(map[uint64]string, len(b.Checkpoints))
	for _, c := range b.Checkpoints {
		bs[c.Seq] = c.Digest
	}
	for _, c := range a.Checkpoints {
		if d, hit := bs[c.Seq]; hit && (!ok || c.Seq > seq) {
			seq, da, db, ok = c.Seq, c.Digest, d, true
		}
	}
	return seq, da, db, ok
}

// Agents talks to the shadow agents on the instances.
type Agents interface {
	// State returns an agent's state of a resource.
	State(ctx context.Context, at mutation.Endpoint, resource string) (AgentState, error)
	// Resync copies a resource's state from one agent to another (snapshot
	// export and import); mutations the receiver already holds beyond the
	// snapshot are kept.
	Resync(ctx context.Context, from, to mutation.Endpoint, resource string) error
}
