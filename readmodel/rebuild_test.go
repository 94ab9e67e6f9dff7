package readmodel_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
)

// insertOrder writes a row of orders into db, as the projector would.
func insertOrder(t *testing.T, conn driver.Conn, db, id, earnings string) {
	t.Helper()
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, status, currency, earnings, earnings_currency, version)")
	if err != nil {
		t.Fatal(err)
	}
	placed := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	if err := b.Append("c", placed, "b", id, "approved", "RUB", decimal.RequireFromString(earnings), "RUB", uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// earnings returns the earnings of every order of db after FINAL.
func earnings(t *testing.T, conn driver.Conn, db string) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT order_id, earnings FROM "+db+".orders FINAL")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var e decimal.Decimal
		if err := rows.Scan(&id, &e); err != nil {
			t.Fatal(err)
		}
		out[id] = e.StringFixed(2)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSwapPutsTheFreshTablesInPlace: PrepareFresh clears what an earlier
// rebuild left; Swap moves the live tables into the backup and the fresh
// ones into their place, where the live database's views read them; a
// second swap onto the same backup is refused with nothing moved.
func TestSwapPutsTheFreshTablesInPlace(t *testing.T) {
	ctx := context.Background()
	conn, target := readmodeltest.Migrated(t)
	fresh, backup := readmodel.FreshDatabase(target), target+"_backup"
	t.Cleanup(func() {
		for _, db := range []string{fresh, backup} {
			if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		}
	})
	insertOrder(t, conn, target, "OLD-1", "10.00")

	// A leftover of an interrupted rebuild is dropped.
	if err := readmodel.PrepareFresh(ctx, conn, fresh); err != nil {
		t.Fatal(err)
	}
	insertOrder(t, conn, fresh, "LEFTOVER", "1.00")
	if err := readmodel.PrepareFresh(ctx, conn, fresh); err != nil {
		t.Fatal(err)
	}
	if got := earnings(t, conn, fresh); len(got) != 0 {
		t.Fatalf("fresh database after PrepareFresh holds %v, want nothing", got)
	}
	insertOrder(t, conn, fresh, "NEW-1", "25.00")

	swapped, err := readmodel.Swap(ctx, conn, target, fresh, backup)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(swapped, " "); got != "brands code_request_events creator_daily creators offer_names order_day_marks orders orders_by_brand projection_watermarks rollup_days summary_daily unattributed_orders" {
		t.Errorf("swapped %s", got)
	}
	if got := earnings(t, conn, target); len(got) != 1 || got["NEW-1"] != "25.00" {
		t.Errorf("live orders after the swap %v, want only NEW-1", got)
	}
	if got := earnings(t, conn, backup); len(got) != 1 || got["OLD-1"] != "10.00" {
		t.Errorf("backup orders %v, want only OLD-1", got)
	}
	if n := count(t, conn, "SELECT count() FROM "+target+".earnings_daily WHERE earnings = 25"); n != 1 {
		t.Errorf("the live roll-up view sees %d rows of the new table, want 1", n)
	}
	if n := count(t, conn, "SELECT count() FROM system.databases WHERE name = ?", fresh); n != 0 {
		t.Errorf("fresh database %s still exists after the swap", fresh)
	}
	if got := tables(t, conn, target); strings.Join(got, " ") != strings.Join(wantTables, " ") {
		t.Errorf("live database after the swap has %v, want %v", got, wantTables)
	}

	// Again onto the same backup: refused before anything moves.
	if err := readmodel.PrepareFresh(ctx, conn, fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := readmodel.Swap(ctx, conn, target, fresh, backup); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("swap onto an existing backup: %v, want refused", err)
	}
	if got := earnings(t, conn, target); len(got) != 1 || got["NEW-1"] != "25.00" {
		t.Errorf("live orders after a refused swap %v, want NEW-1 still", got)
	}
}
