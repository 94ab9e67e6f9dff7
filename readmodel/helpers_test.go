package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/readmodel"
)

// migrated returns a connection and a database of the test's own with the
// schema applied.
func migrated(t testing.TB) (driver.Conn, string) {
	t.Helper()
	conn, db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := readmodel.Migrate(ctx, conn, db); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
	return conn, db
}

func count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
