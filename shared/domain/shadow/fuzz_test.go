package shadow

import "testing"

// FuzzParsePools: no configuration text makes ParsePools panic, and what it
// accepts validates.
func FuzzParsePools(f *testing.F) {
	f.Add(`{"us-east-1a":{"subnets":["subnet-1"],"capacity":50}}`)
	f.Add(`{"":{"subnets":[],"capacity":-1}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePools(s)
		if err != nil {
			return
		}
		if verr := p.Validate(); verr != nil {
			t.Fatalf("accepted invalid pools: %v", verr)
		}
	})
}
