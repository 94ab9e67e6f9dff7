package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
)

func newTestMux(checks ...api.Check) *api.Mux {
	mux := api.NewMux()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "attrib_test_total", Help: "test"}))
	api.RegisterOps(mux, api.OpsConfig{Checks: checks, Gatherer: reg})
	api.RegisterContracts(mux)
	srv, err := api.New(api.Config{Commands: unused{}, Registrar: unused{}, Catalog: unused{}, MasterKey: make([]byte, 32)})
	if err != nil {
		panic(err)
	}
	srv.Register(mux)
	return mux
}

// unused satisfies the server's dependencies for tests that only list or
// probe routes that never reach them.
type unused struct{}

func (unused) Send(context.Context, catalog.BrandCommand, string) (commands.Result, error) {
	return commands.Result{}, errors.New("unused")
}
func (unused) RegisterCreator(context.Context, catalog.RegisterCreator) error {
	return errors.New("unused")
}
func (unused) RegisterAnalyst(context.Context, catalog.RegisterAnalyst) error {
	return errors.New("unused")
}
func (unused) FindPrincipal(context.Context, string) (api.Caller, bool, error) {
	return api.Caller{}, false, nil
}
func (unused) Offers(context.Context) ([]api.Offer, error) { return nil, errors.New("unused") }
func (unused) Request(context.Context, string) (api.CodeRequest, bool, error) {
	return api.CodeRequest{}, false, errors.New("unused")
}
func (unused) RequestsByCreator(context.Context, string) ([]api.CodeRequest, error) {
	return nil, errors.New("unused")
}
func (unused) RequestsByBrand(context.Context, string) ([]api.CodeRequest, error) {
	return nil, errors.New("unused")
}
func (unused) CreatorNames(context.Context, []string) (map[string]string, error) {
	return nil, errors.New("unused")
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

// TestOpenAPIMatchesRoutes: every registered route is documented, and every
// documented route is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc.OpenAPI == "" {
		t.Fatal("openapi.json has no openapi version")
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	routes := newTestMux().Patterns()
	slices.Sort(documented)
	slices.Sort(routes)
	if !slices.Equal(documented, routes) {
		t.Fatalf("routes and OpenAPI document differ\nregistered: %v\ndocumented: %v", routes, documented)
	}
}

func TestOpsEndpoints(t *testing.T) {
	ok := api.Check{Name: "kafka", Ping: func(context.Context) error { return nil }}
	down := api.Check{Name: "redis", Ping: func(context.Context) error { return errors.New("connection refused") }}
	cases := []struct {
		name     string
		checks   []api.Check
		path     string
		wantCode int
		wantBody string
	}{
		{"healthz", []api.Check{down}, "/healthz", 200, `"status": "ok"`},
		{"ready when all answer", []api.Check{ok}, "/readyz", 200, `"kafka": "ok"`},
		{"not ready names the dependency", []api.Check{ok, down}, "/readyz", 503, `"redis": "connection refused"`},
		{"metrics", nil, "/metrics", 200, "attrib_test_total 0"},
		{"openapi", nil, "/openapi.json", 200, `"openapi": "3.1.0"`},
		{"schema list", nil, "/schemas/", 200, `"type": "order.placed"`},
		{"current schema", nil, "/schemas/order.placed.json", 200, `"country"`},
		{"old schema version", nil, "/schemas/order.placed.v1.json", 200, `"promo_codes"`},
		{"unknown schema", nil, "/schemas/order.nope.json", 404, `"code": "not_found"`},
		{"bad version", nil, "/schemas/order.placed.vx.json", 404, `"code": "not_found"`},
		{"v1 without token", nil, "/v1/offers", 401, `"code": "unauthorized"`},
		{"unknown endpoint is a JSON 404", nil, "/v1/nope", 404, `"code": "not_found"`},
		{"wrong method is a JSON 405", nil, "/v1/webhooks/orders", 405, `"code": "method_not_allowed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, newTestMux(tc.checks...), tc.path)
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("GET %s = %d %s\nwant %d with %q", tc.path, code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestOldSchemaHasNoCountry(t *testing.T) {
	_, body := get(t, newTestMux(), "/schemas/order.placed.v1.json")
	if strings.Contains(body, `"country"`) {
		t.Fatalf("v1 schema of order.placed mentions country: %s", body)
	}
}
