package reports

import (
	"context"
	"fmt"

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
	GroupByDay:    "toString(toDate(placed_at, ?))",
	GroupByOffer:  "offer_id",
	GroupByBrand:  "brand_id",
	GroupByStatus: "status",
}

// ValidGroupBy reports whether g is a grouping Earnings knows.
func ValidGroupBy(g string) bool {
	_, ok := groupKeys[g]
	return ok
}

// EarningsPoint is one group of the earnings series.
type EarningsPoint struct {
	// Key is the day (YYYY-MM-DD in the time zone), offer id, brand id or
	// status.
	Key string
	// Name is the offer's name (at the decision) or the brand's name; empty
	// for days and statuses.
	Name   string
	Orders uint64
	// Earnings per earnings currency.
	Earnings map[string]decimal.Decimal
}

// Earnings groups the orders matching f (Limit, After and Sort are
// ignored) by groupBy (a GroupBy constant) and sums their earnings per
// currency, ordered by key. tz (an IANA zone name, checked by the caller;
// "UTC" when empty) is the zone of the days.
func (r *Reports) Earnings(ctx context.Context, f OrderFilter, groupBy, tz string) ([]EarningsPoint, error) {
	key, ok := groupKeys[groupBy]
	if !ok {
		return nil, fmt.Errorf("reports: earnings: unknown grouping %q", groupBy)
	}
	if tz == "" {
		tz = "UTC"
	}
	where, wargs := r.filter(f).clause()
	var args []any
	if groupBy == GroupByDay {
		args = append(args, tz)
	}
	args = append(args, wargs...)
	q := "SELECT " + key + " AS k, any(offer_name), earnings_currency, count(), sum(earnings) FROM " +
		r.table(readmodel.TableOrders) + " FINAL" + where + " GROUP BY k, earnings_currency ORDER BY k, earnings_currency"
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
	if groupBy == GroupByBrand {
		orders := make([]Order, len(out))
		for i, p := range out {
			orders[i].BrandID = p.Key
		}
		if err := r.fillBrands(ctx, orders, nil); err != nil {
			return nil, err
		}
		for i := range out {
			out[i].Name = orders[i].Brand
		}
	}
	return out, nil
}
