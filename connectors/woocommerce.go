package connectors

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/schemas"
)

// WooCommerce's topics the engine reads (X-WC-Webhook-Topic).
const (
	WooOrderCreated = "order.created"
	WooOrderUpdated = "order.updated"
	WooOrderDeleted = "order.deleted"
)

// WooCommerce order statuses the engine reads.
const (
	WooPending    = "pending"
	WooOnHold     = "on-hold"
	WooProcessing = "processing"
	WooCompleted  = "completed"
	WooCancelled  = "cancelled"
	WooFailed     = "failed"
	WooTrash      = "trash"
	WooRefunded   = "refunded"
)

func init() {
	register(Platform{
		Name:            "woocommerce",
		ConfirmOn:       []string{WooCompleted, WooProcessing},
		TopicHeader:     "X-WC-Webhook-Topic",
		SignatureHeader: "X-WC-Webhook-Signature",
		// X-WC-Webhook-Delivery-ID is not unique: no duplicate key.
		Ping:      wooPing,
		Translate: translateWoo,
	})
}

// wooPing reports whether an unsigned delivery is WooCommerce's ping when a
// webhook is saved: a form-encoded "webhook_id=<digits>", no topic.
func wooPing(d Delivery) bool {
	if d.Topic != "" {
		return false
	}
	v, ok := bytes.CutPrefix(bytes.TrimSpace(d.Body), []byte("webhook_id="))
	return ok && len(v) > 0 && len(v) <= 20 && len(bytes.Trim(v, "0123456789")) == 0
}

type wooAddress struct {
	Country string `json:"country"`
}

// wooOrder is what the engine reads of WooCommerce's order JSON (REST API
// v3).
type wooOrder struct {
	ID              text   `json:"id"`
	Status          string `json:"status"`
	Currency        string `json:"currency"`
	DateCreatedGMT  string `json:"date_created_gmt"`
	DateModifiedGMT string `json:"date_modified_gmt"`
	DatePaidGMT     string `json:"date_paid_gmt"`
	DateCompleted   string `json:"date_completed_gmt"`
	LineItems       []struct {
		Total text `json:"total"`
	} `json:"line_items"`
	CouponLines []struct {
		Code string `json:"code"`
	} `json:"coupon_lines"`
	Shipping *wooAddress `json:"shipping"`
	Billing  *wooAddress `json:"billing"`
	Refunds  []struct {
		ID    text `json:"id"`
		Total text `json:"total"`
	} `json:"refunds"`
}

// translateWoo reads a WooCommerce order snapshot by its status: pending,
// on-hold and processing place the order; the confirm_on status and
// completed place and confirm it; cancelled, failed and trash place and
// cancel it; refunded places it and refunds it whole. Each entry of refunds
// is a partial refund of its own, capped at what is left of the base, and
// a refunded status refunds only what the entries leave. order.deleted
// (only an id) cancels the order. Other statuses and topics record
// nothing.
func translateWoo(d Delivery) (Translation, error) {
	const platform = "woocommerce"
	switch d.Topic {
	case WooOrderCreated, WooOrderUpdated, WooOrderDeleted:
	default:
		return Translation{}, nil
	}
	var o wooOrder
	if err := decode(d.Body, &o); err != nil {
		return Translation{}, err
	}
	id, err := orderID(o.ID, "id")
	if err != nil {
		return Translation{}, err
	}
	if d.Topic == WooOrderDeleted {
		return Translation{Events: []Event{{EventID: eventID(platform, id, "cancelled"), Type: schemas.TypeOrderCancelled,
			OrderID: id, OccurredAt: d.ReceivedAt}}}, nil
	}
	var state string
	switch o.Status {
	case WooPending, WooOnHold, WooProcessing, WooCompleted, WooRefunded:
		state = o.Status
	case WooCancelled, WooFailed, WooTrash:
		state = WooCancelled
	default: // checkout-draft, plugins' own statuses
		return Translation{}, nil
	}
	placed, err := placedTime(o.DateCreatedGMT, "date_created_gmt")
	if err != nil {
		return Translation{}, err
	}
	cur, err := currency(o.Currency, "currency")
	if err != nil {
		return Translation{}, err
	}
	base := decimal.Zero
	for i, li := range o.LineItems {
		field := "line_items[" + itoa(i) + "].total"
		a, err := amount(li.Total, field)
		if err != nil {
			return Translation{}, err
		}
		if a.Sign() < 0 {
			return Translation{}, bad(field, "must not be negative, got %s", li.Total.s)
		}
		base = base.Add(a)
	}
	amt, err := placeAmount(base, cur, "line_items")
	if err != nil {
		return Translation{}, err
	}
	codes := make([]string, 0, len(o.CouponLines))
	for _, c := range o.CouponLines {
		codes = append(codes, c.Code)
	}
	var ship, bill string
	if o.Shipping != nil {
		ship = o.Shipping.Country
	}
	if o.Billing != nil {
		bill = o.Billing.Country
	}
	modified := laterTime(placed, o.DateModifiedGMT)
	events := []Event{{
		EventID: eventID(platform, id, "placed"), Type: schemas.TypeOrderPlaced, OrderID: id, OccurredAt: placed,
		PromoCodes: promoCodes(codes), Amount: amt, Currency: cur, Country: countryOf(ship, bill),
	}}

	// Refund entries, oldest (smallest id) first, each capped at what is
	// left of the base: their totals include shipping and tax.
	type refund struct {
		id     string
		idNum  decimal.Decimal
		amount decimal.Decimal
	}
	refunds := make([]refund, 0, len(o.Refunds))
	for i, r := range o.Refunds {
		field := "refunds[" + itoa(i) + "]"
		rid, err := orderID(r.ID, field+".id")
		if err != nil {
			return Translation{}, err
		}
		a, err := amount(r.Total, field+".total")
		if err != nil {
			return Translation{}, err
		}
		n, _ := decimal.NewFromString(rid)
		refunds = append(refunds, refund{id: rid, idNum: n, amount: a.Abs()})
	}
	slices.SortFunc(refunds, func(a, b refund) int {
		if c := a.idNum.Cmp(b.idNum); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	left := base
	for _, r := range refunds {
		a := decimal.Min(r.amount, left)
		if a.Sign() <= 0 {
			continue
		}
		left = left.Sub(a)
		events = append(events, Event{EventID: eventID(platform, id, "refund", r.id), Type: schemas.TypeOrderRefunded, OrderID: id,
			OccurredAt: modified, RefundAmount: a.String()})
	}

	switch {
	case state == WooCompleted || state == d.ConfirmOn:
		events = append(events, Event{EventID: eventID(platform, id, "confirmed"), Type: schemas.TypeOrderConfirmed, OrderID: id,
			OccurredAt: laterTime(modified, o.DateCompleted, o.DatePaidGMT)})
	case state == WooCancelled:
		events = append(events, Event{EventID: eventID(platform, id, "cancelled"), Type: schemas.TypeOrderCancelled, OrderID: id,
			OccurredAt: modified})
	case state == WooRefunded && left.Sign() > 0:
		events = append(events, Event{EventID: eventID(platform, id, "refunded"), Type: schemas.TypeOrderRefunded, OrderID: id,
			OccurredAt: modified, RefundAmount: left.String()})
	}
	return Translation{Events: events}, nil
}
