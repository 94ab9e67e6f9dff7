package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/attrib-engine/attrib/readmodel"
)

// UnattributedFilter selects unattributed orders, newest first.
type UnattributedFilter struct {
	// From (inclusive) and To (exclusive) bound the placed time; zero means
	// unbounded.
	From, To time.Time
	// Limit is the page size: 1..MaxLimit, DefaultLimit when 0.
	Limit int
	// After continues the listing after the cursor's row (made for
	// SortDateDesc).
	After *Cursor
}

// Unattributed is an order no creator was credited with, and why.
type Unattributed struct {
	BrandID    string
	OrderID    string
	PromoCodes []string
	// Reason is no_code, unknown_code, code_not_active or code_revoked.
	Reason   string
	PlacedAt time.Time
}

// UnattributedPage is one page of unattributed orders; Next is nil on the
// last page.
type UnattributedPage struct {
	Orders []Unattributed
	Next   *Cursor
}

// Unattributed returns a page of the unattributed orders matching f, by
// placed time descending.
func (r *Reports) Unattributed(ctx context.Context, f UnattributedFilter) (UnattributedPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		limit = MaxLimit
	}
	where := "1"
	var args []any
	if !f.From.IsZero() {
		where += " AND placed_at >= toDateTime(?, 'UTC')"
		args = append(args, f.From.Unix())
	}
	if !f.To.IsZero() {
		where += " AND placed_at < toDateTime(?, 'UTC')"
		args = append(args, f.To.Unix())
	}
	if f.After != nil {
		where += " AND (placed_at, brand_id, order_id) < (toDateTime(?, 'UTC'), ?, ?)"
		args = append(args, f.After.PlacedAt.Unix(), f.After.BrandID, f.After.OrderID)
	}
	q := "SELECT brand_id, order_id, promo_codes, reason, placed_at FROM " + r.table(readmodel.TableUnattributed) +
		" FINAL WHERE " + where + fmt.Sprintf(" ORDER BY placed_at DESC, brand_id DESC, order_id DESC LIMIT %d", limit+1)
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return UnattributedPage{}, fmt.Errorf("reports: unattributed: %w", err)
	}
	defer rows.Close()
	page := UnattributedPage{Orders: []Unattributed{}}
	for rows.Next() {
		var u Unattributed
		if err := rows.Scan(&u.BrandID, &u.OrderID, &u.PromoCodes, &u.Reason, &u.PlacedAt); err != nil {
			return UnattributedPage{}, fmt.Errorf("reports: unattributed: %w", err)
		}
		u.PlacedAt = u.PlacedAt.UTC()
		if u.PromoCodes == nil {
			u.PromoCodes = []string{}
		}
		page.Orders = append(page.Orders, u)
	}
	if err := rows.Err(); err != nil {
		return UnattributedPage{}, fmt.Errorf("reports: unattributed: %w", err)
	}
	if len(page.Orders) > limit {
		page.Orders = page.Orders[:limit]
		last := page.Orders[limit-1]
		page.Next = &Cursor{PlacedAt: last.PlacedAt, BrandID: last.BrandID, OrderID: last.OrderID, Sort: SortDateDesc}
	}
	return page, nil
}
