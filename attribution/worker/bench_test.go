package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/schemas"
)

// Shape of the benchmark's world.
const (
	benchBrands        = 10
	benchCodesPerBrand = 100 // 1000 codes in all
	// benchSpread is how many events lie between an order's placement and
	// its later events, so that they fall in other batches and each one
	// loads the order's state from Redis, as live traffic does.
	benchSpread = 5000
	// benchPartitions is the partition count of the topics, the engine's
	// default.
	benchPartitions = 8
)

// benchCatalog writes 10 brands, each with a fixed offer and a percent
// offer with a 30-day hold, and 100 confirmed codes per brand, and returns
// the codes by brand.
func benchCatalog(b *testing.B, r *rig) [][]string {
	codes := make([][]string, benchBrands)
	var envs []schemas.Envelope
	when := at(0)
	next := func() time.Time { when = when.Add(time.Second); return when }
	for bi := range benchBrands {
		brand := fmt.Sprintf("brand-%d", bi)
		envs = append(envs, r.cat.decide(next(), catalog.RegisterBrand{BrandID: brand, Name: brand, APIKeyHash: sha(brand), WebhookSecretSalt: "salt"})...)
		envs = append(envs, r.cat.decide(next(), catalog.PublishOffer{BrandID: brand, OfferID: "fixed", Name: "Fixed", Payout: fixed("150.00"),
			Countries: []string{"RU"}, Platforms: []string{"instagram"}})...)
		envs = append(envs, r.cat.decide(next(), catalog.PublishOffer{BrandID: brand, OfferID: "pct", Name: "Percent", Payout: percent("7.5"),
			Countries: []string{"RU"}, Platforms: []string{"instagram"}, HoldDays: 30})...)
		for ci := range benchCodesPerBrand {
			req := fmt.Sprintf("req-%d-%d", bi, ci)
			offer := []string{"fixed", "pct"}[ci%2]
			code := fmt.Sprintf("CODE%d-X%d", bi, ci)
			envs = append(envs, r.cat.decide(next(), catalog.RequestCode{BrandID: brand, OfferID: offer, RequestID: req, CreatorID: fmt.Sprintf("creator-%d", ci), Platform: "instagram"})...)
			envs = append(envs, r.cat.decide(next(), catalog.ConfirmCode{BrandID: brand, RequestID: req, Code: code})...)
			codes[bi] = append(codes[bi], code)
		}
	}
	for i := 0; i < len(envs); i += 1000 {
		r.append(schemas.TopicCatalog, envs[i:min(i+1000, len(envs))]...)
	}
	return codes
}

// benchOrders makes n order events: placements (one in ten with an
// unknown code, one in twenty with none), each followed benchSpread events
// later by a partial refund (one order in three) and a confirmation or a
// cancellation (three in four), with duplicates now and then.
func benchOrders(b *testing.B, codes [][]string, n int) []schemas.Envelope {
	rng := rand.New(rand.NewPCG(1, 2))
	slots := make([][]schemas.Envelope, n+3*benchSpread)
	placedAt := at(2 * day)
	total := 0
	for o := 0; total < n; o++ {
		bi := rng.IntN(benchBrands)
		brand := fmt.Sprintf("brand-%d", bi)
		id := fmt.Sprintf("order-%d", o)
		var promo []string
		switch k := rng.IntN(20); {
		case k == 0:
		case k < 3:
			promo = []string{fmt.Sprintf("nope%d", rng.IntN(1000))}
		default:
			promo = []string{codes[bi][rng.IntN(len(codes[bi]))]}
		}
		when := placedAt.Add(time.Duration(o) * time.Second)
		mk := func(ev schemas.Event, t time.Time) schemas.Envelope {
			env, err := schemas.NewEnvelopeFor(ev, t, t)
			if err != nil {
				b.Fatal(err)
			}
			return env
		}
		pos := o
		slots[pos] = append(slots[pos], mk(schemas.OrderPlaced{OrderID: id, BrandID: brand, ShopEventID: id + "-p", PromoCodes: promo,
			Amount: fmt.Sprintf("%d.%02d", 100+rng.IntN(10000), rng.IntN(100)), Currency: "RUB", Country: "RU"}, when))
		total++
		if rng.IntN(3) == 0 {
			slots[pos+benchSpread] = append(slots[pos+benchSpread], mk(schemas.OrderRefunded{OrderID: id, BrandID: brand, ShopEventID: id + "-r", RefundAmount: "10.00"}, when.Add(time.Hour)))
			total++
		}
		if rng.IntN(4) != 0 {
			var ev schemas.Event = schemas.OrderConfirmed{OrderID: id, BrandID: brand, ShopEventID: id + "-c"}
			if rng.IntN(10) == 0 {
				ev = schemas.OrderCancelled{OrderID: id, BrandID: brand, ShopEventID: id + "-x"}
			}
			env := mk(ev, when.Add(14*day))
			slots[pos+2*benchSpread] = append(slots[pos+2*benchSpread], env)
			total++
			if rng.IntN(50) == 0 {
				slots[pos+3*benchSpread] = append(slots[pos+3*benchSpread], env) // a retried append
				total++
			}
		}
	}
	out := make([]schemas.Envelope, 0, total)
	for _, s := range slots {
		out = append(out, s...)
	}
	return out[:n]
}

// benchRig builds the world of BenchmarkWorker: the catalog applied to the
// index, and n order events in attrib.orders.
func benchRig(b *testing.B, n int) *rig {
	r := newRig(b, onDisk(b), partitions(benchPartitions), workerConfig(func(c *worker.Config) { c.HoldTick = worker.DefaultHoldTick }))
	codes := benchCatalog(b, r)
	stop := r.runProjection()
	r.waitIndex()
	stop()
	evs := benchOrders(b, codes, n)
	for i := 0; i < len(evs); i += 1000 {
		r.append(schemas.TopicOrders, evs[i:min(i+1000, len(evs))]...)
	}
	return r
}

// BenchmarkWorker measures the worker end to end: events pre-loaded in
// attrib.orders (8 partitions of the embedded broker, its log on disk) are consumed by the
// worker's subscriber, looked up in a real code index of 1000 codes, and
// their rows appended to attrib.attributions. One op is 1000 order events.
// Reported: events/s from the subscriber's start (group join included) to
// the last batch, steady events/s (first batch to last), and Redis round
// trips per batch.
func BenchmarkWorker(b *testing.B) {
	// The collector set as the attrib binary sets it (GOGC=400 unless the
	// environment says otherwise; cmd/attrib's defaultGCPercent).
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	n := b.N * 1000
	r := benchRig(b, n)
	var handled atomic.Int64
	var first atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	cfg := r.w.SubscriberConfig()
	inner := cfg.Handler
	var assigned atomic.Int64
	cfg.Handler = func(ctx context.Context, a eventstore.Assignment) (eventstore.PartitionHandler, error) {
		assigned.CompareAndSwap(0, time.Now().UnixNano())
		h, err := inner(ctx, a)
		if err != nil {
			return nil, err
		}
		return closer{PartitionHandler: eventstore.HandlerFunc(func(ctx context.Context, batch *eventstore.Batch) error {
			if err := h.Handle(ctx, batch); err != nil {
				return err
			}
			first.CompareAndSwap(0, time.Now().UnixNano())
			if handled.Add(int64(len(batch.Messages))) >= int64(n) {
				once.Do(func() { close(done) })
			}
			return nil
		}), close: h.(interface{ Close() error }).Close}, nil
	}
	r.workerRT.Reset()
	r.projRT.Reset()
	b.ResetTimer()
	stopProfile := profileMeasured(b)
	redis0, idle0 := redisCPU(b, r), machineIdle()
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	cpu0 := cpuTime()
	start := time.Now()
	stop := r.run(cfg)
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		b.Fatalf("handled %d of %d events in 3 minutes", handled.Load(), n)
	}
	end := time.Now()
	cpu := cpuTime() - cpu0
	redisCPU, idle := redisCPU(b, r)-redis0, machineIdle()-idle0
	runtime.ReadMemStats(&mem1)
	b.StopTimer()
	stopProfile()
	stop()
	batches := counter(b, r.reg, "attrib_attribution_batch_seconds")
	b.ReportMetric(float64(n)/end.Sub(start).Seconds(), "events/s")
	b.ReportMetric(float64(n)/end.Sub(time.Unix(0, first.Load())).Seconds(), "steady-events/s")
	b.ReportMetric(float64(n)/batches, "events/batch")
	b.ReportMetric(sumOf(b, r.reg, "attrib_attribution_redis_round_trips")/batches, "redis-round-trips/batch")
	b.ReportMetric(float64(r.workerRT.Total()+r.projRT.Total())/batches, "redis-calls/batch")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/event")
	b.ReportMetric(float64(redisCPU.Microseconds())/float64(n), "redis-cpu-µs/event")
	// The process's allocations, the embedded broker's included.
	b.ReportMetric(float64(mem1.Mallocs-mem0.Mallocs)/float64(n), "allocs/event")
	b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/float64(n), "B/event")
	b.ReportMetric(float64(mem1.NumGC-mem0.NumGC), "gc-cycles")
	if idle >= 0 {
		b.ReportMetric(100*idle.Seconds()/(end.Sub(start).Seconds()*float64(runtime.NumCPU())), "machine-idle-%")
	}
	b.ReportMetric(float64(time.Unix(0, first.Load()).Sub(start).Milliseconds()), "first-batch-ms")
	b.ReportMetric(float64(time.Unix(0, assigned.Load()).Sub(start).Milliseconds()), "assigned-ms")
	b.ReportMetric(1000*sumOf(b, r.reg, "attrib_attribution_batch_seconds")/batches, "handle-ms/batch")
	for _, c := range []string{"state", "code"} {
		name := "attrib_attribution_" + c + "_cache_total"
		hits := counterWith(b, r.reg, name, "result", "hit")
		if total := hits + counterWith(b, r.reg, name, "result", "miss"); total > 0 {
			b.ReportMetric(100*hits/total, c+"-cache-hit-%")
		}
	}
}

// profileMeasured profiles the measured part of a benchmark only (go
// test's -cpuprofile also covers the setup, which here writes the whole
// log): with ATTRIB_BENCH_PROFILE=<dir>, it writes <dir>/cpu.prof, and
// <dir>/allocs-before.prof and allocs-after.prof to compare with
// `go tool pprof -diff_base`. It returns the function that stops it.
func profileMeasured(b *testing.B) func() {
	dir := os.Getenv("ATTRIB_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	writeAllocs := func(name string) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	writeAllocs("allocs-before.prof")
	f, err := os.Create(filepath.Join(dir, "cpu.prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		writeAllocs("allocs-after.prof")
	}
}

// cpuTime is the CPU time the process used so far (the embedded broker
// included, the Redis server not).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the CPU time the Redis server used so far (INFO cpu), which
// shares the machine's cores with the process.
func redisCPU(b *testing.B, r *rig) time.Duration {
	d, err := testenv.RedisCPU(context.Background(), r.rdb)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// machineIdle is the idle time of all the machine's cores so far
// (/proc/stat), or -1 where there is none.
func machineIdle() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return -1
	}
	var ticks int64
	for _, v := range f[4:6] { // idle, iowait
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// closer is a PartitionHandler with the Close of the handler it wraps.
type closer struct {
	eventstore.PartitionHandler
	close func() error
}

func (c closer) Close() error { return c.close() }

// BenchmarkHandle measures the worker's own work per event: the events of
// BenchmarkWorker, already read from the log into batches of 1000 of one
// partition, handed to the partition handlers directly, one goroutine per
// partition (Redis, the index and the appends of rows included; the
// subscriber's fetching and committing not). One op is 1000 events.
func BenchmarkHandle(b *testing.B) {
	n := b.N * 1000
	r := benchRig(b, n)
	ctx := context.Background()
	batches := map[int][]*eventstore.Batch{}
	err := r.store.Replay(ctx, schemas.TopicOrders, eventstore.HandlerFunc(func(_ context.Context, bt *eventstore.Batch) error {
		list := batches[bt.Partition]
		if len(list) == 0 || len(list[len(list)-1].Messages) >= 1000 {
			list = append(list, &eventstore.Batch{Topic: bt.Topic, Partition: bt.Partition})
		}
		last := list[len(list)-1]
		last.Messages = append(last.Messages, bt.Messages...)
		batches[bt.Partition] = list
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		b.Fatal(err)
	}
	handlers := map[int]eventstore.PartitionHandler{}
	for p := range batches {
		h, err := r.w.Handler()(ctx, eventstore.Assignment{Group: worker.Group, Topic: schemas.TopicOrders, Partition: p})
		if err != nil {
			b.Fatal(err)
		}
		defer h.(interface{ Close() error }).Close()
		handlers[p] = h
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for p, list := range batches {
		wg.Go(func() {
			for _, bt := range list {
				if err := handlers[p].Handle(ctx, bt); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	nb := counter(b, r.reg, "attrib_attribution_batch_seconds")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(sumOf(b, r.reg, "attrib_attribution_redis_round_trips")/nb, "redis-round-trips/batch")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/event")
}
