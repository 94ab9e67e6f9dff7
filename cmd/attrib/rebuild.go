package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/readmodel"
)

// runRebuild rebuilds projections from the log: `attrib rebuild redis`
// replays the catalog into the catalog projection, then the orders and
// attributions into the attribution worker's order state; `attrib rebuild
// clickhouse` replays the catalog and attributions into fresh ClickHouse
// tables and swaps them in; `attrib rebuild summary` brings the reports'
// daily roll-ups up to date at once (what the clickhouse-summary component
// does every --summary-refresh).
func runRebuild(ctx context.Context, ec *engineConfig, log *slog.Logger, args []string) error {
	if len(args) != 1 || (args[0] != "redis" && args[0] != "clickhouse" && args[0] != "summary") {
		return fmt.Errorf("usage: attrib rebuild redis|clickhouse|summary")
	}
	switch args[0] {
	case "clickhouse":
		return rebuildClickHouse(ctx, ec, log)
	case "summary":
		return rebuildSummary(ctx, ec, log)
	}
	if ec.RedisPrefix == "" {
		return fmt.Errorf("empty redis prefix")
	}
	store, comps, err := openKafka(ctx, ec, log, nil)
	if err != nil {
		return err
	}
	defer closeAll(comps)
	rdb, err := openRedis(ctx, ec, 0)
	if err != nil {
		return err
	}
	defer rdb.Close()
	proj, err := rediscatalog.New(rediscatalog.Config{Client: rdb, Prefix: ec.RedisPrefix, Logger: log})
	if err != nil {
		return err
	}
	start := time.Now()
	bar := progressPrinter(progressOut, "redis catalog")
	if err := rediscatalog.Rebuild(ctx, store, proj, bar); err != nil {
		return fmt.Errorf("rebuild redis: %w", err)
	}
	// The worker's order state follows the catalog: its rebuild reads the
	// orders and attributions topics only, but the catalog must be whole
	// before the worker decides anything again.
	var ch driver.Conn
	if ec.StateRetention > 0 {
		// The orders beyond the window go back to ClickHouse.
		if ch, err = openClickHouse(ctx, ec); err != nil {
			return err
		}
		defer ch.Close()
	}
	w, err := newWorker(ec, store, rdb, proj, ch, log, nil)
	if err != nil {
		return err
	}
	if err := w.Rebuild(ctx, progressPrinter(progressOut, "attribution state")); err != nil {
		return fmt.Errorf("rebuild attribution state: %w", err)
	}
	log.Info("redis projections rebuilt from the log", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// rebuildClickHouse fills fresh tables from the whole log, swaps them in
// for the live ones (kept in a backup database) and replays what was
// appended meanwhile; see readmodel's rebuild.go. A running engine keeps
// serving and projecting throughout.
func rebuildClickHouse(ctx context.Context, ec *engineConfig, log *slog.Logger) error {
	store, comps, err := openKafka(ctx, ec, log, nil)
	if err != nil {
		return err
	}
	defer closeAll(comps)
	conn, err := openClickHouse(ctx, ec)
	if err != nil {
		return err
	}
	defer conn.Close()
	target := ec.ClickHouse.Auth.Database
	fresh := readmodel.FreshDatabase(target)
	backup := fmt.Sprintf("%s_before_rebuild_%s", target, clock().UTC().Format("20060102_150405"))
	start := time.Now()
	if err := readmodel.PrepareFresh(ctx, conn, fresh, ec.schema()...); err != nil {
		return err
	}
	replay := func(database string, from map[string]map[int]int64, what string) (map[string]map[int]int64, error) {
		p, err := chproj.New(chproj.Config{Conn: conn, Database: database, BatchRows: rebuildBatch, BatchWait: 5 * time.Millisecond, Logger: log})
		if err != nil {
			return nil, err
		}
		ends := map[string]map[int]int64{}
		for _, topic := range chproj.Topics() {
			bar := progressPrinter(progressOut, what)
			e, err := store.ReplayFrom(ctx, topic, from[topic], p, eventstore.ReplayOptions{
				MaxBatch: rebuildBatch, Concurrency: 2,
				Progress: bar,
			})
			if err != nil {
				return nil, fmt.Errorf("rebuild clickhouse: %w", err)
			}
			ends[topic] = e
		}
		return ends, nil
	}
	ends, err := replay(fresh, nil, "clickhouse "+fresh)
	if err != nil {
		return err
	}
	// The daily roll-ups of the fresh tables, so that the reports are fast
	// from the swap on (they are exact without them: days not rolled up are
	// read from orders).
	summarizer, err := readmodel.NewSummarizer(conn, fresh, log, nil, ec.schema()...)
	if err != nil {
		return err
	}
	if _, err := summarizer.Refresh(ctx, summaryProgress(progressOut, fresh)); err != nil {
		return fmt.Errorf("rebuild clickhouse: %w", err)
	}
	// On a cluster the replay went through one replica: every other one
	// must hold the fresh tables whole before they are swapped in, or it
	// would serve them part-filled.
	wctx, wcancel := context.WithTimeout(ctx, replicasWait)
	err = readmodel.WaitReplicated(wctx, conn, fresh, 200*time.Millisecond, ec.schema()...)
	wcancel()
	if err != nil {
		return fmt.Errorf("rebuild clickhouse: %w (nothing was swapped; start the replica and run the rebuild again)", err)
	}
	if rebuildBeforeSwap != nil {
		rebuildBeforeSwap()
	}
	tables, err := readmodel.Swap(ctx, conn, target, fresh, backup, ec.schema()...)
	if err != nil {
		return fmt.Errorf("rebuild clickhouse: %w", err)
	}
	log.Info("rebuilt tables swapped in", "database", target, "tables", tables, "old_tables_in", backup)
	if _, err := replay(target, ends, "clickhouse catch-up"); err != nil {
		return fmt.Errorf("%w (the rebuilt tables are in place, but what the live projector wrote into the old ones between the replay and the swap may be missing from them: run the rebuild again)", err)
	}
	log.Info("clickhouse rebuilt from the log", "database", target, "took", time.Since(start).Round(time.Millisecond),
		"old_tables", backup, "drop_them_with", dropHint(ec, backup))
	return nil
}

// dropHint is the statement that drops a rebuild's backup database: on
// every replica of a cluster.
func dropHint(ec *engineConfig, backup string) string {
	if ec.ClickHouseCluster != "" {
		return "DROP DATABASE " + backup + " ON CLUSTER " + ec.ClickHouseCluster
	}
	return "DROP DATABASE " + backup
}

// rebuildSummary marks the days that have orders but no marks (orders
// projected before the marks existed), then recomputes every day of the
// roll-ups (creator_daily, summary_daily) that is not current.
func rebuildSummary(ctx context.Context, ec *engineConfig, log *slog.Logger) error {
	conn, err := openClickHouse(ctx, ec)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := readmodel.NewSummarizer(conn, ec.ClickHouse.Auth.Database, log, nil, ec.schema()...)
	if err != nil {
		return err
	}
	start := time.Now()
	if marked, err := s.Backfill(ctx); err != nil {
		return fmt.Errorf("rebuild summary: %w", err)
	} else if marked > 0 {
		log.Info("marked days that had orders but no marks", "days", marked)
	}
	n, err := s.Refresh(ctx, summaryProgress(progressOut, ec.ClickHouse.Auth.Database))
	if err != nil {
		return fmt.Errorf("rebuild summary: %w", err)
	}
	log.Info("summary roll-up current", "database", ec.ClickHouse.Auth.Database, "days_recomputed", n,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// rebuildBeforeSwap, when set, runs between the replay and the swap (tests
// append events there that only the catch-up replay brings in).
var rebuildBeforeSwap func()

// replicasWait bounds the rebuild's wait for every replica to hold the
// fresh tables: fetching a replay's parts takes seconds to minutes; a
// replica that is down never catches up.
const replicasWait = 10 * time.Minute

// rebuildBatch is the replay's batch, and the projector's flush, in events.
const rebuildBatch = 20000

// progressOut receives progress lines; tests may silence it.
var progressOut io.Writer = nil

// progressPrinter prints a replay's progress (events, events/s, ETA) at most
// twice a second, and once at the end.
func progressPrinter(w io.Writer, what string) func(eventstore.ReplayProgress) {
	var last time.Time
	return func(p eventstore.ReplayProgress) {
		if w == nil {
			return
		}
		done := p.Read >= p.Total
		if !done && time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		rate := float64(p.Read) / max(p.Elapsed.Seconds(), 1e-9)
		eta := "-"
		if rate > 0 && !done {
			eta = time.Duration(float64(p.Total-p.Read) / rate * float64(time.Second)).Round(time.Second).String()
		}
		pct := 100.0
		if p.Total > 0 {
			pct = 100 * float64(p.Read) / float64(p.Total)
		}
		fmt.Fprintf(w, "rebuild %s: %s %d/%d events (%.1f%%), %.0f events/s, ETA %s\n", what, p.Topic, p.Read, p.Total, pct, rate, eta)
	}
}

// summaryProgress prints a summary roll-up's progress (days, days/s).
func summaryProgress(w io.Writer, database string) func(readmodel.RefreshProgress) {
	return func(p readmodel.RefreshProgress) {
		if w == nil {
			return
		}
		fmt.Fprintf(w, "summary roll-up of %s: %d/%d days, %.0f days/s\n", database, p.Days, p.Total,
			float64(p.Days)/max(p.Elapsed.Seconds(), 1e-9))
	}
}
