package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/reports"
)

// TestEngineOnClickHouseCluster: the whole engine on the local ClickHouse
// cluster (two replicas of one shard, --clickhouse-cluster): the schema is
// replicated on both; orders flow while the replica the engine writes to
// is stopped (the engine fails over to the other) and started again (it
// catches up from the other); `attrib rebuild clickhouse` swaps rebuilt
// tables in on both; then the reports read from either replica alone
// equal each other and the expected totals.
func TestEngineOnClickHouseCluster(t *testing.T) {
	cl := testenv.ClickHouseCluster(t)
	ctx := context.Background()
	replicas := make([]driver.Conn, len(cl.Replicas))
	for i, raw := range cl.Replicas {
		opts, err := clickhouse.ParseDSN(raw)
		if err != nil {
			t.Fatal(err)
		}
		opts.Protocol, opts.Auth.Database, opts.DialTimeout = clickhouse.Native, "", 5*time.Second
		replicas[i] = testenv.ClickHouseConn(t, opts)
	}
	db := testenv.UniqueName("t_")
	t.Cleanup(func() { dropOnCluster(t, replicas[len(replicas)-1], cl.Name, db) })
	// Each ON CLUSTER statement takes a second or more (every replica's DDL
	// worker runs it from ZooKeeper): migrate before the engine starts, so
	// that its start (which finds the schema current) stays within
	// startEngine's bound on a busy machine.
	mctx, mcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer mcancel()
	if _, err := readmodel.Migrate(mctx, replicas[0], db, readmodel.OnCluster(cl.Name)); err != nil {
		t.Fatalf("migrate %s on the cluster: %v", db, err)
	}
	u, err := url.Parse(cl.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	flags := []string{"--clickhouse-url", u.String(), "--clickhouse-cluster", cl.Name, "--summary-refresh", "300ms"}
	e := startEngine(t, flags...)
	e.common = append(e.common, flags...)
	e.ch, e.chDB = replicas[0], db

	// Every table of the schema is replicated, on every replica.
	for i, conn := range replicas {
		var replicated, plain uint64
		if err := conn.QueryRow(ctx, "SELECT countIf(engine LIKE 'Replicated%'), countIf(engine NOT LIKE 'Replicated%' AND engine != 'View') FROM system.tables WHERE database = ?", db).
			Scan(&replicated, &plain); err != nil {
			t.Fatal(err)
		}
		if replicated < 10 || plain != 0 {
			t.Fatalf("replica %d: %d replicated and %d other tables in %s, want every table replicated", i+1, replicated, plain, db)
		}
	}

	a := setupActors(t, e)
	orderHistory(t, e, a) // anna: 4 orders earning 450.00; boris: 1 earning 60.00; 2 unattributed
	next := 0
	send := func(n int) {
		t.Helper()
		var events []any
		for range n {
			next++
			events = append(events, placed(fmt.Sprintf("c%d-p", next), fmt.Sprintf("C-%d", next), "1000.00", "ANNA10"))
		}
		if code, out := e.webhook(a.brandAID, a.secretA, map[string]any{"events": events}); code != 202 || out["accepted"] != float64(n) {
			t.Fatalf("webhook of %d orders = %d %v", n, code, out)
		}
	}
	// waitAnna waits until anna's report, read through the engine, shows
	// orders orders earning 150.00 each but one cancelled.
	waitAnna := func(orders int) {
		t.Helper()
		want := decimal.NewFromInt(int64(orders-1) * 150)
		deadline := time.Now().Add(90 * time.Second)
		for {
			code, report := e.call("GET", "/v1/reports/orders?limit=1", a.anna, nil)
			totals, _ := report["totals"].(map[string]any)
			earned, _ := totals["earnings"].(map[string]any)
			got, _ := earned["RUB"].(string)
			if code == 200 && totals["orders"] == float64(orders) && got != "" && decimal.RequireFromString(got).Equal(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("anna's report = %d, totals %v; want %d orders earning %s RUB", code, totals, orders, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	send(20)
	waitAnna(24)

	// Replica 1, the first of the engine's URL and so the one it writes to,
	// stops mid-stream: the engine goes on with replica 2.
	clusterCtl(t, "cluster-down", "1")
	t.Cleanup(func() { clusterCtl(t, "cluster-up", "1") }) // before the databases are dropped
	send(20)
	waitAnna(44)
	clusterCtl(t, "cluster-up", "1")
	send(20)
	waitAnna(64)

	var stderr bytes.Buffer
	if code := runContext(ctx, append([]string{"rebuild", "clickhouse"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("attrib rebuild clickhouse on the cluster exited %d:\n%s", code, stderr.String())
	}
	send(1)
	waitAnna(65)

	// Each replica alone, once it holds every part logged by either.
	type view struct {
		Anna, All    reports.Totals
		Page         []reports.Order
		Unattributed uint64
		Backups      uint64
	}
	var views []view
	for i, conn := range replicas {
		syncReplicas(t, conn, db)
		r := reports.New(conn, db)
		var v view
		var err error
		if v.Anna, err = r.Totals(ctx, reports.OrderFilter{CreatorID: a.annaID}); err != nil {
			t.Fatalf("replica %d: anna's totals: %v", i+1, err)
		}
		if v.All, err = r.Totals(ctx, reports.OrderFilter{}); err != nil {
			t.Fatalf("replica %d: all totals: %v", i+1, err)
		}
		page, err := r.Orders(ctx, reports.OrderFilter{CreatorID: a.annaID, Limit: 100})
		if err != nil {
			t.Fatalf("replica %d: anna's orders: %v", i+1, err)
		}
		v.Page = page.Orders
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".unattributed_orders FINAL").Scan(&v.Unattributed); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name LIKE ?", db+"\\_before\\_rebuild\\_%").Scan(&v.Backups); err != nil {
			t.Fatal(err)
		}
		// The summarizer wrote its roll-ups (with a quorum of both replicas).
		var rolled uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".rollup_days").Scan(&rolled); err != nil || rolled == 0 {
			t.Errorf("replica %d: %d rows in rollup_days (%v), want the summarizer's", i+1, rolled, err)
		}
		if v.Anna.Orders != 65 || !v.Anna.Earnings["RUB"].Equal(decimal.NewFromInt(64*150)) ||
			v.All.Orders != 66 || !v.All.Earnings["RUB"].Equal(decimal.NewFromInt(64*150+60)) ||
			len(v.Page) != 65 || v.Unattributed != 2 || v.Backups != 1 {
			t.Errorf("replica %d: anna %d orders earning %v, all %d earning %v, a page of %d, %d unattributed, %d backup databases; "+
				"want 65 earning 9600, 66 earning 9660, 65, 2 and 1", i+1, v.Anna.Orders, v.Anna.Earnings, v.All.Orders, v.All.Earnings,
				len(v.Page), v.Unattributed, v.Backups)
		}
		views = append(views, v)
	}
	if !reflect.DeepEqual(views[0], views[1]) {
		t.Errorf("the replicas' reports differ:\nreplica 1: %+v\nreplica 2: %+v", views[0], views[1])
	}
}

// clusterCtl runs `stack.sh <command> <args>` on the local cluster.
func clusterCtl(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "..", "deploy", "local", "stack.sh")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stack.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// syncReplicas waits until the replica of conn holds every part of every
// replicated table of database that any replica has logged.
func syncReplicas(t *testing.T, conn driver.Conn, database string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, "SELECT table FROM system.replicas WHERE database = ?", database)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+database+"."+table); err != nil {
			t.Fatalf("sync replica %s.%s: %v", database, table, err)
		}
	}
}

// dropOnCluster drops database and what a rebuild of it made, on every
// replica of cluster.
func dropOnCluster(t *testing.T, conn driver.Conn, cluster, database string) {
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"distributed_ddl_task_timeout": 60}))
	rows, err := conn.Query(ctx, "SELECT name FROM system.databases WHERE name = ? OR name LIKE ?", database, database+"\\_%")
	if err != nil {
		t.Errorf("list the test's databases: %v", err)
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
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" ON CLUSTER "+cluster); err != nil {
			t.Errorf("drop database %s on cluster %s: %v", name, cluster, err)
		}
	}
}
