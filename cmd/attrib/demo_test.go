package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDemoSeeds: the demo seeder fills a real engine over HTTP; a demo
// creator's report then shows orders in several statuses with earnings, and
// the demo analyst sees unattributed orders.
func TestDemoSeeds(t *testing.T) {
	e := startEngine(t)
	out := filepath.Join(t.TempDir(), "demo.json")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := seedDemo(ctx, demoOptions{URL: e.base, AdminToken: e.admin, Orders: 300, Window: 2 * time.Second,
		OutFile: out, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var saved demoResult
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &saved); err != nil || saved.AnalystToken != res.AnalystToken || len(saved.Creators) != 4 {
		t.Fatalf("demo.json = %s (%v), want the run's tokens", raw, err)
	}
	anna := res.Creators[0]
	if len(anna.Codes) != 2 {
		t.Fatalf("demo creator %s has codes %v, want two", anna.Name, anna.Codes)
	}

	deadline := time.Now().Add(60 * time.Second)
	var last map[string]any
	for {
		last = e.must(200, "GET", "/v1/reports/orders?limit=500", anna.Token, nil)
		statuses := map[string]int{}
		for _, o := range list(last, "orders") {
			statuses[str(o, "status")]++
		}
		totals, _ := last["totals"].(map[string]any)
		earned, _ := totals["earnings"].(map[string]any)
		n, _ := totals["orders"].(float64)
		rub := str(earned, "RUB")
		if len(statuses) >= 3 && n > 0 && rub != "" && rub != "0.00" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s %s's report has statuses %v, totals %v; want 3 statuses and earnings", anna.Name, statuses, totals)
		}
		time.Sleep(250 * time.Millisecond)
	}

	deadline = time.Now().Add(30 * time.Second)
	for {
		rows := list(e.must(200, "GET", "/v1/analytics/unattributed", res.AnalystToken, nil), "orders")
		reasons := map[string]bool{}
		for _, r := range rows {
			reasons[str(r, "reason")] = true
		}
		if len(rows) > 0 && reasons["no_code"] && reasons["unknown_code"] && reasons["code_not_active"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the analyst's unattributed orders have reasons %v (%d rows), want no_code, unknown_code and code_not_active", reasons, len(rows))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
