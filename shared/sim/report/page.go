package report

import (
	"errors"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
)

// Table is a summary table.
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

// Page is the report: a title, notes, tables and figures.
type Page struct {
	Title   string
	Notes   []string
	Tables  []Table
	Figures []Figure
}

var fileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.svg$`)

// Write creates dir (if needed) and writes every figure as an SVG file and
// the page as index.html. It returns the path of index.html.
func (p Page) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating report folder: %w", err)
	}
	seen := map[string]bool{}
	for _, f := range p.Figures {
		if !fileName.MatchString(f.File) {
			return "", fmt.Errorf("figure file name %q: want a plain name ending in .svg", f.File)
		}
		if seen[f.File] {
			return "", fmt.Errorf("figure file name %q used twice", f.File)
		}
		seen[f.File] = true
		if err := writeSVG(filepath.Join(dir, f.File), f.Chart); err != nil {
			return "", err
		}
	}
	index := filepath.Join(dir, "index.html")
	out, err := os.Create(index)
	if err != nil {
		return "", fmt.Errorf("writing report page: %w", err)
	}
	if err := pageTmpl.Execute(out, p); err != nil {
		out.Close()
		return "", fmt.Errorf("writing report page: %w", err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("writing report page: %w", err)
	}
	return index, nil
}

func writeSVG(path string, c Chart) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("writing chart %s: %w", path, cerr)
		}
	}()
	if err := c.SVG(f); err != nil {
		return fmt.Errorf("drawing chart %s: %w", filepath.Base(path), errors.Unwrap(err))
	}
	return nil
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
figure{margin:2em 0}figcaption{color:#555;margin-top:.4em}img{max-width:100%}
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Notes}}<p>{{.}}</p>
{{end}}{{range .Tables}}<table>{{if .Caption}}<caption>{{.Caption}}</caption>{{end}}
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{range .Figures}}<figure><img src="{{.File}}" alt="{{.Chart.Title}}"><figcaption>{{.Caption}}</figcaption></figure>
{{end}}</body></html>
`))
