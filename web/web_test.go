package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/web"
)

func serve(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestDashboardIsServed: the page and its assets are served with their
// types and a policy that loads nothing from elsewhere; other paths are
// left to the API's mux.
func TestDashboardIsServed(t *testing.T) {
	mux := api.NewMux()
	web.Register(mux)
	for _, c := range []struct{ path, contentType, contains string }{
		{"/", "text/html", `<script src="/dashboard.js"`},
		{"/dashboard.js", "text/javascript", "/v1/reports/orders"},
		{"/product.js", "text/javascript", "/v1/code-requests"},
		{"/dashboard.css", "text/css", ".num"},
		{"/favicon.ico", "image/svg+xml", "<svg"},
	} {
		res, body := serve(t, mux, c.path)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), c.contentType) || !strings.Contains(body, c.contains) {
			t.Errorf("GET %s = %d %s, want 200 %s containing %q", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.contentType, c.contains)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self'", c.path, csp)
		}
	}
	if res, _ := serve(t, mux, "/nothing-here"); res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /nothing-here = %d %s, want the API's JSON 404", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestDashboardCallsDocumentedEndpoints: every API path the page calls is
// in the OpenAPI document, so the page cannot drift from the API.
func TestDashboardCallsDocumentedEndpoints(t *testing.T) {
	js := scripts(t)
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	calls := regexp.MustCompile(`"(/v1/[a-z0-9_./{}-]+)`).FindAllStringSubmatch(js, -1)
	if len(calls) < 3 {
		t.Fatalf("found %d API calls in the scripts, want the orders, CSV and earnings reports", len(calls))
	}
	for _, c := range calls {
		path := strings.TrimSuffix(c[1], "?")
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("the page calls %s, which the OpenAPI document does not have", path)
		}
	}
}

// staticFile returns an embedded file of the dashboard as served.
func staticFile(t *testing.T, path string) string {
	t.Helper()
	mux := api.NewMux()
	web.Register(mux)
	res, body := serve(t, mux, path)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s = %d", path, res.StatusCode)
	}
	return body
}

// scripts are the page's scripts as served, one after the other.
func scripts(t *testing.T) string {
	t.Helper()
	return staticFile(t, "/dashboard.js") + "\n" + staticFile(t, "/product.js")
}

// TestDashboardElementsExist: every element dashboard.js looks up by id is
// in the page, so renaming one in the HTML cannot silently break a feature
// (a lookup that returns null fails only when that code runs).
func TestDashboardElementsExist(t *testing.T) {
	html, js := staticFile(t, "/"), scripts(t)
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\sid="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if ids[m[1]] {
			t.Errorf("index.html has two elements with id %q", m[1])
		}
		ids[m[1]] = true
	}
	lookups := regexp.MustCompile(`\$\("([^"]+)"\)`).FindAllStringSubmatch(js, -1)
	if len(lookups) < 20 {
		t.Fatalf("found %d element lookups in dashboard.js; has the $(...) helper changed?", len(lookups))
	}
	for _, m := range lookups {
		if !ids[m[1]] {
			t.Errorf("dashboard.js looks up #%s, which index.html does not have", m[1])
		}
	}
	// Views are found by their names: view-<name>.
	for _, m := range regexp.MustCompile(`data-view="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if !ids["view-"+m[1]] {
			t.Errorf("the navigation links to view %q, which has no element #view-%s", m[1], m[1])
		}
	}
}

// TestDashboardFormsAreHandled: every form of the page has a submit
// handler, and no control shadows a method of its form. Without a handler,
// Enter in a field submits the form the browser's way, reloading the page;
// a control with id or name "reset" replaces form.reset with itself.
func TestDashboardFormsAreHandled(t *testing.T) {
	html, js := staticFile(t, "/"), scripts(t)
	forms := regexp.MustCompile(`<form id="([^"]+)"`).FindAllStringSubmatch(html, -1)
	if n := strings.Count(html, "<form"); n != len(forms) {
		t.Errorf("index.html has %d forms, %d of them with an id first: give each an id", n, len(forms))
	}
	for _, f := range forms {
		if !strings.Contains(js, `$("`+f[1]+`").addEventListener("submit"`) {
			t.Errorf(`form #%s has no submit handler ($("%s").addEventListener("submit", ...)) in the scripts`, f[1], f[1])
		}
	}
	formProperties := map[string]bool{"reset": true, "submit": true, "requestSubmit": true, "elements": true, "length": true,
		"action": true, "method": true, "target": true, "encoding": true, "enctype": true, "checkValidity": true, "reportValidity": true}
	for _, m := range regexp.MustCompile(`\s(?:id|name)="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if formProperties[m[1]] {
			t.Errorf("index.html has a control named %q, which shadows form.%s", m[1], m[1])
		}
	}
}

// TestDashboardHiddenWins: the stylesheet makes the hidden attribute win
// over its own display rules. Without it the analysts' creator filter (a
// label, display: flex) showed to creators, whose reports then failed with
// 403 when they used it.
func TestDashboardHiddenWins(t *testing.T) {
	css := staticFile(t, "/dashboard.css")
	if !regexp.MustCompile(`\[hidden\]\s*\{\s*display:\s*none\s*!important;?\s*\}`).MatchString(css) {
		t.Error("dashboard.css lacks [hidden] { display: none !important; }")
	}
}

// TestDashboardKeepsMoneyExact: the page never parses a number out of a
// string: money comes as decimal strings ("0.10") and is shown as it came;
// a float would show 0.1, or add 0.1 and 0.2 into 0.30000000000000004.
// (Bar lengths are scaled with BigInt.)
func TestDashboardKeepsMoneyExact(t *testing.T) {
	js := scripts(t)
	for _, banned := range []string{"parseFloat", "parseInt", "Number(o.", "Number(p."} {
		if strings.Contains(js, banned) {
			t.Errorf("the scripts use %s; keep money as the server's decimal strings", banned)
		}
	}
	if strings.Contains(js, "innerHTML") || strings.Contains(js, "insertAdjacentHTML") || strings.Contains(js, "outerHTML") {
		t.Error("the scripts write HTML; every value from the server must go in as text")
	}
}
