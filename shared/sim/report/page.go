package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Table is a table of the page. Cells that read as numbers (figures,
// changes such as "−95% / +56%") are right-aligned, text left.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

// Figure is one chart of the page, written to its own SVG file.
type Figure struct {
	File    string // base name, e.g. "capacity.svg"
	Caption string
	Chart   Chart
}

// Section is a headed part of the page: notes, then tables, then figures.
type Section struct {
	Heading string
	Notes   []string
	Tables  []Table
	Figures []Figure
}

// Page is the report: a title, notes and sections.
type Page struct {
	Title    string
	Notes    []string
	Sections []Section
}

// Figures returns every figure of the page, in order.
func (p Page) Figures() []Figure {
	var out []Figure
	for _, s := range p.Sections {
		out = append(out, s.Figures...)
	}
	return out
}

var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.svg$`)

// Write creates dir (if needed) and writes every figure as an SVG file and
// the page as index.html. It returns the path of index.html. Figure files
// and chart titles must be unique: a reader tells the charts apart by
// their titles.
func (p Page) Write(dir string) (string, error) {
	files, titles := map[string]bool{}, map[string]bool{}
	for _, f := range p.Figures() {
		if !fileName.MatchString(f.File) {
			return "", fmt.Errorf("figure file name %q: want a plain name ending in .svg", f.File)
		}
		if files[f.File] {
			return "", fmt.Errorf("figure file name %q used twice", f.File)
		}
		files[f.File] = true
		if strings.TrimSpace(f.Chart.Title) == "" {
			return "", fmt.Errorf("figure %s has no title", f.File)
		}
		if titles[f.Chart.Title] {
			return "", fmt.Errorf("chart title %q used twice", f.Chart.Title)
		}
		titles[f.Chart.Title] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating report folder: %w", err)
	}
	// A chart with nothing to draw (a degenerate trace) is left out, its
	// figure saying so, rather than failing the report.
	view := pageView{Title: p.Title, Notes: p.Notes}
	for _, sec := range p.Sections {
		sv := sectionView{Section: sec}
		for _, f := range sec.Figures {
			err := writeSVG(filepath.Join(dir, f.File), f.Chart)
			if err != nil && !errors.Is(err, ErrEmpty) {
				return "", err
			}
			sv.Figures = append(sv.Figures, figureView{Figure: f, Empty: err != nil})
		}
		view.Sections = append(view.Sections, sv)
	}
	index := filepath.Join(dir, "index.html")
	out, err := os.Create(index)
	if err != nil {
		return "", fmt.Errorf("writing report page: %w", err)
	}
	if err := pageTmpl.Execute(out, view); err != nil {
		out.Close()
		return "", fmt.Errorf("writing report page: %w", err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("writing report page: %w", err)
	}
	return index, nil
}

type pageView struct {
	Title    string
	Notes    []string
	Sections []sectionView
}

type sectionView struct {
	Section
	Figures []figureView
}

type figureView struct {
	Figure
	Empty bool
}

// writeSVG draws c into path (in memory first: nothing is left of a chart
// that cannot be drawn).
func writeSVG(path string, c Chart) error {
	var buf bytes.Buffer
	if err := c.SVG(&buf); err != nil {
		return fmt.Errorf("drawing chart %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	return nil
}

// numeric matches cells that read as figures: numbers, percentages and
// changes ("−94% / +0%"), a dash for none, or a figure with its changes
// in brackets ("122 (−94% / 0%)").
var numeric = func() *regexp.Regexp {
	fig := `(?:[-+−]?[0-9][0-9.,]*%?|n/a|—|-)`
	figs := fig + `(?:\s*/\s*` + fig + `)*`
	return regexp.MustCompile(`^` + figs + `(?:\s*\(` + figs + `\))?$`)
}()

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"num":  func(s string) bool { return numeric.MatchString(strings.TrimSpace(s)) },
	"stem": func(s string) string { return strings.TrimSuffix(s, ".svg") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;white-space:nowrap}td:first-child{white-space:nowrap}caption{text-align:left;font-weight:bold;padding:.3em 0}
figure{margin:2em 0}figcaption{color:#555;margin-top:.4em}img{max-width:100%;height:auto;display:block}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Notes}}<p>{{.}}</p>
{{end}}{{range .Sections}}<section>{{if .Heading}}<h2>{{.Heading}}</h2>{{end}}
{{range .Notes}}<p>{{.}}</p>
{{end}}{{range .Tables}}<table>{{if .Caption}}<caption>{{.Caption}}</caption>{{end}}
{{if .Header}}<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{end}}{{range .Rows}}<tr>{{range .}}<td{{if num .}} class="num"{{end}}>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{range .Figures}}{{if .Empty}}<p class="empty">{{.Chart.Title}}: no data to draw.</p>{{else}}<figure id="{{stem .File}}"><img src="{{.File}}" alt="{{.Chart.Title}}"><figcaption>{{.Caption}}</figcaption></figure>{{end}}
{{end}}</section>
{{end}}</body></html>
`))
