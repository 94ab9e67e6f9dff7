package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestInstrumentedMuxLabelsByPatternAndStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	mux := NewInstrumentedMux(reg)
	mux.HandleFunc("GET /v1/offers/{offer_id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("offer_id") == "missing" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("{}"))
	})
	cases := []struct {
		name, method, path, route, code string
	}{
		{"matched ok", "GET", "/v1/offers/o1", "GET /v1/offers/{offer_id}", "200"},
		{"matched, other id, same series", "GET", "/v1/offers/o2", "GET /v1/offers/{offer_id}", "200"},
		{"matched, handler's status", "GET", "/v1/offers/missing", "GET /v1/offers/{offer_id}", "404"},
		{"no route", "GET", "/nowhere/at/all", unmatchedRoute, "404"},
		{"wrong method", "DELETE", "/v1/offers/o1", unmatchedRoute, "405"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newHTTPMetrics(reg) // the registered vectors, shared
			before := counterValue(t, m.requests.WithLabelValues(tc.route, tc.code))
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if got := rec.Code; strconv.Itoa(got) != tc.code {
				t.Fatalf("status %d, want %s", got, tc.code)
			}
			after := counterValue(t, m.requests.WithLabelValues(tc.route, tc.code))
			if after != before+1 {
				t.Fatalf("attrib_http_requests_total{route=%q,code=%q} went %v -> %v, want +1", tc.route, tc.code, before, after)
			}
		})
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "route" && l.GetValue() != unmatchedRoute && l.GetValue() != "GET /v1/offers/{offer_id}" {
					t.Fatalf("%s has route label %q, not a registered pattern", mf.GetName(), l.GetValue())
				}
			}
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
