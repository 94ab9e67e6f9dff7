package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// TestRebuildRedisIsIdentical: after a catalog history, `attrib rebuild
// redis` drops the projections and replays the log to the same content,
// byte for byte.
func TestRebuildRedisIsIdentical(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	r1 := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerA, "platform": "instagram"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r1+"/confirm", a.brandA, map[string]any{"code": "ANNA10"})
	r2 := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r2+"/reject", a.brandB, map[string]any{"reason": "not a fit"})
	e.must(200, "PATCH", "/v1/offers/"+a.offerA, a.brandA, map[string]any{"payout": map[string]any{"type": "fixed", "value": "200.00", "currency": "RUB"}})
	e.must(200, "POST", "/v1/promo-codes/ANNA10/revoke", a.brandA, nil)
	r3 := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerA, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r3+"/confirm", a.brandA, map[string]any{"code": "anna10"})

	rdb, _ := testenv.Redis(t)
	proj, err := rediscatalog.New(rediscatalog.Config{Client: rdb, Prefix: e.redisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	before, err := proj.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(before, "ANNA10") || !strings.Contains(before, "not a fit") {
		t.Fatalf("dump before the rebuild lacks the history:\n%s", before)
	}

	// Wipe the projections, as a lost Redis would.
	if err := proj.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if wiped, _ := proj.Dump(context.Background()); wiped != "" {
		t.Fatalf("dump after Drop is not empty:\n%s", wiped)
	}
	var stderr bytes.Buffer
	if code := runContext(context.Background(), append([]string{"rebuild", "redis"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("attrib rebuild redis exited %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "events/s") {
		t.Errorf("rebuild printed no progress:\n%s", stderr.String())
	}
	after, err := proj.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("Redis after the rebuild differs from before\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRebuildClickHouseKeepsEveryReport: `attrib rebuild clickhouse`, run
// while the engine serves, replaces the tables with ones replayed from the
// log (a row the log never had is gone), every report reads the same
// before and after, the old tables are kept aside, and the live projector
// writes into the new tables afterwards, where a report read right after
// a webhook sees its order.
func TestRebuildClickHouseKeepsEveryReport(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	orderHistory(t, e, a)
	conn, db := e.clickhouse()
	t.Cleanup(func() { dropDatabasesLike(t, conn, db+"\\_before\\_rebuild\\_%") })

	reads := []struct{ who, token, path string }{
		{"anna", a.anna, "/v1/reports/orders"},
		{"anna", a.anna, "/v1/reports/orders?sort=date_asc&limit=2"},
		{"anna", a.anna, "/v1/reports/orders.csv"},
		{"anna", a.anna, "/v1/reports/earnings?group_by=status"},
		{"anna", a.anna, "/v1/reports/earnings?group_by=day&tz=Europe/Moscow"},
		{"boris", a.boris, "/v1/reports/orders"},
		{"boris", a.boris, "/v1/reports/earnings?group_by=offer"},
		{"analyst", a.analyst, "/v1/reports/orders?limit=500"},
		{"analyst", a.analyst, "/v1/reports/earnings?group_by=brand"},
		{"analyst", a.analyst, "/v1/analytics/summary?group_by=creator"},
		{"analyst", a.analyst, "/v1/analytics/summary?group_by=offer"},
		{"analyst", a.analyst, "/v1/analytics/unattributed"},
	}
	snapshot := func() []string {
		var out []string
		for _, r := range reads {
			out = append(out, r.who+" "+r.path+"\n"+e.raw(r.token, r.path))
		}
		return out
	}
	// Between the replay and the swap: an order arrives after the replay
	// read the log, and the live projector writes it into the old tables
	// (the report waits for that); only the catch-up replay brings it into
	// the new ones. Then every report is read, and a row the log never had
	// is forged into the old tables: the rebuilt ones must not have it.
	var before []string
	rebuildBeforeSwap = func() {
		if code, out := e.webhook(a.brandAID, a.secretA, placed("a8-p", "A-8", "80.00", "ANNA10")); code != 202 {
			t.Errorf("webhook during the rebuild = %d %v", code, out)
		}
		before = snapshot()
		if !strings.Contains(before[0], "A-8") || !strings.Contains(before[0], "A-4") || !strings.Contains(before[9], "Boris") {
			t.Errorf("reports before the swap lack the orders:\n%s", strings.Join(before, "\n"))
		}
		b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, status, amount, currency, earnings, earnings_currency, version)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(a.annaID, time.Now().UTC(), a.brandAID, "FORGED-1", "approved", decimal.RequireFromString("1"), "RUB", decimal.RequireFromString("99999"), "RUB", uint64(1)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
		if forged := e.raw(a.anna, "/v1/reports/orders"); !strings.Contains(forged, "FORGED-1") {
			t.Errorf("the forged row is not in anna's report:\n%s", forged)
		}
	}
	t.Cleanup(func() { rebuildBeforeSwap = nil })
	var stderr bytes.Buffer
	if code := runContext(context.Background(), append([]string{"rebuild", "clickhouse"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("attrib rebuild clickhouse exited %d:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "events/s") || !strings.Contains(stderr.String(), "ETA") {
		t.Errorf("rebuild printed no progress:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "catch-up: attrib.attributions 1/1 events") {
		t.Errorf("the catch-up replay did not read the one attribution appended during the rebuild:\n%s", stderr.String())
	}
	after := snapshot()
	for i := range before {
		if after[i] != before[i] {
			t.Errorf("report differs after the rebuild\nbefore: %s\nafter:  %s", before[i], after[i])
		}
	}

	// The old tables are kept aside, forged row and all; the fresh
	// database is gone.
	var backups []string
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.databases WHERE name LIKE ? OR name = ?", db+"\\_before\\_rebuild\\_%", db+"_rebuild")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, name)
	}
	rows.Close()
	if len(backups) != 1 || !strings.HasPrefix(backups[0], db+"_before_rebuild_") {
		t.Fatalf("databases after the rebuild: %v, want one backup %s_before_rebuild_<time> and no %s_rebuild", backups, db, db)
	}
	var forged uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+backups[0]+".orders WHERE order_id = 'FORGED-1'").Scan(&forged); err != nil || forged != 1 {
		t.Errorf("backup holds %d forged rows (%v), want the old table with its 1", forged, err)
	}

	// The live projector writes into the rebuilt tables, and a report read
	// right after the webhook answered has the order (read-your-writes:
	// the report waits for the worker and the projector).
	if code, out := e.webhook(a.brandAID, a.secretA, placed("a7-p", "A-7", "100.00", "ANNA10")); code != 202 {
		t.Fatalf("webhook after the rebuild = %d %v", code, out)
	}
	if report := e.raw(a.anna, "/v1/reports/orders"); !strings.Contains(report, "A-7") {
		t.Fatalf("an order sent after the rebuild is not in anna's report read right after:\n%s", report)
	}
}

// raw returns the body of a report GET that must answer 200.
func (e *engine) raw(token, path string) string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
	}
	// Every report says up to when it holds every appended event.
	if _, err := time.Parse(time.RFC3339Nano, resp.Header.Get(api.HeaderFreshAsOf)); err != nil {
		e.t.Errorf("GET %s: header %s = %q, want an RFC 3339 time", path, api.HeaderFreshAsOf, resp.Header.Get(api.HeaderFreshAsOf))
	}
	return string(body)
}

// clickhouse returns the test's connection to the engine's ClickHouse
// server and the engine's database.
func (e *engine) clickhouse() (driver.Conn, string) { return e.ch, e.chDB }

// dropDatabasesLike drops every database whose name is LIKE pattern.
func dropDatabasesLike(t *testing.T, conn driver.Conn, pattern string) {
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.databases WHERE name LIKE ?", pattern)
	if err != nil {
		t.Errorf("list databases like %s: %v", pattern, err)
		return
	}
	var names []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) == nil {
			names = append(names, name)
		}
	}
	rows.Close()
	for _, name := range names {
		if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	}
}

// TestEngineOnRedisCluster: the whole engine on a Redis Cluster of three
// masters (--redis-cluster): the catalog flow, orders through the worker
// to the reports, and `attrib rebuild redis` giving back the same catalog
// projection, with keys spread over every node.
func TestEngineOnRedisCluster(t *testing.T) {
	testenv.ClickHouseURL(t) // skip before starting a cluster when there are no servers
	clusterURL := testenv.RedisCluster(t)
	cluster := []string{"--redis-cluster", "--redis-url", clusterURL}
	e := startEngine(t, cluster...)
	e.common = append(e.common, cluster...)
	a := setupActors(t, e)
	orderHistory(t, e, a)
	anna := e.must(200, "GET", "/v1/reports/orders", a.anna, nil)
	totals, _ := anna["totals"].(map[string]any)
	if earned, _ := totals["earnings"].(map[string]any); totals["orders"] != float64(4) || earned["RUB"] != "450.00" {
		t.Fatalf("anna's report on the cluster: totals %v, want 4 orders earning 450.00 RUB", totals)
	}
	if codes := list(e.must(200, "GET", "/v1/promo-codes", a.anna, nil), "promo_codes"); len(codes) != 1 {
		t.Fatalf("anna's codes on the cluster: %v, want ANNA10", codes)
	}

	opts, err := redis.ParseClusterURL(strings.Replace(clusterURL, "/0", "", 1))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClusterClient(opts)
	defer rdb.Close()
	var (
		mu      sync.Mutex
		perNode []int
	)
	err = rdb.ForEachMaster(context.Background(), func(ctx context.Context, n *redis.Client) error {
		keys, err := n.Keys(ctx, e.redisPrefix+"*").Result()
		mu.Lock()
		defer mu.Unlock()
		perNode = append(perNode, len(keys))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(perNode) != 3 {
		t.Errorf("keys per node %v, want 3 masters", perNode)
	}
	for _, n := range perNode {
		if n == 0 {
			t.Errorf("keys per node %v: a node holds none of the engine's keys; the test does not exercise the cluster", perNode)
		}
	}
	proj, err := rediscatalog.New(rediscatalog.Config{Client: rdb, Prefix: e.redisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	before, err := proj.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(before, "ANNA10") {
		t.Fatalf("dump of the catalog projection on the cluster lacks ANNA10:\n%s", before)
	}
	if err := proj.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := runContext(context.Background(), append([]string{"rebuild", "redis"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("attrib rebuild redis on the cluster exited %d:\n%s", code, stderr.String())
	}
	if after, err := proj.Dump(context.Background()); err != nil || after != before {
		t.Fatalf("catalog projection on the cluster after the rebuild differs (%v)\nbefore:\n%s\nafter:\n%s", err, before, after)
	}
}
