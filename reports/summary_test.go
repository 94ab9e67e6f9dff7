package reports_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/reports"
)

type summaryRow struct {
	creator, brand, order, offer, offerName, platform, status, currency, country, earnCur, amount, earnings string
	placed                                                                                                  time.Time
	version                                                                                                 uint64
}

func insertSummaryOrders(t *testing.T, conn driver.Conn, db string, rows ...summaryRow) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, offer_id, offer_name, platform, status, amount, currency, country, earnings, earnings_currency, updated_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.version == 0 {
			r.version = 1
		}
		if err := b.Append(r.creator, r.placed, r.brand, r.order, r.offer, r.offerName, r.platform, r.status,
			decimal.RequireFromString(r.amount), r.currency, r.country, decimal.RequireFromString(r.earnings), r.earnCur,
			r.placed, r.version); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// summaryFixture: brands b1 (Acme), b2 (Zeta); creators c1 (Anna) and c2
// (no name); orders s1..s5 over three UTC days, RUB and USD; unattributed
// orders u1..u4, u3 of a brand b3 with no attributed orders.
func summaryFixture(t *testing.T) (*reports.Reports, driver.Conn, string) {
	conn, db := readmodeltest.Migrated(t)
	insertBrands(t, conn, db, map[string]string{"b1": "Acme", "b2": "Zeta"})
	cb, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".creators (creator_id, name, registered_at, version)")
	if err != nil {
		t.Fatal(err)
	}
	if err := cb.Append("c1", "Anna", time.Unix(0, 0), uint64(1)); err != nil {
		t.Fatal(err)
	}
	if err := cb.Send(); err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	insertSummaryOrders(t, conn, db,
		summaryRow{"c1", "b1", "s1", "f1", "Winter", "ig", "approved", "RUB", "RU", "RUB", "1000.50", "100.05", t0, 1},
		summaryRow{"c1", "b1", "s2", "f1", "Winter", "ig", "pending", "RUB", "RU", "RUB", "200", "20", t0.Add(time.Hour), 1},
		summaryRow{"c2", "b1", "s3", "f2", "Spring", "yt", "pending", "USD", "KZ", "USD", "10.5", "1.25", t0.Add(day), 1},
		summaryRow{"c1", "b2", "s4", "f3", "Books", "yt", "approved", "USD", "KZ", "RUB", "3", "30", t0.Add(day), 1},
		summaryRow{"c2", "b2", "s5", "f3", "Books", "ig", "approved", "RUB", "RU", "RUB", "50", "5", t0.Add(2 * day), 1},
	)
	// s2 rejected later: FINAL must count only this version.
	insertSummaryOrders(t, conn, db,
		summaryRow{"c1", "b1", "s2", "f1", "Winter", "ig", "rejected", "RUB", "RU", "RUB", "200", "20", t0.Add(time.Hour), 2})
	ub, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".unattributed_orders (brand_id, placed_at, order_id, reason, currency, country, version)")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		brand, order, country string
		placed                time.Time
	}{
		{"b1", "u1", "RU", t0.Add(2 * time.Hour)},
		{"b2", "u2", "KZ", t0.Add(day)},
		{"b3", "u3", "RU", t0.Add(day)},
		{"b1", "u4", "RU", t0.Add(2 * day)},
	} {
		if err := ub.Append(u.brand, u.placed, u.order, "no_code", "RUB", u.country, uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ub.Send(); err != nil {
		t.Fatal(err)
	}
	return reports.New(conn, db), conn, db
}

func moneyMap(m map[string]decimal.Decimal) string {
	var parts []string
	for c, d := range m {
		parts = append(parts, c+":"+d.StringFixed(3))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// groupLine is "key|name|orders|gmv|earnings|approval|attribution"; the
// attribution is "-" when unknown.
func groupLine(g reports.SummaryGroup, attribution bool) string {
	a := "-"
	if attribution {
		a = g.AttributionRate().StringFixed(4)
	}
	return fmt.Sprintf("%s|%s|%d|%s|%s|%s|%s", g.Key, g.Name, g.Orders, moneyMap(g.GMV), moneyMap(g.Earnings),
		g.ApprovalRate().StringFixed(4), a)
}

// markDays writes a mark of the UTC day of each time at offset next of
// partition 0, as the projector does after writing orders rows.
func markDays(t *testing.T, conn driver.Conn, db string, next uint64, days ...time.Time) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+"."+readmodel.TableDayMarks+" (day, topic, kafka_partition, next_offset)")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range days {
		if err := b.Append(d.UTC().Truncate(24*time.Hour), "attrib.attributions", uint32(0), next); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func refreshSummary(t *testing.T, conn driver.Conn, db string) int {
	t.Helper()
	s, err := readmodel.NewSummarizer(conn, db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Refresh(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSummary checks every grouping on the same orders read four ways:
// from orders alone; with every day from summary_daily; with a day whose
// orders changed since its roll-up, whose stale rows must not count (a
// forged key is planted in them); and after the summarizer caught up.
func TestSummary(t *testing.T) {
	r, conn, db := summaryFixture(t)
	day := 24 * time.Hour
	steps := []struct {
		name    string
		prepare func(t *testing.T)
		rolled  int // days the summary reads from summary_daily (in full)
	}{
		{"from orders", func(t *testing.T) {}, 0},
		{"from the roll-up", func(t *testing.T) {
			markDays(t, conn, db, 1, t0, t0.Add(day), t0.Add(2*day))
			if n := refreshSummary(t, conn, db); n != 3 {
				t.Fatalf("refresh recomputed %d days, want 3", n)
			}
		}, 3},
		{"stale day", func(t *testing.T) {
			markDays(t, conn, db, 2, t0)
			b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+"."+readmodel.TableSummaryDaily+
				" (grouping, day, key, currency, earnings_currency, orders, version)")
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []string{"brand", "offer", "creator", "country", "platform", "day"} {
				if err := b.Append(g, t0.Truncate(day), "forged", "RUB", "RUB", uint64(99), uint64(1)); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Send(); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"caught up", func(t *testing.T) {
			if n := refreshSummary(t, conn, db); n != 1 {
				t.Fatalf("refresh recomputed %d days, want 1", n)
			}
			if n := refreshSummary(t, conn, db); n != 0 {
				t.Fatalf("second refresh recomputed %d days, want 0", n)
			}
		}, 3},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.prepare(t)
			states, err := readmodel.SummaryDays(context.Background(), conn, db)
			if err != nil {
				t.Fatal(err)
			}
			current := 0
			for _, st := range states {
				if st.SummaryCurrent() {
					current++
				}
			}
			if current != step.rolled {
				t.Fatalf("%d days current, want %d", current, step.rolled)
			}
			checkSummary(t, r)
		})
	}
}

func checkSummary(t *testing.T, r *reports.Reports) {
	ctx := context.Background()
	day := 24 * time.Hour
	allTotals := "||5|RUB:1250.500,USD:13.500|RUB:155.050,USD:1.250|0.7500|0.5556"
	for _, tc := range []struct {
		name   string
		f      reports.SummaryFilter
		known  bool
		groups []string
		totals string
	}{
		{"brand", reports.SummaryFilter{GroupBy: "brand"}, true, []string{
			"b1|Acme|3|RUB:1200.500,USD:10.500|RUB:120.050,USD:1.250|0.5000|0.6000",
			"b2|Zeta|2|RUB:50.000,USD:3.000|RUB:35.000|1.0000|0.6667",
			"b3||0|||0.0000|0.0000",
		}, allTotals},
		{"offer", reports.SummaryFilter{GroupBy: "offer"}, false, []string{
			"f1|Winter|2|RUB:1200.500|RUB:120.050|0.5000|-",
			"f2|Spring|1|USD:10.500|USD:1.250|0.0000|-",
			"f3|Books|2|RUB:50.000,USD:3.000|RUB:35.000|1.0000|-",
		}, allTotals},
		{"creator", reports.SummaryFilter{GroupBy: "creator"}, false, []string{
			"c1|Anna|3|RUB:1200.500,USD:3.000|RUB:150.050|0.6667|-",
			"c2||2|RUB:50.000,USD:10.500|RUB:5.000,USD:1.250|1.0000|-",
		}, allTotals},
		{"country", reports.SummaryFilter{GroupBy: "country"}, true, []string{
			"KZ||2|USD:13.500|RUB:30.000,USD:1.250|1.0000|0.6667",
			"RU||3|RUB:1250.500|RUB:125.050|0.6667|0.5000",
		}, allTotals},
		{"platform", reports.SummaryFilter{GroupBy: "platform"}, false, []string{
			"ig||3|RUB:1250.500|RUB:125.050|0.6667|-",
			"yt||2|USD:13.500|RUB:30.000,USD:1.250|1.0000|-",
		}, allTotals},
		{"day in range", reports.SummaryFilter{GroupBy: "day", From: t0, To: t0.Add(2 * day)}, true, []string{
			"2026-11-01||2|RUB:1200.500|RUB:120.050|0.5000|0.6667",
			"2026-11-02||2|USD:13.500|RUB:30.000,USD:1.250|1.0000|0.5000",
		}, "||4|RUB:1200.500,USD:13.500|RUB:150.050,USD:1.250|0.6667|0.5714"},
		{"part of a day", reports.SummaryFilter{GroupBy: "creator", From: t0.Add(30 * time.Minute), To: t0.Add(day + time.Hour)}, false, []string{
			"c1|Anna|2|RUB:200.000,USD:3.000|RUB:50.000|0.5000|-",
			"c2||1|USD:10.500|USD:1.250|0.0000|-",
		}, "||3|RUB:200.000,USD:13.500|RUB:50.000,USD:1.250|0.5000|0.5000"},
		{"empty range", reports.SummaryFilter{GroupBy: "brand", From: t0.Add(10 * day)}, true, nil,
			"||0|||0.0000|0.0000"},
		{"backwards range", reports.SummaryFilter{GroupBy: "day", From: t0.Add(day), To: t0}, true, nil,
			"||0|||0.0000|0.0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.Summary(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if s.AttributionKnown != tc.known {
				t.Errorf("AttributionKnown = %v, want %v", s.AttributionKnown, tc.known)
			}
			var got []string
			for _, g := range s.Groups {
				got = append(got, groupLine(g, tc.known))
			}
			if strings.Join(got, "\n") != strings.Join(tc.groups, "\n") {
				t.Errorf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.groups, "\n"))
			}
			if got := groupLine(s.Totals, true); got != tc.totals {
				t.Errorf("totals = %s, want %s", got, tc.totals)
			}
		})
	}
	if _, err := r.Summary(ctx, reports.SummaryFilter{GroupBy: "status"}); err == nil {
		t.Error("Summary by status: no error")
	}
}
