package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/internal/testenv"
)

// engine is a running `attrib serve` for one test.
type engine struct {
	t     *testing.T
	base  string
	admin string
	// shift moves the API's clock forward.
	shift *atomic.Int64
	args  []string
	// common are the flags every subcommand on this engine's servers needs.
	common      []string
	redisPrefix string
	brokers     []string
	// ch is the test's own connection to ClickHouse, not bound to chDB,
	// the engine's database.
	ch   driver.Conn
	chDB string
}

// startEngine runs `attrib serve` in-process on the embedded broker and the
// real Redis and ClickHouse, with a Redis prefix of its own; extra flags
// are appended.
func startEngine(t *testing.T, extra ...string) *engine {
	t.Helper()
	redisURL := testenv.RedisURL(t)
	chURL, ch, chDB := ownClickHouseDatabase(t)
	e := &engine{t: t, admin: "admin-" + testenv.UniqueName(""), shift: new(atomic.Int64), ch: ch, chDB: chDB}
	clock = func() time.Time { return time.Now().Add(time.Duration(e.shift.Load())) }
	t.Cleanup(func() { clock = time.Now })
	broker, err := embedded.Start(embedded.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	httpAddr := freeAddr(t)
	e.base = "http://" + httpAddr
	e.redisPrefix = testenv.UniqueName("t:") + ":"
	e.brokers = broker.Addrs()
	e.common = []string{"--data-dir", t.TempDir(), "--kafka-brokers", strings.Join(broker.Addrs(), ","),
		"--kafka-partitions", "4", "--redis-url", redisURL, "--clickhouse-url", chURL,
		"--redis-prefix", e.redisPrefix, "--log-level", "warn"}
	e.args = append(append([]string{"serve", "--http-addr", httpAddr, "--admin-token", e.admin}, e.common...), extra...)
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, e.args, env(nil), io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return e
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before ready:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 60s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call makes a request and decodes the JSON answer into a map.
func (e *engine) call(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// must calls and fails the test unless the status is want.
func (e *engine) must(want int, method, path, token string, body any) map[string]any {
	e.t.Helper()
	code, out := e.call(method, path, token, body)
	if code != want {
		e.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func list(m map[string]any, k string) []map[string]any {
	items, _ := m[k].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if mm, ok := it.(map[string]any); ok {
			out = append(out, mm)
		}
	}
	return out
}

type actors struct {
	brandA, brandB     string // api keys
	secretA, secretB   string // webhook secrets
	brandAID, brandBID string
	anna, boris        string // creator tokens
	annaID             string
	analyst            string
	offerA, offerB     string
}

func setupActors(t *testing.T, e *engine) actors {
	t.Helper()
	var a actors
	b := e.must(201, "POST", "/v1/brands", e.admin, map[string]any{"name": "Acme Cosmetics"})
	a.brandA, a.brandAID, a.secretA = str(b, "api_key"), str(b, "brand_id"), str(b, "webhook_secret")
	if !strings.HasPrefix(str(b, "webhook_secret"), "whsec_") {
		t.Fatalf("brand answer without webhook secret: %v", b)
	}
	b = e.must(201, "POST", "/v1/brands", e.admin, map[string]any{"name": "Bolt Sports"})
	a.brandB, a.brandBID, a.secretB = str(b, "api_key"), str(b, "brand_id"), str(b, "webhook_secret")
	c := e.must(201, "POST", "/v1/creators", e.admin, map[string]any{"name": "Anna", "email": "anna@example.com"})
	a.anna, a.annaID = str(c, "token"), str(c, "creator_id")
	c = e.must(201, "POST", "/v1/creators", e.admin, map[string]any{"name": "Boris", "email": "boris@example.com"})
	a.boris = str(c, "token")
	a.analyst = str(e.must(201, "POST", "/v1/analysts", e.admin, map[string]any{"name": "Ops"}), "token")
	offer := map[string]any{"name": "Spring sale", "payout": map[string]any{"type": "fixed", "value": "150.00", "currency": "RUB"},
		"countries": []string{"RU"}, "platforms": []string{"instagram", "tiktok"}, "hold_days": 30}
	o := e.must(201, "POST", "/v1/offers", a.brandA, offer)
	if str(o, "pricing_model") != "cpa" || str(o, "status") != "active" {
		t.Fatalf("offer answer %v, want pricing_model cpa and status active", o)
	}
	a.offerA = str(o, "offer_id")
	offer["payout"] = map[string]any{"type": "percent", "value": "10", "currency": "RUB"}
	a.offerB = str(e.must(201, "POST", "/v1/offers", a.brandB, offer), "offer_id")
	return a
}

// TestCatalogFlowOverHTTP: a brand creates an offer, a creator requests a
// code, the brand confirms, the creator sees it; a second brand may issue
// the same text, the same brand may not (also when 20 confirms race); a
// decision leaves the creator's request list after 14 days.
func TestCatalogFlowOverHTTP(t *testing.T) {
	mb := startMailbox(t)
	e := startEngine(t, "--smtp-url", mb.url())
	a := setupActors(t, e)

	offers := list(e.must(200, "GET", "/v1/offers?pricing_model=cpa&brand=acme", a.anna, nil), "offers")
	if len(offers) != 1 || str(offers[0], "offer_id") != a.offerA || str(offers[0], "brand") != "Acme Cosmetics" {
		t.Fatalf("creator's offers filtered by brand: %v, want only %s", offers, a.offerA)
	}
	req := e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerA, "platform": "instagram"})
	if str(req, "status") != "moderation" {
		t.Fatalf("new request %v, want status moderation", req)
	}
	reqID := str(req, "request_id")
	pending := list(e.must(200, "GET", "/v1/code-requests?status=moderation", a.brandA, nil), "code_requests")
	if len(pending) != 1 || str(pending[0], "request_id") != reqID {
		t.Fatalf("brand's moderation list %v, want %s", pending, reqID)
	}
	conf := e.must(200, "POST", "/v1/code-requests/"+reqID+"/confirm", a.brandA, map[string]any{"code": "ANNA10"})
	if str(conf, "status") != "confirmed" || str(conf, "code") != "ANNA10" {
		t.Fatalf("confirm answer %v", conf)
	}
	codes := list(e.must(200, "GET", "/v1/promo-codes", a.anna, nil), "promo_codes")
	if len(codes) != 1 || str(codes[0], "code") != "ANNA10" || str(codes[0], "brand") != "Acme Cosmetics" {
		t.Fatalf("anna's promo codes %v, want ANNA10 at Acme", codes)
	}
	if payout, _ := codes[0]["payout"].(map[string]any); str(payout, "value") != "150.00" {
		t.Fatalf("promo code payout %v, want 150.00", codes[0]["payout"])
	}

	// Same text at the other brand: fine.
	rb := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+rb+"/confirm", a.brandB, map[string]any{"code": "anna10"})

	// Same text at the same brand, spelled with a Cyrillic А: 409.
	rc := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerA, "platform": "tiktok"}), "request_id")
	e.must(409, "POST", "/v1/code-requests/"+rc+"/confirm", a.brandA, map[string]any{"code": "АNNA10"})

	// 20 creators' requests confirmed with one new text at once: one wins.
	var ids []string
	for i := range 20 {
		tok := str(e.must(201, "POST", "/v1/creators", e.admin, map[string]any{"name": fmt.Sprintf("C%d", i), "email": fmt.Sprintf("c%d@example.com", i)}), "token")
		ids = append(ids, str(e.must(201, "POST", "/v1/code-requests", tok, map[string]any{"offer_id": a.offerA, "platform": "instagram"}), "request_id"))
	}
	codesSeen := make([]int, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codesSeen[i], _ = e.call("POST", "/v1/code-requests/"+id+"/confirm", a.brandA, map[string]any{"code": "RACE20"})
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codesSeen {
		count[c]++
	}
	if count[200] != 1 || count[409] != 19 {
		t.Fatalf("racing confirms answered %v, want one 200 and nineteen 409", count)
	}

	// A generated code when the brand gives none.
	rg := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerA, "platform": "tiktok"}), "request_id")
	gen := e.must(200, "POST", "/v1/code-requests/"+rg+"/confirm", a.brandA, nil)
	if code := str(gen, "code"); !strings.HasPrefix(code, "ANNA") || len(code) < 8 {
		t.Fatalf("generated code %q, want ANNA followed by random characters", code)
	}

	// A rejection with its reason.
	rr := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerB, "platform": "instagram"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+rr+"/reject", a.brandB, map[string]any{"reason": "audience too small"})
	mine := list(e.must(200, "GET", "/v1/code-requests", a.anna, nil), "code_requests")
	var sawReason bool
	for _, q := range mine {
		sawReason = sawReason || (str(q, "request_id") == rr && str(q, "reason") == "audience too small" && str(q, "status") == "rejected")
	}
	if len(mine) != 3 || !sawReason {
		t.Fatalf("anna's requests %v, want 3 with the rejection and its reason", mine)
	}

	// One email per decision: anna's two confirmations and her rejection,
	// boris's confirmation at the other brand, and the race's winner.
	mb.waitCount(t, 5)
	annaMail := strings.Join(mb.to("anna@example.com"), "\n----\n")
	if n := len(mb.to("anna@example.com")); n != 3 || !strings.Contains(annaMail, "ANNA10") ||
		!strings.Contains(annaMail, "audience too small") || !strings.Contains(annaMail, "Acme Cosmetics") {
		t.Fatalf("anna got %d emails, want 3 with her code, the brand and the rejection reason:\n%s", n, annaMail)
	}

	// 15 days later the decided requests are gone from her list; codes stay.
	e.shift.Store(int64(15 * 24 * time.Hour))
	if mine := list(e.must(200, "GET", "/v1/code-requests", a.anna, nil), "code_requests"); len(mine) != 0 {
		t.Fatalf("after 15 days anna's requests %v, want none", mine)
	}
	if codes := list(e.must(200, "GET", "/v1/promo-codes", a.anna, nil), "promo_codes"); len(codes) != 2 {
		t.Fatalf("after 15 days anna's promo codes %v, want 2", codes)
	}
	e.shift.Store(0)

	// Revoking removes the code from her list.
	e.must(200, "POST", "/v1/promo-codes/anna10/revoke", a.brandA, nil)
	if codes := list(e.must(200, "GET", "/v1/promo-codes", a.anna, nil), "promo_codes"); len(codes) != 1 {
		t.Fatalf("after revocation anna's promo codes %v, want 1", codes)
	}
	e.must(409, "POST", "/v1/promo-codes/anna10/revoke", a.brandA, nil)
}

// TestCatalogRefusals: every malformed body, unknown offer, foreign
// request, wrong role and missing token gets its status and names the field.
func TestCatalogRefusals(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	reqB := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerB, "platform": "instagram"}), "request_id")
	cases := []struct {
		name             string
		method, path     string
		token            func() string
		body             any
		wantCode         int
		wantErr, wantFld string
	}{
		{"no token", "GET", "/v1/offers", func() string { return "" }, nil, 401, "unauthorized", ""},
		{"unknown token", "GET", "/v1/offers", func() string { return "ct_nope" }, nil, 401, "unauthorized", ""},
		{"creator registers a brand", "POST", "/v1/brands", func() string { return a.anna }, map[string]any{"name": "X"}, 403, "forbidden", ""},
		{"brand requests a code", "POST", "/v1/code-requests", func() string { return a.brandA }, map[string]any{"offer_id": a.offerA, "platform": "vk"}, 403, "forbidden", ""},
		{"creator publishes an offer", "POST", "/v1/offers", func() string { return a.anna }, map[string]any{}, 403, "forbidden", ""},
		{"brand without name", "POST", "/v1/brands", func() string { return e.admin }, map[string]any{}, 400, "invalid_field", "name"},
		{"creator with a bad email", "POST", "/v1/creators", func() string { return e.admin }, map[string]any{"name": "X", "email": "nope"}, 400, "invalid_field", "email"},
		{"malformed JSON", "POST", "/v1/offers", func() string { return a.brandA }, `{"name": `, 400, "invalid_field", ""},
		{"wrong type", "POST", "/v1/offers", func() string { return a.brandA }, map[string]any{"name": 5}, 400, "invalid_field", "name"},
		{"payout not a decimal", "POST", "/v1/offers", func() string { return a.brandA }, map[string]any{"name": "X",
			"payout": map[string]any{"type": "fixed", "value": "1,5", "currency": "RUB"}, "countries": []string{"RU"}, "platforms": []string{"vk"}, "hold_days": 0}, 400, "invalid_field", "payout.value"},
		{"missing hold_days", "POST", "/v1/offers", func() string { return a.brandA }, map[string]any{"name": "X",
			"payout": map[string]any{"type": "fixed", "value": "1", "currency": "RUB"}, "countries": []string{"RU"}, "platforms": []string{"vk"}}, 400, "invalid_field", "hold_days"},
		{"too large", "POST", "/v1/offers", func() string { return a.brandA }, `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large", ""},
		{"unknown offer", "POST", "/v1/code-requests", func() string { return a.anna }, map[string]any{"offer_id": "ofr_nope", "platform": "vk"}, 404, "not_found", ""},
		{"platform not offered", "POST", "/v1/code-requests", func() string { return a.boris }, map[string]any{"offer_id": a.offerA, "platform": "vk"}, 400, "invalid_field", "platform"},
		{"unknown request", "POST", "/v1/code-requests/req_nope/confirm", func() string { return a.brandA }, map[string]any{"code": "X1"}, 404, "not_found", ""},
		{"foreign request", "POST", "/v1/code-requests/" + reqB + "/confirm", func() string { return a.brandA }, map[string]any{"code": "X1"}, 403, "forbidden", ""},
		{"bad code text", "POST", "/v1/code-requests/" + reqB + "/confirm", func() string { return a.brandB }, map[string]any{"code": "NO SPACES"}, 400, "invalid_field", "code"},
		{"reject without reason", "POST", "/v1/code-requests/" + reqB + "/reject", func() string { return a.brandB }, map[string]any{}, 400, "invalid_field", "reason"},
		{"unknown offer to change", "PATCH", "/v1/offers/ofr_nope", func() string { return a.brandA }, map[string]any{"status": "paused"}, 404, "not_found", ""},
		{"unknown code to revoke", "POST", "/v1/promo-codes/NOPE/revoke", func() string { return a.brandA }, nil, 404, "not_found", ""},
		{"bad status filter", "GET", "/v1/code-requests?status=open", func() string { return a.brandA }, nil, 400, "invalid_field", "status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := e.call(tc.method, tc.path, tc.token(), tc.body)
			errObj, _ := out["error"].(map[string]any)
			if code != tc.wantCode || str(errObj, "code") != tc.wantErr || str(errObj, "field") != tc.wantFld {
				t.Fatalf("%s %s = %d %v, want %d %s field %q", tc.method, tc.path, code, out, tc.wantCode, tc.wantErr, tc.wantFld)
			}
		})
	}

	// A paused offer refuses new requests with 409.
	e.must(200, "PATCH", "/v1/offers/"+a.offerA, a.brandA, map[string]any{"status": "paused"})
	e.must(409, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerA, "platform": "instagram"})
	if offers := list(e.must(200, "GET", "/v1/offers", a.anna, nil), "offers"); len(offers) != 1 {
		t.Fatalf("creator sees %v, want only the active offer", offers)
	}
}

// ownClickHouseDatabase returns the test server's URL naming a database of
// the test's own (testenv.ClickHouse: created empty, dropped when the test
// ends), with a connection to the server that is not bound to it.
func ownClickHouseDatabase(t *testing.T) (chURL string, conn driver.Conn, db string) {
	t.Helper()
	conn, db = testenv.ClickHouse(t)
	u, err := url.Parse(testenv.ClickHouseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String(), conn, db
}
