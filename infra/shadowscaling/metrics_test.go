package shadowscaling

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// emission is one metric the functions emit: its name and the names of
// its dimensions (sorted, comma-joined; "?" when the code builds them in a
// way this reader cannot follow).
type emission struct{ name, dims string }

// emittedMetrics reads the Go source under the repository's shared/ and
// functions/ (tests excluded) and returns every metric emitted through a
// metrics.Sink: calls whose first argument is a string literal and second
// a metrics unit (metrics.Count, ...), with their metrics.Dim arguments,
// by position of the call.
func emittedMetrics(t *testing.T) map[emission][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	out := map[emission][]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{"shared", "functions"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return fmt.Errorf("parsing %s: %w", path, err)
			}
			for e, where := range emissionsIn(fset, f) {
				out[e] = append(out[e], where...)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading the functions' source: %v", err)
		}
	}
	if len(out) == 0 {
		t.Fatal("no metric emission found in shared/ and functions/: the reader no longer matches the code")
	}
	return out
}

var metricUnits = map[string]bool{"Count": true, "Seconds": true, "Milliseconds": true, "CountPerSecond": true, "None": true}

// emissionsIn finds the emissions of one file. Dimensions come from
// metrics.Dim literals among the call's arguments, from variables a
// metrics.Dim literal was assigned to in the file, and, for a call of a
// local helper (a func literal assigned to a variable, e.g. the
// forecaster's finite), from the Add call inside that helper.
func emissionsIn(fset *token.FileSet, f *ast.File) map[emission][]string {
	dimVars := map[string]string{} // variable -> dimension name
	helpers := map[string][]ast.Expr{}
	ast.Inspect(f, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != len(as.Rhs) {
			return true
		}
		for i, lhs := range as.Lhs {
			id, ok := lhs.(*ast.Ident)
			if !ok {
				continue
			}
			if name, ok := dimLiteral(as.Rhs[i]); ok {
				dimVars[id.Name] = name
			}
			if fl, ok := as.Rhs[i].(*ast.FuncLit); ok {
				ast.Inspect(fl.Body, func(m ast.Node) bool {
					if call, ok := m.(*ast.CallExpr); ok && isAdd(call) && len(call.Args) >= 3 {
						helpers[id.Name] = call.Args[3:]
					}
					return true
				})
			}
		}
		return true
	})
	dimsOf := func(args []ast.Expr) string {
		var names []string
		for _, a := range args {
			if name, ok := dimLiteral(a); ok {
				names = append(names, name)
				continue
			}
			if id, ok := a.(*ast.Ident); ok && dimVars[id.Name] != "" {
				names = append(names, dimVars[id.Name])
				continue
			}
			return "?"
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	out := map[emission][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 3 {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		unit, ok := call.Args[1].(*ast.SelectorExpr)
		if !ok || !metricUnits[unit.Sel.Name] {
			return true
		}
		if pkg, ok := unit.X.(*ast.Ident); !ok || pkg.Name != "metrics" {
			return true
		}
		name, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		dims := dimsOf(call.Args[3:])
		if id, ok := call.Fun.(*ast.Ident); ok && len(call.Args) == 3 {
			if inner, ok := helpers[id.Name]; ok {
				dims = dimsOf(inner)
			}
		}
		e := emission{name, dims}
		out[e] = append(out[e], fset.Position(call.Pos()).String())
		return true
	})
	return out
}

func isAdd(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "Add"
}

// dimLiteral recognizes metrics.Dim{Name: "X", ...} and returns X.
func dimLiteral(e ast.Expr) (string, bool) {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	sel, ok := cl.Type.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Dim" {
		return "", false
	}
	for _, el := range cl.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
			if v, ok := kv.Value.(*ast.BasicLit); ok {
				if s, err := strconv.Unquote(v.Value); err == nil {
					return s, true
				}
			}
		}
	}
	return "", false
}

// usedMetric is a ShadowScale metric the template refers to, with its
// dimension names as the template gives them.
type usedMetric struct {
	name, dims, where string
}

var (
	searchRE  = regexp.MustCompile(`\{([^}]*)\}\s*MetricName="([^"]+)"`)
	insightRE = regexp.MustCompile(`SELECT\s+\w+\((\w+)\)\s+FROM\s+SCHEMA\(([^)]*)\)`)
)

// usedMetrics returns every metric of namespace ns that the template's
// dashboards and alarms use: metric arrays and SEARCH expressions of the
// dashboard body, alarms on one metric, metric-math alarms and Metrics
// Insights alarms.
func usedMetrics(t *testing.T, doc map[string]any, ns string) []usedMetric {
	t.Helper()
	var out []usedMetric
	dims := func(names []string) string {
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	fromExpression := func(expr, where string) {
		for _, m := range searchRE.FindAllStringSubmatch(expr, -1) {
			parts := strings.Split(m[1], ",")
			if strings.TrimSpace(parts[0]) != ns {
				continue
			}
			var names []string
			for _, p := range parts[1:] {
				names = append(names, strings.Trim(strings.TrimSpace(p), `"`))
			}
			out = append(out, usedMetric{m[2], dims(names), where + " SEARCH"})
		}
		for _, m := range insightRE.FindAllStringSubmatch(expr, -1) {
			parts := strings.Split(m[2], ",")
			if strings.Trim(strings.TrimSpace(parts[0]), `"`) != ns {
				continue
			}
			var names []string
			for _, p := range parts[1:] {
				names = append(names, strings.Trim(strings.TrimSpace(p), `"`))
			}
			out = append(out, usedMetric{m[1], dims(names), where + " Metrics Insights"})
		}
	}
	for id, r := range doc["Resources"].(map[string]any) {
		res := r.(map[string]any)
		p, _ := res["Properties"].(map[string]any)
		switch res["Type"] {
		case "AWS::CloudWatch::Dashboard":
			var body struct {
				Widgets []struct {
					Properties struct {
						Title   string  `json:"title"`
						Metrics [][]any `json:"metrics"`
					} `json:"properties"`
				} `json:"widgets"`
			}
			if err := json.Unmarshal([]byte(flat(p["DashboardBody"])), &body); err != nil {
				t.Fatalf("decoding the dashboard body: %v", err)
			}
			for _, w := range body.Widgets {
				where := fmt.Sprintf("dashboard %q", w.Properties.Title)
				for _, m := range w.Properties.Metrics {
					if len(m) == 0 {
						continue
					}
					if opts, ok := m[0].(map[string]any); ok {
						expr, _ := opts["expression"].(string)
						fromExpression(expr, where)
						continue
					}
					if len(m) < 2 || m[0] != ns {
						continue
					}
					name, _ := m[1].(string)
					var names []string
					for i := 2; i+1 < len(m); i += 2 {
						if s, ok := m[i].(string); ok {
							names = append(names, s)
						}
					}
					out = append(out, usedMetric{name, dims(names), where})
				}
			}
		case "AWS::CloudWatch::Alarm":
			where := "alarm " + id
			dimNames := func(v any) []string {
				var names []string
				for _, d := range asAnyList(v) {
					names = append(names, d.(map[string]any)["Name"].(string))
				}
				return names
			}
			if p["Namespace"] == ns {
				out = append(out, usedMetric{p["MetricName"].(string), dims(dimNames(p["Dimensions"])), where})
			}
			for _, q := range asAnyList(p["Metrics"]) {
				qm := q.(map[string]any)
				if expr, ok := qm["Expression"].(string); ok {
					fromExpression(expr, where)
				}
				if ms, ok := qm["MetricStat"].(map[string]any); ok {
					m := ms["Metric"].(map[string]any)
					if m["Namespace"] == ns {
						out = append(out, usedMetric{m["MetricName"].(string), dims(dimNames(m["Dimensions"])), where})
					}
				}
			}
		}
	}
	return out
}

// unknownMetrics returns, for every used metric the functions do not emit
// with exactly those dimensions, why.
func unknownMetrics(used []usedMetric, emitted map[emission][]string) []string {
	byName := map[string][]string{}
	for e := range emitted {
		byName[e.name] = append(byName[e.name], e.dims)
	}
	var out []string
	for _, u := range used {
		sets, ok := byName[u.name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: %s is emitted by no function", u.where, u.name))
		case !contains(sets, u.dims) && !contains(sets, "?"):
			out = append(out, fmt.Sprintf("%s: %s with dimensions [%s], but the functions emit it with %q", u.where, u.name, u.dims, sets))
		}
	}
	sort.Strings(out)
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestDashboardAndAlarmMetricsAreEmitted: every ShadowScale metric of the
// dashboard and the alarms (the demo stack: named groups, SEARCH over
// every group, Metrics Insights) is one the functions emit, with exactly
// the dimensions they emit it with: a metric nobody emits is a widget
// that stays empty and an alarm that can never fire.
func TestDashboardAndAlarmMetricsAreEmitted(t *testing.T) {
	emitted := emittedMetrics(t)
	for e, where := range emitted {
		if e.dims == "?" {
			t.Logf("dimensions of %s not readable from the code (%s): only its name is checked", e.name, where[0])
		}
	}
	s := demo(t)
	used := usedMetrics(t, s.doc, Namespace)
	if len(used) < 20 {
		t.Fatalf("found only %d metric uses in the dashboard and alarms: the reader no longer matches the template", len(used))
	}
	for _, bad := range unknownMetrics(used, emitted) {
		t.Error(bad)
	}
	// What the functions emit that no widget shows (information only).
	shown := map[string]bool{}
	for _, u := range used {
		shown[u.name] = true
	}
	for e := range emitted {
		if !shown[e.name] {
			t.Logf("not on the dashboard: %s [%s]", e.name, e.dims)
		}
	}
}

// TestUnknownMetricsIsReported proves the check above can fail: a widget
// on a metric nobody emits, one with the wrong dimensions, a SEARCH and a
// Metrics Insights alarm on unknown metrics.
func TestUnknownMetricsIsReported(t *testing.T) {
	emitted := map[emission][]string{{"MutationsApplied", "Group,Target"}: {"x"}, {"FanoutErrors", ""}: {"y"}}
	body, err := json.Marshal(map[string]any{"widgets": []any{map[string]any{"properties": map[string]any{"title": "w", "metrics": []any{
		[]any{"ShadowScale", "MutationsApplied", "Group", "web", "Target", "live"},
		[]any{"ShadowScale", "MutationsApplied", "Group", "web"},
		[]any{"ShadowScale", "ShadowSyncLagSeconds", "Group", "web"},
		[]any{"AWS/Lambda", "Errors", "FunctionName", "f"},
		[]any{map[string]any{"expression": `SEARCH('{ShadowScale,Group} MetricName="Nope"', 'Sum', 60)`}},
	}}}}})
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"Resources": map[string]any{
		"D": map[string]any{"Type": "AWS::CloudWatch::Dashboard", "Properties": map[string]any{"DashboardBody": string(body)}},
		"A": map[string]any{"Type": "AWS::CloudWatch::Alarm", "Properties": map[string]any{"Metrics": []any{
			map[string]any{"Id": "q", "Expression": `SELECT MAX(Gone) FROM SCHEMA("ShadowScale", "Group")`}}}},
		"B": map[string]any{"Type": "AWS::CloudWatch::Alarm", "Properties": map[string]any{"Namespace": "ShadowScale", "MetricName": "FanoutErrors"}},
	}}
	got := unknownMetrics(usedMetrics(t, doc, Namespace), emitted)
	want := []string{"Gone is emitted by no function", "MutationsApplied with dimensions [Group]", "Nope is emitted by no function",
		"ShadowSyncLagSeconds is emitted by no function"}
	if len(got) != len(want) {
		t.Fatalf("reported %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.Contains(g, w)
		}
		if !found {
			t.Errorf("not reported: %s (got %q)", w, got)
		}
	}
}

// TestEmissionsReader checks the source reader on a file written the way
// the functions write their metrics.
func TestEmissionsReader(t *testing.T) {
	src := `package p
func f(h H, g string) {
	gd := metrics.Dim{Name: "Group", Value: g}
	finite := func(name string, u metrics.Unit, v float64) { h.metrics.Add(name, u, v, gd) }
	finite("Delta", metrics.None, 1)
	h.metrics.Add("Decisions", metrics.Count, 1, gd, metrics.Dim{Name: "Action", Value: "a"})
	h.metrics.Add("ReconcileFailures", metrics.Count, 2)
	h.metrics.Add("Odd", metrics.Count, 2, dims...)
	h.metrics.Add(name, metrics.Count, 2)
	other.Add("NotAMetric", 3, 4)
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for e := range emissionsIn(fset, f) {
		got[e.name] = e.dims
	}
	want := map[string]string{"Delta": "Group", "Decisions": "Action,Group", "ReconcileFailures": "", "Odd": "?"}
	if len(got) != len(want) {
		t.Errorf("emissions %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: dimensions %q, want %q", k, got[k], v)
		}
	}
}
