package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodes is the number of masters of the test cluster; the 16384
// slots are split between them, so keys of one test land on all of them.
const clusterNodes = 3

// RedisCluster starts a Redis Cluster of its own for the test (three
// masters on loopback, from the redis-server binary that `make test`
// installs), stops it when the test ends, and returns the URL of one node.
// Without redis-server it skips, or fails under ATTRIB_REQUIRE_INTEGRATION.
func RedisCluster(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server is not on PATH (a Redis Cluster test starts its own nodes)")
	}
	dir := t.TempDir()
	ports, buses := make([]int, clusterNodes), make([]int, clusterNodes)
	for i := range ports {
		// The bus port is given: port+10000 may not exist.
		ports[i], buses[i] = freePort(t), freePort(t)
		nodeDir := filepath.Join(dir, strconv.Itoa(ports[i]))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(ports[i]), "--bind", "127.0.0.1", "--protected-mode", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"),
			"--cluster-node-timeout", "5000", "--cluster-port", strconv.Itoa(buses[i]), "--dir", nodeDir, "--save", "", "--appendonly", "no",
			"--logfile", filepath.Join(nodeDir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis cluster node: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*redis.Client, clusterNodes)
	for i, p := range ports {
		nodes[i] = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", p)})
		defer nodes[i].Close()
		for nodes[i].Ping(ctx).Err() != nil {
			if ctx.Err() != nil {
				t.Fatalf("redis cluster node on port %d did not start; see %s", p, filepath.Join(dir, strconv.Itoa(p), "redis.log"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	per := 16384 / clusterNodes
	for i, n := range nodes {
		first, last := i*per, (i+1)*per-1
		if i == clusterNodes-1 {
			last = 16383
		}
		if err := n.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err(); err != nil {
			t.Fatalf("redis cluster: add slots %d-%d: %v", first, last, err)
		}
		if i > 0 {
			if err := nodes[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", ports[i], buses[i]).Err(); err != nil {
				t.Fatalf("redis cluster: meet: %v", err)
			}
		}
	}
	for _, n := range nodes {
		for {
			info, err := n.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(clusterNodes)) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("redis cluster did not become ready: %v\n%s", err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", ports[0])
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
