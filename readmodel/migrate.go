package readmodel

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Migration is one numbered step of the schema. Its statements are run in
// order, then the migration is recorded in schema_migrations; each must be
// harmless to run again (IF NOT EXISTS), since a crash between the
// statements and the record runs the migration again. "{db}" in a statement
// stands for the quoted database name.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// Migrations returns the schema's migrations, in the order Migrate applies
// them.
func Migrations() []Migration {
	out := make([]Migration, len(migrations))
	for i, m := range migrations {
		out[i] = Migration{Version: m.Version, Name: m.Name, Statements: append([]string(nil), m.Statements...)}
	}
	return out
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckDatabase refuses database names that would need escaping: they are
// spliced into SQL (DDL takes no parameters). Every function of this
// package that runs SQL on a database checks its name first.
func CheckDatabase(database string) error {
	if !identifier.MatchString(database) || len(database) > 128 {
		return fmt.Errorf("clickhouse database %q: want letters, digits and '_', not starting with a digit", database)
	}
	return nil
}

// QuoteIdent quotes an identifier that CheckDatabase accepted, for SQL.
func QuoteIdent(name string) string { return "`" + name + "`" }

// Migrate creates database if it is missing, then applies every migration
// not yet recorded in its schema_migrations table, in order, and records
// each. It returns the migrations it applied (none when the schema is
// current). Running it again, or from several processes at once, is
// harmless: every statement is idempotent and a migration recorded twice
// is still one version. OnCluster runs every statement in its cluster form
// (ClusterDDL), on every replica.
func Migrate(ctx context.Context, conn driver.Conn, database string, opts ...Option) ([]Migration, error) {
	if err := CheckDatabase(database); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	o := newOptions(opts)
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	tag := NewTag()
	db := QuoteIdent(database)
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db+o.onCluster()); err != nil {
		return nil, fmt.Errorf("migrate: create database %s: %w", database, err)
	}
	stmt, err := o.ddl(migrationsTableDDL, database, tag)
	if err == nil {
		err = conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", db))
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: create %s.schema_migrations: %w", database, err)
	}
	done, err := appliedVersions(ctx, conn, db)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", database, err)
	}
	var applied []Migration
	for _, m := range Migrations() {
		if done[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			stmt, err := o.ddl(stmt, database, tag)
			if err == nil {
				err = conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", db))
			}
			if err != nil {
				return applied, fmt.Errorf("migrate %s: migration %d (%s), statement %d: %w", database, m.Version, m.Name, i+1, err)
			}
		}
		if err := record(ctx, conn, db, m); err != nil {
			return applied, fmt.Errorf("migrate %s: record migration %d: %w", database, m.Version, err)
		}
		applied = append(applied, m)
	}
	return applied, nil
}

// migrationsTableDDL creates the record of applied migrations.
// ReplacingMergeTree: two processes migrating at once may both record a
// version; it is still one.
const migrationsTableDDL = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
    version    UInt32,
    name       String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY version`

func appliedVersions(ctx context.Context, conn driver.Conn, db string) (map[int]bool, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	done := make(map[int]bool)
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		done[int(v)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return done, nil
}

// record inserts the migration's row. On 18.16 an INSERT ... VALUES through
// Exec hangs; only the native batch API inserts.
func record(ctx context.Context, conn driver.Conn, db string, m Migration) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC()); err != nil {
		return err
	}
	return b.Send()
}
