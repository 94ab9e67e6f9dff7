package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
)

// TestHealthcheck runs `attrib healthcheck` against the engine's own
// operations endpoints (api.RegisterOps) with a dependency that answers or
// not, as a container runtime would run it.
func TestHealthcheck(t *testing.T) {
	var redisDown atomic.Bool
	mux := api.NewMux()
	api.RegisterOps(mux, api.OpsConfig{Checks: []api.Check{
		{Name: "kafka", Ping: func(context.Context) error { return nil }},
		{Name: "redis", Ping: func(context.Context) error {
			if redisDown.Load() {
				return errors.New("dial tcp 10.0.0.7:6379: connection refused")
			}
			return nil
		}},
	}, CheckTimeout: time.Second})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	// A port nothing listens on: one that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		redisDown bool
		wantCode  int
		wantErr   []string // in standard error
	}{
		{name: "ready", args: []string{"--http-addr", addr}, wantCode: 0},
		{name: "port from the environment, any host", env: map[string]string{"ATTRIB_HTTP_ADDR": ":" + port}, wantCode: 0},
		{name: "dependency down", args: []string{"--http-addr", addr}, redisDown: true, wantCode: 1,
			wantErr: []string{"/readyz", "503", "redis", "connection refused"}},
		{name: "liveness while a dependency is down", args: []string{"--http-addr", addr, "--path", "/healthz"}, redisDown: true, wantCode: 0},
		{name: "unknown path", args: []string{"--http-addr", addr, "--path", "/nope"}, wantCode: 1, wantErr: []string{"/nope", "404"}},
		{name: "nothing listening", args: []string{"--http-addr", closedAddr}, wantCode: 1, wantErr: []string{"healthcheck http://" + closedAddr + "/readyz", "refused"}},
		{name: "answer too slow", args: []string{"--http-addr", addr, "--path", "/slow", "--timeout", "200ms"}, wantCode: 1,
			wantErr: []string{"/slow", "deadline exceeded"}},
		{name: "relative path", args: []string{"--http-addr", addr, "--path", "readyz"}, wantCode: 1, wantErr: []string{`--path "readyz"`}},
		{name: "zero timeout", args: []string{"--http-addr", addr, "--timeout", "0s"}, wantCode: 1, wantErr: []string{"--timeout", "positive"}},
		{name: "positional argument", args: []string{"--http-addr", addr, "http://elsewhere/readyz"}, wantCode: 1, wantErr: []string{"unexpected argument"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			redisDown.Store(tc.redisDown)
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := runContext(context.Background(), append([]string{"healthcheck"}, tc.args...), env(tc.env), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q: %s", w, stderr.String())
				}
			}
			if tc.wantCode == 0 && stderr.Len() > 0 {
				t.Errorf("a passing probe wrote to stderr: %s", stderr.String())
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the probe took %v", d)
			}
		})
	}
}
