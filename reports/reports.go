// Package reports reads the creators' and analysts' reports from the
// ClickHouse read model (package readmodel): the order list with its filters,
// keyset paging and totals, the same list streamed whole (CSV), and the
// unattributed orders.
//
// Every query reads orders (and unattributed_orders) with FINAL and keeps
// every filter on a column that changes in WHERE, never PREWHERE (see
// readmodel's doc, "Reading"). Filter values reach ClickHouse only through
// client-side ? binding: no filter text is ever spliced into SQL; only the
// database name is, and New checks it.
package reports

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
)

// Sort orders of the order list, by placed time.
const (
	SortDateDesc = "date_desc"
	SortDateAsc  = "date_asc"
)

// Order statuses a report can filter by.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// MaxLimit is the largest page of Orders and Unattributed.
const MaxLimit = 500

// DefaultLimit is the page size when a filter leaves Limit at 0.
const DefaultLimit = 50

// ErrBadCursor is returned by DecodeCursor for a cursor this package did
// not make (or one made for the other sort order).
var ErrBadCursor = errors.New("invalid cursor")

// OrderFilter selects orders. Empty fields do not filter.
type OrderFilter struct {
	// CreatorID restricts to one creator's orders (always set for a
	// creator's own report; optional for analysts and brands).
	CreatorID string
	// BrandID restricts to one brand's orders, exactly (always set for a
	// brand's own report). Without CreatorID, the orders are read from
	// orders_by_brand, where a brand's orders are one range.
	BrandID string
	// Offer matches the offer id exactly, or any part of the offer's name
	// (at the decision or current), in any case.
	Offer string
	// Status is pending, approved or rejected.
	Status  string
	Country string
	OrderID string
	// PromoCode is compared with the stored (normalised) code: pass it
	// through promocode.Normalize.
	PromoCode string
	// Brand matches the brand id exactly, or any part of its name, in any
	// case.
	Brand string
	// From (inclusive) and To (exclusive) bound the placed time; zero means
	// unbounded.
	From, To time.Time
	// Sort is SortDateDesc (the default when empty) or SortDateAsc.
	Sort string
	// Limit is the page size of Orders: 1..MaxLimit, DefaultLimit when 0.
	Limit int
	// After continues a listing after the cursor's row (Orders only).
	After *Cursor
}

// Order is one row of the order report.
type Order struct {
	OrderID   string
	BrandID   string
	Brand     string
	CreatorID string
	// Creator is the creator's name (never more of the creator).
	Creator          string
	OfferID          string
	Offer            string
	PromoCode        string
	Status           string
	Amount           decimal.Decimal
	Currency         string
	Country          string
	Earnings         decimal.Decimal
	EarningsCurrency string
	PlacedAt         time.Time
	UpdatedAt        time.Time
}

// Page is one page of orders; Next is nil on the last page.
type Page struct {
	Orders []Order
	Next   *Cursor
}

// Totals sums the orders matching a filter (all of them, not a page).
type Totals struct {
	Orders uint64
	// Earnings per earnings currency.
	Earnings map[string]decimal.Decimal
}

// Cursor is the position of a row in a listing sorted by (placed_at,
// brand_id, order_id): a listing continues strictly after it.
type Cursor struct {
	PlacedAt time.Time
	BrandID  string
	OrderID  string
	// Sort is the sort order the cursor was made for.
	Sort string
}

type cursorJSON struct {
	T int64  `json:"t"`
	B string `json:"b"`
	O string `json:"o"`
	S string `json:"s"`
}

// Encode returns the cursor as an opaque URL-safe string.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(cursorJSON{T: c.PlacedAt.Unix(), B: c.BrandID, O: c.OrderID, S: c.Sort})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by Encode for the sort order sort; any
// other string is ErrBadCursor.
func DecodeCursor(s, sort string) (Cursor, error) {
	if sort == "" {
		sort = SortDateDesc
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, ErrBadCursor
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c cursorJSON
	if err := dec.Decode(&c); err != nil || dec.More() {
		return Cursor{}, ErrBadCursor
	}
	if c.S != sort || c.T < 0 || c.T > 1<<32 || c.O == "" || c.B == "" {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{PlacedAt: time.Unix(c.T, 0).UTC(), BrandID: c.B, OrderID: c.O, Sort: c.S}, nil
}

// Reports reads the reports from one ClickHouse database of the projection.
// It is safe for concurrent use. It remembers each creator's order count at
// its last totals, only to choose between equally exact queries (time
// slices or not, see Orders and Totals).
type Reports struct {
	conn     driver.Conn
	database string
	db       string // quoted
	now      func() time.Time

	mu    sync.Mutex
	sizes map[string]uint64 // creators' order counts at their last totals
}

// New returns the reports of database (the projection's, as given to
// readmodel.Migrate). A database name that would need quoting panics: it is
// configuration, spliced into SQL, never user input.
func New(conn driver.Conn, database string) *Reports {
	if err := readmodel.CheckDatabase(database); err != nil {
		panic(fmt.Sprintf("reports: %v", err))
	}
	return &Reports{conn: conn, database: database, db: readmodel.QuoteIdent(database), now: time.Now, sizes: map[string]uint64{}}
}

func (r *Reports) table(name string) string { return r.db + "." + name }

// ordersTable is the table f's orders are read from: orders_by_brand for
// one brand's orders across its creators (there they are one range of the
// sorting key), orders otherwise (a creator's are one range there).
func ordersTable(f OrderFilter) string {
	if f.CreatorID == "" && f.BrandID != "" {
		return readmodel.TableOrdersByBrand
	}
	return readmodel.TableOrders
}

// leadOf returns the first column of the sorting key of f's table that f
// fixes (col, to id) and the key of its size hint (see size): the creator,
// else the brand (prefixed, so that it never meets a creator's id); lead
// is empty when f fixes neither.
func leadOf(f OrderFilter) (lead, col, id string) {
	switch {
	case f.CreatorID != "":
		return f.CreatorID, "creator_id", f.CreatorID
	case f.BrandID != "":
		return "brand/" + f.BrandID, "brand_id", f.BrandID
	}
	return "", "", ""
}

// filterSQL is a filter as SQL. Conditions on columns that are the same in
// every version of an order go to PREWHERE (but see late), the others
// (status) to WHERE.
// PREWHERE filters the rows before FINAL merges the versions (18.16 and
// current releases); a condition on a column that never changes between
// versions keeps or drops all versions of an order together, so FINAL still
// sees the latest version of every order it should, and reads far fewer
// rows. Never put a column that changes there (see readmodel's doc,
// "Reading").
type filterSQL struct {
	pre, post   []string
	pargs, args []any
}

// immutable adds a condition on columns that never change between versions
// of an order: the sorting key (creator, placed time, brand, order), the
// placement facts (amount, currency, country) and the decision (offer, its
// name at the decision, code, request, platform), which the attribution
// worker takes once and repeats (package attribution, "Emission").
func (q *filterSQL) immutable(cond string, a ...any) {
	q.pre = append(q.pre, cond)
	q.pargs = append(q.pargs, a...)
}

// mutable adds a condition on a column that changes (status).
func (q *filterSQL) mutable(cond string, a ...any) {
	q.post = append(q.post, cond)
	q.args = append(q.args, a...)
}

// late adds a condition on columns that never change to WHERE: as exact
// there as in PREWHERE (WHERE sees the merged rows), and cheaper for a
// costly condition when the PREWHERE conditions leave few rows.
func (q *filterSQL) late(cond string, a ...any) {
	q.post = append(q.post, cond)
	q.args = append(q.args, a...)
}

// clause returns "PREWHERE ... WHERE ..." (either may be absent) and the
// arguments in order.
func (q *filterSQL) clause() (string, []any) {
	var sql string
	if len(q.pre) > 0 {
		sql = " PREWHERE " + strings.Join(q.pre, " AND ")
	}
	if len(q.post) > 0 {
		sql += " WHERE " + strings.Join(q.post, " AND ")
	}
	return sql, append(append([]any{}, q.pargs...), q.args...)
}

// filter builds the conditions of f (without keyset).
func (r *Reports) filter(f OrderFilter) *filterSQL {
	q := &filterSQL{}
	if f.CreatorID != "" {
		q.immutable("creator_id = ?", f.CreatorID)
	}
	if f.BrandID != "" {
		q.immutable("brand_id = ?", f.BrandID)
	}
	// The name matches (offer, brand) read and search the strings of every
	// row PREWHERE reads, and run a subquery. A code or an order id leaves
	// few rows: then they go to WHERE, which runs them on those only.
	byName := q.immutable
	if f.PromoCode != "" || f.OrderID != "" {
		byName = q.late
	}
	if f.Offer != "" {
		byName("(offer_id = ? OR positionCaseInsensitiveUTF8(offer_name, ?) > 0 OR (brand_id, offer_id) IN (SELECT brand_id, offer_id FROM "+
			r.table(readmodel.TableOfferNames)+" FINAL WHERE positionCaseInsensitiveUTF8(name, ?) > 0))", f.Offer, f.Offer, f.Offer)
	}
	if f.Status != "" {
		q.mutable("status = ?", f.Status)
	}
	if f.Country != "" {
		q.immutable("country = ?", strings.ToUpper(f.Country))
	}
	if f.OrderID != "" {
		q.immutable("order_id = ?", f.OrderID)
	}
	if f.PromoCode != "" {
		q.immutable("promo_code = ?", f.PromoCode)
	}
	if f.Brand != "" {
		byName("(brand_id = ? OR brand_id IN (SELECT brand_id FROM "+r.table(readmodel.TableBrands)+
			" FINAL WHERE positionCaseInsensitiveUTF8(name, ?) > 0))", f.Brand, f.Brand)
	}
	if !f.From.IsZero() {
		q.immutable("placed_at >= toDateTime(?, 'UTC')", f.From.Unix())
	}
	if !f.To.IsZero() {
		q.immutable("placed_at < toDateTime(?, 'UTC')", f.To.Unix())
	}
	return q
}

const orderColumns = `order_id, brand_id, creator_id, offer_id, offer_name, promo_code, status, amount, currency, country,
    earnings, earnings_currency, placed_at, updated_at`

func (r *Reports) orderQuery(f OrderFilter, limit int) (string, []any) {
	q := r.filter(f)
	dir := "DESC"
	cmp := "<"
	if f.Sort == SortDateAsc {
		dir, cmp = "ASC", ">"
	}
	if f.After != nil {
		q.immutable("(placed_at, brand_id, order_id) "+cmp+" (toDateTime(?, 'UTC'), ?, ?)", f.After.PlacedAt.Unix(), f.After.BrandID, f.After.OrderID)
	}
	where, args := q.clause()
	sql := "SELECT " + orderColumns + "\nFROM " + r.table(ordersTable(f)) + " FINAL" + where +
		"\nORDER BY placed_at " + dir + ", brand_id " + dir + ", order_id " + dir
	if limit > 0 {
		sql += fmt.Sprintf("\nLIMIT %d", limit)
	}
	return sql, args
}

func scanOrder(rows driver.Rows) (Order, error) {
	var o Order
	err := rows.Scan(&o.OrderID, &o.BrandID, &o.CreatorID, &o.OfferID, &o.Offer, &o.PromoCode, &o.Status, &o.Amount, &o.Currency,
		&o.Country, &o.Earnings, &o.EarningsCurrency, &o.PlacedAt, &o.UpdatedAt)
	o.PlacedAt, o.UpdatedAt = o.PlacedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// pageWindows are the widths of the placed-time slices a creator's page is
// read in, from the newest (date_desc) or oldest (date_asc) end, each slice
// starting where the previous one ended, then the rest of the range.
// ClickHouse 18.16 has no read-in-order: a query with ORDER BY placed_at
// LIMIT n reads and merges (FINAL) every matching row of the creator before
// it sorts, seconds for a creator with a million orders. A slice of a day
// holds the page of such a creator; a light creator's page takes a few
// small slices. Each slice is a range of the sorting key (creator_id,
// placed_at, ...), so an empty one costs a few granules.
var pageWindows = []time.Duration{24 * time.Hour, 8 * 24 * time.Hour, 64 * 24 * time.Hour, 512 * 24 * time.Hour}

// Orders returns one page of the orders matching f, in f.Sort order,
// starting after f.After. A creator's page is read in time slices (see
// pageWindows), newest first for date_desc, oldest first for date_asc,
// until it is full: the same rows as one query, in far less time for busy
// creators.
func (r *Reports) Orders(ctx context.Context, f OrderFilter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	if f.Sort == "" {
		f.Sort = SortDateDesc
	}
	page := Page{Orders: []Order{}}
	slices, err := r.slices(ctx, f, 0)
	if err != nil {
		return Page{}, err
	}
	for i := 0; i < len(slices); i++ {
		g := slices[i]
		if err := r.readPage(ctx, g, limit+1-len(page.Orders), &page); err != nil {
			return Page{}, err
		}
		if len(page.Orders) > limit {
			break
		}
		// A busy creator's narrowed listing that the first slice (a day)
		// did not fill: the rest of its range, sized by creator_daily.
		if i == 0 && len(slices) > 1 && r.narrowedBusy(f) {
			rest := f
			if f.Sort == SortDateAsc {
				rest.From = g.To
			} else {
				rest.To = g.From
			}
			more, err := r.slices(ctx, rest, limit+1-len(page.Orders))
			if err != nil {
				return Page{}, err
			}
			slices = append(slices[:1], more...)
		}
	}
	if len(page.Orders) > limit {
		page.Orders = page.Orders[:limit]
		last := page.Orders[limit-1]
		page.Next = &Cursor{PlacedAt: last.PlacedAt, BrandID: last.BrandID, OrderID: last.OrderID, Sort: f.Sort}
	}
	if err := r.fillBrands(ctx, page.Orders, nil); err != nil {
		return Page{}, err
	}
	return page, nil
}

// readPage appends up to n orders matching f to page.
func (r *Reports) readPage(ctx context.Context, f OrderFilter, n int, page *Page) error {
	q, args := r.orderQuery(f, n)
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reports: orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return fmt.Errorf("reports: orders: %w", err)
		}
		page.Orders = append(page.Orders, o)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reports: orders: %w", err)
	}
	return nil
}

// slices splits f into filters over consecutive placed-time slices, in
// the order of f.Sort, whose union is f's range. Only a creator's listing
// is split (the placed time is second in the sorting key, after the
// creator), unless the creator is known to be light (its last totals
// counted fewer than busyOrders: one query over its few orders is cheaper
// than several); a lookup by order id is not (it is one row). For a busy
// creator's narrowed listing and n > 0, the first slice ends where
// creator_daily counts n matching orders (pageEdge); the others follow it.
func (r *Reports) slices(ctx context.Context, f OrderFilter, n int) ([]OrderFilter, error) {
	lead, col, id := leadOf(f)
	if lead == "" || f.OrderID != "" || r.isLight(lead) {
		return []OrderFilter{f}, nil
	}
	// lo and hi bound the range: [lo, hi), zero for unbounded.
	lo, hi := f.From, f.To
	if c := f.After; c != nil {
		if f.Sort == SortDateAsc {
			if lo.IsZero() || c.PlacedAt.After(lo) {
				lo = c.PlacedAt
			}
		} else if next := c.PlacedAt.Add(time.Second); hi.IsZero() || next.Before(hi) {
			hi = next
		}
	}
	if !lo.IsZero() && !hi.IsZero() && !lo.Before(hi) {
		return []OrderFilter{f}, nil
	}
	var out []OrderFilter
	slice := func(from, to time.Time) {
		g := f
		g.From, g.To = from, to
		out = append(out, g)
	}
	edge, found := time.Time{}, false
	if n > 0 && r.narrowedBusy(f) {
		var err error
		if edge, found, err = r.pageEdge(ctx, f, lo, hi, n); err != nil {
			return nil, err
		}
	}
	if f.Sort == SortDateAsc {
		if found {
			slice(lo, edge)
			lo = edge
		}
		if lo.IsZero() {
			// The creator's oldest order: every version of an order has the
			// same placed time, so the minimum needs no FINAL.
			var oldest time.Time
			if err := r.conn.QueryRow(ctx, "SELECT min(placed_at) FROM "+r.table(ordersTable(f))+
				" PREWHERE "+col+" = ?", id).Scan(&oldest); err != nil {
				return nil, fmt.Errorf("reports: orders: oldest order: %w", err)
			}
			lo = oldest.UTC()
		}
		start := lo
		for _, w := range pageWindows {
			end := lo.Add(w)
			if !hi.IsZero() && !end.Before(hi) {
				break
			}
			slice(start, end)
			start = end
		}
		slice(start, hi)
		return out, nil
	}
	// date_desc: from the upper bound, or from now with the first slice
	// open above (an order placed in the future still comes first).
	if found {
		slice(edge, hi)
		hi = edge
	}
	anchor := hi
	if anchor.IsZero() {
		anchor = r.now().UTC().Truncate(time.Second)
	}
	end := hi
	for _, w := range pageWindows {
		start := anchor.Add(-w)
		if !lo.IsZero() && !start.After(lo) {
			break
		}
		slice(start, end)
		end = start
	}
	slice(lo, end)
	return out, nil
}

// narrowedBusy reports whether f lists the orders of a creator known to
// have rollupOrders or more narrowed by a filter that creator_daily can
// count.
func (r *Reports) narrowedBusy(f OrderFilter) bool {
	n, known := r.size(f.CreatorID)
	return f.CreatorID != "" && f.OrderID == "" && known && n >= rollupOrders &&
		(f.Status != "" || f.Country != "" || f.Offer != "" || f.Brand != "" || f.PromoCode != "")
}

// pageEdge returns where a page of f's orders in [lo, hi) (zero ends:
// unbounded) starting from the end f.Sort reads first holds at least n of
// them, by creator_daily's counts of the whole days that are current
// there: the start of such a day for date_desc, its end for date_asc.
// found is false when those days hold fewer. The counts only size the
// first slice: the page is read from orders whatever they say.
//
// So they need not be exact, and are read in one query without FINAL: a
// day's rows of the version that equals the day's marks' sum now (as
// readmodel.SummaryDays sums them, in a subquery) are its current roll-up,
// and the rows of its earlier recomputations are left out by their
// version, as with FINAL. Only rows written twice at the current version
// (two summarizers at once, or one that failed before noting the day)
// count twice until merged: a first slice too short, then the slices
// after it. One query without FINAL costs a fraction of SummaryDays then
// FINAL.
func (r *Reports) pageEdge(ctx context.Context, f OrderFilter, lo, hi time.Time, n int) (edge time.Time, found bool, err error) {
	col, _, ok := rollupColumns(f.Status)
	if !ok {
		return time.Time{}, false, nil
	}
	g := f
	g.Status, g.From, g.To, g.OrderID = "", time.Time{}, time.Time{}, ""
	fs := r.filter(g)
	if !lo.IsZero() { // the first whole day
		first := lo.UTC().Truncate(24 * time.Hour)
		if first.Before(lo) {
			first = first.Add(24 * time.Hour)
		}
		fs.immutable("day >= toDate(?)", first.Format(time.DateOnly))
	}
	if !hi.IsZero() {
		fs.immutable("day < toDate(?)", hi.UTC().Truncate(24*time.Hour).Format(time.DateOnly))
	}
	fs.mutable("(day, version) IN (" + readmodel.DayMarkSumsSQL(r.database) + ")")
	where, args := fs.clause()
	dir := "DESC"
	if f.Sort == SortDateAsc {
		dir = "ASC"
	}
	rows, err := r.conn.Query(ctx, "SELECT day, sum("+col+") AS n FROM "+r.table(readmodel.TableCreatorDaily)+where+
		" GROUP BY day HAVING n > 0 ORDER BY day "+dir, args...)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reports: orders: page edge: %w", err)
	}
	defer rows.Close()
	var total uint64
	for rows.Next() {
		var day time.Time
		var c uint64
		if err := rows.Scan(&day, &c); err != nil {
			return time.Time{}, false, fmt.Errorf("reports: orders: page edge: %w", err)
		}
		if total += c; total >= uint64(n) {
			d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
			if f.Sort == SortDateAsc {
				d = d.Add(24 * time.Hour)
			}
			return d, true, nil
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("reports: orders: page edge: %w", err)
	}
	return time.Time{}, false, nil
}

// fillBrands sets the brand and creator names of orders (in one query),
// from cache when given (and adding to it). An order without a creator id
// gets no creator name.
func (r *Reports) fillBrands(ctx context.Context, orders []Order, cache map[string]string) error {
	if cache == nil {
		cache = map[string]string{}
	}
	// Keys of cache: "b" + brand id, "c" + creator id.
	var brands, creators []string
	for _, o := range orders {
		if k := "b" + o.BrandID; o.BrandID != "" && !hasKey(cache, k) {
			cache[k] = ""
			brands = append(brands, o.BrandID)
		}
		if k := "c" + o.CreatorID; o.CreatorID != "" && !hasKey(cache, k) {
			cache[k] = ""
			creators = append(creators, o.CreatorID)
		}
	}
	if len(brands) > 0 || len(creators) > 0 {
		// An empty array literal is Array(Nothing), which has() refuses on
		// 18.16: a part is only there with ids to look up.
		var parts []string
		var args []any
		if len(brands) > 0 {
			parts = append(parts, "SELECT 'b' AS t, brand_id AS id, name FROM "+r.table(readmodel.TableBrands)+" FINAL WHERE has(?, brand_id)")
			args = append(args, brands)
		}
		if len(creators) > 0 {
			parts = append(parts, "SELECT 'c' AS t, creator_id AS id, name FROM "+r.table(readmodel.TableCreators)+" FINAL WHERE has(?, creator_id)")
			args = append(args, creators)
		}
		rows, err := r.conn.Query(ctx, strings.Join(parts, " UNION ALL "), args...)
		if err != nil {
			for _, id := range brands {
				delete(cache, "b"+id)
			}
			for _, id := range creators {
				delete(cache, "c"+id)
			}
			return fmt.Errorf("reports: brand and creator names: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t, id, name string
			if err := rows.Scan(&t, &id, &name); err != nil {
				return fmt.Errorf("reports: brand and creator names: %w", err)
			}
			cache[t+id] = name
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reports: brand and creator names: %w", err)
		}
	}
	for i := range orders {
		orders[i].Brand = cache["b"+orders[i].BrandID]
		if orders[i].CreatorID != "" {
			orders[i].Creator = cache["c"+orders[i].CreatorID]
		}
	}
	return nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// rollupColumns returns the creator_daily columns that count the orders of
// a status ("": all) and sum their earnings; ok is false for a status
// without columns.
func rollupColumns(status string) (n, earned string, ok bool) {
	switch status {
	case "":
		return "orders", "earnings", true
	case StatusPending, StatusApproved, StatusRejected:
		return status, "earnings_" + status, true
	}
	return "", "", false
}

// rollup returns the FROM ... PREWHERE ... WHERE clause that selects the
// creator_daily rows of the orders matching f (its range and order_id
// ignored) on the given days, current in states, with its arguments, and
// the columns that count them and sum their earnings: those of f.Status.
// ok is false when there are no days, or the status has no columns. With
// FINAL when final; without, every row of a key at the day's version or
// above is selected (see latestPerKey).
func (r *Reports) rollup(f OrderFilter, days []time.Time, states map[time.Time]readmodel.DayState, final bool) (from, n, earned string, args []any, ok bool) {
	if n, earned, ok = rollupColumns(f.Status); !ok || len(days) == 0 {
		return "", "", "", nil, false
	}
	f.Status, f.From, f.To, f.OrderID = "", time.Time{}, time.Time{}, ""
	fs := r.filter(f)
	dc, dargs := readmodel.DaysSQL(days)
	fs.immutable(dc, dargs...)
	fs.mutable("version >= " + readmodel.DayMarksSQL(days, states))
	where, args := fs.clause()
	from = " FROM " + r.table(readmodel.TableCreatorDaily)
	if final {
		from += " FINAL"
	}
	return from + where, n, earned, args, true
}

// latestPerKey is the sum of the n and earned columns of creator_daily
// over the latest version of each key (readmodel.CreatorDailyKey) of from
// (a FROM ... clause without FINAL), per earnings currency (cur).
//
// A creator's totals narrowed by a key column (offer, brand, code,
// country) read it instead of FINAL: the same rows, as the rows from keeps
// are those of at least the day's marks (the version is a column of every
// row, and the day part of the key), and the latest of those is the latest
// of all whenever it is kept. Two rows of a key with the same version (two
// summarizers at once) are two exact views of its orders: FINAL keeps one,
// argMax one, the count and earnings from the same row (a tuple). FINAL on
// 18.16 merges the parts' rows in one stream; the aggregation is a hash
// table over the rows PREWHERE leaves, cheaper when they are few, dearer
// than FINAL over all of a creator's rows or all creators', which keep
// FINAL.
func latestPerKey(n, earned, from string) string {
	return "SELECT cur, sum(v.1) AS n, sum(v.2) AS earned FROM (SELECT earnings_currency AS cur, argMax((" +
		n + ", " + earned + "), version) AS v" + from + " GROUP BY " + readmodel.CreatorDailyKey + ") GROUP BY cur"
}

// busyOrders is the number of orders from which a creator's totals are
// summed in slices (see totalsSlices).
const busyOrders = 50_000

// totalsSlices are the ages (before now) at which a busy creator's totals
// are cut into placed-time slices, one aggregate over orders FINAL each,
// run in parallel under UNION ALL: on 18.16 one FINAL is one thread, and a
// creator's orders are one range of the sorting key ordered by placed_at,
// so the slices read disjoint granules. Exact: every version of an order
// has the same placed time. For a light creator the four queries cost
// more than one, hence only for creators known to be busy.
var totalsSlices = []time.Duration{365 * 24 * time.Hour, 180 * 24 * time.Hour, 60 * 24 * time.Hour}

// size returns the creator's order count at its last totals (a lower
// bound when those were narrowed by filters) and whether it is known.
func (r *Reports) size(creator string) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.sizes[creator]
	return n, ok
}

// rollupOrders is the size from which a creator's totals and narrowed
// pages read creator_daily. Its FINAL costs about the same whatever the
// creator (ten key columns to merge), while orders FINAL in slices grows
// with the creator's orders and costs less below about this many.
const rollupOrders = 150_000

// readsRollup reports whether a creator's totals read creator_daily: it
// is known to have rollupOrders or more, or is not known at all (its
// first totals, which may be a busy creator's).
func (r *Reports) readsRollup(creator string) bool {
	n, ok := r.size(creator)
	return !ok || n >= rollupOrders
}

// isBusy reports whether a creator is known to have busyOrders or more.
func (r *Reports) isBusy(creator string) bool {
	n, ok := r.size(creator)
	return ok && n >= busyOrders
}

// isLight reports whether a creator is known to have fewer than
// busyOrders orders: its page is read in one query, cheaper than slices.
func (r *Reports) isLight(creator string) bool {
	n, ok := r.size(creator)
	return ok && n < busyOrders
}

// noteTotals remembers the creator's size from totals of n orders
// (narrowed by other filters when narrowed: then only a lower bound). The
// sizes only choose between equally exact queries.
func (r *Reports) noteTotals(creator string, n uint64, narrowed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if narrowed && n < busyOrders {
		return
	}
	if len(r.sizes) >= 100_000 { // a bound on the hint's memory
		clear(r.sizes)
	}
	if cur, ok := r.sizes[creator]; !narrowed || !ok || n > cur {
		r.sizes[creator] = n
	}
}

// Totals counts the orders matching f (Limit and After are ignored) and
// sums their earnings per currency.
//
// For all creators, and a creator not known to have fewer than
// rollupOrders, whole UTC days whose creator_daily rows are current
// (readmodel.SummaryDays) are summed from there: a busy creator's day is a
// few rows instead of thousands of orders to merge. The rest of the range
// (its partial days, today, days changed since the summarizer's last pass)
// comes from orders FINAL, for a busy creator in slices (totalsSlices).
// Smaller creators, and an order_id filter, read orders alone (faster than
// the roll-up's FINAL there). Every filter column but
// placed_at and order_id is a column of creator_daily too, with the same
// name, so both parts take the same conditions; status picks
// creator_daily's columns of that status.
func (r *Reports) Totals(ctx context.Context, f OrderFilter) (Totals, error) {
	var parts []string
	var args []any
	g := f // the filter without its range, which the parts cut
	g.From, g.To = time.Time{}, time.Time{}
	rest := [][2]time.Time{{f.From, f.To}}
	lead, _, _ := leadOf(f)
	busy := f.CreatorID != "" && r.isBusy(f.CreatorID)
	if f.OrderID == "" && (f.CreatorID == "" || r.readsRollup(f.CreatorID)) {
		states, err := readmodel.SummaryDays(ctx, r.conn, r.database)
		if err != nil {
			return Totals{}, fmt.Errorf("reports: totals: %w", err)
		}
		var rolled []time.Time
		rolled, rest = splitRange(f.From, f.To, states, readmodel.DayState.CreatorsCurrent)
		// One creator's rows narrowed by a key column: the latest version
		// of each key by argMax, not FINAL (see latestPerKey).
		byKey := f.CreatorID != "" && (f.Offer != "" || f.Brand != "" || f.PromoCode != "" || f.Country != "")
		if from, n, earned, a, ok := r.rollup(g, rolled, states, !byKey); !ok {
			rest = [][2]time.Time{{f.From, f.To}}
		} else if !byKey {
			parts = append(parts, "SELECT earnings_currency AS cur, sum("+n+") AS n, sum("+earned+") AS earned"+from+" GROUP BY cur")
			args = append(args, a...)
		} else {
			parts = append(parts, latestPerKey(n, earned, from))
			args = append(args, a...)
		}
	}
	if len(rest) > 0 {
		// A busy creator's orders in placed-time slices, the others in one;
		// a slice without any of the rest is left out (a query costs a few
		// ms even when it reads nothing).
		var cuts []time.Duration
		if busy && f.OrderID == "" {
			cuts = totalsSlices
		}
		now := r.now().UTC().Truncate(24 * time.Hour)
		for i := 0; i <= len(cuts); i++ {
			var from, to time.Time
			if i > 0 {
				from = now.Add(-cuts[i-1])
			}
			if i < len(cuts) {
				to = now.Add(-cuts[i])
			}
			in := clipRanges(rest, from, to)
			if len(in) == 0 {
				continue
			}
			cond, cargs := readmodel.RangesSQL(in)
			fs := r.filter(g)
			fs.immutable(cond, cargs...)
			where, a := fs.clause()
			parts = append(parts, "SELECT earnings_currency AS cur, count() AS n, sum(earnings) AS earned FROM "+
				r.table(ordersTable(f))+" FINAL"+where+" GROUP BY cur")
			args = append(args, a...)
		}
	}
	if len(parts) == 0 { // an empty range
		return Totals{Earnings: map[string]decimal.Decimal{}}, nil
	}
	// A key of creator_daily may have none of its orders in the status
	// asked for: a currency counts only with orders.
	q := "SELECT cur, sum(n), sum(earned) FROM (" + strings.Join(parts, " UNION ALL ") + ") GROUP BY cur HAVING sum(n) > 0"
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return Totals{}, fmt.Errorf("reports: totals: %w", err)
	}
	defer rows.Close()
	t := Totals{Earnings: map[string]decimal.Decimal{}}
	for rows.Next() {
		var cur string
		var n uint64
		var sum decimal.Decimal
		if err := rows.Scan(&cur, &n, &sum); err != nil {
			return Totals{}, fmt.Errorf("reports: totals: %w", err)
		}
		t.Orders += n
		if cur != "" {
			t.Earnings[cur] = sum
		}
	}
	if err := rows.Err(); err != nil {
		return Totals{}, fmt.Errorf("reports: totals: %w", err)
	}
	if lead != "" {
		narrowed := f.Offer != "" || f.Status != "" || f.Country != "" || f.OrderID != "" || f.PromoCode != "" ||
			f.Brand != "" || !f.From.IsZero() || !f.To.IsZero() || (f.CreatorID != "" && f.BrandID != "")
		r.noteTotals(lead, t.Orders, narrowed)
	}
	return t, nil
}

// clipRanges returns the parts of the [from, to) ranges (zero ends:
// unbounded) inside [lo, hi) (zero: unbounded), leaving out the empty ones.
func clipRanges(ranges [][2]time.Time, lo, hi time.Time) [][2]time.Time {
	var out [][2]time.Time
	for _, rg := range ranges {
		from, to := rg[0], rg[1]
		if !lo.IsZero() && (from.IsZero() || from.Before(lo)) {
			from = lo
		}
		if !hi.IsZero() && (to.IsZero() || to.After(hi)) {
			to = hi
		}
		if from.IsZero() || to.IsZero() || from.Before(to) {
			out = append(out, [2]time.Time{from, to})
		}
	}
	return out
}

// streamChunk is how many rows EachOrder reads before resolving their
// brand names and handing them on.
const streamChunk = 1000

// streamBlockRows is the max_block_size of EachOrder's query.
const streamBlockRows = 8192

// EachOrder calls fn with every order matching f (Limit is ignored; After
// is honoured), in f.Sort order, from one query, in constant memory
// (chunks of streamChunk rows plus a brand-name cache). An error of fn
// stops it and is returned. A query error before the first row is
// returned without calling fn.
func (r *Reports) EachOrder(ctx context.Context, f OrderFilter, fn func(Order) error) error {
	q, args := r.orderQuery(f, 0)
	// The driver holds one block of the result at a time: blocks of
	// streamBlockRows instead of 65,536 keep the stream's memory small.
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_block_size": streamBlockRows}))
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reports: orders: %w", err)
	}
	defer rows.Close()
	cache := map[string]string{}
	buf := make([]Order, 0, streamChunk)
	emit := func() error {
		if err := r.fillBrands(ctx, buf, cache); err != nil {
			return err
		}
		for _, o := range buf {
			if err := fn(o); err != nil {
				return err
			}
		}
		buf = buf[:0]
		return nil
	}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return fmt.Errorf("reports: orders: %w", err)
		}
		buf = append(buf, o)
		if len(buf) == streamChunk {
			if err := emit(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reports: orders: %w", err)
	}
	return emit()
}
