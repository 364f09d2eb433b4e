// Package report renders the simulation report: line charts as standalone
// SVG files and one HTML page that shows them with a summary table. It has
// no dependencies beyond the standard library.
package report

import (
	"bufio"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// Series is one line of a chart. X values are minutes since the chart's
// Start (or plain numbers when Start is zero).
type Series struct {
	Name   string
	Color  string // CSS colour; a palette colour when empty
	X, Y   []float64
	Dashed bool
	// Step draws the line as a staircase (for capacities).
	Step bool
}

// Band is a shaded interval between Lo and Hi (e.g. a P10-P90 band).
type Band struct {
	Name   string
	Color  string
	X      []float64
	Lo, Hi []float64
}

// Marker is a vertical mark at X with a short label (e.g. a decision).
type Marker struct {
	X     float64
	Label string
	Color string
}

// Chart is a line chart.
type Chart struct {
	Title          string
	XLabel, YLabel string
	// Start, when set, turns X (minutes) into dates on the axis.
	Start   time.Time
	Series  []Series
	Bands   []Band
	Markers []Marker
	Width   int // pixels; default 960
	Height  int // pixels; default 360
	// MaxPoints bounds the points drawn per series (min/max bucketing keeps
	// the peaks); default 1600.
	MaxPoints int
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// ErrEmpty is returned for a chart with nothing to draw.
var ErrEmpty = errors.New("chart has no data")

type bounds struct{ x0, x1, y0, y1 float64 }

func (b *bounds) add(x, y float64) {
	if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
		return
	}
	b.x0, b.x1 = math.Min(b.x0, x), math.Max(b.x1, x)
	b.y0, b.y1 = math.Min(b.y0, y), math.Max(b.y1, y)
}

// SVG writes the chart as a standalone SVG document.
func (c Chart) SVG(w io.Writer) error {
	width, height := c.Width, c.Height
	if width <= 0 {
		width = 960
	}
	if height <= 0 {
		height = 360
	}
	maxPts := c.MaxPoints
	if maxPts <= 0 {
		maxPts = 1600
	}
	b := bounds{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("series %q: %d x values, %d y values", s.Name, len(s.X), len(s.Y))
		}
		for i := range s.X {
			b.add(s.X[i], s.Y[i])
		}
	}
	for _, bd := range c.Bands {
		if len(bd.X) != len(bd.Lo) || len(bd.X) != len(bd.Hi) {
			return fmt.Errorf("band %q: lengths differ", bd.Name)
		}
		for i := range bd.X {
			b.add(bd.X[i], bd.Lo[i])
			b.add(bd.X[i], bd.Hi[i])
		}
	}
	if math.IsInf(b.x0, 0) {
		return fmt.Errorf("chart %q: %w", c.Title, ErrEmpty)
	}
	if b.y0 > 0 {
		b.y0 = 0 // loads and capacities read best from zero
	}
	if b.x1 == b.x0 {
		b.x1 = b.x0 + 1
	}
	yt := niceTicks(b.y0, b.y1, 6)
	b.y0, b.y1 = math.Min(b.y0, yt[0]), math.Max(b.y1, yt[len(yt)-1])
	if b.y1 == b.y0 {
		b.y1 = b.y0 + 1
	}

	const ml, mr, mt, mb = 70, 20, 40, 70
	pw, ph := float64(width-ml-mr), float64(height-mt-mb)
	px := func(x float64) float64 { return ml + (x-b.x0)/(b.x1-b.x0)*pw }
	py := func(y float64) float64 { return mt + ph - (y-b.y0)/(b.y1-b.y0)*ph }

	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", ml, esc(c.Title))
	// Grid and y axis.
	for _, t := range yt {
		y := py(t)
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", ml, y, width-mr, y)
		p(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", ml-6, y, esc(fmtNum(t)))
	}
	// X axis ticks.
	for _, t := range c.xTicks(b.x0, b.x1) {
		if t < b.x0 || t > b.x1 {
			continue
		}
		x := px(t)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`+"\n", x, mt+ph, x, mt+ph+5)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, mt+ph+18, esc(c.xLabel(t)))
	}
	p(`<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`+"\n", ml, mt, pw, ph)
	if c.XLabel != "" {
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%s</text>`+"\n", ml+pw/2, height-30, esc(c.XLabel))
	}
	if c.YLabel != "" {
		p(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle" fill="#444">%s</text>`+"\n", mt+ph/2, esc(c.YLabel))
	}
	// Bands, then markers, then lines.
	legend := []legendItem{}
	for i, bd := range c.Bands {
		col := pick(bd.Color, i+len(c.Series))
		xs, lo := downsample(bd.X, bd.Lo, maxPts, false)
		_, hi := downsample(bd.X, bd.Hi, maxPts, true)
		var sb strings.Builder
		for j := range xs {
			fmt.Fprintf(&sb, "%.1f,%.1f ", px(xs[j]), py(hi[j]))
		}
		for j := len(xs) - 1; j >= 0; j-- {
			fmt.Fprintf(&sb, "%.1f,%.1f ", px(xs[j]), py(lo[j]))
		}
		p(`<polygon points="%s" fill="%s" fill-opacity="0.18" stroke="none"/>`+"\n", strings.TrimSpace(sb.String()), col)
		legend = append(legend, legendItem{bd.Name, col, "band"})
	}
	for _, m := range c.Markers {
		if m.X < b.x0 || m.X > b.x1 {
			continue
		}
		col := pick(m.Color, 7)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="%s" stroke-opacity="0.5"><title>%s</title></line>`+"\n", px(m.X), mt, px(m.X), mt+ph, col, esc(m.Label))
	}
	for i, s := range c.Series {
		col := pick(s.Color, i)
		xs, ys := downsampleMinMax(s.X, s.Y, maxPts)
		var sb strings.Builder
		pen := false
		for j := range xs {
			if math.IsNaN(ys[j]) || math.IsInf(ys[j], 0) {
				pen = false
				continue
			}
			if !pen {
				fmt.Fprintf(&sb, "M%.1f %.1f", px(xs[j]), py(ys[j]))
				pen = true
				continue
			}
			if s.Step {
				fmt.Fprintf(&sb, "H%.1f", px(xs[j]))
			}
			fmt.Fprintf(&sb, "L%.1f %.1f", px(xs[j]), py(ys[j]))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="5 4"`
		}
		p(`<path d="%s" fill="none" stroke="%s" stroke-width="1.4"%s/>`+"\n", sb.String(), col, dash)
		legend = append(legend, legendItem{s.Name, col, "line"})
	}
	// Legend along the bottom.
	x := float64(ml)
	for _, li := range legend {
		if li.kind == "band" {
			p(`<rect x="%.1f" y="%d" width="18" height="10" fill="%s" fill-opacity="0.3"/>`+"\n", x, height-16, li.color)
		} else {
			p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", x, height-11, x+18, height-11, li.color)
		}
		p(`<text x="%.1f" y="%d">%s</text>`+"\n", x+24, height-7, esc(li.name))
		x += 24 + 7.2*float64(len(li.name)) + 18
	}
	p("</svg>\n")
	return bw.Flush()
}

type legendItem struct{ name, color, kind string }

func pick(c string, i int) string {
	if c != "" {
		return c
	}
	return palette[i%len(palette)]
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
	switch {
	case a >= 1e9:
		return trimZeros(fmt.Sprintf("%.2f", v/1e9)) + "G"
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZeros(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return trimZeros(fmt.Sprintf("%.3f", v))
	}
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
	if c.Start.IsZero() {
		return niceTicks(x0, x1, 8)
	}
	span := x1 - x0
	step := 0.0
	for _, m := range []float64{15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200} {
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
	var out []float64
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
			if (upper && y[i] > v) || (!upper && y[i] < v) {
				v = y[i]
			}
		}
		ox, oy = append(ox, x[(i0+i1)/2]), append(oy, v)
	}
	return ox, oy
}
