package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// node is an SVG element, parsed generically.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) walk(f func(node)) {
	f(n)
	for _, c := range n.Children {
		c.walk(f)
	}
}

func parseSVG(t *testing.T, b []byte) node {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
	var root node
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("parsing SVG: %v", err)
	}
	if root.XMLName.Local != "svg" {
		t.Fatalf("root element %q, want svg", root.XMLName.Local)
	}
	return root
}

func render(t *testing.T, c Chart) (string, node) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.SVG(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String(), parseSVG(t, buf.Bytes())
}

// legendItems maps each legend entry's text to its group.
func legendItems(root node) map[string]node {
	out := map[string]node{}
	root.walk(func(n node) {
		if n.attr("class") != "legend-item" {
			return
		}
		for _, c := range n.Children {
			if c.XMLName.Local == "text" {
				out[c.Text] = n
			}
		}
	})
	return out
}

// yLabels returns the numeric y tick labels of the SVG.
func yLabels(root node) []float64 {
	var out []float64
	root.walk(func(n node) {
		if n.XMLName.Local == "text" && n.attr("text-anchor") == "end" && n.attr("dominant-baseline") == "middle" {
			v, err := strconv.ParseFloat(strings.Replace(n.Text, "−", "-", 1), 64)
			if err == nil {
				out = append(out, v)
			}
		}
	})
	return out
}

func TestChartSVG(t *testing.T) {
	n := 10000
	x := make([]float64, n)
	y := make([]float64, n)
	lo := make([]float64, n)
	hi := make([]float64, n)
	for i := range n {
		x[i] = float64(i)
		y[i] = 10 + 5*math.Sin(float64(i)/300)
		lo[i], hi[i] = y[i]-1, y[i]+1
	}
	y[7777] = 999 // a spike must survive downsampling
	y[100] = math.NaN()
	c := Chart{
		Title: "demand <&> capacity", XLabel: "time", Start: time.Date(2014, 4, 10, 0, 0, 0, 0, time.UTC),
		Panel: Panel{YLabel: "load",
			Series: []Series{{Name: "demand", X: x, Y: y}, {Name: "capacity", X: x, Y: hi, Step: true, Dashed: true}},
			Bands:  []Band{{Name: "P10-P90", X: x, Lo: lo, Hi: hi}}},
		Markers: []Marker{{X: 5000, Label: "+2", Title: "launch 2 <because>"}},
	}
	s, root := render(t, c)
	for _, want := range []string{"demand &lt;&amp;&gt; capacity", "P10-P90", "capacity", "Apr 1", "launch 2 &lt;because&gt;"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if len(s) > 400_000 {
		t.Errorf("SVG is %d bytes: downsampling did not bound it", len(s))
	}
	// The y axis reaches the spike (the axis is not robust): a tick at or
	// above 999 exists.
	labels := yLabels(root)
	if len(labels) == 0 || labels[len(labels)-1] < 999 {
		t.Errorf("y axis %v does not reach the spike of 999", labels)
	}
}

// TestRobustAxis: a robust panel is not ruled by an outlier (the delta of
// nyc_taxi ran down to −345); the clipped points are marked and counted.
func TestRobustAxis(t *testing.T) {
	n := 5000
	x := make([]float64, n)
	y := make([]float64, n)
	for i := range n {
		x[i] = float64(i)
		y[i] = 0.1 * math.Sin(float64(i)/50)
	}
	y[1000], y[3000] = -345, -12
	y[4000] = 7
	for _, tc := range []struct {
		robust             bool
		wantMin, wantMax   float64 // bounds on the y axis' extent
		wantClipped, wantN string
	}{
		{robust: true, wantMin: -1, wantMax: 1, wantClipped: "▼ 2 points below", wantN: "lowest −345"},
		{robust: false, wantMin: -400, wantMax: 7},
	} {
		t.Run("robust="+strconv.FormatBool(tc.robust), func(t *testing.T) {
			c := Chart{Title: "delta", Panel: Panel{Robust: tc.robust,
				Series: []Series{{Name: "delta", X: x, Y: y}},
				HLines: []HLine{{Name: "trip", Y: 0.3, Dashed: true}}}}
			s, root := render(t, c)
			labels := yLabels(root)
			lo, hi := labels[0], labels[len(labels)-1]
			if tc.robust {
				if lo < tc.wantMin || hi > tc.wantMax {
					t.Errorf("robust axis runs %v..%v, want within %v..%v (ticks %v)", lo, hi, tc.wantMin, tc.wantMax, labels)
				}
				if hi < 0.3 {
					t.Errorf("axis top %v hides the trip line at 0.3", hi)
				}
				if !strings.Contains(s, tc.wantClipped) || !strings.Contains(s, tc.wantN) || !strings.Contains(s, "▲ 1 point above") {
					t.Errorf("clipped points not stated: want %q, %q and 1 above", tc.wantClipped, tc.wantN)
				}
				if _, ok := legendItems(root)["beyond the axis"]; !ok {
					t.Error("no legend entry for the clipped points")
				}
				triangles := strings.Count(s, `fill="`+clipColor+`"`)
				if triangles < 3+1 { // two below, one above, the legend's
					t.Errorf("%d clip marks, want one per clipped point and the legend's", triangles)
				}
				return
			}
			if lo > tc.wantMin+100 || hi < tc.wantMax {
				t.Errorf("plain axis runs %v..%v, want it to reach the outliers", lo, hi)
			}
			if strings.Contains(s, "beyond the axis") {
				t.Error("a plain axis clips nothing, yet the legend says so")
			}
		})
	}
}

// TestLimits: fixed limits (a zoomed chart's, from the whole series) rule
// the axis, and what lies beyond them is marked.
func TestLimits(t *testing.T) {
	whole := make([]float64, 1000)
	for i := range whole {
		whole[i] = 0.2 * math.Sin(float64(i))
	}
	whole[10] = -345
	l, ok := RobustLimits(whole, []float64{math.NaN()})
	if !ok || l.Lo < -0.5 || l.Hi > 0.5 || l.Lo > -0.19 || l.Hi < 0.19 {
		t.Fatalf("robust limits %+v of values in ±0.2 and one −345", l)
	}
	if _, ok := RobustLimits([]float64{math.NaN()}); ok {
		t.Error("limits of no values")
	}
	if got, _ := RobustLimits([]float64{3, 1, 2}); got != (Limits{1, 3}) {
		t.Errorf("few values: %+v, want their extremes", got)
	}
	zoom := []float64{0.1, -6, 0.05, -0.1}
	c := Chart{Title: "zoom", Panel: Panel{Limits: &l, Series: []Series{{Name: "delta", X: []float64{0, 1, 2, 3}, Y: zoom}}}}
	s, root := render(t, c)
	labels := yLabels(root)
	if labels[0] < -0.5 || labels[len(labels)-1] > 0.5 {
		t.Errorf("zoomed axis %v, want the whole series' limits", labels)
	}
	if !strings.Contains(s, "▼ 1 point below") || !strings.Contains(s, "lowest −6") {
		t.Error("the point beyond the limits is not stated")
	}
}

// TestShadeDensity: on a chart of many minutes a pixel column is shaded by
// the share of its minutes shaded: a lone minute stays visible but lighter
// than a stretch shaded throughout.
func TestShadeDensity(t *testing.T) {
	x := make([]float64, 20000)
	for i := range x {
		x[i] = float64(i)
	}
	c := Chart{Title: "weeks", Panel: Panel{Series: []Series{{Name: "demand", X: x, Y: x}},
		Shades: []Shade{{Name: "overloaded", Opacity: 0.4, Spans: []Span{{100, 101}, {5000, 8000}}}}}}
	_, root := render(t, c)
	var rects []node
	root.walk(func(n node) {
		if n.XMLName.Local == "g" && n.attr("class") == "shade" {
			rects = append(rects, n.Children...)
		}
	})
	var lone, dense float64
	covered := 0.0
	for _, r := range rects {
		xv, _ := strconv.ParseFloat(r.attr("x"), 64)
		w, _ := strconv.ParseFloat(r.attr("width"), 64)
		op, _ := strconv.ParseFloat(r.attr("fill-opacity"), 64)
		covered += w
		switch {
		case xv < marginLeft+10:
			lone = op
		case w > 50:
			dense = op
		}
	}
	if lone <= 0 || dense != 0.4 || lone >= dense {
		t.Errorf("a lone minute at opacity %v, 3000 minutes at %v: want the lone one visible and lighter, the stretch at 0.4", lone, dense)
	}
	// 3001 of 20000 minutes, on an 870-pixel plot: about 131 pixels shaded.
	if covered < 125 || covered > 140 {
		t.Errorf("%v pixels shaded, want about 131", covered)
	}
}

// TestLegendMatchesStyles: each legend entry is drawn in the style of what
// it names.
func TestLegendMatchesStyles(t *testing.T) {
	x := []float64{0, 1, 2, 3}
	c := Chart{Title: "styles",
		Panel: Panel{
			Series: []Series{
				{Name: "plain", X: x, Y: []float64{1, 2, 3, 4}},
				{Name: "dashed", X: x, Y: []float64{2, 2, 2, 2}, Dashed: true},
				{Name: "step", X: x, Y: []float64{1, 1, 3, 3}, Step: true, Width: 2.5},
				{Name: "faint", X: x, Y: []float64{3, 1, 2, 1}, Width: 3, Opacity: 0.4},
			},
			Bands:  []Band{{Name: "band", X: x, Lo: []float64{0, 0, 0, 0}, Hi: []float64{1, 2, 1, 2}, Opacity: 0.3}},
			Shades: []Shade{{Name: "overloaded", Color: "#d62728", Spans: []Span{{1, 2}}}},
			HLines: []HLine{{Name: "trip", Y: 2.5, Dashed: true}},
		},
		Markers: []Marker{{X: 1.5, Label: "+1", Name: "launch order"}},
	}
	_, root := render(t, c)
	items := legendItems(root)
	swatch := func(name string) node {
		g, ok := items[name]
		if !ok {
			t.Fatalf("no legend entry %q (entries %v)", name, items)
		}
		return g.Children[0]
	}
	for _, tc := range []struct {
		name, element, dash, width, opacity string
		step                                bool
	}{
		{name: "plain", element: "path", width: "1.4"},
		{name: "dashed", element: "path", dash: dashArray, width: "1.4"},
		{name: "step", element: "path", width: "2.5", step: true},
		{name: "faint", element: "path", width: "3", opacity: "0.4"},
		{name: "trip", element: "path", dash: dashArray, width: "1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := swatch(tc.name)
			if sw.XMLName.Local != tc.element || sw.attr("stroke-dasharray") != tc.dash || sw.attr("stroke-width") != tc.width || sw.attr("stroke-opacity") != tc.opacity {
				t.Errorf("swatch %s dash %q width %q opacity %q; want %s dash %q width %q opacity %q",
					sw.XMLName.Local, sw.attr("stroke-dasharray"), sw.attr("stroke-width"), sw.attr("stroke-opacity"), tc.element, tc.dash, tc.width, tc.opacity)
			}
			if got := strings.Contains(sw.attr("d"), "V"); got != tc.step {
				t.Errorf("swatch path %q: staircase %v, want %v", sw.attr("d"), got, tc.step)
			}
		})
	}
	// Filled things are shown as filled swatches with the chart's opacity.
	if sw := swatch("band"); sw.XMLName.Local != "rect" || sw.attr("fill-opacity") != "0.3" {
		t.Errorf("band swatch %s fill-opacity %q, want a rect at 0.3", sw.XMLName.Local, sw.attr("fill-opacity"))
	}
	if sw := swatch("overloaded"); sw.XMLName.Local != "rect" || sw.attr("fill") != "#d62728" || sw.attr("fill-opacity") != "0.18" {
		t.Errorf("shade swatch %s fill %q opacity %q", sw.XMLName.Local, sw.attr("fill"), sw.attr("fill-opacity"))
	}
	if g := items["launch order"]; g.attr("data-kind") != "marker" {
		t.Errorf("marker legend entry kind %q", g.attr("data-kind"))
	}
}

// TestPanelsAndMarkers: panels stack under one x axis; a marker crosses
// each of them; shades are at least a pixel wide.
func TestPanelsAndMarkers(t *testing.T) {
	x := make([]float64, 2000)
	y := make([]float64, 2000)
	for i := range x {
		x[i], y[i] = float64(i), float64(i%100)
	}
	c := Chart{Title: "burst",
		Panel:   Panel{YLabel: "requests/s", Series: []Series{{Name: "demand", X: x, Y: y}}, Shades: []Shade{{Name: "overloaded", Spans: []Span{{10, 10.5}, {11, 12}, {1500, 1501}}}}},
		Below:   []Panel{{YLabel: "mutations/min", Series: []Series{{Name: "live", X: x, Y: y}}}, {YLabel: "delta", Series: []Series{{Name: "delta", X: x, Y: y}}}},
		Markers: []Marker{{X: 500, Label: "+3", Title: "launch"}, {X: 501, Label: "+1", Title: "launch"}},
	}
	s, root := render(t, c)
	clips := 0
	var rects []node
	root.walk(func(n node) {
		if n.XMLName.Local == "clipPath" {
			clips++
		}
		if n.XMLName.Local == "g" && n.attr("class") == "shade" {
			rects = append(rects, n.Children...)
		}
	})
	if clips != 3 {
		t.Errorf("%d plot areas, want 3", clips)
	}
	// A pixel is 2000/870 x units: 10-10.5 and 11-12 share a column (or
	// two), 1500-1501 has one of its own; each at least a pixel wide.
	if len(rects) < 2 || len(rects) > 3 {
		t.Fatalf("%d shaded runs, want 2 or 3", len(rects))
	}
	for _, r := range rects {
		if w, _ := strconv.ParseFloat(r.attr("width"), 64); w < 1 {
			t.Errorf("shaded column %v px wide, want at least 1", w)
		}
	}
	if got := regexp.MustCompile(`<line class="marker"`).FindAllStringIndex(s, -1); len(got) != 2*3 {
		t.Errorf("%d marker lines, want one per marker and panel (6)", len(got))
	}
	// Labels one pixel apart would overlap: only the first is written.
	if !strings.Contains(s, ">+3</text>") || strings.Contains(s, ">+1</text>") {
		t.Error("marker labels: want +3 written and the overlapping +1 left out")
	}
	for _, want := range []string{"requests/s", "mutations/min", "delta"} {
		if !strings.Contains(s, ">"+want+"</text>") {
			t.Errorf("panel label %q missing", want)
		}
	}
}

func TestDownsampleKeepsExtremes(t *testing.T) {
	x := make([]float64, 5000)
	y := make([]float64, 5000)
	for i := range x {
		x[i] = float64(i)
	}
	y[1234], y[4321] = 50, -50
	dx, dy := downsampleMinMax(x, y, 200)
	if len(dx) > 200 {
		t.Fatalf("%d points, want at most 200", len(dx))
	}
	var mx, mn float64
	for _, v := range dy {
		mx, mn = math.Max(mx, v), math.Min(mn, v)
	}
	if mx != 50 || mn != -50 {
		t.Fatalf("extremes lost: max %v min %v", mx, mn)
	}
	for i := 1; i < len(dx); i++ {
		if dx[i] < dx[i-1] {
			t.Fatal("downsampled x not in order")
		}
	}
}

func TestChartErrors(t *testing.T) {
	tests := map[string]Chart{
		"empty":          {Title: "e"},
		"length":         {Panel: Panel{Series: []Series{{X: []float64{1, 2}, Y: []float64{1}}}}},
		"band length":    {Panel: Panel{Bands: []Band{{X: []float64{1, 2}, Lo: []float64{1, 2}, Hi: []float64{1}}}}},
		"all NaN points": {Panel: Panel{Series: []Series{{X: []float64{1}, Y: []float64{math.NaN()}}}}},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			if err := c.SVG(io.Discard); err == nil {
				t.Fatal("SVG succeeded, want an error")
			}
		})
	}
}

// TestEmptyParts: a panel with nothing to draw says so; a chart with
// nothing to draw is left out of the page, which says so, and the rest of
// the report is written.
func TestEmptyParts(t *testing.T) {
	one := []Series{{Name: "s", X: []float64{0, 1}, Y: []float64{1, 2}}}
	nan := []Series{{Name: "delta", X: []float64{0, 1}, Y: []float64{math.NaN(), math.NaN()}}}
	s, _ := render(t, Chart{Title: "c", Panel: Panel{Series: one}, Below: []Panel{{YLabel: "delta", Series: nan}}})
	if !strings.Contains(s, ">no data</text>") {
		t.Error("the empty panel does not say so")
	}
	dir := t.TempDir()
	p := Page{Title: "t", Sections: []Section{{Figures: []Figure{
		{File: "a.svg", Chart: Chart{Title: "a", Panel: Panel{Series: one}}},
		{File: "b.svg", Chart: Chart{Title: "b", Panel: Panel{Series: nan}}},
	}}}}
	index, err := p.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(index)
	if !strings.Contains(string(page), `<img src="a.svg"`) || strings.Contains(string(page), `b.svg`) || !strings.Contains(string(page), "b: no data to draw.") {
		t.Errorf("page:\n%s", page)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.svg")); err == nil {
		t.Error("an empty chart's file was written")
	}
}

func TestPageWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	chart := func(title string) Chart {
		return Chart{Title: title, Panel: Panel{Series: []Series{{Name: "s", X: []float64{0, 1, 2}, Y: []float64{1, 3, 2}}}}}
	}
	p := Page{
		Title: "Simulation <report>",
		Notes: []string{"a note"},
		Sections: []Section{
			{Heading: "Results", Tables: []Table{{Header: []string{"policy", "overload_min", "change", "cost"}, Rows: [][]string{{"reactive", "12", "−94% / +0%", "546.12 (+54% / —)"}}}}},
			{Heading: "Charts", Figures: []Figure{{File: "capacity.svg", Caption: "demand vs capacity", Chart: chart("c")}, {File: "other.svg", Chart: chart("d")}}},
		},
	}
	index, err := p.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<img src="capacity.svg"`, `<figure id="other">`, "Simulation &lt;report&gt;", "<h2>Results</h2>", "<td>reactive</td>", `<td class="num">12</td>`, `<td class="num">−94% / &#43;0%</td>`, `<td class="num">546.12 (&#43;54% / —)</td>`, "demand vs capacity"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "capacity.svg"))
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, svg)

	tests := []struct {
		name, file, title, wantErr string
	}{
		{"path", "../x.svg", "x", "plain name"},
		{"not svg", "x.png", "x", "plain name"},
		{"no name", "", "x", "plain name"},
		{"file twice", "capacity.svg", "x", "used twice"},
		{"title twice", "x.svg", "c", `chart title "c" used twice`},
		{"no title", "x.svg", " ", "no title"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := p
			q.Sections = []Section{p.Sections[0], {Figures: []Figure{p.Sections[1].Figures[0], {File: tc.file, Chart: chart(tc.title)}}}}
			if _, err := q.Write(t.TempDir()); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Write: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestNiceTicks(t *testing.T) {
	got := niceTicks(0, 97, 5)
	if got[0] != 0 || got[len(got)-1] < 97 {
		t.Fatalf("ticks %v do not cover [0, 97]", got)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i] - got[i-1]; d != 20 {
			t.Fatalf("step %v, want 20 (ticks %v)", d, got)
		}
	}
}
