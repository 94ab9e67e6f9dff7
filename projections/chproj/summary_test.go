package chproj_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/shopspring/decimal"

	"github.com/attrib-engine/attrib/projections/chproj"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
	"github.com/attrib-engine/attrib/schemas"
)

// dayLines reads orders per creator and day, as "day creator cur/ecur
// orders gmv earnings approved rejected" lines, from orders FINAL,
// summary_daily FINAL (the creator grouping) or creator_daily FINAL (the
// rows of the days' current versions).
func dayLines(t *testing.T, conn driver.Conn, db, from string) string {
	t.Helper()
	var q string
	switch from {
	case "orders":
		q = "SELECT toString(toDate(placed_at, 'UTC')) AS d, creator_id AS k, currency, earnings_currency, count(), sum(amount), sum(earnings), " +
			"countIf(status = 'approved'), countIf(status = 'rejected') FROM " + db + ".orders FINAL GROUP BY d, k, currency, earnings_currency"
	case "summary_daily":
		q = "SELECT toString(day), key, currency, earnings_currency, orders, gmv, earnings, approved, rejected FROM " + db +
			".summary_daily FINAL WHERE grouping = 'creator'"
	case "creator_daily":
		q = "SELECT toString(day) AS d, creator_id, currency, earnings_currency, sum(orders), sum(gmv), sum(earnings), " +
			"sum(approved), sum(rejected) FROM " + db + ".creator_daily FINAL " +
			"WHERE (day, version) IN (SELECT day, max(version) FROM " + db + ".rollup_days WHERE rollup_table = 'creator_daily' GROUP BY day) " +
			"GROUP BY d, creator_id, currency, earnings_currency"
	}
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d, k, cur, ecur string
		var n, a, r uint64
		var gmv, earned decimal.Decimal
		if err := rows.Scan(&d, &k, &cur, &ecur, &n, &gmv, &earned, &a, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s/%s %d %s %s %d %d", d, k, cur, ecur, n, gmv.StringFixed(3), earned.StringFixed(3), a, r))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func dayStates(t *testing.T, conn driver.Conn, db string) string {
	t.Helper()
	states, err := readmodel.SummaryDays(context.Background(), conn, db)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for d, st := range states {
		if st.Summary != st.Creators {
			t.Errorf("day %s: summary_daily at %d, creator_daily at %d", d.Format(time.DateOnly), st.Summary, st.Creators)
		}
		out = append(out, fmt.Sprintf("%s:%d/%d:%v", d.Format(time.DateOnly), st.Marks, st.Summary, st.SummaryCurrent() && st.CreatorsCurrent()))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestSummarizerFollowsTheProjector: the projector marks each day it
// writes orders rows of, with its partition's next offset; a refresh
// recomputes exactly the days whose marks moved, and its rows equal what
// orders FINAL gives; concurrent refreshes are harmless.
func TestSummarizerFollowsTheProjector(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	p := newProjector(t, conn, db, func(c *chproj.Config) { c.BatchWait = time.Millisecond })
	ctx := context.Background()
	day := 24 * time.Hour
	handle := func(part int, first int64, envs ...schemas.Envelope) {
		t.Helper()
		if err := p.Handle(ctx, batch(schemas.TopicAttributions, part, first, envs...)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := readmodel.NewSummarizer(conn, db, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(want int) {
		t.Helper()
		n, err := s.Refresh(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("refresh recomputed %d days, want %d", n, want)
		}
		direct := dayLines(t, conn, db, "orders")
		for _, rollup := range []string{"summary_daily", "creator_daily"} {
			if got := dayLines(t, conn, db, rollup); got != direct {
				t.Errorf("%s:\n%s\norders FINAL:\n%s", rollup, got, direct)
			}
		}
	}

	handle(3, 10,
		order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, earnings: "250.00", version: 1, placed: t0}.envelope(t),
		order{brand: "b1", id: "B", creator: "c2", status: schemas.StatusPending, earnings: "10.00", version: 1, placed: t0.Add(day), amount: "100.00", currency: "USD"}.envelope(t))
	handle(5, 0,
		order{brand: "b2", id: "C", creator: "c1", status: schemas.StatusApproved, earnings: "5.00", version: 1, placed: t0.Add(day)}.envelope(t))
	if got, want := dayStates(t, conn, db), "2026-11-01:12/0:false 2026-11-02:13/0:false"; got != want {
		t.Fatalf("days %s, want %s", got, want)
	}
	refresh(2)
	if got, want := dayStates(t, conn, db), "2026-11-01:12/12:true 2026-11-02:13/13:true"; got != want {
		t.Fatalf("after the refresh: days %s, want %s", got, want)
	}
	refresh(0)

	// A cancels: its day moves on, the other stays current.
	handle(3, 12,
		order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusRejected, earnings: "0.00", version: 2, placed: t0}.envelope(t))
	if got, want := dayStates(t, conn, db), "2026-11-01:13/12:false 2026-11-02:13/13:true"; got != want {
		t.Fatalf("after A's change: days %s, want %s", got, want)
	}
	// A redelivered batch notes an offset the day already has.
	handle(3, 10,
		order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, earnings: "250.00", version: 1, placed: t0}.envelope(t))
	if got, want := dayStates(t, conn, db), "2026-11-01:13/12:false 2026-11-02:13/13:true"; got != want {
		t.Fatalf("after a redelivery: days %s, want %s", got, want)
	}
	refresh(1)
	if !strings.Contains(dayLines(t, conn, db, "summary_daily"), "2026-11-01 c1 RUB/RUB 1 2500.000 0.000 0 1") {
		t.Errorf("A's rejection is not in summary_daily:\n%s", dayLines(t, conn, db, "summary_daily"))
	}

	// Refreshes racing each other write the same rows.
	handle(5, 1,
		order{brand: "b2", id: "D", creator: "c3", status: schemas.StatusPending, earnings: "7.00", version: 1, placed: t0.Add(2 * day)}.envelope(t))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, err := s.Refresh(ctx, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	refresh(0)
	if got, want := dayStates(t, conn, db), "2026-11-01:13/13:true 2026-11-02:13/13:true 2026-11-03:2/2:true"; got != want {
		t.Fatalf("after the racing refreshes: days %s, want %s", got, want)
	}
}

// TestBackfillMarksDaysWithoutMarks: orders rows written without marks
// (before the marks existed) get a mark per day, once, and are rolled up.
func TestBackfillMarksDaysWithoutMarks(t *testing.T) {
	conn, db := readmodeltest.Migrated(t)
	p := newProjector(t, conn, db, func(c *chproj.Config) { c.BatchWait = time.Millisecond })
	ctx := context.Background()
	if err := p.Handle(ctx, batch(schemas.TopicAttributions, 0, 0,
		order{brand: "b1", id: "A", creator: "c1", status: schemas.StatusPending, earnings: "1.00", version: 1, placed: t0}.envelope(t))); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".orders (creator_id, placed_at, brand_id, order_id, status, currency, earnings_currency, version)")
	if err != nil {
		t.Fatal(err)
	}
	for i, placed := range []time.Time{t0.Add(-48 * time.Hour), t0.Add(-47 * time.Hour), t0.Add(-24 * time.Hour)} {
		if err := b.Append("c2", placed, "b1", fmt.Sprintf("old-%d", i), "approved", "RUB", "RUB", uint64(1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	s, err := readmodel.NewSummarizer(conn, db, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{2, 0} { // the second time, nothing is left
		n, err := s.Backfill(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Fatalf("backfill %d marked %d days, want %d", i+1, n, want)
		}
	}
	if n, err := s.Refresh(ctx, nil); err != nil || n != 3 {
		t.Fatalf("refresh: %d days, %v; want 3", n, err)
	}
	if got, want := dayStates(t, conn, db), "2026-10-30:1/1:true 2026-10-31:1/1:true 2026-11-01:1/1:true"; got != want {
		t.Fatalf("days %s, want %s", got, want)
	}
	if got, want := dayLines(t, conn, db, "creator_daily"), dayLines(t, conn, db, "orders"); got != want {
		t.Errorf("creator_daily:\n%s\norders FINAL:\n%s", got, want)
	}
}
