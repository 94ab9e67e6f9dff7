package readmodel

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestEveryMigrationHasAClusterForm holds every statement of every
// migration (and the record of migrations) to ClusterDDL: a migration
// added without a cluster form fails here, naming it.
func TestEveryMigrationHasAClusterForm(t *testing.T) {
	stmts := map[string]string{"schema_migrations": migrationsTableDDL}
	for _, m := range Migrations() {
		for i, s := range m.Statements {
			stmts[fmt.Sprintf("%d %s/%d", m.Version, m.Name, i+1)] = s
		}
	}
	create := regexp.MustCompile(`(?is)^CREATE\s+(TABLE|VIEW)\s+IF\s+NOT\s+EXISTS\s+\{db\}\.(\w+) ON CLUSTER ` + "`attrib`" + `\s`)
	for name, stmt := range stmts {
		t.Run(name, func(t *testing.T) {
			got, err := ClusterDDL(stmt, "attrib", "reports", "tag1")
			if err != nil {
				t.Fatalf("ClusterDDL: %v", err)
			}
			if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "INSERT") {
				// A backfill runs on one replica; replication carries it.
				if got != strings.TrimSpace(stmt) {
					t.Errorf("an INSERT is unchanged; got %q", got)
				}
				return
			}
			m := create.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("got %q, want CREATE TABLE|VIEW IF NOT EXISTS {db}.<name> ON CLUSTER `attrib` ...", got)
			}
			if m[1] == "VIEW" {
				if got != strings.Replace(strings.TrimSpace(stmt), m[2], m[2]+" ON CLUSTER `attrib`", 1) {
					t.Errorf("a view changes only by ON CLUSTER; got %q", got)
				}
				return
			}
			wantPath := "'/clickhouse/tables/attrib/{shard}/reports/" + m[2] + "-tag1', '{replica}'"
			if !strings.Contains(got, "ENGINE = Replicated") || !strings.Contains(got, wantPath) {
				t.Errorf("got %q, want a Replicated engine with path and replica %s", got, wantPath)
			}
			if strings.Count(got, "MergeTree") != 1 {
				t.Errorf("got %q, want exactly one engine", got)
			}
		})
	}
}

func TestClusterDDL(t *testing.T) {
	cases := []struct {
		name, stmt, want, err string
	}{
		{
			name: "plain MergeTree",
			stmt: "CREATE TABLE IF NOT EXISTS {db}.t (k String) ENGINE = MergeTree ORDER BY k",
			want: "CREATE TABLE IF NOT EXISTS {db}.t ON CLUSTER `c1` (k String) ENGINE = ReplicatedMergeTree('/clickhouse/tables/c1/{shard}/d/t-x', '{replica}') ORDER BY k",
		},
		{
			name: "ReplacingMergeTree with a version",
			stmt: "CREATE TABLE IF NOT EXISTS {db}.t (k String, v UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY k",
			want: "CREATE TABLE IF NOT EXISTS {db}.t ON CLUSTER `c1` (k String, v UInt64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/c1/{shard}/d/t-x', '{replica}', version) ORDER BY k",
		},
		{
			name: "SummingMergeTree with columns, no IF NOT EXISTS, spaced engine",
			stmt: "CREATE TABLE {db}.s (k String, n UInt64)\nENGINE=SummingMergeTree ( (n) )\nORDER BY k",
			want: "CREATE TABLE {db}.s ON CLUSTER `c1` (k String, n UInt64)\nENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/c1/{shard}/d/s-x', '{replica}', (n))\nORDER BY k",
		},
		{
			name: "AggregatingMergeTree without arguments",
			stmt: "CREATE TABLE IF NOT EXISTS {db}.a (k String) ENGINE = AggregatingMergeTree() ORDER BY k",
			want: "CREATE TABLE IF NOT EXISTS {db}.a ON CLUSTER `c1` (k String) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/c1/{shard}/d/a-x', '{replica}') ORDER BY k",
		},
		{
			name: "view",
			stmt: "CREATE VIEW IF NOT EXISTS {db}.v AS SELECT 1",
			want: "CREATE VIEW IF NOT EXISTS {db}.v ON CLUSTER `c1` AS SELECT 1",
		},
		{
			name: "materialized view into another table",
			stmt: "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv TO {db}.t AS SELECT k FROM {db}.src",
			want: "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv ON CLUSTER `c1` TO {db}.t AS SELECT k FROM {db}.src",
		},
		{
			name: "materialized view with its own engine",
			stmt: "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv ENGINE = ReplacingMergeTree(v) ORDER BY k AS SELECT k, v FROM {db}.src",
			want: "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.mv ON CLUSTER `c1` ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/c1/{shard}/d/mv-x', '{replica}', v) ORDER BY k AS SELECT k, v FROM {db}.src",
		},
		{
			name: "database",
			stmt: "CREATE DATABASE IF NOT EXISTS {db}",
			want: "CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER `c1`",
		},
		{
			name: "drop table",
			stmt: "DROP TABLE IF EXISTS {db}.old",
			want: "DROP TABLE IF EXISTS {db}.old ON CLUSTER `c1`",
		},
		{
			name: "alter table",
			stmt: "ALTER TABLE {db}.orders ADD COLUMN x String",
			want: "ALTER TABLE {db}.orders ON CLUSTER `c1` ADD COLUMN x String",
		},
		{
			name: "rename",
			stmt: "RENAME TABLE {db}.a TO {db}.b",
			want: "RENAME TABLE {db}.a TO {db}.b ON CLUSTER `c1`",
		},
		{
			name: "insert backfill unchanged",
			stmt: "INSERT INTO {db}.t (k) SELECT k FROM {db}.src",
			want: "INSERT INTO {db}.t (k) SELECT k FROM {db}.src",
		},
		{name: "memory engine", stmt: "CREATE TABLE IF NOT EXISTS {db}.m (k String) ENGINE = Memory", err: "only MergeTree-family engines"},
		{name: "already replicated", stmt: "CREATE TABLE IF NOT EXISTS {db}.r (k String) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY k", err: "only MergeTree-family engines"},
		{name: "copy of another table", stmt: "CREATE TABLE IF NOT EXISTS {db}.c AS {db}.t", err: "no ENGINE clause"},
		{name: "already on cluster", stmt: "CREATE VIEW IF NOT EXISTS {db}.v ON CLUSTER x AS SELECT 1", err: "ON CLUSTER already"},
		{name: "optimize", stmt: "OPTIMIZE TABLE {db}.t FINAL", err: "no cluster form"},
		{name: "database engine", stmt: "CREATE DATABASE IF NOT EXISTS {db} ENGINE = Atomic", err: "database engine"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClusterDDL(tc.stmt, "c1", "d", "x")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ClusterDDL: %v", err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestClusterDDLRefusesBadClusterNames(t *testing.T) {
	for _, name := range []string{"", "a b", "x`y", "1abc"} {
		if _, err := ClusterDDL("CREATE VIEW IF NOT EXISTS {db}.v AS SELECT 1", name, "d", "x"); err == nil {
			t.Errorf("cluster %q: got no error", name)
		}
	}
}
