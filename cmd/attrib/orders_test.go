package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/schemas"
)

// webhook posts body to the order webhook as brandID, signed with secret
// at the engine's (shifted) clock.
func (e *engine) webhook(brandID, secret string, body any) (int, map[string]any) {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.base+"/v1/webhooks/orders", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Brand-Id", brandID)
	req.Header.Set("X-Signature", ingest.Sign(secret, clock(), raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// finalRows reads the attribution topic and returns the highest-version
// row of each order (what a projection keeps), by order id.
func (e *engine) finalRows(want int) map[string]map[string]any {
	e.t.Helper()
	store, err := eventstore.Open(context.Background(), eventstore.Config{Brokers: e.brokers, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	defer store.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := map[string]map[string]any{}
		versions := map[string]float64{}
		err := store.Replay(context.Background(), schemas.TopicAttributions, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
			for _, m := range b.Messages {
				var p map[string]any
				if err := json.Unmarshal(m.Envelope.Payload, &p); err != nil {
					return err
				}
				p["type"] = m.Envelope.Type
				id, _ := p["order_id"].(string)
				if v, _ := p["version"].(float64); v >= versions[id] {
					versions[id], rows[id] = v, p
				}
			}
			return nil
		}), eventstore.ReplayOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(rows) >= want {
			return rows
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("attribution topic has rows for %d orders after 60s, want %d: %v", len(rows), want, rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shopTime is when the shop says an event occurred: whole seconds, as shops
// send them, one second ahead so that orders come after the codes' confirmations
// made just before (an order in the confirmation's own second but before
// its instant is rightly not attributed).
func shopTime() string { return time.Now().Add(time.Second).UTC().Format(time.RFC3339) }

func placed(id, orderID, amount string, codes ...string) map[string]any {
	return map[string]any{"event_id": id, "type": "order.placed", "order_id": orderID,
		"occurred_at": shopTime(), "promo_codes": codes,
		"amount": amount, "currency": "RUB", "country": "RU"}
}

func orderEvent(id, typ, orderID string, extra ...string) map[string]any {
	ev := map[string]any{"event_id": id, "type": typ, "order_id": orderID, "occurred_at": shopTime()}
	for i := 0; i+1 < len(extra); i += 2 {
		ev[extra[i]] = extra[i+1]
	}
	return ev
}

// orderHistory confirms a code for each creator and sends the brands'
// order events by signed webhook, covering every rule the webhook path can
// exercise, then waits until ClickHouse holds their final rows. It returns
// the final row expected of each order.
func orderHistory(t *testing.T, e *engine, a actors) map[string]wantRow {
	t.Helper()
	r1 := str(e.must(201, "POST", "/v1/code-requests", a.anna, map[string]any{"offer_id": a.offerA, "platform": "instagram"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r1+"/confirm", a.brandA, map[string]any{"code": "ANNA10"})
	r2 := str(e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerB, "platform": "tiktok"}), "request_id")
	e.must(200, "POST", "/v1/code-requests/"+r2+"/confirm", a.brandB, map[string]any{"code": "BORIS5"})

	// Brand A (fixed 150.00 RUB): attributed, unknown code, cancelled,
	// confirmed before placed (out of order), two codes (fixed paid once).
	code, out := e.webhook(a.brandAID, a.secretA, map[string]any{"events": []any{
		placed("a1-p", "A-1", "2500.00", " аnna10 "),
		placed("a2-p", "A-2", "900.00", "NOPE"),
		placed("a3-p", "A-3", "1000.00", "ANNA10"),
		orderEvent("a3-c", "order.cancelled", "A-3"),
		orderEvent("a4-c", "order.confirmed", "A-4"),
		placed("a5-p", "A-5", "700.00", "ANNA10", "NOPE", "ANNA10"),
		placed("a6-p", "A-6", "300.00"),
	}})
	if code != 202 || out["accepted"] != float64(7) {
		t.Fatalf("brand A webhook = %d %v, want 202 with 7 accepted", code, out)
	}
	// The placement of A-4 after its confirmation, and a re-sent event.
	code, out = e.webhook(a.brandAID, a.secretA, map[string]any{"events": []any{placed("a4-p", "A-4", "400.00", "anna10"), placed("a1-p", "A-1", "2500.00", " аnna10 ")}})
	if code != 202 || out["accepted"] != float64(1) || out["duplicates"] != float64(1) {
		t.Fatalf("second webhook = %d %v, want 1 accepted and 1 duplicate", code, out)
	}
	// Brand B (10 %): a partial refund lowers earnings to 10 % of the net.
	e.webhook(a.brandBID, a.secretB, placed("b1-p", "B-1", "1000.00", "boris5"))
	e.webhook(a.brandBID, a.secretB, orderEvent("b1-r", "order.refunded", "B-1", "refund_amount", "400.00"))
	// A wrong signature is refused and records nothing.
	if code, _ := e.webhook(a.brandBID, a.secretA, placed("b2-p", "B-2", "1.00")); code != 401 {
		t.Fatalf("webhook signed with another brand's secret = %d, want 401", code)
	}
	// The ClickHouse projector has the final rows: 5 attributed orders
	// earning 150 + 0 + 150 + 150 + 60, and 2 unattributed ones.
	deadline := time.Now().Add(60 * time.Second)
	for {
		o, u, sum, statuses := e.clickhouseCounts()
		if o == 5 && u == 2 && sum == "510.000" && statuses == "approved=1 pending=3 rejected=1" { // Decimal(18, 3)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse holds %d orders (earnings %s; %s) and %d unattributed, want 5 (510.000; approved=1 pending=3 rejected=1) and 2",
				o, sum, statuses, u)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return map[string]wantRow{
		"A-1": {"attributed", "pending", "150.00", "", 1},
		"A-2": {"unattributed", "", "", "unknown_code", 1},
		"A-3": {"attributed", "rejected", "0.00", "", 2},
		"A-4": {"attributed", "approved", "150.00", "", 2},
		"A-5": {"attributed", "pending", "150.00", "", 1},
		"A-6": {"unattributed", "", "", "no_code", 1},
		"B-1": {"attributed", "pending", "60.00", "", 2},
	}
}

// wantRow is the final attribution row expected of an order.
type wantRow struct {
	kind, status, earnings, reason string
	version                        float64
}

// TestOrdersFlowOverHTTP: signed webhooks in, through the broker, the
// attribution worker and the ClickHouse projector, attribution rows and
// the creators' reports, CSV and earnings out, for every rule that the
// webhook path can exercise.
func TestOrdersFlowOverHTTP(t *testing.T) {
	// The summarizer runs once at the start (nothing to roll up yet), then
	// not before the end: the reports below read orders, then the roll-ups
	// that `attrib rebuild summary` computes.
	e := startEngine(t, "--summary-refresh", "1h")
	a := setupActors(t, e)
	want := orderHistory(t, e, a)
	rows := e.finalRows(len(want))
	if _, ok := rows["B-2"]; ok {
		t.Errorf("an order sent with a wrong signature was attributed: %v", rows["B-2"])
	}
	// The creators' reports over HTTP: anna sees her four orders and their
	// earnings, boris his one; neither sees the other's, whatever they ask.
	anna := e.must(200, "GET", "/v1/reports/orders?sort=date_asc", a.anna, nil)
	var annaIDs []string
	for _, o := range list(anna, "orders") {
		annaIDs = append(annaIDs, str(o, "order_id"))
	}
	totals, _ := anna["totals"].(map[string]any)
	earned, _ := totals["earnings"].(map[string]any)
	if len(annaIDs) != 4 || totals["orders"] != float64(4) || earned["RUB"] != "450.00" {
		t.Fatalf("anna's report: orders %v, totals %v; want 4 orders (A-1, A-3, A-4, A-5) earning 450.00 RUB", annaIDs, totals)
	}
	boris := list(e.must(200, "GET", "/v1/reports/orders?brand=bolt", a.boris, nil), "orders")
	if len(boris) != 1 || str(boris[0], "order_id") != "B-1" || str(boris[0], "earnings") != "60.00" || str(boris[0], "status") != "pending" {
		t.Fatalf("boris's report %v, want only B-1 earning 60.00, pending", boris)
	}
	e.must(403, "GET", "/v1/reports/orders?creator="+a.annaID, a.boris, nil)
	approved := list(e.must(200, "GET", "/v1/reports/orders?status=approved", a.anna, nil), "orders")
	if len(approved) != 1 || str(approved[0], "order_id") != "A-4" {
		t.Fatalf("anna's approved orders %v, want A-4", approved)
	}
	e.must(400, "GET", "/v1/reports/orders?status=done", a.anna, nil)
	// The dashboard that calls these reports is served at /.
	if res, err := http.Get(e.base + "/"); err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET / = %v %v, want the dashboard's HTML", res, err)
	} else {
		res.Body.Close()
	}

	// The CSV holds exactly each creator's rows, with the same values.
	const csvCols = "order_id,brand_id,brand,offer_id,offer,promo_code,status,amount,currency,country,earnings,earnings_currency"
	annaCSV := []string{
		"A-1," + a.brandAID + ",Acme Cosmetics," + a.offerA + ",Spring sale,ANNA10,pending,2500.00,RUB,RU,150.00,RUB",
		"A-3," + a.brandAID + ",Acme Cosmetics," + a.offerA + ",Spring sale,ANNA10,rejected,1000.00,RUB,RU,0.00,RUB",
		"A-4," + a.brandAID + ",Acme Cosmetics," + a.offerA + ",Spring sale,ANNA10,approved,400.00,RUB,RU,150.00,RUB",
		"A-5," + a.brandAID + ",Acme Cosmetics," + a.offerA + ",Spring sale,ANNA10,pending,700.00,RUB,RU,150.00,RUB",
	}
	if got := e.csvRows(a.anna, "/v1/reports/orders.csv", csvCols); !slices.Equal(got, annaCSV) {
		t.Errorf("anna's CSV rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(annaCSV, "\n"))
	}
	borisCSV := []string{"B-1," + a.brandBID + ",Bolt Sports," + a.offerB + ",Spring sale,BORIS5,pending,1000.00,RUB,RU,60.00,RUB"}
	if got := e.csvRows(a.boris, "/v1/reports/orders.csv", csvCols); !slices.Equal(got, borisCSV) {
		t.Errorf("boris's CSV rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(borisCSV, "\n"))
	}
	if got := e.csvRows(a.anna, "/v1/reports/orders.csv?status=pending&promo_code=anna10", csvCols); !slices.Equal(got, []string{annaCSV[0], annaCSV[3]}) {
		t.Errorf("anna's pending CSV rows %v, want A-1 and A-5", got)
	}
	e.must(403, "GET", "/v1/reports/orders.csv?creator="+a.annaID, a.boris, nil)

	// Earnings, exact per group.
	for _, c := range []struct {
		token, query string
		want         []string
	}{
		{a.anna, "group_by=status", []string{"approved 1 RUB=150.00", "pending 2 RUB=300.00", "rejected 1 RUB=0.00"}},
		{a.anna, "group_by=offer", []string{a.offerA + " Spring sale 4 RUB=450.00"}},
		{a.anna, "group_by=brand", []string{a.brandAID + " Acme Cosmetics 4 RUB=450.00"}},
		{a.boris, "group_by=status", []string{"pending 1 RUB=60.00"}},
		{a.boris, "group_by=brand&brand=acme", nil},
		{a.analyst, "group_by=brand", []string{a.brandAID + " Acme Cosmetics 4 RUB=450.00", a.brandBID + " Bolt Sports 1 RUB=60.00"}},
	} {
		slices.Sort(c.want)
		if got := e.earnings(c.token, c.query); !slices.Equal(got, c.want) {
			t.Errorf("earnings?%s = %q, want %q", c.query, got, c.want)
		}
	}
	days := e.earnings(a.anna, "group_by=day&tz=Europe/Moscow")
	if len(days) == 0 || len(days) > 2 {
		t.Errorf("anna's earnings by Moscow day = %q, want one day (two across midnight)", days)
	}

	// Every decision is explainable: which code won, which were passed
	// over and why, which terms applied.
	a5 := e.must(200, "GET", "/v1/analytics/orders/"+a.brandAID+"/A-5", a.analyst, nil)
	var outcomes []string
	for _, c := range list(a5["decision"].(map[string]any), "candidates") {
		outcomes = append(outcomes, str(c, "code")+":"+str(c, "outcome"))
	}
	terms, _ := a5["terms"].(map[string]any)
	payout, _ := terms["payout"].(map[string]any)
	if a5["attributed"] != true || str(a5, "creator_id") != a.annaID || str(a5, "earnings") != "150.00" || str(a5, "amount") != "700.00" ||
		strings.Join(outcomes, " ") != "ANNA10:won NOPE:unknown_code ANNA10:passed_over" ||
		str(payout, "type") != "fixed" || str(payout, "value") != "150.00" || terms["hold_days"] != float64(30) {
		t.Errorf("explanation of A-5: %v (outcomes %v), want anna's, won by the first ANNA10, fixed 150.00 with 30 days' hold", a5, outcomes)
	}
	a2 := e.must(200, "GET", "/v1/analytics/orders/"+a.brandAID+"/A-2", a.analyst, nil)
	if a2["attributed"] != false || str(a2, "reason") != "unknown_code" || a2["creator_id"] != nil || a2["earnings"] != nil {
		t.Errorf("explanation of A-2: %v, want unattributed for unknown_code", a2)
	}
	b1 := e.must(200, "GET", "/v1/analytics/orders/"+a.brandBID+"/B-1", a.analyst, nil)
	if str(b1, "net_amount") != "600.00" || str(b1, "earnings") != "60.00" || str(b1, "cause") != "order.refunded" {
		t.Errorf("explanation of B-1: %v, want net 600.00 earning 60.00 after order.refunded", b1)
	}
	e.must(404, "GET", "/v1/analytics/orders/"+a.brandBID+"/A-5", a.analyst, nil)
	e.must(403, "GET", "/v1/analytics/orders/"+a.brandAID+"/A-5", a.anna, nil)

	// `attrib rebuild summary` rolls every day up; the summary and the
	// analyst's totals then read the roll-ups and say the same.
	summaries := []string{"/v1/analytics/summary?group_by=brand", "/v1/analytics/summary?group_by=creator",
		"/v1/analytics/summary?group_by=day", "/v1/reports/orders?limit=2"}
	before := make([]string, len(summaries))
	for i, path := range summaries {
		before[i] = e.raw(a.analyst, path)
	}
	conn, db := e.clickhouse()
	states, err := readmodel.SummaryDays(context.Background(), conn, db)
	if err != nil {
		t.Fatal(err)
	}
	for d, st := range states {
		if st.SummaryCurrent() || st.CreatorsCurrent() {
			t.Fatalf("day %s rolled up before the rebuild: %+v", d.Format(time.DateOnly), st)
		}
	}
	var stderr bytes.Buffer
	if code := runContext(context.Background(), append([]string{"rebuild", "summary"}, e.common...), env(nil), io.Discard, &stderr); code != 0 {
		t.Fatalf("rebuild summary exited %d:\n%s", code, stderr.String())
	}
	if states, err = readmodel.SummaryDays(context.Background(), conn, db); err != nil || len(states) == 0 {
		t.Fatalf("days after the rebuild: %v, %v", states, err)
	}
	for d, st := range states {
		if !st.SummaryCurrent() || !st.CreatorsCurrent() {
			t.Fatalf("day %s not rolled up by the rebuild: %+v", d.Format(time.DateOnly), st)
		}
	}
	for i, path := range summaries {
		if got := e.raw(a.analyst, path); got != before[i] {
			t.Errorf("%s from the roll-ups:\n%s\nfrom orders:\n%s", path, got, before[i])
		}
	}

	for id, w := range want {
		r := rows[id]
		// Whether the last row is order.attributed or order.earnings_adjusted
		// depends on how events were batched; what it says must not.
		kind := "attributed"
		if r["type"] == schemas.TypeOrderUnattributed {
			kind = "unattributed"
		}
		got := fmt.Sprintf("%v %v %v %v v%v", kind, r["status"], r["earnings"], r["reason"], r["version"])
		exp := fmt.Sprintf("%v %v %v %v v%v", w.kind, orNil(w.status), orNil(w.earnings), orNil(w.reason), w.version)
		if got != exp {
			t.Errorf("order %s: final row %s, want %s\n%v", id, got, exp, r)
		}
	}
}

// csvRows fetches a CSV report as token and returns its rows cut to the
// columns cols (comma-separated, a prefix of the header), sorted.
func (e *engine) csvRows(token, path, cols string) []string {
	e.t.Helper()
	recs, err := csv.NewReader(strings.NewReader(e.raw(token, path))).ReadAll()
	if err != nil {
		e.t.Fatalf("GET %s: not CSV: %v", path, err)
	}
	n := len(strings.Split(cols, ","))
	if len(recs) == 0 || strings.Join(recs[0][:n], ",") != cols {
		e.t.Fatalf("GET %s: header %v, want it to start with %s", path, recs, cols)
	}
	var out []string
	for _, r := range recs[1:] {
		for _, ts := range r[n:] {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				e.t.Errorf("GET %s: row %v: %q is not an RFC 3339 time", path, r, ts)
			}
		}
		out = append(out, strings.Join(r[:n], ","))
	}
	slices.Sort(out)
	return out
}

// earnings fetches the earnings report as token and returns its points as
// "key [name] orders CUR=sum ...", sorted.
func (e *engine) earnings(token, query string) []string {
	e.t.Helper()
	out := e.must(200, "GET", "/v1/reports/earnings?"+query, token, nil)
	var got []string
	for _, p := range list(out, "series") {
		line := str(p, "key")
		if n := str(p, "name"); n != "" {
			line += " " + n
		}
		line += fmt.Sprintf(" %v", p["orders"])
		sums, _ := p["earnings"].(map[string]any)
		curs := slices.Sorted(maps.Keys(sums))
		for _, c := range curs {
			line += fmt.Sprintf(" %s=%v", c, sums[c])
		}
		got = append(got, line)
	}
	slices.Sort(got)
	return got
}

// clickhouseCounts returns the orders, their earnings and statuses, and the
// unattributed orders projected into the engine's ClickHouse database
// (latest versions).
func (e *engine) clickhouseCounts() (orders, unattributed uint64, earnings, statuses string) {
	e.t.Helper()
	conn, db := e.clickhouse()
	ctx := context.Background()
	if err := conn.QueryRow(ctx, "SELECT count(), toString(sum(earnings)) FROM "+db+".orders FINAL").Scan(&orders, &earnings); err != nil {
		e.t.Fatalf("count orders in ClickHouse: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".unattributed_orders FINAL").Scan(&unattributed); err != nil {
		e.t.Fatalf("count unattributed orders in ClickHouse: %v", err)
	}
	if err := conn.QueryRow(ctx, "SELECT arrayStringConcat(groupArray(s), ' ') FROM (SELECT concat(status, '=', toString(count())) AS s FROM "+db+".orders FINAL GROUP BY status ORDER BY status)").Scan(&statuses); err != nil {
		e.t.Fatalf("count order statuses in ClickHouse: %v", err)
	}
	return orders, unattributed, earnings, statuses
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}
