package eventstore_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/schemas"
)

// benchBatch makes n events of about 300 bytes over 100 keys.
func benchBatch(n, round int) []schemas.Envelope {
	out := make([]schemas.Envelope, n)
	for i := range out {
		out[i] = testEvent("brand-"+strconv.Itoa(i%100)+"/order-"+strconv.Itoa(round), i, 300)
	}
	return out
}

// BenchmarkAppend measures durable appends (acks=all) of batches of 1000
// events of ~300 bytes to a 4-partition topic of the embedded broker, with
// and without fsync per batch. One op is one batch.
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run("fsync="+strconv.FormatBool(sync), func(b *testing.B) {
			br := startBroker(b, embedded.Config{DataDir: b.TempDir(), SyncWrites: sync})
			s := openStore(b, br.Addrs())
			topic := uniqueName(b, "topic")
			ensureTopic(b, s, topic, 4)
			batches := make([][]schemas.Envelope, 16)
			for i := range batches {
				batches[i] = benchBatch(1000, i)
			}
			b.SetBytes(int64(len(batches[0])) * 300)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := s.Append(context.Background(), topic, batches[i%len(batches)]...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkConsume measures a subscriber reading, handling (no-op) and
// committing batches of up to 1000 events from a 4-partition topic. One op is
// 1000 events.
func BenchmarkConsume(b *testing.B) {
	br := startBroker(b, embedded.Config{DataDir: b.TempDir()})
	s := openStore(b, br.Addrs())
	topic := uniqueName(b, "topic")
	ensureTopic(b, s, topic, 4)
	total := b.N * 1000
	for i := 0; i < b.N; i++ {
		if err := s.Append(context.Background(), topic, benchBatch(1000, i)...); err != nil {
			b.Fatal(err)
		}
	}
	var seen atomic.Int64
	done := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	stop := runSubscriber(b, s, eventstore.SubscriberConfig{
		Group: uniqueName(b, "group"), Topics: []string{topic}, MaxBatch: 1000,
		Handler: eventstore.Stateless(eventstore.HandlerFunc(func(_ context.Context, batch *eventstore.Batch) error {
			if seen.Add(int64(len(batch.Messages))) == int64(total) {
				close(done)
			}
			return nil
		})),
	})
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("consumed %d of %d events in 5 minutes", seen.Load(), total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
}
