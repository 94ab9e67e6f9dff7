package reports

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
)

// ErrNoSuchOrder is returned by Explain for an order the tables do not
// hold.
var ErrNoSuchOrder = errors.New("reports: no such order")

// Explanation is everything the engine decided about one order: whether and
// to whom it was attributed, every code on it and what became of each,
// the offer terms that applied and the order's current status and
// earnings.
type Explanation struct {
	BrandID, OrderID string
	// Attributed: the order went to CreatorID; otherwise Reason says why
	// not (no_code, unknown_code, code_not_active, code_revoked).
	Attributed bool
	Reason     string

	CreatorID, OfferID, OfferName, RequestID, PromoCode, Platform string
	Status                                                        string
	Amount, NetAmount, Earnings                                   decimal.Decimal
	Currency, Country, EarningsCurrency                           string
	// PayoutType, PayoutValue, PayoutCurrency and HoldDays are the offer's
	// terms at the placed time.
	PayoutType, PayoutValue, PayoutCurrency string
	HoldDays                                uint16
	// Cause is the event type of the last change (empty for the first
	// decision).
	Cause string
	// Decision is the decision record as the worker wrote it: {"candidates":
	// [{"code", "normalized_code", "outcome", ...}]}, in the order's code
	// order.
	Decision json.RawMessage
	// PlacedAt is the shop's placed time; LastEventAt the latest event time
	// of the order; UpdatedAt when the engine recorded the last change.
	PlacedAt, LastEventAt, UpdatedAt time.Time
	Version                          uint64
}

// Explain returns the explanation of the brand's order, from its latest
// version; ErrNoSuchOrder when neither the orders nor the unattributed
// orders hold it.
func (r *Reports) Explain(ctx context.Context, brandID, orderID string) (Explanation, error) {
	e := Explanation{BrandID: brandID, OrderID: orderID}
	var decision string
	// The orders table is sorted by creator and placed time, which never
	// change for an order: find them without FINAL (a scan of two
	// columns), then read the latest version through the sorting key.
	var (
		creator string
		placed  time.Time
	)
	err := r.conn.QueryRow(ctx, `SELECT creator_id, placed_at FROM `+r.table(readmodel.TableOrders)+`
WHERE brand_id = ? AND order_id = ? LIMIT 1`, brandID, orderID).Scan(&creator, &placed)
	found := false
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return e, fmt.Errorf("reports: explain order %s of %s: %w", orderID, brandID, err)
	default:
		if found, err = r.explainAttributed(ctx, &e, &decision, creator, placed); err != nil {
			return e, fmt.Errorf("reports: explain order %s of %s: %w", orderID, brandID, err)
		}
	}
	if !found {
		if found, err = r.explainUnattributed(ctx, &e, &decision); err != nil {
			return e, fmt.Errorf("reports: explain order %s of %s: %w", orderID, brandID, err)
		}
	}
	if !found {
		return e, ErrNoSuchOrder
	}
	if decision == "" {
		decision = `{"candidates":[]}`
	}
	e.Decision = json.RawMessage(decision)
	return e, nil
}

// explainAttributed reads the latest version of an attributed order through
// the sorting key of the orders table.
func (r *Reports) explainAttributed(ctx context.Context, e *Explanation, decision *string, creator string, placed time.Time) (bool, error) {
	rows, err := r.conn.Query(ctx, `SELECT creator_id, offer_id, offer_name, request_id, promo_code, platform, status,
    amount, net_amount, earnings, currency, country, earnings_currency,
    payout_type, payout_value, payout_currency, hold_days, cause, decision,
    placed_at, last_event_at, updated_at, version
FROM `+r.table(readmodel.TableOrders)+` FINAL
WHERE creator_id = ? AND placed_at = toDateTime(?, 'UTC') AND brand_id = ? AND order_id = ?`, creator, placed.Unix(), e.BrandID, e.OrderID)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		if err := rows.Scan(&e.CreatorID, &e.OfferID, &e.OfferName, &e.RequestID, &e.PromoCode, &e.Platform, &e.Status,
			&e.Amount, &e.NetAmount, &e.Earnings, &e.Currency, &e.Country, &e.EarningsCurrency,
			&e.PayoutType, &e.PayoutValue, &e.PayoutCurrency, &e.HoldDays, &e.Cause, decision,
			&e.PlacedAt, &e.LastEventAt, &e.UpdatedAt, &e.Version); err != nil {
			return false, err
		}
		found, e.Attributed = true, true
	}
	return found, rows.Err()
}

// explainUnattributed reads the latest version of an unattributed order.
func (r *Reports) explainUnattributed(ctx context.Context, e *Explanation, decision *string) (bool, error) {
	rows, err := r.conn.Query(ctx, `SELECT reason, decision, amount, currency, country, placed_at, updated_at, version
FROM `+r.table(readmodel.TableUnattributed)+` FINAL
WHERE brand_id = ? AND order_id = ?`, e.BrandID, e.OrderID)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		if err := rows.Scan(&e.Reason, decision, &e.Amount, &e.Currency, &e.Country, &e.PlacedAt, &e.UpdatedAt, &e.Version); err != nil {
			return false, err
		}
		found = true
	}
	e.NetAmount = e.Amount
	return found, rows.Err()
}
