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

	"github.com/attrib-engine/attrib/internal/promreg"
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
	// Registerer, when not nil, receives attrib_dependency_up{dependency}:
	// 1 when the dependency's check last passed, 0 when it failed.
	Registerer prometheus.Registerer
	// CheckInterval is how often Ops.Run runs the checks, so that the gauge
	// stays current when nothing calls /readyz. Default 10 s: under the
	// usual 15 s scrape interval, so each scrape sees a fresh answer, at
	// three pings a process per interval.
	CheckInterval time.Duration
}

// Ops serves the operational endpoints and keeps the dependencies' gauge.
type Ops struct {
	cfg OpsConfig
	up  *prometheus.GaugeVec
}

// NewOps applies cfg's defaults and registers the dependencies' gauge.
func NewOps(cfg OpsConfig) *Ops {
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = 10 * time.Second
	}
	up := promreg.With(cfg.Registerer).GaugeVec(prometheus.GaugeOpts{
		Name: "attrib_dependency_up",
		Help: "Whether the dependency (kafka, redis, clickhouse) answered this process's last readiness check: 1 yes, 0 no. Refreshed by every /readyz and every check interval.",
	}, []string{"dependency"})
	return &Ops{cfg: cfg, up: up}
}

// RegisterOps adds /healthz, /readyz and /metrics to mux.
func RegisterOps(mux *Mux, cfg OpsConfig) { NewOps(cfg).Register(mux) }

// Register adds /healthz, /readyz and /metrics to mux.
func (o *Ops) Register(mux *Mux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		status, body := o.ready(r.Context())
		writeJSON(w, status, body)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.cfg.Gatherer, promhttp.HandlerOpts{}))
}

// Run runs the checks at once, then every CheckInterval, until ctx ends;
// it always returns nil.
func (o *Ops) Run(ctx context.Context) error {
	t := time.NewTicker(o.cfg.CheckInterval)
	defer t.Stop()
	for {
		o.ready(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type readyAnswer struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
}

// ready runs every check and records each result in the gauge; 200 when
// all pass, 503 naming the failing ones.
func (o *Ops) ready(ctx context.Context) (int, readyAnswer) {
	cfg := o.cfg
	ans := readyAnswer{Status: "ready", Dependencies: make(map[string]string, len(cfg.Checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range cfg.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, cfg.CheckTimeout)
			defer cancel()
			res, up := "ok", 1.0
			if err := c.Ping(cctx); err != nil {
				res, up = err.Error(), 0
			}
			if ctx.Err() == nil { // not a check cut short by shutdown
				o.up.WithLabelValues(c.Name).Set(up)
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
