package main

// The demo data set: `attrib demo` (and `attrib serve --demo`, once) fills a
// running engine with two brands, a few creators with confirmed codes and a
// few thousand orders in every status, so a newcomer sees reports at once.
//
// The seeder is a pure HTTP client of the engine: it registers through the
// bootstrap endpoints, decides code requests as the brands, and sends the
// orders as the brands' shops do, in signed webhook batches. Nothing goes
// around the API, so what the reports show went through the real path.
//
// Time. An order is attributed only to a code confirmed before the order
// was placed, and the codes are confirmed during the run, so orders "placed
// over the last 30 days" would all be code_not_active. The seeder therefore
// confirms every code first, waits a short window (Window, 3 s by default)
// and places the attributed orders uniformly between the last confirmation
// and now: a narrow span of placed times, but every one attributed. Their
// confirmations, cancellations and refunds follow their placement within the
// same span (never in the future). Only the orders that are unattributed
// anyway (no code, an unknown code) are spread over the last 30 days, and a
// handful with a real code placed before its confirmation show the
// code_not_active reason.
//
// Reruns: the choice of orders comes from a fixed seed, so every run looks
// the same (up to the times). `attrib demo` run by hand twice creates a second,
// independent set of brands and creators; `serve --demo` seeds only once,
// guarded by the marker file <data-dir>/demo.seeded, written only after a
// successful run.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// demoOptions configure one seeding run.
type demoOptions struct {
	// URL is the engine's base URL, e.g. http://127.0.0.1:8080.
	URL        string
	AdminToken string
	// Orders is how many orders to send (default 3000).
	Orders int
	// Window is how long to wait after the codes' confirmations before
	// placing the attributed orders in between (default 3s).
	Window time.Duration
	// Seed drives every random choice (default 5).
	Seed int64
	// OutFile, when set, receives the demo's tokens as JSON (mode 0600).
	OutFile string
	Log     *slog.Logger
	Client  *http.Client
}

// demoBrand is a registered demo brand and its offer.
type demoBrand struct {
	Name          string `json:"name"`
	BrandID       string `json:"brand_id"`
	APIKey        string `json:"api_key"`
	WebhookSecret string `json:"webhook_secret"`
	OfferID       string `json:"offer_id"`
	Offer         string `json:"offer"`
	codes         []string
}

// demoCreator is a registered demo creator.
type demoCreator struct {
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	CreatorID string   `json:"creator_id"`
	Token     string   `json:"token"`
	Codes     []string `json:"codes"`
}

// demoResult is what a run created: who to log in as.
type demoResult struct {
	URL          string        `json:"url"`
	Brands       []demoBrand   `json:"brands"`
	Creators     []demoCreator `json:"creators"`
	AnalystID    string        `json:"analyst_id"`
	AnalystToken string        `json:"analyst_token"`
	Orders       int           `json:"orders"`
	Events       int           `json:"events"`
}

// runDemo is `attrib demo`: seed a running engine over HTTP.
func runDemo(ctx context.Context, ec *engineConfig, log *slog.Logger, _ []string) error {
	url := ec.DemoURL
	if url == "" {
		url = localURL(ec.HTTPAddr)
	}
	admin, err := adminToken(ec)
	if err != nil {
		return &startError{setting: "admin-token", err: err}
	}
	_, err = seedDemo(ctx, demoOptions{URL: url, AdminToken: admin, OutFile: filepath.Join(ec.DataDir, "demo.json"), Log: log})
	return err
}

// localURL is the loopback URL of an engine listening on addr.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// adminToken is the configured operator token, or the one the engine keeps
// under the data directory.
func adminToken(ec *engineConfig) (string, error) {
	if ec.AdminToken != "" {
		return ec.AdminToken, nil
	}
	raw, err := os.ReadFile(filepath.Join(ec.DataDir, "admin.token"))
	if err != nil {
		return "", fmt.Errorf("no --admin-token and no token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", errors.New("the admin token file is empty")
	}
	return tok, nil
}

// demoComponent is `serve --demo`: once the HTTP API answers /readyz, seed
// the demo data unless the marker file says it was done; a failure is
// logged and leaves no marker, so the next start tries again. It then idles
// until the engine stops.
func demoComponent(ec *engineConfig, log *slog.Logger) component {
	return component{name: "demo", run: func(ctx context.Context) error {
		marker := filepath.Join(ec.DataDir, "demo.seeded")
		if _, err := os.Stat(marker); err == nil {
			log.Info("demo data already seeded; delete the marker to seed again", "marker", marker)
			<-ctx.Done()
			return nil
		}
		if err := seedDemoOnce(ctx, ec, log, marker); err != nil && ctx.Err() == nil {
			log.Error("demo data not seeded", "err", err)
		}
		<-ctx.Done()
		return nil
	}}
}

func seedDemoOnce(ctx context.Context, ec *engineConfig, log *slog.Logger, marker string) error {
	url := localURL(ec.HTTPAddr)
	if err := waitFor(ctx, 2*time.Minute, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, "GET", url+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	}); err != nil {
		return err
	}
	admin, err := adminToken(ec)
	if err != nil {
		return err
	}
	if _, err := seedDemo(ctx, demoOptions{URL: url, AdminToken: admin, OutFile: filepath.Join(ec.DataDir, "demo.json"), Log: log}); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
}

// demoClient calls the engine's API.
type demoClient struct {
	ctx  context.Context
	base string
	hc   *http.Client
}

// do sends one request, retrying 429, 503 and connection errors a few
// times (nothing was recorded then), and decodes a JSON answer into out.
func (c *demoClient) do(method, path, token string, body any, header func() http.Header, want int, out any) error {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte: // sent as is: a webhook body is signed byte for byte
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return err
		}
	}
	var last error
	for attempt := 0; attempt < 6; attempt++ {
		if attempt > 0 {
			select {
			case <-c.ctx.Done():
				return c.ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if header != nil {
			for k, v := range header() {
				req.Header[k] = v
			}
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if c.ctx.Err() != nil {
				return c.ctx.Err()
			}
			last = err
			continue
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			last = fmt.Errorf("%s %s: %s %s", method, path, resp.Status, answer)
			continue
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, answer)
		}
		if out != nil {
			if err := json.Unmarshal(answer, out); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
		return nil
	}
	return last
}

// demoTime is how demo events write times: milliseconds, so that orders
// placed just after a confirmation are not rounded to before it.
const demoTime = "2006-01-02T15:04:05.000Z07:00"

// seedDemo creates the demo data set on the engine at o.URL.
func seedDemo(ctx context.Context, o demoOptions) (*demoResult, error) {
	if o.Orders <= 0 {
		o.Orders = 3000
	}
	if o.Window <= 0 {
		o.Window = 3 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 5
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 60 * time.Second}
	}
	log := o.Log.With("demo", o.URL)
	c := &demoClient{ctx: ctx, base: strings.TrimSuffix(o.URL, "/"), hc: o.Client}
	res := &demoResult{URL: c.base}

	// Brands and their offers.
	type offerSpec struct {
		brand, offer string
		payout       map[string]any
		hold         int
	}
	specs := []offerSpec{
		{"Lumen Cosmetics", "Lumen: 150 RUB per order", map[string]any{"type": "fixed", "value": "150.00", "currency": "RUB"}, 14},
		{"Velo Sports", "Velo: 10% of the order", map[string]any{"type": "percent", "value": "10", "currency": "RUB"}, 0},
	}
	for _, s := range specs {
		var b struct {
			BrandID       string `json:"brand_id"`
			APIKey        string `json:"api_key"`
			WebhookSecret string `json:"webhook_secret"`
		}
		if err := c.do("POST", "/v1/brands", o.AdminToken, map[string]any{"name": s.brand}, nil, 201, &b); err != nil {
			return nil, err
		}
		var off struct {
			OfferID string `json:"offer_id"`
		}
		offer := map[string]any{"name": s.offer, "payout": s.payout, "countries": []string{"RU"},
			"platforms": []string{"instagram", "tiktok", "youtube", "telegram", "vk"}, "hold_days": s.hold}
		if err := c.do("POST", "/v1/offers", b.APIKey, offer, nil, 201, &off); err != nil {
			return nil, err
		}
		res.Brands = append(res.Brands, demoBrand{Name: s.brand, BrandID: b.BrandID, APIKey: b.APIKey, WebhookSecret: b.WebhookSecret, OfferID: off.OfferID, Offer: s.offer})
		log.Info("demo brand registered", "brand", s.brand, "brand_id", b.BrandID, "offer_id", off.OfferID)
	}
	var an struct {
		AnalystID string `json:"analyst_id"`
		Token     string `json:"token"`
	}
	if err := c.do("POST", "/v1/analysts", o.AdminToken, map[string]any{"name": "Demo analyst"}, nil, 201, &an); err != nil {
		return nil, err
	}
	res.AnalystID, res.AnalystToken = an.AnalystID, an.Token

	// Creators and their code requests: brand index, platform, code; an
	// empty code with a reason is rejected, "-" is left in moderation.
	type request struct {
		brand    int
		platform string
		code     string
		reason   string
	}
	creators := []struct {
		name     string
		requests []request
	}{
		{"Anna", []request{{0, "instagram", "ANNA15", ""}, {1, "instagram", "ANNAVELO", ""}}},
		{"Boris", []request{{1, "youtube", "BORIS10", ""}, {0, "vk", "-", ""}}},
		{"Vera", []request{{0, "tiktok", "VERA", ""}}},
		{"Gleb", []request{{1, "telegram", "GLEB7", ""}, {0, "telegram", "", "audience too small for this offer"}}},
	}
	var lastConfirm time.Time
	for _, cr := range creators {
		email := "demo+" + strings.ToLower(cr.name) + "@example.com"
		var out struct {
			CreatorID string `json:"creator_id"`
			Token     string `json:"token"`
		}
		if err := c.do("POST", "/v1/creators", o.AdminToken, map[string]any{"name": cr.name, "email": email}, nil, 201, &out); err != nil {
			return nil, err
		}
		dc := demoCreator{Name: cr.name, Email: email, CreatorID: out.CreatorID, Token: out.Token, Codes: []string{}}
		for _, rq := range cr.requests {
			b := &res.Brands[rq.brand]
			var req struct {
				RequestID string `json:"request_id"`
			}
			if err := c.do("POST", "/v1/code-requests", out.Token, map[string]any{"offer_id": b.OfferID, "platform": rq.platform}, nil, 201, &req); err != nil {
				return nil, err
			}
			switch {
			case rq.code == "-":
			case rq.code == "":
				if err := c.do("POST", "/v1/code-requests/"+req.RequestID+"/reject", b.APIKey, map[string]any{"reason": rq.reason}, nil, 200, nil); err != nil {
					return nil, err
				}
			default:
				if err := c.do("POST", "/v1/code-requests/"+req.RequestID+"/confirm", b.APIKey, map[string]any{"code": rq.code}, nil, 200, nil); err != nil {
					return nil, err
				}
				lastConfirm = time.Now()
				b.codes = append(b.codes, rq.code)
				dc.Codes = append(dc.Codes, rq.code)
			}
		}
		res.Creators = append(res.Creators, dc)
		log.Info("demo creator registered", "creator", cr.name, "codes", dc.Codes)
	}

	// Orders are placed between the last confirmation and now: wait for the
	// window to open.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.Window):
	}
	start := lastConfirm.Add(50 * time.Millisecond)
	now := time.Now()
	span := now.Sub(start)
	rng := rand.New(rand.NewSource(o.Seed))
	between := func(from, to time.Time) time.Time {
		if !to.After(from) {
			return from
		}
		return from.Add(time.Duration(rng.Int63n(int64(to.Sub(from)))))
	}
	events := make([][]map[string]any, len(res.Brands))
	for i := 0; i < o.Orders; i++ {
		bi := 0
		if rng.Intn(10) >= 6 {
			bi = 1
		}
		b := &res.Brands[bi]
		orderID := fmt.Sprintf("DEMO-%c-%05d", 'A'+bi, i+1)
		amount := 500 + rng.Intn(14500)
		amountText := fmt.Sprintf("%d.%02d", amount, rng.Intn(100))
		placedAt := between(start, start.Add(span))
		var codes []string
		kind := rng.Intn(100)
		switch {
		case kind < 6: // no code, any time in the last 30 days
			codes = []string{}
			placedAt = between(now.Add(-30*24*time.Hour), now)
		case kind < 12: // a code nobody issued
			codes = []string{fmt.Sprintf("SALE%d", 10+rng.Intn(40))}
			placedAt = between(now.Add(-30*24*time.Hour), now)
		case kind < 15: // a real code, placed before its confirmation
			codes = []string{strings.ToLower(b.codes[rng.Intn(len(b.codes))])}
			placedAt = between(now.Add(-30*24*time.Hour), start.Add(-time.Hour))
		default:
			codes = []string{b.codes[rng.Intn(len(b.codes))]}
		}
		placed := map[string]any{"event_id": orderID + "-placed", "type": "order.placed", "order_id": orderID,
			"occurred_at": placedAt.UTC().Format(demoTime), "promo_codes": codes,
			"amount": amountText, "currency": "RUB", "country": "RU"}
		evs := []map[string]any{placed}
		later := func(typ string) map[string]any {
			return map[string]any{"event_id": orderID + "-" + strings.TrimPrefix(typ, "order."), "type": typ,
				"order_id": orderID, "occurred_at": between(placedAt, now).UTC().Format(demoTime)}
		}
		switch outcome := rng.Intn(100); {
		case outcome < 40: // approved
			evs = append(evs, later("order.confirmed"))
		case outcome < 55: // cancelled
			evs = append(evs, later("order.cancelled"))
		case outcome < 67: // partially refunded, still pending
			ev := later("order.refunded")
			ev["refund_amount"] = fmt.Sprintf("%d.00", amount*(10+rng.Intn(40))/100)
			evs = append(evs, ev)
		case outcome < 75: // fully refunded
			ev := later("order.refunded")
			ev["refund_amount"] = amountText
			evs = append(evs, ev)
		default: // pending
		}
		events[bi] = append(events[bi], evs...)
	}

	// Send the orders as the shops do: signed batches of up to 500 events.
	const batch = 500
	total := 0
	for _, evs := range events {
		total += len(evs)
	}
	sent, began, lastLog := 0, time.Now(), time.Now()
	for bi, evs := range events {
		b := res.Brands[bi]
		for len(evs) > 0 {
			n := min(batch, len(evs))
			body, err := json.Marshal(map[string]any{"events": evs[:n]})
			if err != nil {
				return nil, err
			}
			header := func() http.Header {
				return http.Header{
					http.CanonicalHeaderKey(ingest.HeaderBrandID):   {b.BrandID},
					http.CanonicalHeaderKey(ingest.HeaderSignature): {ingest.Sign(b.WebhookSecret, time.Now(), body)},
				}
			}
			if err := c.do("POST", "/v1/webhooks/orders", "", body, header, 202, nil); err != nil {
				return nil, err
			}
			evs = evs[n:]
			sent += n
			if time.Since(lastLog) > 2*time.Second || sent == total {
				lastLog = time.Now()
				log.Info("demo orders sent", "events", sent, "of", total,
					"events_per_s", int(float64(sent)/max(time.Since(began).Seconds(), 0.001)))
			}
		}
	}
	res.Orders, res.Events = o.Orders, total

	if o.OutFile != "" {
		raw, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(o.OutFile), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(o.OutFile, append(raw, '\n'), 0o600); err != nil {
			return nil, err
		}
	}
	for _, cr := range res.Creators {
		log.Info("demo creator: log in with this bearer token", "creator", cr.Name, "token", cr.Token, "codes", cr.Codes)
	}
	for _, b := range res.Brands {
		log.Info("demo brand: log in with this bearer token", "brand", b.Name, "api_key", b.APIKey)
	}
	log.Info("demo analyst: log in with this bearer token", "token", res.AnalystToken)
	log.Info("demo data seeded", "orders", res.Orders, "events", res.Events, "tokens_file", o.OutFile,
		"try", "curl -H 'Authorization: Bearer <creator token>' "+c.base+"/v1/reports/orders")
	return res, nil
}
