package ratelimit

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/internal/testenv"
)

// BenchmarkAllow measures checks from concurrent callers against the real
// Redis, on one bucket (one brand's burst) and on 1,000 (many callers);
// one op is one check. It reports this process's and the Redis server's
// CPU per check, and the checks a pipeline carried.
func BenchmarkAllow(b *testing.B) {
	for _, buckets := range []int{1, 1000} {
		b.Run("buckets="+strconv.Itoa(buckets), func(b *testing.B) {
			client, prefix := testenv.Redis(b)
			rt := &testenv.RedisRoundTrips{}
			client.AddHook(rt)
			lim, err := New(Config{Client: client, Prefix: prefix})
			if err != nil {
				b.Fatal(err)
			}
			p, err := lim.Policy("bench", Limit{Rate: 1e6, Burst: 1e6})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var seq atomic.Int64
			b.SetParallelism(64)
			redis0, _ := testenv.RedisCPU(ctx, client)
			cpu0 := processCPU()
			rt.Reset()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := strconv.FormatInt(seq.Add(1)%int64(buckets), 10)
					if ok, _ := p.Allow(ctx, id); !ok {
						b.Error("refused")
						return
					}
				}
			})
			b.StopTimer()
			redis1, _ := testenv.RedisCPU(ctx, client)
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/check")
			b.ReportMetric(float64((redis1-redis0).Nanoseconds())/1e3/float64(b.N), "redis-cpu-µs/check")
			if n := rt.Pipelines.Load(); n > 0 {
				b.ReportMetric(float64(b.N)/float64(n), "checks/pipeline")
			}
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
