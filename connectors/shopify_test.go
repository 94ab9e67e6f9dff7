package connectors_test

import (
	"testing"

	"github.com/attrib-engine/attrib/connectors"
	"github.com/attrib-engine/attrib/schemas"
)

// shopifyOrder is shaped like Shopify's sample order payload (the fields
// the engine reads and a sample of those it does not), with our own
// values: an id beyond 2^53, created_at with an offset, the shop's
// currency (RUB) beside another presentment currency (KZT).
const shopifyOrder = `{
  "id": 5999436791238712345,
  "admin_graphql_api_id": "gid://shopify/Order/5999436791238712345",
  "app_id": 580111,
  "browser_ip": "203.0.113.7",
  "buyer_accepts_marketing": false,
  "cancel_reason": null,
  "cancelled_at": null,
  "checkout_id": 36141922500000,
  "confirmation_number": "KP9XA2BQZ",
  "confirmed": true,
  "created_at": "2026-11-24T13:05:17+03:00",
  "currency": "RUB",
  "current_subtotal_price": "2250.00",
  "customer_locale": "ru",
  "discount_codes": [{"code": "anna10", "amount": "250.00", "type": "fixed_amount"}, {"code": "FREESHIP", "amount": "0.00", "type": "shipping"}],
  "email": "buyer@example.com",
  "financial_status": "paid",
  "fulfillment_status": null,
  "name": "#1042",
  "order_number": 1042,
  "presentment_currency": "KZT",
  "processed_at": "2026-11-24T13:05:16+03:00",
  "subtotal_price": "2250.00",
  "subtotal_price_set": {"shop_money": {"amount": "2250.00", "currency_code": "RUB"}, "presentment_money": {"amount": "12375.00", "currency_code": "KZT"}},
  "tags": "",
  "taxes_included": true,
  "test": false,
  "total_price": "2650.00",
  "total_price_set": {"shop_money": {"amount": "2650.00", "currency_code": "RUB"}, "presentment_money": {"amount": "14575.00", "currency_code": "KZT"}},
  "total_tax": "375.00",
  "updated_at": "2026-11-24T13:07:02+03:00",
  "billing_address": {"first_name": "Ivan", "country": "Kazakhstan", "country_code": "KZ", "zip": "050000"},
  "shipping_address": {"first_name": "Ivan", "country": "Russia", "country_code": "RU", "zip": "101000"},
  "line_items": [{"id": 13944012345678901, "price": "2500.00", "quantity": 1, "title": "Serum", "total_discount": "250.00"}],
  "shipping_lines": [{"price": "400.00", "title": "Courier"}],
  "refunds": []
}`

// shopifyRefund is shaped like Shopify's sample refunds/create payload:
// subtotals as JSON numbers, and an order adjustment for shipping.
const shopifyRefund = `{
  "id": 929361234567890123,
  "admin_graphql_api_id": "gid://shopify/Refund/929361234567890123",
  "created_at": "2026-11-26T09:00:00+03:00",
  "note": "damaged",
  "order_id": 5999436791238712345,
  "processed_at": "2026-11-26T09:00:01+03:00",
  "restock": true,
  "user_id": 548380009,
  "order_adjustments": [{"id": 1, "amount": "-400.00", "kind": "shipping_refund"}],
  "transactions": [{"id": 389404469, "amount": "1249.99", "kind": "refund", "currency": "KZT"}],
  "refund_line_items": [
    {"id": 104689539, "quantity": 1, "line_item_id": 13944012345678901, "subtotal": 749.99, "total_tax": 125.0,
     "subtotal_set": {"shop_money": {"amount": "749.99", "currency_code": "RUB"}, "presentment_money": {"amount": "4124.95", "currency_code": "KZT"}}},
    {"id": 104689540, "quantity": 1, "line_item_id": 13944012345678902, "subtotal": 100.01, "total_tax": 16.67}
  ]
}`

func TestShopifyTranslate(t *testing.T) {
	const id = "5999436791238712345"
	placedEv := connectors.Event{EventID: "shopify/" + id + "/placed", Type: schemas.TypeOrderPlaced, OrderID: id,
		OccurredAt: at("2026-11-24T13:05:17+03:00"), PromoCodes: []string{"anna10", "FREESHIP"},
		Amount: "2250.00", Currency: "RUB", Country: "RU"}
	withPlaced := func(evs ...connectors.Event) []connectors.Event { return append([]connectors.Event{placedEv}, evs...) }
	confirmed := connectors.Event{EventID: "shopify/" + id + "/confirmed", Type: schemas.TypeOrderConfirmed, OrderID: id,
		OccurredAt: at("2026-11-24T13:07:02+03:00")}
	cancelled := connectors.Event{EventID: "shopify/" + id + "/cancelled", Type: schemas.TypeOrderCancelled, OrderID: id,
		OccurredAt: at("2026-11-25T10:00:00+03:00")}
	refunded := func(amount string) []connectors.Event {
		return []connectors.Event{{EventID: "shopify/" + id + "/refund/929361234567890123", Type: schemas.TypeOrderRefunded, OrderID: id,
			OccurredAt: at("2026-11-26T09:00:00+03:00"), RefundAmount: amount}}
	}
	noShipping := edit(t, shopifyOrder, "shipping_address", "null")
	runTranslate(t, "shopify", []translateCase{
		{name: "orders/create places, id beyond 2^53 exact, shop currency, created_at with its offset",
			topic: connectors.ShopifyOrdersCreate, body: shopifyOrder, want: withPlaced()},
		{name: "orders/paid confirms (and places, if it comes first)",
			topic: connectors.ShopifyOrdersPaid, body: shopifyOrder, want: withPlaced(confirmed)},
		{name: "orders/paid when orders/fulfilled confirms: nothing",
			topic: connectors.ShopifyOrdersPaid, confirmOn: connectors.ShopifyOrdersFulfilled, body: shopifyOrder},
		{name: "orders/fulfilled when it confirms",
			topic: connectors.ShopifyOrdersFulfilled, confirmOn: connectors.ShopifyOrdersFulfilled, body: shopifyOrder, want: withPlaced(confirmed)},
		{name: "orders/fulfilled when orders/paid confirms: nothing",
			topic: connectors.ShopifyOrdersFulfilled, body: shopifyOrder},
		{name: "orders/cancelled cancels at cancelled_at",
			topic: connectors.ShopifyOrdersCancelled, body: edit(t, shopifyOrder, "cancelled_at", `"2026-11-25T10:00:00+03:00"`, "cancel_reason", `"customer"`),
			want: withPlaced(cancelled)},
		{name: "refunds/create: the sum of the line items' subtotals in the shop's currency, numbers read exactly",
			topic: connectors.ShopifyRefundsCreate, body: shopifyRefund, want: refunded("850")},
		{name: "refunds/create of shipping only: nothing",
			topic: connectors.ShopifyRefundsCreate, body: edit(t, shopifyRefund, "refund_line_items", `[]`)},
		{name: "refunds/create with subtotal only as a number",
			topic: connectors.ShopifyRefundsCreate, body: edit(t, shopifyRefund, "refund_line_items", `[{"id": 1, "subtotal": 0.1}, {"id": 2, "subtotal": 0.2}]`),
			want: refunded("0.3")},
		{name: "test order: nothing recorded, a test",
			topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "test", "true"), test: true},
		{name: "test order on the confirming topic",
			topic: connectors.ShopifyOrdersPaid, body: edit(t, shopifyOrder, "test", "true"), test: true},
		{name: "id sent as a string",
			topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "id", `"5999436791238712345"`), want: withPlaced()},
		{name: "no shipping address: the billing country",
			topic: connectors.ShopifyOrdersCreate, body: noShipping, want: []connectors.Event{withCountry(placedEv, "KZ")}},
		{name: "no address at all: unknown country",
			topic: connectors.ShopifyOrdersCreate, body: edit(t, noShipping, "billing_address", ""), want: []connectors.Event{withCountry(placedEv, "ZZ")}},
		{name: "without subtotal_price_set: subtotal_price and currency",
			topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "subtotal_price_set", ""), want: withPlaced()},
		{name: "no discount codes",
			topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "discount_codes", "[]"), want: []connectors.Event{withCodes(placedEv)}},
		{name: "unknown fields everywhere",
			topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "x_new", `{"deep": [1, {"a": null}]}`, "discount_codes", `[{"code": "anna10", "new": {"x": 1}}, {"code": "FREESHIP"}]`),
			want: withPlaced()},
		{name: "topics the engine does not use: nothing",
			topic: "orders/updated", body: shopifyOrder},
		{name: "an unused topic's body is not read",
			topic: "customers/create", body: `{"id": "not an order"`},
		{name: "no id", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "id", ""), errField: "id"},
		{name: "id not an integer", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "id", "1.5"), errField: "id"},
		{name: "id of the wrong type", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "id", "{}"), errField: "id"},
		{name: "bad created_at", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "created_at", `"yesterday"`), errField: "created_at"},
		{name: "bad subtotal", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "subtotal_price_set", "", "subtotal_price", `"a lot"`), errField: "subtotal_price"},
		{name: "bad currency", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "subtotal_price_set", "", "currency", `"rub"`), errField: "currency"},
		{name: "test of the wrong type", topic: connectors.ShopifyOrdersCreate, body: edit(t, shopifyOrder, "test", `"yes"`), errField: "test"},
		{name: "not JSON", topic: connectors.ShopifyOrdersCreate, body: `{"id": 1,`, errField: "-"},
		{name: "an array", topic: connectors.ShopifyOrdersCreate, body: `[1]`, errField: "-"},
		{name: "a refund without order_id", topic: connectors.ShopifyRefundsCreate, body: edit(t, shopifyRefund, "order_id", ""), errField: "order_id"},
		{name: "a negative refund subtotal", topic: connectors.ShopifyRefundsCreate, body: edit(t, shopifyRefund, "refund_line_items", `[{"subtotal": -5}]`),
			errField: "refund_line_items[0].subtotal"},
	})
}

func withCountry(e connectors.Event, c string) connectors.Event { e.Country = c; return e }

func withCodes(e connectors.Event, codes ...string) connectors.Event {
	e.PromoCodes = append([]string{}, codes...)
	return e
}
