package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/attrib-engine/attrib/internal/testenv"
)

// The operator's files these tests check, relative to the repository root.
const (
	promDir         = "deploy/prometheus"
	alertRules      = "deploy/prometheus/rules/alerts.yml"
	recordingRules  = "deploy/prometheus/rules/recording.yml"
	alertTests      = "deploy/prometheus/tests/alerts_test.yml"
	promConfig      = "deploy/prometheus/prometheus.yml"
	grafanaDir      = "deploy/grafana"
	grafanaBoard    = "deploy/grafana/dashboards/attrib.json"
	datasourceInput = "${datasource}"
)

// repoRoot is the repository's root as seen from this package's directory,
// where go test runs.
const repoRoot = "../.."

// promtool runs promtool in the repository's root and fails the test with
// its output when it fails or is missing.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (the Debian package prometheus; bash deploy/local/stack.sh install installs it): %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(repoRoot, f)
	}
	return files
}

// TestPrometheusRulesPassPromtool checks the rules and the example
// configuration, and runs the rules' unit tests, with promtool.
func TestPrometheusRulesPassPromtool(t *testing.T) {
	promtool(t, append([]string{"check", "rules"}, glob(t, promDir+"/rules/*.yml")...)...)
	promtool(t, "check", "config", promConfig)
	promtool(t, append([]string{"test", "rules"}, glob(t, promDir+"/tests/*.yml")...)...)
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readRules(t *testing.T, path string) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, path, &f)
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", path)
	}
	return rules
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readmeSection finds the README.md sections an annotation names, as in
// (README.md, "Operations > Health and metrics" and "Production").
var readmeSection = regexp.MustCompile(`README\.md, ((?:"[^"]+"(?: and )?)+)\)`)

// TestAlertRulesAreOperable: every alert has a severity, a summary and a
// description that names README sections that exist, waits before firing,
// and has a promtool test that fires it and one that shows it silent.
func TestAlertRulesAreOperable(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if h := strings.TrimLeft(line, "#"); h != line && strings.HasPrefix(h, " ") {
			headings[strings.TrimSpace(h)] = true
		}
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, alertTests, &tests)
	fired, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				fired[at.Alertname] = true
			} else {
				silent[at.Alertname] = true
			}
		}
	}
	for _, r := range readRules(t, alertRules) {
		if r.Alert == "" {
			t.Errorf("%s: a rule without alert (%q): recording rules belong in %s", alertRules, r.Record, recordingRules)
			continue
		}
		t.Run(r.Alert, func(t *testing.T) {
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("labels.severity = %q, want critical or warning", s)
			}
			if d, err := time.ParseDuration(r.For); err != nil || d < time.Minute {
				t.Errorf("for = %q, want at least 1m so that one bad scrape does not page", r.For)
			}
			if r.Annotations["summary"] == "" {
				t.Error("annotations.summary is empty")
			}
			m := readmeSection.FindStringSubmatch(r.Annotations["description"])
			if m == nil {
				t.Errorf("annotations.description names no README section (README.md, \"Section > Subsection\"): %q", r.Annotations["description"])
			} else {
				for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(m[1], -1) {
					for _, h := range strings.Split(q[1], " > ") {
						if !headings[h] {
							t.Errorf("annotations.description names README section %q, which README.md has no heading for", h)
						}
					}
				}
			}
			if !fired[r.Alert] {
				t.Errorf("%s has no test in which it fires", alertTests)
			}
			if !silent[r.Alert] {
				t.Errorf("%s has no test in which it stays silent (exp_alerts: [])", alertTests)
			}
		})
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, grafanaBoard))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", grafanaBoard, err)
	}
	return d
}

// panels returns the dashboard's panels, those of collapsed rows included.
func (d dashboard) panels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// queries returns every PromQL expression of the dashboard: its panels'
// targets and its query variables' label_values(metric, label) (as the
// metric alone, the part that names something).
func (d dashboard) queries(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s: variable %s: query: %v", grafanaBoard, v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("%s: variable %s: query %q is not label_values(metric, label)", grafanaBoard, v.Name, q.Query)
		}
		out = append(out, m[1])
	}
	return out
}

// TestGrafanaDashboardIsImportable: the dashboard parses, asks for its
// Prometheus data source as a variable, and every panel has a title and,
// rows aside, a PromQL target on that data source; the provisioning
// examples parse.
func TestGrafanaDashboardIsImportable(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q, uid %q: want both", d.Title, d.UID)
	}
	hasDatasource := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && string(v.Query) == `"prometheus"` {
			hasDatasource = true
		}
	}
	if !hasDatasource {
		t.Errorf("templating lacks the variable datasource of type datasource, query prometheus")
	}
	ids := map[int]string{}
	for _, p := range d.panels() {
		if p.Title == "" {
			t.Errorf("panel %d (%s) has no title", p.ID, p.Type)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != datasourceInput {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, datasourceInput)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no target", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
				t.Errorf("panel %q: target %q has no expr", p.Title, tg.RefID)
			}
			if tg.Datasource == nil || tg.Datasource.UID != datasourceInput {
				t.Errorf("panel %q: target %q datasource %+v, want uid %s", p.Title, tg.RefID, tg.Datasource, datasourceInput)
			}
		}
	}
	for _, f := range glob(t, grafanaDir+"/provisioning/*/*.yaml") {
		var v struct {
			APIVersion int `yaml:"apiVersion"`
		}
		readYAML(t, f, &v)
		if v.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", f, v.APIVersion)
		}
	}
}

// grafanaVars replaces the dashboard's variables with values Prometheus
// accepts, so that its queries can be checked as PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "${instance}", ".*", "$instance", ".*")

// TestGrafanaQueriesParse: promtool accepts every query of the dashboard
// (its variables replaced), as the expression of a recording rule.
func TestGrafanaQueriesParse(t *testing.T) {
	type recording struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string      `yaml:"name"`
		Rules []recording `yaml:"rules"`
	}
	g := group{Name: "dashboard"}
	for i, q := range readDashboard(t).queries(t) {
		expr := grafanaVars.Replace(q)
		if strings.Contains(expr, "$") {
			t.Fatalf("query %q uses a variable this test does not replace", q)
		}
		g.Rules = append(g.Rules, recording{Record: "dashboard:query:" + strconv.Itoa(i), Expr: expr})
	}
	b, err := yaml.Marshal(map[string][]group{"groups": {g}})
	if err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join(t.TempDir(), "dashboard.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", path)
}

// Metric names in PromQL are found by a scan rather than by Prometheus's
// own parser (github.com/prometheus/prometheus/promql/parser), which would
// pull the whole Prometheus server module into go.mod for a test. The scan
// is enough for the expressions we write: after dropping strings, Grafana
// variables, range and subquery brackets and the label lists of grouping
// clauses, an identifier is a function or aggregation when "(" follows it,
// a keyword when it is one, and a metric name otherwise. A name's label
// matchers are read before the braces are dropped. TestPromQLNames pins
// this down.
var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	grafanaVar     = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?`)
	promqlRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlSelector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}`)
	promqlMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promqlIdent    = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:.])([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
)

// promqlNames returns the metric names expr selects and, for each, the
// label names its matchers use.
func promqlNames(expr string) map[string][]string {
	names := map[string][]string{}
	// Strings become an empty placeholder that contains no identifier and
	// no brace, so matchers keep their shape.
	s := promqlString.ReplaceAllString(expr, `""`)
	s = grafanaVar.ReplaceAllString(s, "")
	s = promqlRange.ReplaceAllString(s, "")
	s = promqlGrouping.ReplaceAllString(s, "")
	s = promqlSelector.ReplaceAllStringFunc(s, func(sel string) string {
		m := promqlSelector.FindStringSubmatch(sel)
		name, labels := m[1], []string{}
		for _, lm := range promqlMatcher.FindAllStringSubmatch(m[2], -1) {
			if lm[1] == "__name__" {
				continue
			}
			labels = append(labels, lm[1])
		}
		if name != "" {
			names[name] = append(names[name], labels...)
		}
		return " "
	})
	for _, loc := range promqlIdent.FindAllStringSubmatchIndex(s, -1) {
		id := s[loc[2]:loc[3]]
		rest := strings.TrimLeft(s[loc[3]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promqlKeywords[strings.ToLower(id)] {
			continue
		}
		if _, ok := names[id]; !ok {
			names[id] = nil
		}
	}
	return names
}

// TestPromQLNames: the scan finds the metric names and matcher labels of
// the shapes of expression the rules and the dashboard use, and nothing
// else.
func TestPromQLNames(t *testing.T) {
	cases := []struct {
		name string
		expr string
		want map[string][]string
	}{
		{"bare name", `up`, map[string][]string{"up": nil}},
		{"matchers and a Grafana variable", `up{job=~"attrib.*", instance=~"$instance"} == 0`,
			map[string][]string{"up": {"job", "instance"}}},
		{"string holding a name and braces", `x_total{route="GET /v1/{offer_id}", code!~"5.. or y_total"}`,
			map[string][]string{"x_total": {"route", "code"}}},
		{"rate, range and Grafana interval", `sum by (group, topic) (rate(a_total{g="x"}[$__rate_interval]))`,
			map[string][]string{"a_total": {"g"}}},
		{"histogram quantile over buckets", `histogram_quantile(0.99, sum by (route, le) (rate(h_seconds_bucket[5m])))`,
			map[string][]string{"h_seconds_bucket": nil}},
		{"binary operators, on, numbers", "sum by (g) (a) > 1e3\nand on (g)\nsum by (g) (deriv(b[15m])) > 0.5",
			map[string][]string{"a": nil, "b": nil}},
		{"or with a zero vector, offset", `(c or 0 * d offset 5m) / sum without (instance) (e)`,
			map[string][]string{"c": nil, "d": nil, "e": nil}},
		{"recorded name", `attrib:x:rate5m{quantile="0.5"}`, map[string][]string{"attrib:x:rate5m": {"quantile"}}},
		{"aggregation after its argument", `sum(rate(f_total[5m])) by (kind)`, map[string][]string{"f_total": nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := promqlNames(tc.expr)
			if len(got) != len(tc.want) {
				t.Fatalf("promqlNames(%q) = %v, want %v", tc.expr, got, tc.want)
			}
			for n, labels := range tc.want {
				g, ok := got[n]
				if !ok || !slices.Equal(g, labels) && !(len(g) == 0 && len(labels) == 0) {
					t.Errorf("promqlNames(%q)[%q] = %v (present %v), want %v", tc.expr, n, g, ok, labels)
				}
			}
		})
	}
}

// registered is what a registry describes: metric name -> variable labels.
type registered map[string][]string

var (
	descName   = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*")`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}\}$`)
)

// describe collects every metric reg describes: Describe, unlike a scrape,
// includes vectors that no label set has been observed for yet.
func describe(t *testing.T, reg *prometheus.Registry) registered {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	out := registered{}
	for d := range ch {
		s := d.String()
		m := descName.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("unexpected Desc form %s", s)
		}
		name, err := strconv.Unquote(m[1])
		if err != nil {
			t.Fatalf("Desc %s: %v", s, err)
		}
		var labels []string
		if l := descLabels.FindStringSubmatch(s); l != nil && l[1] != "" {
			for _, v := range strings.Split(l[1], ",") {
				labels = append(labels, strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"))
			}
		}
		out[name] = labels
	}
	return out
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"instance", "job"}

// check reports a name the registry does not have, or a matcher label the
// metric does not carry. A _bucket, _sum or _count name is a histogram's
// series (the registry describes the histogram under its base name only;
// that the base is a histogram and not a counter is left to promtool's
// tests of the quantile rules). up is Prometheus's own.
func (r registered) check(name string, labels []string, recorded map[string]bool) string {
	if recorded[name] {
		return ""
	}
	if name == "up" {
		return ""
	}
	known, ok := r[name]
	if !ok {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, cut := strings.CutSuffix(name, suffix); cut {
				if known, ok = r[base]; ok {
					if suffix == "_bucket" {
						known = append(slices.Clone(known), "le")
					}
					break
				}
			}
		}
	}
	if !ok {
		return "metric " + name + " is not registered by attrib serve"
	}
	for _, l := range labels {
		if !slices.Contains(known, l) && !slices.Contains(targetLabels, l) {
			return "metric " + name + " has no label " + l + " (it has " + strings.Join(known, ", ") + ")"
		}
	}
	return ""
}

// serveRegistry runs `attrib serve` with every component against the test
// servers until it is ready and returns the registry of its metrics; the
// engine stops at the end of the test.
func serveRegistry(t *testing.T) *prometheus.Registry {
	t.Helper()
	chURL, _, _ := ownClickHouseDatabase(t)
	httpAddr := freeAddr(t)
	cfg := newConfig()
	fs := flag.NewFlagSet("attrib serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.bind(fs, env(nil))
	args := []string{"--http-addr", httpAddr, "--data-dir", t.TempDir(), "--embedded-kafka-addr", "127.0.0.1:0",
		"--redis-url", testenv.RedisURL(t), "--redis-prefix", testenv.UniqueName("t:") + ":", "--clickhouse-url", chURL}
	if _, err := parseInterspersed(fs, args); err != nil {
		t.Fatal(err)
	}
	ec, err := cfg.parse()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	reg, comps, err := newServe(ctx, ec, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runGroup(ctx, log, comps) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return reg
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped before ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 60s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOpsMetricsAreRegistered: every metric the alert and recording rules
// and the dashboard name is one `attrib serve` registers, with the labels
// their matchers use; recorded names must be recorded by recording.yml.
func TestOpsMetricsAreRegistered(t *testing.T) {
	reg := describe(t, serveRegistry(t))
	if _, ok := reg["attrib_dependency_up"]; !ok {
		t.Fatal("attrib_dependency_up is not registered")
	}
	recorded := map[string]bool{}
	var exprs []struct{ where, expr string }
	for _, path := range []string{recordingRules, alertRules} {
		for _, r := range readRules(t, path) {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			exprs = append(exprs, struct{ where, expr string }{path + ": " + r.Record + r.Alert, r.Expr})
		}
	}
	for _, q := range readDashboard(t).queries(t) {
		exprs = append(exprs, struct{ where, expr string }{grafanaBoard, q})
	}
	for _, e := range exprs {
		names := promqlNames(e.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric found in %q", e.where, e.expr)
		}
		for name, labels := range names {
			if msg := reg.check(name, labels, recorded); msg != "" {
				t.Errorf("%s: %s, in %q", e.where, msg, e.expr)
			}
		}
	}
}
