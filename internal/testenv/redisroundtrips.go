package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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

// RedisCPU returns the CPU time the Redis server has used so far (INFO
// cpu, user and system), which a benchmark on the same cores adds to its
// own.
func RedisCPU(ctx context.Context, rdb redis.UniversalClient) (time.Duration, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO cpu: %w", err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("redis INFO cpu: %s: %w", line, err)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second)), nil
}
