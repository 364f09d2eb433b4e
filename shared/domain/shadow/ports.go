package shadow

import (
	"context"

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
