package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// Mux is an http.ServeMux that remembers its patterns, so a test can check
// that every route is in the OpenAPI document and every documented route
// exists.
type Mux struct {
	*http.ServeMux
	patterns []string
	metrics  *httpMetrics // nil: not instrumented
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// NewInstrumentedMux returns an empty Mux that counts and times every
// request in reg (attrib_http_requests_total,
// attrib_http_request_duration_seconds) labelled by the route pattern that
// served it ("GET /v1/offers/{offer_id}", never the raw path) and the
// status code; a request no pattern matches is labelled "unmatched".
func NewInstrumentedMux(reg prometheus.Registerer) *Mux {
	return &Mux{ServeMux: http.NewServeMux(), metrics: newHTTPMetrics(reg)}
}

// Handle registers h for pattern ("GET /v1/offers").
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	if m.metrics != nil {
		h = m.metrics.wrap(pattern, h)
	}
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Patterns returns the registered patterns in registration order.
func (m *Mux) Patterns() []string { return append([]string(nil), m.patterns...) }

// ServeHTTP routes r. When no route matches, the standard mux still decides
// between 404 and 405 (with its Allow header), but the answer is the API's
// JSON error, as every other error is.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := m.ServeMux.Handler(r); pattern != "" {
		m.ServeMux.ServeHTTP(w, r)
		return
	}
	miss := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.ServeMux.ServeHTTP(&jsonMiss{ResponseWriter: w}, r)
	}))
	if m.metrics != nil {
		miss = m.metrics.wrap(unmatchedRoute, miss)
	}
	miss.ServeHTTP(w, r)
}

// jsonMiss turns the mux's plain-text 404 and 405 into JSON errors and
// passes anything else (a redirect to the canonical path) through.
type jsonMiss struct {
	http.ResponseWriter
	replaced bool
}

func (j *jsonMiss) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		j.replaced = true
		writeError(j.ResponseWriter, code, "not_found", "no such endpoint", "")
	case http.StatusMethodNotAllowed:
		j.replaced = true
		writeError(j.ResponseWriter, code, "method_not_allowed", "method not allowed on this endpoint; see the Allow header", "")
	default:
		j.ResponseWriter.WriteHeader(code)
	}
}

func (j *jsonMiss) Write(b []byte) (int, error) {
	if j.replaced {
		return len(b), nil // the mux's plain-text body, already answered in JSON
	}
	return j.ResponseWriter.Write(b)
}
