package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/ratelimit"
)

// benchLimiter runs the webhook benchmarks with the brand's rate limit on,
// set far above what they send: every request takes a token from its
// bucket in Redis and none is refused. Compare runs with and without it.
var benchLimiter = flag.Bool("bench-limiter", false, "webhook benchmarks: check each request against a rate limit in Redis (never reached)")

// BenchmarkWebhookSingle measures signed one-event webhook requests from a
// concurrent keep-alive client over loopback, through the real HTTP server,
// Redis dedupe and embedded broker (log on disk, 4 partitions), with and
// without an fsync per produced batch. One op is one request.
//
// The client shares the machine's two cores with the server, so its cost
// counts against the server's: "client=lean" is a minimal HTTP/1.1 client
// (one connection per goroutine, requests written and answers parsed by
// hand, as a load generator such as wrk does), "client=net-http" is Go's
// http.Client, which spends about a third of the process's CPU on its own.
func BenchmarkWebhookSingle(b *testing.B) { benchWebhook(b, 1, 96) }

// BenchmarkWebhookBatch100 is BenchmarkWebhookSingle with 100 events per
// request.
func BenchmarkWebhookBatch100(b *testing.B) { benchWebhook(b, 100, 12) }

// benchWebhook runs size-event requests from parallelism*GOMAXPROCS client
// goroutines. Requests are synchronous appends: throughput is concurrency
// over latency, and the store's writer shares one produce request among the
// appends that arrive within its batch timeout.
//
// The collector is set as the attrib binary sets it (GOGC=400 unless the
// environment says otherwise); the in-process client runs with it too.
func benchWebhook(b *testing.B, size, parallelism int) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	cases := []struct {
		fsync bool
		lean  bool
	}{{false, true}, {false, false}, {true, true}}
	for _, c := range cases {
		client := "net-http"
		if c.lean {
			client = "lean"
		}
		b.Run("fsync="+strconv.FormatBool(c.fsync)+"/client="+client, func(b *testing.B) {
			o := rigOptions{dataDir: b.TempDir(), syncWrites: c.fsync, poolSize: 256}
			if *benchLimiter {
				o.limiter = brandLimit(b, ratelimit.Limit{Rate: 1e6, Burst: 1e6}, nil)
			}
			r := newRig(b, o)
			run := strconv.FormatInt(time.Now().UnixNano(), 36)
			var seq, refused atomic.Int64
			b.SetParallelism(parallelism)
			b.SetBytes(int64(len(benchBody(nil, run, 0, size))))
			b.ResetTimer()
			cpu0, redis0, machine0 := processCPU(), redisCPU(b, r), machineCPU()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				// Labelled, so that a profile separates the client's CPU
				// from the server's: -tagignore side=client.
				pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("side", "client")))
				var post func(body []byte) (int, error)
				if c.lean {
					lc, err := dialLean(r.srv.Listener.Addr().String())
					if err != nil {
						b.Error(err)
						return
					}
					defer lc.close()
					post = func(body []byte) (int, error) { return lc.post(r.brand, r.secret, body) }
				} else {
					post = func(body []byte) (int, error) { return netHTTPPost(r, body) }
				}
				var body []byte
				for pb.Next() {
					body = benchBody(body[:0], run, seq.Add(1), size)
					status, err := post(body)
					if err != nil {
						b.Error(err)
						return
					}
					if status != http.StatusAccepted && refused.Add(1) == 1 {
						b.Errorf("status %d", status)
					}
				}
			})
			elapsed := time.Since(start)
			cpu, redis, machine := processCPU()-cpu0, redisCPU(b, r)-redis0, machineCPU()-machine0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
			// CPU of this process (client, server, broker) per event: less
			// sensitive than the rates to other load on the machine.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*size), "cpu-µs/event")
			// The Redis server's CPU per event: the dedupe's share outside
			// this process, on the same cores here. It counts whatever else
			// uses that server meanwhile, so it is only as quiet as Redis is.
			b.ReportMetric(float64(redis.Microseconds())/float64(b.N*size), "redis-cpu-µs/event")
			if machine > 0 {
				// The cores that everything else on the machine kept busy
				// meanwhile: a run with more than a few tenths of a core
				// of other load measured the neighbours, not the webhook.
				b.ReportMetric(max(machine-cpu-redis, 0).Seconds()/elapsed.Seconds(), "other-cores")
			}
		})
	}
}

// netHTTPPost posts a signed body with the rig's http.Client.
func netHTTPPost(r *rig, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/v1/webhooks/orders", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set(ingest.HeaderBrandID, r.brand)
	req.Header.Set(ingest.HeaderSignature, ingest.Sign(r.secret, time.Now(), body))
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// leanClient is a minimal keep-alive HTTP/1.1 client on one connection.
type leanClient struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func dialLean(addr string) (*leanClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &leanClient{conn: c, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

func (c *leanClient) close() { _ = c.conn.Close() }

// post sends one signed request and reads the answer; it returns the
// status.
func (c *leanClient) post(brand, secret string, body []byte) (int, error) {
	w := c.w
	w.WriteString("POST /v1/webhooks/orders HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n")
	w.WriteString(ingest.HeaderBrandID + ": " + brand + "\r\n")
	w.WriteString(ingest.HeaderSignature + ": " + ingest.Sign(secret, time.Now(), body) + "\r\n")
	w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	w.Write(body)
	if err := w.Flush(); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(h), ":"); ok && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length < 0 {
		return 0, errors.New("answer without Content-Length")
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
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

// redisCPU returns the user and system CPU time the Redis server has used,
// from INFO cpu.
func redisCPU(b *testing.B, r *rig) time.Duration {
	d, err := testenv.RedisCPU(context.Background(), r.redis)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// machineCPU returns the CPU time every core of the machine has spent busy,
// from /proc/stat (0 where there is none).
func machineCPU() time.Duration {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	// user nice system idle iowait irq softirq steal guest guest_nice:
	// idle and iowait are not busy, guest time is already in user and
	// nice, and steal is time a neighbour of the virtual machine took.
	var busy int64
	for i, f := range fields[1:min(len(fields), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		busy += n
	}
	// USER_HZ is 100 on every Linux the engine runs on.
	return time.Duration(busy) * 10 * time.Millisecond
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
