package ingest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/attrib-engine/attrib/connectors"
	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/schemas"
)

// Connector is what a shop platform's webhook needs of a brand's
// connector: the secrets its signatures may use and what confirms an
// order.
type Connector struct {
	Keyring   Keyring
	ConfirmOn string
}

// ConnectorSource finds a brand's connector of a shop platform. ok is false
// when the brand has none (or does not exist); err is for a source that
// cannot answer (the webhook then answers 503).
type ConnectorSource interface {
	Connector(ctx context.Context, brandID, platform string) (c Connector, ok bool, err error)
}

// ShopConfig configures a ShopWebhook.
type ShopConfig struct {
	// Connectors finds brands' connectors; wrap it in a CachedConnectors
	// so that requests do not each cost a lookup. Required.
	Connectors ConnectorSource
	// Deliveries keeps each connector's last delivery. Nil: not kept.
	Deliveries DeliveryLog
}

// ShopWebhook is the http.Handler of POST /v1/webhooks/{platform}/{brand_id}
// for every platform of package connectors: it verifies the platform's own
// signature (base64 HMAC-SHA256 of the raw body, keyed by the connector's
// secret, compared in constant time), translates the delivery with the
// platform's adapter, and hands the events to its Webhook's own path: the
// same body limit, rate limit, dedupe, envelopes and log as POST
// /v1/webhooks/orders.
//
// Answers: 200 {"accepted": n, "duplicates": m} (a delivery that records
// nothing, a test order or WooCommerce's ping included); 400 naming the
// platform's field when the body is not what the topic promises; 401 for a
// missing or wrong signature or a brand without this connector (one
// message for both), with nothing recorded; 413, 429 and 503 as the
// Webhook. Each signed delivery becomes the connector's last delivery.
type ShopWebhook struct {
	w   *Webhook
	cfg ShopConfig
}

// Shop returns the shop platforms' webhook on w's ingestion path.
func (w *Webhook) Shop(cfg ShopConfig) (*ShopWebhook, error) {
	if cfg.Connectors == nil {
		return nil, errors.New("ingest: ShopConfig.Connectors is required")
	}
	return &ShopWebhook{w: w, cfg: cfg}, nil
}

const msgBadShopSignature = "invalid signature, or no connector of this platform for this brand"

// ServeHTTP handles one delivery.
func (s *ShopWebhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	correlationID := schemas.NewEventID()
	rw.Header()["X-Correlation-Id"] = []string{correlationID}
	// The platforms expect 200; the body is our webhook's.
	s.w.answer(rw, s.serve(rw, r, correlationID), http.StatusOK, start)
}

// platformOf returns the platform and brand a path names:
// /v1/webhooks/<platform>/<brand_id>.
func platformOf(r *http.Request) (*connectors.Platform, string, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/webhooks/")
	if !ok {
		return nil, "", false
	}
	name, brand, ok := strings.Cut(rest, "/")
	if !ok {
		return nil, "", false
	}
	p, ok := connectors.Lookup(name)
	if id := r.PathValue("brand_id"); id != "" {
		brand = id
	}
	return p, brand, ok
}

func (s *ShopWebhook) serve(rw http.ResponseWriter, r *http.Request, correlationID string) response {
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "method_not_allowed", OutcomeInvalid, "use POST")
	}
	p, brandID, ok := platformOf(r)
	if !ok {
		return refuse(http.StatusNotFound, "not_found", OutcomeInvalid, "no such shop platform")
	}
	buf, res, ok := s.w.readBody(rw, r)
	if !ok {
		return res
	}
	defer s.w.putBuf(buf)
	now := s.w.cfg.Now()
	d := connectors.Delivery{
		Topic:       r.Header.Get(p.TopicHeader),
		ContentType: r.Header.Get("Content-Type"),
		Body:        buf.b,
		ReceivedAt:  now,
	}
	if p.EventIDHeader != "" {
		d.EventID = r.Header.Get(p.EventIDHeader)
	}
	sigHeader := r.Header.Get(p.SignatureHeader)
	if sigHeader == "" {
		if p.Ping != nil && p.Ping(d) {
			return response{status: http.StatusAccepted, outcome: OutcomeDuplicateOnly}
		}
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized,
			fmt.Sprintf("the %s header is required: the base64 HMAC-SHA256 of the raw body, keyed by the connector's secret", p.SignatureHeader))
	}
	if !validBrandID(brandID) {
		return refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, msgBadShopSignature)
	}
	conn, res, ok := s.authenticate(r.Context(), p, brandID, sigHeader, buf.b, now)
	if !ok {
		return res
	}
	if res, limited := s.w.limit(r.Context(), brandID); limited {
		return res
	}
	d.ConfirmOn = conn.ConfirmOn
	res = s.translateAndRecord(r.Context(), p, brandID, d, now, correlationID)
	if s.cfg.Deliveries != nil && res.status != http.StatusTooManyRequests {
		s.cfg.Deliveries.Record(brandID, p.Name, Delivery{At: now.UTC(), Topic: d.Topic, Outcome: deliveryOutcome(res)})
	}
	return res
}

// deliveryOutcome is what a connector's last delivery says of an answer.
func deliveryOutcome(res response) string {
	switch {
	case res.delivery != "":
		return res.delivery
	case res.status != http.StatusAccepted:
		return DeliveryError
	case res.accepted > 0:
		return DeliveryAccepted
	}
	return DeliveryDuplicate
}

// translateAndRecord translates a verified delivery and records its
// events on the Webhook's path.
func (s *ShopWebhook) translateAndRecord(ctx context.Context, p *connectors.Platform, brandID string, d connectors.Delivery, now time.Time, correlationID string) response {
	tr, err := p.Translate(d)
	if err != nil {
		var fe *connectors.FieldError
		if errors.As(err, &fe) {
			return response{status: http.StatusBadRequest, code: "invalid_field", outcome: OutcomeInvalid, message: fe.Error(), field: fe.Field}
		}
		return response{status: http.StatusBadRequest, code: "invalid_field", outcome: OutcomeInvalid, message: err.Error()}
	}
	if tr.Test {
		return response{status: http.StatusAccepted, outcome: OutcomeDuplicateOnly, delivery: DeliveryTest}
	}
	if len(tr.Events) == 0 {
		return response{status: http.StatusAccepted, outcome: OutcomeDuplicateOnly, delivery: DeliveryIgnored}
	}
	events := make([]shopEvent, len(tr.Events))
	for i, e := range tr.Events {
		events[i] = shopEvent{EventID: e.EventID, Type: e.Type, OrderID: e.OrderID, OccurredAt: e.OccurredAt,
			PromoCodes: e.PromoCodes, Amount: e.Amount, Currency: e.Currency, Country: e.Country, RefundAmount: e.RefundAmount}
		if ferr := checkEvent(&events[i]); ferr != nil {
			// The adapter checks what it reads: this is a bug of its, and
			// nothing is recorded.
			s.w.log.Error("webhook: shop platform's adapter made an invalid event", "platform", p.Name, "brand", brandID, "err", ferr)
			return response{status: http.StatusBadRequest, code: "invalid_field", outcome: OutcomeInvalid, message: ferr.message, field: ferr.field}
		}
	}
	var deliveryKey string
	if d.EventID != "" {
		deliveryKey = DedupeKey(brandID, p.Name+"-event:"+d.EventID)
	}
	return s.w.record(ctx, brandID, events, now, correlationID, deliveryKey)
}

// checkEvent holds an adapter's event to the checks of the webhook's own
// events (parse.go), so that nothing enters the log that POST
// /v1/webhooks/orders would refuse.
func checkEvent(ev *shopEvent) *fieldError {
	at := single
	if err := checkText(ev.EventID, at.member("event_id"), MaxIDLen); err != nil {
		return err
	}
	if err := checkText(ev.OrderID, at.member("order_id"), MaxIDLen); err != nil {
		return err
	}
	if ev.OccurredAt.Before(earliestOccurredAt) {
		return at.member("occurred_at").bad("must not be before 1970")
	}
	switch ev.Type {
	case schemas.TypeOrderPlaced:
		if len(ev.PromoCodes) > MaxPromoCodes {
			return at.member("promo_codes").bad("more than %d codes", MaxPromoCodes)
		}
		if ev.PromoCodes == nil {
			ev.PromoCodes = []string{}
		}
		if !money.ValidCurrency(ev.Currency) {
			return at.member("currency").bad("must be an ISO 4217 currency code, got %q", ev.Currency)
		}
		if _, err := money.Parse(ev.Amount, ev.Currency); err != nil {
			return at.member("amount").bad("%s", moneyMessage(err))
		}
		if !validCountry(ev.Country) {
			return at.member("country").bad("must be an ISO 3166-1 alpha-2 country code, got %q", ev.Country)
		}
	case schemas.TypeOrderRefunded:
		d, err := money.ParseDecimal(ev.RefundAmount, money.MaxMinorUnits)
		if err != nil {
			return at.member("refund_amount").bad("%s", moneyMessage(err))
		}
		if d.Sign() <= 0 {
			return at.member("refund_amount").bad("must be positive, got %q", ev.RefundAmount)
		}
	case schemas.TypeOrderConfirmed, schemas.TypeOrderCancelled:
	default:
		return at.member("type").bad("unknown event type %q", ev.Type)
	}
	return nil
}

// authenticate finds the brand's connector and checks the signature
// against its secrets valid at now; when none verifies (or the connector
// is not known) and the source is a cache, it is looked up again once.
func (s *ShopWebhook) authenticate(ctx context.Context, p *connectors.Platform, brandID, sigHeader string, body []byte, now time.Time) (Connector, response, bool) {
	unavailable := func(err error) (Connector, response, bool) {
		s.w.log.Warn("webhook: connector lookup failed", "platform", p.Name, "brand", brandID, "err", err)
		return Connector{}, refuse(http.StatusServiceUnavailable, "unavailable", OutcomeUnavailable,
			"cannot check signatures right now; nothing was recorded; retry later"), false
	}
	var mac [sha256.Size]byte
	n, err := base64.StdEncoding.Decode(mac[:], []byte(sigHeader))
	if len(sigHeader) > base64.StdEncoding.EncodedLen(sha256.Size) || err != nil || n != sha256.Size {
		return Connector{}, refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized,
			fmt.Sprintf("malformed %s header: want the base64 of a 32-byte HMAC-SHA256", p.SignatureHeader)), false
	}
	conn, known, err := s.cfg.Connectors.Connector(ctx, brandID, p.Name)
	if err != nil {
		return unavailable(err)
	}
	if known && s.verify(mac, conn.Keyring, body, now) {
		return conn, response{}, true
	}
	if rl, ok := s.cfg.Connectors.(connectorReloader); ok {
		fresh, known2, err := rl.Reload(ctx, brandID, p.Name)
		if err != nil {
			return unavailable(err)
		}
		if known2 && (!known || fresh.Keyring != conn.Keyring) && s.verify(mac, fresh.Keyring, body, now) {
			return fresh, response{}, true
		}
		known = known || known2
	}
	if !known {
		// As long as a wrong signature of a known connector takes.
		s.verify(mac, Keyring{Current: s.w.decoy}, body, now)
	}
	return Connector{}, refuse(http.StatusUnauthorized, "unauthorized", OutcomeUnauthorized, msgBadShopSignature), false
}

// verify reports whether mac is HMAC-SHA256(secret, body) for a secret of
// ring valid at now, comparing in constant time.
func (s *ShopWebhook) verify(mac [sha256.Size]byte, ring Keyring, body []byte, now time.Time) bool {
	want := s.w.macs.signBody(ring.Current, body)
	ok := hmac.Equal(mac[:], want[:])
	if prev, valid := ring.previousAt(now); valid {
		want = s.w.macs.signBody(prev, body)
		ok = hmac.Equal(mac[:], want[:]) || ok
	}
	return ok
}

// SignShop returns the base64 HMAC-SHA256 of body keyed by secret: the
// signature header value of Shopify's and WooCommerce's webhooks. For
// tests and tools.
func SignShop(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// connectorReloader is a ConnectorSource that can look a connector up
// again (CachedConnectors).
type connectorReloader interface {
	Reload(ctx context.Context, brandID, platform string) (Connector, bool, error)
}

// CachedConnectors keeps a ConnectorSource's answers in memory for TTL (a
// brand's absent connector for NegativeTTL), so that the webhook's hot
// path makes no lookup per request. A signature that no cached secret
// verifies makes the webhook look the connector up again (at most once a
// second per connector), so a new or changed secret works at once; a new
// confirm_on takes effect within TTL. Errors are not cached. It is safe
// for concurrent use.
type CachedConnectors struct {
	src ConnectorSource
	// TTL is how long a found connector is reused. Default 10 s.
	TTL time.Duration
	// NegativeTTL is how long "no connector" is reused. Default 2 s.
	NegativeTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu      sync.RWMutex
	entries map[[2]string]connectorEntry
}

type connectorEntry struct {
	conn    Connector
	ok      bool
	fetched time.Time
	expires time.Time
}

// maxConnectorEntries bounds the cache; past it, it starts over.
const maxConnectorEntries = 100_000

// NewCachedConnectors returns a cache in front of src with the defaults.
func NewCachedConnectors(src ConnectorSource) *CachedConnectors {
	return &CachedConnectors{src: src}
}

func (c *CachedConnectors) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Connector returns the cached connector, or looks it up.
func (c *CachedConnectors) Connector(ctx context.Context, brandID, platform string) (Connector, bool, error) {
	now := c.now()
	c.mu.RLock()
	e, hit := c.entries[[2]string{brandID, platform}]
	c.mu.RUnlock()
	if hit && now.Before(e.expires) {
		return e.conn, e.ok, nil
	}
	return c.lookup(ctx, brandID, platform, now)
}

// Reload looks the connector up again, unless it was fetched less than a
// second ago.
func (c *CachedConnectors) Reload(ctx context.Context, brandID, platform string) (Connector, bool, error) {
	now := c.now()
	c.mu.RLock()
	e, hit := c.entries[[2]string{brandID, platform}]
	c.mu.RUnlock()
	if hit && now.Sub(e.fetched) < time.Second {
		return e.conn, e.ok, nil
	}
	return c.lookup(ctx, brandID, platform, now)
}

func (c *CachedConnectors) lookup(ctx context.Context, brandID, platform string, now time.Time) (Connector, bool, error) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	conn, ok, err := c.src.Connector(lctx, brandID, platform)
	cancel()
	if err != nil {
		return Connector{}, false, err
	}
	ttl, neg := c.TTL, c.NegativeTTL
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	if neg <= 0 {
		neg = 2 * time.Second
	}
	if !ok {
		ttl = neg
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxConnectorEntries {
		c.entries = make(map[[2]string]connectorEntry)
	}
	c.entries[[2]string{brandID, platform}] = connectorEntry{conn: conn, ok: ok, fetched: now, expires: now.Add(ttl)}
	c.mu.Unlock()
	return conn, ok, nil
}
