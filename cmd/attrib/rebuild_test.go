package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// TestRebuildRedisIsIdentical: after a catalog history, `attrib rebuild
// redis` drops the projections and replays the log to the same content,
// byte for byte.
func TestRebuildRedisIsIdentical(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	r1 := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerA, "platform": "instagram"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r1+"/confirm", a.brandA, map[string]any{"code": "ANNA10"})
	r2 := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r2+"/reject", a.brandB, map[string]any{"reason": "not a fit"})
	e.must(200, "PATCH", "/v1/offers/"+a.offerA, a.brandA, map[string]any{"payout": map[string]any{"type": "fixed", "value": "200.00", "currency": "RUB"}})
	e.must(200, "POST", "/v1/promo-codes/ANNA10/revoke", a.brandA, nil)
	r3 := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerA, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r3+"/confirm", a.brandA, map[string]any{"code": "anna10"})

	opts, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	proj, err := rediscatalog.New(rediscatalog.Config{Client: rdb, Prefix: e.redisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	before, err := proj.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(before, "ANNA10") || !strings.Contains(before, "not a fit") {
		t.Fatalf("dump before the rebuild lacks the history:\n%s", before)
	}

	// Wipe the projections, as a lost Redis would.
	if err := proj.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if wiped, _ := proj.Dump(context.Background()); wiped != "" {
		t.Fatalf("dump after Drop is not empty:\n%s", wiped)
	}
	var stderr bytes.Buffer
	if code := runContext(context.Background(), append([]string{"rebuild", "redis"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("attrib rebuild redis exited %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "events/s") {
		t.Errorf("rebuild printed no progress:\n%s", stderr.String())
	}
	after, err := proj.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("Redis after the rebuild differs from before\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
