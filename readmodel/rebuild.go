package readmodel

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A rebuild fills a fresh database from the log while the live tables keep
// serving, then swaps the fresh tables in:
//
//  1. PrepareFresh: drop what an interrupted rebuild left, migrate a fresh
//     database.
//  2. Replay both topics from the beginning into a Projector on the fresh
//     database, noting the offsets the replay ended at.
//  3. Swap: one RENAME TABLE moves the live tables into a backup database
//     and the fresh ones into their place; the views of the live database
//     name their tables, so they read the fresh ones from then on.
//  4. Replay again from the noted offsets into the (now swapped-in) live
//     tables: what the live projector wrote into the old tables between the
//     end of step 2 and the swap is written again, and what it writes after
//     the swap lands in the new tables. Every row is versioned, so writing
//     an event twice changes nothing.
//
// The backup database is kept, for the operator to compare and drop.

// FreshDatabase is the database a rebuild of database fills before the
// swap.
func FreshDatabase(database string) string { return database + "_rebuild" }

// PrepareFresh drops fresh if it exists (the leftover of an interrupted
// rebuild: it was never swapped in, so nothing reads it) and creates it
// with the current schema. conn must not be bound to fresh. OnCluster does
// both on every replica.
func PrepareFresh(ctx context.Context, conn driver.Conn, fresh string, opts ...Option) error {
	if err := CheckDatabase(fresh); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	o := newOptions(opts)
	if err := o.check(); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+QuoteIdent(fresh)+o.onCluster()); err != nil {
		return fmt.Errorf("rebuild: drop leftover database %s: %w", fresh, err)
	}
	if _, err := Migrate(ctx, conn, fresh, opts...); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	return nil
}

// Swap moves every table of target that fresh also has into backup (a new
// database, which must not exist) and the tables of fresh into target, in
// one RENAME TABLE statement; then it applies to target the migrations it
// lacks (views added since it was created) and drops fresh, which holds
// only its views and schema_migrations by then. It returns the tables it
// swapped.
//
// A RENAME of several tables on ClickHouse is not one transaction: readers
// and inserts in that instant may fail on a missing table (the projector
// retries; a report answers an error), and a server crash in the middle
// leaves some tables moved. The error then names the databases to look at;
// nothing is dropped before every rename succeeded.
//
// OnCluster does each step ON CLUSTER: every replica renames its tables
// (a replicated table keeps its ZooKeeper path, so the replicas go on
// replicating it under its new name). The tables are listed on the
// connected replica, which Migrate made alike on every replica.
func Swap(ctx context.Context, conn driver.Conn, target, fresh, backup string, opts ...Option) ([]string, error) {
	for _, db := range []string{target, fresh, backup} {
		if err := CheckDatabase(db); err != nil {
			return nil, fmt.Errorf("swap: %w", err)
		}
	}
	o := newOptions(opts)
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("swap: %w", err)
	}
	if exists, err := databaseExists(ctx, conn, backup); err != nil {
		return nil, fmt.Errorf("swap: %w", err)
	} else if exists {
		return nil, fmt.Errorf("swap: backup database %s already exists", backup)
	}
	freshTables, err := baseTables(ctx, conn, fresh)
	if err != nil {
		return nil, fmt.Errorf("swap: %w", err)
	}
	if len(freshTables) == 0 {
		return nil, fmt.Errorf("swap: database %s has no tables", fresh)
	}
	live, err := baseTables(ctx, conn, target)
	if err != nil {
		return nil, fmt.Errorf("swap: %w", err)
	}
	inTarget := make(map[string]bool, len(live))
	for _, t := range live {
		inTarget[t] = true
	}
	if err := conn.Exec(ctx, "CREATE DATABASE "+QuoteIdent(backup)+o.onCluster()); err != nil {
		return nil, fmt.Errorf("swap: create backup database %s: %w", backup, err)
	}
	var moves []string
	for _, t := range freshTables {
		if inTarget[t] {
			moves = append(moves, QuoteIdent(target)+"."+QuoteIdent(t)+" TO "+QuoteIdent(backup)+"."+QuoteIdent(t))
		}
	}
	for _, t := range freshTables {
		moves = append(moves, QuoteIdent(fresh)+"."+QuoteIdent(t)+" TO "+QuoteIdent(target)+"."+QuoteIdent(t))
	}
	if err := conn.Exec(ctx, "RENAME TABLE "+strings.Join(moves, ", ")+o.onCluster()); err != nil {
		return nil, fmt.Errorf("swap: rename the tables of %s into %s (the old ones into %s): %w; check all three databases before retrying",
			fresh, target, backup, err)
	}
	if _, err := Migrate(ctx, conn, target, opts...); err != nil {
		return freshTables, fmt.Errorf("swap: tables swapped, but: %w", err)
	}
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+QuoteIdent(fresh)+o.onCluster()); err != nil {
		return freshTables, fmt.Errorf("swap: tables swapped, but drop %s: %w", fresh, err)
	}
	return freshTables, nil
}

// baseTables lists the tables of database that hold data, without its
// views, its schema_migrations (each database keeps its own record) and
// the worker's snapshots (not derived from the log: see WorkerStates).
func baseTables(ctx context.Context, conn driver.Conn, database string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND engine NOT IN ('View', 'MaterializedView') AND name NOT IN (?, ?) ORDER BY name",
		database, TableMigrations, TableWorkerStates)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", database, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list the tables of %s: %w", database, err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", database, err)
	}
	return out, nil
}

func databaseExists(ctx context.Context, conn driver.Conn, database string) (bool, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", database).Scan(&n); err != nil {
		return false, fmt.Errorf("look up database %s: %w", database, err)
	}
	return n > 0, nil
}
