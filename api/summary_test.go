package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// summaryServer: brands b1 (Acme) and b2; orders in RUB and USD, approved,
// rejected and pending, over two UTC days; two unattributed orders.
func summaryServer(t *testing.T) http.Handler {
	t.Helper()
	conn, db := readmodeltest.Migrated(t)
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, platform, status, amount, currency, country, earnings, earnings_currency, updated_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for _, o := range []struct {
		creator, brand, order, status, cur, amount, earnings string
		placed                                               time.Time
	}{
		{"c1", "b1", "o1", "approved", "RUB", "1000.5", "100", rt0},
		{"c1", "b1", "o2", "rejected", "RUB", "200", "20", rt0},
		{"c2", "b1", "o3", "pending", "USD", "10.5", "1.25", rt0.Add(day)},
		{"c2", "b2", "o4", "approved", "JPY", "300", "30", rt0.Add(day)},
	} {
		if err := b.Append(o.creator, o.placed, o.brand, o.order, "f1", "Sale", "ig", o.status, decimal.RequireFromString(o.amount),
			o.cur, "RU", decimal.RequireFromString(o.earnings), o.cur, o.placed, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	ub, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".unattributed_orders (brand_id, placed_at, order_id, reason, currency, country, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		brand, order string
		placed       time.Time
	}{{"b1", "u1", rt0}, {"b2", "u2", rt0.Add(day)}} {
		if err := ub.Append(u.brand, u.placed, u.order, "no_code", "RUB", "RU", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ub.Send(); err != nil {
		t.Fatal(err)
	}
	insertBrand(t, conn, db, "b1", "Acme")
	return reportsMux(t, reports.New(conn, db))
}

func TestAnalyticsSummary(t *testing.T) {
	h := summaryServer(t)
	body := func(token, path string, want int) string {
		t.Helper()
		res := call(t, h, token, path)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("GET %s as %s: %d %s, want %d", path, token, res.StatusCode, b, want)
		}
		return string(b)
	}
	compact := func(s string) string {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	totals := `"totals":{"approval_rate":"0.6667","attribution_rate":"0.6667","earnings":{"JPY":"30","RUB":"120.00","USD":"1.25"},` +
		`"gmv":{"JPY":"300","RUB":"1200.50","USD":"10.50"},"orders":4}`
	for _, tc := range []struct{ path, want string }{
		// brand is the default grouping.
		{"/v1/analytics/summary", `{"group_by":"brand","groups":[` +
			`{"approval_rate":"0.5000","attribution_rate":"0.7500","earnings":{"RUB":"120.00","USD":"1.25"},"gmv":{"RUB":"1200.50","USD":"10.50"},"key":"b1","name":"Acme","orders":3},` +
			`{"approval_rate":"1.0000","attribution_rate":"0.5000","earnings":{"JPY":"30"},"gmv":{"JPY":"300"},"key":"b2","orders":1}],` + totals + `}`},
		{"/v1/analytics/summary?group_by=day&from=2026-11-02T00:00:00Z", `{"group_by":"day","groups":[` +
			`{"approval_rate":"1.0000","attribution_rate":"0.6667","earnings":{"JPY":"30","USD":"1.25"},"gmv":{"JPY":"300","USD":"10.50"},"key":"2026-11-02","orders":2}],` +
			`"totals":{"approval_rate":"1.0000","attribution_rate":"0.6667","earnings":{"JPY":"30","USD":"1.25"},"gmv":{"JPY":"300","USD":"10.50"},"orders":2}}`},
		{"/v1/analytics/summary?group_by=creator&to=2026-11-01T10:00:01Z", `{"group_by":"creator","groups":[` +
			`{"approval_rate":"0.5000","attribution_rate":null,"earnings":{"RUB":"120.00"},"gmv":{"RUB":"1200.50"},"key":"c1","orders":2}],` +
			`"totals":{"approval_rate":"0.5000","attribution_rate":"0.6667","earnings":{"RUB":"120.00"},"gmv":{"RUB":"1200.50"},"orders":2}}`},
	} {
		if got := compact(body("analyst", tc.path, http.StatusOK)); got != tc.want {
			t.Errorf("GET %s:\n got %s\nwant %s", tc.path, got, tc.want)
		}
	}
	for _, tc := range []struct{ query, field string }{
		{"group_by=status", "group_by"},
		{"from=yesterday", "from"},
		{"to=2026-13-01T00:00:00Z", "to"},
		{"from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "to"},
	} {
		var e struct {
			Error struct {
				Field string `json:"field"`
			} `json:"error"`
		}
		b := body("analyst", "/v1/analytics/summary?"+tc.query, http.StatusBadRequest)
		if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error.Field != tc.field {
			t.Errorf("%s: %s, want field %s", tc.query, b, tc.field)
		}
	}
	body("anna", "/v1/analytics/summary", http.StatusForbidden)
	body("brand", "/v1/analytics/summary", http.StatusForbidden)
}

func (stubReports) Summary(context.Context, reports.SummaryFilter) (reports.Summary, error) {
	return reports.Summary{}, nil
}
