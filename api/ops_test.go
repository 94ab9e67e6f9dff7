package api_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/api"
)

// dependencyUp returns attrib_dependency_up by dependency, as reg gathers it.
func dependencyUp(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "attrib_dependency_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "dependency" {
					got[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return got
}

func ping(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

// TestReadyzSetsDependencyUp: each /readyz records every check's result in
// attrib_dependency_up.
func TestReadyzSetsDependencyUp(t *testing.T) {
	down := errors.New("connection refused")
	cases := []struct {
		name   string
		checks []api.Check
		status int
		want   map[string]float64
	}{
		{"all answer", []api.Check{{Name: "kafka", Ping: ping(nil)}, {Name: "redis", Ping: ping(nil)}},
			http.StatusOK, map[string]float64{"kafka": 1, "redis": 1}},
		{"one down", []api.Check{{Name: "kafka", Ping: ping(nil)}, {Name: "clickhouse", Ping: ping(down)}},
			http.StatusServiceUnavailable, map[string]float64{"kafka": 1, "clickhouse": 0}},
		{"all down", []api.Check{{Name: "redis", Ping: ping(down)}, {Name: "clickhouse", Ping: ping(down)}},
			http.StatusServiceUnavailable, map[string]float64{"redis": 0, "clickhouse": 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			mux := api.NewMux()
			api.RegisterOps(mux, api.OpsConfig{Checks: tc.checks, Gatherer: reg, Registerer: reg})
			if got := dependencyUp(t, reg); len(got) != 0 {
				t.Fatalf("before any check: attrib_dependency_up = %v, want no series", got)
			}
			if code, body := get(t, mux, "/readyz"); code != tc.status {
				t.Fatalf("GET /readyz = %d %s, want %d", code, body, tc.status)
			}
			got := dependencyUp(t, reg)
			if len(got) != len(tc.want) {
				t.Fatalf("attrib_dependency_up = %v, want %v", got, tc.want)
			}
			for dep, v := range tc.want {
				if got[dep] != v {
					t.Errorf("attrib_dependency_up{dependency=%q} = %v, want %v", dep, got[dep], v)
				}
			}
		})
	}
}

// TestOpsRunRefreshesDependencyUp: Run keeps the gauge current without any
// /readyz call, following a dependency that goes down and comes back.
func TestOpsRunRefreshesDependencyUp(t *testing.T) {
	var failing atomic.Bool
	redis := func(context.Context) error {
		if failing.Load() {
			return errors.New("connection refused")
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	ops := api.NewOps(api.OpsConfig{Checks: []api.Check{{Name: "redis", Ping: redis}}, Registerer: reg, CheckInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ops.Run(ctx) }()
	waitUp := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, ok := dependencyUp(t, reg)["redis"]
			if ok && got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("attrib_dependency_up{dependency=\"redis\"} = %v (present %v), want %v within 5s", got, ok, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitUp(1)
	failing.Store(true)
	waitUp(0)
	failing.Store(false)
	waitUp(1)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context's end")
	}
}
