package readmodel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/readmodel"
)

// TestSchemaOnCluster: on the local cluster, Migrate creates the schema on
// every replica and records it once; a row written through one replica is
// read from the other once WaitReplicated returns; a rebuild's fresh
// database is prepared and swapped in on every replica.
func TestSchemaOnCluster(t *testing.T) {
	cl := testenv.ClickHouseCluster(t)
	on := readmodel.OnCluster(cl.Name)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var r []driver.Conn
	for _, raw := range cl.Replicas[:2] {
		opts, err := clickhouse.ParseDSN(raw)
		if err != nil {
			t.Fatal(err)
		}
		opts.Protocol, opts.Auth.Database = clickhouse.Native, ""
		r = append(r, testenv.ClickHouseConn(t, opts))
	}
	db := testenv.UniqueName("t_")
	fresh, backup := readmodel.FreshDatabase(db), db+"_backup"
	t.Cleanup(func() {
		for _, name := range []string{db, fresh, backup} {
			if err := r[0].Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" ON CLUSTER "+cl.Name); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
		}
	})

	applied, err := readmodel.Migrate(ctx, r[0], db, on)
	if err != nil {
		t.Fatalf("migrate on the cluster: %v", err)
	}
	if got, all := versions(applied), versions(readmodel.Migrations()); !slices.Equal(got, all) {
		t.Fatalf("applied %v, want %v", got, all)
	}
	if err := readmodel.WaitReplicated(ctx, r[0], db, 100*time.Millisecond, on); err != nil {
		t.Fatal(err)
	}
	if again, err := readmodel.Migrate(ctx, r[1], db, on); err != nil || len(again) != 0 {
		t.Fatalf("migrate again through replica 2: applied %v (%v), want none: the record is replicated", versions(again), err)
	}
	for i, conn := range r {
		if got := tables(t, conn, db); !slices.Equal(got, wantTables) {
			t.Errorf("replica %d: tables %v, want %v", i+1, got, wantTables)
		}
	}

	brand := func(conn driver.Conn, database, id string) {
		t.Helper()
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+database+".brands (brand_id, name, registered_at, version)")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Append(id, "Brand "+id, time.Now().UTC(), uint64(1)); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	brands := func(conn driver.Conn, database string) []string {
		t.Helper()
		rows, err := conn.Query(ctx, "SELECT brand_id FROM "+database+".brands FINAL ORDER BY brand_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	brand(r[0], db, "live")
	if err := readmodel.WaitReplicated(ctx, r[0], db, 100*time.Millisecond, on); err != nil {
		t.Fatal(err)
	}
	if got := brands(r[1], db); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("replica 2 after WaitReplicated: brands %v, want [live]", got)
	}

	if err := readmodel.PrepareFresh(ctx, r[0], fresh, on); err != nil {
		t.Fatal(err)
	}
	brand(r[0], fresh, "rebuilt")
	if err := readmodel.WaitReplicated(ctx, r[0], fresh, 100*time.Millisecond, on); err != nil {
		t.Fatal(err)
	}
	if _, err := readmodel.Swap(ctx, r[0], db, fresh, backup, on); err != nil {
		t.Fatal(err)
	}
	for i, conn := range r {
		if got := brands(conn, db); !slices.Equal(got, []string{"rebuilt"}) {
			t.Errorf("replica %d after the swap: brands %v, want [rebuilt]", i+1, got)
		}
		if got := brands(conn, backup); !slices.Equal(got, []string{"live"}) {
			t.Errorf("replica %d after the swap: backup brands %v, want [live]", i+1, got)
		}
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = ?", fresh).Scan(&n); err != nil || n != 0 {
			t.Errorf("replica %d: %s still exists (%v)", i+1, fresh, err)
		}
	}
	// The swapped-in tables go on replicating under their new names.
	brand(r[1], db, "after")
	if err := readmodel.WaitReplicated(ctx, r[1], db, 100*time.Millisecond, on); err != nil {
		t.Fatal(err)
	}
	if got := brands(r[0], db); !slices.Equal(got, []string{"after", "rebuilt"}) {
		t.Errorf("replica 1: brands %v, want [after rebuilt]", got)
	}
}
