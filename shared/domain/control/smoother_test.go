package control

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shadowscale/shadowscale/shared/domain/forecast"
)

func TestSmootherPicksTheRightVariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	tests := []struct {
		name  string
		value func(i int) float64
		kind  string
		// the forecast 5 steps past n values must be within tol of want(n+5)
		tol float64
	}{
		{name: "ramp", value: func(i int) float64 { return 100 + 2*float64(i) }, tol: 3},
		{name: "noisy level", value: func(int) float64 { return 500 + 50*rng.NormFloat64() }, kind: kindLevel, tol: 60},
		{name: "daily square wave", value: func(i int) float64 {
			if (i%1440)/60%2 == 0 {
				return 1000
			}
			return 200
		}, kind: kindSeasonal, tol: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSmoother(DefaultSmootherConfig())
			if err != nil {
				t.Fatal(err)
			}
			n := 4*1440 + 55 // 5 steps before an edge of the square wave
			for i := range n {
				s.Observe(tc.value(i))
			}
			f, err := s.Forecast(6)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind != "" && !strings.HasSuffix(f.Model, tc.kind) {
				t.Fatalf("model %s (%s), want the %s variant", f.Model, f.Why, tc.kind)
			}
			want := tc.value(n + 4)
			if tc.name == "noisy level" {
				want = 500
			}
			if math.Abs(f.Mean[4]-want) > tc.tol {
				t.Fatalf("forecast %v at 5 steps, want %v +- %v", f.Mean[4], want, tc.tol)
			}
			for i := range f.Mean {
				if !(f.P10[i] <= f.Mean[i] && f.Mean[i] <= f.P90[i]) || f.P10[i] < 0 {
					t.Fatalf("interval [%v, %v] around %v", f.P10[i], f.P90[i], f.Mean[i])
				}
			}
		})
	}
}

func TestSmootherMissingValuesAndSnapshot(t *testing.T) {
	s, _ := NewSmoother(DefaultSmootherConfig())
	if _, err := s.Forecast(3); !errors.Is(err, forecast.ErrTooShort) {
		t.Fatalf("empty smoother: %v, want ErrTooShort", err)
	}
	for i := range 3000 {
		v := 100 + 10*math.Sin(float64(i)/50)
		if i%7 == 0 {
			v = math.NaN()
		}
		if i%11 == 0 {
			v = math.Inf(1)
		}
		s.Observe(v)
	}
	f, err := s.Forecast(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(append(f.Mean, f.P10...), f.P90...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("forecast holds %v after missing values: %+v", v, f)
		}
	}
	raw, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewSmoother(DefaultSmootherConfig())
	if err := c.RestoreSnapshot(raw); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		s.Observe(float64(i))
		c.Observe(float64(i))
	}
	fs, _ := s.Forecast(5)
	fc, _ := c.Forecast(5)
	for i := range fs.Mean {
		if fs.Mean[i] != fc.Mean[i] || fs.P90[i] != fc.P90[i] {
			t.Fatalf("restored smoother forecasts %v, want %v", fc.Mean, fs.Mean)
		}
	}
	for name, bad := range map[string]json.RawMessage{
		"not json":      json.RawMessage(`{`),
		"wrong shape":   json.RawMessage(`{"n":1,"cands":[]}`),
		"negative size": json.RawMessage(`{"n":-1}`),
	} {
		if err := c.RestoreSnapshot(bad); err == nil {
			t.Errorf("%s: snapshot accepted", name)
		}
	}
	if _, err := NewSmoother(SmootherConfig{Score: 0, HalfLife: 1}); err == nil {
		t.Error("score 0 accepted")
	}
	if _, err := NewSmoother(SmootherConfig{Score: 5, HalfLife: 10, Season: 3}); err == nil {
		t.Error("a season shorter than the score horizon accepted")
	}
}
