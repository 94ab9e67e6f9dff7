package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
)

// parseWith parses the configuration of the flags args.
func parseWith(t *testing.T, args ...string) (*engineConfig, error) {
	t.Helper()
	c := newConfig()
	fs := flag.NewFlagSet("attrib", flag.ContinueOnError)
	c.bind(fs, env(nil))
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c.parse()
}

func TestEdgeSettings(t *testing.T) {
	ec, err := parseWith(t)
	if err != nil {
		t.Fatal(err)
	}
	want := api.EdgeConfig{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 90 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, MaxConnsPerClient: 256}
	if ec.HTTPEdge != want {
		t.Errorf("defaults: %+v, want %+v", ec.HTTPEdge, want)
	}
	ec, err = parseWith(t, "--http-read-timeout", "5s", "--http-write-timeout", "7s", "--http-idle-timeout", "9s",
		"--http-read-header-timeout", "2s", "--http-max-header-bytes", "4096", "--http-max-conns-per-client", "0")
	if err != nil {
		t.Fatal(err)
	}
	want = api.EdgeConfig{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 7 * time.Second,
		IdleTimeout: 9 * time.Second, MaxHeaderBytes: 4096}
	if ec.HTTPEdge != want {
		t.Errorf("set: %+v, want %+v", ec.HTTPEdge, want)
	}
	bad := []struct{ flag, value, want string }{
		{"http-read-timeout", "0s", "must be positive"},
		{"http-write-timeout", "soon", "invalid duration"},
		{"http-idle-timeout", "-1s", "must be positive"},
		{"http-read-header-timeout", "0", "must be positive"},
		{"http-max-header-bytes", "100", "at least 1024"},
		{"http-max-conns-per-client", "-1", "0 (no cap) or more"},
		{"http-max-conns-per-client", "many", "invalid syntax"},
	}
	for _, tc := range bad {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			_, err := parseWith(t, "--"+tc.flag, tc.value)
			if err == nil {
				t.Fatalf("--%s %s accepted", tc.flag, tc.value)
			}
			env := "ATTRIB_" + strings.ToUpper(strings.ReplaceAll(tc.flag, "-", "_"))
			for _, w := range []string{"--" + tc.flag, env, tc.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestHTTPComponentAppliesTheEdge: the served listener has the configured
// bounds (a header limit of the server, the cap of the listener).
func TestHTTPComponentAppliesTheEdge(t *testing.T) {
	addr := freeAddr(t)
	edge := api.EdgeConfig{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute,
		MaxHeaderBytes: 1024, MaxConnsPerClient: 1}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpComponent(addr, edge, ok, nil, slog.New(slog.NewTextHandler(io.Discard, nil))).run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// Each check comes from a loopback address of its own, as the cap is
	// per client address.
	from := func(ip string) *http.Client {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	}
	get := func(c *http.Client, header string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		req.Header.Set("X-Big", header)
		res, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		return res.StatusCode, nil
	}
	var code int
	var err error
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if code, err = get(from("127.0.0.2"), "small"); err == nil {
			break
		}
	}
	if err != nil || code != http.StatusOK {
		t.Fatalf("serving: %d %v", code, err)
	}
	if code, err = get(from("127.0.0.3"), strings.Repeat("x", 8<<10)); err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8 KiB of headers over a limit of 1 KiB: %d %v, want 431", code, err)
	}
	held := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.4")}}
	hc, err := held.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	time.Sleep(100 * time.Millisecond) // accepted before the next one
	if code, err = get(from("127.0.0.4"), "small"); err != nil || code != http.StatusTooManyRequests {
		t.Errorf("a second connection of a client capped at one: %d %v, want 429", code, err)
	}
}
