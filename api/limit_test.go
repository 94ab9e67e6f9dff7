package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/ratelimit"
)

const limitAdminToken = "adm_limit"

// limitCatalog knows a few tokens and answers an empty offer list.
type limitCatalog struct {
	unused
	principals map[string]api.Caller // by token
}

func (c limitCatalog) FindPrincipal(_ context.Context, hash string) (api.Caller, bool, error) {
	for tok, p := range c.principals {
		if credentials.Hash(tok) == hash {
			return p, true, nil
		}
	}
	return api.Caller{}, false, nil
}

func (limitCatalog) Offers(context.Context) ([]api.Offer, error) { return nil, nil }

// countingSender counts the commands sent (each answered with a conflict):
// a command sent is a request that was acted on.
type countingSender struct{ sent atomic.Int64 }

func (s *countingSender) Send(context.Context, catalog.BrandCommand, string) (commands.Result, error) {
	s.sent.Add(1)
	return commands.Result{Failure: &commands.Failure{Kind: commands.FailConflict, Message: "test"}}, nil
}

// refuseAll refuses every request, telling it to wait 2.5 s.
type refuseAll struct{ asked atomic.Int64 }

func (l *refuseAll) Allow(context.Context, string) (bool, time.Duration) {
	l.asked.Add(1)
	return false, 2500 * time.Millisecond
}

func limitedMux(t *testing.T, lim api.Limiter, send api.CommandSender, principals map[string]api.Caller) *api.Mux {
	t.Helper()
	cat := limitCatalog{principals: principals}
	srv, err := api.New(api.Config{Commands: send, Registrar: unused{}, Catalog: cat, MasterKey: make([]byte, 32),
		AdminToken: limitAdminToken, Limiter: lim, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := api.NewMux()
	srv.Register(mux)
	return mux
}

// limitCall makes one request with a bearer token and returns the answer.
func limitCall(t *testing.T, h http.Handler, method, path, token, body string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func expectLimited(t *testing.T, resp *http.Response, wantRetryAfter string) {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusTooManyRequests || json.Unmarshal(raw, &body) != nil || body.Error.Code != "rate_limited" {
		t.Fatalf("got %d %s, want 429 with error code rate_limited", resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Retry-After"); got != wantRetryAfter {
		t.Errorf("Retry-After %q, want %q", got, wantRetryAfter)
	}
	if !strings.Contains(body.Error.Message, "nothing was recorded") {
		t.Errorf("message %q: want it to say nothing was recorded", body.Error.Message)
	}
}

// TestRateLimitEveryAuthenticatedRoute goes over the route table: every
// route that takes a bearer token asks the limiter once the token is
// known, whatever its role may do there, so a new route cannot be left
// out. The webhooks (our own and the shop platforms') limit brands
// themselves.
func TestRateLimitEveryAuthenticatedRoute(t *testing.T) {
	lim := &refuseAll{}
	mux := limitedMux(t, lim, &countingSender{}, nil)
	routes := 0
	for _, pattern := range mux.Patterns() {
		method, path, _ := strings.Cut(pattern, " ")
		if strings.HasPrefix(path, "/v1/webhooks/") || !strings.HasPrefix(path, "/v1/") {
			continue
		}
		routes++
		path = strings.NewReplacer("{offer_id}", "o1", "{request_id}", "r1", "{code}", "C1", "{brand_id}", "b1", "{order_id}", "A-1", "{platform}", "shopify").Replace(path)
		t.Run(pattern, func(t *testing.T) {
			before := lim.asked.Load()
			if resp := limitCall(t, mux, method, path, "", "{}"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("without a token: %d, want 401 (the limit is per token)", resp.StatusCode)
			}
			if lim.asked.Load() != before {
				t.Fatal("a request without a token asked the limiter: anyone could drain buckets")
			}
			expectLimited(t, limitCall(t, mux, method, path, limitAdminToken, "{}"), "3")
		})
	}
	if routes < 15 {
		t.Fatalf("only %d authenticated routes found in the route table", routes)
	}
}

// TestRateLimitPerToken runs the real limiter on Redis: each principal has
// a bucket of its own, a refused request sends no command, and requests
// with a bad token take nothing from anyone's bucket.
func TestRateLimitPerToken(t *testing.T) {
	client, prefix := testenv.Redis(t)
	lim, err := ratelimit.New(ratelimit.Config{Client: client, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := lim.Policy("api", ratelimit.Limit{Rate: 0.001, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	send := &countingSender{}
	mux := limitedMux(t, policy, send, map[string]api.Caller{
		"ak_b1":  {Role: api.RoleBrand, ID: "b1"},
		"ak_b2":  {Role: api.RoleBrand, ID: "b2"},
		"tok_c1": {Role: api.RoleCreator, ID: "b1"}, // same id, another role: another bucket
	})
	offer := `{"name":"x","payout":{"type":"fixed","amount":"1.00","currency":"RUB"},"hold_days":0}`
	for range 5 {
		if resp := limitCall(t, mux, "POST", "/v1/offers", "ak_wrong", offer); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token: %d, want 401", resp.StatusCode)
		}
	}
	for i := range 2 {
		if resp := limitCall(t, mux, "POST", "/v1/offers", "ak_b1", offer); resp.StatusCode != http.StatusConflict {
			t.Fatalf("request %d within the burst: %d, want the command's 409", i+1, resp.StatusCode)
		}
	}
	expectLimited(t, limitCall(t, mux, "POST", "/v1/offers", "ak_b1", offer), "1000")
	expectLimited(t, limitCall(t, mux, "GET", "/v1/offers", "ak_b1", ""), "1000")
	if got := send.sent.Load(); got != 2 {
		t.Fatalf("%d commands sent, want the 2 allowed ones: a refused request must record nothing", got)
	}
	for _, tok := range []string{"ak_b2", "tok_c1", limitAdminToken} {
		if resp := limitCall(t, mux, "GET", "/v1/offers", tok, ""); resp.StatusCode == http.StatusTooManyRequests {
			t.Errorf("%s refused: it has a bucket of its own", tok)
		}
	}
}
