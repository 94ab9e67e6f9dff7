// Package api is the engine's HTTP surface: the v1 API of API.md, the
// operational endpoints (/healthz, /readyz, /metrics) and the published
// contracts (/openapi.json, /schemas/).
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is a readiness probe of one dependency.
type Check struct {
	// Name identifies the dependency in /readyz answers ("kafka", "redis").
	Name string
	// Ping returns nil when the dependency answers.
	Ping func(ctx context.Context) error
}

// OpsConfig configures the operational endpoints.
type OpsConfig struct {
	// Checks run on every /readyz, concurrently.
	Checks []Check
	// Gatherer serves /metrics. Default prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// CheckTimeout bounds each check. Default 2 s.
	CheckTimeout time.Duration
}

// RegisterOps adds /healthz, /readyz and /metrics to mux.
func RegisterOps(mux *Mux, cfg OpsConfig) {
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, body := ready(r.Context(), cfg)
		writeJSON(w, status, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
}

type readyAnswer struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
}

// ready runs every check; 200 when all pass, 503 naming the failing ones.
func ready(ctx context.Context, cfg OpsConfig) (int, readyAnswer) {
	ans := readyAnswer{Status: "ready", Dependencies: make(map[string]string, len(cfg.Checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range cfg.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, cfg.CheckTimeout)
			defer cancel()
			res := "ok"
			if err := c.Ping(cctx); err != nil {
				res = err.Error()
			}
			mu.Lock()
			ans.Dependencies[c.Name] = res
			if res != "ok" {
				ans.Status = "not ready"
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ans.Status != "ready" {
		return http.StatusServiceUnavailable, ans
	}
	return http.StatusOK, ans
}

// writeJSON writes v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
