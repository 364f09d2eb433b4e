// Package report renders the simulation report: line charts as standalone
// SVG files and one HTML page that shows them with tables. It has no
// dependencies beyond the standard library, and the page no JavaScript.
package report

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Series is one line of a chart. X values are minutes since the chart's
// Start (or plain numbers when Start is zero). NaN values leave a gap.
type Series struct {
	Name  string
	Color string // CSS colour; a palette colour when empty
	X, Y  []float64
	// Dashed draws the line dashed; Step draws it as a staircase (for
	// capacities: a value holds until the next one).
	Dashed, Step bool
	// Width is the stroke width in pixels (default 1.4).
	Width float64
	// Opacity is the stroke's (default 1).
	Opacity float64
}

// Band is a filled interval between Lo and Hi (e.g. a P10-P90 band).
type Band struct {
	Name   string
	Color  string
	X      []float64
	Lo, Hi []float64
	// Opacity is the fill's (default 0.2).
	Opacity float64
}

// Span is a stretch [From, To) of the x axis.
type Span struct{ From, To float64 }

// Shade marks stretches of the x axis (e.g. overloaded minutes) with
// full-height columns. A stretch narrower than a pixel is drawn a pixel
// wide, so single minutes stay visible on a chart of weeks.
type Shade struct {
	Name  string
	Color string
	Spans []Span
	// Opacity is the fill's (default 0.18).
	Opacity float64
}

// HLine is a horizontal reference line across a panel (e.g. a threshold).
// It is always inside the panel's y range.
type HLine struct {
	Name   string
	Color  string
	Y      float64
	Dashed bool
}

// Marker is a vertical mark at X across every panel (e.g. a launch order),
// with a short Label over the top panel and a Title shown on hover. Name is
// its legend entry (markers of one name and colour share it).
type Marker struct {
	X     float64
	Label string
	Title string
	Color string
	Name  string
}

// Panel is one plot area with its own y axis.
type Panel struct {
	YLabel string
	Series []Series
	Bands  []Band
	Shades []Shade
	HLines []HLine
	// Height is the plot area's height in pixels (default 250 for the top
	// panel, 120 for the panels below it).
	Height int
	// Robust takes the y limits from the 0.5% and 99.5% quantiles of the
	// panel's values (with a margin: RobustLimits), so that a few outliers
	// do not rule the axis. Points beyond the limits are drawn at the edge
	// and marked with a triangle, and the panel says how many there are
	// and how far they go.
	Robust bool
	// Limits, when set, are the y limits (e.g. a zoomed chart's, taken
	// from the whole series), with points beyond them marked as Robust's.
	Limits *Limits
}

// Limits are a y axis' limits.
type Limits struct{ Lo, Hi float64 }

// RobustLimits returns the limits that hold the values but for outliers:
// the 0.5% and 99.5% quantiles widened by 15% of the range between them,
// or the values' own extremes where those are nearer. NaN and infinite
// values are ignored; ok is false when no value is left.
func RobustLimits(ys ...[]float64) (l Limits, ok bool) {
	var vals []float64
	for _, y := range ys {
		for _, v := range y {
			if finite(v) {
				vals = append(vals, v)
			}
		}
	}
	if len(vals) == 0 {
		return l, false
	}
	slices.Sort(vals)
	return robust(vals), true
}

// robust is RobustLimits of sorted values.
func robust(vals []float64) Limits {
	lo, hi := vals[0], vals[len(vals)-1]
	if len(vals) < 20 {
		return Limits{lo, hi}
	}
	qlo, qhi := quantile(vals, 0.005), quantile(vals, 0.995)
	pad := 0.15 * (qhi - qlo)
	if pad == 0 {
		pad = 0.15 * math.Max(math.Abs(qhi), 1)
	}
	return Limits{math.Max(lo, qlo-pad), math.Min(hi, qhi+pad)}
}

// Chart is a line chart of one or more panels sharing an x axis.
type Chart struct {
	Title  string
	XLabel string
	// Start, when set, turns X (minutes) into dates on the axis.
	Start time.Time
	// Panel is the top panel; Below are further panels under it.
	Panel
	Below   []Panel
	Markers []Marker
	Width   int // pixels; default 960
	// MaxPoints bounds the points drawn per series (min/max bucketing keeps
	// the peaks); default 1600.
	MaxPoints int
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// The one dash pattern of lines, reference lines and their legend swatches.
const dashArray = "6 4"

const clipColor = "#b00020"

// ErrEmpty is returned for a chart with nothing to draw.
var ErrEmpty = errors.New("chart has no data")

// Layout, in pixels.
const (
	marginLeft, marginRight = 70, 20
	titleHeight             = 40 // above the top panel (56 with marker labels)
	panelGap                = 16
	axisHeight              = 24 // x tick labels under the last panel
	xLabelHeight            = 20
	legendRow               = 18
	legendCharWidth         = 7.0 // an estimate of the 12px font's advance
)

type yScale struct {
	y0, y1       float64
	top, height  float64
	clipLo       int     // points drawn at the bottom edge
	clipHi       int     // points drawn at the top edge
	lowest, high float64 // the most extreme clipped values
}

func (s *yScale) py(y float64) float64 {
	return s.top + s.height - (y-s.y0)/(s.y1-s.y0)*s.height
}

// count counts the series' points beyond the scale.
func (s *yScale) count(series []Series) {
	for _, sr := range series {
		for _, v := range sr.Y {
			switch {
			case !finite(v):
			case v < s.y0:
				s.clipLo++
				s.lowest = math.Min(s.lowest, v)
			case v > s.y1:
				s.clipHi++
				s.high = math.Max(s.high, v)
			}
		}
	}
}

// clamp returns y within the scale and whether it was clipped.
func (s *yScale) clamp(y float64) (float64, int) {
	switch {
	case y < s.y0:
		return s.y0, -1
	case y > s.y1:
		return s.y1, 1
	}
	return y, 0
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// check validates the panel's lengths and widens [x0, x1] by its x values.
func (p Panel) check(x0, x1 *float64) error {
	for _, s := range p.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("series %q: %d x values, %d y values", s.Name, len(s.X), len(s.Y))
		}
		for i, x := range s.X {
			if finite(x) && finite(s.Y[i]) {
				*x0, *x1 = math.Min(*x0, x), math.Max(*x1, x)
			}
		}
	}
	for _, b := range p.Bands {
		if len(b.X) != len(b.Lo) || len(b.X) != len(b.Hi) {
			return fmt.Errorf("band %q: lengths differ", b.Name)
		}
		for i, x := range b.X {
			if finite(x) && (finite(b.Lo[i]) || finite(b.Hi[i])) {
				*x0, *x1 = math.Min(*x0, x), math.Max(*x1, x)
			}
		}
	}
	return nil
}

// yRange returns the panel's y limits before rounding to ticks.
func (p Panel) yRange() (float64, float64, bool) {
	var vals []float64
	for _, s := range p.Series {
		for _, y := range s.Y {
			if finite(y) {
				vals = append(vals, y)
			}
		}
	}
	for _, b := range p.Bands {
		for i := range b.X {
			for _, y := range []float64{b.Lo[i], b.Hi[i]} {
				if finite(y) {
					vals = append(vals, y)
				}
			}
		}
	}
	if len(vals) == 0 {
		return 0, 0, false
	}
	slices.Sort(vals)
	lo, hi := vals[0], vals[len(vals)-1]
	switch {
	case p.Limits != nil && p.Limits.Hi > p.Limits.Lo:
		lo, hi = p.Limits.Lo, p.Limits.Hi
	case p.Robust:
		l := robust(vals)
		lo, hi = l.Lo, l.Hi
	}
	for _, h := range p.HLines {
		if finite(h.Y) {
			lo, hi = math.Min(lo, h.Y), math.Max(hi, h.Y)
		}
	}
	if lo > 0 {
		lo = 0 // loads and capacities read best from zero
	}
	if p.Limits == nil {
		hi += 0.03 * (hi - lo) // a line at the maximum stays off the frame
	}
	return lo, hi, true
}

// quantile of sorted values, linearly interpolated.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// SVG writes the chart as a standalone SVG document: the layout first
// (the x range, each panel's scale and ticks, the legend's rows, the
// height), then the title, the panels, the x axis, the markers and the
// legend.
func (c Chart) SVG(w io.Writer) error {
	l, err := c.layout()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	pr := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	pr(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="12">`+"\n", l.width, l.height, l.width, l.height)
	pr(`<title>%s</title>`+"\n", esc(c.Title))
	pr(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	pr(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, esc(c.Title))
	xt := c.xTicks(l.x0, l.x1)
	for i, p := range l.panels {
		s := l.scales[i]
		c.drawPanel(pr, p, i, s, l.yticks[i], xt, l.px, l.pw, l.x0, l.x1, l.maxPts)
		if l.empty[i] {
			pr(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#888">no data</text>`+"\n", marginLeft+l.pw/2, s.top+s.height/2)
		}
	}
	c.drawXAxis(pr, l, xt)
	c.drawMarkers(pr, l)
	drawLegend(pr, l)
	pr("</svg>\n")
	return bw.Flush()
}

// chartLayout is where everything of a chart goes.
type chartLayout struct {
	width      int
	maxPts     int
	panels     []Panel
	x0, x1     float64
	pw         float64 // the plot's width
	px         func(float64) float64
	top        float64 // the first panel's top
	scales     []*yScale
	empty      []bool
	yticks     [][]float64
	plotBottom float64
	rows       [][]legendItem
	legendTop  float64
	height     float64
}

// layout places the chart: its x range over every panel, each panel's y
// scale and ticks, stacked, the legend's rows and the height.
func (c Chart) layout() (*chartLayout, error) {
	l := &chartLayout{width: c.Width, maxPts: c.MaxPoints, panels: append([]Panel{c.Panel}, c.Below...)}
	if l.width <= 0 {
		l.width = 960
	}
	if l.maxPts <= 0 {
		l.maxPts = 1600
	}
	l.x0, l.x1 = math.Inf(1), math.Inf(-1)
	for _, p := range l.panels {
		if err := p.check(&l.x0, &l.x1); err != nil {
			return nil, err
		}
	}
	if math.IsInf(l.x0, 0) {
		return nil, fmt.Errorf("chart %q: %w", c.Title, ErrEmpty)
	}
	if l.x1 == l.x0 {
		l.x1 = l.x0 + 1
	}
	l.pw = float64(l.width - marginLeft - marginRight)
	l.px = func(x float64) float64 { return marginLeft + (x-l.x0)/(l.x1-l.x0)*l.pw }
	l.top = float64(titleHeight)
	if len(c.Markers) > 0 {
		l.top += 16
	}
	l.scales = make([]*yScale, len(l.panels))
	l.empty = make([]bool, len(l.panels))
	l.yticks = make([][]float64, len(l.panels))
	y := l.top
	for i, p := range l.panels {
		l.scales[i], l.yticks[i], l.empty[i] = p.scale(i, y)
		y += l.scales[i].height + panelGap
	}
	l.plotBottom = y - panelGap
	l.rows = layoutLegend(c.legend(l.panels, l.scales), l.pw)
	l.height = l.plotBottom + axisHeight
	if c.XLabel != "" {
		l.height += xLabelHeight
	}
	l.legendTop = l.height + 4
	l.height = l.legendTop + float64(len(l.rows))*legendRow + 6
	return l, nil
}

// scale is the y scale and ticks of the panel at index i whose top is at
// top, and whether it has nothing to draw.
func (p Panel) scale(i int, top float64) (*yScale, []float64, bool) {
	lo, hi, ok := p.yRange()
	if !ok { // a panel with nothing to draw says so
		lo, hi = 0, 1
	}
	n := 6
	h := float64(p.Height)
	if h <= 0 {
		h = 250
		if i > 0 {
			h = 120
		}
	}
	if h < 160 {
		n = 4
	}
	yt := niceTicks(lo, hi, n)
	lo, hi = math.Min(lo, yt[0]), math.Max(hi, yt[len(yt)-1])
	if hi == lo {
		hi = lo + 1
	}
	s := &yScale{y0: lo, y1: hi, top: top, height: h, lowest: math.Inf(1), high: math.Inf(-1)}
	s.count(p.Series)
	return s, yt, !ok
}

// drawXAxis draws the x ticks and labels under the last panel.
func (c Chart) drawXAxis(pr func(string, ...any), l *chartLayout, xt []float64) {
	for _, t := range xt {
		x := l.px(t)
		label := c.xLabel(t)
		anchor := "middle" // "end" where a centred label would leave the image
		if x+legendCharWidth*float64(len(label))/2 > float64(l.width) {
			anchor = "end"
		}
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`+"\n", x, l.plotBottom, x, l.plotBottom+5)
		pr(`<text x="%.1f" y="%.1f" text-anchor="%s">%s</text>`+"\n", x, l.plotBottom+18, anchor, esc(label))
	}
	if c.XLabel != "" {
		pr(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`+"\n", marginLeft+l.pw/2, l.plotBottom+axisHeight+14, esc(c.XLabel))
	}
}

// drawMarkers draws the markers' heads and labels over the top panel
// (their lines are drawn in each panel, under the series).
func (c Chart) drawMarkers(pr func(string, ...any), l *chartLayout) {
	lastLabel := math.Inf(-1)
	for _, m := range c.Markers {
		if m.X < l.x0 || m.X > l.x1 {
			continue
		}
		col := pick(m.Color, 7)
		x := l.px(m.X)
		pr(`<g><title>%s</title>`, esc(m.Title))
		pr(`<path d="M%.1f %.1f l-4 -7 h8 z" fill="%s"/>`, x, l.top-1, col)
		if m.Label != "" && x-lastLabel >= 7*float64(len(m.Label))+4 {
			pr(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10" fill="%s">%s</text>`, x, l.top-10, col, esc(m.Label))
			lastLabel = x
		}
		pr("</g>\n")
	}
}

// drawLegend draws the legend along the bottom, wrapped in its rows.
func drawLegend(pr func(string, ...any), l *chartLayout) {
	for r, row := range l.rows {
		ly := l.legendTop + float64(r)*legendRow + 10
		x := float64(marginLeft)
		for _, li := range row {
			pr(`<g class="legend-item" data-kind="%s">`, li.kind)
			li.swatch(pr, x, ly)
			pr(`<text x="%.1f" y="%.1f">%s</text></g>`+"\n", x+24, ly+4, esc(li.name))
			x += li.width()
		}
	}
}

func (c Chart) drawPanel(pr func(string, ...any), p Panel, idx int, s *yScale, yt, xt []float64, px func(float64) float64, pw, x0, x1 float64, maxPts int) {
	right := marginLeft + pw
	bottom := s.top + s.height
	for _, t := range yt {
		y := s.py(t)
		pr(`<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", marginLeft, y, right, y)
		pr(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", marginLeft-6, y, esc(fmtNum(t)))
	}
	for _, t := range xt {
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", px(t), s.top, px(t), bottom)
	}
	if p.YLabel != "" {
		pr(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" fill="#444">%s</text>`+"\n", s.top+s.height/2, esc(p.YLabel))
	}
	clip := fmt.Sprintf("plot%d", idx)
	pr(`<clipPath id="%s"><rect x="%d" y="%.1f" width="%.1f" height="%.1f"/></clipPath>`+"\n", clip, marginLeft, s.top, pw, s.height)
	pr(`<g clip-path="url(#%s)">`+"\n", clip)
	// Shades, bands, reference lines, then lines.
	for i, sh := range p.Shades {
		col := pick(sh.Color, 1+i)
		op := opacity(sh.Opacity, 0.18)
		pr(`<g class="shade" fill="%s">`, col)
		for _, r := range shadeRuns(sh.Spans, px, x0, x1, pw) {
			pr(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill-opacity="%.3g"/>`, r.from, s.top, r.to-r.from, s.height, op*r.level)
		}
		pr("</g>\n")
	}
	for i, bd := range p.Bands {
		col := pick(bd.Color, i+len(p.Series))
		xs, lo := downsample(bd.X, bd.Lo, maxPts, false)
		_, hi := downsample(bd.X, bd.Hi, maxPts, true)
		// A band is drawn where both of its edges are known: one polygon
		// per stretch without gaps.
		var part []int
		flush := func() {
			if len(part) > 0 {
				var sb strings.Builder
				for _, j := range part {
					v, _ := s.clamp(hi[j])
					fmt.Fprintf(&sb, "%.1f,%.1f ", px(xs[j]), s.py(v))
				}
				for k := len(part) - 1; k >= 0; k-- {
					v, _ := s.clamp(lo[part[k]])
					fmt.Fprintf(&sb, "%.1f,%.1f ", px(xs[part[k]]), s.py(v))
				}
				pr(`<polygon points="%s" fill="%s" fill-opacity="%g" stroke="none"/>`+"\n", strings.TrimSpace(sb.String()), col, opacity(bd.Opacity, 0.2))
			}
			part = part[:0]
		}
		for j := range xs {
			if !finite(lo[j]) || !finite(hi[j]) {
				flush()
				continue
			}
			part = append(part, j)
		}
		flush()
	}
	for _, m := range c.Markers {
		if m.X >= x0 && m.X <= x1 {
			pr(`<line class="marker" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1" stroke-opacity="0.6"><title>%s</title></line>`+"\n",
				px(m.X), s.top, px(m.X), bottom, pick(m.Color, 7), esc(m.Title))
		}
	}
	for i, h := range p.HLines {
		col := pick(h.Color, 7-i)
		y := s.py(h.Y)
		pr(`<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.2"%s/>`+"\n", marginLeft, y, right, y, col, dashAttr(h.Dashed))
	}
	type clipped struct {
		x   float64
		dir int
		col string
	}
	var clips []clipped
	for i, sr := range p.Series {
		col := pick(sr.Color, i)
		xs, ys := downsampleMinMax(sr.X, sr.Y, maxPts)
		var sb strings.Builder
		pen := false
		for j := range xs {
			if !finite(ys[j]) {
				pen = false
				continue
			}
			v, dir := s.clamp(ys[j])
			if dir != 0 {
				clips = append(clips, clipped{px(xs[j]), dir, col})
			}
			if !pen {
				fmt.Fprintf(&sb, "M%.1f %.1f", px(xs[j]), s.py(v))
				pen = true
				continue
			}
			if sr.Step {
				fmt.Fprintf(&sb, "H%.1f", px(xs[j]))
			}
			fmt.Fprintf(&sb, "L%.1f %.1f", px(xs[j]), s.py(v))
		}
		pr(`<path d="%s" fill="none" stroke="%s" stroke-width="%g"%s%s/>`+"\n", sb.String(), col, strokeWidth(sr.Width), dashAttr(sr.Dashed), opacityAttr("stroke-opacity", sr.Opacity))
	}
	pr("</g>\n")
	// Points beyond the axis: a triangle at the edge, one per 3 pixels.
	lastX := map[int]float64{-1: math.Inf(-1), 1: math.Inf(-1)}
	for _, cp := range clips {
		if cp.x-lastX[cp.dir] < 3 {
			continue
		}
		lastX[cp.dir] = cp.x
		if cp.dir < 0 {
			pr(`<path d="M%.1f %.1f l-3.5 -6 h7 z" fill="%s"/>`+"\n", cp.x, bottom, clipColor)
		} else {
			pr(`<path d="M%.1f %.1f l-3.5 6 h7 z" fill="%s"/>`+"\n", cp.x, s.top, clipColor)
		}
	}
	pr(`<rect x="%d" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", marginLeft, s.top, pw, s.height)
	var notes []string
	if s.clipHi > 0 {
		notes = append(notes, fmt.Sprintf("▲ %d %s above %s (highest %s)", s.clipHi, plural(s.clipHi, "point"), fmtNum(s.y1), fmtNum(s.high)))
	}
	if s.clipLo > 0 {
		notes = append(notes, fmt.Sprintf("▼ %d %s below %s (lowest %s)", s.clipLo, plural(s.clipLo, "point"), fmtNum(s.y0), fmtNum(s.lowest)))
	}
	if len(notes) > 0 {
		// Over the panel's top edge, right-aligned, on a white halo.
		pr(`<text class="clip-note" x="%.1f" y="%.1f" text-anchor="end" font-size="11" fill="%s" stroke="white" stroke-width="3" paint-order="stroke">%s</text>`+"\n",
			right, s.top-4, clipColor, esc(strings.Join(notes, "; ")))
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// shadeRun is a run of pixel columns shaded alike: level is the share of
// each column the spans cover (at least shadeFloor, in tenths).
type shadeRun struct{ from, to, level float64 }

// shadeFloor is the least level of a shaded column: a minute on a chart
// of weeks stays visible, yet lighter than a column overloaded throughout.
const shadeFloor = 0.4

// shadeRuns maps spans to the plot's pixel columns: each column is shaded
// by the share of it the spans cover, so that a chart of weeks shows where
// the shaded minutes are dense, not only where there are some.
func shadeRuns(spans []Span, px func(float64) float64, x0, x1, pw float64) []shadeRun {
	cols := make([]float64, int(math.Ceil(pw)))
	for _, sp := range spans {
		if !(sp.To > sp.From) || sp.To < x0 || sp.From > x1 {
			continue
		}
		a, b := px(math.Max(sp.From, x0))-marginLeft, px(math.Min(sp.To, x1))-marginLeft
		for c := max(0, int(a)); c < len(cols) && float64(c) < b; c++ {
			cols[c] += math.Min(b, float64(c+1)) - math.Max(a, float64(c))
		}
	}
	var out []shadeRun
	for c, f := range cols {
		if f <= 0 {
			continue
		}
		level := math.Round(10*math.Max(shadeFloor, math.Min(1, f))) / 10
		x := marginLeft + float64(c)
		if n := len(out); n > 0 && out[n-1].to == x && out[n-1].level == level {
			out[n-1].to = x + 1
			continue
		}
		out = append(out, shadeRun{x, x + 1, level})
	}
	return out
}

func strokeWidth(w float64) float64 {
	if w > 0 {
		return w
	}
	return 1.4
}

func opacity(o, def float64) float64 {
	if o > 0 {
		return o
	}
	return def
}

func opacityAttr(name string, o float64) string {
	if o > 0 && o < 1 {
		return fmt.Sprintf(` %s="%g"`, name, o)
	}
	return ""
}

func dashAttr(dashed bool) string {
	if dashed {
		return ` stroke-dasharray="` + dashArray + `"`
	}
	return ""
}

// legendItem is one legend entry, drawn in the style of what it names.
type legendItem struct {
	name, color, kind string // kind: line, band, shade, hline, marker, clip
	dashed, step      bool
	stroke, opacity   float64
}

func (li legendItem) width() float64 { return 24 + legendCharWidth*float64(len([]rune(li.name))) + 18 }

func (li legendItem) swatch(pr func(string, ...any), x, y float64) {
	switch li.kind {
	case "band":
		pr(`<rect x="%.1f" y="%.1f" width="18" height="10" fill="%s" fill-opacity="%g"/>`+"\n", x, y-5, li.color, li.opacity)
	case "shade":
		pr(`<rect x="%.1f" y="%.1f" width="18" height="14" fill="%s" fill-opacity="%g"/>`+"\n", x, y-7, li.color, li.opacity)
	case "marker":
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1" stroke-opacity="0.6"/>`, x+9, y-3, x+9, y+7, li.color)
		pr(`<path d="M%.1f %.1f l-4 -7 h8 z" fill="%s"/>`+"\n", x+9, y-1, li.color)
	case "clip":
		pr(`<path d="M%.1f %.1f l-3.5 -6 h7 z" fill="%s"/>`+"\n", x+9, y+3, li.color)
	default: // line, hline
		d := fmt.Sprintf("M%.1f %.1f H%.1f", x, y, x+18)
		if li.step {
			d = fmt.Sprintf("M%.1f %.1f H%.1f V%.1f H%.1f", x, y+4, x+8, y-4, x+18)
		}
		pr(`<path d="%s" fill="none" stroke="%s" stroke-width="%g"%s%s/>`+"\n", d, li.color, li.stroke, dashAttr(li.dashed), opacityAttr("stroke-opacity", li.opacity))
	}
}

// legend lists what the chart draws, in drawing order, once per name and
// style.
func (c Chart) legend(panels []Panel, scales []*yScale) []legendItem {
	var out []legendItem
	seen := map[legendItem]bool{}
	add := func(li legendItem) {
		if li.name == "" || seen[li] {
			return
		}
		seen[li] = true
		out = append(out, li)
	}
	clips := false
	for _, p := range panels {
		for i, sh := range p.Shades {
			add(legendItem{name: sh.Name, color: pick(sh.Color, 1+i), kind: "shade", opacity: opacity(sh.Opacity, 0.18)})
		}
		for i, bd := range p.Bands {
			add(legendItem{name: bd.Name, color: pick(bd.Color, i+len(p.Series)), kind: "band", opacity: opacity(bd.Opacity, 0.2)})
		}
		for i, s := range p.Series {
			add(legendItem{name: s.Name, color: pick(s.Color, i), kind: "line", dashed: s.Dashed, step: s.Step, stroke: strokeWidth(s.Width), opacity: s.Opacity})
		}
		for i, h := range p.HLines {
			add(legendItem{name: h.Name, color: pick(h.Color, 7-i), kind: "hline", dashed: h.Dashed, stroke: 1.2})
		}
	}
	for _, s := range scales {
		clips = clips || s.clipLo+s.clipHi > 0
	}
	for _, m := range c.Markers {
		add(legendItem{name: m.Name, color: pick(m.Color, 7), kind: "marker"})
	}
	if clips {
		add(legendItem{name: "beyond the axis", color: clipColor, kind: "clip"})
	}
	return out
}

// layoutLegend wraps the legend into rows no wider than w.
func layoutLegend(items []legendItem, w float64) [][]legendItem {
	var rows [][]legendItem
	x := w + 1
	for _, li := range items {
		if x+li.width() > w && x > 0 {
			rows = append(rows, nil)
			x = 0
		}
		rows[len(rows)-1] = append(rows[len(rows)-1], li)
		x += li.width()
	}
	return rows
}

func pick(c string, i int) string {
	if c != "" {
		return c
	}
	return palette[(i%len(palette)+len(palette))%len(palette)]
}

func esc(s string) string { return html.EscapeString(s) }

func (c Chart) xLabel(t float64) string {
	if c.Start.IsZero() {
		return fmtNum(t)
	}
	at := c.Start.Add(time.Duration(t * float64(time.Minute))).UTC()
	if at.Hour() == 0 && at.Minute() == 0 {
		return at.Format("Jan 2")
	}
	return at.Format("Jan 2 15:04")
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	s := ""
	switch {
	case a >= 1e9:
		s = trimZeros(fmt.Sprintf("%.2f", v/1e9)) + "G"
	case a >= 1e6:
		s = trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e4:
		s = trimZeros(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 100 || v == math.Trunc(v):
		s = fmt.Sprintf("%.0f", v)
	default:
		s = trimZeros(fmt.Sprintf("%.3f", v))
	}
	if s == "-0" {
		return "0"
	}
	return strings.Replace(s, "-", "−", 1) // a real minus sign
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// xTicks returns the x tick positions: round numbers, or with a Start,
// whole hours or days aligned to midnight UTC.
func (c Chart) xTicks(x0, x1 float64) []float64 {
	var out []float64
	if c.Start.IsZero() {
		for _, t := range niceTicks(x0, x1, 8) {
			if t >= x0 && t <= x1 {
				out = append(out, t)
			}
		}
		return out
	}
	span := x1 - x0
	step := 0.0
	for _, m := range []float64{5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200} {
		if span/m <= 9 {
			step = m
			break
		}
	}
	if step == 0 {
		step = math.Ceil(span/9/43200) * 43200
	}
	// Minutes from Start to the previous midnight UTC.
	mid := c.Start.UTC().Truncate(24 * time.Hour)
	off := c.Start.Sub(mid).Minutes()
	first := math.Ceil((x0+off)/step)*step - off
	for t := first; t <= x1; t += step {
		out = append(out, t)
	}
	return out
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v <= hi+step*0.999; v += step {
		out = append(out, math.Round(v/step)*step)
		if len(out) > 4*n {
			break
		}
	}
	return out
}

// downsampleMinMax keeps at most about maxPts points, each bucket
// represented by its minimum and maximum in time order, so peaks survive.
func downsampleMinMax(x, y []float64, maxPts int) ([]float64, []float64) {
	if len(x) <= maxPts {
		return x, y
	}
	buckets := maxPts / 2
	per := float64(len(x)) / float64(buckets)
	ox := make([]float64, 0, maxPts)
	oy := make([]float64, 0, maxPts)
	for b := range buckets {
		i0, i1 := int(float64(b)*per), int(float64(b+1)*per)
		i1 = min(i1, len(x))
		if i0 >= i1 {
			continue
		}
		lo, hi := i0, i0
		for i := i0; i < i1; i++ {
			if y[i] < y[lo] || math.IsNaN(y[lo]) {
				lo = i
			}
			if y[i] > y[hi] || math.IsNaN(y[hi]) {
				hi = i
			}
		}
		a, c := min(lo, hi), max(lo, hi)
		ox, oy = append(ox, x[a]), append(oy, y[a])
		if c != a {
			ox, oy = append(ox, x[c]), append(oy, y[c])
		}
	}
	return ox, oy
}

// downsample keeps one value per bucket: its maximum (upper) or minimum.
func downsample(x, y []float64, maxPts int, upper bool) ([]float64, []float64) {
	if len(x) <= maxPts {
		return x, y
	}
	per := float64(len(x)) / float64(maxPts)
	ox := make([]float64, 0, maxPts)
	oy := make([]float64, 0, maxPts)
	for b := range maxPts {
		i0, i1 := int(float64(b)*per), min(int(float64(b+1)*per), len(x))
		if i0 >= i1 {
			continue
		}
		v := y[i0]
		for i := i0; i < i1; i++ {
			if (upper && y[i] > v) || (!upper && y[i] < v) || math.IsNaN(v) {
				v = y[i]
			}
		}
		ox, oy = append(ox, x[(i0+i1)/2]), append(oy, v)
	}
	return ox, oy
}
