package signal

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func minute(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

func TestDeltaAndHysteresis(t *testing.T) {
	type step struct {
		live, shadow, backlog float64
		wantDelta             float64 // NaN: want NaN
		wantTripped           bool
	}
	cfg := Config{Window: time.Minute, Trip: 0.1, Clear: 0.02, MinDuration: 2 * time.Minute, MinLiveRate: 1, Expire: 5 * time.Minute}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "in step", steps: []step{{100, 100, 0, 0, false}, {100, 100, 0, 0, false}}},
		{name: "behind trips after min duration", steps: []step{{100, 80, 20, 0.2, false}, {100, 80, 40, 0.2, true}, {100, 80, 60, 0.2, true}}},
		{name: "a single minute behind does not trip", steps: []step{{100, 80, 20, 0.2, false}, {100, 100, 20, 0, false}, {100, 80, 40, 0.2, false}}},
		{name: "hysteresis holds between clear and trip", steps: []step{{100, 50, 0, 0.5, false}, {100, 50, 0, 0.5, true}, {100, 95, 0, 0.05, true}, {100, 99, 0, 0.01, false}, {100, 95, 0, 0.05, false}}},
		{name: "catching up gives a negative delta and clears", steps: []step{{100, 50, 0, 0.5, false}, {100, 50, 0, 0.5, true}, {100, 120, 0, -0.2, false}}},
		{name: "idle is NaN and clears", steps: []step{{100, 50, 0, 0.5, false}, {100, 50, 0, 0.5, true}, {0, 0, 0, math.NaN(), false}}},
		{name: "bad values count as zero", steps: []step{{math.NaN(), -5, math.Inf(1), math.NaN(), false}, {100, math.NaN(), 0, 1, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracker(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				rd, err := tr.Observe(minute(i), []Sample{{Resource: "i-1", LiveApplied: s.live, ShadowApplied: s.shadow, ShadowBacklog: s.backlog}})
				if err != nil {
					t.Fatalf("minute %d: %v", i, err)
				}
				if math.IsNaN(s.wantDelta) != math.IsNaN(rd.Delta) || (!math.IsNaN(s.wantDelta) && math.Abs(rd.Delta-s.wantDelta) > 1e-9) {
					t.Fatalf("minute %d: delta %v, want %v", i, rd.Delta, s.wantDelta)
				}
				if rd.Tripped != s.wantTripped {
					t.Fatalf("minute %d: tripped %v, want %v", i, rd.Tripped, s.wantTripped)
				}
				if len(rd.Resources) != 1 || rd.Resources[0].Tripped != s.wantTripped {
					t.Fatalf("minute %d: resource readings %+v", i, rd.Resources)
				}
			}
		})
	}
}

func TestWindowRatesAndBacklog(t *testing.T) {
	tr, err := NewTracker(Config{Window: 3 * time.Minute, Trip: 0.1, Clear: 0.05, MinLiveRate: 1, Expire: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Two resources; the shadow of i-1 applies 75 of 100 a minute.
	var rd Reading
	for i := range 4 {
		rd, err = tr.Observe(minute(i), []Sample{
			{Resource: "i-1", LiveApplied: 100, ShadowApplied: 75, ShadowBacklog: float64(25 * (i + 1))},
			{Resource: "i-2", LiveApplied: 100, ShadowApplied: 100},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if rd.Live != 200 || rd.Shadow != 175 {
		t.Fatalf("group rates %v/%v, want 200/175 a minute", rd.Live, rd.Shadow)
	}
	if math.Abs(rd.Delta-0.125) > 1e-12 {
		t.Fatalf("group delta %v, want 0.125", rd.Delta)
	}
	r1 := rd.Resources[0]
	if r1.Resource != "i-1" || r1.Delta != 0.25 || r1.Backlog != 100 || r1.BacklogGrowth != 25 {
		t.Fatalf("i-1 reading %+v, want delta 0.25, backlog 100 growing 25 a minute", r1)
	}
	if math.Abs(r1.LagMinutes-100.0/75) > 1e-12 {
		t.Fatalf("i-1 lag %v minutes, want %v", r1.LagMinutes, 100.0/75)
	}
	if rd.Behind != 1 || rd.MaxDelta != 0.25 {
		t.Fatalf("behind %d max delta %v, want 1 and 0.25", rd.Behind, rd.MaxDelta)
	}
	// i-2 stops reporting (terminated): it is dropped after Expire.
	for i := 4; i < 9; i++ {
		rd, err = tr.Observe(minute(i), []Sample{{Resource: "i-1", LiveApplied: 100, ShadowApplied: 100, ShadowBacklog: 100}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(rd.Resources) != 1 || rd.Resources[0].Resource != "i-1" {
		t.Fatalf("resources after expiry %+v, want only i-1", rd.Resources)
	}
}

func TestStaleMinute(t *testing.T) {
	tr, _ := NewTracker(DefaultConfig())
	if _, err := tr.Observe(minute(5), nil); err != nil {
		t.Fatal(err)
	}
	before := tr.State()
	for _, m := range []int{5, 4} {
		if _, err := tr.Observe(minute(m), []Sample{{Resource: "x", LiveApplied: 1}}); !errors.Is(err, ErrStale) {
			t.Fatalf("minute %d: err %v, want ErrStale", m, err)
		}
	}
	if after := tr.State(); len(after.Resources) != len(before.Resources) || after.Last != before.Last {
		t.Fatalf("a stale minute changed the state: %+v -> %+v", before, after)
	}
}

func TestStateRoundTrip(t *testing.T) {
	cfg := DefaultConfig()
	a, _ := NewTracker(cfg)
	b, _ := NewTracker(cfg)
	for i := range 30 {
		shadow := 100.0
		if i%7 > 2 {
			shadow = 70
		}
		samples := []Sample{{Resource: "i-1", LiveApplied: 100, ShadowApplied: shadow, ShadowBacklog: float64(i)}, {Resource: "i-2", LiveApplied: 50, ShadowApplied: 50}}
		ra, err := a.Observe(minute(i), samples)
		if err != nil {
			t.Fatal(err)
		}
		// b is saved to JSON and loaded back every minute, as a Lambda would.
		raw, err := json.Marshal(b.State())
		if err != nil {
			t.Fatal(err)
		}
		var st State
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		b, _ = NewTracker(cfg)
		b.Restore(st)
		rb, err := b.Observe(minute(i), samples)
		if err != nil {
			t.Fatal(err)
		}
		if ra.Tripped != rb.Tripped || ra.Delta != rb.Delta || ra.Backlog != rb.Backlog || !ra.Since.Equal(rb.Since) {
			t.Fatalf("minute %d: restored tracker reads %+v, want %+v", i, rb, ra)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := Config{Window: time.Second, Trip: 0, Clear: 0.5, MinDuration: -time.Second, MinLiveRate: math.NaN(), Expire: 0}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"window", "trip", "clear", "min duration", "min live rate", "expire"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewTracker(bad); err == nil {
		t.Fatal("NewTracker accepted a bad config")
	}
}
