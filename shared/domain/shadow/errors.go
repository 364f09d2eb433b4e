package shadow

import "errors"

// Errors of the shadow domain and its ports. Test with errors.Is.
var (
	// ErrNotFound: no such record or instance.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost (record exists, or its version
	// moved).
	ErrConflict = errors.New("conflicting update")
	// ErrNotOwned: the instance is not one of this stack's shadows; the plane
	// refuses to terminate, stop or resize it.
	ErrNotOwned = errors.New("instance is not a shadow of this stack")
	// ErrPoolFull: the shadow pool of the AZ is at capacity.
	ErrPoolFull = errors.New("shadow pool full")
	// ErrNoPool: no shadow pool is configured for the AZ.
	ErrNoPool = errors.New("no shadow pool for availability zone")
	// ErrIsShadow: the instance given as live is itself a shadow.
	ErrIsShadow = errors.New("instance is a shadow")
	// ErrRetiring: the live instance's shadow is being retired.
	ErrRetiring = errors.New("shadow is retiring")
	// ErrInvalid: an argument is malformed.
	ErrInvalid = errors.New("invalid argument")
	// ErrBackoff: the shadow was replaced recently; its next replacement
	// waits for its backoff (Config.ReplaceBackoff, doubling per
	// replacement). The reconciler replaces it once the backoff is over.
	ErrBackoff = errors.New("shadow replacement backing off")
	// ErrReplaceLimit: the group reached its replacements for the hour
	// (Config.ReplacementsPerHour); replacement stops until the next hour,
	// with an audit record saying why.
	ErrReplaceLimit = errors.New("shadow replacements per hour reached")
	// ErrDeadline: an action was not started because the invocation's
	// deadline was near; the next run does it.
	ErrDeadline = errors.New("left for the next run: deadline near")
)

// Deferred reports whether err only postpones the work (a full pool, a
// replacement backing off or capped, a deadline): not a failure to alarm on.
func Deferred(err error) bool {
	return errors.Is(err, ErrPoolFull) || errors.Is(err, ErrBackoff) || errors.Is(err, ErrReplaceLimit) || errors.Is(err, ErrDeadline)
}

// IgnoreNotFound returns nil for ErrNotFound and err otherwise.
func IgnoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
