package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/internal/testenv"
)

// env returns a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedenceAndMasking(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"config", "--http-addr", ":9999"}, env(map[string]string{
		"ATTRIB_HTTP_ADDR":      ":7777",
		"ATTRIB_REDIS_URL":      "redis://user:hunter2@10.0.0.5:6379/1",
		"ATTRIB_ADMIN_TOKEN":    "super-secret-token",
		"ATTRIB_KAFKA_BROKERS":  "k1:9092,k2:9092",
		"ATTRIB_CLICKHOUSE_URL": "clickhouse://default:chpass@127.0.0.1:9000/attrib",
	}), &out, &errOut)
	if code != 0 {
		t.Fatalf("attrib config exited %d: %s", code, errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"--http-addr", ":9999", "flag", // the flag wins over the env
		"k1:9092,k2:9092", "env",
		"redis://user:xxxxx@10.0.0.5:6379/1",
		"clickhouse://default:xxxxx@127.0.0.1:9000/attrib",
		"xxxxx (set)",
		"--log-level", "info", "default",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("attrib config output lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"hunter2", "super-secret-token", "chpass", ":7777"} {
		if strings.Contains(got, secret) {
			t.Errorf("attrib config output shows %q:\n%s", secret, got)
		}
	}
}

// TestBadConfigNamesTheSetting: malformed values and unreachable
// dependencies fail at start with the flag and env var named.
func TestBadConfigNamesTheSetting(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"malformed redis url", []string{"serve"}, map[string]string{"ATTRIB_REDIS_URL": "http//nope"},
			[]string{"--redis-url", "ATTRIB_REDIS_URL"}},
		{"secret not echoed in a parse error", []string{"serve", "--redis-url", "redis://:hunter2@[bad"}, nil,
			[]string{"--redis-url", "missing ']' in host"}},
		{"clickhouse http scheme", []string{"serve", "--clickhouse-url", "http://127.0.0.1:8123"}, nil,
			[]string{"--clickhouse-url", "want clickhouse://"}},
		{"broker without port", []string{"serve"}, map[string]string{"ATTRIB_KAFKA_BROKERS": "kafka1"},
			[]string{"--kafka-brokers", "ATTRIB_KAFKA_BROKERS", "host:port"}},
		{"bad log level", []string{"topics", "--log-level", "loud"}, nil, []string{"--log-level"}},
		{"redis prefix without colon", []string{"topics", "--redis-prefix", "attrib"}, nil, []string{"--redis-prefix", `must end with ":"`}},
		{"unknown component", []string{"serve", "--components", "api,frobnicator"}, nil, []string{"--components", `unknown component "frobnicator"`}},
		{"bad partitions", []string{"topics", "--kafka-partitions", "0"}, nil, []string{"--kafka-partitions", "at least 1"}},
		{"no embedded brokers", []string{"broker"}, map[string]string{"ATTRIB_EMBEDDED_KAFKA_BROKERS": "0"},
			[]string{"--embedded-kafka-brokers", "ATTRIB_EMBEDDED_KAFKA_BROKERS", "at least 1"}},
		{"cluster name that needs quoting", []string{"topics"}, map[string]string{"ATTRIB_CLICKHOUSE_CLUSTER": "my-cluster"},
			[]string{"--clickhouse-cluster", "ATTRIB_CLICKHOUSE_CLUSTER", "letters, digits and '_'"}},
		{"rate limit not a number", []string{"topics", "--webhook-rate-limit", "fast"}, nil, []string{"--webhook-rate-limit", "want requests a second"}},
		{"negative rate limit", []string{"topics"}, map[string]string{"ATTRIB_API_RATE_LIMIT": "-5"}, []string{"--api-rate-limit", "ATTRIB_API_RATE_LIMIT", "rate -5"}},
		{"rate limit without a burst", []string{"topics", "--api-rate-limit", "10", "--api-burst", "0"}, nil, []string{"--api-burst", "want at least 1"}},
		{"burst not a number", []string{"topics", "--webhook-burst", "lots"}, nil, []string{"--webhook-burst", "whole number"}},
		{"unreachable broker", []string{"topics", "--kafka-brokers", "127.0.0.1:1", "--dependency-timeout", "1s"}, nil,
			[]string{"--kafka-brokers", "ATTRIB_KAFKA_BROKERS", "unreachable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, env(tc.env), &out, &errOut)
			if code == 0 {
				t.Fatalf("attrib %v succeeded, want a failure", tc.args)
			}
			if strings.Contains(errOut.String(), "hunter2") {
				t.Errorf("error output shows the password:\n%s", errOut.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("error output lacks %q:\n%s", w, errOut.String())
				}
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, env(nil), &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) || !strings.Contains(errOut.String(), "serve") {
		t.Fatalf("usage not printed: %s", errOut.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeIsReady runs `attrib serve` with the embedded broker against the
// real Redis and ClickHouse, waits for /readyz to answer 200, stops it with
// a cancelled context, then starts it again on the same data directory.
func TestServeIsReady(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	chURL, _, _ := ownClickHouseDatabase(t)
	dataDir := t.TempDir()
	for round := range 2 {
		httpAddr := freeAddr(t)
		args := []string{"serve", "--http-addr", httpAddr, "--data-dir", dataDir,
			"--embedded-kafka-addr", "127.0.0.1:0", "--redis-url", redisURL, "--clickhouse-url", chURL}
		var stderr syncBuffer
		done := make(chan int, 1)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- runContext(ctx, args, env(nil), io.Discard, &stderr) }()

		url := "http://" + httpAddr + "/readyz"
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, err := http.Get(url)
			if err == nil {
				var body map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					deps := fmt.Sprint(body["dependencies"])
					for _, d := range []string{"kafka:ok", "redis:ok", "clickhouse:ok"} {
						if !strings.Contains(deps, d) {
							t.Fatalf("round %d: /readyz 200 but dependencies %s lack %s", round, deps, d)
						}
					}
					break
				}
			}
			select {
			case code := <-done:
				t.Fatalf("round %d: serve exited %d before ready:\n%s", round, code, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: /readyz not 200 within 60s (last err %v):\n%s", round, err, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("round %d: serve exited %d after stop:\n%s", round, code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: serve did not stop within 30s", round)
		}
	}
}

// TestServeComponentsAlone: a process that runs only the attribution worker
// answers the operations endpoints but not the v1 API.
func TestServeComponentsAlone(t *testing.T) {
	e := startEngine(t, "--components", "attribution-worker")
	resp, err := http.Get(e.base + "/metrics")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post(e.base+"/v1/brands", "application/json", strings.NewReader(`{"name":"X"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("POST /v1/brands on a worker-only process = %d, want 404", resp.StatusCode)
	}
}
