package readmodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/internal/promreg"
)

// The groupings of summary_daily, as the analysts' summary names them.
const (
	GroupingBrand    = "brand"
	GroupingOffer    = "offer"
	GroupingCreator  = "creator"
	GroupingCountry  = "country"
	GroupingPlatform = "platform"
	GroupingDay      = "day"
)

// summaryKeys are the SQL expressions of the groupings' keys over
// creator_daily: the same values the analysts' summary groups orders by,
// so a day read from summary_daily and a day read from orders add up
// alike.
var summaryKeys = []struct{ grouping, expr string }{
	{GroupingBrand, "brand_id"},
	{GroupingOffer, "offer_id"},
	{GroupingCreator, "creator_id"},
	{GroupingCountry, "country"},
	{GroupingPlatform, "platform"},
	{GroupingDay, "toString(day)"},
}

// CreatorSlices split the creators (creator_id below the first, between
// two, from the last) for aggregates over orders FINAL that run in
// parallel under UNION ALL. On 18.16 one query's FINAL is a single merging
// stream aggregated by one thread (doc.go). Exact whatever the ids: every
// version of an order has the same creator_id, the sorting key's first
// column, so each slice's FINAL sees all versions of its orders. Balanced
// for the ids of credentials.NewID ("crt_" and random hex digits).
var CreatorSlices = []string{"crt_2", "crt_4", "crt_6", "crt_8", "crt_a", "crt_c", "crt_e"}

// CreatorSlice returns the PREWHERE conditions of slice i (0 through
// len(CreatorSlices)) of CreatorSlices, with their arguments.
func CreatorSlice(i int) (conds []string, args []any) {
	if i > 0 {
		conds, args = append(conds, "creator_id >= ?"), append(args, CreatorSlices[i-1])
	}
	if i < len(CreatorSlices) {
		conds, args = append(conds, "creator_id < ?"), append(args, CreatorSlices[i])
	}
	return conds, args
}

// DayState is what ClickHouse knows of one UTC day of placed time.
type DayState struct {
	// Marks sums the day's marks: the next offset, per partition, of the
	// orders rows written for the day (order_day_marks).
	Marks uint64
	// Summary and Creators are the marks' sums that the day's newest
	// summary_daily and creator_daily rows were computed after (rollup_days);
	// 0 when none were.
	Summary, Creators uint64
}

// SummaryCurrent reports whether the day's summary_daily rows hold every
// orders row of the day: they were computed after every mark written so
// far, and a mark is written after the rows it stands for. A day without
// marks is never current.
func (d DayState) SummaryCurrent() bool { return d.Marks > 0 && d.Summary == d.Marks }

// CreatorsCurrent is SummaryCurrent for creator_daily.
func (d DayState) CreatorsCurrent() bool { return d.Marks > 0 && d.Creators == d.Marks }

// The roll-ups' names in rollup_days.
const (
	rollupSummary  = TableSummaryDaily
	rollupCreators = TableCreatorDaily
)

// SummaryDays returns the state of every day that has marks or roll-up
// rows, keyed by the day's UTC midnight. Two small aggregates, no FINAL:
// marks and versions only grow.
func SummaryDays(ctx context.Context, conn driver.Conn, database string) (map[time.Time]DayState, error) {
	if err := CheckDatabase(database); err != nil {
		return nil, fmt.Errorf("summary days: %w", err)
	}
	db := QuoteIdent(database)
	out := map[time.Time]DayState{}
	rows, err := conn.Query(ctx, "SELECT '', day, sum(n) FROM (SELECT day, topic, kafka_partition, max(next_offset) AS n FROM "+
		db+"."+TableDayMarks+" GROUP BY day, topic, kafka_partition) GROUP BY day"+
		" UNION ALL SELECT rollup_table, day, max(version) FROM "+db+"."+TableRollupDays+" GROUP BY rollup_table, day")
	if err != nil {
		return nil, fmt.Errorf("summary days: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rollup string
		var day time.Time
		var n uint64
		if err := rows.Scan(&rollup, &day, &n); err != nil {
			return nil, fmt.Errorf("summary days: %w", err)
		}
		k := utcDay(day)
		st := out[k]
		switch rollup {
		case "":
			st.Marks = n
		case rollupSummary:
			st.Summary = n
		case rollupCreators:
			st.Creators = n
		}
		out[k] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summary days: %w", err)
	}
	return out, nil
}

// utcDay is the UTC midnight of the calendar day of a Date value (the
// driver returns Dates at midnight in UTC, or in the server's zone).
func utcDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DayRanges merges sorted UTC days into [from, to) ranges of consecutive
// days.
func DayRanges(days []time.Time) [][2]time.Time {
	var out [][2]time.Time
	for _, d := range days {
		if n := len(out); n > 0 && out[n-1][1].Equal(d) {
			out[n-1][1] = d.Add(24 * time.Hour)
			continue
		}
		out = append(out, [2]time.Time{d, d.Add(24 * time.Hour)})
	}
	return out
}

// RangesSQL is a condition that placed_at is in one of the [from, to)
// ranges (a zero end is unbounded), with its arguments; "0" when there are
// none. ClickHouse prunes granules with it within each creator's range of
// orders.
func RangesSQL(ranges [][2]time.Time) (string, []any) {
	if len(ranges) == 0 {
		return "0", nil
	}
	parts := make([]string, len(ranges))
	var args []any
	for i, r := range ranges {
		var conds []string
		if !r[0].IsZero() {
			conds, args = append(conds, "placed_at >= toDateTime(?, 'UTC')"), append(args, r[0].Unix())
		}
		if !r[1].IsZero() {
			conds, args = append(conds, "placed_at < toDateTime(?, 'UTC')"), append(args, r[1].Unix())
		}
		if len(conds) == 0 {
			conds = []string{"1"}
		}
		parts[i] = "(" + strings.Join(conds, " AND ") + ")"
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// DaysSQL is a condition that a Date column named day is one of days
// (sorted), as ranges of consecutive days, with its arguments.
func DaysSQL(days []time.Time) (string, []any) {
	var conds []string
	var args []any
	for _, rg := range DayRanges(days) {
		conds = append(conds, "(day >= toDate(?) AND day < toDate(?))")
		args = append(args, rg[0].Format(time.DateOnly), rg[1].Format(time.DateOnly))
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// DayMarksSQL is an expression of a row's day (a Date column named day):
// the marks' sum of that day in states when it is one of days, else 0.
// The numbers are ours (days since 1970, sums), written as literals.
func DayMarksSQL(days []time.Time, states map[time.Time]DayState) string {
	from := make([]string, len(days))
	to := make([]string, len(days))
	for i, d := range days {
		from[i] = strconv.FormatInt(d.Unix()/86400, 10)
		to[i] = strconv.FormatUint(states[d].Marks, 10)
	}
	return "transform(toUInt16(day), CAST([" + strings.Join(from, ", ") + "] AS Array(UInt16)), CAST([" +
		strings.Join(to, ", ") + "] AS Array(UInt64)), toUInt64(0))"
}

// DefaultSummaryRefresh is how often Summarizer.Run recomputes the days
// that changed.
const DefaultSummaryRefresh = 15 * time.Second

// summaryChunkDays is how many days one recomputation reads at most.
const summaryChunkDays = 16

// Summarizer keeps the roll-ups (creator_daily, summary_daily) current: it
// recomputes every day whose marks moved past its roll-ups' versions. Only
// the speed of the reports depends on it: a day that is not current is
// read from orders. Several may run at once (doc.go, "The roll-ups").
type Summarizer struct {
	conn     driver.Conn
	database string
	db       string
	log      *slog.Logger

	seconds  prometheus.Histogram
	days     prometheus.Counter
	stale    prometheus.Gauge
	failures prometheus.Counter
}

// NewSummarizer returns a Summarizer of the tables in database. reg, when
// not nil, receives its metrics.
func NewSummarizer(conn driver.Conn, database string, logger *slog.Logger, reg prometheus.Registerer) (*Summarizer, error) {
	if conn == nil {
		return nil, errors.New("summarizer: no connection")
	}
	if err := CheckDatabase(database); err != nil {
		return nil, fmt.Errorf("summarizer: %w", err)
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Summarizer{
		conn: conn, database: database, db: QuoteIdent(database), log: logger.With("component", "summarizer"),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attrib_clickhouse_summary_refresh_seconds",
			Help:    "Time of one refresh of the roll-ups (creator_daily, summary_daily): reading the days' state and recomputing the days that changed.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		days: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attrib_clickhouse_summary_days_recomputed_total",
			Help: "UTC days whose roll-ups were recomputed from orders.",
		}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "attrib_clickhouse_summary_stale_days",
			Help: "Days whose orders changed since their roll-ups, at the start of the last refresh; the reports read them from orders.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attrib_clickhouse_summary_refresh_errors_total",
			Help: "Failed refreshes of the roll-ups; the next one retries.",
		}),
	}
	if reg != nil {
		s.seconds = promreg.Register(reg, s.seconds)
		s.days = promreg.Register(reg, s.days)
		s.stale = promreg.Register(reg, s.stale)
		s.failures = promreg.Register(reg, s.failures)
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

// creatorDims are creator_daily's key columns after creator_id and day,
// the same names as in orders.
const creatorDims = "brand_id, offer_id, offer_name, promo_code, platform, country, currency, earnings_currency"

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
			" GROUP BY creator_id, day, "+creatorDims)
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
// ends, logging failures; the next refresh retries them.
func (s *Summarizer) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = DefaultSummaryRefresh
	}
	t := time.NewTicker(every)
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
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
