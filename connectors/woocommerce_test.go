package connectors_test

import (
	"testing"

	"github.com/attrib-engine/attrib/connectors"
	"github.com/attrib-engine/attrib/schemas"
)

// wooOrder is shaped like WooCommerce's REST API v3 order (the webhook's
// body), with our own values: line items whose totals are the commission
// base (1500.00 + 300.00), tax and shipping beside them, an empty shipping
// address, dates in UTC without an offset.
const wooOrder = `{
  "id": 727,
  "parent_id": 0,
  "number": "727",
  "order_key": "wc_order_58d2d042d1d",
  "created_via": "checkout",
  "version": "9.4.1",
  "status": "processing",
  "currency": "RUB",
  "date_created": "2026-11-24T13:00:00",
  "date_created_gmt": "2026-11-24T10:00:00",
  "date_modified": "2026-11-24T13:00:05",
  "date_modified_gmt": "2026-11-24T10:00:05",
  "discount_total": "200.00",
  "shipping_total": "350.00",
  "total": "2165.00",
  "total_tax": "315.00",
  "prices_include_tax": false,
  "customer_id": 26,
  "billing": {"first_name": "Olga", "city": "Moscow", "country": "RU", "email": "olga@example.com"},
  "shipping": {"first_name": "", "city": "", "country": ""},
  "payment_method": "bacs",
  "date_paid_gmt": "2026-11-24T10:00:04",
  "date_completed_gmt": null,
  "meta_data": [{"id": 13106, "key": "_download_permissions_granted", "value": "yes"}],
  "line_items": [
    {"id": 315, "name": "Serum", "product_id": 93, "quantity": 1, "subtotal": "1600.00", "total": "1500.00", "total_tax": "262.50", "taxes": [{"id": 75, "total": "262.5"}]},
    {"id": 316, "name": "Cream", "product_id": 22, "quantity": 2, "subtotal": "400.00", "total": "300.00", "total_tax": "52.50"}
  ],
  "tax_lines": [{"id": 318, "rate_code": "RU-VAT-1", "tax_total": "315.00"}],
  "shipping_lines": [{"id": 317, "method_title": "Courier", "total": "350.00"}],
  "fee_lines": [],
  "coupon_lines": [{"id": 319, "code": "anna10", "discount": "200.00", "discount_tax": "0.00"}],
  "refunds": []
}`

func TestWooCommerceTranslate(t *testing.T) {
	const id = "727"
	placedEv := connectors.Event{EventID: "woocommerce/727/placed", Type: schemas.TypeOrderPlaced, OrderID: id,
		OccurredAt: at("2026-11-24T10:00:00Z"), PromoCodes: []string{"anna10"}, Amount: "1800.00", Currency: "RUB", Country: "RU"}
	modified := at("2026-11-24T10:00:05Z")
	withPlaced := func(evs ...connectors.Event) []connectors.Event { return append([]connectors.Event{placedEv}, evs...) }
	confirmedAt := func(ts string) connectors.Event {
		return connectors.Event{EventID: "woocommerce/727/confirmed", Type: schemas.TypeOrderConfirmed, OrderID: id, OccurredAt: at(ts)}
	}
	cancelled := connectors.Event{EventID: "woocommerce/727/cancelled", Type: schemas.TypeOrderCancelled, OrderID: id, OccurredAt: modified}
	refund := func(rid, amount string) connectors.Event {
		return connectors.Event{EventID: "woocommerce/727/refund/" + rid, Type: schemas.TypeOrderRefunded, OrderID: id, OccurredAt: modified, RefundAmount: amount}
	}
	whole := func(amount string) connectors.Event {
		return connectors.Event{EventID: "woocommerce/727/refunded", Type: schemas.TypeOrderRefunded, OrderID: id, OccurredAt: modified, RefundAmount: amount}
	}
	status := func(s string) string { return edit(t, wooOrder, "status", `"`+s+`"`) }
	completed := edit(t, wooOrder, "status", `"completed"`, "date_completed_gmt", `"2026-11-27T08:00:00"`)
	runTranslate(t, "woocommerce", []translateCase{
		{name: "processing places; base is the line items' totals, no tax or shipping; billing country when shipping's is empty",
			topic: connectors.WooOrderCreated, body: wooOrder, want: withPlaced()},
		{name: "pending places", topic: connectors.WooOrderCreated, body: status("pending"), want: withPlaced()},
		{name: "on-hold places", topic: connectors.WooOrderUpdated, body: status("on-hold"), want: withPlaced()},
		{name: "completed confirms at date_completed_gmt (and places, if first)",
			topic: connectors.WooOrderUpdated, body: completed, want: withPlaced(confirmedAt("2026-11-27T08:00:00Z"))},
		{name: "processing confirms when it is confirm_on, at date_paid_gmt",
			topic: connectors.WooOrderUpdated, confirmOn: connectors.WooProcessing, body: wooOrder, want: withPlaced(confirmedAt("2026-11-24T10:00:04Z"))},
		{name: "completed confirms when processing is confirm_on too",
			topic: connectors.WooOrderUpdated, confirmOn: connectors.WooProcessing, body: completed, want: withPlaced(confirmedAt("2026-11-27T08:00:00Z"))},
		{name: "cancelled cancels", topic: connectors.WooOrderUpdated, body: status("cancelled"), want: withPlaced(cancelled)},
		{name: "failed cancels", topic: connectors.WooOrderUpdated, body: status("failed"), want: withPlaced(cancelled)},
		{name: "trash cancels", topic: connectors.WooOrderUpdated, body: status("trash"), want: withPlaced(cancelled)},
		{name: "order.deleted carries only an id: cancelled when received",
			topic: connectors.WooOrderDeleted, body: `{"id": 727}`,
			want: []connectors.Event{{EventID: "woocommerce/727/cancelled", Type: schemas.TypeOrderCancelled, OrderID: id, OccurredAt: received}}},
		{name: "refunded without refund entries refunds the whole base",
			topic: connectors.WooOrderUpdated, body: status("refunded"), want: withPlaced(whole("1800"))},
		{name: "a full refund as status and entry is counted once (entry capped at the base, nothing more)",
			topic: connectors.WooOrderUpdated, body: edit(t, wooOrder, "status", `"refunded"`, "refunds", `[{"id": 731, "reason": "", "total": "-2165.00"}]`),
			want: withPlaced(refund("731", "1800"))},
		{name: "partial refunds, negative strings with shipping and tax, oldest first, capped at what is left",
			topic: connectors.WooOrderUpdated, body: edit(t, wooOrder, "refunds", `[{"id": 733, "reason": "", "total": "-1500.00"}, {"id": 731, "reason": "", "total": "-500.00"}]`),
			want: withPlaced(refund("731", "500"), refund("733", "1300"))},
		{name: "refunded with partial entries refunds what they leave",
			topic: connectors.WooOrderUpdated, body: edit(t, wooOrder, "status", `"refunded"`, "refunds", `[{"id": 731, "total": "-500.00"}]`),
			want: withPlaced(refund("731", "500"), whole("1300"))},
		{name: "checkout-draft: nothing", topic: connectors.WooOrderCreated, body: status("checkout-draft")},
		{name: "a plugin's status: nothing", topic: connectors.WooOrderUpdated, body: status("wc-awaiting-shipment")},
		{name: "a topic the engine does not use: nothing", topic: "coupon.created", body: `{"id": 5, "code": "x"}`},
		{name: "action topics: nothing", topic: "action.woocommerce_order_status_changed", body: `{"action": "x", "arg": 727}`},
		{name: "unknown fields everywhere",
			topic: connectors.WooOrderCreated, body: edit(t, wooOrder, "x_plugin", `{"deep": [true, null]}`, "coupon_lines", `[{"code": "anna10", "meta_data": [{"key": "k", "value": {"a": 1}}]}]`),
			want: withPlaced()},
		{name: "no coupons, no address", topic: connectors.WooOrderCreated, body: edit(t, wooOrder, "coupon_lines", "[]", "billing", "", "shipping", ""),
			want: []connectors.Event{withCodes(withCountry(placedEv, "ZZ"))}},
		{name: "no id", topic: connectors.WooOrderCreated, body: edit(t, wooOrder, "id", ""), errField: "id"},
		{name: "order.deleted without an id", topic: connectors.WooOrderDeleted, body: `{}`, errField: "id"},
		{name: "no date_created_gmt", topic: connectors.WooOrderCreated, body: edit(t, wooOrder, "date_created_gmt", ""), errField: "date_created_gmt"},
		{name: "a line item's total that is not an amount", topic: connectors.WooOrderCreated,
			body: edit(t, wooOrder, "line_items", `[{"total": "1500.00"}, {"total": "lots"}]`), errField: "line_items[1].total"},
		{name: "a refund without id", topic: connectors.WooOrderUpdated, body: edit(t, wooOrder, "refunds", `[{"total": "-1.00"}]`), errField: "refunds[0].id"},
		{name: "status of the wrong type", topic: connectors.WooOrderUpdated, body: edit(t, wooOrder, "status", `7`), errField: "status"},
		{name: "a body that is not an order", topic: connectors.WooOrderCreated, body: `webhook_id=12`, errField: "-"},
	})
}

func TestWooCommercePing(t *testing.T) {
	p, _ := connectors.Lookup("woocommerce")
	for _, tc := range []struct {
		name, topic, body string
		ping              bool
	}{
		{"the ping", "", "webhook_id=12", true},
		{"with a line break", "", "webhook_id=12\n", true},
		{"with a topic", connectors.WooOrderCreated, "webhook_id=12", false},
		{"not digits", "", "webhook_id=12&x=1", false},
		{"empty id", "", "webhook_id=", false},
		{"an order", "", wooOrder, false},
	} {
		if got := p.Ping(connectors.Delivery{Topic: tc.topic, Body: []byte(tc.body)}); got != tc.ping {
			t.Errorf("%s: Ping = %v, want %v", tc.name, got, tc.ping)
		}
	}
}
