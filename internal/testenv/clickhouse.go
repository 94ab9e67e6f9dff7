package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ClickHouseOptions returns the native-protocol options of the test
// ClickHouse server (ClickHouseURL, so it skips or fails as that does),
// for a test that opens connections of its own: with a dialer that fails
// on demand (Outage), longer timeouts, or on a database it did not create.
func ClickHouseOptions(t testing.TB) *clickhouse.Options {
	t.Helper()
	opts, err := clickhouse.ParseDSN(ClickHouseURL(t))
	if err != nil {
		t.Fatalf("parse ATTRIB_TEST_CLICKHOUSE_URL: %v", err)
	}
	opts.Protocol = clickhouse.Native
	opts.DialTimeout = 5 * time.Second
	return opts
}

// ClickHouseConn opens a connection (pool) with opts, closed when the test
// ends.
func ClickHouseConn(t testing.TB, opts *clickhouse.Options) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatalf("open clickhouse %v: %v", opts.Addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// ClickHouse returns a ready connection to the test ClickHouse server and
// the name of a database of the test's own, created empty (callers apply
// the schema, readmodel.Migrate). When the test ends the database is
// dropped, then the connection closed. The connection is not bound to the
// database: name tables database.table.
func ClickHouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	conn := ClickHouseConn(t, ClickHouseOptions(t))
	db := UniqueName("t_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatalf("create test database %s: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
	})
	return conn, db
}
