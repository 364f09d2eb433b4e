package asg_test

import (
	"testing"

	"github.com/shadowscale/shadowscale/shared/domain/asg"
)

// TestScalingConflicts: what sets a group's desired capacity besides the
// plane, and what coexists with it.
func TestScalingConflicts(t *testing.T) {
	for _, tc := range []struct {
		s    asg.Scaling
		want bool
		name string
	}{
		{asg.Scaling{Name: "cpu50", Kind: asg.ScalingTargetTracking, Enabled: true}, true, `target-tracking policy "cpu50"`},
		{asg.Scaling{Name: "out", Kind: asg.ScalingTargetTracking, Enabled: true, DisableScaleIn: true}, false, `target-tracking policy "out"`},
		{asg.Scaling{Name: "off", Kind: asg.ScalingTargetTracking}, false, `target-tracking policy "off"`},
		{asg.Scaling{Name: "up", Kind: asg.ScalingStep, Enabled: true}, true, `step policy "up"`},
		{asg.Scaling{Name: "old", Kind: asg.ScalingSimple, Enabled: true}, true, `simple policy "old"`},
		{asg.Scaling{Name: "p", Kind: asg.ScalingPredictive, Enabled: true, PredictiveMode: "ForecastAndScale"}, true, `predictive policy "p"`},
		{asg.Scaling{Name: "p", Kind: asg.ScalingPredictive, Enabled: true, PredictiveMode: "ForecastOnly"}, false, `predictive policy "p"`},
		{asg.Scaling{Name: "nightly", Kind: asg.ScalingScheduled, Enabled: true, SetsDesired: true}, true, `scheduled action "nightly"`},
		{asg.Scaling{Name: "floor", Kind: asg.ScalingScheduled, Enabled: true}, false, `scheduled action "floor"`},
	} {
		if got := tc.s.Conflicts(); got != tc.want || tc.s.String() != tc.name {
			t.Errorf("%+v: conflicts %v (%s), want %v (%s)", tc.s, got, tc.s, tc.want, tc.name)
		}
	}
}
