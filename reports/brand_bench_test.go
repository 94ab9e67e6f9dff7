package reports_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/reports"
)

// benchBrand is a brand of the sample with filter values taken from one of
// its orders.
type benchBrand struct {
	id, label                                  string
	orders                                     uint64
	offerPart, code, creator, orderID, country string
}

var (
	brandsOnce  sync.Once
	benchBrands []benchBrand // busiest first
	brandsErr   error
)

// brandSample picks the busiest brand of the loaded data, the 10th and the
// last (by orders, without FINAL: only to choose the sample).
func brandSample(b *testing.B, e *benchEnv) []benchBrand {
	b.Helper()
	brandsOnce.Do(func() {
		ctx := context.Background()
		rows, err := e.conn.Query(ctx, "SELECT brand_id, count() AS n FROM `"+e.db+"`.orders_by_brand GROUP BY brand_id ORDER BY n DESC, brand_id")
		if err != nil {
			brandsErr = err
			return
		}
		type bn struct {
			id string
			n  uint64
		}
		var all []bn
		for rows.Next() {
			var x bn
			if err := rows.Scan(&x.id, &x.n); err != nil {
				brandsErr = err
				return
			}
			all = append(all, x)
		}
		rows.Close()
		if len(all) == 0 {
			brandsErr = fmt.Errorf("%s.orders_by_brand is empty: load the database with this version of attrib loadgen clickhouse", e.db)
			return
		}
		for _, i := range []int{0, 9, len(all) - 1} {
			if i >= len(all) || (len(benchBrands) > 0 && benchBrands[len(benchBrands)-1].id == all[i].id) {
				continue
			}
			x := benchBrand{id: all[i].id, orders: all[i].n, label: fmt.Sprintf("rank%d", i+1)}
			if err := e.conn.QueryRow(ctx, "SELECT offer_name, promo_code, creator_id, order_id, country FROM `"+e.db+
				"`.orders_by_brand WHERE brand_id = ? ORDER BY placed_at DESC LIMIT 1 OFFSET ?", x.id, all[i].n/3).
				Scan(&x.offerPart, &x.code, &x.creator, &x.orderID, &x.country); err != nil {
				brandsErr = err
				return
			}
			x.offerPart = strings.ToUpper(strings.Fields(x.offerPart)[0])
			benchBrands = append(benchBrands, x)
		}
	})
	if brandsErr != nil {
		b.Fatal(brandsErr)
	}
	return benchBrands
}

// brandCombos are a brand's report filters, alone and combined.
func brandCombos(e *benchEnv) []struct {
	name string
	f    func(x benchBrand) reports.OrderFilter
} {
	to := e.newest.Add(time.Second)
	from := to.Add(-30 * 24 * time.Hour)
	type combo = struct {
		name string
		f    func(x benchBrand) reports.OrderFilter
	}
	return []combo{
		{"none", func(x benchBrand) reports.OrderFilter { return reports.OrderFilter{BrandID: x.id} }},
		{"status", func(x benchBrand) reports.OrderFilter {
			return reports.OrderFilter{BrandID: x.id, Status: reports.StatusApproved}
		}},
		{"creator", func(x benchBrand) reports.OrderFilter {
			return reports.OrderFilter{BrandID: x.id, CreatorID: x.creator}
		}},
		{"offer", func(x benchBrand) reports.OrderFilter { return reports.OrderFilter{BrandID: x.id, Offer: x.offerPart} }},
		{"country", func(x benchBrand) reports.OrderFilter { return reports.OrderFilter{BrandID: x.id, Country: x.country} }},
		{"promo_code", func(x benchBrand) reports.OrderFilter { return reports.OrderFilter{BrandID: x.id, PromoCode: x.code} }},
		{"order_id", func(x benchBrand) reports.OrderFilter { return reports.OrderFilter{BrandID: x.id, OrderID: x.orderID} }},
		{"from_to_30d", func(x benchBrand) reports.OrderFilter { return reports.OrderFilter{BrandID: x.id, From: from, To: to} }},
		{"sort_asc", func(x benchBrand) reports.OrderFilter {
			return reports.OrderFilter{BrandID: x.id, Sort: reports.SortDateAsc}
		}},
		{"status+creator", func(x benchBrand) reports.OrderFilter {
			return reports.OrderFilter{BrandID: x.id, CreatorID: x.creator, Status: reports.StatusApproved}
		}},
		{"status+country+sort_asc", func(x benchBrand) reports.OrderFilter {
			return reports.OrderFilter{BrandID: x.id, Status: reports.StatusPending, Country: x.country, Sort: reports.SortDateAsc}
		}},
	}
}

// BenchmarkBrandFirstPage is a brand's first page as GET /v1/reports/orders
// reads it with the brand's api_key: Orders (50 rows) and Totals at once,
// for each filter combination, over the sample of brands (the busiest
// first). Reported as BenchmarkFirstPage, busiest- being the busiest
// brand. Run with -benchtime Nx, N a multiple of 3.
func BenchmarkBrandFirstPage(b *testing.B) {
	e := loaded(b)
	sample := brandSample(b, e)
	for _, combo := range brandCombos(e) {
		b.Run(combo.name, func(b *testing.B) {
			ctx := context.Background()
			var page, orders, totals, busiest []time.Duration
			for i := 0; b.Loop(); i++ {
				x := sample[i%len(sample)]
				f := combo.f(x)
				f.Limit = reports.DefaultLimit
				took, tookOrders, tookTotals := firstPage(ctx, b, e, f, x.label)
				page, orders, totals = append(page, took), append(orders, tookOrders), append(totals, tookTotals)
				if i%len(sample) == 0 {
					busiest = append(busiest, took)
				}
			}
			percentiles(b, "", page)
			percentiles(b, "orders-", orders)
			percentiles(b, "totals-", totals)
			percentiles(b, "busiest-", busiest)
		})
	}
}

// BenchmarkBrandEarnings is the busiest brand's GET /v1/reports/earnings
// over all its orders, per grouping.
func BenchmarkBrandEarnings(b *testing.B) {
	e := loaded(b)
	x := brandSample(b, e)[0]
	for _, g := range []string{reports.GroupByDay, reports.GroupByCreator, reports.GroupByOffer, reports.GroupByStatus} {
		b.Run(g, func(b *testing.B) {
			var d []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := e.r.Earnings(context.Background(), reports.OrderFilter{BrandID: x.id}, g, "UTC"); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			percentiles(b, "", d)
		})
	}
}
