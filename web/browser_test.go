// The browser test of the page's error states: the real page in headless
// Chromium against a fake API that fails on demand (503, 401, 409, 429, a
// server gone, a stream cut short), which a real engine cannot do when
// asked. It is part of `make test` and fails when Chromium is missing.
// The flows against the real engine are in cmd/attrib/browser_test.go.

package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/attrib-engine/attrib/internal/browsertest"
	"github.com/attrib-engine/attrib/web"
)

// fakeAPI answers the v1 endpoints the dashboard calls with fixed data
// that the demo never has (four currencies with 0, 2 and 3 minor digits,
// "0.10", a negative adjustment), and fails on demand: the harness sets
// the mode (ok, empty, 503, down, 401, cut) with POST /__test/mode. It
// records every request so the harness can check what the page asked for.
type fakeAPI struct {
	mu       sync.Mutex
	mode     string
	requests []string
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, message, field string) {
	e := map[string]string{"code": code, "message": message}
	if field != "" {
		e["field"] = field
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func fixtureOrder(id, amount, currency, earnings, status string) map[string]any {
	return map[string]any{"order_id": id, "brand_id": "brd_1", "brand": "Acme <b>Co</b>", "offer_id": "ofr_1", "offer": "Acme 10%",
		"promo_code": "ANNA10", "status": status, "amount": amount, "currency": currency, "country": "RU",
		"earnings": earnings, "earnings_currency": currency, "placed_at": "2026-11-24T21:30:00Z", "updated_at": "2026-11-24T22:00:00Z"}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.RequestURI())
	if r.Method != "GET" {
		f.requests[len(f.requests)-1] = r.Method + " " + r.URL.RequestURI()
	}
	mode := f.mode
	f.mu.Unlock()
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	role := map[string]string{"ct_good": "creator", "at_good": "analyst", "ak_brand": "brand", "adm_op": "admin"}[token]
	q := r.URL.Query()
	switch {
	case mode == "down":
		// No answer at all: the connection closes, as when the server dies.
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = c.Close()
		}
		return
	case mode == "503":
		apiError(w, 503, "unavailable", "reports cannot be read now (clickhouse: connection refused); retry later", "")
		return
	case mode == "429":
		w.Header().Set("Retry-After", "7")
		apiError(w, 429, "rate_limited", "too many requests for this token", "")
		return
	case mode == "401" || role == "":
		apiError(w, 401, "unauthorized", "missing or invalid bearer token", "")
		return
	}
	analystOnly := strings.HasPrefix(r.URL.Path, "/v1/analytics/")
	brandNot := r.URL.Path == "/v1/brands" || r.URL.Path == "/v1/code-requests" && r.Method == "POST"
	if role == "admin" || role == "brand" && brandNot || analystOnly && role != "analyst" {
		apiError(w, 403, "forbidden", "this token's role may not do this", "")
		return
	}
	if f.product(w, r, role) {
		return
	}
	if role == "creator" && q.Has("creator") {
		apiError(w, 403, "forbidden", "creator: only analysts may filter by creator", "creator")
		return
	}
	empty := mode == "empty"
	switch r.URL.Path {
	case "/v1/offers":
		writeJSON(w, 200, map[string]any{"offers": []any{map[string]any{"offer_id": "ofr_1", "brand_id": "brd_1", "brand": "Acme <b>Co</b>", "name": "Acme 10%"}}})
	case "/v1/reports/orders":
		if q.Get("country") == "XX" {
			apiError(w, 400, "invalid_field", "country: no such country", "country")
			return
		}
		w.Header().Set("X-Attrib-Fresh-As-Of", "2026-11-25T09:00:00Z")
		totals := map[string]any{"orders": 5, "earnings": map[string]string{"USD": "0.10", "JPY": "15", "KWD": "1.050", "RUB": "-5.00"}}
		orders := []any{fixtureOrder("A-1", "1.10", "USD", "0.10", "approved"), fixtureOrder("A-2", "150", "JPY", "15", "pending"),
			fixtureOrder("A-3", "10.500", "KWD", "1.050", "approved"), fixtureOrder("A-4", "100.00", "RUB", "-5.00", "rejected")}
		var next any = "c2"
		if q.Get("cursor") == "c2" {
			orders, next = []any{fixtureOrder("A-5", "0.30", "USD", "0.00", "rejected")}, nil
		}
		if empty {
			orders, next, totals = []any{}, nil, map[string]any{"orders": 0, "earnings": map[string]string{}}
		}
		writeJSON(w, 200, map[string]any{"orders": orders, "next_cursor": next, "totals": totals})
	case "/v1/reports/orders.csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="orders.csv"`)
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "order_id,earnings,earnings_currency\nA-1,0.10,USD\n")
		if mode == "cut" {
			// As the API does when the read fails mid-stream: the body ends
			// without its last chunk.
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}
	case "/v1/reports/earnings":
		series := []any{
			map[string]any{"key": "2026-11-25", "orders": 3, "earnings": map[string]string{"USD": "0.10", "RUB": "-5.00"}},
			map[string]any{"key": "2026-11-26", "orders": 1, "earnings": map[string]string{"USD": "0.20", "RUB": "20.00"}},
			map[string]any{"key": "2026-11-27", "orders": 1, "earnings": map[string]string{"USD": "0.05", "RUB": "0.00"}},
		}
		if empty {
			series = []any{}
		}
		writeJSON(w, 200, map[string]any{"group_by": q.Get("group_by"), "tz": q.Get("tz"), "series": series})
	case "/v1/analytics/summary":
		rate := func(s string) any {
			if q.Get("group_by") == "creator" {
				return nil
			}
			return s
		}
		writeJSON(w, 200, map[string]any{"group_by": q.Get("group_by"), "groups": []any{
			map[string]any{"key": "crt_1", "name": "Anna", "orders": 3, "gmv": map[string]string{"RUB": "300.00", "USD": "1.10"}, "earnings": map[string]string{"RUB": "30.00", "USD": "0.10"}, "approval_rate": "0.6256", "attribution_rate": rate("0.8420")},
			map[string]any{"key": "crt_2", "name": "Boris", "orders": 2, "gmv": map[string]string{}, "earnings": map[string]string{}, "approval_rate": "1.0000", "attribution_rate": rate("0.0500")},
		}, "totals": map[string]any{"orders": 5, "gmv": map[string]string{"RUB": "300.00", "USD": "1.10"}, "earnings": map[string]string{"RUB": "30.00", "USD": "0.10"}, "approval_rate": "0.7000", "attribution_rate": "0.8377"}})
	case "/v1/analytics/unattributed":
		orders := []any{
			map[string]any{"brand_id": "brd_1", "order_id": "U-1", "promo_codes": []string{"SALE17"}, "reason": "unknown_code", "placed_at": "2026-11-24T10:00:00Z"},
			map[string]any{"brand_id": "brd_2", "order_id": "U-2", "promo_codes": []string{}, "reason": "no_code", "placed_at": "2026-11-24T09:00:00Z"},
		}
		var next any = "u2"
		if q.Get("cursor") == "u2" {
			orders, next = []any{map[string]any{"brand_id": "brd_1", "order_id": "U-3", "promo_codes": []string{"anna10"}, "reason": "code_revoked", "placed_at": "2026-11-23T09:00:00Z"}}, nil
		}
		writeJSON(w, 200, map[string]any{"orders": orders, "next_cursor": next})
	default:
		if strings.HasPrefix(r.URL.Path, "/v1/analytics/orders/") {
			writeJSON(w, 200, map[string]any{"brand_id": "brd_1", "order_id": "A-1", "attributed": true, "creator_id": "crt_1",
				"offer_id": "ofr_1", "offer": "Acme 10%", "promo_code": "ANNA10", "platform": "tiktok", "status": "approved",
				"amount": "1.10", "net_amount": "1.10", "currency": "USD", "country": "RU", "earnings": "0.10", "earnings_currency": "USD",
				"terms":     map[string]any{"payout": map[string]string{"type": "percent", "value": "10", "currency": "USD"}, "hold_days": 14},
				"decision":  map[string]any{"candidates": []any{map[string]any{"code": "anna10", "normalized_code": "ANNA10", "outcome": "won", "creator_id": "crt_1", "active_from": "2026-11-01T00:00:00Z"}}},
				"placed_at": "2026-11-24T21:30:00Z", "last_event_at": "2026-11-24T21:30:00Z", "updated_at": "2026-11-24T22:00:00Z", "version": 2})
			return
		}
		apiError(w, 404, "not_found", "no such endpoint", "")
	}
}

// product answers the creator's and the brand's screens' endpoints (and
// says so), with the data the harness expects.
func (f *fakeAPI) product(w http.ResponseWriter, r *http.Request, role string) bool {
	offer := map[string]any{"offer_id": "ofr_1", "brand_id": "brd_1", "brand": "Acme <b>Co</b>", "name": "Acme 10%", "pricing_model": "cpa",
		"payout": map[string]string{"type": "percent", "value": "10", "currency": "RUB"}, "countries": []string{"RU"},
		"platforms": []string{"instagram", "tiktok"}, "hold_days": 14, "status": "active"}
	fixed := map[string]any{"offer_id": "ofr_2", "brand_id": "brd_1", "brand": "Acme <b>Co</b>", "name": "Spring", "pricing_model": "cpa",
		"payout": map[string]string{"type": "fixed", "value": "150.00", "currency": "RUB"}, "countries": []string{"RU"},
		"platforms": []string{"vk"}, "hold_days": 30, "status": "paused"}
	moderation := map[string]any{"request_id": "req_1", "brand_id": "brd_1", "offer_id": "ofr_1", "offer": "Acme 10%", "creator_id": "crt_1",
		"platform": "tiktok", "status": "moderation", "requested_at": "2026-11-24T10:00:00Z"}
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/brands":
		writeJSON(w, 200, map[string]any{"brands": []any{map[string]any{"brand_id": "brd_1", "name": "Acme <b>Co</b>", "offers": []any{offer}}}})
	case r.Method == "GET" && r.URL.Path == "/v1/offers/ofr_1":
		o := map[string]any{}
		for k, v := range offer {
			o[k] = v
		}
		if role == "creator" {
			o["my_requests"] = []any{map[string]any{"request_id": "req_9", "platform": "instagram", "status": "rejected", "reason": "Audience <i>too</i> small",
				"requested_at": "2026-11-20T10:00:00Z", "decided_at": "2026-11-21T10:00:00Z"}}
		}
		writeJSON(w, 200, o)
	case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/offers/"):
		apiError(w, 404, "not_found", "offer not found", "")
	case r.Method == "POST" && r.URL.Path == "/v1/code-requests":
		writeJSON(w, 201, map[string]any{"request_id": "req_2", "status": "moderation"})
	case r.Method == "GET" && r.URL.Path == "/v1/code-requests" && role == "brand":
		writeJSON(w, 200, map[string]any{"code_requests": []any{moderation}})
	case r.Method == "GET" && r.URL.Path == "/v1/code-requests":
		writeJSON(w, 200, map[string]any{"code_requests": []any{
			map[string]any{"request_id": "req_9", "brand": "Acme <b>Co</b>", "offer": "Acme 10%", "platform": "instagram", "status": "rejected",
				"reason": "Audience <i>too</i> small", "requested_at": "2026-11-20T10:00:00Z", "decided_at": "2026-11-21T10:00:00Z"},
		}})
	case r.Method == "POST" && r.URL.Path == "/v1/code-requests/req_1/confirm":
		var body struct{ Code string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Code == "TAKEN" {
			apiError(w, 409, "conflict", `code "TAKEN" is already active at this brand`, "code")
			return true
		}
		writeJSON(w, 200, map[string]any{"request_id": "req_1", "status": "confirmed", "code": body.Code})
	case r.Method == "POST" && r.URL.Path == "/v1/code-requests/req_1/reject":
		writeJSON(w, 200, map[string]any{"request_id": "req_1", "status": "rejected"})
	case r.Method == "GET" && r.URL.Path == "/v1/promo-codes" && role == "brand":
		writeJSON(w, 200, map[string]any{"promo_codes": []any{
			map[string]any{"code": "ANNA10", "creator_id": "crt_1", "creator": "Anna", "offer_id": "ofr_1", "offer": "Acme 10%", "status": "active", "issued_at": "2026-11-01T10:00:00Z"},
		}})
	case r.Method == "GET" && r.URL.Path == "/v1/promo-codes":
		writeJSON(w, 200, map[string]any{"promo_codes": []any{}})
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v1/promo-codes/"):
		apiError(w, 503, "unavailable", "the revocation could not be recorded; nothing was recorded, retry later", "")
	case r.Method == "GET" && r.URL.Path == "/v1/offers" && role == "brand":
		writeJSON(w, 200, map[string]any{"offers": []any{offer, fixed}})
	case r.Method == "POST" && r.URL.Path == "/v1/offers":
		apiError(w, 400, "invalid_field", "payout.currency: not an ISO 4217 code", "payout.currency")
	case r.Method == "GET" && r.URL.Path == "/v1/connectors":
		writeJSON(w, 200, map[string]any{
			"connectors": []any{map[string]any{"platform": "shopify", "webhook_path": "/v1/webhooks/shopify/brd_1", "confirm_on": "orders/fulfilled",
				"updated_at": "2026-11-24T10:00:00Z", "last_delivery": map[string]any{"at": "2026-11-25T09:00:00Z", "topic": "orders/create", "outcome": "accepted"}}},
			"platforms": []any{
				map[string]any{"platform": "shopify", "webhook_path": "/v1/webhooks/shopify/brd_1", "confirm_on": []string{"orders/paid", "orders/fulfilled"}, "connected": true},
				map[string]any{"platform": "woocommerce", "webhook_path": "/v1/webhooks/woocommerce/brd_1", "confirm_on": []string{"completed", "processing"}, "connected": false},
			}})
	case r.Method == "PUT" && r.URL.Path == "/v1/connectors/woocommerce":
		apiError(w, 400, "invalid_field", "secret: no surrounding white space or control characters (paste the secret alone)", "secret")
	case r.Method == "POST" && r.URL.Path == "/v1/credentials/rotate":
		writeJSON(w, 200, map[string]any{"kind": "webhook_secret", "webhook_secret": "whsec_new", "previous_valid_until": "2026-11-26T09:00:00Z"})
	default:
		return false
	}
	return true
}

// harnessResult is what the harness posts when it is done.
type harnessResult struct {
	Failures []string `json:"failures"`
	Steps    []string `json:"steps"`
}

// TestDashboardInChromium drives the dashboard in headless Chromium: the
// real page and script as the binary serves them, with a harness script
// (testdata/harness.js) that signs in as a creator, a brand and an
// analyst, uses every filter, both sorts, paging, the CSV export and every
// view, and makes the fake API fail in each way a user can meet (bad
// token, bad filter, 503, 429, 409, the server gone, a CSV cut short),
// checking what the page shows. It also checks the page's pure functions (money, percentages,
// time zones) in the browser's own JavaScript engine.
func TestDashboardInChromium(t *testing.T) {
	harness, err := os.ReadFile("testdata/harness.js")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeAPI{mode: "ok"}
	results := make(chan harnessResult, 1)
	mux := http.NewServeMux()
	web.Register(mux)
	mux.Handle("/v1/", fake)
	// The page under test: the dashboard's own HTML, headers and all, with
	// the harness added after dashboard.js.
	mux.HandleFunc("GET /__test/page", func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		page := strings.Replace(rec.Body.String(), `<script src="/product.js" defer></script>`,
			`<script src="/product.js" defer></script><script src="/__test/harness.js" defer></script>`, 1)
		_, _ = io.WriteString(w, page)
	})
	mux.HandleFunc("GET /__test/harness.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(harness)
	})
	mux.HandleFunc("POST /__test/mode", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fake.mu.Lock()
		fake.mode = string(b)
		fake.mu.Unlock()
	})
	mux.HandleFunc("GET /__test/requests", func(w http.ResponseWriter, r *http.Request) {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		writeJSON(w, 200, fake.requests)
	})
	mux.HandleFunc("POST /__test/result", func(w http.ResponseWriter, r *http.Request) {
		var res harnessResult
		if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
			res.Failures = append(res.Failures, "harness result: "+err.Error())
		}
		select {
		case results <- res:
		default:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A time zone other than UTC, so that the page's default zone and its
	// day boundaries are exercised.
	ctx := browsertest.Start(t, browsertest.Options{TimeZone: "Europe/Moscow", Timeout: 2 * time.Minute})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/__test/page")); err != nil {
		t.Fatalf("open the page: %v", err)
	}

	select {
	case res := <-results:
		for _, s := range res.Steps {
			t.Log(s)
		}
		for _, f := range res.Failures {
			t.Error(f)
		}
		if len(res.Steps) < 10 {
			t.Errorf("the harness ran %d steps; it stopped early", len(res.Steps))
		}
	case <-ctx.Done():
		fake.mu.Lock()
		reqs := fmt.Sprint(fake.requests)
		fake.mu.Unlock()
		t.Fatalf("no result from the harness within the time limit; the page requested %s", reqs)
	}
}
