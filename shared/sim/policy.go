package sim

import "time"

// View is what a policy sees at one tick: the tick's observations and the
// group as Auto Scaling reports it. Nothing in it comes from a later tick.
type View struct {
	Tick int
	Time time.Time
	// Demand is the load offered to the group during the tick, requests per
	// second: the metric source AWS's target tracking reads.
	Demand float64
	// Capacity is what one instance serves, requests per second, as the
	// operator believes it (C): what the policies are told.
	Capacity float64
	// TrueCapacity is what one instance really serves now (C, or its drift:
	// Config.Drift); Utilization the in-service instances' true
	// utilization, demand / (in service · TrueCapacity), +Inf with none in
	// service. Reactive target tracking reads the utilization (its metric);
	// the shadow policy, under -unknown-capacity, reads it capped at 100%
	// as CloudWatch reports it; the others must not use them.
	TrueCapacity, Utilization float64
	// InService, Warming and Desired describe the group before the decision.
	InService, Warming, Desired int
	Min, Max                    int
	// Resources are what the agents counted during the tick, one entry per
	// in-service live instance (and its shadow). The simulator models the
	// shadows for every policy (it bills them only to policies that run
	// them): only those may use them.
	Resources []ResourceCount
}

// ResourceCount is what the fan-out counted for one resource (a live
// instance and its shadow) during one tick, in mutations.
type ResourceCount struct {
	ID            string
	LiveAccepted  float64 // mutations offered to the live instance
	LiveApplied   float64 // mutations the live instance applied
	ShadowApplied float64 // mutations its shadow applied
	ShadowBacklog float64 // mutations its shadow holds, not yet applied, at the end of the tick
}

// Order is a policy's answer at one tick.
type Order struct {
	Desired int    // the instance count the group should hold
	Reason  string // why, in words (may be empty when nothing changes)
}

// Policy decides the group's desired count tick by tick.
//
// Contract: Decide is called once per tick, in tick order, after the tick's
// demand was served; it may use only what it was given so far (the oracle,
// which is handed the whole demand at construction, is the one exception).
type Policy interface {
	Name() string
	Decide(v View) Order
}

// signalWatcher is implemented by a policy that watches the shadows'
// signal without acting on it (shadow-blind): the run scores its trips
// against the overloads (Result.Signal).
type signalWatcher interface {
	Watching() bool
	Trips() []bool // one a tick
}

// shadowRunner is implemented by policies that run shadows: the simulator
// models their shadows and bills them.
type shadowRunner interface {
	RunsShadows() bool
}
