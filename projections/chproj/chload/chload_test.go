package chload_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/chproj/chload"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/reports"
)

var end = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func smallConfig() chload.Config {
	return chload.Config{Orders: 20_000, Creators: 40, Brands: 6, Seed: 7, End: end, BlockRows: 3000}
}

// expected is what the database must hold, computed by the test from the
// generated rows: the highest version of each (brand, order).
type expected struct {
	orders       map[[2]string]chload.Order
	rows         int
	unattributed int
	catalog      *chload.Catalog
}

func generate(t *testing.T, cfg chload.Config) expected {
	t.Helper()
	exp := expected{orders: map[[2]string]chload.Order{}}
	err := chload.Generate(context.Background(), cfg, func(c *chload.Catalog) error { exp.catalog = c; return nil }, func(ch chload.Chunk) error {
		for _, rows := range [][]chload.Order{ch.Earlier, ch.Final} {
			for _, o := range rows {
				exp.rows++
				k := [2]string{o.BrandID, o.OrderID}
				if cur, ok := exp.orders[k]; !ok || o.Version > cur.Version {
					exp.orders[k] = o
				}
			}
		}
		exp.unattributed += len(ch.Unattributed)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func digest(t *testing.T, cfg chload.Config) string {
	t.Helper()
	h := sha256.New()
	err := chload.Generate(context.Background(), cfg, nil, func(ch chload.Chunk) error {
		for _, rows := range [][]chload.Order{ch.Earlier, ch.Final} {
			for _, o := range rows {
				fmt.Fprintf(h, "%+v\n", o)
			}
		}
		for _, u := range ch.Unattributed {
			fmt.Fprintf(h, "%+v\n", u)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	cfg := smallConfig()
	a, b := digest(t, cfg), digest(t, cfg)
	if a != b {
		t.Fatalf("two runs with seed %d differ", cfg.Seed)
	}
	cfg.Seed++
	if c := digest(t, cfg); c == a {
		t.Fatalf("seeds %d and %d give the same data", cfg.Seed-1, cfg.Seed)
	}
}

func TestShape(t *testing.T) {
	cfg := smallConfig()
	exp := generate(t, cfg)
	if len(exp.orders) != cfg.Orders {
		t.Fatalf("%d distinct orders, want %d", len(exp.orders), cfg.Orders)
	}
	if exp.rows <= cfg.Orders*11/10 {
		t.Errorf("%d rows for %d orders: want more than 10%% older versions and redeliveries", exp.rows, cfg.Orders)
	}
	if u := float64(exp.unattributed) / float64(exp.unattributed+cfg.Orders); u < 0.045 || u > 0.055 {
		t.Errorf("unattributed share %.3f, want about 0.05", u)
	}
	perCreator := map[string]int{}
	statuses, currencies := map[string]int{}, map[string]int{}
	for _, o := range exp.orders {
		perCreator[o.CreatorID]++
		statuses[o.Status]++
		currencies[o.Currency]++
		if o.PlacedAt > end.Unix() || o.PlacedAt < end.Add(-chload.DefaultSpan).Unix() {
			t.Fatalf("order %s placed at %d, outside the span", o.OrderID, o.PlacedAt)
		}
		if o.Status == "rejected" && o.Earnings != 0 {
			t.Fatalf("rejected order %s earns %d", o.OrderID, o.Earnings)
		}
		if o.Earnings%10 != 0 || o.Amount%10 != 0 {
			t.Fatalf("order %s: amounts not in whole cents: %+v", o.OrderID, o)
		}
	}
	busiest := perCreator[exp.catalog.Creators[0].ID]
	median := perCreator[exp.catalog.Creators[len(exp.catalog.Creators)/2].ID]
	if busiest < 10*median {
		t.Errorf("busiest creator %d orders, median %d: want a skew", busiest, median)
	}
	for _, s := range []string{"pending", "approved", "rejected"} {
		if statuses[s] < cfg.Orders/50 {
			t.Errorf("status %s: %d orders", s, statuses[s])
		}
	}
	for _, c := range []string{"RUB", "USD", "EUR"} {
		if currencies[c] < cfg.Orders/100 {
			t.Errorf("currency %s: %d orders", c, currencies[c])
		}
	}
}

// TestLoad loads 20,000 orders and checks the tables and the reports
// against sums the test computes from the generated rows.
func TestLoad(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := context.Background()
	cfg := smallConfig()
	cfg.Conn, cfg.Database = conn, db
	t.Cleanup(func() {
		if err := chload.Drop(context.Background(), conn, cfg.Database); err != nil {
			t.Error(err)
		}
	})
	var last chload.Progress
	cfg.Progress = func(p chload.Progress) { last = p }
	stats, err := chload.Load(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	exp := generate(t, cfg)
	if last.Orders != cfg.Orders || last.Rows != exp.rows+exp.unattributed {
		t.Errorf("last progress %+v, want %d orders, %d rows", last, cfg.Orders, exp.rows+exp.unattributed)
	}

	// Expectations, summed here from the latest versions.
	type sum struct {
		n int
		m int64
	}
	byCur, byEarnCur, byCreator, byBrand := map[string]sum{}, map[string]sum{}, map[string]sum{}, map[string]int{}
	byCreatorCur := map[string]map[string]sum{}
	var approved, rejected int
	for _, o := range exp.orders {
		s := byCur[o.Currency]
		byCur[o.Currency] = sum{s.n + 1, s.m + o.Amount}
		s = byEarnCur[o.EarningsCurrency]
		byEarnCur[o.EarningsCurrency] = sum{s.n + 1, s.m + o.Earnings}
		s = byCreator[o.CreatorID]
		byCreator[o.CreatorID] = sum{s.n + 1, 0}
		if byCreatorCur[o.CreatorID] == nil {
			byCreatorCur[o.CreatorID] = map[string]sum{}
		}
		s = byCreatorCur[o.CreatorID][o.EarningsCurrency]
		byCreatorCur[o.CreatorID][o.EarningsCurrency] = sum{s.n + 1, s.m + o.Earnings}
		byBrand[o.BrandID]++
		switch o.Status {
		case "approved":
			approved++
		case "rejected":
			rejected++
		}
	}
	thousandths := func(d decimal.Decimal) int64 { return d.Shift(3).IntPart() }

	// The loader's own sums.
	if stats.Orders != len(exp.orders) || stats.OrderRows != exp.rows || stats.Unattributed != exp.unattributed {
		t.Errorf("stats: %d orders, %d rows, %d unattributed; want %d, %d, %d", stats.Orders, stats.OrderRows, stats.Unattributed,
			len(exp.orders), exp.rows, exp.unattributed)
	}
	for cur, s := range byEarnCur {
		if got := stats.ByEarningsCurrency[cur]; got == nil || got.Orders != s.n || got.Thousandths != s.m {
			t.Errorf("stats: earnings in %s: %+v, want %d orders, %d", cur, got, s.n, s.m)
		}
	}

	// The tables, read directly.
	var raw, final uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".orders").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".orders FINAL").Scan(&final); err != nil {
		t.Fatal(err)
	}
	// Background merges fold some duplicates at once: the raw count is
	// between the two.
	if raw > uint64(exp.rows) || raw < final || final != uint64(len(exp.orders)) {
		t.Errorf("orders: %d rows, %d after FINAL; want at most %d and exactly %d", raw, final, exp.rows, len(exp.orders))
	}
	// orders_by_brand: the same orders at the same versions.
	var sorted, same uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".orders_by_brand FINAL").Scan(&sorted); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM (SELECT brand_id, order_id, version, status, earnings FROM "+db+
		".orders_by_brand FINAL) ANY INNER JOIN (SELECT brand_id, order_id, version, status, earnings FROM "+db+
		".orders FINAL) USING (brand_id, order_id, version, status, earnings)").Scan(&same); err != nil {
		t.Fatal(err)
	}
	if sorted != final || same != final {
		t.Errorf("orders_by_brand: %d orders after FINAL, %d of them as in orders; want %d and %d", sorted, same, final, final)
	}
	rows, err := conn.Query(ctx, "SELECT currency, count(), sum(amount) FROM "+db+".orders FINAL GROUP BY currency")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var cur string
		var n uint64
		var gmv decimal.Decimal
		if err := rows.Scan(&cur, &n, &gmv); err != nil {
			t.Fatal(err)
		}
		seen++
		if want := byCur[cur]; n != uint64(want.n) || thousandths(gmv) != want.m {
			t.Errorf("currency %s: %d orders, GMV %s; want %d, %s", cur, n, gmv, want.n, decimal.New(want.m, -3))
		}
	}
	rows.Close()
	if seen != len(byCur) {
		t.Errorf("%d currencies in the table, want %d", seen, len(byCur))
	}
	for _, q := range []struct {
		sql  string
		want map[string]int
	}{
		{"SELECT brand_id, count() FROM " + db + ".orders FINAL GROUP BY brand_id", byBrand},
		{"SELECT creator_id, count() FROM " + db + ".orders FINAL GROUP BY creator_id", func() map[string]int {
			m := map[string]int{}
			for k, s := range byCreator {
				m[k] = s.n
			}
			return m
		}()},
	} {
		got := map[string]int{}
		rows, err := conn.Query(ctx, q.sql)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			var n uint64
			if err := rows.Scan(&k, &n); err != nil {
				t.Fatal(err)
			}
			got[k] = int(n)
		}
		rows.Close()
		if fmt.Sprint(got) != fmt.Sprint(q.want) {
			t.Errorf("%s:\n got %v\nwant %v", q.sql, got, q.want)
		}
	}

	// The reports.
	r := reports.New(conn, cfg.Database)
	// The summary from orders alone, then from the roll-up the load's marks
	// let the summarizer compute.
	checkSummary := func(how string) {
		summary, err := r.Summary(ctx, reports.SummaryFilter{GroupBy: reports.GroupByBrand})
		if err != nil {
			t.Fatal(err)
		}
		tot := summary.Totals
		if tot.Orders != uint64(len(exp.orders)) || tot.Approved != uint64(approved) || tot.Rejected != uint64(rejected) ||
			tot.Unattributed != uint64(exp.unattributed) {
			t.Errorf("summary %s: totals: %d orders, %d approved, %d rejected, %d unattributed; want %d, %d, %d, %d", how,
				tot.Orders, tot.Approved, tot.Rejected, tot.Unattributed, len(exp.orders), approved, rejected, exp.unattributed)
		}
		for cur, s := range byCur {
			if got := thousandths(tot.GMV[cur]); got != s.m {
				t.Errorf("summary %s: GMV %s: %s, want %s", how, cur, tot.GMV[cur], decimal.New(s.m, -3))
			}
		}
		for cur, s := range byEarnCur {
			if got := thousandths(tot.Earnings[cur]); got != s.m {
				t.Errorf("summary %s: earnings %s: %s, want %s", how, cur, tot.Earnings[cur], decimal.New(s.m, -3))
			}
		}
		if len(summary.Groups) != len(byBrand) {
			t.Errorf("summary %s: %d brands, want %d", how, len(summary.Groups), len(byBrand))
		}
		for _, g := range summary.Groups {
			if g.Orders != uint64(byBrand[g.Key]) || g.Name == "" {
				t.Errorf("summary %s: brand %s (%q): %d orders, want %d", how, g.Key, g.Name, g.Orders, byBrand[g.Key])
			}
		}
	}
	checkSummary("from orders")
	summarizer, err := readmodel.NewSummarizer(conn, cfg.Database, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := summarizer.Refresh(ctx, nil); err != nil || n == 0 {
		t.Fatalf("summary refresh: %d days, %v; want the days of the load", n, err)
	}
	states, err := readmodel.SummaryDays(ctx, conn, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	for d, st := range states {
		if !st.SummaryCurrent() || !st.CreatorsCurrent() {
			t.Errorf("day %s not rolled up after the refresh: %+v", d.Format(time.DateOnly), st)
		}
	}
	checkSummary("from the roll-up")
	// A creator's report: the busiest, a middle one and the last.
	cs := exp.catalog.Creators
	for _, c := range []chload.Creator{cs[0], cs[len(cs)/2], cs[len(cs)-1]} {
		got, err := r.Totals(ctx, reports.OrderFilter{CreatorID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := byCreatorCur[c.ID]
		n := 0
		for cur, s := range want {
			n += s.n
			if thousandths(got.Earnings[cur]) != s.m {
				t.Errorf("creator %s: earnings %s %s, want %s", c.ID, cur, got.Earnings[cur], decimal.New(s.m, -3))
			}
		}
		if got.Orders != uint64(n) || len(got.Earnings) != len(want) {
			t.Errorf("creator %s: %d orders in %d currencies, want %d in %d", c.ID, got.Orders, len(got.Earnings), n, len(want))
		}
		page, err := r.Orders(ctx, reports.OrderFilter{CreatorID: c.ID, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Orders) != min(10, n) {
			t.Errorf("creator %s: first page has %d orders, want %d", c.ID, len(page.Orders), min(10, n))
		}
	}
}
