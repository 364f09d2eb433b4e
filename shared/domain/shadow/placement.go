package shadow

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
)

// Pool is the shadow pool of one Availability Zone: the subnets shadows go
// to, and how many shadows it may hold.
type Pool struct {
	Subnets  []string `json:"subnets"`
	Capacity int      `json:"capacity"`
}

// Pools maps an Availability Zone to its shadow pool.
type Pools map[string]Pool

// ParsePools reads the SHADOWSCALE_POOLS JSON:
// {"us-east-1a":{"subnets":["subnet-1"],"capacity":50}}.
func ParsePools(s string) (Pools, error) {
	var p Pools
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parsing shadow pools: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate reports every problem at once.
func (p Pools) Validate() error {
	var errs []error
	if len(p) == 0 {
		errs = append(errs, fmt.Errorf("%w: no shadow pool configured", ErrInvalid))
	}
	seen := map[string]string{}
	azs := make([]string, 0, len(p))
	for az := range p {
		azs = append(azs, az)
	}
	sort.Strings(azs)
	for _, az := range azs {
		pool := p[az]
		if az == "" {
			errs = append(errs, fmt.Errorf("%w: pool with an empty availability zone", ErrInvalid))
		}
		if len(pool.Subnets) == 0 {
			errs = append(errs, fmt.Errorf("%w: pool %s has no subnets", ErrInvalid, az))
		}
		if pool.Capacity < 1 {
			errs = append(errs, fmt.Errorf("%w: pool %s capacity %d must be at least 1", ErrInvalid, az, pool.Capacity))
		}
		for _, s := range pool.Subnets {
			if other, dup := seen[s]; dup {
				errs = append(errs, fmt.Errorf("%w: subnet %s is in pools %s and %s (a subnet lies in one AZ)", ErrInvalid, s, other, az))
			}
			seen[s] = az
		}
	}
	return errors.Join(errs...)
}

// Place picks the subnet for a new shadow of liveID in az: one of the AZ
// pool's subnets by a hash of the live instance id, so shadows spread
// evenly over the pool's subnets without reading any record. It never
// returns a subnet of another AZ: a missing pool is ErrNoPool. Capacity is
// not its business: the Ledger's per-AZ slots bound it atomically.
func (p Pools) Place(az, liveID string) (string, error) {
	pool, ok := p[az]
	if !ok || len(pool.Subnets) == 0 {
		return "", fmt.Errorf("placing a shadow in %s: %w", az, ErrNoPool)
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(liveID)) // a hash.Hash never fails to write
	return pool.Subnets[h.Sum32()%uint32(len(pool.Subnets))], nil
}
