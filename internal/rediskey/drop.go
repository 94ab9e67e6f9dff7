package rediskey

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// scanCount is the COUNT hint of SCAN, and so about the most keys one
// UNLINK pipeline deletes.
const scanCount = 1000

// ForEachNode calls fn with a client of every node that holds keys: every
// master of a Cluster, every shard of a Ring, or rdb itself for one server
// (or a Sentinel-managed one). For a Cluster or a Ring fn runs
// concurrently for the nodes.
func ForEachNode(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node redis.Cmdable) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return fn(ctx, n) })
	case *redis.Ring:
		return c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return fn(ctx, n) })
	default:
		return fn(ctx, rdb)
	}
}

// ScanPrefix calls page with each page of the keys of one node that start
// with prefix (glob characters in prefix match themselves). SCAN may
// return a key twice, and a key written meanwhile may be missed.
func ScanPrefix(ctx context.Context, node redis.Cmdable, prefix string, page func(keys []string) error) error {
	pattern := globEscape(prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return fmt.Errorf("scan keys under %q: %w", prefix, err)
		}
		if len(keys) > 0 {
			if err := page(keys); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// DropPrefix deletes (UNLINKs) every key that starts with prefix, on every
// node of rdb, and returns how many keys it unlinked (SCAN may return a key
// twice: then it counts twice). Keys written under the prefix while it
// runs may survive: stop the writers first.
func DropPrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) (int, error) {
	var mu sync.Mutex
	n := 0
	err := ForEachNode(ctx, rdb, func(ctx context.Context, node redis.Cmdable) error {
		return ScanPrefix(ctx, node, prefix, func(keys []string) error {
			// One UNLINK per key: in a Cluster a multi-key UNLINK must
			// stay within one slot.
			pipe := node.Pipeline()
			for _, k := range keys {
				pipe.Unlink(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return fmt.Errorf("unlink %d keys under %q: %w", len(keys), prefix, err)
			}
			mu.Lock()
			n += len(keys)
			mu.Unlock()
			return nil
		})
	})
	return n, err
}

// globEscape escapes the glob characters of SCAN MATCH, so that s matches
// only itself.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
