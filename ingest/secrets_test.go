package ingest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCachedSecrets(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	var calls atomic.Int64
	var down atomic.Bool
	brands := map[string]string{"b1": "whsec_1"}
	var mu sync.Mutex
	src := ingest.SecretFunc(func(_ context.Context, id string) (string, bool, error) {
		calls.Add(1)
		if down.Load() {
			return "", false, errors.New("redis down")
		}
		mu.Lock()
		defer mu.Unlock()
		s, ok := brands[id]
		return s, ok, nil
	})
	c := ingest.NewCachedSecrets(src, ingest.CacheConfig{Now: clk.Now, MaxEntries: 10})
	expect := func(id, wantSecret string, wantOK bool, wantErr bool, wantCalls int64) {
		t.Helper()
		s, ok, err := c.WebhookSecret(ctx, id)
		if s != wantSecret || ok != wantOK || (err != nil) != wantErr || calls.Load() != wantCalls {
			t.Fatalf("WebhookSecret(%s) = %q %v %v after %d lookups; want %q %v error %v after %d",
				id, s, ok, err, calls.Load(), wantSecret, wantOK, wantErr, wantCalls)
		}
	}
	expect("b1", "whsec_1", true, false, 1)
	expect("b1", "whsec_1", true, false, 1) // cached
	expect("b2", "", false, false, 2)
	expect("b2", "", false, false, 2) // negative entry
	mu.Lock()
	brands["b2"] = "whsec_2"
	mu.Unlock()
	clk.Add(6 * time.Second) // negative entries last 5 s
	expect("b2", "whsec_2", true, false, 3)
	expect("b1", "whsec_1", true, false, 3)
	clk.Add(61 * time.Second) // positive ones a minute
	down.Store(true)
	expect("b1", "", false, true, 4) // errors are not cached...
	expect("b1", "", false, true, 5) // ...so each miss tries again
	down.Store(false)
	expect("b1", "whsec_1", true, false, 6)
	c.Forget("b1")
	expect("b1", "whsec_1", true, false, 7)

	// Bounded: unknown ids do not grow the cache without limit.
	for i := 0; i < 100; i++ {
		expect("x"+strconv.Itoa(i), "", false, false, int64(8+i))
	}
}

func TestCachedSecretsShareOneLookup(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	src := ingest.SecretFunc(func(ctx context.Context, id string) (string, bool, error) {
		calls.Add(1)
		<-release
		return "whsec_" + id, true, nil
	})
	c := ingest.NewCachedSecrets(src, ingest.CacheConfig{})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if s, ok, err := c.WebhookSecret(ctx, "b1"); s != "whsec_b1" || !ok || err != nil {
				t.Errorf("got %q %v %v", s, ok, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d lookups for 50 concurrent misses, want 1", n)
	}
}
