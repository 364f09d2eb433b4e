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
)

// IgnoreNotFound returns nil for ErrNotFound and err otherwise.
func IgnoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
