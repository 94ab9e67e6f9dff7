package reports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// row is an order row of the projection.
type row struct {
	creator, brand, order, offer, offerName, code, status, currency, country, earnCur string
	amount, earnings                                                                  string
	placed                                                                            time.Time
	version                                                                           uint64
}

// insertOrders writes rows into orders and orders_by_brand, as the
// projector does.
func insertOrders(t *testing.T, conn driver.Conn, db string, rows ...row) {
	t.Helper()
	ctx := context.Background()
	for _, table := range []string{readmodel.TableOrders, readmodel.TableOrdersByBrand} {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+table+" (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, promo_code, status, amount, currency, country, earnings, earnings_currency, updated_at, version)")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.version == 0 {
				r.version = 1
			}
			if err := b.Append(r.creator, r.placed, r.brand, r.order, r.offer, r.offerName, r.code, r.status,
				decimal.RequireFromString(r.amount), r.currency, r.country, decimal.RequireFromString(r.earnings), r.earnCur,
				r.placed.Add(time.Hour), r.version); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
}

func insertBrands(t *testing.T, conn driver.Conn, db string, names map[string]string) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".brands (brand_id, name, registered_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	for id, name := range names {
		if err := b.Append(id, name, time.Unix(0, 0), uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// fixture: creator c1 has 10 orders (o0..o9, one hour apart), c2 has 2.
func fixture(t *testing.T) *reports.Reports {
	r, _, _ := fixtureDB(t)
	return r
}

// fixtureDB is fixture with its connection and database. All its orders
// are placed on t0's UTC day.
func fixtureDB(t *testing.T) (*reports.Reports, driver.Conn, string) {
	conn, db := readmodeltest.Migrated(t)
	insertBrands(t, conn, db, map[string]string{"b1": "Acme Shoes", "b2": "Zeta Books"})
	var rows []row
	statuses := []string{"pending", "approved", "rejected"}
	for i := 0; i < 10; i++ {
		r := row{creator: "c1", brand: "b1", order: fmt.Sprintf("o%d", i), offer: "f1", offerName: "Winter Sale",
			code: "ANNA10", status: statuses[i%3], currency: "RUB", country: "RU", earnCur: "RUB",
			amount: "1000.50", earnings: "100.05", placed: t0.Add(time.Duration(i) * time.Hour)}
		if i%2 == 1 {
			r.brand, r.offer, r.offerName, r.code, r.country, r.currency, r.earnCur, r.earnings = "b2", "f2", "Books Bonanza", "ANNA20", "KZ", "USD", "USD", "1.5"
		}
		rows = append(rows, r)
	}
	// Same placed time as o4, to check the tie-break of the keyset.
	rows = append(rows, row{creator: "c1", brand: "b2", order: "o4", offer: "f2", offerName: "Books Bonanza", code: "ANNA20",
		status: "pending", currency: "RUB", country: "RU", earnCur: "RUB", amount: "1", earnings: "2", placed: t0.Add(4 * time.Hour)})
	rows = append(rows,
		row{creator: "c2", brand: "b1", order: "x1", offer: "f1", offerName: "Winter Sale", code: "BOB", status: "approved",
			currency: "RUB", country: "RU", earnCur: "RUB", amount: "5", earnings: "7", placed: t0},
		row{creator: "c2", brand: "b1", order: "x2", offer: "f1", offerName: "Winter Sale", code: "BOB", status: "approved",
			currency: "RUB", country: "RU", earnCur: "RUB", amount: "5", earnings: "7", placed: t0.Add(time.Minute)})
	insertOrders(t, conn, db, rows...)
	// A newer version of o0: approved now, different earnings. FINAL must show only it.
	insertOrders(t, conn, db, row{creator: "c1", brand: "b1", order: "o0", offer: "f1", offerName: "Winter Sale", code: "ANNA10",
		status: "approved", currency: "RUB", country: "RU", earnCur: "RUB", amount: "1000.50", earnings: "150", placed: t0, version: 2})
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".offer_names (brand_id, offer_id, name, version)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append("b2", "f2", "Renamed Deal", uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	return reports.New(conn, db), conn, db
}

func ids(p reports.Page) []string {
	out := []string{}
	for _, o := range p.Orders {
		out = append(out, o.BrandID+"/"+o.OrderID)
	}
	return out
}

// TestFilters checks every filter on the orders and the totals, first
// read from orders alone, then with the day rolled up into creator_daily
// (the totals of whole days come from there).
func TestFilters(t *testing.T) {
	r, conn, db := fixtureDB(t)
	t.Run("from orders", func(t *testing.T) { checkFilters(t, r, nil) })
	markDays(t, conn, db, 1, t0)
	if n := refreshSummary(t, conn, db); n != 1 {
		t.Fatalf("refresh recomputed %d days, want 1", n)
	}
	t.Run("from the roll-up", func(t *testing.T) { checkFilters(t, r, nil) })
	// Only busy creators' totals read creator_daily; a creator's totals
	// teach r its size, so it is told again before every case.
	busy := func() {
		reports.MarkBusy(r, "c1")
		reports.MarkBusy(r, "c2")
	}
	t.Run("busy, from the roll-up", func(t *testing.T) { checkFilters(t, r, busy) })
	// Every creator_daily row twice at the same version (two summarizers
	// at once), until merged: a busy creator's totals (argMax per key, not
	// FINAL) must count each key once, and its pages are still exact
	// (creator_daily's counts, read without FINAL, only size them). A
	// background merge may fold the copies at any time (18.16 cannot stop
	// a table's merges): the checks count only if every key still has two
	// rows after them, else they run again on new copies.
	ctx := context.Background()
	cols := "creator_id, day, brand_id, offer_id, offer_name, promo_code, platform, country, currency, earnings_currency, " +
		"orders, pending, approved, rejected, gmv, earnings, earnings_pending, earnings_approved, earnings_rejected, version"
	twice := func() bool {
		var least uint64
		if err := conn.QueryRow(ctx, "SELECT min(c) FROM (SELECT count() AS c FROM "+db+".creator_daily GROUP BY "+
			readmodel.CreatorDailyKey+")").Scan(&least); err != nil {
			t.Fatal(err)
		}
		return least >= 2
	}
	for attempt := 1; ; attempt++ {
		if err := conn.Exec(ctx, "INSERT INTO "+db+".creator_daily ("+cols+") SELECT "+cols+" FROM "+db+".creator_daily"); err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("busy, from a roll-up with every row twice (%d)", attempt), func(t *testing.T) { checkFilters(t, r, busy) })
		if twice() {
			break
		}
		if attempt == 5 {
			t.Fatal("background merges folded the copies of creator_daily's rows before every check, 5 times")
		}
	}
}

// checkFilters checks the orders and totals of each filter, calling before
// (when not nil) before each.
func checkFilters(t *testing.T, r *reports.Reports, before func()) {
	ctx := context.Background()
	day := t0.Truncate(24 * time.Hour)
	cases := []struct {
		name string
		f    reports.OrderFilter
		want int
	}{
		{"creator only", reports.OrderFilter{CreatorID: "c1"}, 11},
		{"all creators", reports.OrderFilter{}, 13},
		{"other creator", reports.OrderFilter{CreatorID: "c2"}, 2},
		{"status (latest version)", reports.OrderFilter{CreatorID: "c1", Status: "approved"}, 4}, // o0 (v2), o1, o4, o7
		{"status pending", reports.OrderFilter{CreatorID: "c1", Status: "pending"}, 4},           // o3, o6, o9, b2/o4
		{"offer id", reports.OrderFilter{CreatorID: "c1", Offer: "f1"}, 5},
		{"offer name part any case", reports.OrderFilter{CreatorID: "c1", Offer: "wINTer"}, 5},
		{"current offer name", reports.OrderFilter{CreatorID: "c1", Offer: "renamed"}, 6},
		{"offer name no match", reports.OrderFilter{CreatorID: "c1", Offer: "summer"}, 0},
		{"country", reports.OrderFilter{CreatorID: "c1", Country: "kz"}, 5},
		{"order id", reports.OrderFilter{CreatorID: "c1", OrderID: "o4"}, 2},
		{"promo code", reports.OrderFilter{CreatorID: "c1", PromoCode: "ANNA20"}, 6},
		{"brand id", reports.OrderFilter{CreatorID: "c1", Brand: "b2"}, 6},
		{"brand name part", reports.OrderFilter{CreatorID: "c1", Brand: "acme"}, 5},
		{"from", reports.OrderFilter{CreatorID: "c1", From: t0.Add(8 * time.Hour)}, 2},
		{"to exclusive", reports.OrderFilter{CreatorID: "c1", To: t0.Add(2 * time.Hour)}, 2},
		{"whole day", reports.OrderFilter{CreatorID: "c1", From: day, To: day.Add(24 * time.Hour)}, 11},
		{"whole day and status", reports.OrderFilter{CreatorID: "c1", Status: "rejected", From: day, To: day.Add(24 * time.Hour)}, 3},
		{"whole days and offer name", reports.OrderFilter{CreatorID: "c1", Offer: "renamed", From: day.Add(-24 * time.Hour), To: day.Add(48 * time.Hour)}, 6},
		{"next day", reports.OrderFilter{CreatorID: "c1", From: day.Add(24 * time.Hour)}, 0},
		{"combined", reports.OrderFilter{CreatorID: "c1", Brand: "zeta", Status: "approved", Country: "KZ", From: t0, To: t0.Add(9 * time.Hour)}, 2}, // o1, o7
		// PREWHERE takes the conditions on columns that never change: the
		// older (pending) version of o0 must not match pending + country.
		{"country and status (latest version)", reports.OrderFilter{CreatorID: "c1", Country: "RU", Status: "pending"}, 2}, // o6, b2/o4
		{"order id and status (latest version)", reports.OrderFilter{CreatorID: "c1", OrderID: "o0", Status: "pending"}, 0},
		{"order id, code and status", reports.OrderFilter{CreatorID: "c1", OrderID: "o0", PromoCode: "ANNA10", Status: "approved"}, 1},
		// With a code or an order id, the name matches go to WHERE.
		{"code and current offer name", reports.OrderFilter{CreatorID: "c1", PromoCode: "ANNA20", Offer: "renamed"}, 6},
		{"code and offer id", reports.OrderFilter{CreatorID: "c1", PromoCode: "ANNA10", Offer: "f1", Status: "approved"}, 2}, // o0 (v2), o4
		{"code and another offer", reports.OrderFilter{CreatorID: "c1", PromoCode: "ANNA10", Offer: "renamed"}, 0},
		{"code, brand name and country", reports.OrderFilter{CreatorID: "c1", PromoCode: "ANNA10", Brand: "acme", Country: "ru"}, 5},
		{"order id and brand name", reports.OrderFilter{CreatorID: "c1", OrderID: "o4", Brand: "zeta"}, 1},
		{"order id, offer and brand", reports.OrderFilter{CreatorID: "c1", OrderID: "o4", Offer: "winter", Brand: "acme", Status: "approved"}, 1},
		{"injection", reports.OrderFilter{CreatorID: "c1", Offer: "' OR 1=1 --", Brand: "x') OR ('1'='1"}, 0},
		{"injection in creator", reports.OrderFilter{CreatorID: "c1' OR '1'='1"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if before != nil {
				before()
			}
			tc.f.Limit = 500
			p, err := r.Orders(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if len(p.Orders) != want {
				t.Fatalf("got %d orders %v, want %d", len(p.Orders), ids(p), want)
			}
			tot, err := r.Totals(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if tot.Orders != uint64(want) {
				t.Fatalf("totals: %d orders, want %d", tot.Orders, want)
			}
			for _, o := range p.Orders {
				if tc.f.CreatorID == "c1" && o.OrderID[0] != 'o' {
					t.Fatalf("another creator's order %s", o.OrderID)
				}
			}
		})
	}
}

func TestRowContent(t *testing.T) {
	r := fixture(t)
	p, err := r.Orders(context.Background(), reports.OrderFilter{CreatorID: "c1", OrderID: "o0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Orders) != 1 {
		t.Fatalf("got %v", ids(p))
	}
	o := p.Orders[0]
	if o.Status != "approved" || o.Earnings.String() != "150" || o.Brand != "Acme Shoes" || o.Offer != "Winter Sale" ||
		!o.PlacedAt.Equal(t0) || o.Amount.String() != "1000.5" || o.PromoCode != "ANNA10" {
		t.Fatalf("row %+v", o)
	}
}

func TestSortAndPaging(t *testing.T) {
	r := fixture(t)
	ctx := context.Background()
	for _, sort := range []string{reports.SortDateDesc, reports.SortDateAsc} {
		t.Run(sort, func(t *testing.T) {
			all, err := r.Orders(ctx, reports.OrderFilter{CreatorID: "c1", Sort: sort, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if all.Next != nil || len(all.Orders) != 11 {
				t.Fatalf("all: %v next %v", ids(all), all.Next)
			}
			for i := 1; i < len(all.Orders); i++ {
				a, b := all.Orders[i-1], all.Orders[i]
				less := a.PlacedAt.Before(b.PlacedAt) || a.PlacedAt.Equal(b.PlacedAt) && a.BrandID < b.BrandID
				if (sort == reports.SortDateAsc) != less {
					t.Fatalf("out of order at %d: %v", i, ids(all))
				}
			}
			var paged []string
			f := reports.OrderFilter{CreatorID: "c1", Sort: sort, Limit: 4}
			pages := 0
			for {
				p, err := r.Orders(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				paged = append(paged, ids(p)...)
				if p.Next == nil {
					break
				}
				c, err := reports.DecodeCursor(p.Next.Encode(), sort)
				if err != nil {
					t.Fatal(err)
				}
				f.After = &c
			}
			if pages != 3 || fmt.Sprint(paged) != fmt.Sprint(ids(all)) {
				t.Fatalf("%d pages %v, want 3 pages %v", pages, paged, ids(all))
			}
		})
	}
}

func TestTotalsPerCurrency(t *testing.T) {
	r, conn, db := fixtureDB(t)
	check := func(t *testing.T) {
		tot, err := r.Totals(context.Background(), reports.OrderFilter{CreatorID: "c1", Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		// RUB: o0 150 + o2,o4,o6,o8 4*100.05 + b2/o4 2 = 552.2; USD: 5 * 1.5.
		if tot.Orders != 11 || tot.Earnings["RUB"].String() != "552.2" || tot.Earnings["USD"].String() != "7.5" || len(tot.Earnings) != 2 {
			t.Fatalf("totals %+v", tot)
		}
		// b2's rejected orders: o5 only, in USD; b2/o4 (RUB) is pending, so
		// RUB is not a currency of these totals.
		tot, err = r.Totals(context.Background(), reports.OrderFilter{CreatorID: "c1", Brand: "b2", Status: "rejected"})
		if err != nil {
			t.Fatal(err)
		}
		if tot.Orders != 1 || tot.Earnings["USD"].String() != "1.5" || len(tot.Earnings) != 1 {
			t.Fatalf("b2's rejected: totals %+v, want 1 order, USD 1.5", tot)
		}
	}
	t.Run("from orders", check)
	markDays(t, conn, db, 1, t0)
	refreshSummary(t, conn, db)
	reports.MarkBusy(r, "c1") // only busy creators' totals read creator_daily
	t.Run("from the roll-up", check)
	// o0's approval changes its earnings again; until the summarizer
	// catches up, the day is read from orders.
	insertOrders(t, conn, db, row{creator: "c1", brand: "b1", order: "o0", offer: "f1", offerName: "Winter Sale", code: "ANNA10",
		status: "approved", currency: "RUB", country: "RU", earnCur: "RUB", amount: "1000.50", earnings: "50", placed: t0, version: 3})
	markDays(t, conn, db, 2, t0)
	check = func(t *testing.T) {
		tot, err := r.Totals(context.Background(), reports.OrderFilter{CreatorID: "c1"})
		if err != nil {
			t.Fatal(err)
		}
		if tot.Orders != 11 || tot.Earnings["RUB"].String() != "452.2" {
			t.Fatalf("totals %+v, want RUB 452.2", tot)
		}
	}
	t.Run("a change not rolled up", check)
	refreshSummary(t, conn, db)
	t.Run("a change rolled up", check)
}

func TestCursorTampered(t *testing.T) {
	good := reports.Cursor{PlacedAt: t0, BrandID: "b", OrderID: "o", Sort: reports.SortDateDesc}.Encode()
	if _, err := reports.DecodeCursor(good, ""); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"x", good + "A", good[:len(good)-2], "e30", good[1:]} {
		if _, err := reports.DecodeCursor(bad, reports.SortDateDesc); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
	if _, err := reports.DecodeCursor(good, reports.SortDateAsc); err == nil {
		t.Error("a desc cursor accepted for asc")
	}
}

func TestEachOrder(t *testing.T) {
	r := fixture(t)
	var got []string
	err := r.EachOrder(context.Background(), reports.OrderFilter{CreatorID: "c1", Sort: reports.SortDateAsc}, func(o reports.Order) error {
		if o.Brand == "" {
			t.Errorf("no brand name for %s", o.BrandID)
		}
		got = append(got, o.OrderID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 11 || got[0] != "o0" || got[10] != "o9" {
		t.Fatalf("got %v", got)
	}
}

func TestUnattributed(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".unattributed_orders (brand_id, placed_at, order_id, promo_codes, reason, version)")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := b.Append("b1", t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("u%d", i), []string{"X"}, "unknown_code", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	r := reports.New(conn, db)
	var got []string
	f := reports.UnattributedFilter{Limit: 2, From: t0.Add(time.Hour)}
	for {
		p, err := r.Unattributed(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Orders {
			got = append(got, u.OrderID+":"+u.Reason)
		}
		if p.Next == nil {
			break
		}
		f.After = p.Next
	}
	if fmt.Sprint(got) != "[u4:unknown_code u3:unknown_code u2:unknown_code u1:unknown_code]" {
		t.Fatalf("got %v", got)
	}
}

func TestEarnings(t *testing.T) {
	r := fixture(t)
	ctx := context.Background()
	show := func(ps []reports.EarningsPoint) string {
		var s []string
		for _, p := range ps {
			e := ""
			for _, c := range []string{"RUB", "USD"} {
				if d, ok := p.Earnings[c]; ok {
					e += " " + c + "=" + d.String()
				}
			}
			s = append(s, fmt.Sprintf("%s(%s):%d%s", p.Key, p.Name, p.Orders, e))
		}
		return fmt.Sprint(s)
	}
	cases := []struct{ group, tz, want string }{
		{reports.GroupByStatus, "", "[approved():4 RUB=250.05 USD=3 pending():4 RUB=102.05 USD=3 rejected():3 RUB=200.1 USD=1.5]"},
		{reports.GroupByBrand, "", "[b1(Acme Shoes):5 RUB=550.2 b2(Zeta Books):6 RUB=2 USD=7.5]"},
		{reports.GroupByOffer, "", "[f1(Winter Sale):5 RUB=550.2 f2(Books Bonanza):6 RUB=2 USD=7.5]"},
		// o0..o9 are 10:00..19:00 UTC on Nov 1; in Tokyo (UTC+9) 15:00 UTC
		// onwards (o5..o9) is Nov 2.
		{reports.GroupByDay, "Asia/Tokyo", "[2026-11-01():6 RUB=352.1 USD=3 2026-11-02():5 RUB=200.1 USD=4.5]"},
		{reports.GroupByDay, "", "[2026-11-01():11 RUB=552.2 USD=7.5]"},
	}
	for _, tc := range cases {
		ps, err := r.Earnings(ctx, reports.OrderFilter{CreatorID: "c1"}, tc.group, tc.tz)
		if err != nil {
			t.Fatal(err)
		}
		if got := show(ps); got != tc.want {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.group, tc.tz, got, tc.want)
		}
	}
}
