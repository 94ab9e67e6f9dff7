package readmodel

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
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
// stream aggregated by one thread. Exact whatever the ids: every
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
	rows, err := conn.Query(ctx, markSums(db, "'', day, sum(n)")+
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

// DayMarkSumsSQL is a query of database's days that have marks, with
// their marks' sums (columns day, sum(n)): the versions at which the
// days' roll-up rows are current, as SummaryDays reads them.
func DayMarkSumsSQL(database string) string { return markSums(QuoteIdent(database), "day, sum(n)") }

// markSums selects cols from the marks of the quoted database db, with n
// the next offset of each partition of a day, grouped by day.
func markSums(db, cols string) string {
	return "SELECT " + cols + " FROM (SELECT day, topic, kafka_partition, max(next_offset) AS n FROM " +
		db + "." + TableDayMarks + " GROUP BY day, topic, kafka_partition) GROUP BY day"
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

// creatorDims are creator_daily's key columns after creator_id and day,
// the same names as in orders.
const creatorDims = "brand_id, offer_id, offer_name, promo_code, platform, country, currency, earnings_currency"

// CreatorDailyKey is the sorting key of creator_daily: the table keeps one
// row per value of it, the latest version, and a recomputation of a day
// writes every value the day had.
const CreatorDailyKey = "creator_id, day, " + creatorDims
