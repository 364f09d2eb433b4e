package awssdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/shadowscale/shadowscale/shared/platform/clock"
	"github.com/shadowscale/shadowscale/shared/platform/metrics"
)

// CloudWatchJSON is a cloudwatch.Options function selecting the AWS JSON 1.0
// protocol. aws-sdk-go-v2's CloudWatch client defaults to Smithy RPC v2
// CBOR, which moto server does not serve (requests 404, moto issue 9195);
// CloudWatch itself serves CBOR, JSON 1.0 and Query (its model's protocols
// list). shared/plane/lambdaenv applies this option to every CloudWatch client it
// builds, against AWS as against emulators, so the protocol the e2e suite
// proves against moto is the one that runs in production.
func CloudWatchJSON(o *cloudwatch.Options) {
	o.Protocol = awsjson.New10(cwschemas.GraniteServiceVersion20100801)
}

// series aggregates the values of one metric with one set of dimensions.
type series struct {
	name   string
	unit   metrics.Unit
	dims   []metrics.Dim // sorted by name
	values []float64
}

// aggregator collects Add calls: Count values of a series are summed (a
// counter's total is what matters), other units keep every value (CloudWatch
// then computes their statistics). Non-finite values are dropped.
type aggregator struct {
	mu     sync.Mutex
	series map[string]*series
	order  []string
}

func (a *aggregator) add(name string, unit metrics.Unit, value float64, dims []metrics.Dim) {
	if name == "" || math.IsNaN(value) || math.IsInf(value, 0) {
		return
	}
	ds := slices.Clone(dims)
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	var kb strings.Builder
	kb.WriteString(name)
	kb.WriteByte(0)
	kb.WriteString(string(unit))
	for _, d := range ds {
		kb.WriteByte(0)
		kb.WriteString(d.Name)
		kb.WriteByte(1)
		kb.WriteString(d.Value)
	}
	k := kb.String()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.series == nil {
		a.series = map[string]*series{}
	}
	s, ok := a.series[k]
	if !ok {
		s = &series{name: name, unit: unit, dims: ds}
		a.series[k] = s
		a.order = append(a.order, k)
	}
	if unit == metrics.Count && len(s.values) == 1 {
		s.values[0] += value
		return
	}
	s.values = append(s.values, value)
}

// take returns the collected series in first-seen order and forgets them.
func (a *aggregator) take() []*series {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*series, 0, len(a.order))
	for _, k := range a.order {
		out = append(out, a.series[k])
	}
	a.series, a.order = nil, nil
	return out
}

// EMF is a metrics.Sink writing CloudWatch embedded metric format: one JSON
// object per line (on a Lambda's stdout, CloudWatch Logs extracts the
// metrics). Add only buffers; Flush writes, and is called at the end of each
// invocation.
type EMF struct {
	agg       aggregator
	mu        sync.Mutex // serialises writes
	w         io.Writer
	namespace string
	clock     clock.Clock
}

var _ metrics.Sink = (*EMF)(nil)

// EMF limits: metrics per directive, values per metric array.
const (
	emfMaxMetrics = 100
	emfMaxValues  = 100
)

// NewEMF returns an EMF sink writing to w.
func NewEMF(w io.Writer, namespace string, c clock.Clock) *EMF {
	return &EMF{w: w, namespace: namespace, clock: c}
}

// Add implements metrics.Sink.
func (e *EMF) Add(name string, unit metrics.Unit, value float64, dims ...metrics.Dim) {
	e.agg.add(name, unit, value, dims)
}

// Flush writes the buffered metrics, one line per dimension set (more
// when a set has over 100 metrics or a metric over 100 values).
func (e *EMF) Flush() error {
	all := e.agg.take()
	if len(all) == 0 {
		return nil
	}
	ts := e.clock.Now().UnixMilli()
	// Group series by dimension set (names and values).
	type set struct {
		dims   []metrics.Dim
		series []*series
	}
	var sets []*set
	byKey := map[string]*set{}
	for _, s := range all {
		var kb strings.Builder
		for _, d := range s.dims {
			kb.WriteString(d.Name + "\x01" + d.Value + "\x00")
		}
		k := kb.String()
		st, ok := byKey[k]
		if !ok {
			st = &set{dims: s.dims}
			byKey[k] = st
			sets = append(sets, st)
		}
		st.series = append(st.series, s)
	}
	var buf bytes.Buffer
	for _, st := range sets {
		for _, line := range emfLines(e.namespace, ts, st.dims, st.series) {
			buf.Write(line)
			buf.WriteByte('\n')
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing embedded metric format: %w", err)
	}
	return nil
}

// emfLines renders one dimension set's series into as many EMF documents
// as the limits require.
func emfLines(namespace string, ts int64, dims []metrics.Dim, ss []*series) [][]byte {
	dimNames := make([]string, 0, len(dims))
	reserved := map[string]bool{"_aws": true}
	for _, d := range dims {
		dimNames = append(dimNames, d.Name)
		reserved[d.Name] = true
	}
	// Split every series into chunks of at most emfMaxValues values; chunk i
	// of each series goes to document round i.
	type part struct {
		s      *series
		values []float64
	}
	var rounds [][]part
	for _, s := range ss {
		if reserved[s.name] {
			continue // a metric named like a dimension or _aws cannot be expressed
		}
		r := 0
		for chunk := range slices.Chunk(s.values, emfMaxValues) {
			if r == len(rounds) {
				rounds = append(rounds, nil)
			}
			rounds[r] = append(rounds[r], part{s, chunk})
			r++
		}
	}
	var out [][]byte
	for _, round := range rounds {
		for parts := range slices.Chunk(round, emfMaxMetrics) {
			doc := map[string]any{}
			defs := make([]map[string]string, 0, len(parts))
			for _, p := range parts {
				defs = append(defs, map[string]string{"Name": p.s.name, "Unit": string(p.s.unit)})
				if len(p.values) == 1 {
					doc[p.s.name] = p.values[0]
				} else {
					doc[p.s.name] = p.values
				}
			}
			for _, d := range dims {
				doc[d.Name] = d.Value
			}
			doc["_aws"] = map[string]any{
				"Timestamp": ts,
				"CloudWatchMetrics": []map[string]any{{
					"Namespace":  namespace,
					"Dimensions": [][]string{dimNames},
					"Metrics":    defs,
				}},
			}
			b, err := json.Marshal(doc)
			if err != nil {
				continue // cannot happen: strings and finite floats only
			}
			out = append(out, b)
		}
	}
	return out
}

// CloudWatchAPI is the part of *cloudwatch.Client the PutMetricData sink
// uses.
type CloudWatchAPI interface {
	PutMetricData(ctx context.Context, params *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

var _ CloudWatchAPI = (*cloudwatch.Client)(nil)

// PutMetricData limits.
const (
	putMetricDataMax = 1000 // metric data per request
	datumMaxValues   = 150  // values per datum
)

// PutMetrics is a metrics.Sink for metrics that cannot come from a Lambda's
// logs (the CLI, tests, scripts): Add buffers, Flush calls PutMetricData.
type PutMetrics struct {
	agg       aggregator
	api       CloudWatchAPI
	namespace string
	clock     clock.Clock
}

var _ metrics.Sink = (*PutMetrics)(nil)

// NewPutMetrics returns a PutMetricData sink. Build the client with
// CloudWatchJSON.
func NewPutMetrics(api CloudWatchAPI, namespace string, c clock.Clock) *PutMetrics {
	return &PutMetrics{api: api, namespace: namespace, clock: c}
}

// Add implements metrics.Sink.
func (p *PutMetrics) Add(name string, unit metrics.Unit, value float64, dims ...metrics.Dim) {
	p.agg.add(name, unit, value, dims)
}

// Flush sends the buffered metrics, at most 1000 data per request. Data of
// a failed request are lost (metrics are best effort); the error says how
// many.
func (p *PutMetrics) Flush(ctx context.Context) error {
	ts := p.clock.Now()
	var data []cwtypes.MetricDatum
	for _, s := range p.agg.take() {
		dims := make([]cwtypes.Dimension, 0, len(s.dims))
		for _, d := range s.dims {
			dims = append(dims, cwtypes.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)})
		}
		for chunk := range slices.Chunk(s.values, datumMaxValues) {
			d := cwtypes.MetricDatum{
				MetricName: aws.String(s.name),
				Unit:       cwtypes.StandardUnit(s.unit),
				Dimensions: dims,
				Timestamp:  aws.Time(ts),
			}
			if len(chunk) == 1 {
				d.Value = aws.Float64(chunk[0])
			} else {
				d.Values = chunk
			}
			data = append(data, d)
		}
	}
	var errs []error
	for chunk := range slices.Chunk(data, putMetricDataMax) {
		_, err := p.api.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(p.namespace), MetricData: chunk})
		if err != nil {
			errs = append(errs, fmt.Errorf("putting %d metric data in %s: %w", len(chunk), p.namespace, Classify(err)))
		}
	}
	return errors.Join(errs...)
}

// MetricDataAPI is the part of *cloudwatch.Client GroupCPU uses.
type MetricDataAPI interface {
	GetMetricData(ctx context.Context, params *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

var _ MetricDataAPI = (*cloudwatch.Client)(nil)

// GetMetricData limits: queries per request, datapoints per request.
const (
	metricQueriesMax    = 500
	metricDatapointsMax = 100800
)

// GroupCPU reads Auto Scaling groups' CPU utilization from CloudWatch:
// CPUUtilization of namespace AWS/EC2 with the dimension
// AutoScalingGroupName, the Average over 60 seconds (1-minute data needs
// detailed monitoring on the group's instances; with basic monitoring
// only every fifth minute has a datapoint).
type GroupCPU struct{ api MetricDataAPI }

// NewGroupCPU returns the reader. Build the client with CloudWatchJSON.
func NewGroupCPU(api MetricDataAPI) (*GroupCPU, error) {
	if api == nil {
		return nil, errors.New("group CPU utilization: no CloudWatch client")
	}
	return &GroupCPU{api: api}, nil
}

// CPUUtilization returns each group's average CPU utilization, in percent,
// for every minute from the minute of from to the minute of to (both
// included) that has a datapoint, keyed by the minute's start. The groups
// are read together: up to 500 queries a GetMetricData call (fewer when
// the minutes would exceed its 100,800 datapoints), each answer paginated.
// Groups without datapoints are absent.
func (c *GroupCPU) CPUUtilization(ctx context.Context, groups []string, from, to time.Time) (map[string]map[time.Time]float64, error) {
	from, to = from.UTC().Truncate(time.Minute), to.UTC().Truncate(time.Minute)
	if to.Before(from) {
		return nil, fmt.Errorf("reading CPU utilization from %s to %s: %w", from, to, errBadRange)
	}
	minutes := int(to.Sub(from)/time.Minute) + 1
	perCall := max(1, min(metricQueriesMax, metricDatapointsMax/minutes))
	out := map[string]map[time.Time]float64{}
	for chunk := range slices.Chunk(groups, perCall) {
		in := &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(from), EndTime: aws.Time(to.Add(time.Minute)),
			ScanBy: cwtypes.ScanByTimestampAscending,
		}
		for i, g := range chunk {
			in.MetricDataQueries = append(in.MetricDataQueries, cwtypes.MetricDataQuery{
				Id: aws.String(fmt.Sprintf("g%d", i)),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{
						Namespace: aws.String("AWS/EC2"), MetricName: aws.String("CPUUtilization"),
						Dimensions: []cwtypes.Dimension{{Name: aws.String("AutoScalingGroupName"), Value: aws.String(g)}},
					},
					Period: aws.Int32(60), Stat: aws.String("Average"),
				},
				ReturnData: aws.Bool(true),
			})
		}
		p := cloudwatch.NewGetMetricDataPaginator(c.api, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading CPU utilization of %d groups: %w", len(chunk), Classify(err))
			}
			for _, r := range page.MetricDataResults {
				var i int
				if _, err := fmt.Sscanf(aws.ToString(r.Id), "g%d", &i); err != nil || i < 0 || i >= len(chunk) {
					continue
				}
				for k, ts := range r.Timestamps {
					if k >= len(r.Values) || math.IsNaN(r.Values[k]) || math.IsInf(r.Values[k], 0) {
						continue
					}
					m := ts.UTC().Truncate(time.Minute)
					if m.Before(from) || m.After(to) {
						continue
					}
					if out[chunk[i]] == nil {
						out[chunk[i]] = map[time.Time]float64{}
					}
					out[chunk[i]][m] = r.Values[k]
				}
			}
		}
	}
	return out, nil
}

var errBadRange = errors.New("empty time range")
