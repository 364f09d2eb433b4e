package sim

// instance is one live instance of the simulated group (its shadow, when the
// policy runs shadows, lives and dies with it).
type instance struct {
	id       int
	launched int // tick of the launch order: cost runs from here
	ready    int // first tick in service (launched + pending + warm-up)
	// Shadow model: mutations accepted but not yet applied by the shadow.
	shadowBacklog float64
}

// fleet is one policy's Auto Scaling group: a stack of instances in launch
// order, so that scale-in removes the most recently launched first.
type fleet struct {
	min, max int
	lead     int // ticks from launch to in service
	insts    []instance
	nextID   int
	// accounting
	instTicks int64 // instance-ticks paid (launch to termination)
}

func newFleet(min, max, lead, initial int) *fleet {
	f := &fleet{min: min, max: max, lead: lead}
	for range initial {
		// Already in service at tick 0 and paid from tick 0.
		f.insts = append(f.insts, instance{id: f.nextID, launched: 0, ready: 0})
		f.nextID++
	}
	return f
}

// desired is the number of instances the group holds (pending, warming and
// in service).
func (f *fleet) desired() int { return len(f.insts) }

// counts returns the instances in service and still launching or warming at
// tick t.
func (f *fleet) counts(t int) (inService, warming int) {
	for i := range f.insts {
		if f.insts[i].ready <= t {
			inService++
		} else {
			warming++
		}
	}
	return inService, warming
}

// setDesired launches or terminates instances at tick t so that the group
// holds n (clamped to [min, max]). It returns the clamped count.
func (f *fleet) setDesired(t, n int) int {
	n = max(f.min, min(f.max, n))
	for len(f.insts) < n {
		f.insts = append(f.insts, instance{id: f.nextID, launched: t, ready: t + f.lead})
		f.nextID++
	}
	if len(f.insts) > n {
		f.insts = f.insts[:n] // most recently launched go first
	}
	return n
}

// pay accounts one tick of every instance the group holds.
func (f *fleet) pay() { f.instTicks += int64(len(f.insts)) }
