package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/commands"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// The tenants of the cross-tenant test: two brands, a creator of each,
// an analyst and the operator. Everything of brand b2 and creator c2 is
// foreign to b1 and c1, which call with paths naming it.
const (
	tokAdmin    = "tok_admin"
	tokBrand1   = "tok_brand_1"
	tokBrand2   = "tok_brand_2"
	tokCreator1 = "tok_creator_1"
	tokCreator2 = "tok_creator_2"
	tokAnalyst  = "tok_analyst"
	tokUnknown  = "tok_nobody"
)

var tenancyCallers = tokens{
	tokBrand1:   {Role: api.RoleBrand, ID: "b1", Name: "Acme"},
	tokBrand2:   {Role: api.RoleBrand, ID: "b2", Name: "Rival"},
	tokCreator1: {Role: api.RoleCreator, ID: "c1", Name: "Anna"},
	tokCreator2: {Role: api.RoleCreator, ID: "c2", Name: "Boris"},
	tokAnalyst:  {Role: api.RoleAnalyst, ID: "a1", Name: "Ops"},
}

// tenancyCatalog is the catalog read model of the test's tenants.
type tenancyCatalog struct{ tokens }

var (
	tenancyT0     = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	tenancyOffers = []api.Offer{
		{OfferID: "ofr_b1", BrandID: "b1", Brand: "Acme", Name: "Acme sale", PricingModel: "cpa", Status: "active"},
		{OfferID: "ofr_b2", BrandID: "b2", Brand: "Rival", Name: "Rival sale", PricingModel: "cpa", Status: "active"},
		{OfferID: "ofr_b2_paused", BrandID: "b2", Brand: "Rival", Name: "Rival secret", PricingModel: "cpa", Status: "paused"},
	}
	tenancyRequests = []api.CodeRequest{
		{RequestID: "req_c1_b1", BrandID: "b1", OfferID: "ofr_b1", CreatorID: "c1", Platform: "vk", Status: "moderation", RequestedAt: tenancyT0},
		{RequestID: "req_c2_b2", BrandID: "b2", OfferID: "ofr_b2", CreatorID: "c2", Platform: "vk", Status: "confirmed",
			Code: "RIVALSECRET", RequestedAt: tenancyT0, DecidedAt: &tenancyT0},
	}
)

func (tenancyCatalog) Offers(context.Context) ([]api.Offer, error) { return tenancyOffers, nil }
func (tenancyCatalog) Request(_ context.Context, id string) (api.CodeRequest, bool, error) {
	for _, q := range tenancyRequests {
		if q.RequestID == id {
			return q, true, nil
		}
	}
	return api.CodeRequest{}, false, nil
}
func (tenancyCatalog) RequestsByCreator(_ context.Context, id string) ([]api.CodeRequest, error) {
	return filterRequests(func(q api.CodeRequest) bool { return q.CreatorID == id }), nil
}
func (tenancyCatalog) RequestsByBrand(_ context.Context, id string) ([]api.CodeRequest, error) {
	return filterRequests(func(q api.CodeRequest) bool { return q.BrandID == id }), nil
}

func (t tenancyCatalog) CreatorNames(_ context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range t.tokens {
		if c.Role == api.RoleCreator && slices.Contains(ids, c.ID) {
			out[c.ID] = c.Name
		}
	}
	return out, nil
}

func filterRequests(keep func(api.CodeRequest) bool) []api.CodeRequest {
	var out []api.CodeRequest
	for _, q := range tenancyRequests {
		if keep(q) {
			out = append(out, q)
		}
	}
	return out
}

// recorder records what the API asks to record, and refuses it all as
// "not found": the test looks at what would have been written, and for
// whom, not at the deciders (package catalog tests those).
type recorder struct {
	mu       sync.Mutex
	commands []catalog.BrandCommand
	regs     []catalog.Command
}

func (r *recorder) Send(_ context.Context, cmd catalog.BrandCommand, _ string) (commands.Result, error) {
	r.mu.Lock()
	r.commands = append(r.commands, cmd)
	r.mu.Unlock()
	return commands.Result{Failure: &commands.Failure{Kind: commands.FailNotFound, Message: "not found (test)"}}, nil
}
func (r *recorder) RegisterCreator(_ context.Context, cmd catalog.RegisterCreator) error {
	r.mu.Lock()
	r.regs = append(r.regs, cmd)
	r.mu.Unlock()
	return nil
}
func (r *recorder) RegisterAnalyst(_ context.Context, cmd catalog.RegisterAnalyst) error {
	r.mu.Lock()
	r.regs = append(r.regs, cmd)
	r.mu.Unlock()
	return nil
}

// take returns and forgets what was recorded.
func (r *recorder) take() ([]catalog.BrandCommand, []catalog.Command) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmds, regs := r.commands, r.regs
	r.commands, r.regs = nil, nil
	return cmds, regs
}

// routeAccess is what the cross-tenant test expects of one route.
type routeAccess struct {
	// path is the request path, naming the other tenant's resources where
	// the route takes an id.
	path string
	// body is the request body of writes.
	body string
	// optionalBody: the route also takes no body at all.
	optionalBody bool
	// public routes answer without a token.
	public bool
	// roles may call the route; every other role gets 403, no token or an
	// unknown one 401.
	roles []string
	// otherTenant: the path names another brand's resource, so a brand's
	// call is refused (403 or 404) and records nothing for anyone else.
	otherTenant bool
}

// routeAccessTable has an entry for every route the API registers; the
// test fails on a route without one, so a new route cannot skip the
// cross-tenant checks.
var routeAccessTable = map[string]routeAccess{
	"GET /healthz":        {path: "/healthz", public: true},
	"GET /readyz":         {path: "/readyz", public: true},
	"GET /metrics":        {path: "/metrics", public: true},
	"GET /openapi.json":   {path: "/openapi.json", public: true},
	"GET /schemas/":       {path: "/schemas/", public: true},
	"GET /schemas/{file}": {path: "/schemas/order.placed.json", public: true},

	"POST /v1/brands":             {path: "/v1/brands", body: `{"name":"Mallory"}`, roles: []string{api.RoleAdmin}},
	"POST /v1/creators":           {path: "/v1/creators", body: `{"name":"Mallory","email":"m@example.com"}`, roles: []string{api.RoleAdmin}},
	"POST /v1/analysts":           {path: "/v1/analysts", body: `{"name":"Mallory"}`, roles: []string{api.RoleAdmin}},
	"GET /v1/offers":              {path: "/v1/offers", roles: []string{api.RoleCreator, api.RoleBrand, api.RoleAnalyst}},
	"POST /v1/offers":             {path: "/v1/offers", body: `{"name":"x","payout":{"type":"fixed","value":"1","currency":"RUB"},"countries":["RU"],"platforms":["vk"],"hold_days":0}`, roles: []string{api.RoleBrand}},
	"PATCH /v1/offers/{offer_id}": {path: "/v1/offers/ofr_b2", body: `{"status":"paused"}`, roles: []string{api.RoleBrand}, otherTenant: true},
	// A creator reads any active offer with their own requests for it, so
	// b1's offer with c1's request must answer c2 without that request.
	"GET /v1/offers/{offer_id}": {path: "/v1/offers/ofr_b1", roles: []string{api.RoleCreator, api.RoleBrand, api.RoleAnalyst}},
	"GET /v1/brands":            {path: "/v1/brands?pricing_model=cpa", roles: []string{api.RoleCreator, api.RoleAnalyst}},

	"GET /v1/code-requests":                       {path: "/v1/code-requests", roles: []string{api.RoleCreator, api.RoleBrand}},
	"POST /v1/code-requests":                      {path: "/v1/code-requests", body: `{"offer_id":"ofr_b2","platform":"vk"}`, roles: []string{api.RoleCreator}},
	"POST /v1/code-requests/{request_id}/confirm": {path: "/v1/code-requests/req_c2_b2/confirm", body: `{"code":"MINE"}`, optionalBody: true, roles: []string{api.RoleBrand}, otherTenant: true},
	"POST /v1/code-requests/{request_id}/reject":  {path: "/v1/code-requests/req_c2_b2/reject", body: `{"reason":"x"}`, roles: []string{api.RoleBrand}, otherTenant: true},
	"GET /v1/promo-codes":                         {path: "/v1/promo-codes", roles: []string{api.RoleCreator, api.RoleBrand}},
	"POST /v1/promo-codes/{code}/revoke":          {path: "/v1/promo-codes/RIVALSECRET/revoke", roles: []string{api.RoleBrand}, otherTenant: true},
	"POST /v1/webhooks/orders":                    {path: "/v1/webhooks/orders", body: `{}`, public: true},
	"POST /v1/credentials/rotate":                 {path: "/v1/credentials/rotate", body: `{"kind":"api_key"}`, roles: []string{api.RoleBrand, api.RoleCreator, api.RoleAnalyst}},

	"GET /v1/reports/orders":                         {path: "/v1/reports/orders", roles: []string{api.RoleCreator, api.RoleBrand, api.RoleAnalyst}},
	"GET /v1/reports/orders.csv":                     {path: "/v1/reports/orders.csv", roles: []string{api.RoleCreator, api.RoleBrand, api.RoleAnalyst}},
	"GET /v1/reports/earnings":                       {path: "/v1/reports/earnings?group_by=creator", roles: []string{api.RoleCreator, api.RoleBrand, api.RoleAnalyst}},
	"GET /v1/analytics/unattributed":                 {path: "/v1/analytics/unattributed", roles: []string{api.RoleAnalyst}},
	"GET /v1/analytics/summary":                      {path: "/v1/analytics/summary?group_by=brand", roles: []string{api.RoleAnalyst}},
	"GET /v1/analytics/orders/{brand_id}/{order_id}": {path: "/v1/analytics/orders/b2/ord_c2", roles: []string{api.RoleAnalyst}},

	"GET /v1/connectors":                       {path: "/v1/connectors", roles: []string{api.RoleBrand}},
	"PUT /v1/connectors/{platform}":            {path: "/v1/connectors/shopify", body: `{"secret":"s3cret"}`, roles: []string{api.RoleBrand}},
	"DELETE /v1/connectors/{platform}":         {path: "/v1/connectors/shopify", roles: []string{api.RoleBrand}},
	"POST /v1/webhooks/shopify/{brand_id}":     {path: "/v1/webhooks/shopify/b2", body: `{}`, public: true},
	"POST /v1/webhooks/woocommerce/{brand_id}": {path: "/v1/webhooks/woocommerce/b2", body: `{}`, public: true},
}

// tenancyConnectors shows each brand a connector of its own, named after
// it, so that an answer naming another brand's would show.
type tenancyConnectors struct{}

func (tenancyConnectors) BrandConnectors(_ context.Context, brandID string) ([]api.ConnectorView, error) {
	return []api.ConnectorView{{Platform: "shopify", ConfirmOn: "orders/paid", UpdatedAt: tenancyT0,
		LastDelivery: &api.Delivery{At: tenancyT0, Topic: "orders/create/" + brandID, Outcome: "accepted"}}}, nil
}

// foreign lists, per caller, what belongs to other tenants and must never
// be in a successful answer to them. Creators see every brand's active
// offers (the marketplace), not other creators' requests, codes or orders;
// brands see only their own offers and requests.
var foreign = map[string][]string{
	tokCreator1: {"req_c2_b2", "RIVALSECRET", "ord_c2", "ofr_b2_paused"},
	tokCreator2: {"req_c1_b1", "ord_c1"},
	tokBrand1:   {"ofr_b2", "req_c2_b2", "RIVALSECRET", "ord_c2", "shopify/b2"},
	tokBrand2:   {"ofr_b1", "req_c1_b1", "ord_c1", "shopify/b1"},
}

// tenancyServer serves every route of the API (as serve registers them)
// over the test's catalog, a recorder for writes, and reports over a
// database of the test's own with one order of each creator.
func tenancyServer(t *testing.T) (*api.Mux, *recorder) {
	t.Helper()
	conn, db := readmodeltest.Migrated(t)
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, promo_code, status, amount, currency, country, earnings, earnings_currency, updated_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct{ creator, brand, order, offer, code string }{
		{"c1", "b1", "ord_c1", "ofr_b1", "ANNA1"},
		{"c2", "b2", "ord_c2", "ofr_b2", "RIVALSECRET"},
	} {
		if err := b.Append(o.creator, tenancyT0, o.brand, o.order, o.offer, o.offer, o.code, "approved",
			decimal.RequireFromString("1000"), "RUB", "RU", decimal.RequireFromString("100"), "RUB", tenancyT0, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	copyByBrand(t, conn, db)
	insertBrand(t, conn, db, "b1", "Acme")
	insertBrand(t, conn, db, "b2", "Rival")

	rec := &recorder{}
	srv, err := api.New(api.Config{Commands: rec, Registrar: rec, Catalog: tenancyCatalog{tenancyCallers},
		Reports: reports.New(conn, db), AdminToken: tokAdmin, MasterKey: make([]byte, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Connectors: tenancyConnectors{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := api.NewMux()
	api.RegisterOps(mux, api.OpsConfig{Gatherer: prometheus.NewRegistry()})
	api.RegisterContracts(mux)
	srv.Register(mux)
	return mux, rec
}

// TestCrossTenantAccess calls every registered route as every kind of
// caller (none, an unknown token, the operator, each brand, each creator,
// the analyst), with paths that name another tenant's resources, and
// checks: who may call it; that a brand acting on another brand's request,
// offer or code is refused; that no command is ever recorded for another
// brand or creator than the caller; and that no successful answer carries
// another tenant's requests, codes, orders or private offers.
func TestCrossTenantAccess(t *testing.T) {
	mux, rec := tenancyServer(t)
	routes := mux.Patterns()
	for _, pattern := range routes {
		if _, ok := routeAccessTable[pattern]; !ok {
			t.Errorf("route %q has no entry in routeAccessTable: say who may call it and with which other tenant's ids", pattern)
		}
	}
	for pattern := range routeAccessTable {
		if !slices.Contains(routes, pattern) {
			t.Errorf("routeAccessTable has %q, which is not registered", pattern)
		}
	}

	callers := []struct {
		name, token, role, id string
	}{
		{"no token", "", "", ""},
		{"unknown token", tokUnknown, "", ""},
		{"operator", tokAdmin, api.RoleAdmin, ""},
		{"brand b1", tokBrand1, api.RoleBrand, "b1"},
		{"brand b2", tokBrand2, api.RoleBrand, "b2"},
		{"creator c1", tokCreator1, api.RoleCreator, "c1"},
		{"creator c2", tokCreator2, api.RoleCreator, "c2"},
		{"analyst", tokAnalyst, api.RoleAnalyst, "a1"},
	}
	for _, pattern := range routes {
		access, ok := routeAccessTable[pattern]
		if !ok {
			continue
		}
		method, _, _ := strings.Cut(pattern, " ")
		for _, c := range callers {
			t.Run(pattern+" as "+c.name, func(t *testing.T) {
				var body io.Reader
				if access.body != "" {
					body = strings.NewReader(access.body)
				}
				req := httptest.NewRequest(method, access.path, body)
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				status, answer := w.Code, w.Body.String()
				cmds, regs := rec.take()

				allowed := access.public || slices.Contains(access.roles, c.role)
				switch {
				case access.public:
					if status == http.StatusUnauthorized || status == http.StatusForbidden {
						t.Fatalf("public route answered %d: %s", status, answer)
					}
				case c.role == "":
					if status != http.StatusUnauthorized {
						t.Fatalf("got %d %s, want 401", status, answer)
					}
				case !allowed:
					if status != http.StatusForbidden {
						t.Fatalf("got %d %s, want 403 for role %s", status, answer, c.role)
					}
				case access.otherTenant && c.id != "b2":
					// b1 naming b2's request, offer or code.
					if status != http.StatusForbidden && status != http.StatusNotFound {
						t.Fatalf("acting on another brand's resource: got %d %s, want 403 or 404", status, answer)
					}
				default:
					if status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500 {
						t.Fatalf("allowed caller got %d %s", status, answer)
					}
				}
				if !allowed && (len(cmds) > 0 || len(regs) > 0) {
					t.Fatalf("refused call recorded %v %v", cmds, regs)
				}
				for _, cmd := range cmds {
					if _, register := cmd.(catalog.RegisterBrand); register != (c.role == api.RoleAdmin) {
						t.Errorf("%s recorded %T", c.role, cmd)
					}
					if c.role == api.RoleAnalyst {
						t.Errorf("the analyst recorded %T", cmd)
					}
					if c.role == api.RoleBrand && cmd.AggregateKey() != c.id {
						t.Errorf("brand %s recorded %T for brand %s", c.id, cmd, cmd.AggregateKey())
					}
					if rc, ok := cmd.(catalog.RequestCode); ok && rc.CreatorID != c.id {
						t.Errorf("creator %s requested a code as creator %s", c.id, rc.CreatorID)
					}
				}
				if status < 300 {
					for _, marker := range foreign[c.token] {
						if strings.Contains(answer, marker) {
							t.Errorf("answer to %s carries another tenant's %q:\n%s", c.name, marker, answer)
						}
					}
				}
			})
		}
	}
}
