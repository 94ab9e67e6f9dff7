package reports_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/money"
	"github.com/attrib-engine/attrib/reports"
)

// The benchmarks of this file read a database loaded by `attrib loadgen
// clickhouse` (10 million orders for the figures in the README), named by
// ATTRIB_BENCH_CLICKHOUSE_DB, on the server of ATTRIB_TEST_CLICKHOUSE_URL:
//
//	attrib loadgen clickhouse --orders 10000000 --database attrib_bench --end 2026-11-24
//	ATTRIB_TEST_CLICKHOUSE_URL=clickhouse://127.0.0.1:9000/default ATTRIB_BENCH_CLICKHOUSE_DB=attrib_bench \
//	    go test -run '^$' -bench . -benchtime 60x ./reports/
const benchDBEnv = "ATTRIB_BENCH_CLICKHOUSE_DB"

type benchEnv struct {
	conn     driver.Conn
	db       string
	r        *reports.Reports
	creators []benchCreator // busiest first
	newest   time.Time      // the newest placed time of the data
}

// benchCreator is a creator of the sample with filter values taken from one
// of its orders.
type benchCreator struct {
	id, label                                    string
	orders                                       uint64
	offerPart, code, brandPart, orderID, country string
}

var (
	benchOnce sync.Once
	bench     *benchEnv
	benchErr  error
)

func loaded(b *testing.B) *benchEnv {
	b.Helper()
	db := os.Getenv(benchDBEnv)
	if db == "" {
		b.Skipf("%s is not set: load a database with `attrib loadgen clickhouse --database attrib_bench` and set %s=attrib_bench", benchDBEnv, benchDBEnv)
	}
	opts := testenv.ClickHouseOptions(b)
	benchOnce.Do(func() { bench, benchErr = openBench(opts, db) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

// openBench opens a connection with opts that the benchmarks share (never
// closed) and picks the sample of creators from db.
func openBench(opts *clickhouse.Options, db string) (*benchEnv, error) {
	opts.ReadTimeout = 5 * time.Minute
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	e := &benchEnv{conn: conn, db: db, r: reports.New(conn, db)}
	// Creators by order count (without FINAL: only to choose the sample).
	rows, err := conn.Query(ctx, "SELECT creator_id, count() AS n FROM `"+db+"`.orders GROUP BY creator_id ORDER BY n DESC, creator_id")
	if err != nil {
		return nil, err
	}
	type cn struct {
		id string
		n  uint64
	}
	var all []cn
	for rows.Next() {
		var c cn
		if err := rows.Scan(&c.id, &c.n); err != nil {
			return nil, err
		}
		all = append(all, c)
	}
	rows.Close()
	if len(all) == 0 {
		return nil, fmt.Errorf("database %s has no orders: load it with attrib loadgen clickhouse", db)
	}
	if err := conn.QueryRow(ctx, "SELECT max(placed_at) FROM `"+db+"`.orders").Scan(&e.newest); err != nil {
		return nil, err
	}
	// The busiest, the 2nd, 10th, 100th, the median and the last.
	ranks := []int{0, 1, 9, 99, len(all) / 2, len(all) - 1}
	for _, i := range ranks {
		if i >= len(all) || (len(e.creators) > 0 && e.creators[len(e.creators)-1].id == all[i].id) {
			continue
		}
		c := benchCreator{id: all[i].id, orders: all[i].n, label: fmt.Sprintf("rank%d", i+1)}
		var brandID string
		err := conn.QueryRow(ctx, "SELECT offer_name, promo_code, brand_id, order_id, country FROM `"+db+
			"`.orders WHERE creator_id = ? ORDER BY placed_at DESC LIMIT 1 OFFSET ?", c.id, all[i].n/3).
			Scan(&c.offerPart, &c.code, &brandID, &c.orderID, &c.country)
		if err != nil {
			return nil, err
		}
		var brandName string
		if err := conn.QueryRow(ctx, "SELECT name FROM `"+db+"`.brands FINAL WHERE brand_id = ?", brandID).Scan(&brandName); err != nil {
			return nil, err
		}
		c.brandPart = strings.ToLower(strings.Fields(brandName)[0])
		c.offerPart = strings.ToUpper(strings.Fields(c.offerPart)[0])
		e.creators = append(e.creators, c)
	}
	return e, nil
}

// percentiles reports p50 and p99 (nearest rank) and the maximum of d in
// milliseconds under the given prefix.
func percentiles(b *testing.B, prefix string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	b.ReportMetric(ms(at(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(at(0.99)), prefix+"p99-ms")
}

// filterCombos are the creator report's filters of API.md, alone and
// combined, for a creator c; the newest month is the data's last 30 days.
func filterCombos(e *benchEnv) []struct {
	name string
	f    func(c benchCreator) reports.OrderFilter
} {
	to := e.newest.Add(time.Second)
	from := to.Add(-30 * 24 * time.Hour)
	type combo = struct {
		name string
		f    func(c benchCreator) reports.OrderFilter
	}
	return []combo{
		{"none", func(c benchCreator) reports.OrderFilter { return reports.OrderFilter{CreatorID: c.id} }},
		{"status", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Status: reports.StatusApproved}
		}},
		{"offer", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Offer: c.offerPart}
		}},
		{"brand", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Brand: c.brandPart}
		}},
		{"country", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Country: c.country}
		}},
		{"promo_code", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, PromoCode: c.code}
		}},
		{"order_id", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, OrderID: c.orderID}
		}},
		{"from_to_30d", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, From: from, To: to}
		}},
		{"sort_asc", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Sort: reports.SortDateAsc}
		}},
		{"status+brand+from_to", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Status: reports.StatusApproved, Brand: c.brandPart, From: from.Add(-150 * 24 * time.Hour), To: to}
		}},
		{"status+country+sort_asc", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Status: reports.StatusPending, Country: c.country, Sort: reports.SortDateAsc}
		}},
		{"offer+promo_code+status", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Offer: c.offerPart, PromoCode: c.code, Status: reports.StatusApproved}
		}},
		{"rare_status+sort_asc", func(c benchCreator) reports.OrderFilter {
			return reports.OrderFilter{CreatorID: c.id, Status: reports.StatusRejected, Country: "AM", Sort: reports.SortDateAsc}
		}},
	}
}

// firstPage asks for f's page and its totals at once, as the API does,
// and returns the time to both, to the page and to the totals; label names
// the case in a failure.
func firstPage(ctx context.Context, b *testing.B, e *benchEnv, f reports.OrderFilter, label string) (took, tookOrders, tookTotals time.Duration) {
	b.Helper()
	t0 := time.Now()
	var tot reports.Totals
	var terr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		tot, terr = e.r.Totals(ctx, f)
		tookTotals = time.Since(t0)
	}()
	p, err := e.r.Orders(ctx, f)
	if err != nil {
		b.Fatal(err)
	}
	tookOrders = time.Since(t0)
	<-done
	if terr != nil {
		b.Fatal(terr)
	}
	took = time.Since(t0)
	if len(p.Orders) > int(tot.Orders) {
		b.Fatalf("%s: page of %d orders, totals %d", label, len(p.Orders), tot.Orders)
	}
	return took, tookOrders, tookTotals
}

// BenchmarkFirstPage is a creator's first page as GET /v1/reports/orders
// reads it: Orders (50 rows) and Totals at once, for each filter
// combination, over the sample of creators (the busiest among them).
// Reported: p50 and p99 of the page (until both are read), and p99 of each
// part and of the busiest creator alone. Run with -benchtime Nx, N a
// multiple of the sample size.
func BenchmarkFirstPage(b *testing.B) {
	e := loaded(b)
	for _, combo := range filterCombos(e) {
		b.Run(combo.name, func(b *testing.B) {
			ctx := context.Background()
			var page, orders, totals, busiest []time.Duration
			for i := 0; b.Loop(); i++ {
				c := e.creators[i%len(e.creators)]
				f := combo.f(c)
				f.Limit = reports.DefaultLimit
				took, tookOrders, tookTotals := firstPage(ctx, b, e, f, c.label)
				page, orders, totals = append(page, took), append(orders, tookOrders), append(totals, tookTotals)
				if i%len(e.creators) == 0 {
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

// BenchmarkCSV streams a creator's whole report as GET
// /v1/reports/orders.csv writes it (to io.Discard), for the creator whose
// order count is nearest to 100,000 and for the busiest. Reported: rows,
// seconds, bytes allocated per row and the peak heap in use during the
// stream (sampled every 5 ms), to show that memory stays flat.
func BenchmarkCSV(b *testing.B) {
	e := loaded(b)
	ctx := context.Background()
	var near benchCreator
	rows, err := e.conn.Query(ctx, "SELECT creator_id, count() AS n FROM `"+e.db+"`.orders FINAL GROUP BY creator_id ORDER BY abs(toInt64(n) - 100000) LIMIT 1")
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&near.id, &near.orders); err != nil {
			b.Fatal(err)
		}
	}
	rows.Close()
	for _, c := range []benchCreator{near, e.creators[0]} {
		b.Run(fmt.Sprintf("orders=%d", c.orders), func(b *testing.B) {
			var n int
			var peak uint64
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				stop := make(chan struct{})
				done := make(chan uint64)
				go func() {
					var m runtime.MemStats
					var top uint64
					t := time.NewTicker(5 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							done <- top
							return
						case <-t.C:
							runtime.ReadMemStats(&m)
							top = max(top, m.HeapAlloc)
						}
					}
				}()
				n = 0
				w := csv.NewWriter(io.Discard)
				err := e.r.EachOrder(ctx, reports.OrderFilter{CreatorID: c.id}, func(o reports.Order) error {
					n++
					return w.Write([]string{o.OrderID, o.BrandID, o.Brand, o.OfferID, o.Offer, o.PromoCode, o.Status,
						o.Amount.StringFixed(int32(money.MinorUnits(o.Currency))), o.Currency, o.Country,
						o.Earnings.StringFixed(int32(money.MinorUnits(o.EarningsCurrency))), o.EarningsCurrency,
						o.PlacedAt.Format(time.RFC3339), o.UpdatedAt.Format(time.RFC3339)})
				})
				w.Flush()
				close(stop)
				top := <-done
				if err != nil {
					b.Fatal(err)
				}
				if top > before.HeapAlloc {
					peak = max(peak, top-before.HeapAlloc)
				}
			}
			b.ReportAllocs()
			b.ReportMetric(float64(n), "rows")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/export")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// BenchmarkSummary is the analysts' summary over everything (no range),
// and over the last 30 days, per grouping.
func BenchmarkSummary(b *testing.B) {
	e := loaded(b)
	ctx := context.Background()
	to := e.newest.Add(time.Second)
	for _, rng := range []struct {
		name     string
		from, to time.Time
	}{{"all", time.Time{}, time.Time{}}, {"30d", to.Add(-30 * 24 * time.Hour), to}} {
		for _, g := range []string{reports.GroupByBrand, reports.GroupByCreator, reports.GroupByDay, reports.GroupByOffer, reports.GroupByCountry} {
			b.Run(rng.name+"/"+g, func(b *testing.B) {
				var d []time.Duration
				for b.Loop() {
					t0 := time.Now()
					s, err := e.r.Summary(ctx, reports.SummaryFilter{GroupBy: g, From: rng.from, To: rng.to})
					if err != nil {
						b.Fatal(err)
					}
					d = append(d, time.Since(t0))
					if s.Totals.Orders == 0 {
						b.Fatal("empty summary")
					}
				}
				percentiles(b, "", d)
			})
		}
	}
}
