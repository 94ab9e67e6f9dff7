// Package reports reads the creators' and analysts' reports from the
// ClickHouse projection (package chproj): the order list with its filters,
// keyset paging and totals, the same list streamed whole (CSV), and the
// unattributed orders.
//
// Every query reads orders (and unattributed_orders) with FINAL and keeps
// every filter in WHERE, never PREWHERE (see chproj's doc). Filter values
// reach ClickHouse only through client-side ? binding: no filter text is
// ever spliced into SQL; only the database name is, and New checks it.
package reports

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	chproj "github.com/attrib-engine/attrib/projections/clickhouse"
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
	// creator's own report; optional for analysts).
	CreatorID string
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
	OrderID          string
	BrandID          string
	Brand            string
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
type Reports struct {
	conn driver.Conn
	db   string // quoted
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New returns the reports of database (the projection's, as given to
// chproj.Migrate). A database name that would need quoting panics: it is
// configuration, spliced into SQL, never user input.
func New(conn driver.Conn, database string) *Reports {
	if !identifier.MatchString(database) {
		panic(fmt.Sprintf("reports: database name %q: want letters, digits and '_'", database))
	}
	return &Reports{conn: conn, db: "`" + database + "`"}
}

func (r *Reports) table(name string) string { return r.db + "." + name }

// where builds the WHERE clause of f (without keyset) and its arguments.
func (r *Reports) where(f OrderFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if f.CreatorID != "" {
		add("creator_id = ?", f.CreatorID)
	}
	if f.Offer != "" {
		add("(offer_id = ? OR positionCaseInsensitiveUTF8(offer_name, ?) > 0 OR (brand_id, offer_id) IN (SELECT brand_id, offer_id FROM "+
			r.table(chproj.TableOfferNames)+" FINAL WHERE positionCaseInsensitiveUTF8(name, ?) > 0))", f.Offer, f.Offer, f.Offer)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Country != "" {
		add("country = ?", strings.ToUpper(f.Country))
	}
	if f.OrderID != "" {
		add("order_id = ?", f.OrderID)
	}
	if f.PromoCode != "" {
		add("promo_code = ?", f.PromoCode)
	}
	if f.Brand != "" {
		add("(brand_id = ? OR brand_id IN (SELECT brand_id FROM "+r.table(chproj.TableBrands)+
			" FINAL WHERE positionCaseInsensitiveUTF8(name, ?) > 0))", f.Brand, f.Brand)
	}
	if !f.From.IsZero() {
		add("placed_at >= toDateTime(?, 'UTC')", f.From.Unix())
	}
	if !f.To.IsZero() {
		add("placed_at < toDateTime(?, 'UTC')", f.To.Unix())
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

const orderColumns = `order_id, brand_id, offer_id, offer_name, promo_code, status, amount, currency, country,
    earnings, earnings_currency, placed_at, updated_at`

func (r *Reports) orderQuery(f OrderFilter, limit int) (string, []any) {
	where, args := r.where(f)
	dir := "DESC"
	cmp := "<"
	if f.Sort == SortDateAsc {
		dir, cmp = "ASC", ">"
	}
	if f.After != nil {
		where += " AND (placed_at, brand_id, order_id) " + cmp + " (toDateTime(?, 'UTC'), ?, ?)"
		args = append(args, f.After.PlacedAt.Unix(), f.After.BrandID, f.After.OrderID)
	}
	q := "SELECT " + orderColumns + "\nFROM " + r.table(chproj.TableOrders) + " FINAL\nWHERE " + where +
		"\nORDER BY placed_at " + dir + ", brand_id " + dir + ", order_id " + dir
	if limit > 0 {
		q += fmt.Sprintf("\nLIMIT %d", limit)
	}
	return q, args
}

func scanOrder(rows driver.Rows) (Order, error) {
	var o Order
	err := rows.Scan(&o.OrderID, &o.BrandID, &o.OfferID, &o.Offer, &o.PromoCode, &o.Status, &o.Amount, &o.Currency,
		&o.Country, &o.Earnings, &o.EarningsCurrency, &o.PlacedAt, &o.UpdatedAt)
	o.PlacedAt, o.UpdatedAt = o.PlacedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// Orders returns one page of the orders matching f, in f.Sort order,
// starting after f.After.
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
	q, args := r.orderQuery(f, limit+1)
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("reports: orders: %w", err)
	}
	defer rows.Close()
	page := Page{Orders: []Order{}}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return Page{}, fmt.Errorf("reports: orders: %w", err)
		}
		page.Orders = append(page.Orders, o)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("reports: orders: %w", err)
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

// fillBrands sets the brand names of orders, from cache when given (and
// adding to it).
func (r *Reports) fillBrands(ctx context.Context, orders []Order, cache map[string]string) error {
	if cache == nil {
		cache = map[string]string{}
	}
	var missing []string
	seen := map[string]bool{}
	for _, o := range orders {
		if _, ok := cache[o.BrandID]; !ok && !seen[o.BrandID] {
			seen[o.BrandID] = true
			missing = append(missing, o.BrandID)
		}
	}
	if len(missing) > 0 {
		rows, err := r.conn.Query(ctx, "SELECT brand_id, name FROM "+r.table(chproj.TableBrands)+
			" FINAL WHERE has(?, brand_id)", missing)
		if err != nil {
			return fmt.Errorf("reports: brand names: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				return fmt.Errorf("reports: brand names: %w", err)
			}
			cache[id] = name
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reports: brand names: %w", err)
		}
		for _, id := range missing {
			if _, ok := cache[id]; !ok {
				cache[id] = ""
			}
		}
	}
	for i := range orders {
		orders[i].Brand = cache[orders[i].BrandID]
	}
	return nil
}

// Totals counts the orders matching f (Limit and After are ignored) and
// sums their earnings per currency.
func (r *Reports) Totals(ctx context.Context, f OrderFilter) (Totals, error) {
	where, args := r.where(f)
	rows, err := r.conn.Query(ctx, "SELECT earnings_currency, count(), sum(earnings) FROM "+
		r.table(chproj.TableOrders)+" FINAL WHERE "+where+" GROUP BY earnings_currency", args...)
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
	return t, nil
}

// streamChunk is how many rows EachOrder reads before resolving their
// brand names and handing them on.
const streamChunk = 1000

// EachOrder calls fn with every order matching f (Limit is ignored; After
// is honoured), in f.Sort order, from one query, in constant memory
// (chunks of streamChunk rows plus a brand-name cache). An error of fn
// stops it and is returned. A query error before the first row is
// returned without calling fn.
func (r *Reports) EachOrder(ctx context.Context, f OrderFilter, fn func(Order) error) error {
	q, args := r.orderQuery(f, 0)
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
