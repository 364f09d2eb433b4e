package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Line is one figure of a plan: `name value unit`.
type Line struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Unit  string `json:"unit"`
}

// Lines are the figures `shadowscale plan` prints, in order: the stream,
// the fan-out, DynamoDB, the fleets, the cost per service and in total
// with the prices' source and date, and the first limit.
func (pl Plan) Lines() []Line {
	var ls []Line
	num := func(name string, v float64, unit string) {
		ls = append(ls, Line{Name: name, Value: format(v), Unit: unit})
	}
	text := func(name, v string) {
		if strings.ContainsAny(v, " \t\"") || v == "" {
			v = strconv.Quote(v)
		}
		ls = append(ls, Line{Name: name, Value: v, Unit: "-"})
	}
	st, f, d := pl.Stream, pl.Fanout, pl.DynamoDB
	text("stream.mode", st.Mode)
	num("stream.shards", float64(st.Shards), "shards")
	num("stream.records_per_second", st.RecordsPerSecond, "records/s")
	num("stream.mutations_per_record", pl.Producer.MutationsPerRecord, "mutations")
	num("stream.write_mib_per_second", st.WriteBytesPerSecond/mib, "MiB/s")
	num("producer.put_records_per_second", pl.Producer.PutRecordsPerSecond, "calls/s")
	num("fanout.concurrency", float64(f.Concurrency), "executions")
	num("fanout.invocations_per_second", f.InvocationsPerSecond, "invocations/s")
	num("fanout.invocation_ms", f.InvocationMs, "ms")
	num("fanout.lambda_gb_seconds_month", f.GBSecondsMonth, "GB-s/month")
	num("dynamodb.writes_per_second", d.WCU, "WCU/s")
	num("dynamodb.reads_per_second", d.RCU, "RCU/s")
	text("dynamodb.hottest_write_partition", d.HotWrite.Key)
	num("dynamodb.hottest_partition_wcu", d.HotWrite.WCU, "WCU/s")
	text("dynamodb.hottest_read_partition", d.HotRead.Key)
	num("dynamodb.hottest_partition_rcu", d.HotRead.RCU, "RCU/s")
	text("live.instance_type", pl.Fleet.LiveType)
	num("live.fleet_usd_month", pl.Fleet.LiveUSDMonth, "USD/month")
	text("shadow.instance_type", pl.Fleet.ShadowType)
	num("shadow.fleet_usd_month", pl.Fleet.ShadowUSDMonth, "USD/month")
	num("shadow.ratio_to_live", pl.Fleet.Ratio, "ratio")
	for _, s := range Services {
		num("cost."+s+"_usd_month", pl.Cost.ByService[s], "USD/month")
	}
	text("cost.kinesis_other_mode", pl.Cost.OtherMode)
	num("cost.kinesis_other_mode_usd_month", pl.Cost.OtherModeKinesis, "USD/month")
	num("cost.plane_usd_month", pl.Cost.Plane, "USD/month")
	num("cost.total_usd_month", pl.Cost.Total, "USD/month")
	num("cost.total_ratio_to_live", pl.Cost.Ratio, "ratio")
	text("prices.region", pl.Prices.Region)
	text("prices.date", pl.Prices.Date)
	text("prices.source", "AWS list prices (price_sources in --json; docs/OPERATIONS.md); EC2 from the catalog, compiled 2026-11-28")
	text("limit.first", pl.FirstLimit.Name)
	num("limit.first_use", pl.FirstLimit.Use, "ratio")
	text("limit.first_what", pl.FirstLimit.What)
	text("limit.first_raise", pl.FirstLimit.Raise)
	return ls
}

// format writes a figure with about four significant digits, no exponent.
func format(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

// String renders the lines aligned, one a line.
func (pl Plan) String() string {
	ls := pl.Lines()
	wn, wv := 0, 0
	for _, l := range ls {
		wn = max(wn, len(l.Name))
		if l.Unit != "-" {
			wv = max(wv, len(l.Value))
		}
	}
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%-*s  %*s  %s\n", wn, l.Name, wv, l.Value, l.Unit)
	}
	return b.String()
}
