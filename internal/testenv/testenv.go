// Package testenv gives integration tests the real Redis and ClickHouse
// servers: their URLs, and ready clients with a key prefix (Redis) or a
// database (ClickHouse) of the test's own, removed when the test ends.
// Without the servers a test skips with a message saying
// how to run it; with ATTRIB_REQUIRE_INTEGRATION=1 (set by `make test`) a
// missing server fails the test instead, so CI can never pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

const howTo = "integration test needs Redis and ClickHouse: run `make test` " +
	"(it starts them with deploy/local/stack.sh and sets ATTRIB_TEST_REDIS_URL and ATTRIB_TEST_CLICKHOUSE_URL)"

// RedisURL returns the Redis URL for integration tests.
func RedisURL(t testing.TB) string {
	t.Helper()
	return serverURL(t, "ATTRIB_TEST_REDIS_URL")
}

// ClickHouseURL returns the ClickHouse native-protocol URL for integration
// tests.
func ClickHouseURL(t testing.TB) string {
	t.Helper()
	return serverURL(t, "ATTRIB_TEST_CLICKHOUSE_URL")
}

// AnalystClickHouseURL returns the native-protocol URL of the analysts'
// read-only ClickHouse user (`make test` sets it from `deploy/local/stack.sh
// env`).
func AnalystClickHouseURL(t testing.TB) string {
	t.Helper()
	return serverURL(t, "ATTRIB_TEST_ANALYST_CLICKHOUSE_URL")
}

func serverURL(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		missing(t, env+" is not set")
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		t.Fatalf("%s=%q is not a URL with a host: %v", env, v, err)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		missing(t, env+"="+v+" does not answer: "+err.Error())
	}
	_ = c.Close()
	return v
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("ATTRIB_REQUIRE_INTEGRATION") != "" {
		t.Fatalf("%s, and ATTRIB_REQUIRE_INTEGRATION is set: %s", why, howTo)
	}
	t.Skipf("%s; %s", why, howTo)
}

// UniqueName returns prefix followed by a random suffix, for databases, key
// prefixes and topics that no other test shares.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
