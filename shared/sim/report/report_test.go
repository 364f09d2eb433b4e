package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
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
		Title: "demand <&> capacity", XLabel: "time", YLabel: "load", Start: time.Date(2014, 4, 10, 0, 0, 0, 0, time.UTC),
		Series:  []Series{{Name: "demand", X: x, Y: y}, {Name: "capacity", X: x, Y: hi, Step: true, Dashed: true}},
		Bands:   []Band{{Name: "P10-P90", X: x, Lo: lo, Hi: hi}},
		Markers: []Marker{{X: 5000, Label: "launch 2 <because>"}},
	}
	var buf bytes.Buffer
	if err := c.SVG(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	wellFormed(t, out)
	s := string(out)
	for _, want := range []string{"demand &lt;&amp;&gt; capacity", "P10-P90", "capacity", "Apr 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if len(out) > 400_000 {
		t.Errorf("SVG is %d bytes: downsampling did not bound it", len(out))
	}
	// The y axis reaches the spike: a tick at or above 999 exists.
	if !strings.Contains(s, ">1000<") {
		t.Errorf("y axis does not reach the spike of 999")
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
		"length":         {Series: []Series{{X: []float64{1, 2}, Y: []float64{1}}}},
		"band length":    {Bands: []Band{{X: []float64{1, 2}, Lo: []float64{1, 2}, Hi: []float64{1}}}},
		"all NaN points": {Series: []Series{{X: []float64{1}, Y: []float64{math.NaN()}}}},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			if err := c.SVG(io.Discard); err == nil {
				t.Fatal("SVG succeeded, want an error")
			}
		})
	}
}

func TestPageWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	chart := Chart{Title: "c", Series: []Series{{Name: "s", X: []float64{0, 1, 2}, Y: []float64{1, 3, 2}}}}
	p := Page{
		Title:   "Simulation <report>",
		Notes:   []string{"a note"},
		Tables:  []Table{{Header: []string{"policy", "overload_min"}, Rows: [][]string{{"reactive", "12"}}}},
		Figures: []Figure{{File: "capacity.svg", Caption: "demand vs capacity", Chart: chart}},
	}
	index, err := p.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<img src="capacity.svg"`, "Simulation &lt;report&gt;", "<td>reactive</td>", "demand vs capacity"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "capacity.svg"))
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, svg)

	for _, bad := range []string{"../x.svg", "x.png", ""} {
		p.Figures[0].File = bad
		if _, err := p.Write(dir); err == nil {
			t.Errorf("Write accepted figure file %q", bad)
		}
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
