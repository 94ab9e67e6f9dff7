package reports

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
)

// Groupings of the analysts' summary besides GroupByDay, GroupByOffer and
// GroupByBrand.
const (
	GroupByCreator  = "creator"
	GroupByCountry  = "country"
	GroupByPlatform = "platform"
)

// summaryKeys are the SQL expressions of the summary's groupings over
// orders: fixed text, never caller input. Days are UTC days.
var summaryKeys = map[string]string{
	GroupByBrand:    "brand_id",
	GroupByOffer:    "offer_id",
	GroupByCreator:  "creator_id",
	GroupByCountry:  "country",
	GroupByPlatform: "platform",
	GroupByDay:      "toString(toDate(placed_at, 'UTC'))",
}

// unattributedKeys are the groupings that unattributed orders can be
// placed in (they have a brand, a country and a placed time, but no offer,
// creator or platform), with their SQL over unattributed_orders.
var unattributedKeys = map[string]string{
	GroupByBrand:   "brand_id",
	GroupByCountry: "country",
	GroupByDay:     "toString(toDate(placed_at, 'UTC'))",
}

// ValidSummaryGroupBy reports whether g is a grouping Summary knows.
func ValidSummaryGroupBy(g string) bool {
	_, ok := summaryKeys[g]
	return ok
}

// SummaryFilter selects the orders of a summary.
type SummaryFilter struct {
	// From (inclusive) and To (exclusive) bound the placed time; zero means
	// unbounded.
	From, To time.Time
	// GroupBy is brand, offer, creator, country, platform or day (UTC).
	GroupBy string
}

// SummaryGroup is one group of a summary (or the totals).
type SummaryGroup struct {
	// Key is the brand, offer or creator id, the country, the platform or
	// the UTC day (YYYY-MM-DD); empty for the totals.
	Key string
	// Name is the brand's or creator's name, or the offer's name at its
	// orders' decision; empty for the other groupings and unknown names.
	Name string
	// Orders counts the attributed orders (rows of orders).
	Orders uint64
	// GMV sums the orders' amounts per order currency.
	GMV map[string]decimal.Decimal
	// Earnings sums the creators' earnings per earnings currency.
	Earnings map[string]decimal.Decimal
	// Approved and Rejected count the decided orders; the rest are pending.
	Approved, Rejected uint64
	// Unattributed counts the unattributed orders of the group; meaningful
	// only when Summary.AttributionKnown.
	Unattributed uint64
}

// ApprovalRate is Approved / (Approved + Rejected), zero when none is
// decided.
func (g SummaryGroup) ApprovalRate() decimal.Decimal {
	return ratio(g.Approved, g.Approved+g.Rejected)
}

// AttributionRate is Orders / (Orders + Unattributed), zero when both are
// zero.
func (g SummaryGroup) AttributionRate() decimal.Decimal {
	return ratio(g.Orders, g.Orders+g.Unattributed)
}

func ratio(n, d uint64) decimal.Decimal {
	if d == 0 {
		return decimal.Zero
	}
	return decimal.NewFromUint64(n).DivRound(decimal.NewFromUint64(d), 4)
}

// Summary is the analysts' summary of orders.
type Summary struct {
	// Groups, ordered by key. A group with only unattributed orders has
	// Orders 0.
	Groups []SummaryGroup
	// Totals sums every group (Key and Name empty).
	Totals SummaryGroup
	// AttributionKnown is whether the groups' Unattributed counts are
	// known: true for brand, country and day. The totals' always are.
	AttributionKnown bool
}

func newSummaryGroup(key string) SummaryGroup {
	return SummaryGroup{Key: key, GMV: map[string]decimal.Decimal{}, Earnings: map[string]decimal.Decimal{}}
}

func addMoney(m map[string]decimal.Decimal, cur string, d decimal.Decimal) {
	if cur == "" {
		return
	}
	m[cur] = m[cur].Add(d)
}

// rangeWhere is the PREWHERE clause of a placed-time range (empty when
// unbounded). placed_at is in the sorting key of orders and
// unattributed_orders, the same in every version of an order, so PREWHERE
// is exact with FINAL (see filterSQL) and spares FINAL the rows outside.
func rangeWhere(from, to time.Time) (string, []any) {
	q := &filterSQL{}
	if !from.IsZero() {
		q.immutable("placed_at >= toDateTime(?, 'UTC')", from.Unix())
	}
	if !to.IsZero() {
		q.immutable("placed_at < toDateTime(?, 'UTC')", to.Unix())
	}
	return q.clause()
}

// Summary groups the orders placed in f's range by f.GroupBy and counts
// them, sums their amounts and earnings per currency and counts their
// decisions; the unattributed orders come from one count over
// unattributed_orders FINAL (grouped when the grouping applies to them),
// run at the same time.
//
// Whole UTC days whose summary_daily rows are current (readmodel.SummaryDays:
// computed after every orders row of the day) are read from there; the
// rest of the range (the partial days at its ends, today, days changed
// since the summarizer's last pass, or every day when it never ran) from
// orders FINAL, an aggregate per slice of creators (readmodel.CreatorSlices)
// in parallel. Both under one UNION ALL, summed by the outer query. The
// two give the same sums for a day (TestSummary reads every grouping both
// ways).
func (r *Reports) Summary(ctx context.Context, f SummaryFilter) (Summary, error) {
	key, ok := summaryKeys[f.GroupBy]
	if !ok {
		return Summary{}, fmt.Errorf("reports: summary: unknown grouping %q", f.GroupBy)
	}
	where, args := rangeWhere(f.From, f.To)
	states, err := readmodel.SummaryDays(ctx, r.conn, r.database)
	if err != nil {
		return Summary{}, fmt.Errorf("reports: summary: %w", err)
	}
	rolledDays, rest := splitRange(f.From, f.To, states, readmodel.DayState.SummaryCurrent)
	if len(rolledDays) == 0 && len(rest) == 0 { // an empty range: orders finds nothing in it
		rest = [][2]time.Time{{f.From, f.To}}
	}
	// Every column read costs in the FINAL merge: offer_name only when it
	// is the groups' name.
	name := "''"
	if f.GroupBy == GroupByOffer {
		name = "any(offer_name)"
	}
	var parts []string
	var qargs []any
	if len(rest) > 0 {
		cond, cargs := readmodel.RangesSQL(rest)
		for i := 0; i <= len(readmodel.CreatorSlices); i++ {
			conds, a := readmodel.CreatorSlice(i)
			parts = append(parts, "SELECT "+key+" AS k, "+name+" AS name, currency, earnings_currency, count() AS n, sum(amount) AS gmv, "+
				"sum(earnings) AS earned, countIf(status = 'approved') AS approved, countIf(status = 'rejected') AS rejected FROM "+
				r.table(readmodel.TableOrders)+" FINAL PREWHERE "+strings.Join(append([]string{cond}, conds...), " AND ")+
				" GROUP BY k, currency, earnings_currency")
			qargs = append(append(qargs, cargs...), a...)
		}
	}
	// The rolled-up days in rollupSlices slices of consecutive days, one
	// FINAL each, in parallel (a single FINAL is one stream on 18.16): day
	// is in summary_daily's key, so a slice's FINAL sees every version of
	// its rows.
	for i, n := 0, len(rolledDays); i < rollupSlices && n > 0; i++ {
		sl := rolledDays[i*n/rollupSlices : (i+1)*n/rollupSlices]
		if len(sl) == 0 {
			continue
		}
		days, dargs := readmodel.DaysSQL(sl)
		qargs = append(append(qargs, f.GroupBy), dargs...)
		parts = append(parts, "SELECT key AS k, any(name) AS name, currency, earnings_currency, sum(orders) AS n, sum(gmv) AS gmv, "+
			"sum(earnings) AS earned, sum(approved) AS approved, sum(rejected) AS rejected FROM "+r.table(readmodel.TableSummaryDaily)+
			" FINAL PREWHERE grouping = ? AND "+days+" WHERE version >= "+readmodel.DayMarksSQL(sl, states)+
			" GROUP BY k, currency, earnings_currency")
	}
	q := "SELECT k, any(name), currency, earnings_currency, sum(n), sum(gmv), sum(earned), sum(approved), sum(rejected) FROM (" +
		strings.Join(parts, " UNION ALL ") + ") GROUP BY k, currency, earnings_currency"
	// The unattributed orders are counted meanwhile, on another connection.
	ukey, grouped := unattributedKeys[f.GroupBy]
	if !grouped {
		ukey = "''"
	}
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unattributed := make(chan unattributedCounts, 1)
	go func() {
		unattributed <- r.countUnattributed(uctx, "SELECT "+ukey+" AS k, count() FROM "+r.table(readmodel.TableUnattributed)+
			" FINAL"+where+" GROUP BY k", args)
	}()
	rows, err := r.conn.Query(ctx, q, qargs...)
	if err != nil {
		return Summary{}, fmt.Errorf("reports: summary: %w", err)
	}
	defer rows.Close()
	groups := map[string]*SummaryGroup{}
	get := func(k string) *SummaryGroup {
		g, ok := groups[k]
		if !ok {
			ng := newSummaryGroup(k)
			g = &ng
			groups[k] = g
		}
		return g
	}
	for rows.Next() {
		var k, name, cur, ecur string
		var n, approved, rejected uint64
		var gmv, earnings decimal.Decimal
		if err := rows.Scan(&k, &name, &cur, &ecur, &n, &gmv, &earnings, &approved, &rejected); err != nil {
			return Summary{}, fmt.Errorf("reports: summary: %w", err)
		}
		g := get(k)
		if f.GroupBy == GroupByOffer && g.Name == "" {
			g.Name = name
		}
		g.Orders += n
		g.Approved += approved
		g.Rejected += rejected
		addMoney(g.GMV, cur, gmv)
		addMoney(g.Earnings, ecur, earnings)
	}
	if err := rows.Err(); err != nil {
		return Summary{}, fmt.Errorf("reports: summary: %w", err)
	}
	rows.Close()

	out := Summary{Totals: newSummaryGroup("")}
	u := <-unattributed
	if u.err != nil {
		return Summary{}, u.err
	}
	out.AttributionKnown = grouped
	for k, n := range u.counts {
		out.Totals.Unattributed += n
		if grouped {
			get(k).Unattributed += n
		}
	}

	out.Groups = make([]SummaryGroup, 0, len(groups))
	for _, g := range groups {
		out.Groups = append(out.Groups, *g)
		t := &out.Totals
		t.Orders += g.Orders
		t.Approved += g.Approved
		t.Rejected += g.Rejected
		for c, d := range g.GMV {
			addMoney(t.GMV, c, d)
		}
		for c, d := range g.Earnings {
			addMoney(t.Earnings, c, d)
		}
	}
	sort.Slice(out.Groups, func(i, j int) bool { return out.Groups[i].Key < out.Groups[j].Key })

	switch f.GroupBy {
	case GroupByBrand:
		orders := make([]Order, len(out.Groups))
		for i, g := range out.Groups {
			orders[i].BrandID = g.Key
		}
		if err := r.fillBrands(ctx, orders, nil); err != nil {
			return Summary{}, err
		}
		for i := range out.Groups {
			out.Groups[i].Name = orders[i].Brand
		}
	case GroupByCreator:
		if err := r.fillCreatorNames(ctx, out.Groups); err != nil {
			return Summary{}, err
		}
	}
	return out, nil
}

// unattributedCounts are the unattributed orders per group key.
type unattributedCounts struct {
	counts map[string]uint64
	err    error
}

func (r *Reports) countUnattributed(ctx context.Context, q string, args []any) unattributedCounts {
	out := unattributedCounts{counts: map[string]uint64{}}
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		out.err = fmt.Errorf("reports: summary: unattributed: %w", err)
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n uint64
		if err := rows.Scan(&k, &n); err != nil {
			out.err = fmt.Errorf("reports: summary: unattributed: %w", err)
			return out
		}
		out.counts[k] += n
	}
	if err := rows.Err(); err != nil {
		out.err = fmt.Errorf("reports: summary: unattributed: %w", err)
	}
	return out
}

// fillCreatorNames sets the names of groups keyed by creator id.
func (r *Reports) fillCreatorNames(ctx context.Context, groups []SummaryGroup) error {
	if len(groups) == 0 {
		return nil
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.Key
	}
	rows, err := r.conn.Query(ctx, "SELECT creator_id, name FROM "+r.table(readmodel.TableCreators)+
		" FINAL WHERE has(?, creator_id)", ids)
	if err != nil {
		return fmt.Errorf("reports: creator names: %w", err)
	}
	defer rows.Close()
	names := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return fmt.Errorf("reports: creator names: %w", err)
		}
		names[id] = name
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reports: creator names: %w", err)
	}
	for i := range groups {
		groups[i].Name = names[groups[i].Key]
	}
	return nil
}

// rollupSlices is how many parallel reads of summary_daily a summary makes.
const rollupSlices = 4

// splitRange splits [from, to) (zero: unbounded) into the whole UTC days
// whose roll-up is current, sorted, and the rest, as sorted
// [from, to) ranges of placed time; a zero end of a range of the rest is
// unbounded.
func splitRange(from, to time.Time, states map[time.Time]readmodel.DayState, current func(readmodel.DayState) bool) (rolled []time.Time, rest [][2]time.Time) {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, nil
	}
	for d, st := range states {
		if current(st) && (from.IsZero() || !d.Before(from)) && (to.IsZero() || !d.Add(24*time.Hour).After(to)) {
			rolled = append(rolled, d)
		}
	}
	sort.Slice(rolled, func(i, j int) bool { return rolled[i].Before(rolled[j]) })
	at := from
	for _, rg := range readmodel.DayRanges(rolled) {
		if at.IsZero() || rg[0].After(at) {
			rest = append(rest, [2]time.Time{at, rg[0]})
		}
		at = rg[1]
	}
	if to.IsZero() || to.After(at) {
		rest = append(rest, [2]time.Time{at, to})
	}
	return rolled, rest
}
