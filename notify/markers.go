package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultMarkerPrefix is the default key prefix of RedisMarkers. It is not
// under the projections' prefix on purpose: `attrib rebuild redis` drops the
// projections, and dropping the markers with them would make the replay
// that follows send every recent email again.
const DefaultMarkerPrefix = "attrib-outbox:"

// DefaultMarkerRetention is how long RedisMarkers keeps a settled marker by
// default: longer than the Outbox's default MaxAge (7 days), which is what
// makes a bounded retention safe.
const DefaultMarkerRetention = 30 * 24 * time.Hour

// RedisMarkersConfig configures RedisMarkers.
type RedisMarkersConfig struct {
	// Prefix of every key. Default DefaultMarkerPrefix.
	Prefix string
	// Retention is how long a "sent" or "failed" marker lives. A marker only
	// has to outlive the time in which its decision could still be sent:
	// the Outbox skips decisions older than its MaxAge, so a marker kept
	// longer than MaxAge (plus clock skew) never expires while it matters,
	// and Redis does not grow with every decision ever made. NewOutbox
	// refuses a retention less than a day longer than its MaxAge. Default
	// DefaultMarkerRetention; negative: keep markers forever (required
	// when the Outbox has no MaxAge).
	Retention time.Duration
}

// RedisMarkers keeps the sending state of each decision's email in one Redis
// key, "<prefix>email:<event id>", whose value is one of
//
//	sending <owner>   a lease: an Outbox is sending it now (expires)
//	sent              the sender accepted the email
//	failed <reason>   it can never be sent (invalid address, ...)
//
// One key per decision keeps every operation a single-key command, so it
// works on Redis Cluster, and makes the claim one atomic step. It is safe
// for concurrent use.
type RedisMarkers struct {
	client    redis.UniversalClient
	prefix    string
	retention time.Duration
}

// NewRedisMarkers returns markers stored through client.
func NewRedisMarkers(client redis.UniversalClient, cfg RedisMarkersConfig) *RedisMarkers {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultMarkerPrefix
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultMarkerRetention
	}
	if cfg.Retention < 0 {
		cfg.Retention = 0 // no expiry
	}
	return &RedisMarkers{client: client, prefix: cfg.Prefix, retention: cfg.Retention}
}

// Key returns the Redis key of eventID's marker.
func (m *RedisMarkers) Key(eventID string) string { return m.prefix + "email:" + eventID }

// Retention returns how long a settled marker lives; 0 means forever.
func (m *RedisMarkers) Retention() time.Duration { return m.retention }

// claimScript takes the lease when the key is absent or already ours, and
// otherwise returns the key's value.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
	return 'claimed'
end
return v
`)

// releaseScript deletes the key only while it is our lease.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Claim implements Markers.
func (m *RedisMarkers) Claim(ctx context.Context, eventID, owner string, lease time.Duration) (ClaimResult, error) {
	v, err := claimScript.Run(ctx, m.client, []string{m.Key(eventID)}, "sending "+owner, lease.Milliseconds()).Text()
	if err != nil {
		return 0, fmt.Errorf("claim email %s: %w", eventID, err)
	}
	switch {
	case v == "claimed":
		return Claimed, nil
	case v == "sent":
		return AlreadySent, nil
	case strings.HasPrefix(v, "failed"):
		return AlreadyFailed, nil
	default:
		return Busy, nil
	}
}

// Release implements Markers.
func (m *RedisMarkers) Release(ctx context.Context, eventID, owner string) error {
	if err := releaseScript.Run(ctx, m.client, []string{m.Key(eventID)}, "sending "+owner).Err(); err != nil {
		return fmt.Errorf("release email %s: %w", eventID, err)
	}
	return nil
}

// MarkSent implements Markers.
func (m *RedisMarkers) MarkSent(ctx context.Context, eventID string) error {
	if err := m.client.Set(ctx, m.Key(eventID), "sent", m.retention).Err(); err != nil {
		return fmt.Errorf("mark email %s sent: %w", eventID, err)
	}
	return nil
}

// MarkFailed implements Markers.
func (m *RedisMarkers) MarkFailed(ctx context.Context, eventID, reason string) error {
	if err := m.client.Set(ctx, m.Key(eventID), "failed "+reason, m.retention).Err(); err != nil {
		return fmt.Errorf("mark email %s failed: %w", eventID, err)
	}
	return nil
}

// State returns the raw marker of eventID ("sent", "failed <reason>",
// "sending <owner>"), or "" when there is none: for operators and tests.
func (m *RedisMarkers) State(ctx context.Context, eventID string) (string, error) {
	v, err := m.client.Get(ctx, m.Key(eventID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("marker of email %s: %w", eventID, err)
	}
	return v, nil
}
