package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// TestRateLimitFlags: the limits set by flag reach the webhook (per brand)
// and the API (per token), refusals are 429 with Retry-After, and
// /metrics counts them by kind.
func TestRateLimitFlags(t *testing.T) {
	e := startEngine(t, "--webhook-rate-limit", "0.5", "--webhook-burst", "2", "--api-rate-limit", "0.5", "--api-burst", "2")
	b := e.must(201, "POST", "/v1/brands", e.admin, map[string]any{"name": "Acme"})
	key, brand, secret := str(b, "api_key"), str(b, "brand_id"), str(b, "webhook_secret")

	e.must(200, "GET", "/v1/offers", key, nil)
	e.must(200, "GET", "/v1/offers", key, nil)
	expect429(t, e, "GET", "/v1/offers", key, nil)
	// The operator's token has a bucket of its own (it may not list
	// offers, and the limit comes before the role check).
	e.must(403, "GET", "/v1/offers", e.admin, nil)

	order := func(id string) []byte {
		raw, _ := json.Marshal(map[string]any{"event_id": id, "type": "order.placed", "order_id": id,
			"occurred_at": time.Now().UTC().Format(time.RFC3339), "amount": "10.00", "currency": "RUB", "country": "RU"})
		return raw
	}
	for _, id := range []string{"e1", "e2"} {
		if code, out := e.webhook(brand, secret, json.RawMessage(order(id))); code != 202 {
			t.Fatalf("webhook %s within the burst: %d %v", id, code, out)
		}
	}
	expect429(t, e, "POST", "/v1/webhooks/orders", "", map[string]string{
		ingest.HeaderBrandID: brand, ingest.HeaderSignature: ingest.Sign(secret, time.Now(), order("e3"))}, order("e3"))

	resp, err := http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`attrib_ratelimit_refused_total{kind="api"} 1`, `attrib_ratelimit_refused_total{kind="webhook"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// expect429 makes one request and fails unless it is refused by a rate
// limit with Retry-After 2 (a token every 2 s) and the API's error shape.
func expect429(t *testing.T, e *engine, method, path, token string, headers map[string]string, body ...[]byte) {
	t.Helper()
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body[0])
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || json.Unmarshal(raw, &out) != nil || out.Error.Code != "rate_limited" {
		t.Fatalf("%s %s: %d %s, want 429 rate_limited", method, path, resp.StatusCode, raw)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("%s %s: Retry-After %q, want 2", method, path, ra)
	}
}
