package reports_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/reports"
)

func insertCreators(t *testing.T, conn driver.Conn, db string, names map[string]string) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".creators (creator_id, name, registered_at, version)")
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

// withCreators lists a page's orders as brand/order/creator id/creator name.
func withCreators(p reports.Page) []string {
	out := []string{}
	for _, o := range p.Orders {
		out = append(out, o.BrandID+"/"+o.OrderID+"/"+o.CreatorID+"/"+o.Creator)
	}
	return out
}

// TestBrandReports: a brand's orders across its creators (fixture: b1
// has c1's o0, o2, o4, o6, o8 and c2's x1, x2), with each order's creator,
// the creator filter, and a brand filter naming another brand matching
// nothing; the totals from the orders and from the roll-up.
func TestBrandReports(t *testing.T) {
	r, conn, db := fixtureDB(t)
	insertCreators(t, conn, db, map[string]string{"c1": "Anna", "c2": "Boris"})
	ctx := context.Background()
	cases := []struct {
		name       string
		f          reports.OrderFilter
		want       string
		wantTotals string
	}{
		{"every order of the brand, newest first", reports.OrderFilter{BrandID: "b1"},
			"[b1/o8/c1/Anna b1/o6/c1/Anna b1/o4/c1/Anna b1/o2/c1/Anna b1/x2/c2/Boris b1/x1/c2/Boris b1/o0/c1/Anna]", "7 RUB=564.2"},
		{"oldest first", reports.OrderFilter{BrandID: "b1", Sort: reports.SortDateAsc},
			"[b1/o0/c1/Anna b1/x1/c2/Boris b1/x2/c2/Boris b1/o2/c1/Anna b1/o4/c1/Anna b1/o6/c1/Anna b1/o8/c1/Anna]", "7 RUB=564.2"},
		{"one creator", reports.OrderFilter{BrandID: "b1", CreatorID: "c2"}, "[b1/x2/c2/Boris b1/x1/c2/Boris]", "2 RUB=14"},
		{"a creator of other brands only", reports.OrderFilter{BrandID: "b2", CreatorID: "c2"}, "[]", "0"},
		{"its own name", reports.OrderFilter{BrandID: "b1", Brand: "acme"}, "", "7 RUB=564.2"},
		{"another brand's id", reports.OrderFilter{BrandID: "b1", Brand: "b2"}, "[]", "0"},
		{"another brand's name", reports.OrderFilter{BrandID: "b1", Brand: "Zeta"}, "[]", "0"},
		{"status", reports.OrderFilter{BrandID: "b1", Status: "approved"},
			"[b1/o4/c1/Anna b1/x2/c2/Boris b1/x1/c2/Boris b1/o0/c1/Anna]", "4 RUB=264.05"},
		{"the other brand", reports.OrderFilter{BrandID: "b2", Country: "KZ"},
			"[b2/o9/c1/Anna b2/o7/c1/Anna b2/o5/c1/Anna b2/o3/c1/Anna b2/o1/c1/Anna]", "5 USD=7.5"},
	}
	check := func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				p, err := r.Orders(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := fmt.Sprint(withCreators(p)); tc.want != "" && got != tc.want {
					t.Errorf("orders:\n got %s\nwant %s", got, tc.want)
				}
				tot, err := r.Totals(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				got := fmt.Sprint(tot.Orders)
				for _, cur := range []string{"RUB", "USD"} {
					if d, ok := tot.Earnings[cur]; ok {
						got += " " + cur + "=" + d.String()
					}
				}
				if got != tc.wantTotals {
					t.Errorf("totals %s, want %s", got, tc.wantTotals)
				}
			})
		}
	}
	t.Run("from orders_by_brand", check)
	markDays(t, conn, db, 1, t0)
	refreshSummary(t, conn, db)
	t.Run("totals from the roll-up", check)

	// Paging through orders_by_brand, two at a time.
	f := reports.OrderFilter{BrandID: "b1", Limit: 2}
	var paged []string
	for {
		p, err := r.Orders(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(p)...)
		if p.Next == nil {
			break
		}
		f.After = p.Next
	}
	if got, want := fmt.Sprint(paged), "[b1/o8 b1/o6 b1/o4 b1/o2 b1/x2 b1/x1 b1/o0]"; got != want {
		t.Errorf("paged %s, want %s", got, want)
	}

	var streamed []string
	if err := r.EachOrder(ctx, reports.OrderFilter{BrandID: "b1", CreatorID: "c2", Sort: reports.SortDateAsc}, func(o reports.Order) error {
		streamed = append(streamed, o.OrderID+"/"+o.Creator)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(streamed), "[x1/Boris x2/Boris]"; got != want {
		t.Errorf("EachOrder %s, want %s", got, want)
	}
}

func TestBrandEarnings(t *testing.T) {
	r, conn, db := fixtureDB(t)
	insertCreators(t, conn, db, map[string]string{"c1": "Anna", "c2": "Boris"})
	cases := []struct {
		name, group string
		f           reports.OrderFilter
		want        string
	}{
		{"by creator", reports.GroupByCreator, reports.OrderFilter{BrandID: "b1"}, "[c1(Anna):5 RUB=550.2 c2(Boris):2 RUB=14]"},
		{"by status", reports.GroupByStatus, reports.OrderFilter{BrandID: "b1"}, "[approved():4 RUB=264.05 pending():1 RUB=100.05 rejected():2 RUB=200.1]"},
		{"one creator by offer", reports.GroupByOffer, reports.OrderFilter{BrandID: "b1", CreatorID: "c2"}, "[f1(Winter Sale):2 RUB=14]"},
		{"another brand named", reports.GroupByCreator, reports.OrderFilter{BrandID: "b1", Brand: "b2"}, "[]"},
		{"an analyst by creator", reports.GroupByCreator, reports.OrderFilter{}, "[c1(Anna):11 RUB=552.2 USD=7.5 c2(Boris):2 RUB=14]"},
		{"by day", reports.GroupByDay, reports.OrderFilter{BrandID: "b1"}, "[2026-11-01():7 RUB=564.2]"},
		{"approved by offer", reports.GroupByOffer, reports.OrderFilter{BrandID: "b1", Status: "approved"}, "[f1(Winter Sale):4 RUB=264.05]"},
		{"pending by creator", reports.GroupByCreator, reports.OrderFilter{BrandID: "b1", Status: "pending"}, "[c1(Anna):1 RUB=100.05]"},
		{"a range of hours", reports.GroupByCreator, reports.OrderFilter{BrandID: "b1", From: t0.Add(time.Hour), To: t0.Add(7 * time.Hour)},
			"[c1(Anna):3 RUB=300.15]"},
		{"the day", reports.GroupByBrand, reports.OrderFilter{BrandID: "b1", From: t0.Truncate(24 * time.Hour), To: t0.Truncate(24 * time.Hour).Add(24 * time.Hour)},
			"[b1(Acme Shoes):7 RUB=564.2]"},
	}
	check := func(t *testing.T) {
		for _, tc := range cases {
			earnings(t, r, tc.name, tc.group, tc.f, tc.want)
		}
	}
	t.Run("from the orders", check)
	markDays(t, conn, db, 1, t0)
	refreshSummary(t, conn, db)
	t.Run("from the roll-up", check)
}

// earnings checks r's earnings of f grouped by group, shown as
// key(name):orders RUB=... USD=..., in a subtest named name.
func earnings(t *testing.T, r *reports.Reports, name, group string, f reports.OrderFilter, want string) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		ps, err := r.Earnings(context.Background(), f, group, "")
		if err != nil {
			t.Fatal(err)
		}
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
		if got := fmt.Sprint(s); got != want {
			t.Errorf("got %s\nwant %s", got, want)
		}
	})
}
