package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/schemas"
)

// TestDuplicateCountedOnceInsideAndAfterTheDedupeWindow re-sends an
// order's events inside the webhook's dedupe window (answered as
// duplicates, nothing appended) and two windows later, when the webhook
// has forgotten them and appends them again: the attribution worker drops
// them (the order's state knows their event ids and shop_event_ids), and
// the creator's report counts the order and its refund once.
func TestDuplicateCountedOnceInsideAndAfterTheDedupeWindow(t *testing.T) {
	testDuplicateCountedOnce(t, false)
}

// TestDuplicateOfAnEvictedOrderCountedOnce is the same after the window
// for an order settled before it and evicted from Redis since (retention
// of an hour): the re-sent events bring its state back from the cold
// store, and are dropped as duplicates there. (A second worker process
// joins before the re-send: the rebalance gives every partition a fresh
// handler, whose memory holds no state, so the state must come from the
// cold store, not from a handler that still remembers it.)
func TestDuplicateOfAnEvictedOrderCountedOnce(t *testing.T) {
	testDuplicateCountedOnce(t, true)
}

func testDuplicateCountedOnce(t *testing.T, evicted bool) {
	args := []string{"--summary-refresh", "1h"}
	if evicted {
		args = append(args, "--state-retention", "1h")
	}
	e := startEngine(t, args...)
	a := setupActors(t, e)
	r := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r+"/confirm", a.brandB, map[string]any{"code": "BORIS5"})
	evs := []any{
		placed("d1-p", "D-1", "1000.00", "BORIS5"),
		orderEvent("d1-r", "order.refunded", "D-1", "refund_amount", "400.00"),
	}
	wantVersion, wantStatus := float64(2), "pending" // placed, refunded once
	if evicted {
		// Settled (approved by the shop), so that it leaves Redis.
		evs = append(evs, orderEvent("d1-c", "order.confirmed", "D-1"))
		wantVersion, wantStatus = 3, "approved"
	}
	n := float64(len(evs))
	events := map[string]any{"events": evs}
	send := func(wantAccepted, wantDuplicates float64) {
		t.Helper()
		code, out := e.webhook(a.brandBID, a.secretB, events)
		if code != 202 || out["accepted"] != wantAccepted || out["duplicates"] != wantDuplicates {
			t.Fatalf("webhook = %d %v, want 202 with %v accepted and %v duplicates", code, out, wantAccepted, wantDuplicates)
		}
	}
	checkRow := func(when string) {
		t.Helper()
		row := e.finalRows(1)["D-1"]
		for deadline := time.Now().Add(60 * time.Second); row == nil || row["version"] != wantVersion; row = e.finalRows(1)["D-1"] {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if row == nil || row["version"] != wantVersion || row["status"] != wantStatus || row["net_amount"] != "600.00" || row["earnings"] != "60.00" {
			t.Fatalf("%s: final row of D-1 %v, want version %v, %s, net 600.00, earnings 60.00", when, row, wantVersion, wantStatus)
		}
	}
	store, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: e.brokers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// rows counts the rows of D-1 in attrib.attributions: one per change,
	// so a duplicate applied again would add one.
	rows := func() int {
		t.Helper()
		n := 0
		err := store.Replay(context.Background(), schemas.TopicAttributions, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			for _, m := range b.Messages {
				var p struct {
					OrderID string `json:"order_id"`
				}
				if json.Unmarshal(m.Envelope.Payload, &p) == nil && p.OrderID == "D-1" {
					n++
				}
			}
			return nil
		}), eventstore.ReplayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	send(n, 0)
	send(0, n) // inside the window
	checkRow("inside the window")
	rowsBefore := rows()
	e.shift.Store(int64(2*ingest.DefaultDedupeTTL + 2*time.Hour))
	var coldLookups func() float64
	var deadline time.Time
	processes := []string{e.base}
	if evicted {
		// The worker evicts at most once a minute (of real time).
		deadline = time.Now().Add(3 * time.Minute)
		for e.metric("attrib_attribution_states_evicted_total") < 1 {
			if time.Now().After(deadline) {
				t.Fatal("D-1 was not evicted from Redis within 3 minutes")
			}
			time.Sleep(200 * time.Millisecond)
		}
		generations := e.metric("attrib_eventstore_consumer_generations_total")
		second := e.startProcess(append([]string{"--components", "attribution-worker"}, args...)...)
		deadline = time.Now().Add(2 * time.Minute)
		for e.metric("attrib_eventstore_consumer_generations_total") == generations ||
			metricAt(t, second, "attrib_eventstore_consumer_generations_total") < 1 {
			if time.Now().After(deadline) {
				t.Fatal("the second worker did not join the group within 2 minutes")
			}
			time.Sleep(200 * time.Millisecond)
		}
		processes = append(processes, second)
		coldBefore := e.metric("attrib_attribution_cold_lookups_total") + metricAt(t, second, "attrib_attribution_cold_lookups_total")
		coldLookups = func() float64 {
			return e.metric("attrib_attribution_cold_lookups_total") + metricAt(t, second, "attrib_attribution_cold_lookups_total") - coldBefore
		}
	}
	send(n, 0) // forgotten: appended again

	// The log holds each event twice; the worker applied each once.
	deadline = time.Now().Add(60 * time.Second)
	for {
		shopEvents := map[string]int{}
		err := store.Replay(context.Background(), schemas.TopicOrders, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			for _, m := range b.Messages {
				var p struct {
					ShopEventID string `json:"shop_event_id"`
				}
				_ = json.Unmarshal(m.Envelope.Payload, &p)
				if p.ShopEventID != "" {
					shopEvents[p.ShopEventID]++
				}
			}
			return nil
		}), eventstore.ReplayOptions{})
		if err != nil {
			t.Fatal(err)
		}
		twice := true
		for _, ev := range evs {
			twice = twice && shopEvents[ev.(map[string]any)["event_id"].(string)] == 2
		}
		if twice {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shop events in the log %v, want each of %d twice", shopEvents, len(evs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitDrainedAll(t, processes...)
	checkRow("after the window")
	if got := rows(); got != rowsBefore {
		t.Errorf("D-1 has %d rows after its events were sent again, had %d", got, rowsBefore)
	}
	if evicted {
		if got := coldLookups(); got < 1 {
			t.Errorf("%v cold lookups for the re-sent events of the evicted D-1, want at least 1", got)
		}
	}
	for {
		o, _, sum, _ := e.clickhouseCounts()
		if o == 1 && sum == "60.000" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse holds %d orders earning %s, want 1 earning 60.000", o, sum)
		}
		time.Sleep(100 * time.Millisecond)
	}
	boris := list(e.must(200, "GET", "/v1/reports/orders", a.boris, nil), "orders")
	if len(boris) != 1 || str(boris[0], "order_id") != "D-1" || str(boris[0], "earnings") != "60.00" {
		t.Fatalf("boris's report %v, want D-1 once, earning 60.00", boris)
	}
}

// startProcess starts another `attrib serve` on the engine's broker,
// Redis prefix and ClickHouse database (and in-process clock), with extra
// settings, and returns its base URL once it is ready; it stops at the
// end of the test.
func (e *engine) startProcess(extra ...string) string {
	t := e.t
	t.Helper()
	addr := freeAddr(t)
	args := append(append([]string{"serve", "--http-addr", addr, "--admin-token", e.admin}, e.common...), extra...)
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, args, env(nil), io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("second serve exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("second serve did not stop within 30s")
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		select {
		case code := <-done:
			t.Fatalf("second serve exited %d before ready:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("second serve not ready within 60s:\n%s", stderr.String())
		}
	}
}

// waitDrainedAll waits until the consumers of the processes at bases,
// together, have consumed every event the processes appended to
// attrib.orders and attrib.attributions (waitDrained for one process, or
// for several that share the partitions of a group).
func waitDrainedAll(t *testing.T, bases ...string) {
	t.Helper()
	calm := 0
	for deadline := time.Now().Add(2 * time.Minute); calm < 2; time.Sleep(300 * time.Millisecond) {
		appended := map[string]float64{}
		consumed := map[[2]string]float64{}
		for _, base := range bases {
			scanMetrics(t, base, func(line string) {
				switch {
				case strings.HasPrefix(line, "attrib_eventstore_append_events_total{"):
					labels, v := metricLine(line)
					appended[labels["topic"]] += v
				case strings.HasPrefix(line, "attrib_eventstore_consumer_events_total{"):
					labels, v := metricLine(line)
					consumed[[2]string{labels["group"], labels["topic"]}] += v
				}
			})
		}
		done := true
		for gt, n := range consumed {
			if (gt[1] == schemas.TopicOrders || gt[1] == schemas.TopicAttributions) && n < appended[gt[1]] {
				done = false
			}
		}
		if done {
			calm++ // two answers in a row
		} else {
			calm = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the processes did not consume what they appended within 2 minutes: appended %v, consumed %v", appended, consumed)
		}
	}
}

// metric returns the sum of every series of a counter or gauge on the
// engine's /metrics.
func (e *engine) metric(name string) float64 {
	e.t.Helper()
	return metricAt(e.t, e.base, name)
}

// metricAt is metric of the process at base.
func metricAt(t *testing.T, base, name string) float64 {
	t.Helper()
	var sum float64
	scanMetrics(t, base, func(line string) {
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, "{") || strings.HasPrefix(rest, " ")) {
			_, v := metricLine(line)
			if !strings.HasPrefix(rest, "{") {
				v, _ = strconv.ParseFloat(strings.TrimSpace(rest), 64)
			}
			sum += v
		}
	})
	return sum
}

// scanMetrics calls line for every line of the /metrics of the process at
// base.
func scanMetrics(t *testing.T, base string, line func(string)) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
