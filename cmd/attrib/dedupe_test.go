package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
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
	e := startEngine(t, "--summary-refresh", "1h")
	a := setupActors(t, e)
	r := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r+"/confirm", a.brandB, map[string]any{"code": "BORIS5"})
	events := map[string]any{"events": []any{
		placed("d1-p", "D-1", "1000.00", "BORIS5"),
		orderEvent("d1-r", "order.refunded", "D-1", "refund_amount", "400.00"),
	}}
	send := func(wantAccepted, wantDuplicates float64) {
		t.Helper()
		code, out := e.webhook(a.brandBID, a.secretB, events)
		if code != 202 || out["accepted"] != wantAccepted || out["duplicates"] != wantDuplicates {
			t.Fatalf("webhook = %d %v, want 202 with %v accepted and %v duplicates", code, out, wantAccepted, wantDuplicates)
		}
	}
	send(2, 0)
	send(0, 2) // inside the window
	e.shift.Store(int64(2*ingest.DefaultDedupeTTL + time.Hour))
	send(2, 0) // forgotten: appended again

	// The log holds each event twice; the worker applied each once.
	store, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: e.brokers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	deadline := time.Now().Add(60 * time.Second)
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
		if shopEvents["d1-p"] == 2 && shopEvents["d1-r"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shop events in the log %v, want d1-p and d1-r twice each", shopEvents)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := waitDrained(context.Background(), http.DefaultClient, e.base+"/metrics"); err != nil {
		t.Fatal(err)
	}
	rows := e.finalRows(1)
	row := rows["D-1"]
	if row == nil || row["version"] != float64(2) || row["net_amount"] != "600.00" || row["earnings"] != "60.00" {
		t.Fatalf("final row of D-1 %v, want version 2 (placed, refunded once), net 600.00, earnings 60.00", row)
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
