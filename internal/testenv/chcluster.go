package testenv

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ClickHouseClusterEnv is the local ClickHouse cluster of the tests
// (`stack.sh cluster-up`; `make test` sets ATTRIB_TEST_CLICKHOUSE_CLUSTER,
// ATTRIB_TEST_CLICKHOUSE_CLUSTER_URL and ATTRIB_TEST_CLICKHOUSE_REPLICAS).
type ClickHouseClusterEnv struct {
	// Name is the cluster's name in the servers' remote_servers.
	Name string
	// URL names every replica (the client takes the first that answers).
	URL string
	// Replicas are the URLs of each replica alone; the Nth is replica N
	// of `stack.sh cluster-down N` and `cluster-up N`.
	Replicas []string
}

// ClickHouseCluster returns the local cluster, after checking that every
// replica answers; without it the test skips, or fails under
// ATTRIB_REQUIRE_INTEGRATION, as ClickHouseURL does. The test has the
// cluster to itself until it ends (an exclusive lock shared by every test
// process of the machine): a test may stop a replica, which would fail
// another package's test running at the same time.
func ClickHouseCluster(t testing.TB) ClickHouseClusterEnv {
	t.Helper()
	lockCluster(t)
	name := os.Getenv("ATTRIB_TEST_CLICKHOUSE_CLUSTER")
	if name == "" {
		missing(t, "ATTRIB_TEST_CLICKHOUSE_CLUSTER is not set (the ClickHouse cluster: bash deploy/local/stack.sh cluster-up, then cluster-env)")
	}
	env := ClickHouseClusterEnv{Name: name, URL: os.Getenv("ATTRIB_TEST_CLICKHOUSE_CLUSTER_URL")}
	if env.URL == "" {
		missing(t, "ATTRIB_TEST_CLICKHOUSE_CLUSTER_URL is not set")
	}
	for _, raw := range strings.Fields(os.Getenv("ATTRIB_TEST_CLICKHOUSE_REPLICAS")) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			t.Fatalf("ATTRIB_TEST_CLICKHOUSE_REPLICAS: %q is not a URL with a host: %v", raw, err)
		}
		c, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
		if err != nil {
			missing(t, "ClickHouse replica "+raw+" does not answer: "+err.Error())
		}
		_ = c.Close()
		env.Replicas = append(env.Replicas, raw)
	}
	if len(env.Replicas) < 2 {
		missing(t, "ATTRIB_TEST_CLICKHOUSE_REPLICAS names fewer than two replicas")
	}
	return env
}

// lockCluster holds an exclusive flock on a file of the machine's temporary
// directory until the test ends.
func lockCluster(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "attrib-test-clickhouse-cluster.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("open the cluster's test lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		t.Fatalf("lock %s: %v", path, err)
	}
	t.Cleanup(func() { _ = f.Close() }) // closing releases the lock
}
