package main

// The report of `simulate`: the run's story in tables and SVG charts
// (shared/sim/report), written as index.html and one SVG file per chart.

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shadowscale/shadowscale/shared/domain/catalog"
	"github.com/shadowscale/shadowscale/shared/sim"
	"github.com/shadowscale/shadowscale/shared/sim/embedded"
	"github.com/shadowscale/shadowscale/shared/sim/report"
)

// drawOrder is the policies' order on the charts of every policy: the
// shadow policy last, on top (shadow-blind, dashed, shows where it differs).
var drawOrder = []string{"reactive", "predictive", "oracle", "shadow-blind", "shadow"}

// Each policy keeps its colour on every chart.
var policyColors = map[string]string{
	"reactive":     "#ff7f0e",
	"predictive":   "#9467bd",
	"shadow":       "#1f77b4",
	"oracle":       "#2ca02c",
	"shadow-blind": "#8c564b",
}

const (
	demandColor   = "#222222"
	overloadColor = "#d62728"
	tripColor     = "#e6550d"
	liveColor     = "#6baed6"
	shadowColor   = "#08306b"
	launchColor   = "#08519c"
	behindColor   = "#7b3294" // the shadows behind: the gap, the backlog
)

// The busiest burst is the sharpest rise of the demand over burstRise
// (its top against the least demand of the burstRise before it); the
// zoomed chart runs from burstBefore before its top to burstAfter after.
const (
	burstRise   = 30 * time.Minute
	burstBefore = 2 * time.Hour
	burstAfter  = time.Hour
)

// sharpestRise returns the tick, among the first n, where the demand
// stands highest above its minimum over the burstRise before it, and that
// minimum.
func sharpestRise(d sim.Demand, n int) (top int, from float64) {
	w := max(1, int(burstRise/d.Tick))
	best := math.Inf(-1)
	for t := range n {
		lo := d.Values[t]
		for i := max(0, t-w); i < t; i++ {
			lo = math.Min(lo, d.Values[i])
		}
		if rise := d.Values[t] - lo; rise > best {
			top, from, best = t, lo, rise
		}
	}
	return top, from
}

// changeCols are the results' fields shown with their changes.
var changeCols = map[string]func(sim.Result) float64{
	"overload_min": func(r sim.Result) float64 { return float64(r.OverloadMin) },
	"risk_min":     func(r sim.Result) float64 { return float64(r.RiskMin) },
	"cost_usd":     func(r sim.Result) float64 { return r.CostUSD },
}

// changeBases are what the changes are against, in the order shown.
var changeBases = []string{"reactive", "shadow-blind"}

// xMinutes returns the x values (minutes since the start) of ticks lo..hi-1.
func xMinutes(lo, hi int, tick time.Duration) []float64 {
	x := make([]float64, 0, max(0, hi-lo))
	for i := lo; i < hi; i++ {
		x = append(x, float64(i)*tick.Minutes())
	}
	return x
}

// capacitySeries is a policy's in-service capacity (instances times what
// an instance truly serves) over ticks lo..hi-1; NaN past the end of a
// run that was stopped.
func capacitySeries(cfg sim.Config, s sim.Series, n, lo, hi int) []float64 {
	y := make([]float64, 0, max(0, hi-lo))
	for i := lo; i < hi; i++ {
		v := math.NaN()
		if i < len(s.InService) {
			v = float64(s.InService[i]) * cfg.CapacityAt(i, n)
		}
		y = append(y, v)
	}
	return y
}

// overloadSpans are the minutes of ticks lo..hi-1 where the demand was
// above the policy's in-service capacity (the ticks overload_min counts).
func overloadSpans(cfg sim.Config, d sim.Demand, s sim.Series, lo, hi int) []report.Span {
	over := make([]bool, d.Len())
	for i := lo; i < min(hi, len(s.InService)); i++ {
		over[i] = d.Values[i] > float64(s.InService[i])*cfg.CapacityAt(i, d.Len())
	}
	return spans(over, lo, hi, d.Tick)
}

// spans turns the set ticks of b[lo:hi] into stretches of minutes.
func spans(b []bool, lo, hi int, tick time.Duration) []report.Span {
	var out []report.Span
	m := tick.Minutes()
	for i := lo; i < min(hi, len(b)); i++ {
		if !b[i] {
			continue
		}
		j := i
		for j+1 < min(hi, len(b)) && b[j+1] {
			j++
		}
		out = append(out, report.Span{From: float64(i) * m, To: float64(j+1) * m})
		i = j
	}
	return out
}

// signed writes a change with a real minus sign.
func signed(s string) string { return strings.Replace(s, "-", "−", 1) }

// resultTable is the results table; each of changeCols also carries its
// change against each of changeBases ("546.12 (+54% / +11%)").
func resultTable(rec sim.Recording) report.Table {
	base := map[string]sim.Result{}
	var names []string
	for _, b := range changeBases {
		if r, _, ok := byPolicy(rec, b); ok {
			base[b] = r
			names = append(names, b)
		}
	}
	t := report.Table{Caption: "Results (the fields of bench/SCALING.md); in brackets, the change against " + strings.Join(names, " / "), Header: resultHeader}
	for i, row := range resultRows(rec) {
		r := rec.Results[i]
		for j, h := range resultHeader {
			f, ok := changeCols[h]
			if !ok || len(names) == 0 {
				continue
			}
			var parts []string
			for _, b := range names {
				if b == r.Policy {
					parts = append(parts, "—")
					continue
				}
				parts = append(parts, signed(change(f(r), f(base[b]))))
			}
			row[j] += " (" + strings.Join(parts, " / ") + ")"
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// glossaryTable is -h's glossary, with what the page adds.
func glossaryTable() report.Table {
	rows := append(glossaryRows(),
		[]string{"(a / b)", "after overload_min, risk_min and cost_usd: the change against reactive / against shadow-blind; e.g. 122 (−94% / 0%) is 94% fewer minutes than reactive and as many as shadow-blind"},
		[]string{"overloaded (shaded)", "on the charts: the minutes counted in overload_min"})
	return report.Table{Caption: "What the fields mean", Header: []string{"field", "meaning"}, Rows: rows}
}

func writeReport(dir, name string, rec sim.Recording, st embedded.Stats, ps sim.PolicySet, shadowType catalog.InstanceType) (string, error) {
	d := rec.Demand
	cfg := rec.Config
	page := report.Page{
		Title: "shadowscale simulation: " + name,
		Notes: []string{
			fmt.Sprintf("%d minutes from %s, %s; instances take %s pending + %s warm-up; min %d, max %d.",
				int(math.Round(float64(d.Len())*cfg.Tick.Minutes())), d.Start.Format("2006-01-02 15:04 UTC"), scaleText(cfg, d), cfg.Pending, cfg.WarmUp, cfg.Min, cfg.Max),
		},
	}
	results := report.Section{
		Heading: "Results",
		Notes: []string{
			"Policies: reactive is AWS target tracking at 60%; predictive adds AWS-style hourly predictive scaling; shadow is shadowscale's control loop " +
				"(forecast with a calibrated P90 margin, the live-vs-shadow delta as the fast trigger, a reactive backstop); oracle knows the demand and is the physical limit; " +
				"shadow-blind is the shadow policy's loop told nothing by the shadows (and paying for none): what the shadows add.",
		},
		Tables: []report.Table{resultTable(rec), glossaryTable()},
	}
	for _, line := range comparisons(rec) {
		results.Notes = append(results.Notes, strings.ReplaceAll(line, " -", " −"))
	}
	if len(cfg.Drift) > 0 {
		results.Notes = append(results.Notes, fmt.Sprintf("Scenario: the true per-instance capacity drifts (%s); every policy is told only the nominal capacity.", driftText(cfg.Drift)))
	}
	if cfg.UnknownCapacity {
		results.Notes = append(results.Notes, "Scenario: the shadow policy is not told the per-instance capacity; it learns it from the group's utilization.")
	}
	page.Sections = append(page.Sections, results)
	if f, ok := burstFigure(rec, ps); ok {
		page.Sections = append(page.Sections, report.Section{
			Heading: "The busiest burst, minute by minute",
			Notes: []string{"Around the sharpest rise of the demand: every policy's capacity against the demand; the shadows falling behind their live instances; " +
				"the delta crossing its trip line; and the shadow policy's launch orders."},
			Figures: []report.Figure{f},
		})
	}
	page.Sections = append(page.Sections, capacitySection(rec))
	if s, ok := shadowSection(rec, st, ps); ok {
		page.Sections = append(page.Sections, s)
	}
	if s, ok := forecastSection(rec); ok {
		page.Sections = append(page.Sections, s)
	}
	plane := report.Section{Heading: "The embedded control plane", Tables: []report.Table{
		{Caption: "Embedded control plane (shadow policy)", Rows: planeRows(st, shadowType)},
	}}
	if _, s, ok := byPolicy(rec, "shadow"); ok {
		t := report.Table{Caption: "The shadow policy's last capacity changes, with its reasons", Header: []string{"time", "from", "to", "reason"}}
		from := max(0, len(s.Decisions)-15)
		for _, dec := range s.Decisions[from:] {
			t.Rows = append(t.Rows, []string{d.Time(dec.Tick).Format("Jan 2 15:04"), strconv.Itoa(dec.From), strconv.Itoa(dec.To), dec.Reason})
		}
		plane.Tables = append(plane.Tables, t)
	}
	page.Sections = append(page.Sections, plane)
	index, err := page.Write(dir)
	if err != nil {
		return "", fmt.Errorf("writing the report: %w", err)
	}
	if abs, err := filepath.Abs(index); err == nil {
		index = abs
	}
	return index, nil
}

// capacitySection: each policy's capacity against the demand over the
// whole trace, overloaded minutes shaded; then every policy on the
// busiest day.
func capacitySection(rec sim.Recording) report.Section {
	d, cfg := rec.Demand, rec.Config
	n := d.Len()
	x := xMinutes(0, n, d.Tick)
	sec := report.Section{Heading: "Demand vs capacity"}
	for _, pol := range sim.PolicyNames {
		r, s, ok := byPolicy(rec, pol)
		if !ok {
			continue
		}
		sec.Figures = append(sec.Figures, report.Figure{
			File: "capacity-" + pol + ".svg",
			Caption: fmt.Sprintf("%s: demand vs in-service capacity, overloaded minutes shaded (darker where more of the minutes a pixel covers were overloaded). %d overloaded minutes, %d capacity changes, $%.2f.",
				pol, r.OverloadMin, r.Actions, r.CostUSD),
			Chart: report.Chart{Title: "Demand vs capacity: " + pol, XLabel: "time (UTC)", Start: d.Start,
				Panel: report.Panel{YLabel: "requests/s",
					Shades: []report.Shade{{Name: "overloaded", Color: overloadColor, Opacity: 0.5, Spans: overloadSpans(cfg, d, s, 0, n)}},
					Series: []report.Series{
						{Name: "demand", Color: demandColor, X: x, Y: d.Values, Width: 1},
						{Name: "in-service capacity", Color: policyColors[pol], X: x, Y: capacitySeries(cfg, s, n, 0, n), Step: true, Width: 1.4},
					}}},
		})
	}
	if lo, hi := busiestDay(d); hi > lo {
		ch := report.Chart{Title: "Demand vs capacity on the busiest day (" + d.Time(lo).Format("Jan 2") + "), every policy", XLabel: "time (UTC)", Start: d.Start,
			Panel: report.Panel{YLabel: "requests/s", Series: []report.Series{{Name: "demand", X: xMinutes(lo, hi, d.Tick), Y: d.Values[lo:hi], Color: demandColor, Width: 1.8}}}}
		for _, pol := range drawOrder {
			if _, s, ok := byPolicy(rec, pol); ok {
				ch.Series = append(ch.Series, capacityLine(rec, pol, s, lo, hi))
			}
		}
		sec.Figures = append(sec.Figures, report.Figure{File: "capacity-busiest-day.svg",
			Caption: "In-service capacity of every policy on the day of the highest demand.", Chart: ch})
	}
	return sec
}

// capacityLine is a policy's capacity on the multi-policy charts: the
// shadow policy's bold, shadow-blind's dashed.
func capacityLine(rec sim.Recording, pol string, s sim.Series, lo, hi int) report.Series {
	sr := report.Series{Name: pol, X: xMinutes(lo, hi, rec.Demand.Tick), Y: capacitySeries(rec.Config, s, rec.Demand.Len(), lo, hi),
		Step: true, Color: policyColors[pol], Width: 1.3}
	switch pol {
	case "shadow":
		sr.Width = 2.4
	case "shadow-blind":
		sr.Dashed = true
	}
	return sr
}

// shadowRan returns the shadow policy's trace and the ticks its run
// covered.
func shadowRan(rec sim.Recording) (*sim.ShadowTrace, sim.Series, int, bool) {
	r, s, ok := byPolicy(rec, "shadow")
	if !ok || r.Ticks == 0 || rec.Shadow == nil {
		return nil, s, 0, false
	}
	return rec.Shadow, s, min(r.Ticks, len(rec.Shadow.Live)), true
}

// applied are the live and shadow applied rates of ticks lo..hi-1: the
// live one broad and light, the shadow one thin and dark on top, the gap
// between them filled where the shadows are behind.
func applied(sh *sim.ShadowTrace, x []float64, lo, hi int) ([]report.Series, []report.Band) {
	gap := make([]float64, 0, hi-lo)
	for i := lo; i < hi; i++ {
		gap = append(gap, math.Min(sh.Shadow[i], sh.Live[i]))
	}
	return []report.Series{
			{Name: "live applied", Color: liveColor, X: x, Y: sh.Live[lo:hi], Width: 4, Opacity: 0.75},
			{Name: "shadow applied", Color: shadowColor, X: x, Y: sh.Shadow[lo:hi], Width: 1.2},
		}, []report.Band{
			{Name: "shadows behind", Color: behindColor, X: x, Lo: gap, Hi: sh.Live[lo:hi], Opacity: 0.4},
		}
}

// deltaPanel is the normalized delta with its trip and clear lines and
// the minutes the signal was tripped shaded; its axis is robust.
func deltaPanel(sh *sim.ShadowTrace, ps sim.PolicySet, cfg sim.Config, tick time.Duration, x []float64, lo, hi int) report.Panel {
	trip := ps.ControlConfig(cfg).TrippingSignal()
	return report.Panel{YLabel: "delta", Robust: true,
		Shades: []report.Shade{{Name: "signal tripped", Color: tripColor, Opacity: 0.2, Spans: spans(sh.Tripped, lo, hi, tick)}},
		Series: []report.Series{{Name: "delta (live − shadow) / live", Color: shadowColor, X: x, Y: sh.Delta[lo:hi], Width: 1.2}},
		HLines: []report.HLine{
			{Name: fmt.Sprintf("trip at %.3g", trip.Trip), Color: tripColor, Y: trip.Trip, Dashed: true},
			{Name: fmt.Sprintf("clear at %.3g", trip.Clear), Color: "#888888", Y: trip.Clear, Dashed: true},
		}}
}

// burstFigure is the zoomed chart around the busiest minute: demand and
// every policy's capacity (the shadow policy's overloaded minutes
// shaded); live vs shadow applied rates; the shadows' backlog; the delta
// with its trip line; and the shadow policy's launch orders across all.
func burstFigure(rec sim.Recording, ps sim.PolicySet) (report.Figure, bool) {
	sh, ss, ticks, ok := shadowRan(rec)
	d, cfg := rec.Demand, rec.Config
	if !ok {
		return report.Figure{}, false
	}
	peak, from := sharpestRise(d, ticks)
	lo := max(0, peak-int(burstBefore/d.Tick))
	hi := min(ticks, peak+int(burstAfter/d.Tick)+1)
	if hi-lo < 2 {
		return report.Figure{}, false
	}
	x := xMinutes(lo, hi, d.Tick)
	top := report.Panel{YLabel: "requests/s", Height: 260,
		Shades: []report.Shade{{Name: "overloaded (shadow policy)", Color: overloadColor, Opacity: 0.3, Spans: overloadSpans(cfg, d, ss, lo, hi)}},
		Series: []report.Series{{Name: "demand", Color: demandColor, X: x, Y: d.Values[lo:hi], Width: 2}}}
	for _, pol := range drawOrder {
		if _, s, ok := byPolicy(rec, pol); ok {
			top.Series = append(top.Series, capacityLine(rec, pol, s, lo, hi))
		}
	}
	rates := report.Panel{YLabel: "mutations/min", Height: 150}
	rates.Series, rates.Bands = applied(sh, x, lo, hi)
	backlog := report.Panel{YLabel: "backlog", Height: 90,
		Series: []report.Series{{Name: "shadows' backlog (mutations)", Color: behindColor, X: x, Y: sh.Backlog[lo:hi], Width: 1.4}}}
	delta := deltaPanel(sh, ps, cfg, d.Tick, x, lo, hi)
	delta.Height = 130
	if l, ok := report.RobustLimits(sh.Delta[:ticks]); ok { // the whole trace's axis
		delta.Limits = &l
	}
	ch := report.Chart{
		Title:  fmt.Sprintf("The busiest burst: %s to %s UTC", d.Time(lo).Format("Jan 2 15:04"), d.Time(hi-1).Format("15:04")),
		XLabel: "time (UTC)", Start: d.Start, Panel: top, Below: []report.Panel{rates, backlog, delta},
	}
	launches, tripped := 0, 0
	for _, dec := range ss.Decisions {
		if dec.Tick < lo || dec.Tick >= hi || dec.To <= dec.From {
			continue
		}
		launches++
		m := report.Marker{X: float64(dec.Tick) * d.Tick.Minutes(), Label: fmt.Sprintf("+%d", dec.To-dec.From), Color: launchColor,
			Name: "launch order (shadow policy)", Title: fmt.Sprintf("%s: %d → %d: %s", d.Time(dec.Tick).Format("15:04"), dec.From, dec.To, dec.Reason)}
		if dec.Tick < len(sh.Tripped) && sh.Tripped[dec.Tick] {
			tripped++
			m.Color, m.Name = tripColor, "launch order, signal tripped"
		}
		ch.Markers = append(ch.Markers, m)
	}
	over := 0.0 // minutes
	for _, sp := range top.Shades[0].Spans {
		over += sp.To - sp.From
	}
	return report.Figure{
		File: "burst.svg",
		Caption: fmt.Sprintf("The %d minutes around the sharpest rise of the demand (from %.0f to %s in %s, at %s). The shadow policy ordered %d launches here, "+
			"%d of them with the shadows' signal tripped, and was overloaded %d minutes (shaded). Hover a launch mark for its reason.",
			int(math.Round(float64(hi-lo)*d.Tick.Minutes())), from, fmtRate(d.Values[peak]), shortDuration(burstRise), d.Time(peak).Format("15:04"), launches, tripped, int(math.Round(over))),
		Chart: ch,
	}, true
}

// shortDuration writes 30m0s as 30 minutes.
func shortDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Minutes(), 'f', -1, 64) + " minutes"
}

func fmtRate(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) + " requests/s" }

// shadowSection: what the shadows tell over the whole trace.
func shadowSection(rec sim.Recording, st embedded.Stats, ps sim.PolicySet) (report.Section, bool) {
	sh, _, ticks, ok := shadowRan(rec)
	if !ok {
		return report.Section{}, false
	}
	d, cfg := rec.Demand, rec.Config
	n := d.Len()
	x := xMinutes(0, ticks, d.Tick)
	trip := ps.ControlConfig(cfg).TrippingSignal()
	sec := report.Section{Heading: "What the shadows tell"}
	if lo, hi := busiestDay(d); min(hi, ticks) > lo {
		hi = min(hi, ticks)
		xd := xMinutes(lo, hi, d.Tick)
		rates := report.Panel{YLabel: "mutations/min"}
		rates.Series, rates.Bands = applied(sh, xd, lo, hi)
		sec.Figures = append(sec.Figures, report.Figure{
			File: "shadow-rates.svg",
			Caption: fmt.Sprintf("Applied mutation rates over the signal window on the day of the highest demand: live instances (broad, light) vs their shadows (thin, dark), "+
				"the gap filled, and the backlog the shadows build. The shadows (%.0f%% of the CPU) fall behind first, and catch up after.", 100*cfg.ShadowCPU),
			Chart: report.Chart{Title: "Live vs shadow applied rate on the busiest day (" + d.Time(lo).Format("Jan 2") + ")", XLabel: "time (UTC)", Start: d.Start,
				Panel: rates, Below: []report.Panel{{YLabel: "backlog", Height: 100,
					Series: []report.Series{{Name: "shadows' backlog (mutations)", Color: behindColor, X: xd, Y: sh.Backlog[lo:hi], Width: 1.4}}}}},
		})
	}
	sec.Figures = append(sec.Figures, []report.Figure{
		{
			File: "delta.svg",
			Caption: fmt.Sprintf("Normalized delta (live − shadow) / live, the minutes the signal was tripped shaded. It trips at %.3g (live instances at %.0f%%) and clears at %.3g. "+
				"The axis holds 99%% of the minutes; the rest (negative: shadows catching up on a backlog while the live rate is small) are marked at its edge.",
				trip.Trip, 100*ps.Control.TripUtilization, trip.Clear),
			Chart: report.Chart{Title: "Shadow delta", XLabel: "time (UTC)", Start: d.Start, Panel: deltaPanel(sh, ps, cfg, d.Tick, x, 0, ticks)},
		},
	}...)
	if len(st.LiveCount) == n {
		live := make([]float64, n)
		shadows := make([]float64, n)
		diff := make([]float64, n)
		for i := range live {
			live[i], shadows[i] = float64(st.LiveCount[i]), float64(st.ShadowCount[i])
			diff[i] = shadows[i] - live[i]
		}
		x := xMinutes(0, n, d.Tick)
		sec.Figures = append(sec.Figures, report.Figure{
			File: "shadows.svg",
			Caption: fmt.Sprintf("In-service live instances (broad, light) and running shadows (thin, dark) under the shadow policy, and below, shadows minus live instances: "+
				"shadows follow their live instances (%d minutes with a difference).", st.TicksShadowsMismatch),
			Chart: report.Chart{Title: "Live instances and shadows", XLabel: "time (UTC)", Start: d.Start,
				Panel: report.Panel{YLabel: "instances", Series: []report.Series{
					{Name: "live in service", Color: liveColor, X: x, Y: live, Step: true, Width: 4, Opacity: 0.75},
					{Name: "shadows", Color: shadowColor, X: x, Y: shadows, Step: true, Width: 1.2},
				}},
				Below: []report.Panel{{YLabel: "difference", Height: 90, Series: []report.Series{
					{Name: "shadows − live", Color: overloadColor, X: x, Y: diff, Step: true, Width: 1.4},
				}}}},
		})
	}
	return sec, true
}

// forecastSection: the forecast against what came, and the capacity
// estimate the plan used.
func forecastSection(rec sim.Recording) (report.Section, bool) {
	sh, _, ticks, ok := shadowRan(rec)
	if !ok {
		return report.Section{}, false
	}
	d, cfg := rec.Demand, rec.Config
	n := d.Len()
	x := xMinutes(0, n, d.Tick)
	sec := report.Section{Heading: "Forecast", Figures: []report.Figure{
		{
			File:    "forecast.svg",
			Caption: "Forecast made one launch lead earlier vs what came, with the P10-P90 band (cut at zero: demand is never negative) and the calibrated bound the plan used.",
			Chart:   forecastChart("Forecast vs actual, whole trace", sh, d, 0, ticks),
		},
	}}
	if lo, hi := busiestDay(d); min(hi, ticks) > lo {
		sec.Figures = append(sec.Figures, report.Figure{
			File:    "forecast-busiest-day.svg",
			Caption: "The same, on the day of the highest demand.",
			Chart:   forecastChart("Forecast vs actual on the busiest day ("+d.Time(lo).Format("Jan 2")+")", sh, d, lo, min(hi, ticks)),
		})
	}
	sec.Figures = append(sec.Figures, report.Figure{
		File:    "capacity-estimate.svg",
		Caption: "The per-instance capacity the shadow policy planned with (dashed: configured, learned from the group's utilization, or corrected by the shadows' saturation) against the true capacity (broad, grey).",
		Chart: report.Chart{Title: "Per-instance capacity: estimate vs true", XLabel: "time (UTC)", Start: d.Start,
			Panel: report.Panel{YLabel: "requests/s an instance serves", Series: []report.Series{
				{Name: "true", Color: "#bbbbbb", X: x, Y: trueCapacity(cfg, n), Step: true, Width: 4},
				{Name: "estimate", Color: policyColors["shadow"], X: x, Y: estimatedCapacity(sh, cfg), Dashed: true, Width: 1.6},
			}}},
	})
	return sec, true
}

// trueCapacity is what an instance really served, tick by tick.
func trueCapacity(cfg sim.Config, n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = cfg.CapacityAt(i, n)
	}
	return y
}

// estimatedCapacity is the shadow loop's per-instance figure in requests/s
// (it plans in mutations a tick: w·C·tick).
func estimatedCapacity(sh *sim.ShadowTrace, cfg sim.Config) []float64 {
	y := make([]float64, len(sh.PerInstance))
	for i, v := range sh.PerInstance {
		y[i] = v / (cfg.WriteShare * cfg.Tick.Seconds())
	}
	return y
}

// nonNegative returns v with values below zero raised to zero (NaN kept):
// a forecast of a demand, which is never negative.
func nonNegative(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x
		if x < 0 {
			out[i] = 0
		}
	}
	return out
}

func forecastChart(title string, sh *sim.ShadowTrace, d sim.Demand, lo, hi int) report.Chart {
	x := xMinutes(lo, hi, d.Tick)
	return report.Chart{Title: title, XLabel: "time (UTC)", Start: d.Start,
		Panel: report.Panel{YLabel: "mutations/min",
			Bands: []report.Band{{Name: "forecast P10-P90", Color: "#ff7f0e", X: x, Lo: nonNegative(sh.P10[lo:hi]), Hi: nonNegative(sh.P90[lo:hi]), Opacity: 0.25}},
			Series: []report.Series{
				{Name: "actual", Color: demandColor, X: x, Y: sh.Actual[lo:hi], Width: 1.2},
				{Name: "forecast", Color: "#d95f02", X: x, Y: nonNegative(sh.Mean[lo:hi]), Width: 1.2},
				{Name: "calibrated bound", Color: "#2ca02c", X: x, Y: sh.Upper[lo:hi], Dashed: true, Width: 1.2},
			}}}
}

// busiestDay returns the tick range of the calendar day (UTC) holding the
// demand's maximum.
func busiestDay(d sim.Demand) (int, int) {
	best := 0
	for i, v := range d.Values {
		if v > d.Values[best] {
			best = i
		}
	}
	day := d.Time(best).Truncate(24 * time.Hour)
	lo := max(0, int(day.Sub(d.Start)/d.Tick))
	hi := min(d.Len(), lo+int(24*time.Hour/d.Tick))
	return lo, hi
}
