package testenv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/testenv"
)

// TestRedisCleansUp: the client has the options asked for; once the test
// that got it ends, the keys under its prefix are gone (also when the test
// closed the client itself), a key outside it is kept, and the client is
// closed.
func TestRedisCleansUp(t *testing.T) {
	ctx := context.Background()
	other, otherPrefix := testenv.Redis(t)
	outside := otherPrefix + "kept"
	if err := other.Set(ctx, outside, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		closeIt bool
	}{
		{"left open", false},
		{"closed by the test", true},
	}
	for _, tc := range tests {
		var (
			client *redis.Client
			prefix string
		)
		t.Run(tc.name, func(t *testing.T) {
			client, prefix = testenv.Redis(t, func(o *redis.Options) { o.PoolSize = 3 })
			if got := client.Options().PoolSize; got != 3 {
				t.Errorf("PoolSize %d, want 3 from the option", got)
			}
			for _, k := range []string{prefix + "a", prefix + "b:{c}"} {
				if err := client.Set(ctx, k, "v", 0).Err(); err != nil {
					t.Fatalf("set %s: %v", k, err)
				}
			}
			if tc.closeIt {
				_ = client.Close()
			}
		})
		n, err := other.Exists(ctx, prefix+"a", prefix+"b:{c}").Result()
		if err != nil || n != 0 {
			t.Errorf("keys under the ended test's prefix: %d, %v; want none", n, err)
		}
		if err := client.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
			t.Errorf("ping on the ended test's client: %v, want %v", err, redis.ErrClosed)
		}
	}
	if n, err := other.Exists(ctx, outside).Result(); err != nil || n != 1 {
		t.Errorf("key outside the prefixes: %d, %v; want it kept", n, err)
	}
}
