package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/connectors"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

// shopRig is a rig whose brand has a Shopify connector (secret shopSecret)
// and a WooCommerce connector (wooSecret), served by the rig's webhook's
// Shop handler on the API's routes.
type shopRig struct {
	*rig
	srv        *httptest.Server
	deliveries *ingest.RedisDeliveries
	proj       *rediscatalog.Projection
	offset     int64
}

const (
	shopSecret = "shpss_f1e2d3c4b5a69788"
	wooSecret  = "wc secret, typed by hand"
)

func newShopRig(t testing.TB, o rigOptions) *shopRig {
	t.Helper()
	r := &shopRig{rig: newRig(t, o)}
	var err error
	r.proj, err = rediscatalog.New(rediscatalog.Config{Client: r.redis, Prefix: r.prefix + "catalog:", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.setConnector("shopify", shopSecret, connectors.ShopifyOrdersPaid, time.Now())
	r.setConnector("woocommerce", wooSecret, connectors.WooCompleted, time.Now())
	r.deliveries = &ingest.RedisDeliveries{Client: r.redis, Prefix: r.prefix}
	// Connectors cached for a second, so that a test sees a change of
	// secret by waiting that long.
	cache := ingest.NewCachedConnectors(testConnectors{p: r.proj, rig: r.rig})
	cache.TTL = time.Second
	shop, err := r.hook.Shop(ingest.ShopConfig{
		Connectors: cache,
		Deliveries: r.deliveries,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range connectors.Names() {
		mux.Handle("POST /v1/webhooks/"+p+"/{brand_id}", shop)
	}
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// setConnector applies a connector.set of the brand to the projection, as
// the catalog would after PUT /v1/connectors/{platform}.
func (r *shopRig) setConnector(platform, secret, confirmOn string, at time.Time) {
	r.t.Helper()
	sealed, err := r.key.SealConnectorSecret(r.brand, platform, secret)
	if err != nil {
		r.t.Fatal(err)
	}
	env, err := schemas.NewEnvelopeFor(schemas.ConnectorSet{BrandID: r.brand, Platform: platform, ConfirmOn: confirmOn,
		SecretSealed: sealed, SecretFingerprint: r.key.ConnectorSecretFingerprint(r.brand, platform, secret)}, at, at)
	if err != nil {
		r.t.Fatal(err)
	}
	r.offset++
	if err := r.proj.Apply(context.Background(), &eventstore.Batch{Topic: schemas.TopicCatalog,
		Messages: []eventstore.Message{{Topic: schemas.TopicCatalog, Offset: r.offset, Envelope: env}}}); err != nil {
		r.t.Fatal(err)
	}
}

// testConnectors is cmd/attrib's connector source, for this package's
// tests: the projection's connector, its secrets opened with the rig's key.
type testConnectors struct {
	p   *rediscatalog.Projection
	rig *rig
}

func (s testConnectors) Connector(ctx context.Context, brandID, platform string) (ingest.Connector, bool, error) {
	conns, err := s.p.Connectors(ctx, brandID)
	if err != nil {
		return ingest.Connector{}, false, err
	}
	for _, c := range conns {
		if c.Platform != platform {
			continue
		}
		cur, err := s.rig.key.OpenConnectorSecret(brandID, platform, c.SecretSealed)
		if err != nil {
			return ingest.Connector{}, false, err
		}
		ring := ingest.Keyring{Current: cur}
		if c.PreviousSealed != "" {
			ring.Previous, _ = s.rig.key.OpenConnectorSecret(brandID, platform, c.PreviousSealed)
			ring.PreviousValidUntil = c.PreviousValidUntil
		}
		return ingest.Connector{Keyring: ring, ConfirmOn: c.ConfirmOn}, true, nil
	}
	return ingest.Connector{}, false, nil
}

// shopify posts a Shopify delivery of topic, signed with secret ("" for
// none), with Shopify's event id.
func (r *shopRig) shopify(topic, eventID, secret, body string) reply {
	r.t.Helper()
	h := map[string]string{"X-Shopify-Topic": topic, "X-Shopify-Event-Id": eventID, "X-Shopify-Webhook-Id": testenv.UniqueName("wh-"),
		"X-Shopify-Shop-Domain": "acme.myshopify.com", "X-Shopify-Triggered-At": time.Now().UTC().Format(time.RFC3339Nano),
		"Content-Type": "application/json"}
	if secret != "" {
		h["X-Shopify-Hmac-Sha256"] = ingest.SignShop(secret, []byte(body))
	}
	return r.platformPost("shopify", r.brand, body, h)
}

// woo posts a WooCommerce delivery of topic signed with secret ("" for
// none).
func (r *shopRig) woo(topic, secret, body string) reply {
	r.t.Helper()
	h := map[string]string{"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": "1", "Content-Type": "application/json"}
	if secret != "" {
		h["X-WC-Webhook-Signature"] = ingest.SignShop(secret, []byte(body))
	}
	return r.platformPost("woocommerce", r.brand, body, h)
}

func (r *shopRig) platformPost(platform, brand, body string, headers map[string]string) reply {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/v1/webhooks/"+platform+"/"+brand, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	return r.do(req)
}

func (rep reply) expectOK(t testing.TB, accepted, duplicates int) {
	t.Helper()
	if rep.status != http.StatusOK || rep.Accepted != accepted || rep.Duplicates != duplicates {
		t.Fatalf("got %d %s, want 200 accepted %d duplicates %d", rep.status, rep.raw, accepted, duplicates)
	}
}

// lastDelivery returns the last delivery recorded for the brand's
// connector of platform.
func (r *shopRig) lastDelivery(platform string) ingest.Delivery {
	r.t.Helper()
	if err := r.deliveries.Flush(); err != nil {
		r.t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // a background flush in flight
	last, err := r.deliveries.LastDeliveries(context.Background(), r.brand)
	if err != nil {
		r.t.Fatal(err)
	}
	return last[platform]
}

const shopifyCreate = `{"id": 9007199254740993, "created_at": "2026-11-24T13:05:17+03:00", "currency": "RUB", "presentment_currency": "USD",
  "subtotal_price": "2250.00", "discount_codes": [{"code": "anna10"}], "shipping_address": {"country_code": "RU"}, "test": false,
  "updated_at": "2026-11-24T13:06:00+03:00"}`

// TestShopWebhookSignatures: only the platform's signature by the
// connector's secret (or, for 24 hours, the one it replaced) lets a
// delivery in; everything refused records nothing and says why; the
// WooCommerce ping is answered before any connector is set.
func TestShopWebhookSignatures(t *testing.T) {
	r := newShopRig(t, rigOptions{})
	const eid = "ev-1"
	for _, tc := range []struct {
		name string
		rep  reply
		code string
	}{
		{"no signature", r.shopify("orders/create", eid, "", shopifyCreate), "unauthorized"},
		{"wrong secret", r.shopify("orders/create", eid, "shpss_guess", shopifyCreate), "unauthorized"},
		{"WooCommerce's secret on Shopify", r.shopify("orders/create", eid, wooSecret, shopifyCreate), "unauthorized"},
		{"malformed signature", r.platformPost("shopify", r.brand, shopifyCreate, map[string]string{"X-Shopify-Topic": "orders/create",
			"X-Shopify-Hmac-Sha256": "not base64!"}), "unauthorized"},
		{"body changed after signing", r.platformPost("shopify", r.brand, shopifyCreate+" ", map[string]string{"X-Shopify-Topic": "orders/create",
			"X-Shopify-Hmac-Sha256": ingest.SignShop(shopSecret, []byte(shopifyCreate))}), "unauthorized"},
		{"another brand", r.platformPost("shopify", "b_nobody", shopifyCreate, map[string]string{"X-Shopify-Topic": "orders/create",
			"X-Shopify-Hmac-Sha256": ingest.SignShop(shopSecret, []byte(shopifyCreate))}), "unauthorized"},
		{"unsigned WooCommerce order", r.woo("order.created", "", `{"id": 5, "status": "processing"}`), "unauthorized"},
	} {
		if tc.rep.status != http.StatusUnauthorized || tc.rep.Error.Code != tc.code || tc.rep.Error.Message == "" {
			t.Errorf("%s: %d %s, want 401 %s with a message", tc.name, tc.rep.status, tc.rep.raw, tc.code)
		}
	}
	// WooCommerce's ping, unsigned and form-encoded, even for a brand
	// without a connector.
	ping := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	r.platformPost("woocommerce", r.brand, "webhook_id=17", ping).expectOK(t, 0, 0)
	r.platformPost("woocommerce", "b_not_connected", "webhook_id=17", ping).expectOK(t, 0, 0)
	if evs := r.events(); len(evs) != 0 {
		t.Fatalf("refused deliveries and pings recorded %d events", len(evs))
	}
	if d := r.lastDelivery("shopify"); d != (ingest.Delivery{}) {
		t.Fatalf("an unsigned or wrongly signed delivery became the last delivery: %+v", d)
	}

	// A new secret: the old one verifies during its grace, the new one at
	// once.
	r.setConnector("shopify", shopSecret+"-2", connectors.ShopifyOrdersPaid, time.Now())
	time.Sleep(1100 * time.Millisecond) // past the cache's TTL
	r.shopify("orders/create", "ev-new", shopSecret+"-2", shopifyCreate).expectOK(t, 1, 0)
	r.shopify("orders/create", "ev-old", shopSecret, shopifyCreate).expectOK(t, 0, 1)
	// A second change: its previous secret verifies, the first one's no
	// longer (only the newest previous secret is ever valid).
	r.setConnector("shopify", shopSecret+"-3", connectors.ShopifyOrdersPaid, time.Now())
	time.Sleep(1100 * time.Millisecond)
	r.shopify("orders/create", "ev-2", shopSecret+"-2", shopifyCreate).expectOK(t, 0, 1)
	if rep := r.shopify("orders/create", "ev-1", shopSecret, shopifyCreate); rep.status != http.StatusUnauthorized {
		t.Fatalf("the secret two changes ago: %d %s, want 401", rep.status, rep.raw)
	}
}

// TestShopWebhookRecords: deliveries go through the webhook's dedupe and
// log: event ids derive from the order and the state, Shopify's event id
// is a delivery's duplicate key, a later state first places the order, a
// test order and unused topics record nothing, a body that is not an
// order is a 400 naming the field, and each signed delivery is the
// connector's last delivery.
func TestShopWebhookRecords(t *testing.T) {
	r := newShopRig(t, rigOptions{})
	paid := strings.Replace(shopifyCreate, "9007199254740993", "9007199254740995", 1)
	// orders/paid of an order first: it places and confirms.
	r.shopify("orders/paid", "e-paid", shopSecret, paid).expectOK(t, 2, 0)
	// Its orders/create later: the placement is a duplicate.
	r.shopify("orders/create", "e-create", shopSecret, paid).expectOK(t, 0, 1)
	// Shopify retries a delivery with the same event id: all duplicates.
	r.shopify("orders/paid", "e-paid", shopSecret, paid).expectOK(t, 0, 2)
	// Shopify's event id is the delivery's duplicate key: a delivery with
	// an event id already recorded records nothing, whatever it carries.
	other := strings.Replace(shopifyCreate, "9007199254740993", "9007199254740997", 1)
	r.shopify("orders/create", "e-paid", shopSecret, other).expectOK(t, 0, 1)
	r.shopify("orders/paid", "e-paid", shopSecret, paid).expectOK(t, 0, 2)
	if d := r.lastDelivery("shopify"); d.Topic != "orders/paid" || d.Outcome != ingest.DeliveryDuplicate {
		t.Fatalf("last delivery %+v, want orders/paid duplicate", d)
	}
	// An order id beyond 2^53, exactly.
	r.shopify("orders/create", "e-big", shopSecret, shopifyCreate).expectOK(t, 1, 0)
	if d := r.lastDelivery("shopify"); d.Outcome != ingest.DeliveryAccepted || d.At.IsZero() {
		t.Fatalf("last delivery %+v, want accepted", d)
	}
	// A test order: nothing, but seen.
	r.shopify("orders/create", "e-test", shopSecret, strings.Replace(shopifyCreate, `"test": false`, `"test": true`, 1)).expectOK(t, 0, 0)
	if d := r.lastDelivery("shopify"); d.Outcome != ingest.DeliveryTest {
		t.Fatalf("last delivery %+v, want test", d)
	}
	// A topic the engine does not use.
	r.shopify("orders/updated", "e-upd", shopSecret, shopifyCreate).expectOK(t, 0, 0)
	if d := r.lastDelivery("shopify"); d.Outcome != ingest.DeliveryIgnored {
		t.Fatalf("last delivery %+v, want ignored", d)
	}
	// Not an order.
	rep := r.shopify("orders/create", "e-bad", shopSecret, `{"id": 5, "created_at": "soon"}`)
	rep.expect(t, http.StatusBadRequest, "invalid_field", "created_at")
	if d := r.lastDelivery("shopify"); d.Outcome != ingest.DeliveryError {
		t.Fatalf("last delivery %+v, want error", d)
	}

	// WooCommerce: a refunded snapshot first places and refunds; resent
	// twice (delivery ids are not unique) it records nothing more.
	refunded := `{"id": 727, "status": "refunded", "currency": "RUB", "date_created_gmt": "2026-11-24T10:00:00",
	  "line_items": [{"total": "1500.00"}], "coupon_lines": [{"code": "anna10"}], "billing": {"country": "RU"},
	  "refunds": [{"id": 731, "total": "-1600.00"}]}`
	r.woo("order.updated", wooSecret, refunded).expectOK(t, 2, 0)
	r.woo("order.updated", wooSecret, refunded).expectOK(t, 0, 2)
	r.woo("order.updated", wooSecret, refunded).expectOK(t, 0, 2)
	r.woo("order.created", wooSecret, `{"id": 728, "status": "checkout-draft"}`).expectOK(t, 0, 0)
	r.woo("order.deleted", wooSecret, `{"id": 729}`).expectOK(t, 1, 0)
	r.woo("order.created", wooSecret, `{"id": 730, "status": "processing", "currency": "RUB", "date_created_gmt": "2026-11-24T10:00:00",
	  "line_items": [{"total": "x"}]}`).expect(t, http.StatusBadRequest, "invalid_field", "line_items[0].total")

	want := map[string]string{ // envelope's shop event id -> type
		"shopify/9007199254740995/placed":    schemas.TypeOrderPlaced,
		"shopify/9007199254740995/confirmed": schemas.TypeOrderConfirmed,
		"shopify/9007199254740993/placed":    schemas.TypeOrderPlaced,
		"woocommerce/727/placed":             schemas.TypeOrderPlaced,
		"woocommerce/727/refund/731":         schemas.TypeOrderRefunded,
		"woocommerce/729/cancelled":          schemas.TypeOrderCancelled,
	}
	evs := r.events()
	if len(evs) != len(want) {
		t.Fatalf("%d events in the log, want %d: %v", len(evs), len(want), evs)
	}
	for _, env := range evs {
		ev, err := schemas.Decode(env)
		if err != nil {
			t.Fatalf("decode %s: %v", env.Type, err)
		}
		var shopID, order string
		switch e := ev.(type) {
		case *schemas.OrderPlaced:
			shopID, order = e.ShopEventID, e.OrderID
			if e.OrderID == "9007199254740993" && (e.Amount != "2250.00" || e.Currency != "RUB" || e.Country != "RU" ||
				len(e.PromoCodes) != 1 || !env.OccurredAt.Equal(time.Date(2026, 11, 24, 10, 5, 17, 0, time.UTC))) {
				t.Errorf("placement %+v at %s", e, env.OccurredAt)
			}
		case *schemas.OrderConfirmed:
			shopID, order = e.ShopEventID, e.OrderID
		case *schemas.OrderCancelled:
			shopID, order = e.ShopEventID, e.OrderID
		case *schemas.OrderRefunded:
			shopID, order = e.ShopEventID, e.OrderID
			if e.RefundAmount != "1500" {
				t.Errorf("refund %s, want 1500 (capped at the base)", e.RefundAmount)
			}
		}
		if want[shopID] != env.Type || env.EventID != ingest.EventID(r.brand, shopID) || env.AggregateKey != schemas.OrderKey(r.brand, order) {
			t.Errorf("event %s %s (id %s, key %s) not wanted", env.Type, shopID, env.EventID, env.AggregateKey)
		}
	}
}
