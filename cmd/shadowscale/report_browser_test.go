//go:build browser

// The simulation report in a real headless browser (Debian's chromium):
// `make report-check`, or
//
//	go test -tags browser -count=1 -run TestReportInABrowser ./cmd/shadowscale/
//
// CHROMIUM names the browser (default: chromium on the PATH). With
// SHADOWSCALE_REPORT_CHECK_OUT set, the report, the screenshot and the
// browser's views of them are kept in that folder.
package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on the PATH: install Debian's (apt-get install chromium) or set CHROMIUM")
	return ""
}

// chromium runs the browser headless with args and returns its stdout.
func chromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

var (
	figureRe = regexp.MustCompile(`(?s)<figure\b[^>]*>(.*?)</figure>`)
	imgRe    = regexp.MustCompile(`<img\b[^>]*>`)
	attrRe   = regexp.MustCompile(`\b(src|alt)="([^"]*)"`)
)

// svgDoc is what the test reads of a chart file.
type svgDoc struct {
	XMLName xml.Name
	Width   string `xml:"width,attr"`
	Height  string `xml:"height,attr"`
	Title   string `xml:"title"`
}

// parseSVG checks that b is well-formed XML with an svg root of a size,
// and returns it.
func parseSVG(b []byte) (svgDoc, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return svgDoc{}, fmt.Errorf("not well-formed XML: %w", err)
		}
	}
	var doc svgDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		return doc, err
	}
	if doc.XMLName.Local != "svg" {
		return doc, fmt.Errorf("root element %q, want svg", doc.XMLName.Local)
	}
	if w, _ := strconv.Atoi(doc.Width); w <= 0 {
		return doc, fmt.Errorf("width %q", doc.Width)
	}
	if h, _ := strconv.ParseFloat(doc.Height, 64); h <= 0 {
		return doc, fmt.Errorf("height %q", doc.Height)
	}
	return doc, nil
}

func TestReportInABrowser(t *testing.T) {
	bin := chromiumPath(t)
	work := t.TempDir()
	if keep := os.Getenv("SHADOWSCALE_REPORT_CHECK_OUT"); keep != "" {
		if err := os.RemoveAll(keep); err != nil {
			t.Fatal(err)
		}
		work = keep
	}
	out := filepath.Join(work, "report")
	path := writeTrace(t, "wave.csv", 3*288, 5*time.Minute, wave)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"simulate", "--quiet", "--trace", path, "--out", out, "--sample-every", "50"}, &stdout, &stderr); code != 0 {
		t.Fatalf("simulate: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	index := filepath.Join(out, "index.html")
	pageURL := "file://" + index

	// (a) The DOM as chromium built it: one image per figure, each a chart
	// of the report, each chart file well-formed SVG with its title.
	dom := chromium(t, bin, "--dump-dom", pageURL)
	if err := os.WriteFile(filepath.Join(work, "dom.html"), dom, 0o644); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dom, []byte("<h1>shadowscale simulation: wave.csv</h1>")) {
		t.Fatalf("the DOM is not the report's:\n%.500s", dom)
	}
	figures := figureRe.FindAllSubmatch(dom, -1)
	var srcs []string
	titles := map[string]bool{}
	for i, f := range figures {
		imgs := imgRe.FindAll(f[1], -1)
		if len(imgs) != 1 {
			t.Errorf("figure %d has %d images, want 1", i+1, len(imgs))
			continue
		}
		attrs := map[string]string{}
		for _, m := range attrRe.FindAllSubmatch(imgs[0], -1) {
			attrs[string(m[1])] = html.UnescapeString(string(m[2]))
		}
		src, alt := attrs["src"], attrs["alt"]
		srcs = append(srcs, src)
		b, err := os.ReadFile(filepath.Join(out, filepath.Base(src)))
		if err != nil || filepath.Base(src) != src {
			t.Errorf("figure %d: image %q: %v", i+1, src, err)
			continue
		}
		doc, err := parseSVG(b)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if doc.Title != alt || alt == "" {
			t.Errorf("%s: title %q, the page's alt text %q", src, doc.Title, alt)
		}
		if titles[alt] {
			t.Errorf("chart title %q twice", alt)
		}
		titles[alt] = true
	}
	got, want := slices.Sorted(slices.Values(srcs)), slices.Sorted(slices.Values(wantFigures))
	if !slices.Equal(got, want) {
		t.Errorf("the DOM's figures show %v, want %v", got, want)
	}

	// The browser loads and decodes every chart: a page of the charts as
	// images, reporting each one's natural size (an SVG the browser cannot
	// render fails to load).
	var list strings.Builder
	for _, s := range srcs {
		fmt.Fprintf(&list, "%q,", s)
	}
	check := `<!doctype html><html><body><script>
const srcs = [` + list.String() + `];
const out = [];
function done() {
  if (out.length < srcs.length) return;
  const p = document.createElement("pre");
  p.id = "result";
  p.textContent = out.sort().join("\n");
  document.body.appendChild(p);
}
for (const s of srcs) {
  const im = new Image();
  im.onload = () => { out.push(s + " " + im.naturalWidth + "x" + im.naturalHeight); done(); };
  im.onerror = () => { out.push(s + " error"); done(); };
  im.src = s;
}
</script></body></html>`
	checkPage := filepath.Join(out, "browser-check.html")
	if err := os.WriteFile(checkPage, []byte(check), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded := chromium(t, bin, "--virtual-time-budget=10000", "--dump-dom", "file://"+checkPage)
	m := regexp.MustCompile(`(?s)<pre id="result">(.*?)</pre>`).FindSubmatch(loaded)
	if m == nil {
		t.Fatalf("the image check did not finish:\n%s", loaded)
	}
	lines := strings.Split(strings.TrimSpace(string(m[1])), "\n")
	if len(lines) != len(srcs) {
		t.Errorf("%d images reported, want %d", len(lines), len(srcs))
	}
	for _, l := range lines {
		name, size, _ := strings.Cut(l, " ")
		w, h, ok := strings.Cut(size, "x")
		wi, _ := strconv.Atoi(w)
		hi, _ := strconv.Atoi(h)
		if !ok || wi < 600 || hi < 200 {
			t.Errorf("chromium did not load %s as a chart: %q", name, size)
		}
	}

	// (b) A screenshot of the page: it decodes and shows more than a blank
	// page (text, tables and charts in colour).
	shot := filepath.Join(work, "report.png")
	chromium(t, bin, "--screenshot="+shot, "--window-size=1280,4000", pageURL)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 4000 {
		t.Errorf("screenshot is %dx%d, want 1280x4000", b.Dx(), b.Dy())
	}
	colours, inked, coloured := pixels(img)
	total := img.Bounds().Dx() * img.Bounds().Dy()
	t.Logf("screenshot %s: %d colours, %.1f%% not white, %.2f%% in colour", shot, colours, 100*float64(inked)/float64(total), 100*float64(coloured)/float64(total))
	if colours < 64 || float64(inked) < 0.02*float64(total) || float64(coloured) < 0.002*float64(total) {
		t.Errorf("the screenshot looks blank: %d colours, %d of %d pixels not white, %d in colour", colours, inked, total, coloured)
	}
}

// pixels counts an image's distinct colours, its pixels that are not
// white, and those in colour (not grey: the charts' lines and shading).
func pixels(img image.Image) (colours, inked, coloured int) {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			seen[r<<16|g<<8|bl] = true
			if r < 245 || g < 245 || bl < 245 {
				inked++
			}
			if max(r, g, bl)-min(r, g, bl) > 40 {
				coloured++
			}
		}
	}
	return len(seen), inked, coloured
}
