package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/notify"
)

func TestRedisMarkers(t *testing.T) {
	m, client := redisMarkers(t)
	ctx := context.Background()
	claim := func(id, owner string, want notify.ClaimResult) {
		t.Helper()
		got, err := m.Claim(ctx, id, owner, time.Minute)
		if err != nil || got != want {
			t.Fatalf("Claim(%s, %s) = %v, %v; want %v", id, owner, got, err, want)
		}
	}
	claim("e1", "a", notify.Claimed)
	claim("e1", "b", notify.Busy)
	claim("e1", "a", notify.Claimed) // the owner may claim again
	if ttl := client.PTTL(ctx, m.Key("e1")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("lease TTL %v, want within a minute", ttl)
	}
	if err := m.Release(ctx, "e1", "b"); err != nil {
		t.Fatal(err)
	}
	claim("e1", "b", notify.Busy) // another's release does not free it
	if err := m.Release(ctx, "e1", "a"); err != nil {
		t.Fatal(err)
	}
	claim("e1", "b", notify.Claimed)
	if err := m.MarkSent(ctx, "e1"); err != nil {
		t.Fatal(err)
	}
	claim("e1", "a", notify.AlreadySent)
	claim("e1", "b", notify.AlreadySent)
	if err := m.Release(ctx, "e1", "b"); err != nil {
		t.Fatal(err)
	}
	claim("e1", "a", notify.AlreadySent) // a release never drops a settled marker
	if ttl := client.TTL(ctx, m.Key("e1")).Val(); ttl < 29*24*time.Hour || ttl > notify.DefaultMarkerRetention {
		t.Errorf("sent marker TTL %v, want the default retention", ttl)
	}

	claim("e2", "a", notify.Claimed)
	if err := m.MarkFailed(ctx, "e2", "invalid email address"); err != nil {
		t.Fatal(err)
	}
	claim("e2", "b", notify.AlreadyFailed)
	if s, err := m.State(ctx, "e2"); err != nil || s != "failed invalid email address" {
		t.Errorf("State = %q, %v", s, err)
	}
	if s, err := m.State(ctx, "e3"); err != nil || s != "" {
		t.Errorf("State of an unknown event = %q, %v", s, err)
	}

	forever := notify.NewRedisMarkers(client, notify.RedisMarkersConfig{Prefix: m.Key("forever:"), Retention: -1})
	if err := forever.MarkSent(ctx, "e4"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Del(context.Background(), forever.Key("e4")) })
	if ttl := client.TTL(ctx, forever.Key("e4")).Val(); ttl != -1 {
		t.Errorf("marker kept forever has TTL %v, want none (-1)", ttl)
	}
}
