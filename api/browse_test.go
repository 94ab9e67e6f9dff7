package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
)

// browseCatalog is a catalog read model of two brands' offers, a
// creator's requests and the creators' names.
type browseCatalog struct {
	tokens
	offers   []api.Offer
	requests []api.CodeRequest
	names    map[string]string
}

func (b browseCatalog) Offers(context.Context) ([]api.Offer, error) { return b.offers, nil }
func (b browseCatalog) Request(context.Context, string) (api.CodeRequest, bool, error) {
	return api.CodeRequest{}, false, nil
}
func (b browseCatalog) RequestsByCreator(_ context.Context, id string) ([]api.CodeRequest, error) {
	var out []api.CodeRequest
	for _, q := range b.requests {
		if q.CreatorID == id {
			out = append(out, q)
		}
	}
	return out, nil
}
func (b browseCatalog) RequestsByBrand(_ context.Context, id string) ([]api.CodeRequest, error) {
	var out []api.CodeRequest
	for _, q := range b.requests {
		if q.BrandID == id {
			out = append(out, q)
		}
	}
	return out, nil
}
func (b browseCatalog) CreatorNames(_ context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		if n, ok := b.names[id]; ok {
			out[id] = n
		}
	}
	return out, nil
}

var browseNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func browseServer(t *testing.T) http.Handler {
	t.Helper()
	day := func(n int) *time.Time { at := browseNow.AddDate(0, 0, -n); return &at }
	cat := browseCatalog{
		tokens: tokens{
			"anna":    {Role: api.RoleCreator, ID: "c1", Name: "Anna"},
			"boris":   {Role: api.RoleCreator, ID: "c2", Name: "Boris"},
			"acme":    {Role: api.RoleBrand, ID: "b1", Name: "Acme"},
			"zeta":    {Role: api.RoleBrand, ID: "b2", Name: "Zeta"},
			"analyst": {Role: api.RoleAnalyst, ID: "a1"},
		},
		offers: []api.Offer{
			{OfferID: "o_z", BrandID: "b2", Brand: "Zeta", Name: "Zeta deal", PricingModel: "cpa", Status: "active", HoldDays: 7},
			{OfferID: "o_a1", BrandID: "b1", Brand: "acme", Name: "Acme one", PricingModel: "cpa", Status: "active"},
			{OfferID: "o_a2", BrandID: "b1", Brand: "acme", Name: "Acme two", PricingModel: "cpa", Status: "paused"},
			{OfferID: "o_a3", BrandID: "b1", Brand: "acme", Name: "Acme three", PricingModel: "cpa", Status: "active"},
			{OfferID: "o_q", BrandID: "b3", Brand: "Quiet", Name: "Quiet deal", PricingModel: "cpa", Status: "paused"},
		},
		requests: []api.CodeRequest{
			{RequestID: "r1", BrandID: "b1", OfferID: "o_a1", CreatorID: "c1", Platform: "vk", Status: "confirmed", Code: "ANNA1",
				RequestedAt: *day(3), DecidedAt: day(2)},
			{RequestID: "r2", BrandID: "b1", OfferID: "o_a1", CreatorID: "c1", Platform: "tiktok", Status: "rejected", Reason: "old",
				RequestedAt: *day(40), DecidedAt: day(30)},
			{RequestID: "r3", BrandID: "b1", OfferID: "o_a1", CreatorID: "c1", Platform: "youtube", Status: "moderation", RequestedAt: *day(1)},
			{RequestID: "r4", BrandID: "b1", OfferID: "o_a1", CreatorID: "c2", Platform: "vk", Status: "confirmed", Code: "BORIS",
				RequestedAt: *day(5), DecidedAt: day(4), RevokedAt: day(1)},
			{RequestID: "r5", BrandID: "b1", OfferID: "o_a2", CreatorID: "c2", Platform: "vk", Status: "moderation", RequestedAt: *day(50)},
			{RequestID: "r6", BrandID: "b2", OfferID: "o_z", CreatorID: "c1", Platform: "vk", Status: "confirmed", Code: "ZANNA",
				RequestedAt: *day(9), DecidedAt: day(8)},
		},
		names: map[string]string{"c1": "Anna", "c2": "Boris"},
	}
	srv, err := api.New(api.Config{Commands: unused{}, Registrar: unused{}, Catalog: cat, MasterKey: make([]byte, 32),
		Now: func() time.Time { return browseNow }})
	if err != nil {
		t.Fatal(err)
	}
	mux := api.NewMux()
	srv.Register(mux)
	return mux
}

// browse calls path as token and returns the status and the answer with
// the keys named in keep of each object under list (and their order).
func browse(t *testing.T, h http.Handler, token, path string) (int, map[string]any) {
	t.Helper()
	res := call(t, h, token, path)
	body, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return res.StatusCode, out
}

// ids returns the values of key of the objects in the list at path
// (keys separated by dots; a number indexes a list).
func ids(v any, key string) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		s, _ := m[key].(string)
		out = append(out, s)
	}
	return out
}

func TestListBrands(t *testing.T) {
	h := browseServer(t)
	cases := []struct {
		name, token, path string
		wantBrands        []string
		wantOffers        [][]string
	}{
		{"creator: brands with an active offer, by name, active offers only", "anna", "/v1/brands",
			[]string{"b1", "b2"}, [][]string{{"o_a1", "o_a3"}, {"o_z"}}},
		{"analyst: the same", "analyst", "/v1/brands?pricing_model=cpa", []string{"b1", "b2"}, [][]string{{"o_a1", "o_a3"}, {"o_z"}}},
		{"name part in any case", "anna", "/v1/brands?q=ZET", []string{"b2"}, [][]string{{"o_z"}}},
		{"brand id", "anna", "/v1/brands?q=b1", []string{"b1"}, [][]string{{"o_a1", "o_a3"}}},
		{"a brand with paused offers only is not listed", "anna", "/v1/brands?q=quiet", []string{}, nil},
		{"another pricing model matches nothing", "anna", "/v1/brands?pricing_model=cpl", []string{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := browse(t, h, tc.token, tc.path)
			if code != http.StatusOK {
				t.Fatalf("GET %s = %d %v", tc.path, code, out)
			}
			if got := ids(out["brands"], "brand_id"); !reflect.DeepEqual(got, tc.wantBrands) {
				t.Fatalf("brands = %v, want %v", got, tc.wantBrands)
			}
			for i, b := range out["brands"].([]any) {
				if got := ids(b.(map[string]any)["offers"], "offer_id"); !reflect.DeepEqual(got, tc.wantOffers[i]) {
					t.Errorf("offers of %v = %v, want %v", b.(map[string]any)["brand_id"], got, tc.wantOffers[i])
				}
			}
		})
	}
	if code, _ := browse(t, h, "acme", "/v1/brands"); code != http.StatusForbidden {
		t.Errorf("a brand listing brands: %d, want 403", code)
	}
}

func TestGetOffer(t *testing.T) {
	h := browseServer(t)
	cases := []struct {
		name, token, offer string
		wantCode           int
		// wantRequests are the request ids of my_requests; nil: no my_requests key.
		wantRequests []string
	}{
		{"creator: own requests, decided ones 14 days", "anna", "o_a1", 200, []string{"r1", "r3"}},
		{"another creator: only theirs (a revoked code too)", "boris", "o_a1", 200, []string{"r4"}},
		{"creator without requests: an empty list", "boris", "o_a3", 200, []string{}},
		{"creator: a paused offer they requested", "boris", "o_a2", 200, []string{"r5"}},
		{"creator: a paused offer they never requested", "anna", "o_a2", 404, nil},
		{"brand: its own paused offer, without my_requests", "acme", "o_a2", 200, nil},
		{"brand: another brand's offer", "zeta", "o_a1", 404, nil},
		{"analyst: any offer", "analyst", "o_q", 200, nil},
		{"unknown offer", "anna", "o_nope", 404, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := browse(t, h, tc.token, "/v1/offers/"+tc.offer)
			if code != tc.wantCode {
				t.Fatalf("GET /v1/offers/%s = %d %v, want %d", tc.offer, code, out, tc.wantCode)
			}
			if code != http.StatusOK {
				return
			}
			if out["offer_id"] != tc.offer {
				t.Errorf("offer_id = %v", out["offer_id"])
			}
			for _, k := range []string{"brand", "payout", "platforms", "countries", "hold_days", "status"} {
				if _, ok := out[k]; !ok {
					t.Errorf("no %q in %v", k, out)
				}
			}
			mine, has := out["my_requests"]
			if (tc.wantRequests != nil) != has {
				t.Fatalf("my_requests present = %v, want %v: %v", has, tc.wantRequests != nil, out)
			}
			if got := ids(mine, "request_id"); has && !reflect.DeepEqual(got, tc.wantRequests) {
				t.Errorf("my_requests = %v, want %v", got, tc.wantRequests)
			}
			for _, q := range func() []any { l, _ := mine.([]any); return l }() {
				m := q.(map[string]any)
				for _, k := range []string{"request_id", "platform", "status", "code", "reason", "requested_at", "decided_at"} {
					if _, ok := m[k]; !ok {
						t.Errorf("my_requests entry %v has no %q", m["request_id"], k)
					}
				}
			}
		})
	}
}

func TestBrandPromoCodes(t *testing.T) {
	h := browseServer(t)
	cases := []struct {
		name, token, path string
		wantCode          int
		want              []string // code/creator/status
	}{
		{"every code of the brand, newest issued first", "acme", "/v1/promo-codes", 200, []string{"ANNA1/Anna/active", "BORIS/Boris/revoked"}},
		{"active", "acme", "/v1/promo-codes?status=active", 200, []string{"ANNA1/Anna/active"}},
		{"revoked", "acme", "/v1/promo-codes?status=revoked", 200, []string{"BORIS/Boris/revoked"}},
		{"another brand's codes are not there", "zeta", "/v1/promo-codes", 200, []string{"ZANNA/Anna/active"}},
		{"bad status", "acme", "/v1/promo-codes?status=moderation", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := browse(t, h, tc.token, tc.path)
			if code != tc.wantCode {
				t.Fatalf("GET %s = %d %v, want %d", tc.path, code, out, tc.wantCode)
			}
			if code != http.StatusOK {
				return
			}
			got := []string{}
			for _, e := range out["promo_codes"].([]any) {
				m := e.(map[string]any)
				got = append(got, m["code"].(string)+"/"+m["creator"].(string)+"/"+m["status"].(string))
				for _, k := range []string{"creator_id", "offer_id", "offer", "issued_at"} {
					if _, ok := m[k]; !ok {
						t.Errorf("code %v has no %q", m["code"], k)
					}
				}
				for k := range m {
					if strings.Contains(k, "email") {
						t.Errorf("code %v carries %q", m["code"], k)
					}
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("promo_codes = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBrandRequestsNameTheirCreators checks that a brand's list of code
// requests names each request's creator, and that a creator's own list
// does not carry the field.
func TestBrandRequestsNameTheirCreators(t *testing.T) {
	h := browseServer(t)
	for _, tc := range []struct {
		name, token, path string
		want              map[string]string // request id -> creator name
	}{
		{"brand, every status", "acme", "/v1/code-requests", map[string]string{"r1": "Anna", "r2": "Anna", "r3": "Anna", "r4": "Boris", "r5": "Boris"}},
		{"brand, moderation", "acme", "/v1/code-requests?status=moderation", map[string]string{"r3": "Anna", "r5": "Boris"}},
		{"creator", "anna", "/v1/code-requests", map[string]string{"r1": "", "r3": "", "r6": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := browse(t, h, tc.token, tc.path)
			if status != http.StatusOK {
				t.Fatalf("GET %s = %d: %v", tc.path, status, out)
			}
			got := map[string]string{}
			list, _ := out["code_requests"].([]any)
			for _, e := range list {
				q, _ := e.(map[string]any)
				name, _ := q["creator"].(string)
				got[q["request_id"].(string)] = name
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("GET %s: creators %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}
