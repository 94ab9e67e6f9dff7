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
	_, js := serve(t, func() http.Handler { m := api.NewMux(); web.Register(m); return m }(), "/dashboard.js")
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	calls := regexp.MustCompile(`"(/v1/[a-z0-9_./{}-]+)`).FindAllStringSubmatch(js, -1)
	if len(calls) < 3 {
		t.Fatalf("found %d API calls in dashboard.js, want the orders, CSV and earnings reports", len(calls))
	}
	for _, c := range calls {
		path := strings.TrimSuffix(c[1], "?")
		if _, ok := doc.Paths[path]; !ok {
			t.Errorf("dashboard.js calls %s, which the OpenAPI document does not have", path)
		}
	}
}
