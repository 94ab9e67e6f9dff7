package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisReplies is the reply queue in Redis: one short-lived list per command
// id. The processor pushes the result; the waiting API call pops it with
// BLPOP, so the answer reaches whichever process sent the command.
type RedisReplies struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration
}

// NewRedisReplies returns the queue with keys "<prefix>reply:<command id>".
func NewRedisReplies(client redis.UniversalClient, prefix string) *RedisReplies {
	return &RedisReplies{client: client, prefix: prefix, ttl: 2 * time.Minute}
}

func (r *RedisReplies) key(id string) string { return r.prefix + "reply:" + id }

// Reply pushes the result for commandID; it expires if nobody waits.
func (r *RedisReplies) Reply(ctx context.Context, commandID string, result []byte) error {
	key := r.key(commandID)
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key) // a redelivered command answers once, not twice
		p.RPush(ctx, key, result)
		p.Expire(ctx, key, r.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("push reply %s: %w", commandID, err)
	}
	return nil
}

// Wait pops the result of commandID, waiting up to timeout.
func (r *RedisReplies) Wait(ctx context.Context, commandID string, timeout time.Duration) ([]byte, error) {
	res, err := r.client.BLPop(ctx, timeout, r.key(commandID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("no result within %v", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("wait for reply %s: %w", commandID, err)
	}
	return []byte(res[1]), nil
}
