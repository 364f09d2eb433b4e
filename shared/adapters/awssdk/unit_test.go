package awssdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/shadowscale/shadowscale/shared/adapters/awssdk"
	"github.com/shadowscale/shadowscale/shared/domain/shadow"
	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

var u0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func apiErr(code string) error {
	return fmt.Errorf("operation error: %w", &smithy.GenericAPIError{Code: code, Message: "msg"})
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		code string
		want error
	}{
		{"ThrottlingException", awssdk.ErrThrottled},
		{"RequestLimitExceeded", awssdk.ErrThrottled},
		{"ProvisionedThroughputExceededException", awssdk.ErrThrottled},
		{"Throttling", awssdk.ErrThrottled},
		// The SDK's own throttle codes that a hand-kept list missed.
		{"PriorRequestNotComplete", awssdk.ErrThrottled},
		{"EC2ThrottledException", awssdk.ErrThrottled},
		{"BandwidthLimitExceeded", awssdk.ErrThrottled},
		{"TransactionInProgressException", awssdk.ErrThrottled},
		{"InvalidInstanceID.NotFound", shadow.ErrNotFound},
		{"ResourceNotFoundException", shadow.ErrNotFound},
		{"ConditionalCheckFailedException", shadow.ErrConflict},
		{"ScalingActivityInProgress", shadow.ErrConflict},
		{"ValidationError", shadow.ErrInvalid},
		{"InvalidParameterValue", shadow.ErrInvalid},
	} {
		t.Run(tc.code, func(t *testing.T) {
			err := awssdk.Classify(apiErr(tc.code))
			if !errors.Is(err, tc.want) {
				t.Errorf("Classify(%s) = %v, want %v", tc.code, err, tc.want)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Errorf("the AWS error is lost from the chain: %v", err)
			}
		})
	}
	t.Run("unknown codes and plain errors pass through", func(t *testing.T) {
		for _, err := range []error{apiErr("InternalError"), errors.New("dial tcp: refused")} {
			got := awssdk.Classify(err)
			if got != err {
				t.Errorf("Classify(%v) = %v, want it unchanged", err, got)
			}
		}
		if awssdk.Classify(nil) != nil {
			t.Error("Classify(nil) is not nil")
		}
	})
	if !awssdk.IsThrottled(apiErr("RequestLimitExceeded")) || awssdk.IsThrottled(apiErr("ValidationError")) {
		t.Error("IsThrottled disagrees with Classify")
	}
}

// emfDoc is one parsed EMF line.
type emfDoc map[string]any

func parseEMF(t *testing.T, out string) []emfDoc {
	t.Helper()
	var docs []emfDoc
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var d emfDoc
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line is not one JSON object: %q: %v", line, err)
		}
		docs = append(docs, d)
	}
	return docs
}

func directive(t *testing.T, d emfDoc) (ns string, dims []string, metrics map[string]string, ts float64) {
	t.Helper()
	aws, ok := d["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws member: %v", d)
	}
	ts, _ = aws["Timestamp"].(float64)
	cms := aws["CloudWatchMetrics"].([]any)
	if len(cms) != 1 {
		t.Fatalf("want one directive, got %d", len(cms))
	}
	cm := cms[0].(map[string]any)
	ns = cm["Namespace"].(string)
	sets := cm["Dimensions"].([]any)
	if len(sets) != 1 {
		t.Fatalf("want one dimension set, got %v", sets)
	}
	for _, n := range sets[0].([]any) {
		dims = append(dims, n.(string))
	}
	metrics = map[string]string{}
	for _, m := range cm["Metrics"].([]any) {
		mm := m.(map[string]any)
		metrics[mm["Name"].(string)] = mm["Unit"].(string)
	}
	return ns, dims, metrics, ts
}

func TestEMF(t *testing.T) {
	var buf bytes.Buffer
	e := awssdk.NewEMF(&buf, "ShadowScale", clock.NewFake(u0))
	web := metrics.Dim{Name: "Group", Value: "web"}
	e.Add("MutationsApplied", metrics.Count, 5, web, metrics.Dim{Name: "Target", Value: "live"})
	e.Add("MutationsApplied", metrics.Count, 7, metrics.Dim{Name: "Target", Value: "live"}, web) // same series, dims in another order
	e.Add("Delta", metrics.None, 0.25, web)
	e.Add("Delta", metrics.None, 0.75, web)
	e.Add("Delta", metrics.None, math.NaN(), web) // dropped
	e.Add("RefusedNotOwned", metrics.Count, 1)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, buf.String())
	if len(docs) != 3 {
		t.Fatalf("want 3 lines (one per dimension set), got %d:\n%s", len(docs), buf.String())
	}
	got := map[string]emfDoc{}
	for _, d := range docs {
		ns, dims, ms, ts := directive(t, d)
		if ns != "ShadowScale" || int64(ts) != u0.UnixMilli() {
			t.Errorf("namespace %q timestamp %v", ns, ts)
		}
		for name, unit := range ms {
			if _, ok := d[name]; !ok {
				t.Errorf("metric %s (%s) has no value member", name, unit)
			}
		}
		for _, dn := range dims {
			if _, ok := d[dn].(string); !ok {
				t.Errorf("dimension %s has no string member", dn)
			}
		}
		got[strings.Join(dims, ",")] = d
	}
	if v := got["Group,Target"]["MutationsApplied"]; v != 12.0 {
		t.Errorf("counts of one series are summed: got %v, want 12", v)
	}
	if v := fmt.Sprint(got["Group"]["Delta"]); v != "[0.25 0.75]" {
		t.Errorf("gauge values are kept as an array: got %v", v)
	}
	if v := got[""]["RefusedNotOwned"]; v != 1.0 {
		t.Errorf("a metric without dimensions: %v", got[""])
	}
	buf.Reset()
	if err := e.Flush(); err != nil || buf.Len() != 0 {
		t.Errorf("a second flush wrote %q (%v), want nothing", buf.String(), err)
	}
}

func TestEMFLimits(t *testing.T) {
	var buf bytes.Buffer
	e := awssdk.NewEMF(&buf, "ns", clock.NewFake(u0))
	for i := range 250 {
		e.Add("Lag", metrics.Seconds, float64(i), metrics.Dim{Name: "Group", Value: "web"})
	}
	for i := range 150 {
		e.Add(fmt.Sprintf("M%03d", i), metrics.Count, 1, metrics.Dim{Name: "Group", Value: "api"})
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	values := 0
	metricsSeen := map[string]bool{}
	for _, d := range parseEMF(t, buf.String()) {
		_, _, ms, _ := directive(t, d)
		if len(ms) > 100 {
			t.Errorf("a directive declares %d metrics, limit 100", len(ms))
		}
		for name := range ms {
			metricsSeen[name] = true
			switch v := d[name].(type) {
			case []any:
				if len(v) > 100 {
					t.Errorf("%s carries %d values, limit 100", name, len(v))
				}
				values += len(v)
			case float64:
				if name == "Lag" {
					values++
				}
			}
		}
	}
	if values != 250 || len(metricsSeen) != 151 {
		t.Errorf("lost data: %d of 250 values, %d of 151 metrics", values, len(metricsSeen))
	}
}

// ec2StatusStub answers DescribeInstances and DescribeInstanceStatus from
// fixed pages: moto cannot report impaired status checks.
type ec2StatusStub struct {
	awssdk.EC2API
	pages    [][]ec2types.Instance
	impaired map[string]bool
}

func (s *ec2StatusStub) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	page := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &page)
	}
	out := &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: s.pages[page]}}}
	if page+1 < len(s.pages) {
		out.NextToken = aws.String(fmt.Sprint(page + 1))
	}
	return out, nil
}

func (s *ec2StatusStub) DescribeInstanceStatus(_ context.Context, in *ec2.DescribeInstanceStatusInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceStatusOutput, error) {
	out := &ec2.DescribeInstanceStatusOutput{}
	for _, id := range in.InstanceIds {
		st := ec2types.SummaryStatusOk
		if s.impaired[id] {
			st = ec2types.SummaryStatusImpaired
		}
		out.InstanceStatuses = append(out.InstanceStatuses, ec2types.InstanceStatus{
			InstanceId: aws.String(id), InstanceStatus: &ec2types.InstanceStatusSummary{Status: st}, SystemStatus: &ec2types.InstanceStatusSummary{Status: ec2types.SummaryStatusOk},
		})
	}
	return out, nil
}

func TestFleetShadowsPagesAndImpairment(t *testing.T) {
	inst := func(id string, state ec2types.InstanceStateName) ec2types.Instance {
		return ec2types.Instance{InstanceId: aws.String(id), State: &ec2types.InstanceState{Name: state}, Tags: []ec2types.Tag{
			{Key: aws.String(shadow.TagRole), Value: aws.String(shadow.RoleShadow)}, {Key: aws.String(shadow.TagStack), Value: aws.String("st")},
		}}
	}
	stub := &ec2StatusStub{
		pages:    [][]ec2types.Instance{{inst("i-2", "running"), inst("i-1", "running")}, {inst("i-3", "stopped")}},
		impaired: map[string]bool{"i-2": true},
	}
	f, err := awssdk.NewFleet(stub, awssdk.FleetConfig{Stack: "st", LaunchTemplates: map[string]string{"arm64": "lt-1"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Shadows(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, i := range got {
		desc = append(desc, fmt.Sprintf("%s:%s:%v", i.ID, i.State, i.Impaired))
	}
	if want := "[i-1:running:false i-2:running:true i-3:stopped:false]"; fmt.Sprint(desc) != want {
		t.Errorf("Shadows = %v, want %s", desc, want)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := awssdk.NewFleet(nil, awssdk.FleetConfig{}, nil, nil); !errors.Is(err, shadow.ErrInvalid) || !strings.Contains(err.Error(), "stack") || !strings.Contains(err.Error(), "launch template") {
		t.Errorf("NewFleet with nothing = %v, want every problem", err)
	}
	if _, err := awssdk.NewTable(nil, "", nil, awssdk.TableOptions{}); !errors.Is(err, shadow.ErrInvalid) {
		t.Errorf("NewTable with nothing = %v", err)
	}
}
