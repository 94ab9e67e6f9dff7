package readmodel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Option changes how Migrate, PrepareFresh, Swap and the Summarizer run.
// With none, they work on a single server.
type Option func(*options)

type options struct {
	cluster string
}

func newOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// OnCluster runs the schema on the ClickHouse cluster name (a cluster of
// the servers' remote_servers, with the macros {shard} and {replica}
// defined on every server, and ZooKeeper): every DDL statement runs ON
// CLUSTER, every table is the Replicated form of its engine (ClusterDDL),
// and the Summarizer writes the roll-ups with a quorum of every replica of
// the shard. The database may be served by any replica: reads use the
// replica's own tables (one shard).
func OnCluster(name string) Option { return func(o *options) { o.cluster = name } }

// CheckCluster refuses cluster names that would need quoting: they are
// spliced into DDL.
func CheckCluster(name string) error {
	if !identifier.MatchString(name) || len(name) > 128 {
		return fmt.Errorf("clickhouse cluster %q: want letters, digits and '_', not starting with a digit", name)
	}
	return nil
}

// ZooKeeperRoot is where the replicated tables keep their state in
// ZooKeeper: <root>/<cluster>/{shard}/<database>/<table>-<tag>.
const ZooKeeperRoot = "/clickhouse/tables"

// ddl returns the statement as this schema runs it on database: unchanged
// on a single server, its cluster form (with the tables' ZooKeeper paths
// tagged tag) on a cluster.
func (o options) ddl(stmt, database, tag string) (string, error) {
	if o.cluster == "" {
		return stmt, nil
	}
	return ClusterDDL(stmt, o.cluster, database, tag)
}

// onCluster is the " ON CLUSTER name" clause, or "" on a single server.
func (o options) onCluster() string {
	if o.cluster == "" {
		return ""
	}
	return " ON CLUSTER " + QuoteIdent(o.cluster)
}

func (o options) check() error {
	if o.cluster == "" {
		return nil
	}
	return CheckCluster(o.cluster)
}

// NewTag returns a fresh tag for ClusterDDL: the ZooKeeper path of every
// replicated table is unique to the Migrate that created it, so that a
// rebuild's fresh tables never meet the paths of the live ones or of a
// backup (a RENAME keeps a table's path), and a table dropped on a current
// ClickHouse (whose Atomic databases free the path minutes after the DROP)
// never blocks the next one.
func NewTag() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+ panics instead)
	return hex.EncodeToString(b)
}

var (
	createRE = regexp.MustCompile(`(?is)^(CREATE\s+(?:TABLE|VIEW|MATERIALIZED\s+VIEW|DATABASE)\s+(?:IF\s+NOT\s+EXISTS\s+)?)([^\s(]+)`)
	dropRE   = regexp.MustCompile(`(?is)^(DROP\s+(?:TABLE|VIEW|DATABASE)\s+(?:IF\s+EXISTS\s+)?)([^\s(]+)`)
	alterRE  = regexp.MustCompile(`(?is)^(ALTER\s+TABLE\s+)([^\s(]+)`)
	renameRE = regexp.MustCompile(`(?is)^RENAME\s+TABLE\s`)
	insertRE = regexp.MustCompile(`(?is)^INSERT\s+INTO\s`)
	engineRE = regexp.MustCompile(`(?is)\bENGINE\s*=\s*(\w+)`)
	// mergeTreeRE is the engines that have a Replicated form.
	mergeTreeRE = regexp.MustCompile(`^(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?MergeTree$`)
	onClRE      = regexp.MustCompile(`(?is)\bON\s+CLUSTER\b`)
)

// ClusterDDL turns one statement of the single-server schema into its form
// on cluster, for database: CREATE, DROP and ALTER get ON CLUSTER after
// their object's name and RENAME TABLE at its end; a MergeTree-family
// engine becomes its Replicated form, with the ZooKeeper path
// ZooKeeperRoot/<cluster>/{shard}/<database>/<table>-<tag> and replica
// {replica} (the servers' macros) before its own arguments; INSERT (a
// migration's backfill) is unchanged, since replication carries it. "{db}"
// stays for Migrate to replace. Anything else is an error naming the
// statement: a table of another engine (Memory, Log, Distributed, already
// Replicated), CREATE TABLE ... AS without an engine (it would copy the
// path), a statement that already says ON CLUSTER, or one of another kind.
// It is pure: a test holds every migration to it.
func ClusterDDL(stmt, cluster, database, tag string) (string, error) {
	s := strings.TrimSpace(stmt)
	fail := func(why string) (string, error) {
		return "", fmt.Errorf("cluster form of %q: %s", firstLine(s), why)
	}
	if err := CheckCluster(cluster); err != nil {
		return fail(err.Error())
	}
	if onClRE.MatchString(s) {
		return fail("it says ON CLUSTER already; write the single-server form")
	}
	on := " ON CLUSTER " + QuoteIdent(cluster)
	switch {
	case createRE.MatchString(s):
		m := createRE.FindStringSubmatchIndex(s)
		kind := strings.ToUpper(strings.Join(strings.Fields(s[m[2]:m[3]]), " "))
		name := s[m[4]:m[5]]
		out := s[:m[5]] + on + s[m[5]:]
		switch {
		case strings.HasPrefix(kind, "CREATE DATABASE"):
			if engineRE.MatchString(s) {
				return fail("a database engine is not portable between 18.16 and current ClickHouse")
			}
			return out, nil
		case strings.HasPrefix(kind, "CREATE VIEW"):
			return out, nil
		}
		table := strings.Trim(name[strings.LastIndexByte(name, '.')+1:], "`")
		if !identifier.MatchString(table) {
			return fail(fmt.Sprintf("table name %q: want letters, digits and '_'", table))
		}
		engines := engineRE.FindAllStringSubmatchIndex(out, -1)
		switch {
		case len(engines) > 1:
			return fail("more than one ENGINE clause")
		case len(engines) == 0 && strings.HasPrefix(kind, "CREATE MATERIALIZED VIEW"):
			return out, nil // TO another table: that one is replicated
		case len(engines) == 0:
			return fail("no ENGINE clause (CREATE TABLE ... AS would copy the other table's ZooKeeper path)")
		}
		e := engines[0]
		engine := out[e[2]:e[3]]
		if !mergeTreeRE.MatchString(engine) {
			return fail(fmt.Sprintf("engine %s: only MergeTree-family engines have a replicated form", engine))
		}
		end, args, err := engineArgs(out, e[1])
		if err != nil {
			return fail(err.Error())
		}
		path := fmt.Sprintf("%s/%s/{shard}/%s/%s-%s", ZooKeeperRoot, cluster, database, table, tag)
		repl := "ENGINE = Replicated" + engine + "('" + path + "', '{replica}'"
		if args != "" {
			repl += ", " + args
		}
		repl += ")"
		return out[:e[0]] + repl + out[end:], nil
	case dropRE.MatchString(s):
		m := dropRE.FindStringSubmatchIndex(s)
		return s[:m[5]] + on + s[m[5]:], nil
	case alterRE.MatchString(s):
		m := alterRE.FindStringSubmatchIndex(s)
		return s[:m[5]] + on + s[m[5]:], nil
	case renameRE.MatchString(s):
		return s + on, nil
	case insertRE.MatchString(s):
		return s, nil
	}
	return fail("no cluster form for this kind of statement (CREATE, DROP, ALTER, RENAME and INSERT have one)")
}

// engineArgs reads the parenthesised arguments of an engine whose name
// ends at i in s, if any: the end of the clause and the arguments, trimmed.
// Parentheses nest (SummingMergeTree((a, b))); quoted text is not expected
// in an engine's arguments of this schema and is refused.
func engineArgs(s string, i int) (end int, args string, err error) {
	j := i
	for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
		j++
	}
	if j == len(s) || s[j] != '(' {
		return i, "", nil
	}
	depth := 0
	for k := j; k < len(s); k++ {
		switch s[k] {
		case '\'', '"', '`':
			return 0, "", errors.New("quotes in the engine's arguments")
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return k + 1, strings.TrimSpace(s[j+1 : k]), nil
			}
		}
	}
	return 0, "", errors.New("unbalanced parentheses in the engine's arguments")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// ReplicaCount is the number of replicas of the first shard of cluster,
// as the connected server's remote_servers names them.
func ReplicaCount(ctx context.Context, conn driver.Conn, cluster string) (int, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ? AND shard_num = 1", cluster).Scan(&n); err != nil {
		return 0, fmt.Errorf("replicas of cluster %s: %w", cluster, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("replicas of cluster %s: the server knows no such cluster (remote_servers)", cluster)
	}
	return int(n), nil
}

// SyncReplica waits until the connected replica holds every part that
// any replica of database.table had logged when it was called (SYSTEM
// SYNC REPLICA). On a single server it does nothing.
func SyncReplica(ctx context.Context, conn driver.Conn, database, table string, opts ...Option) error {
	o := newOptions(opts)
	if o.cluster == "" {
		return nil
	}
	if err := CheckDatabase(database); err != nil {
		return fmt.Errorf("sync replica: %w", err)
	}
	if !identifier.MatchString(table) {
		return fmt.Errorf("sync replica: table %q: want letters, digits and '_'", table)
	}
	if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+QuoteIdent(database)+"."+QuoteIdent(table)); err != nil {
		return fmt.Errorf("sync replica %s.%s: %w", database, table, err)
	}
	return nil
}

// WaitReplicated waits until every replica of every replicated table of
// database holds every part logged so far: its replication queue is empty
// and it has read the table's whole log. It reads each replica's state in
// ZooKeeper through the connected server (system.replicas, then
// system.zookeeper), so it also covers replicas it is not connected to,
// and polls every interval until ctx ends. A replica that is down never
// catches up: the error then names it. On a single server it does nothing.
func WaitReplicated(ctx context.Context, conn driver.Conn, database string, interval time.Duration, opts ...Option) error {
	if newOptions(opts).cluster == "" {
		return nil
	}
	if err := CheckDatabase(database); err != nil {
		return fmt.Errorf("wait for the replicas: %w", err)
	}
	for {
		behind, err := replicasBehind(ctx, conn, database)
		if err != nil {
			return fmt.Errorf("wait for the replicas of %s: %w", database, err)
		}
		if behind == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the replicas of %s: %s is behind: %w", database, behind, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// replicasBehind names the first replica (table/replica) of database that
// has not caught up with its table's log, or returns "".
func replicasBehind(ctx context.Context, conn driver.Conn, database string) (string, error) {
	rows, err := conn.Query(ctx, "SELECT table, zookeeper_path FROM system.replicas WHERE database = ? ORDER BY table", database)
	if err != nil {
		return "", err
	}
	type table struct{ name, path string }
	var tables []table
	for rows.Next() {
		var t table
		if err := rows.Scan(&t.name, &t.path); err != nil {
			rows.Close()
			return "", err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	for _, t := range tables {
		// The log's entries are log-0000000000, log-0000000001, ...; a
		// replica's log_pointer is the index of the next one it will read.
		var logs uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", t.path+"/log").Scan(&logs); err != nil {
			return "", fmt.Errorf("%s: log: %w", t.name, err)
		}
		var last string
		if logs > 0 {
			if err := conn.QueryRow(ctx, "SELECT max(name) FROM system.zookeeper WHERE path = ?", t.path+"/log").Scan(&last); err != nil {
				return "", fmt.Errorf("%s: log: %w", t.name, err)
			}
		}
		replicas, err := zkChildren(ctx, conn, t.path+"/replicas")
		if err != nil {
			return "", fmt.Errorf("%s: replicas: %w", t.name, err)
		}
		for _, r := range replicas {
			base := t.path + "/replicas/" + r
			var queued uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = ?", base+"/queue").Scan(&queued); err != nil {
				return "", fmt.Errorf("%s/%s: queue: %w", t.name, r, err)
			}
			if queued > 0 {
				return t.name + "/" + r, nil
			}
			if last == "" {
				continue
			}
			var pointer string
			if err := conn.QueryRow(ctx, "SELECT any(value) FROM system.zookeeper WHERE path = ? AND name = 'log_pointer'", base).Scan(&pointer); err != nil {
				return "", fmt.Errorf("%s/%s: log_pointer: %w", t.name, r, err)
			}
			lastIndex, err := strconv.ParseUint(strings.TrimPrefix(last, "log-"), 10, 64)
			if err != nil {
				return "", fmt.Errorf("%s: log entry %q: %w", t.name, last, err)
			}
			if p, err := strconv.ParseUint(pointer, 10, 64); err != nil || p <= lastIndex {
				return t.name + "/" + r, nil
			}
		}
	}
	return "", nil
}

func zkChildren(ctx context.Context, conn driver.Conn, path string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT name FROM system.zookeeper WHERE path = ? ORDER BY name", path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, rows.Err()
}
