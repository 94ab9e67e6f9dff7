package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
)

// TestConnectorSettings: through the whole engine, a brand sets, lists,
// changes and removes its shop connectors; the secret is never answered;
// a change of secret keeps the previous one for 24 hours; bad input
// records nothing; another brand sees none of it; `attrib rebuild redis`
// keeps every connector.
func TestConnectorSettings(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	const secret = "shpss_5ec7e7-0f-the-shop"

	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		field      string
	}{
		{"no secret", "/v1/connectors/shopify", map[string]any{}, 400, "secret"},
		{"secret with a line break", "/v1/connectors/shopify", map[string]any{"secret": "abc\n"}, 400, "secret"},
		{"confirm_on of another platform", "/v1/connectors/shopify", map[string]any{"secret": secret, "confirm_on": "completed"}, 400, "confirm_on"},
		{"secret of the wrong type", "/v1/connectors/woocommerce", map[string]any{"secret": 12}, 400, "secret"},
		{"unknown platform", "/v1/connectors/magento", map[string]any{"secret": secret}, 404, ""},
	} {
		code, out := e.call("PUT", tc.path, a.brandA, tc.body)
		errBody, _ := out["error"].(map[string]any)
		if code != tc.status || str(errBody, "field") != tc.field {
			t.Errorf("%s: %d %v, want %d naming %q", tc.name, code, out, tc.status, tc.field)
		}
	}
	listed := e.must(200, "GET", "/v1/connectors", a.brandA, nil)
	if n := len(list(listed, "connectors")); n != 0 {
		t.Fatalf("refused settings left %d connectors: %v", n, listed)
	}
	if p := list(listed, "platforms"); len(p) != 2 || str(p[0], "platform") != "shopify" ||
		str(p[0], "webhook_path") != "/v1/webhooks/shopify/"+a.brandAID || p[0]["connected"] != false {
		t.Fatalf("platforms %v", p)
	}

	before := clock()
	set := e.must(200, "PUT", "/v1/connectors/shopify", a.brandA, map[string]any{"secret": secret})
	if str(set, "platform") != "shopify" || str(set, "confirm_on") != "orders/paid" || str(set, "webhook_path") != "/v1/webhooks/shopify/"+a.brandAID {
		t.Fatalf("PUT answer %v", set)
	}
	if _, ok := set["previous_secret_valid_until"]; ok {
		t.Fatalf("first set has a previous secret: %v", set)
	}
	e.must(200, "PUT", "/v1/connectors/woocommerce", a.brandA, map[string]any{"secret": "wc secret", "confirm_on": "processing"})
	again := e.must(200, "PUT", "/v1/connectors/shopify", a.brandA, map[string]any{"secret": secret})
	if str(again, "updated_at") != str(set, "updated_at") {
		t.Errorf("the same setting again changed updated_at: %v then %v", set, again)
	}
	rotated := e.must(200, "PUT", "/v1/connectors/shopify", a.brandA, map[string]any{"secret": secret + "-2", "confirm_on": "orders/fulfilled"})
	until, err := time.Parse(time.RFC3339, str(rotated, "previous_secret_valid_until"))
	if err != nil || until.Before(before.Add(24*time.Hour-time.Second)) || until.After(clock().Add(24*time.Hour+time.Second)) {
		t.Fatalf("new secret: previous_secret_valid_until in %v, want 24 hours on", rotated)
	}

	check := func(when string) {
		t.Helper()
		out := e.must(200, "GET", "/v1/connectors", a.brandA, nil)
		conns := list(out, "connectors")
		if len(conns) != 2 || str(conns[0], "platform") != "shopify" || str(conns[0], "confirm_on") != "orders/fulfilled" ||
			str(conns[0], "previous_secret_valid_until") != str(rotated, "previous_secret_valid_until") ||
			str(conns[1], "platform") != "woocommerce" || str(conns[1], "confirm_on") != "processing" {
			t.Fatalf("%s: connectors %v", when, conns)
		}
		if conns[0]["last_delivery"] != nil {
			t.Fatalf("%s: a delivery before any: %v", when, conns[0])
		}
		_, listing := e.call("GET", "/v1/connectors", a.brandA, nil)
		rawJSON, _ := json.Marshal(listing)
		raw := string(rawJSON)
		if strings.Contains(raw, "shpss_") || strings.Contains(raw, "wc secret") || strings.Contains(raw, "sealed") {
			t.Fatalf("%s: the listing shows a secret: %s", when, raw)
		}
		if other := list(e.must(200, "GET", "/v1/connectors", a.brandB, nil), "connectors"); len(other) != 0 {
			t.Fatalf("%s: brand B sees %v", when, other)
		}
	}
	check("after setting")
	if code, _ := e.call("GET", "/v1/connectors", a.anna, nil); code != 403 {
		t.Errorf("a creator listing connectors: %d, want 403", code)
	}

	rebuildRedis(t, e)
	check("after rebuild redis")

	if code, _ := e.call("DELETE", "/v1/connectors/woocommerce", a.brandA, nil); code != 204 {
		t.Fatalf("DELETE = %d, want 204", code)
	}
	if code, out := e.call("DELETE", "/v1/connectors/woocommerce", a.brandA, nil); code != 404 {
		t.Fatalf("second DELETE = %d %v, want 404", code, out)
	}
	if conns := list(e.must(200, "GET", "/v1/connectors", a.brandA, nil), "connectors"); len(conns) != 1 || str(conns[0], "platform") != "shopify" {
		t.Fatalf("after DELETE: %v", conns)
	}
}

// rebuildRedis drops the engine's Redis projection and runs `attrib
// rebuild redis`, checking that it rebuilt the same content.
func rebuildRedis(t *testing.T, e *engine) {
	t.Helper()
	rdb, _ := testenv.Redis(t)
	proj, err := rediscatalog.New(rediscatalog.Config{Client: rdb, Prefix: e.redisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, err := proj.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := proj.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := runContext(ctx, append([]string{"rebuild", "redis"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("attrib rebuild redis exited %d:\n%s", code, stderr.String())
	}
	if after, err := proj.Dump(ctx); err != nil || after != before {
		t.Fatalf("Redis after the rebuild differs (%v)\nbefore:\n%s\nafter:\n%s", err, before, after)
	}
}
