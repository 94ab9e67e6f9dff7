package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/rediskey"
)

// Redis returns a client of the test Redis (ATTRIB_TEST_REDIS_URL) and a
// key prefix that no other test shares, "t:<random>:". It skips or fails
// like RedisURL when there is no server. opts adjust the client's options
// before the client is made. When the test ends it deletes every key under
// the prefix, with a client of its own (the test may have closed or broken
// this one), then closes the client.
func Redis(t testing.TB, opts ...func(*redis.Options)) (*redis.Client, string) {
	t.Helper()
	url := RedisURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("ATTRIB_TEST_REDIS_URL=%q: %v", url, err)
	}
	for _, o := range opts {
		o(opt)
	}
	client := redis.NewClient(opt)
	prefix := UniqueName("t:") + ":"
	t.Cleanup(func() {
		defer client.Close()
		plain, err := redis.ParseURL(url)
		if err != nil {
			t.Errorf("drop test keys: %v", err)
			return
		}
		c := redis.NewClient(plain)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := rediskey.DropPrefix(ctx, c, prefix); err != nil {
			t.Errorf("drop test keys under %q: %v", prefix, err)
		}
	})
	return client, prefix
}
