package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
)

// ClickHouse error codes the analysts' user must get.
const (
	chReadonly             = 164 // READONLY
	chDatabaseAccessDenied = 291 // DATABASE_ACCESS_DENIED
	chTooManyRows          = 396 // TOO_MANY_ROWS_OR_BYTES
)

// analystOptions returns the connection options of the analysts' read-only
// user (testenv.AnalystClickHouseURL).
func analystOptions(t *testing.T) *clickhouse.Options {
	t.Helper()
	v := testenv.AnalystClickHouseURL(t)
	opts, err := clickhouse.ParseDSN(v)
	if err != nil {
		t.Fatalf("parse ATTRIB_TEST_ANALYST_CLICKHOUSE_URL: %v", err)
	}
	if opts.Auth.Username == "" || opts.Auth.Username == "default" || opts.Auth.Database == "" {
		t.Fatalf("ATTRIB_TEST_ANALYST_CLICKHOUSE_URL names user %q and database %q: want the analysts' user and the engine's database", opts.Auth.Username, opts.Auth.Database)
	}
	opts.Protocol = clickhouse.Native
	opts.DialTimeout = 5 * time.Second
	return opts
}

// TestAnalystUserReadsEverythingAndWritesNothing: the analysts' SQL user of
// the local stack reads every table and view of the engine's database, and
// is refused every write, every schema change, any other database and any
// change of its limits.
func TestAnalystUserReadsEverythingAndWritesNothing(t *testing.T) {
	opts := analystOptions(t)
	engineDB := opts.Auth.Database
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The engine's database holds the schema (as `attrib serve` leaves it),
	// and a database of the test's own shows which tables the schema has.
	admin := testenv.ClickHouseConn(t, testenv.ClickHouseOptions(t))
	if _, err := readmodel.Migrate(ctx, admin, engineDB); err != nil {
		t.Fatalf("migrate the engine's database %s: %v", engineDB, err)
	}
	_, ownDB := readmodeltest.Migrated(t)
	schemaTables := tableNames(t, admin, ownDB)
	engineTables := tableNames(t, admin, engineDB)
	for _, name := range schemaTables {
		if !slices.Contains(engineTables, name) {
			t.Fatalf("the engine's database %s lacks %s after migrating; has %v", engineDB, name, engineTables)
		}
	}

	analyst, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatalf("open clickhouse as %s: %v", opts.Auth.Username, err)
	}
	t.Cleanup(func() { _ = analyst.Close() })
	if err := analyst.Ping(ctx); err != nil {
		t.Fatalf("the analysts' user %s cannot connect (has `bash deploy/local/stack.sh up` run since deploy/local changed?): %v", opts.Auth.Username, err)
	}

	t.Run("reads every table and view", func(t *testing.T) {
		for _, name := range engineTables {
			q := "SELECT count() FROM " + readmodel.QuoteIdent(engineDB) + "." + readmodel.QuoteIdent(name)
			var n uint64
			if err := analyst.QueryRow(ctx, q).Scan(&n); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
		// The README's examples, as written there.
		for _, q := range []string{
			"SELECT status, count() AS orders, sum(earnings) AS earnings, earnings_currency FROM orders FINAL WHERE creator_id = 'crt_x' AND placed_at >= '2026-11-01 00:00:00' GROUP BY status, earnings_currency",
			"SELECT brand_id, reason, count() FROM unattributed_orders FINAL GROUP BY brand_id, reason",
			"SELECT day, earnings_currency, sum(earnings) FROM earnings_daily GROUP BY day, earnings_currency ORDER BY day",
		} {
			rows, err := analyst.Query(ctx, q)
			if err == nil {
				for rows.Next() {
				}
				err = errors.Join(rows.Err(), rows.Close())
			}
			if err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})

	// The writes are tried on a table and a view of the test's own in the
	// engine's database (18.16 grants per user, not per table), so that a
	// broken configuration cannot cost the engine's tables.
	db := readmodel.QuoteIdent(engineDB)
	probe := testenv.UniqueName("analyst_probe_")
	table, view := db+"."+probe, db+"."+probe+"_view"
	for _, stmt := range []string{
		"CREATE TABLE " + table + " (id String, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY id",
		"CREATE VIEW " + view + " AS SELECT id FROM " + table,
	} {
		if err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		for _, name := range []string{view, table, table + "_renamed", table + "_new"} {
			_ = admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+name)
		}
		_ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+probe)
	})
	probeTables := tableNames(t, admin, engineDB)
	refused := []struct {
		name     string
		sql      string
		wantCode int32
	}{
		{"alter", "ALTER TABLE " + table + " ADD COLUMN analyst_probe UInt8", chReadonly},
		{"alter delete", "ALTER TABLE " + table + " DELETE WHERE 1", chReadonly},
		{"drop table", "DROP TABLE " + table, chReadonly},
		{"drop view", "DROP TABLE " + view, chReadonly},
		{"truncate", "TRUNCATE TABLE " + table, chReadonly},
		{"rename", "RENAME TABLE " + table + " TO " + table + "_renamed", chReadonly},
		{"create table", "CREATE TABLE " + table + "_new (x UInt8) ENGINE = Memory", chReadonly},
		{"create database", "CREATE DATABASE " + probe, chReadonly},
		{"drop database", "DROP DATABASE IF EXISTS " + probe, chReadonly},
		{"optimize", "OPTIMIZE TABLE " + table + " FINAL", chReadonly},
		{"lift a limit", "SET max_execution_time = 0", chReadonly},
		{"another database", "SELECT count() FROM " + readmodel.QuoteIdent(ownDB) + ".brands", chDatabaseAccessDenied},
	}
	for _, tc := range refused {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			err := analyst.Exec(ctx, tc.sql)
			wantCode(t, tc.sql, err, tc.wantCode)
		})
	}
	t.Run("refuses insert", func(t *testing.T) {
		b, err := analyst.PrepareBatch(ctx, "INSERT INTO "+table+" (id, version)")
		if err == nil {
			defer func() { _ = b.Close() }()
			if err = b.Append("analyst", uint64(1)); err == nil {
				err = b.Send()
			}
		}
		wantCode(t, "INSERT INTO "+table, err, chReadonly)
	})
	t.Run("limits", func(t *testing.T) {
		settings := map[string]string{}
		rows, err := analyst.Query(ctx, "SELECT name, value FROM system.settings WHERE name IN ('readonly', 'max_execution_time', 'max_memory_usage', 'max_result_rows', 'result_overflow_mode')")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name, value string
			if err := rows.Scan(&name, &value); err != nil {
				t.Fatal(err)
			}
			settings[name] = value
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if settings["readonly"] != "1" || settings["result_overflow_mode"] != "throw" {
			t.Errorf("readonly = %q, result_overflow_mode = %q; want 1 and throw (all: %v)", settings["readonly"], settings["result_overflow_mode"], settings)
		}
		for _, name := range []string{"max_execution_time", "max_memory_usage", "max_result_rows"} {
			if v := settings[name]; v == "" || v == "0" {
				t.Errorf("%s = %q: want a limit", name, v)
			}
		}
		// One row more than the limit fails rather than being cut short,
		// also when the query sends settings that would lift it (18.16
		// ignores a readonly user's settings on the native protocol).
		limit, err := strconv.ParseUint(settings["max_result_rows"], 10, 64)
		if err != nil {
			t.Fatalf("max_result_rows = %q: %v", settings["max_result_rows"], err)
		}
		q := "SELECT number FROM system.numbers LIMIT " + strconv.FormatUint(limit+1, 10)
		for _, set := range []clickhouse.Settings{nil, {"max_result_rows": 0}, {"readonly": 0, "max_result_rows": 0}} {
			qctx := clickhouse.Context(ctx, clickhouse.WithSettings(set))
			rows, err := analyst.Query(qctx, q)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				_ = rows.Close()
			}
			wantCode(t, fmt.Sprintf("%s with settings %v", q, set), err, chTooManyRows)
		}
	})

	// Nothing the refused statements tried is there.
	if got := tableNames(t, admin, engineDB); !slices.Equal(got, probeTables) {
		t.Errorf("tables of %s changed: %v, were %v", engineDB, got, probeTables)
	}
	if n := count(t, admin, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = 'analyst_probe'", engineDB, probe); n != 0 {
		t.Errorf("the analyst's ALTER added a column")
	}
	if n := count(t, admin, "SELECT count() FROM "+table); n != 0 {
		t.Errorf("the analyst's INSERT wrote %d rows", n)
	}
	if n := count(t, admin, "SELECT count() FROM system.databases WHERE name = ?", probe); n != 0 {
		t.Errorf("the analyst created a database")
	}
}

// tableNames lists the tables and views of database, sorted.
func tableNames(t *testing.T, conn driver.Conn, database string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.tables WHERE database = ? ORDER BY name", database)
	if err != nil {
		t.Fatalf("list tables of %s: %v", database, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("database %s has no tables", database)
	}
	return names
}

// wantCode fails unless err is a ClickHouse exception with code.
func wantCode(t *testing.T, what string, err error, code int32) {
	t.Helper()
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != code {
		t.Errorf("%s as the analyst: got %v, want ClickHouse error %d", what, err, code)
		return
	}
	if !strings.Contains(ex.Message, "readonly") && !strings.Contains(ex.Message, "Access denied") && code != chTooManyRows {
		t.Errorf("%s: unexpected message %q", what, ex.Message)
	}
}
