package forecast

import (
	"math"
	"math/rand/v2"
)

// testRand is a seeded source of noise for deterministic tests.
type testRand struct{ r *rand.Rand }

func newTestRand(seed uint64) testRand { return testRand{rand.New(rand.NewPCG(seed, 7))} }

func (t testRand) norm() float64 { return t.r.NormFloat64() }

func (t testRand) unif() float64 { return t.r.Float64() }

var _ = math.Pi
