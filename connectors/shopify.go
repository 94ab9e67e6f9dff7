package connectors

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/schemas"
)

// Shopify's topics the engine uses (X-Shopify-Topic).
const (
	ShopifyOrdersCreate    = "orders/create"
	ShopifyOrdersPaid      = "orders/paid"
	ShopifyOrdersFulfilled = "orders/fulfilled"
	ShopifyOrdersCancelled = "orders/cancelled"
	ShopifyRefundsCreate   = "refunds/create"
)

func init() {
	register(Platform{
		Name:            "shopify",
		ConfirmOn:       []string{ShopifyOrdersPaid, ShopifyOrdersFulfilled},
		TopicHeader:     "X-Shopify-Topic",
		SignatureHeader: "X-Shopify-Hmac-Sha256",
		EventIDHeader:   "X-Shopify-Event-Id",
		Translate:       translateShopify,
	})
}

// shopifyMoney is one side of a Shopify price set.
type shopifyMoney struct {
	Amount       text   `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

// shopifyPriceSet is a Shopify amount in the shop's and the customer's
// currencies; the engine reads the shop's.
type shopifyPriceSet struct {
	ShopMoney *shopifyMoney `json:"shop_money"`
}

type shopifyAddress struct {
	CountryCode string `json:"country_code"`
}

// shopifyOrder is what the engine reads of Shopify's order JSON.
type shopifyOrder struct {
	ID               text             `json:"id"`
	Test             bool             `json:"test"`
	CreatedAt        string           `json:"created_at"`
	UpdatedAt        string           `json:"updated_at"`
	CancelledAt      string           `json:"cancelled_at"`
	Currency         string           `json:"currency"`
	SubtotalPrice    text             `json:"subtotal_price"`
	SubtotalPriceSet *shopifyPriceSet `json:"subtotal_price_set"`
	DiscountCodes    []struct {
		Code string `json:"code"`
	} `json:"discount_codes"`
	ShippingAddress *shopifyAddress `json:"shipping_address"`
	BillingAddress  *shopifyAddress `json:"billing_address"`
}

// shopifyRefund is what the engine reads of Shopify's refund JSON
// (refunds/create).
type shopifyRefund struct {
	ID              text   `json:"id"`
	OrderID         text   `json:"order_id"`
	CreatedAt       string `json:"created_at"`
	ProcessedAt     string `json:"processed_at"`
	RefundLineItems []struct {
		Subtotal    text             `json:"subtotal"`
		SubtotalSet *shopifyPriceSet `json:"subtotal_set"`
	} `json:"refund_line_items"`
}

// translateShopify: orders/create places the order; the confirm_on topic
// places and confirms it; orders/cancelled places and cancels it (Shopify
// delivers out of order: whichever comes first places the order, the
// others' placements are duplicates); refunds/create refunds the sum of
// its line items' subtotals in the shop's currency. Other topics, and test
// orders, record nothing.
func translateShopify(d Delivery) (Translation, error) {
	const platform = "shopify"
	switch d.Topic {
	case ShopifyRefundsCreate:
		return translateShopifyRefund(d)
	case ShopifyOrdersCreate, ShopifyOrdersCancelled, d.ConfirmOn:
	default:
		return Translation{}, nil
	}
	var o shopifyOrder
	if err := decode(d.Body, &o); err != nil {
		return Translation{}, err
	}
	id, err := orderID(o.ID, "id")
	if err != nil {
		return Translation{}, err
	}
	if o.Test {
		return Translation{Test: true}, nil
	}
	placed, err := placedTime(o.CreatedAt, "created_at")
	if err != nil {
		return Translation{}, err
	}
	sub, cur, field := o.SubtotalPrice, o.Currency, "subtotal_price"
	if o.SubtotalPriceSet != nil && o.SubtotalPriceSet.ShopMoney != nil && o.SubtotalPriceSet.ShopMoney.Amount.set {
		sub, field = o.SubtotalPriceSet.ShopMoney.Amount, "subtotal_price_set.shop_money.amount"
		if c := o.SubtotalPriceSet.ShopMoney.CurrencyCode; c != "" {
			cur = c
		}
	}
	if cur, err = currency(cur, "currency"); err != nil {
		return Translation{}, err
	}
	base, err := amount(sub, field)
	if err != nil {
		return Translation{}, err
	}
	amt, err := placeAmount(base, cur, field)
	if err != nil {
		return Translation{}, err
	}
	codes := make([]string, 0, len(o.DiscountCodes))
	for _, c := range o.DiscountCodes {
		codes = append(codes, c.Code)
	}
	var ship, bill string
	if o.ShippingAddress != nil {
		ship = o.ShippingAddress.CountryCode
	}
	if o.BillingAddress != nil {
		bill = o.BillingAddress.CountryCode
	}
	events := []Event{{
		EventID: eventID(platform, id, "placed"), Type: schemas.TypeOrderPlaced, OrderID: id, OccurredAt: placed,
		PromoCodes: promoCodes(codes), Amount: amt, Currency: cur, Country: countryOf(ship, bill),
	}}
	switch d.Topic {
	case ShopifyOrdersCancelled:
		events = append(events, Event{EventID: eventID(platform, id, "cancelled"), Type: schemas.TypeOrderCancelled, OrderID: id,
			OccurredAt: laterTime(placed, o.CancelledAt, o.UpdatedAt)})
	case d.ConfirmOn:
		events = append(events, Event{EventID: eventID(platform, id, "confirmed"), Type: schemas.TypeOrderConfirmed, OrderID: id,
			OccurredAt: laterTime(placed, o.UpdatedAt)})
	}
	return Translation{Events: events}, nil
}

// translateShopifyRefund reads refunds/create: one order.refunded of the
// sum of the refund's line items' subtotals (shop currency), or nothing
// for a refund of shipping or an adjustment only.
func translateShopifyRefund(d Delivery) (Translation, error) {
	var r shopifyRefund
	if err := decode(d.Body, &r); err != nil {
		return Translation{}, err
	}
	oid, err := orderID(r.OrderID, "order_id")
	if err != nil {
		return Translation{}, err
	}
	rid, err := orderID(r.ID, "id")
	if err != nil {
		return Translation{}, err
	}
	total := decimal.Zero
	for i, li := range r.RefundLineItems {
		v, field := li.Subtotal, "refund_line_items["+itoa(i)+"].subtotal"
		if li.SubtotalSet != nil && li.SubtotalSet.ShopMoney != nil && li.SubtotalSet.ShopMoney.Amount.set {
			v, field = li.SubtotalSet.ShopMoney.Amount, "refund_line_items["+itoa(i)+"].subtotal_set.shop_money.amount"
		}
		a, err := amount(v, field)
		if err != nil {
			return Translation{}, err
		}
		if a.Sign() < 0 {
			return Translation{}, bad(field, "must not be negative, got %s", v.s)
		}
		total = total.Add(a)
	}
	if total.Sign() == 0 {
		return Translation{}, nil
	}
	at := laterTime(time.Time{}, r.CreatedAt, r.ProcessedAt)
	if at.IsZero() {
		at = d.ReceivedAt
	}
	return Translation{Events: []Event{{
		EventID: eventID("shopify", oid, "refund", rid), Type: schemas.TypeOrderRefunded, OrderID: oid,
		OccurredAt: at, RefundAmount: total.String(),
	}}}, nil
}
