package reports_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

// TestPagesAcrossWindows walks a creator's pages, both sorts, with and
// without bounds, over orders placed from long ago to the future (relative
// to the clock the pages are sliced from): every order comes exactly once,
// in order, as one query over the whole range would give them; the older
// versions of an order never show.
func TestPagesAcrossWindows(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ages := []time.Duration{-time.Hour, 0, time.Second, time.Hour, 23 * time.Hour, 25 * time.Hour, 7 * 24 * time.Hour,
		9 * 24 * time.Hour, 63 * 24 * time.Hour, 65 * 24 * time.Hour, 300 * 24 * time.Hour, 511 * 24 * time.Hour,
		513 * 24 * time.Hour, 900 * 24 * time.Hour, 2000 * 24 * time.Hour,
		// Exactly on the busy totals' slice bounds (days before today 00:00).
		60*24*time.Hour + 12*time.Hour, 365*24*time.Hour + 12*time.Hour}
	var rows []row
	var all []placedOrder
	for i, age := range ages {
		for k := range 3 { // three orders at the same second: the keyset's tie-break
			id := fmt.Sprintf("o%02d-%d", i, k)
			placed := now.Add(-age)
			r := row{creator: "c1", brand: "b1", order: id, offer: "f1", offerName: "Deal", code: "C1", status: "pending",
				currency: "RUB", country: "RU", earnCur: "RUB", amount: "10", earnings: "1", placed: placed}
			rows = append(rows, r)
			all = append(all, placedOrder{"b1/" + id, placed})
		}
		// Another creator's order at the same time never shows.
		rows = append(rows, row{creator: "c2", brand: "b1", order: fmt.Sprintf("x%02d", i), offer: "f1", offerName: "Deal", code: "C2",
			status: "pending", currency: "RUB", country: "RU", earnCur: "RUB", amount: "10", earnings: "1", placed: now.Add(-age)})
	}
	insertOrders(t, conn, db, rows...)
	// A newer version of o03-1 in another part: approved.
	insertOrders(t, conn, db, row{creator: "c1", brand: "b1", order: "o03-1", offer: "f1", offerName: "Deal", code: "C1", status: "approved",
		currency: "RUB", country: "RU", earnCur: "RUB", amount: "10", earnings: "2", placed: now.Add(-time.Hour), version: 2})
	ctx := context.Background()
	// sliced pages a creator it knows nothing about in time slices; learned
	// has seen the creator's totals (a light creator): one query a page.
	sliced := reports.New(conn, db)
	reports.SetNow(sliced, func() time.Time { return now })
	learned := reports.New(conn, db)
	reports.SetNow(learned, func() time.Time { return now })
	if _, err := learned.Totals(ctx, reports.OrderFilter{CreatorID: "c1"}); err != nil {
		t.Fatal(err)
	}

	// busy is told the creator is busy: with every day rolled up, its
	// narrowed pages start with a slice sized by creator_daily's counts.
	busyReader := reports.New(conn, db)
	reports.SetNow(busyReader, func() time.Time { return now })
	reports.MarkBusy(busyReader, "c1")
	readers := []*reports.Reports{sliced, learned}
	names := []string{"sliced", "learned"}
	t.Run("orders", func(t *testing.T) { walkPages(t, conn, db, now, all, readers, names, true) })
	var placed []time.Time
	for _, w := range all {
		placed = append(placed, w.placed)
	}
	markDays(t, conn, db, 1, placed...)
	if n := refreshSummary(t, conn, db); n == 0 {
		t.Fatal("nothing rolled up")
	}
	t.Run("rolled up", func(t *testing.T) {
		walkPages(t, conn, db, now, all, []*reports.Reports{busyReader}, []string{"busy"}, true)
	})
	// Counts that overstate every day (forged keys at the current version)
	// make the first slice too short: the slices after it must still give
	// every order once. The totals, read from the forged roll-up, are not
	// checked.
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".creator_daily (creator_id, day, brand_id, orders, pending, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range all {
		if err := b.Append("c1", w.placed.UTC().Truncate(24*time.Hour), "forged", uint64(1000), uint64(1000), uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	t.Run("overstated counts", func(t *testing.T) {
		walkPages(t, conn, db, now, all, []*reports.Reports{busyReader}, []string{"busy"}, false)
	})
}

type placedOrder struct {
	id     string
	placed time.Time
}

func walkPages(t *testing.T, conn driver.Conn, db string, now time.Time, all []placedOrder, readers []*reports.Reports, names []string, checkTotals bool) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		from, to time.Time
		status   string
		country  string
	}{
		{name: "unbounded"},
		{name: "from", from: now.Add(-64 * 24 * time.Hour)},
		{name: "to", to: now.Add(-8 * 24 * time.Hour)},
		{name: "from and to", from: now.Add(-600 * 24 * time.Hour), to: now.Add(-2 * time.Hour)},
		{name: "narrow", from: now.Add(-30 * time.Hour), to: now.Add(-time.Hour)},
		{name: "pending only", status: "pending"},
		{name: "pending in RU", status: "pending", country: "ru", from: now.Add(-600 * 24 * time.Hour)},
		{name: "country", country: "RU", to: now.Add(-8*24*time.Hour + time.Minute)},
	} {
		for _, sort := range []string{reports.SortDateDesc, reports.SortDateAsc} {
			for _, limit := range []int{1, 2, 4, 100} {
				for ri, r := range readers {
					t.Run(fmt.Sprintf("%s/%s/limit=%d/%s", tc.name, sort, limit, names[ri]), func(t *testing.T) {
						var exp []string
						for _, w := range all {
							if (!tc.from.IsZero() && w.placed.Before(tc.from)) || (!tc.to.IsZero() && !w.placed.Before(tc.to)) {
								continue
							}
							if tc.status == "pending" && w.id == "b1/o03-1" {
								continue
							}
							exp = append(exp, w.id)
						}
						byTime := map[string]time.Time{}
						for _, w := range all {
							byTime[w.id] = w.placed
						}
						slices.SortFunc(exp, func(a, b string) int {
							c := byTime[a].Compare(byTime[b])
							if c == 0 {
								c = strings.Compare(a, b)
							}
							if sort == reports.SortDateDesc {
								return -c
							}
							return c
						})
						f := reports.OrderFilter{CreatorID: "c1", From: tc.from, To: tc.to, Status: tc.status, Country: tc.country, Sort: sort, Limit: limit}
						var got []string
						for pages := 0; ; pages++ {
							if pages > len(all)+1 {
								t.Fatalf("paging does not end: %v", got)
							}
							p, err := r.Orders(ctx, f)
							if err != nil {
								t.Fatal(err)
							}
							if len(p.Orders) > limit {
								t.Fatalf("page of %d orders, limit %d", len(p.Orders), limit)
							}
							for _, o := range p.Orders {
								got = append(got, o.BrandID+"/"+o.OrderID)
								if o.OrderID == "o03-1" && (o.Status != "approved" || o.Earnings.String() != "2") {
									t.Fatalf("o03-1 shows an older version: %+v", o)
								}
							}
							if p.Next == nil {
								break
							}
							f.After = p.Next
						}
						if !slices.Equal(got, exp) {
							t.Fatalf("pages\n got %v\nwant %v", got, exp)
						}
						if !checkTotals {
							return
						}
						// Totals, in one query and in slices (a busy creator's).
						f.After = nil
						// Another Reports: totals teach a Reports the creator's
						// size, and r must keep slicing its pages.
						whole, err := reports.New(conn, db).Totals(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						busy := reports.New(conn, db)
						reports.SetNow(busy, func() time.Time { return now })
						reports.MarkBusy(busy, "c1")
						sliced, err := busy.Totals(ctx, f)
						if err != nil {
							t.Fatal(err)
						}
						wantEarned := decimal.NewFromInt(int64(len(exp)))
						if slices.Contains(exp, "b1/o03-1") {
							wantEarned = wantEarned.Add(decimal.NewFromInt(1)) // its latest version earns 2
						}
						for _, tot := range []reports.Totals{whole, sliced} {
							if tot.Orders != uint64(len(exp)) || !tot.Earnings["RUB"].Equal(wantEarned) || len(tot.Earnings) != 1 {
								t.Fatalf("totals %+v (whole %+v), want %d orders earning %s RUB", tot, whole, len(exp), wantEarned)
							}
						}
					})
				}
			}
		}
	}
}
