// Package readmodeltest gives tests a migrated read model on the test
// ClickHouse server.
package readmodeltest

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/readmodel"
)

// Migrated returns testenv.ClickHouse's connection and database of the
// test's own, with the schema applied (readmodel.Migrate). It skips or
// fails as testenv.ClickHouseURL does.
func Migrated(t testing.TB) (driver.Conn, string) {
	t.Helper()
	conn, db := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := readmodel.Migrate(ctx, conn, db); err != nil {
		t.Fatalf("migrate %s: %v", db, err)
	}
	return conn, db
}
