package testenv

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RedisRoundTrips is a go-redis hook that counts the round trips a client
// makes: single commands and pipelines. Tests add it with client.AddHook
// to prove "one pipelined round trip per batch" claims.
type RedisRoundTrips struct {
	Commands, Pipelines atomic.Int64
}

// DialHook passes dials through uncounted.
func (h *RedisRoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts a single command.
func (h *RedisRoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.Commands.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts a pipeline (or transaction) as one round trip.
func (h *RedisRoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.Pipelines.Add(1)
		return next(ctx, cmds)
	}
}

// Reset sets both counts to zero.
func (h *RedisRoundTrips) Reset() { h.Commands.Store(0); h.Pipelines.Store(0) }

// Total returns commands plus pipelines.
func (h *RedisRoundTrips) Total() int64 { return h.Commands.Load() + h.Pipelines.Load() }

// String describes the counts.
func (h *RedisRoundTrips) String() string {
	return fmt.Sprintf("%d commands + %d pipelines", h.Commands.Load(), h.Pipelines.Load())
}
