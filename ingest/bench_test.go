package ingest_test

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// BenchmarkWebhookSingle measures signed one-event webhook requests from a
// concurrent keep-alive client over loopback, through the real HTTP server,
// Redis dedupe and embedded broker (log on disk, 4 partitions), with and
// without an fsync per produced batch. One op is one request.
func BenchmarkWebhookSingle(b *testing.B) { benchWebhook(b, 1, 96) }

// BenchmarkWebhookBatch100 is BenchmarkWebhookSingle with 100 events per
// request.
func BenchmarkWebhookBatch100(b *testing.B) { benchWebhook(b, 100, 12) }

// benchWebhook runs size-event requests from parallelism*GOMAXPROCS client
// goroutines. Requests are synchronous appends: throughput is concurrency
// over latency, and the store's writer shares one produce request among the
// appends that arrive within its batch timeout.
func benchWebhook(b *testing.B, size, parallelism int) {
	for _, fsync := range []bool{false, true} {
		b.Run("fsync="+strconv.FormatBool(fsync), func(b *testing.B) {
			r := newRig(b, rigOptions{dataDir: b.TempDir(), syncWrites: fsync, poolSize: 256})
			url := r.srv.URL + "/v1/webhooks/orders"
			run := strconv.FormatInt(time.Now().UnixNano(), 36)
			var seq, refused atomic.Int64
			b.SetParallelism(parallelism)
			b.SetBytes(int64(len(benchBody(nil, run, 0, size))))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var body []byte
				for pb.Next() {
					body = benchBody(body[:0], run, seq.Add(1), size)
					req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set(ingest.HeaderBrandID, r.brand)
					req.Header.Set(ingest.HeaderSignature, ingest.Sign(r.secret, time.Now(), body))
					resp, err := r.client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						if refused.Add(1) == 1 {
							b.Errorf("status %d", resp.StatusCode)
						}
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
		})
	}
}

// benchBody appends a body of size order.placed events with fresh ids.
func benchBody(buf []byte, run string, n int64, size int) []byte {
	one := func(buf []byte, i int) []byte {
		buf = append(buf, `{"event_id":"`...)
		buf = append(buf, run...)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `","type":"order.placed","order_id":"A-`...)
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(i), 10)
		return append(buf, `","occurred_at":"2026-11-24T10:00:00Z","promo_codes":["anna10"],"amount":"2500.00","currency":"RUB","country":"RU"}`...)
	}
	if size == 1 {
		return one(buf, 0)
	}
	buf = append(buf, `{"events":[`...)
	for i := 0; i < size; i++ {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = one(buf, i)
	}
	return append(buf, "]}"...)
}
