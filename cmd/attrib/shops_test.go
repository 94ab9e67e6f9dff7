package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// shopPost posts a shop platform's delivery as the platform sends it: the
// raw body, signed (base64 HMAC-SHA256 of the body) with secret unless it
// is "", and the platform's headers.
func (e *engine) shopPost(platform, brandID, secret, body string, headers map[string]string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.base+"/v1/webhooks/"+platform+"/"+brandID, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if secret != "" {
		sig := map[string]string{"shopify": "X-Shopify-Hmac-Sha256", "woocommerce": "X-WC-Webhook-Signature"}[platform]
		req.Header.Set(sig, ingest.SignShop(secret, []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// shopifyOrderJSON is a Shopify order (the fields the engine reads among
// some it does not) placed at placed with code, its subtotal in RUB (the
// shop's currency) beside a presentment currency, and created_at with a
// +03:00 offset.
func shopifyOrderJSON(id string, placed, updated time.Time, subtotal, code string, test bool) string {
	msk := time.FixedZone("MSK", 3*3600)
	return fmt.Sprintf(`{"id": %s, "name": "#%s", "created_at": %q, "updated_at": %q, "cancelled_at": null,
	  "currency": "RUB", "presentment_currency": "EUR", "subtotal_price": %q, "total_price": "9999.00",
	  "subtotal_price_set": {"shop_money": {"amount": %q, "currency_code": "RUB"}, "presentment_money": {"amount": "1.00", "currency_code": "EUR"}},
	  "discount_codes": [{"code": %q, "amount": "10.00", "type": "percentage"}], "test": %v,
	  "shipping_address": {"country_code": "RU"}, "line_items": [{"id": 1, "price": "1.00", "sku": null}]}`,
		id, id[len(id)-3:], placed.In(msk).Format(time.RFC3339), updated.In(msk).Format(time.RFC3339), subtotal, subtotal, code, test)
}

// wooOrderJSON is a WooCommerce order snapshot with one line item whose
// total is the base, tax and shipping beside it, and refunds.
func wooOrderJSON(id int, status string, placed, modified time.Time, total, code, refunds string) string {
	return fmt.Sprintf(`{"id": %d, "status": %q, "currency": "RUB", "date_created_gmt": %q, "date_modified_gmt": %q,
	  "total": "9999.00", "shipping_total": "300.00", "total_tax": "20.00",
	  "line_items": [{"id": 1, "name": "Serum", "total": %q, "total_tax": "20.00"}], "coupon_lines": [{"id": 2, "code": %q}],
	  "billing": {"country": "RU"}, "shipping": {"country": ""}, "refunds": [%s], "meta_data": []}`,
		id, status, placed.UTC().Format("2006-01-02T15:04:05"), modified.UTC().Format("2006-01-02T15:04:05"), total, code, refunds)
}

// TestShopConnectorsEndToEnd: a Shopify shop (brand B, 10 %) and a
// WooCommerce shop (brand A, 150.00 RUB per order) connected without code
// send their own webhooks through the whole engine; the creators' and
// the analyst's reports end with the exact statuses and earnings; a
// forged signature leaves no trace; the connectors show their last
// deliveries.
func TestShopConnectorsEndToEnd(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	r1 := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerA, "platform": "instagram"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r1+"/confirm", a.brandA, map[string]any{"code": "ANNA10"})
	r2 := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r2+"/confirm", a.brandB, map[string]any{"code": "BORIS5"})

	// WooCommerce pings when its webhook is saved, before the brand has
	// set the connector: 200, nothing recorded.
	if code, out := e.shopPost("woocommerce", a.brandAID, "", "webhook_id=42", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); code != 200 {
		t.Fatalf("ping = %d %v, want 200", code, out)
	}
	const shopSecret, wooSecret = "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", "my woo secret"
	e.must(200, "PUT", "/v1/connectors/shopify", a.brandB, map[string]any{"secret": shopSecret})
	e.must(200, "PUT", "/v1/connectors/woocommerce", a.brandA, map[string]any{"secret": wooSecret})

	t0 := time.Now().Add(2 * time.Second).Truncate(time.Second)
	shopify := func(topic, eventID, body string, wantAccepted, wantDups int) {
		t.Helper()
		code, out := e.shopPost("shopify", a.brandBID, shopSecret, body, map[string]string{"X-Shopify-Topic": topic,
			"X-Shopify-Event-Id": eventID, "X-Shopify-Webhook-Id": eventID + "-d", "X-Shopify-Shop-Domain": "bolt.myshopify.com",
			"X-Shopify-Triggered-At": time.Now().UTC().Format(time.RFC3339Nano)})
		if code != 200 || out["accepted"] != float64(wantAccepted) || out["duplicates"] != float64(wantDups) {
			t.Fatalf("shopify %s %s = %d %v, want 200 with %d accepted, %d duplicates", topic, eventID, code, out, wantAccepted, wantDups)
		}
	}
	// Ids beyond 2^53, as in Shopify's samples.
	const s1, s2, s3, s4, s5, s9 = "9007199254741001", "9007199254741002", "9007199254741003", "9007199254741004", "9007199254741005", "9007199254741009"
	shopify("orders/create", "e1", shopifyOrderJSON(s1, t0, t0, "1000.00", "boris5", false), 1, 0)
	// S-2 is paid before its create arrives: the paid snapshot places it.
	shopify("orders/paid", "e2p", shopifyOrderJSON(s2, t0, t0.Add(time.Second), "2000.00", "BORIS5", false), 2, 0)
	shopify("orders/create", "e2c", shopifyOrderJSON(s2, t0, t0, "2000.00", "BORIS5", false), 0, 1)
	shopify("orders/paid", "e2p", shopifyOrderJSON(s2, t0, t0.Add(time.Second), "2000.00", "BORIS5", false), 0, 2) // Shopify's retry
	shopify("orders/create", "e3", shopifyOrderJSON(s3, t0, t0, "1500.00", "boris5", false), 1, 0)
	shopify("refunds/create", "e3r", fmt.Sprintf(`{"id": 8800000000000000001, "order_id": %s, "created_at": %q, "restock": true,
	  "refund_line_items": [{"id": 1, "quantity": 1, "subtotal": 499.99, "total_tax": 0.0}, {"id": 2, "quantity": 1, "subtotal": 0.01}],
	  "order_adjustments": [{"amount": "-300.00", "kind": "shipping_refund"}]}`, s3, t0.Add(2*time.Second).Format(time.RFC3339)), 1, 0)
	shopify("refunds/create", "e3s", fmt.Sprintf(`{"id": 8800000000000000002, "order_id": %s, "created_at": %q, "refund_line_items": [],
	  "order_adjustments": [{"amount": "-300.00", "kind": "shipping_refund"}]}`, s3, t0.Add(3*time.Second).Format(time.RFC3339)), 0, 0)
	shopify("orders/create", "e4", shopifyOrderJSON(s4, t0, t0, "800.00", "boris5", false), 1, 0)
	cancelled := strings.Replace(shopifyOrderJSON(s4, t0, t0.Add(3*time.Second), "800.00", "boris5", false),
		`"cancelled_at": null`, fmt.Sprintf(`"cancelled_at": %q`, t0.Add(3*time.Second).Format(time.RFC3339)), 1)
	shopify("orders/cancelled", "e4c", cancelled, 1, 1)
	shopify("orders/create", "e5", shopifyOrderJSON(s5, t0, t0, "700.00", "boris5", true), 0, 0) // a test order
	// A forged delivery: refused, no trace.
	forged := shopifyOrderJSON(s9, t0, t0, "5000.00", "boris5", false)
	if code, out := e.shopPost("shopify", a.brandBID, "shpss_forged", forged, map[string]string{"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "e9"}); code != 401 {
		t.Fatalf("forged delivery = %d %v, want 401", code, out)
	}

	woo := func(topic, body string, wantAccepted, wantDups int) {
		t.Helper()
		code, out := e.shopPost("woocommerce", a.brandAID, wooSecret, body, map[string]string{"X-WC-Webhook-Topic": topic,
			"X-WC-Webhook-Delivery-ID": "7", "X-WC-Webhook-Source": "https://acme.example/"})
		if code != 200 || out["accepted"] != float64(wantAccepted) || out["duplicates"] != float64(wantDups) {
			t.Fatalf("woocommerce %s = %d %v, want 200 with %d accepted, %d duplicates", topic, code, out, wantAccepted, wantDups)
		}
	}
	m := t0.Add(2 * time.Second)
	woo("order.created", wooOrderJSON(101, "processing", t0, t0, "1000.00", "anna10", ""), 1, 0)
	woo("order.created", wooOrderJSON(102, "processing", t0, t0, "1200.00", "anna10", ""), 1, 0)
	woo("order.updated", wooOrderJSON(102, "completed", t0, m, "1200.00", "anna10", ""), 1, 1)
	woo("order.created", wooOrderJSON(103, "processing", t0, t0, "900.00", "anna10", ""), 1, 0)
	refundedW := wooOrderJSON(103, "refunded", t0, m, "900.00", "anna10", `{"id": 110, "reason": "", "total": "-1220.00"}`)
	woo("order.updated", refundedW, 1, 1)
	woo("order.updated", refundedW, 0, 2) // the same snapshot, resent twice
	woo("order.updated", refundedW, 0, 2)
	woo("order.created", wooOrderJSON(104, "pending", t0, t0, "500.00", "anna10", ""), 1, 0)
	woo("order.updated", wooOrderJSON(104, "cancelled", t0, m, "500.00", "anna10", ""), 1, 1)
	woo("order.created", wooOrderJSON(105, "processing", t0, t0, "600.00", "anna10", ""), 1, 0)
	woo("order.deleted", `{"id": 105}`, 1, 0)
	woo("order.created", wooOrderJSON(106, "checkout-draft", t0, t0, "300.00", "anna10", ""), 0, 0)

	type row struct{ status, earnings, amount string }
	want := map[string]row{
		s1: {"pending", "100.00", "1000.00"}, s2: {"approved", "200.00", "2000.00"},
		s3: {"pending", "100.00", "1500.00"}, s4: {"rejected", "0.00", "800.00"},
		"101": {"pending", "150.00", "1000.00"}, "102": {"approved", "150.00", "1200.00"},
		"103": {"rejected", "0.00", "900.00"}, "104": {"rejected", "0.00", "500.00"}, "105": {"rejected", "0.00", "600.00"},
	}
	report := func(token, query string) (map[string]row, map[string]any) {
		out := e.must(200, "GET", "/v1/reports/orders?limit=100&"+query, token, nil)
		got := map[string]row{}
		for _, o := range list(out, "orders") {
			got[str(o, "order_id")] = row{str(o, "status"), str(o, "earnings"), str(o, "amount")}
			if pa := str(o, "placed_at"); pa != t0.UTC().Format(time.RFC3339) {
				t.Errorf("order %s placed_at %s, want %s", str(o, "order_id"), pa, t0.UTC().Format(time.RFC3339))
			}
			if str(o, "currency") != "RUB" || str(o, "country") != "RU" {
				t.Errorf("order %s: %v, want RUB and RU", str(o, "order_id"), o)
			}
		}
		totals, _ := out["totals"].(map[string]any)
		return got, totals
	}
	pick := func(ids ...string) map[string]row {
		out := map[string]row{}
		for _, id := range ids {
			out[id] = want[id]
		}
		return out
	}
	checks := []struct {
		name, token, query string
		want               map[string]row
		earnings           string
	}{
		{"Boris (Shopify)", a.boris, "", pick(s1, s2, s3, s4), "400.00"},
		{"Anna (WooCommerce)", a.anna, "", pick("101", "102", "103", "104", "105"), "300.00"},
		{"analyst, brand B", a.analyst, "brand=" + a.brandBID, pick(s1, s2, s3, s4), "400.00"},
		{"analyst, brand A", a.analyst, "brand=" + a.brandAID, pick("101", "102", "103", "104", "105"), "300.00"},
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range checks {
		for {
			got, totals := report(c.token, c.query)
			earnings, _ := totals["earnings"].(map[string]any)
			if fmt.Sprint(got) == fmt.Sprint(c.want) && earnings["RUB"] == c.earnings {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: report %v, totals %v; want %v and %s RUB", c.name, got, totals, c.want, c.earnings)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Neither the test order, the draft nor the forged one is anywhere,
	// attributed or not.
	for _, id := range []string{s5, s9, "106"} {
		if got, _ := report(a.analyst, "order_id="+id); len(got) != 0 {
			t.Errorf("order %s is in the report: %v", id, got)
		}
	}
	unattributed := e.must(200, "GET", "/v1/analytics/unattributed", a.analyst, nil)
	if rows := list(unattributed, "orders"); len(rows) != 0 {
		t.Errorf("unattributed orders %v, want none", rows)
	}

	// The connectors' last deliveries.
	lastOf := func(token string) string {
		var out []string
		for _, c := range list(e.must(200, "GET", "/v1/connectors", token, nil), "connectors") {
			d, _ := c["last_delivery"].(map[string]any)
			out = append(out, str(c, "platform")+" "+str(d, "topic")+" "+str(d, "outcome"))
		}
		sort.Strings(out)
		return strings.Join(out, "; ")
	}
	deadline = time.Now().Add(10 * time.Second)
	for lastOf(a.brandB) != "shopify orders/create test" || lastOf(a.brandA) != "woocommerce order.created ignored" {
		if time.Now().After(deadline) {
			t.Fatalf("last deliveries: %q and %q, want the test order and the draft", lastOf(a.brandB), lastOf(a.brandA))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
