package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// signedWebhook posts body to the order webhook as brandID, signed with
// secret at the engine's (shifted) clock.
func (e *engine) signedWebhook(brandID, secret string, body any) int {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.base+"/v1/webhooks/orders", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Brand-Id", brandID)
	req.Header.Set("X-Signature", ingest.Sign(secret, clock(), raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// rotate rotates the caller's credential of kind and returns the new
// secret, checking previous_valid_until is 24 hours from now.
func (e *engine) rotate(token, kind string) string {
	e.t.Helper()
	before := clock()
	out := e.must(200, "POST", "/v1/credentials/rotate", token, map[string]any{"kind": kind})
	until, err := time.Parse(time.RFC3339, str(out, "previous_valid_until"))
	if err != nil || str(out, "kind") != kind || str(out, kind) == "" {
		e.t.Fatalf("rotation answer %v: want kind, %s and previous_valid_until", out, kind)
	}
	if lo, hi := before.Add(24*time.Hour-time.Second), clock().Add(24*time.Hour+time.Second); until.Before(lo) || until.After(hi) {
		e.t.Fatalf("previous_valid_until %s, want 24 hours after the rotation (%s to %s)", until, lo, hi)
	}
	return str(out, kind)
}

// TestCredentialRotation: through the whole engine, brands rotate their
// webhook secret and API key, creators and analysts their token; during the
// 24 hours both the old and the new value work, a second rotation ends the
// first one's grace at once, `attrib rebuild redis` keeps every credential
// and expiry, and past the grace (the clock moved) only the new values work.
func TestCredentialRotation(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	n := 0
	order := func() map[string]any {
		n++
		id := "rot-" + strings.Repeat("x", n)
		return placed(id, "R-"+id, "100.00")
	}
	works := func(token string) bool {
		t.Helper()
		code, _ := e.call("GET", "/v1/code-requests", token, nil)
		return code == 200
	}
	worksAsAnalyst := func(token string) bool {
		t.Helper()
		code, _ := e.call("POST", "/v1/credentials/rotate", token, map[string]any{"kind": "api_key"})
		return code == 400 // authenticated, then refused for the kind
	}

	// Refusals record nothing.
	for _, tc := range []struct {
		name, token string
		body        any
		status      int
		field       string
	}{
		{"brand asks for a token", a.brandA, map[string]any{"kind": "token"}, 400, "kind"},
		{"creator asks for an api key", a.anna, map[string]any{"kind": "api_key"}, 400, "kind"},
		{"analyst asks for a webhook secret", a.analyst, map[string]any{"kind": "webhook_secret"}, 400, "kind"},
		{"unknown kind", a.brandA, map[string]any{"kind": "password"}, 400, "kind"},
		{"no kind", a.brandA, map[string]any{}, 400, "kind"},
		{"kind of the wrong type", a.brandA, map[string]any{"kind": 1}, 400, "kind"},
		{"operator", e.admin, map[string]any{"kind": "token"}, 403, ""},
		{"no token", "", map[string]any{"kind": "token"}, 401, ""},
	} {
		code, out := e.call("POST", "/v1/credentials/rotate", tc.token, tc.body)
		errBody, _ := out["error"].(map[string]any)
		if code != tc.status || (tc.field != "" && str(errBody, "field") != tc.field) {
			t.Errorf("%s: %d %v, want %d naming %q", tc.name, code, out, tc.status, tc.field)
		}
	}
	if !works(a.brandA) || !works(a.anna) || !worksAsAnalyst(a.analyst) {
		t.Fatal("a refused rotation changed a credential")
	}

	// Webhook secret: both verify during the grace.
	oldSecret := a.secretA
	newSecret := e.rotate(a.brandA, "webhook_secret")
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "whsec_") {
		t.Fatalf("new webhook secret %q", newSecret)
	}
	if code := e.signedWebhook(a.brandAID, newSecret, order()); code != 202 {
		t.Fatalf("webhook signed with the new secret = %d, want 202", code)
	}
	if code := e.signedWebhook(a.brandAID, oldSecret, order()); code != 202 {
		t.Fatalf("webhook signed with the old secret during the grace = %d, want 202", code)
	}
	if code := e.signedWebhook(a.brandBID, newSecret, order()); code != 401 {
		t.Fatalf("brand A's new secret for brand B = %d, want 401", code)
	}

	// API key: both authenticate; the old one may not rotate again.
	oldKey := a.brandA
	newKey := e.rotate(oldKey, "api_key")
	if !works(oldKey) || !works(newKey) {
		t.Fatal("old and new API keys must both work during the grace")
	}
	if code, out := e.call("POST", "/v1/credentials/rotate", oldKey, map[string]any{"kind": "webhook_secret"}); code != 409 {
		t.Fatalf("rotation with the replaced API key = %d %v, want 409", code, out)
	}
	// The brand's principal of the new key is the brand, with its name.
	if out := e.must(201, "POST", "/v1/offers", newKey, map[string]any{"name": "After rotation",
		"payout": map[string]any{"type": "fixed", "value": "1.00", "currency": "RUB"}, "countries": []string{"RU"},
		"platforms": []string{"vk"}, "hold_days": 0}); str(out, "brand") != "Acme Cosmetics" {
		t.Fatalf("offer published with the new key: %v, want brand Acme Cosmetics", out)
	}

	// Creator: rotate twice; the second ends the first one's grace.
	t0 := a.anna
	t1 := e.rotate(t0, "token")
	if !works(t0) || !works(t1) {
		t.Fatal("old and new creator tokens must both work during the grace")
	}
	if code, _ := e.call("POST", "/v1/credentials/rotate", t0, map[string]any{"kind": "token"}); code != 409 {
		t.Fatalf("rotation with the replaced token = %d, want 409", code)
	}
	t2 := e.rotate(t1, "token")
	if works(t0) {
		t.Fatal("the first token still works after a second rotation: only the newest previous token may")
	}
	if !works(t1) || !works(t2) {
		t.Fatal("the previous and the current token must work")
	}

	// Analyst.
	an0 := a.analyst
	an1 := e.rotate(an0, "token")
	if !worksAsAnalyst(an0) || !worksAsAnalyst(an1) {
		t.Fatal("old and new analyst tokens must both work during the grace")
	}

	// A rebuild of the Redis projection keeps credentials and expiries.
	rebuildRedis(t, e)
	if !works(oldKey) || !works(newKey) || works(t0) || !works(t1) || !works(t2) || !worksAsAnalyst(an0) {
		t.Fatal("credentials after the rebuild differ from before")
	}

	// Past the grace, measured from the rotations: only the new values.
	e.shift.Store(int64(24*time.Hour + time.Minute))
	defer e.shift.Store(0)
	if code := e.signedWebhook(a.brandAID, oldSecret, order()); code != 401 {
		t.Fatalf("webhook signed with the old secret after the grace = %d, want 401", code)
	}
	if code := e.signedWebhook(a.brandAID, newSecret, order()); code != 202 {
		t.Fatalf("webhook signed with the new secret after the grace = %d, want 202", code)
	}
	if works(oldKey) || !works(newKey) {
		t.Fatal("after the grace only the new API key may work")
	}
	if works(t1) || !works(t2) {
		t.Fatal("after the grace only the newest creator token may work")
	}
	if worksAsAnalyst(an0) || !worksAsAnalyst(an1) {
		t.Fatal("after the grace only the new analyst token may work")
	}
}

// TestConcurrentTokenRotations: rotations of one creator's token racing
// in the API are serialised: exactly one succeeds, the others answer 409
// and record nothing, so there are never two current tokens.
func TestConcurrentTokenRotations(t *testing.T) {
	e := startEngine(t)
	c := e.must(201, "POST", "/v1/creators", e.admin, map[string]any{"name": "Vera", "email": "vera@example.com"})
	token := str(c, "token")
	const n = 8
	codes := make([]int, n)
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := e.call("POST", "/v1/credentials/rotate", token, map[string]any{"kind": "token"})
			codes[i], tokens[i] = code, str(out, "token")
		}()
	}
	wg.Wait()
	var won []string
	for i, code := range codes {
		switch code {
		case 200:
			won = append(won, tokens[i])
		case 409:
		default:
			t.Fatalf("concurrent rotation answered %d", code)
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d concurrent rotations succeeded (%v), want exactly 1", len(won), n, codes)
	}
	// The winner's token is current: it may rotate again.
	e.must(200, "POST", "/v1/credentials/rotate", won[0], map[string]any{"kind": "token"})
}
