package forecast

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestBaselines(t *testing.T) {
	season := []float64{1, 2, 3, 4}
	var v []float64
	for i := 0; i < 3; i++ {
		v = append(v, season...)
	}
	v[len(v)-1] = math.NaN() // a missing last point
	in := Input{Values: v, Step: 6 * time.Hour, Season: 4, Horizon: 2}
	tests := []struct {
		model Model
		want  []float64
	}{
		{Persistence{}, []float64{3, 3}},
		{SeasonalNaive{}, []float64{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.model.Name(), func(t *testing.T) {
			f, err := tc.model.Forecast(in)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if f.Mean[i] != w {
					t.Fatalf("Mean = %v, want %v", f.Mean, tc.want)
				}
				if !(f.P10[i] <= f.Mean[i] && f.Mean[i] <= f.P90[i]) {
					t.Fatalf("interval [%v, %v] does not hold mean %v", f.P10[i], f.P90[i], f.Mean[i])
				}
			}
		})
	}
}

func TestTooShort(t *testing.T) {
	in := Input{Values: []float64{1, 2, 3}, Step: time.Minute, Season: 1440, Horizon: 1}
	if _, err := (SeasonalNaive{}).Forecast(in); !errors.Is(err, ErrTooShort) {
		t.Fatalf("err = %v, want ErrTooShort", err)
	}
	in.Values = []float64{1}
	if _, err := (Persistence{}).Forecast(in); !errors.Is(err, ErrTooShort) {
		t.Fatalf("err = %v, want ErrTooShort", err)
	}
}

func TestSeasonFor(t *testing.T) {
	tests := map[time.Duration]int{5 * time.Minute: 288, 30 * time.Minute: 48, time.Minute: 1440, 7 * time.Minute: 0, 48 * time.Hour: 0}
	for step, want := range tests {
		if got := SeasonFor(step); got != want {
			t.Errorf("SeasonFor(%v) = %d, want %d", step, got, want)
		}
	}
}
