package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// tokens maps bearer tokens to callers.
type tokens map[string]api.Caller

func (t tokens) FindPrincipal(_ context.Context, hash string) (api.Caller, bool, error) {
	for tok, c := range t {
		if credentials.Hash(tok) == hash {
			return c, true, nil
		}
	}
	return api.Caller{}, false, nil
}

var reportCallers = tokens{
	"anna":    {Role: api.RoleCreator, ID: "c1"},
	"bob":     {Role: api.RoleCreator, ID: "c2"},
	"analyst": {Role: api.RoleAnalyst, ID: "a1"},
	"brand":   {Role: api.RoleBrand, ID: "b1"},
}

var rt0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// reportsServer serves the report endpoints over a fresh database: c1 has
// 7 orders (o0..o6, an hour apart; odd ones in USD), c2 has one.
func reportsServer(t *testing.T) http.Handler {
	t.Helper()
	conn, db := readmodeltest.Migrated(t)
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, promo_code, status, amount, currency, country, earnings, earnings_currency, updated_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	add := func(creator, order, offerName, code, status, cur, earnings string, placed time.Time) {
		if err := b.Append(creator, placed, "b1", order, "f1", offerName, code, status, decimal.RequireFromString("1000"), cur, "RU",
			decimal.RequireFromString(earnings), cur, placed, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 7; i++ {
		cur, earn := "RUB", "100"
		if i%2 == 1 {
			cur, earn = "USD", "1.5"
		}
		add("c1", fmt.Sprintf("o%d", i), "Sale, \"big\"\nnew", "ANNA10", "pending", cur, earn, rt0.Add(time.Duration(i)*time.Hour))
	}
	add("c2", "x1", "Other", "BOB", "approved", "RUB", "50", rt0)
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	copyByBrand(t, conn, db)
	insertBrand(t, conn, db, "b1", "Acme")
	return reportsMux(t, reports.New(conn, db))
}

// copyByBrand copies the orders rows of db into orders_by_brand, as the
// projector writes both.
func copyByBrand(t *testing.T, conn driver.Conn, db string) {
	t.Helper()
	if err := conn.Exec(context.Background(), "INSERT INTO "+db+".orders_by_brand (brand_id, placed_at, creator_id, order_id, offer_id, "+
		"offer_name, promo_code, status, amount, currency, country, earnings, earnings_currency, updated_at, version) SELECT brand_id, "+
		"placed_at, creator_id, order_id, offer_id, offer_name, promo_code, status, amount, currency, country, earnings, "+
		"earnings_currency, updated_at, version FROM "+db+".orders"); err != nil {
		t.Fatal(err)
	}
}

// insertBrand writes the brand's name into db.
func insertBrand(t *testing.T, conn driver.Conn, db, id, name string) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".brands (brand_id, name, version)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(id, name, uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func reportsMux(t *testing.T, rr api.ReportReader) http.Handler {
	t.Helper()
	cfg := api.Config{Commands: unused{}, Registrar: unused{}, Catalog: unused{}, Principals: reportCallers, MasterKey: make([]byte, 32)}
	if rr != nil {
		cfg.Reports = rr
	}
	srv, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := api.NewMux()
	srv.Register(mux)
	return mux
}

func call(t *testing.T, h http.Handler, token, path string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

type reportBody struct {
	Orders []struct {
		OrderID  string `json:"order_id"`
		Brand    string `json:"brand"`
		Amount   string `json:"amount"`
		Earnings string `json:"earnings"`
	} `json:"orders"`
	NextCursor *string `json:"next_cursor"`
	Totals     struct {
		Orders   int               `json:"orders"`
		Earnings map[string]string `json:"earnings"`
	} `json:"totals"`
}

func getReport(t *testing.T, h http.Handler, token, path string) reportBody {
	t.Helper()
	res := call(t, h, token, path)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, res.StatusCode, body)
	}
	var out reportBody
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return out
}

func TestReportOrdersPagingAndTotals(t *testing.T) {
	h := reportsServer(t)
	var got []string
	path := "/v1/reports/orders?limit=3&sort=date_asc"
	pages := 0
	for {
		b := getReport(t, h, "anna", path)
		pages++
		if b.Totals.Orders != 7 || b.Totals.Earnings["RUB"] != "400.00" || b.Totals.Earnings["USD"] != "4.50" {
			t.Fatalf("totals %+v", b.Totals)
		}
		for _, o := range b.Orders {
			got = append(got, o.OrderID)
			if o.Brand != "Acme" || o.Amount != "1000.00" {
				t.Fatalf("row %+v", o)
			}
		}
		if b.NextCursor == nil {
			break
		}
		path = "/v1/reports/orders?limit=3&sort=date_asc&cursor=" + url.QueryEscape(*b.NextCursor)
	}
	if pages != 3 || strings.Join(got, ",") != "o0,o1,o2,o3,o4,o5,o6" {
		t.Fatalf("%d pages: %v", pages, got)
	}
	b := getReport(t, h, "anna", "/v1/reports/orders?promo_code=+anna10+&status=pending&brand=ACM&offer=big&from=2026-11-01T12:00:00Z&to=2026-11-01T14:00:00Z")
	if len(b.Orders) != 2 || b.Orders[0].OrderID != "o3" || b.Totals.Orders != 2 {
		t.Fatalf("filtered: %+v", b)
	}
	// The code as a shopper would paste it: the one normalisation rule.
	pasted := getReport(t, h, "anna", "/v1/reports/orders?promo_code="+url.QueryEscape("\u200banna10\u00a0\t")+
		"&status=pending&brand=ACM&offer=big&from=2026-11-01T12:00:00Z&to=2026-11-01T14:00:00Z")
	if !reflect.DeepEqual(pasted, b) {
		t.Fatalf("filtered by a pasted code: %+v, want %+v", pasted, b)
	}
}

func TestReportOrdersIsolation(t *testing.T) {
	h := reportsServer(t)
	b := getReport(t, h, "bob", "/v1/reports/orders")
	if len(b.Orders) != 1 || b.Orders[0].OrderID != "x1" || b.Totals.Orders != 1 {
		t.Fatalf("bob sees %+v", b)
	}
	if res := call(t, h, "bob", "/v1/reports/orders?creator=c1"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("creator passing creator: %d", res.StatusCode)
	}
	if res := call(t, h, "bob", "/v1/reports/orders.csv?creator=c1"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("creator passing creator to csv: %d", res.StatusCode)
	}
	if res := call(t, h, "anna", "/v1/analytics/unattributed"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("creator on analytics: %d", res.StatusCode)
	}
	if b := getReport(t, h, "analyst", "/v1/reports/orders"); b.Totals.Orders != 8 {
		t.Fatalf("analyst sees %d", b.Totals.Orders)
	}
	if b := getReport(t, h, "analyst", "/v1/reports/orders?creator=c2"); b.Totals.Orders != 1 || b.Orders[0].OrderID != "x1" {
		t.Fatalf("analyst creator=c2: %+v", b)
	}
	b = getReport(t, h, "anna", "/v1/reports/orders?offer="+url.QueryEscape("' OR 1=1 --")+"&brand="+url.QueryEscape("x') OR ('1'='1"))
	if len(b.Orders) != 0 || b.Totals.Orders != 0 {
		t.Fatalf("injection: %+v", b)
	}
}

func TestReportOrdersBadInput(t *testing.T) {
	h := reportsMux(t, stubReports{})
	good := reports.Cursor{PlacedAt: rt0, BrandID: "b", OrderID: "o", Sort: reports.SortDateDesc}.Encode()
	cases := []struct{ query, field string }{
		{"status=paid", "status"},
		{"sort=amount", "sort"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=ten", "limit"},
		{"from=yesterday", "from"},
		{"to=2026-13-01T00:00:00Z", "to"},
		{"from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to"},
		{"cursor=garbage", "cursor"},
		{"cursor=" + good + "x", "cursor"},
		{"sort=date_asc&cursor=" + good, "cursor"},
	}
	for _, tc := range cases {
		res := call(t, h, "anna", "/v1/reports/orders?"+tc.query)
		var e struct {
			Error struct{ Code, Field string }
		}
		_ = json.NewDecoder(res.Body).Decode(&e)
		if res.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("%s: %d field %q, want 400 field %q", tc.query, res.StatusCode, e.Error.Field, tc.field)
		}
	}
	for _, q := range []string{"limit=5", "cursor=" + good} {
		if res := call(t, h, "anna", "/v1/reports/orders.csv?"+q); res.StatusCode != http.StatusBadRequest {
			t.Errorf("csv %s: %d", q, res.StatusCode)
		}
	}
	for _, q := range []string{"group_by=week", "tz=Mars/Olympus", "tz=Local", "group_by=day&status=x"} {
		res := call(t, h, "anna", "/v1/reports/earnings?"+q)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"field"`) {
			t.Errorf("earnings %s: %d %s", q, res.StatusCode, body)
		}
	}
	if res := call(t, h, "analyst", "/v1/analytics/unattributed?limit=900"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("unattributed limit: %d", res.StatusCode)
	}
}

func TestReportsUnavailableWithoutReader(t *testing.T) {
	h := reportsMux(t, nil)
	for _, p := range []string{"/v1/reports/orders", "/v1/reports/orders.csv", "/v1/reports/earnings"} {
		if res := call(t, h, "anna", p); res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
	if res := call(t, h, "analyst", "/v1/analytics/unattributed"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unattributed: %d", res.StatusCode)
	}
}

func TestReportOrdersCSV(t *testing.T) {
	h := reportsServer(t)
	res := call(t, h, "anna", "/v1/reports/orders.csv?sort=date_asc&creator_ignored=1")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("%d %v %s", res.StatusCode, res.Header, body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, body)
	}
	if len(recs) != 8 || recs[0][0] != "order_id" || recs[1][0] != "o0" || recs[7][0] != "o6" {
		t.Fatalf("records %q", recs)
	}
	if recs[1][4] != "Sale, \"big\"\nnew" || recs[1][2] != "Acme" || recs[2][10] != "1.50" || recs[1][12] != "2026-11-01T10:00:00Z" {
		t.Fatalf("row %q", recs[1])
	}
	// No matching row: just the header.
	res = call(t, h, "anna", "/v1/reports/orders.csv?status=rejected")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || strings.Count(string(body), "\n") != 1 {
		t.Fatalf("empty csv: %d %q", res.StatusCode, body)
	}
}

func TestUnattributedEndpoint(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".unattributed_orders (brand_id, placed_at, order_id, promo_codes, reason, version)")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := b.Append("b1", rt0.Add(time.Duration(i)*time.Minute), fmt.Sprintf("u%d", i), []string{"NOPE"}, "unknown_code", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	h := reportsMux(t, reports.New(conn, db))
	res := call(t, h, "analyst", "/v1/analytics/unattributed?limit=2")
	var out struct {
		Orders []struct {
			OrderID    string   `json:"order_id"`
			PromoCodes []string `json:"promo_codes"`
			Reason     string   `json:"reason"`
		} `json:"orders"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		t.Fatalf("%d %v", res.StatusCode, err)
	}
	if len(out.Orders) != 2 || out.Orders[0].OrderID != "u2" || out.Orders[0].Reason != "unknown_code" ||
		len(out.Orders[0].PromoCodes) != 1 || out.NextCursor == nil {
		t.Fatalf("%+v", out)
	}
	res = call(t, h, "analyst", "/v1/analytics/unattributed?limit=2&cursor="+url.QueryEscape(*out.NextCursor))
	out.Orders, out.NextCursor = nil, nil
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Orders) != 1 || out.Orders[0].OrderID != "u0" || out.NextCursor != nil {
		t.Fatalf("page 2: %+v %v", out, err)
	}
}

// stubReports answers empty reports, for input-validation tests.
type stubReports struct{}

func (stubReports) Orders(context.Context, reports.OrderFilter) (reports.Page, error) {
	return reports.Page{}, nil
}
func (stubReports) Totals(context.Context, reports.OrderFilter) (reports.Totals, error) {
	return reports.Totals{}, nil
}
func (stubReports) EachOrder(context.Context, reports.OrderFilter, func(reports.Order) error) error {
	return nil
}
func (stubReports) Earnings(context.Context, reports.OrderFilter, string, string) ([]reports.EarningsPoint, error) {
	return nil, nil
}
func (stubReports) Unattributed(context.Context, reports.UnattributedFilter) (reports.UnattributedPage, error) {
	return reports.UnattributedPage{}, nil
}
func (stubReports) Explain(context.Context, string, string) (reports.Explanation, error) {
	return reports.Explanation{}, reports.ErrNoSuchOrder
}

func TestReportEarningsEndpoint(t *testing.T) {
	h := reportsServer(t)
	res := call(t, h, "anna", "/v1/reports/earnings?group_by=day&tz=Asia/Tokyo")
	body, _ := io.ReadAll(res.Body)
	var out struct {
		Series []struct {
			Key      string            `json:"key"`
			Orders   int               `json:"orders"`
			Earnings map[string]string `json:"earnings"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &out); err != nil || res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	// o0..o6 at 10:00..16:00 UTC: o5 and o6 are Nov 2 in Tokyo.
	if len(out.Series) != 2 || out.Series[0].Key != "2026-11-01" || out.Series[0].Orders != 5 ||
		out.Series[0].Earnings["RUB"] != "300.00" || out.Series[1].Earnings["USD"] != "1.50" || out.Series[1].Orders != 2 {
		t.Fatalf("%s", body)
	}
	res = call(t, h, "bob", "/v1/reports/earnings?group_by=brand")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"name": "Acme"`) || !strings.Contains(string(body), `"RUB": "50.00"`) {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
}

// TestBrandReportsAPI: a brand's reports hold its orders across its
// creators with each order's creator; creator narrows them; brand= naming
// another brand is empty, not an error; a creator's rows carry no creator.
func TestBrandReportsAPI(t *testing.T) {
	h := reportsServer(t)
	type row struct {
		OrderID   string  `json:"order_id"`
		CreatorID *string `json:"creator_id"`
		Creator   *string `json:"creator"`
	}
	read := func(token, path string) (rows []row, total int) {
		t.Helper()
		res := call(t, h, token, path)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s as %s = %d %s", path, token, res.StatusCode, body)
		}
		var out struct {
			Orders []row
			Totals struct{ Orders int }
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Orders, out.Totals.Orders
	}
	cases := []struct {
		name, token, path string
		wantOrders        string
		wantTotal         int
		withCreator       bool
	}{
		{"brand: every creator's orders", "brand", "/v1/reports/orders?sort=date_asc", "o0,x1,o1,o2,o3,o4,o5,o6", 8, true},
		{"brand: one creator", "brand", "/v1/reports/orders?creator=c2", "x1", 1, true},
		{"brand: its own brand named", "brand", "/v1/reports/orders?brand=b1&creator=c2", "x1", 1, true},
		{"brand: another brand named", "brand", "/v1/reports/orders?brand=b2", "", 0, true},
		{"analyst: with creators", "analyst", "/v1/reports/orders?creator=c2", "x1", 1, true},
		{"creator: without", "bob", "/v1/reports/orders", "x1", 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, total := read(tc.token, tc.path)
			var got []string
			for _, o := range rows {
				got = append(got, o.OrderID)
				if has := o.CreatorID != nil && o.Creator != nil; has != tc.withCreator {
					t.Errorf("order %s: creator_id and creator present = %v, want %v", o.OrderID, has, tc.withCreator)
				}
				if tc.withCreator && o.CreatorID != nil && *o.CreatorID != map[bool]string{true: "c2", false: "c1"}[o.OrderID == "x1"] {
					t.Errorf("order %s: creator_id %s", o.OrderID, *o.CreatorID)
				}
			}
			if strings.Join(got, ",") != tc.wantOrders || total != tc.wantTotal {
				t.Errorf("orders %v (total %d), want %s (%d)", got, total, tc.wantOrders, tc.wantTotal)
			}
		})
	}

	res := call(t, h, "brand", "/v1/reports/orders.csv?creator=c2")
	body, _ := io.ReadAll(res.Body)
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("brand csv: %d %v\n%s", res.StatusCode, err, body)
	}
	if len(recs) != 2 || strings.Join(recs[0][len(recs[0])-2:], ",") != "creator_id,creator" || recs[1][0] != "x1" || recs[1][len(recs[1])-2] != "c2" {
		t.Fatalf("brand csv records %q", recs)
	}

	res = call(t, h, "brand", "/v1/reports/earnings?group_by=creator")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"key": "c1"`) || !strings.Contains(string(body), `"key": "c2"`) {
		t.Fatalf("brand earnings by creator: %d %s", res.StatusCode, body)
	}
}
