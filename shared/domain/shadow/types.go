// Package shadow is the shadow lifecycle domain: sizing and placing a shadow
// for a live instance, keeping exactly one per live instance (Ensure),
// removing it with its live instance (Retire), replacing a failed one
// (Replace), and reconciling what runs with what is recorded (Reconcile).
//
// It talks to the outside only through the ports in ports.go; the AWS
// adapters and the in-memory ones implement them.
package shadow

import (
	"strconv"
	"time"
)

// DefaultAgentPort is the agents' port on live and shadow instances
// (docs/CONTRACTS.md; the CDK app's default agentPort is the same).
const DefaultAgentPort = 8470

// Tag keys and values (docs/CONTRACTS.md). Shadows carry all of the
// instance tags from creation on; the IAM policy of the plane only allows
// terminating instances that carry TagRole=RoleShadow and TagStack=<stack>.
const (
	TagRole       = "shadowscale:role"
	RoleShadow    = "shadow"
	TagLive       = "shadowscale:live-instance"
	TagGroup      = "shadowscale:group"
	TagStack      = "shadowscale:stack"
	TagGeneration = "shadowscale:generation"
	// On Auto Scaling groups.
	TagEnrolled = "shadowscale:enrolled"
	TagMode     = "shadowscale:mode"
)

// State is an EC2 instance state name.
type State string

// EC2 instance states.
const (
	Pending      State = "pending"
	Running      State = "running"
	ShuttingDown State = "shutting-down"
	Terminated   State = "terminated"
	Stopping     State = "stopping"
	Stopped      State = "stopped"
)

// Gone reports whether an instance in this state will never run again.
func (s State) Gone() bool { return s == ShuttingDown || s == Terminated }

// Instance is what the domain knows of an EC2 instance.
type Instance struct {
	ID         string
	Type       string
	AZ         string
	SubnetID   string
	PrivateIP  string
	Group      string // Auto Scaling group (live instances)
	State      State
	LaunchedAt time.Time
	Tags       map[string]string
	// Impaired is true when EC2 status checks report the instance or its
	// system impaired.
	Impaired bool
}

// IsShadow reports whether the instance carries the shadow role tag of the
// given stack.
func (i Instance) IsShadow(stack string) bool {
	return i.Tags[TagRole] == RoleShadow && i.Tags[TagStack] == stack
}

// LooksLikeShadow reports whether the instance carries any shadow role tag,
// whatever its stack: such an instance never gets a shadow of its own.
func (i Instance) LooksLikeShadow() bool { return i.Tags[TagRole] == RoleShadow }

// Generation returns the shadowscale:generation tag (0 when absent).
func (i Instance) Generation() int {
	g, err := strconv.Atoi(i.Tags[TagGeneration])
	if err != nil {
		return 0
	}
	return g
}

// Status is the lifecycle state of a shadow record.
type Status string

// Record statuses.
const (
	// Launching: the record claims the live instance; a shadow is being
	// launched (ShadowID may still be empty).
	Launching Status = "launching"
	// Active: ShadowID runs and receives mutations.
	Active Status = "active"
	// Retiring: the live instance is gone; the shadow is being terminated.
	Retiring Status = "retiring"
)

// Record is the durable state of one live instance's shadow.
type Record struct {
	LiveID     string
	Group      string
	AZ         string
	LiveType   string
	ShadowID   string // empty while launching
	ShadowType string
	SubnetID   string
	Status     Status
	// Generation is 1 for the first shadow, +1 for each replacement.
	Generation int
	// Version is the optimistic-concurrency counter the Records port
	// checks on Update and Delete.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// SyncedAt is when the shadow was last resynced from a live snapshot
	// (zero: never).
	SyncedAt time.Time
	// Replacements counts the replacements since the shadow last proved
	// healthy (Config.HealthyAfter active): the per-instance backoff's
	// exponent. ReplacedAt is when the last one was claimed.
	Replacements int
	ReplacedAt   time.Time
}

// LaunchSpec is one shadow to launch.
type LaunchSpec struct {
	LiveID       string
	Group        string
	AZ           string
	SubnetID     string
	InstanceType string
	// Arch is the instance type's architecture (arm64 or x86_64): it picks
	// the shadow launch template, whose AMI must be of that architecture.
	Arch string
	// Burstable is true for a T-family type: the launch sets its CPU
	// credits to standard (never unlimited: a shadow's lag must follow its
	// size, not a credit balance, and its bill must not grow with it).
	Burstable  bool
	Generation int
	// ClientToken is a deterministic idempotency token (EC2 ClientToken).
	// EC2 honours it; emulators may not, so the Manager does not rely on it.
	ClientToken string
	// Tags are applied at creation (RunInstances TagSpecifications).
	Tags map[string]string
}
