package readmodel_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
)

var wantTables = []string{
	"brands", "code_request_events", "code_requests", "creator_daily", "creators", "earnings_daily", "offer_names",
	"order_day_marks", "orders", "orders_by_brand", "projection_watermarks", "rollup_days", "schema_migrations", "summary_daily", "unattributed_orders",
}

func tables(t *testing.T, conn driver.Conn, db string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.tables WHERE database = ? ORDER BY name", db)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("scan: %v", err)
		}
		out = append(out, n)
	}
	return out
}

func versions(ms []readmodel.Migration) []int {
	var out []int
	for _, m := range ms {
		out = append(out, m.Version)
	}
	return out
}

func TestMigrate(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := versions(readmodel.Migrations())

	applied, err := readmodel.Migrate(ctx, conn, db)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	if got := versions(applied); !slices.Equal(got, all) {
		t.Errorf("fresh database: applied %v, want %v", got, all)
	}
	if got := tables(t, conn, db); !slices.Equal(got, wantTables) {
		t.Errorf("tables %v, want %v", got, wantTables)
	}

	applied, err = readmodel.Migrate(ctx, conn, db)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Errorf("second run applied %v, want none", versions(applied))
	}
	if got := tables(t, conn, db); !slices.Equal(got, wantTables) {
		t.Errorf("after second run: tables %v, want %v", got, wantTables)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".schema_migrations"); n != uint64(len(all)) {
		t.Errorf("schema_migrations has %d rows, want %d (one per migration)", n, len(all))
	}
}

// A migration that ran but was not recorded (a crash in between) runs
// again harmlessly.
func TestMigrateRerunsUnrecordedMigration(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, stmt := range readmodel.Migrations()[0].Statements {
		if err := conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", "`"+db+"`")); err != nil {
			t.Fatalf("pre-apply migration 1: %v", err)
		}
	}
	applied, err := readmodel.Migrate(ctx, conn, db)
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if got, want := versions(applied), versions(readmodel.Migrations()); !slices.Equal(got, want) {
		t.Errorf("applied %v, want %v", got, want)
	}
	if got := tables(t, conn, db); !slices.Equal(got, wantTables) {
		t.Errorf("tables %v, want %v", got, wantTables)
	}
}

func TestMigrateRefusesBadDatabaseNames(t *testing.T) {
	for _, tc := range []struct{ name, db string }{
		{"empty", ""},
		{"leading digit", "1abc"},
		{"dash", "a-b"},
		{"backtick", "a`b"},
		{"statement", "x; DROP DATABASE default"},
		{"dot", "a.b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A nil connection: the name must be refused before any query.
			if _, err := readmodel.Migrate(context.Background(), nil, tc.db); err == nil {
				t.Errorf("Migrate(%q) succeeded, want an error", tc.db)
			}
			if err := readmodel.CheckDatabase(tc.db); err == nil {
				t.Errorf("CheckDatabase(%q) = nil, want an error", tc.db)
			}
		})
	}
}

// TestCreatorDailyKey: CreatorDailyKey is creator_daily's sorting key (the
// reports take the latest version of each row by it: a column missing
// there would merge distinct keys).
func TestCreatorDailyKey(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	var ddl string
	if err := conn.QueryRow(context.Background(), "SHOW CREATE TABLE "+db+".creator_daily").Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(ddl, "ORDER BY (")
	key, _, ok2 := strings.Cut(after, ")")
	if !ok || !ok2 {
		t.Fatalf("no ORDER BY (...) in %s", ddl)
	}
	if key != readmodel.CreatorDailyKey {
		t.Fatalf("creator_daily ORDER BY (%s), CreatorDailyKey %s", key, readmodel.CreatorDailyKey)
	}
}
