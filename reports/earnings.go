package reports

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
)

// Groupings of the earnings series.
const (
	GroupByDay    = "day"
	GroupByOffer  = "offer"
	GroupByBrand  = "brand"
	GroupByStatus = "status"
)

// groupKeys are the SQL expressions of the groupings: fixed text, never
// caller input. Day takes the time zone as its one bound argument.
var groupKeys = map[string]string{
	GroupByDay:     "toString(toDate(placed_at, ?))",
	GroupByOffer:   "offer_id",
	GroupByBrand:   "brand_id",
	GroupByStatus:  "status",
	GroupByCreator: "creator_id",
}

// ValidGroupBy reports whether g is a grouping Earnings knows.
func ValidGroupBy(g string) bool {
	_, ok := groupKeys[g]
	return ok
}

// EarningsPoint is one group of the earnings series.
type EarningsPoint struct {
	// Key is the day (YYYY-MM-DD in the time zone), offer id, brand id,
	// status or creator id.
	Key string
	// Name is the offer's name (at the decision), the brand's or the
	// creator's name; empty for days and statuses.
	Name   string
	Orders uint64
	// Earnings per earnings currency.
	Earnings map[string]decimal.Decimal
}

// rollupKeys are the creator_daily expressions of the groupings it can
// serve: every one but status (a column per status there), and days only
// in UTC (its days are UTC days).
var rollupKeys = map[string]string{
	GroupByDay:     "toString(day)",
	GroupByOffer:   "offer_id",
	GroupByBrand:   "brand_id",
	GroupByCreator: "creator_id",
}

// Earnings groups the orders matching f (Limit, After and Sort are
// ignored) by groupBy (a GroupBy constant) and sums their earnings per
// currency, ordered by key. tz (an IANA zone name, checked by the caller;
// "UTC" when empty) is the zone of the days.
//
// Over all creators (a brand's earnings, or an analyst's without a
// creator), the whole UTC days whose creator_daily rows are current are
// summed from there, as Totals does, and the rest from the orders table
// (orders_by_brand for a brand), in one query: a busy brand's day is a few
// rows instead of its orders. Not for a status grouping, days in another
// zone than UTC, an order id or one creator's earnings: those read the
// orders alone.
func (r *Reports) Earnings(ctx context.Context, f OrderFilter, groupBy, tz string) ([]EarningsPoint, error) {
	key, ok := groupKeys[groupBy]
	if !ok {
		return nil, fmt.Errorf("reports: earnings: unknown grouping %q", groupBy)
	}
	if tz == "" {
		tz = "UTC"
	}
	g := f // the filter without its range, which the parts cut
	g.From, g.To = time.Time{}, time.Time{}
	rest := [][2]time.Time{{f.From, f.To}}
	var parts []string
	var args []any
	if rk, ok := rollupKeys[groupBy]; ok && f.CreatorID == "" && f.OrderID == "" && (groupBy != GroupByDay || tz == "UTC") {
		states, err := readmodel.SummaryDays(ctx, r.conn, r.database)
		if err != nil {
			return nil, fmt.Errorf("reports: earnings: %w", err)
		}
		var rolled []time.Time
		rolled, rest = splitRange(f.From, f.To, states, readmodel.DayState.CreatorsCurrent)
		if from, n, earned, a, ok := r.rollup(g, rolled, states, true); ok {
			parts = append(parts, "SELECT "+rk+" AS k, any(offer_name) AS nm, earnings_currency AS cur, sum("+n+") AS n, sum("+
				earned+") AS e"+from+" GROUP BY k, cur")
			args = append(args, a...)
		} else {
			rest = [][2]time.Time{{f.From, f.To}}
		}
	}
	if len(rest) > 0 {
		fs := r.filter(g)
		cond, cargs := readmodel.RangesSQL(rest)
		fs.immutable(cond, cargs...)
		where, wargs := fs.clause()
		if groupBy == GroupByDay {
			args = append(args, tz)
		}
		parts = append(parts, "SELECT "+key+" AS k, any(offer_name) AS nm, earnings_currency AS cur, count() AS n, sum(earnings) AS e FROM "+
			r.table(ordersTable(f))+" FINAL"+where+" GROUP BY k, cur")
		args = append(args, wargs...)
	}
	if len(parts) == 0 { // an empty range
		return []EarningsPoint{}, nil
	}
	// A key of creator_daily may have none of its orders in the status
	// asked for: a group counts only with orders.
	q := "SELECT k, any(nm), cur, sum(n), sum(e) FROM (" + strings.Join(parts, " UNION ALL ") +
		") GROUP BY k, cur HAVING sum(n) > 0 ORDER BY k, cur"
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reports: earnings: %w", err)
	}
	defer rows.Close()
	out := []EarningsPoint{}
	for rows.Next() {
		var k, name, cur string
		var n uint64
		var sum decimal.Decimal
		if err := rows.Scan(&k, &name, &cur, &n, &sum); err != nil {
			return nil, fmt.Errorf("reports: earnings: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Key != k {
			p := EarningsPoint{Key: k, Earnings: map[string]decimal.Decimal{}}
			if groupBy == GroupByOffer {
				p.Name = name
			}
			out = append(out, p)
		}
		p := &out[len(out)-1]
		p.Orders += n
		if cur != "" {
			p.Earnings[cur] = sum
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reports: earnings: %w", err)
	}
	if groupBy == GroupByBrand || groupBy == GroupByCreator {
		orders := make([]Order, len(out))
		for i, p := range out {
			if groupBy == GroupByBrand {
				orders[i].BrandID = p.Key
			} else {
				orders[i].CreatorID = p.Key
			}
		}
		if err := r.fillBrands(ctx, orders, nil); err != nil {
			return nil, err
		}
		for i := range out {
			if out[i].Name = orders[i].Brand; groupBy == GroupByCreator {
				out[i].Name = orders[i].Creator
			}
		}
	}
	return out, nil
}
