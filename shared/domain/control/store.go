package control

import (
	"encoding/json"
	"time"
)

// What the forecaster persists for a group between runs and what it audits.
// The stores (the awssdk and memory adapters) hold these as they are; the
// limits below are part of their contract.

// MaxStateBlob bounds a saved state blob: a store refuses a larger one
// (a DynamoDB item is at most 400 KB).
const MaxStateBlob = 350 << 10

// MaxAuditBody bounds an audit record's body: a store refuses a larger one.
const MaxAuditBody = 300 << 10

// SavedState is a group's stored loop state and the version to pass back
// when saving it again (optimistic concurrency).
type SavedState struct {
	Blob      []byte
	Version   int64
	UpdatedAt time.Time
}

// AuditRecord is one audited control-loop decision.
type AuditRecord struct {
	Group string
	At    time.Time
	// ID distinguishes decisions of one group at one instant (e.g. the
	// Lambda request id); (Group, At, ID) is the record's identity.
	ID string
	// Action is what was decided: "none", "scale-out", "raise-max",
	// "resize", ... (the control loop's vocabulary).
	Action string
	// Mode is "act" or "forecast-only": whether the action was applied.
	Mode string
	// Body is the decision in full (inputs, forecast, guardrails, outcome)
	// as JSON.
	Body json.RawMessage
}
