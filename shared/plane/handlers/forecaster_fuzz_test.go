package handlers_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/mutation"
	"github.com/shadowscale/shadowscale/shared/plane/handlers"
)

// FuzzForecasterHandle: the forecaster, on in-memory adapters with the
// real control loop, answers any payload (the scheduled event's parser and
// everything behind it) without an error for what it cannot parse and
// without a panic, and acts only on the scheduled event.
func FuzzForecasterHandle(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "events", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no sample events: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e := newFcEnvWith(t, "act", controlLoops(t, `{"per_instance": 600}`))
		e.rising("web", 900, 2400)
		resp, err := e.h.Handle(invocation(), payload)
		_, perr := handlers.DefaultRegistry().Parse(payload)
		if perr != nil {
			if err != nil || resp.Outcome != handlers.OutcomeIgnored {
				t.Fatalf("unparseable payload answered %+v, %v", resp, err)
			}
			if g, _ := e.groups.Get("web"); g.Desired != 2 {
				t.Fatalf("an unparseable payload changed the group to %d", g.Desired)
			}
		}
	})
}

// FuzzForecasterHistory: whatever the history holds (the fuzzer writes
// the group's and the resources' minute items: any counts, huge ones
// included, minutes missing, totals going down), the forecaster with the
// real control loop, in act mode, runs without an error or a panic, and
// what it sets stays within the group's [min, max] and the policy's max
// step from where the group was.
func FuzzForecasterHistory(f *testing.F) {
	f.Add([]byte{})
	f.Add(binary.BigEndian.AppendUint64(nil, 1<<62))
	steady := make([]byte, 0, 70*9)
	for range 70 {
		steady = append(steady, 0)
		steady = binary.BigEndian.AppendUint64(steady, 900)
	}
	f.Add(steady)
	f.Fuzz(func(t *testing.T, data []byte) {
		e := newFcEnvWith(t, "act", controlLoops(t, `{"per_instance": 600, "max_step_out": 3, "max_step_in": 2}`))
		var la, sa uint64
		m := minute("11:00")
		for len(data) >= 9 && !m.After(minute("12:09")) {
			skip, n := data[0], binary.BigEndian.Uint64(data[1:9])
			data = data[9:]
			m = m.Add(time.Duration(skip%4) * time.Minute) // minutes missing
			live := int64(n >> 1)                          // any non-negative count
			e.hist.PutGroupMinute("web", mutation.GroupCount{Start: m, Live: live, Shadow: live / int64(1+skip%3)})
			la += uint64(live) / 2
			if skip&0x80 == 0 { // a total that goes down: an agent replaced
				sa += uint64(live) / 4
			} else {
				sa /= 2
			}
			for _, r := range []string{"i-1", "i-2"} {
				e.hist.PutResourceMinute("web", mutation.ResourceCount{Minute: m, Resource: r, Live: live / 2, Shadow: live / 4, LiveApplied: la, ShadowApplied: sa})
			}
			m = m.Add(time.Minute)
		}
		before, _ := e.groups.Get("web")
		resp, err := e.h.Handle(invocation(), scheduledEvent)
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		if len(resp.Groups) != 1 {
			t.Fatalf("answer %+v", resp)
		}
		g, _ := e.groups.Get("web")
		if g.Desired < before.Min || g.Desired > g.Max || g.Max != before.Max {
			t.Fatalf("desired %d, max %d: outside [%d, %d]", g.Desired, g.Max, before.Min, before.Max)
		}
		if g.Desired-before.Desired > 3 || before.Desired-g.Desired > 2 {
			t.Fatalf("desired %d -> %d: beyond the max step", before.Desired, g.Desired)
		}
	})
}

var scheduledEvent = func() []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "scheduled.json"))
	if err != nil {
		panic(err)
	}
	return b
}()
