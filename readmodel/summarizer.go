package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// DefaultSummaryRefresh is how often Summarizer.Run recomputes the days
// that changed.
const DefaultSummaryRefresh = 15 * time.Second

// summaryChunkDays is how many days one recomputation reads at most.
const summaryChunkDays = 16

// summaryRestRatio: after a refresh that took d, Run waits at least
// summaryRestRatio times d before the next one, so that recomputing a day
// that keeps changing (today, under load: each refresh reads all its
// orders again) takes at most about a fifth of the time, however many
// orders the day holds.
const summaryRestRatio = 4

// Summarizer keeps the roll-ups (creator_daily, summary_daily) current: it
// recomputes every day whose marks moved past its roll-ups' versions. Only
// the speed of the reports depends on it: a day that is not current is
// read from orders. Several may run at once (package doc, "The roll-ups").
type Summarizer struct {
	conn     driver.Conn
	database string
	db       string
	log      *slog.Logger
	opts     []Option
	cluster  string // OnCluster's name, "" on a single server

	seconds  prometheus.Histogram
	days     prometheus.Counter
	stale    prometheus.Gauge
	failures prometheus.Counter
}

// NewSummarizer returns a Summarizer of the tables in database. reg, when
// not nil, receives its metrics. OnCluster makes each refresh wait until
// its replica holds every orders row of the marks it read (SyncReplica),
// and write the roll-ups' rows with a quorum of every replica before their
// versions: a replica that shows a day's version in rollup_days holds that
// day's rows, so every replica serves a day from a roll-up only when the
// roll-up is whole there. While a replica is down the roll-ups stand
// still and the reports read the days since from orders.
func NewSummarizer(conn driver.Conn, database string, logger *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Summarizer, error) {
	if conn == nil {
		return nil, errors.New("summarizer: no connection")
	}
	if err := CheckDatabase(database); err != nil {
		return nil, fmt.Errorf("summarizer: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	o := newOptions(opts)
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("summarizer: %w", err)
	}
	f := promreg.With(reg)
	s := &Summarizer{
		conn: conn, database: database, db: QuoteIdent(database), log: logger.With("component", "summarizer"),
		opts: opts, cluster: o.cluster,
		seconds: f.Histogram(prometheus.HistogramOpts{
			Name:    "attrib_clickhouse_summary_refresh_seconds",
			Help:    "Time of one refresh of the roll-ups (creator_daily, summary_daily): reading the days' state and recomputing the days that changed.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		days: f.Counter(prometheus.CounterOpts{
			Name: "attrib_clickhouse_summary_days_recomputed_total",
			Help: "UTC days whose roll-ups were recomputed from orders.",
		}),
		stale: f.Gauge(prometheus.GaugeOpts{
			Name: "attrib_clickhouse_summary_stale_days",
			Help: "Days whose orders changed since their roll-ups, at the start of the last refresh; the reports read them from orders.",
		}),
		failures: f.Counter(prometheus.CounterOpts{
			Name: "attrib_clickhouse_summary_refresh_errors_total",
			Help: "Failed refreshes of the roll-ups; the next one retries.",
		}),
	}
	return s, nil
}

// RefreshProgress is how far a refresh is.
type RefreshProgress struct {
	Days, Total int
	Elapsed     time.Duration
}

// Refresh recomputes every day whose roll-ups are not current, oldest
// first, in chunks of consecutive days, and returns how many it
// recomputed. progress, if not nil, is called after each chunk.
//
// It reads the days' marks before the orders, so the rows it writes hold
// at least every orders row of those marks, and versions each day's rows
// with the marks' sum it read. Per chunk: creator_daily from orders FINAL,
// then summary_daily from creator_daily FINAL, each one INSERT ... SELECT
// (one block: atomic on a table without partitions) followed by its
// versions in rollup_days.
func (s *Summarizer) Refresh(ctx context.Context, progress func(RefreshProgress)) (int, error) {
	start := time.Now()
	defer func() { s.seconds.Observe(time.Since(start).Seconds()) }()
	states, err := SummaryDays(ctx, s.conn, s.database)
	if err != nil {
		s.failures.Inc()
		return 0, err
	}
	var stale []time.Time
	for d, st := range states {
		if st.Marks > 0 && (!st.SummaryCurrent() || !st.CreatorsCurrent()) {
			stale = append(stale, d)
		}
	}
	s.stale.Set(float64(len(stale)))
	sort.Slice(stale, func(i, j int) bool { return stale[i].Before(stale[j]) })
	if len(stale) > 0 && s.cluster != "" {
		if ctx, err = s.clusterWrites(ctx); err != nil {
			s.failures.Inc()
			return 0, fmt.Errorf("summarizer: %w", err)
		}
	}
	done := 0
	for len(stale) > 0 {
		n := min(summaryChunkDays, len(stale))
		chunk := stale[:n]
		if err := s.recompute(ctx, chunk, states); err != nil {
			s.failures.Inc()
			return done, fmt.Errorf("summarizer: recompute %s..%s: %w",
				chunk[0].Format(time.DateOnly), chunk[n-1].Format(time.DateOnly), err)
		}
		stale = stale[n:]
		done += n
		s.days.Add(float64(n))
		if progress != nil {
			progress(RefreshProgress{Days: done, Total: done + len(stale), Elapsed: time.Since(start)})
		}
	}
	return done, nil
}

// clusterWrites waits until the connected replica has every orders row
// logged so far (so every row of the marks just read), and returns ctx
// with the quorum of every replica of the shard for the roll-ups' inserts.
func (s *Summarizer) clusterWrites(ctx context.Context) (context.Context, error) {
	if err := SyncReplica(ctx, s.conn, s.database, TableOrders, s.opts...); err != nil {
		return ctx, err
	}
	n, err := ReplicaCount(ctx, s.conn, s.cluster)
	if err != nil {
		return ctx, err
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"insert_quorum": n,
		// Milliseconds: a replica lost during the insert fails it within
		// this, not the default 10 minutes; the next refresh retries.
		"insert_quorum_timeout": 60000,
	})), nil
}

// recompute rolls days up: creator_daily from orders FINAL (the creators
// in slices aggregated in parallel), then summary_daily from creator_daily
// FINAL, each day's rows versioned with its marks' sum in states.
func (s *Summarizer) recompute(ctx context.Context, days []time.Time, states map[time.Time]DayState) error {
	cond, rargs := RangesSQL(DayRanges(days))
	version := DayMarksSQL(days, states)
	var parts []string
	var args []any
	for i := 0; i <= len(CreatorSlices); i++ {
		conds, a := CreatorSlice(i)
		parts = append(parts, "SELECT creator_id, toDate(placed_at, 'UTC') AS day, "+creatorDims+
			", count(), countIf(status = 'pending'), countIf(status = 'approved'), countIf(status = 'rejected'), sum(amount), sum(earnings),"+
			" sumIf(earnings, status = 'pending'), sumIf(earnings, status = 'approved'), sumIf(earnings, status = 'rejected') FROM "+s.db+"."+TableOrders+
			" FINAL PREWHERE "+strings.Join(append([]string{cond}, conds...), " AND ")+
			" GROUP BY "+CreatorDailyKey)
		args = append(append(args, rargs...), a...)
	}
	if err := s.conn.Exec(ctx, "INSERT INTO "+s.db+"."+TableCreatorDaily+" (creator_id, day, "+creatorDims+
		", orders, pending, approved, rejected, gmv, earnings, earnings_pending, earnings_approved, earnings_rejected, version) SELECT *, "+
		version+" FROM ("+strings.Join(parts, " UNION ALL ")+")", args...); err != nil {
		return fmt.Errorf("%s: %w", TableCreatorDaily, err)
	}
	if err := s.noteVersions(ctx, rollupCreators, days, states); err != nil {
		return err
	}

	pairs := make([]string, len(summaryKeys))
	for i, k := range summaryKeys {
		pairs[i] = "('" + k.grouping + "', " + k.expr + ")"
	}
	dayConds, dargs := DaysSQL(days)
	if err := s.conn.Exec(ctx, "INSERT INTO "+s.db+"."+TableSummaryDaily+
		" (grouping, day, key, currency, earnings_currency, name, orders, gmv, earnings, approved, rejected, version)"+
		" SELECT gk.1 AS grouping, day, gk.2 AS key, currency, earnings_currency, any(if(gk.1 = '"+GroupingOffer+"', offer_name, '')),"+
		" sum(orders), sum(gmv), sum(earnings), sum(approved), sum(rejected), "+version+
		" FROM "+s.db+"."+TableCreatorDaily+" FINAL ARRAY JOIN ["+strings.Join(pairs, ", ")+"] AS gk"+
		" PREWHERE "+dayConds+" WHERE version >= "+version+
		" GROUP BY grouping, day, key, currency, earnings_currency", dargs...); err != nil {
		return fmt.Errorf("%s: %w", TableSummaryDaily, err)
	}
	return s.noteVersions(ctx, rollupSummary, days, states)
}

// noteVersions records in rollup_days that rollup holds days at their
// marks' sums in states.
func (s *Summarizer) noteVersions(ctx context.Context, rollup string, days []time.Time, states map[time.Time]DayState) error {
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+"."+TableRollupDays+" (rollup_table, day, version)")
	if err != nil {
		return fmt.Errorf("%s: %w", TableRollupDays, err)
	}
	defer func() { _ = b.Close() }()
	for _, d := range days {
		if err := b.Append(rollup, d, states[d].Marks); err != nil {
			return fmt.Errorf("%s: %w", TableRollupDays, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("%s: %w", TableRollupDays, err)
	}
	return nil
}

// BackfillTopic is the topic of the marks Backfill writes.
const BackfillTopic = "backfill"

// Backfill marks the days that have orders rows but no mark at all (orders
// written before the marks existed, or by other means), so that the
// summarizer rolls them up. It reads the days from orders before it writes
// their marks, so each mark is written after the rows it stands for, as
// the projector's are; rows written later have marks of their own. It
// returns how many days it marked.
func (s *Summarizer) Backfill(ctx context.Context) (int, error) {
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT toDate(placed_at, 'UTC') AS day FROM "+s.db+"."+TableOrders+
		" WHERE day NOT IN (SELECT day FROM "+s.db+"."+TableDayMarks+")")
	if err != nil {
		return 0, fmt.Errorf("summarizer: backfill: %w", err)
	}
	var days []time.Time
	for rows.Next() {
		var d time.Time
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return 0, fmt.Errorf("summarizer: backfill: %w", err)
		}
		days = append(days, utcDay(d))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("summarizer: backfill: %w", err)
	}
	if len(days) == 0 {
		return 0, nil
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+"."+TableDayMarks+" (day, topic, kafka_partition, next_offset)")
	if err != nil {
		return 0, fmt.Errorf("summarizer: backfill: %w", err)
	}
	defer func() { _ = b.Close() }()
	for _, d := range days {
		if err := b.Append(d, BackfillTopic, uint32(0), uint64(1)); err != nil {
			return 0, fmt.Errorf("summarizer: backfill: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return 0, fmt.Errorf("summarizer: backfill: %w", err)
	}
	return len(days), nil
}

// Run refreshes every interval (DefaultSummaryRefresh when 0) until ctx
// ends, logging failures; the next refresh retries them. A refresh that
// took longer than a fifth of the interval is followed by a longer rest
// (summaryRestRatio).
func (s *Summarizer) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = DefaultSummaryRefresh
	}
	t := time.NewTimer(every)
	defer t.Stop()
	backfilled := false
	for {
		if !backfilled {
			n, err := s.Backfill(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				s.log.Warn("marking the days without marks failed; retrying at the next refresh", "err", err)
			default:
				backfilled = true
				if n > 0 {
					s.log.Info("marked days that had orders but no marks, to roll them up", "days", n)
				}
			}
		}
		start := time.Now()
		var logged time.Time
		// A long refresh (the first after an upgrade or a restore) shows
		// its progress.
		progress := func(p RefreshProgress) {
			if p.Total > summaryChunkDays && time.Since(logged) >= 10*time.Second {
				logged = time.Now()
				s.log.Info("rolling up days", "done", p.Days, "of", p.Total, "elapsed", p.Elapsed.Round(time.Second))
			}
		}
		n, err := s.Refresh(ctx, progress)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("summary refresh failed; retrying at the next one", "err", err)
		case n > summaryChunkDays:
			s.log.Info("days rolled up", "days", n, "took", time.Since(start).Round(time.Millisecond))
		case n > 0:
			s.log.Debug("days rolled up", "days", n, "took", time.Since(start))
		}
		t.Reset(restAfter(every, time.Since(start)))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// restAfter is the wait after a refresh that took took, when refreshes
// start every interval: what is left of the interval, and at least
// summaryRestRatio times took.
func restAfter(every, took time.Duration) time.Duration {
	return max(every-took, summaryRestRatio*took)
}
