package rediskey_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/rediskey"
	"github.com/attrib-engine/attrib/internal/testenv"
)

// globPrefix holds every glob character of SCAN MATCH. Unescaped, the
// pattern prefix+"*" would also match decoy, which does not start with it.
const (
	globPrefix = `[ab]*?\:`
	decoy      = "a-x:k"
)

// TestDropPrefix drops the keys under a prefix with glob characters on
// the test Redis: every key under it goes, the keys outside it (one that
// the unescaped pattern would match, one that is the prefix less its last
// byte) stay.
func TestDropPrefix(t *testing.T) {
	rdb, base := testenv.Redis(t)
	ctx := context.Background()
	prefix := base + globPrefix
	inside := []string{prefix, prefix + "1", prefix + "order:{b}:2", prefix + strings.Repeat("x", 100)}
	for i := range 2500 { // several SCAN pages
		inside = append(inside, fmt.Sprintf("%sbulk:%d", prefix, i))
	}
	outside := []string{base + decoy, base + strings.TrimSuffix(globPrefix, ":"), base + "other"}
	write(t, rdb, inside, outside)

	n, err := rediskey.DropPrefix(ctx, rdb, prefix)
	if err != nil {
		t.Fatalf("DropPrefix: %v", err)
	}
	if n < len(inside) {
		t.Errorf("DropPrefix unlinked %d keys, want at least %d", n, len(inside))
	}
	assertKeys(t, rdb, inside, outside)

	if n, err := rediskey.DropPrefix(ctx, rdb, prefix); err != nil || n != 0 {
		t.Errorf("DropPrefix again = %d, %v; want 0, nil", n, err)
	}
}

// TestDropPrefixOnCluster drops on every master of a Redis Cluster of its
// own: the keys are spread over all three.
func TestDropPrefixOnCluster(t *testing.T) {
	testenv.RedisURL(t) // skip before starting a cluster when there are no servers
	url := testenv.RedisCluster(t)
	opt, err := redis.ParseClusterURL(strings.TrimSuffix(url, "/0"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClusterClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	prefix := testenv.UniqueName("t:") + globPrefix
	var inside []string
	for i := range 300 {
		inside = append(inside, fmt.Sprintf("%s%d", prefix, i))
	}
	outside := []string{testenv.UniqueName("t:") + decoy}
	write(t, rdb, inside, outside)
	var mu sync.Mutex
	var perNode []int64
	err = rediskey.ForEachNode(ctx, rdb, func(ctx context.Context, node redis.Cmdable) error {
		n, err := node.DBSize(ctx).Result()
		mu.Lock()
		perNode = append(perNode, n)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatalf("ForEachNode: %v", err)
	}
	if len(perNode) != 3 || slices.Contains(perNode, 0) {
		t.Fatalf("keys per node %v, want some on each of 3 masters", perNode)
	}

	if _, err := rediskey.DropPrefix(ctx, rdb, prefix); err != nil {
		t.Fatalf("DropPrefix: %v", err)
	}
	assertKeys(t, rdb, inside, outside)
}

// write sets every key of inside and outside.
func write(t *testing.T, rdb redis.UniversalClient, inside, outside []string) {
	t.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for _, k := range slices.Concat(inside, outside) {
		pipe.Set(ctx, k, "v", time.Hour)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("write keys: %v", err)
	}
}

// assertKeys checks that no key of gone exists and every key of kept does.
func assertKeys(t *testing.T, rdb redis.UniversalClient, gone, kept []string) {
	t.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	cmds := make(map[string]*redis.IntCmd)
	for _, k := range slices.Concat(gone, kept) {
		cmds[k] = pipe.Exists(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("check keys: %v", err)
	}
	left := 0
	for _, k := range gone {
		if cmds[k].Val() != 0 {
			if left++; left <= 5 {
				t.Errorf("key %q under the prefix survived the drop", k)
			}
		}
	}
	if left > 0 {
		t.Errorf("%d of %d keys under the prefix survived the drop", left, len(gone))
	}
	for _, k := range kept {
		if cmds[k].Val() != 1 {
			t.Errorf("key %q outside the prefix was dropped", k)
		}
	}
}
