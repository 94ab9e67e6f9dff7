package chproj_test

import (
	"context"
	"strings"
	"testing"

	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/schemas"
)

// TestSwapPutsTheFreshTablesInPlace: PrepareFresh clears what an earlier
// rebuild left; Swap moves the live tables into the backup and the fresh
// ones into their place, where the live database's views read them; a
// second swap onto the same backup is refused with nothing moved.
func TestSwapPutsTheFreshTablesInPlace(t *testing.T) {
	ctx := context.Background()
	conn, target := migrated(t)
	fresh, backup := chproj.FreshDatabase(target), target+"_backup"
	t.Cleanup(func() {
		for _, db := range []string{fresh, backup} {
			if err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		}
	})
	project := func(db string, o order) {
		t.Helper()
		p := newProjector(t, conn, db)
		if err := p.Handle(ctx, batch(schemas.TopicAttributions, 0, 0, o.envelope(t))); err != nil {
			t.Fatal(err)
		}
	}
	project(target, order{brand: "b", id: "OLD-1", creator: "c", status: schemas.StatusApproved, earnings: "10.00", version: 1})

	// A leftover of an interrupted rebuild is dropped.
	if err := chproj.PrepareFresh(ctx, conn, fresh); err != nil {
		t.Fatal(err)
	}
	project(fresh, order{brand: "b", id: "LEFTOVER", creator: "c", status: schemas.StatusApproved, earnings: "1.00", version: 1})
	if err := chproj.PrepareFresh(ctx, conn, fresh); err != nil {
		t.Fatal(err)
	}
	if got := ordersFinal(t, conn, fresh); len(got) != 0 {
		t.Fatalf("fresh database after PrepareFresh holds %v, want nothing", got)
	}
	project(fresh, order{brand: "b", id: "NEW-1", creator: "c", status: schemas.StatusPending, earnings: "25.00", version: 1})

	swapped, err := chproj.Swap(ctx, conn, target, fresh, backup)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(swapped, " "); got != "brands code_request_events creator_daily creators offer_names order_day_marks orders projection_watermarks rollup_days summary_daily unattributed_orders" {
		t.Errorf("swapped %s", got)
	}
	if got := ordersFinal(t, conn, target); len(got) != 1 || got["NEW-1"].Earnings != "25.00" {
		t.Errorf("live orders after the swap %v, want only NEW-1", got)
	}
	if got := ordersFinal(t, conn, backup); len(got) != 1 || got["OLD-1"].Earnings != "10.00" {
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
	if err := chproj.PrepareFresh(ctx, conn, fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := chproj.Swap(ctx, conn, target, fresh, backup); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("swap onto an existing backup: %v, want refused", err)
	}
	if got := ordersFinal(t, conn, target); len(got) != 1 || got["NEW-1"].Earnings != "25.00" {
		t.Errorf("live orders after a refused swap %v, want NEW-1 still", got)
	}
}
