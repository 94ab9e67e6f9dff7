package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/api"
	"github.com/attrib-engine/attrib/promocode"
)

// demoLinkRE matches a printed sign-in link.
var demoLinkRE = regexp.MustCompile(`(http://\S+)/#token=(\S+)`)

// TestDemoSeeds: the demo seeder fills a real engine over HTTP with a
// catalog dated in the past and orders placed over the last 60 days. It
// prints one working sign-in link per role; the orders span the 60 days;
// every attributed order was placed after its code's confirmation; the
// only unattributed orders are those the seeder meant to be, with its
// reason; holds that ended made orders approved; statuses and currencies
// are mixed.
func TestDemoSeeds(t *testing.T) {
	e := startEngine(t, "--allow-backdating")
	out := filepath.Join(t.TempDir(), "demo.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var printed bytes.Buffer
	began := time.Now().UTC()
	res, err := seedDemo(ctx, demoOptions{URL: e.base, AdminToken: e.admin, Orders: 400, OutFile: out, Out: &printed,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var saved demoResult
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &saved); err != nil || saved.AnalystToken != res.AnalystToken || len(saved.Creators) != 4 || len(saved.Links) != 4 {
		t.Fatalf("demo.json = %s (%v), want the run's tokens and four links", raw, err)
	}

	// One link per role, each signing in: a GET with its token succeeds.
	links := demoLinkRE.FindAllStringSubmatch(printed.String(), -1)
	roles := map[string]int{}
	for _, l := range res.Links {
		roles[l.Role]++
	}
	if len(links) != 4 || roles["creator"] != 2 || roles["brand"] != 1 || roles["analyst"] != 1 {
		t.Fatalf("printed links %q for roles %v, want two creators, a brand and the analyst:\n%s", links, roles, printed.String())
	}
	for _, l := range links {
		if l[1] != e.base {
			t.Errorf("link %s points to %s, want the engine at %s", l[0], l[1], e.base)
		}
		token, err := url.QueryUnescape(l[2])
		if err != nil {
			t.Fatal(err)
		}
		e.must(200, "GET", "/v1/offers", token, nil)
	}

	// Wait for every attributed order in the analyst's report, and for the
	// holds that ended to make their orders final: Lumen and Nord hold
	// orders 14 and 30 days, so no older order of theirs is pending.
	holds := map[string]int{res.Brands[0].BrandID: 14, res.Brands[2].BrandID: 30}
	pendingPastHold := func(rows []map[string]any) []string {
		var out []string
		for _, o := range rows {
			placed, _ := time.Parse(time.RFC3339Nano, str(o, "placed_at"))
			if hold := holds[str(o, "brand_id")]; hold > 0 && str(o, "status") == "pending" &&
				placed.Before(began.Add(-time.Duration(hold+1)*24*time.Hour)) {
				out = append(out, str(o, "order_id")+" placed "+str(o, "placed_at"))
			}
		}
		return out
	}
	attributed := len(res.Placed) - len(res.Unattributed)
	deadline := time.Now().Add(90 * time.Second)
	var rows []map[string]any
	for {
		rows = e.allOrders(res.AnalystToken)
		late := pendingPastHold(rows)
		if len(rows) >= attributed && len(late) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90s the analyst's report has %d orders, want %d attributed; pending after their hold: %v", len(rows), attributed, late)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(rows) != attributed {
		t.Fatalf("the analyst's report has %d orders, want %d attributed", len(rows), attributed)
	}

	// Codes were confirmed before their orders, as their brands say.
	confirmedAt := map[string]time.Time{} // brand id/normalised code -> decided_at
	for _, b := range res.Brands {
		for _, q := range list(e.must(200, "GET", "/v1/code-requests?status=confirmed", b.APIKey, nil), "code_requests") {
			at, err := time.Parse(time.RFC3339Nano, str(q, "decided_at"))
			if err != nil {
				t.Fatalf("%s's request %v: decided_at: %v", b.Name, q, err)
			}
			confirmedAt[b.BrandID+"/"+promocode.Normalize(str(q, "code"))] = at
		}
	}
	var first, last time.Time
	statuses, currencies := map[string]int{}, map[string]bool{}
	for _, o := range rows {
		key := str(o, "brand_id") + "/" + str(o, "order_id")
		placed, err := time.Parse(time.RFC3339Nano, str(o, "placed_at"))
		if err != nil {
			t.Fatalf("order %s: placed_at: %v", key, err)
		}
		// The report shows whole seconds.
		if want, ok := res.Placed[key]; !ok || !placed.Equal(want.Truncate(time.Second)) {
			t.Fatalf("order %s placed at %v, want %v (known to the seeder: %v)", key, placed, want, ok)
		}
		if reason, ok := res.Unattributed[key]; ok {
			t.Errorf("order %s is attributed, want unattributed (%s)", key, reason)
		}
		confirmed, ok := confirmedAt[str(o, "brand_id")+"/"+promocode.Normalize(str(o, "promo_code"))]
		if !ok || placed.Before(confirmed) {
			t.Errorf("order %s with code %q placed at %v; its code was confirmed at %v (found %v)", key, str(o, "promo_code"), placed, confirmed, ok)
		}
		if first.IsZero() || placed.Before(first) {
			first = placed
		}
		if placed.After(last) {
			last = placed
		}
		statuses[str(o, "status")]++
		currencies[str(o, "currency")] = true
	}
	if from, to := began.Add(-demoDays*24*time.Hour), time.Now().UTC(); first.Before(from.Add(-time.Minute)) || last.After(to) ||
		first.After(from.Add(5*24*time.Hour)) || last.Before(to.Add(-3*24*time.Hour)) {
		t.Errorf("orders placed from %v to %v, want them spread over the %d days from %v to %v", first, last, demoDays, from, to)
	}
	if statuses["pending"] == 0 || statuses["approved"] == 0 || statuses["rejected"] == 0 || !currencies["RUB"] || !currencies["USD"] {
		t.Errorf("statuses %v and currencies %v, want pending, approved and rejected orders in RUB and USD", statuses, currencies)
	}

	// The unattributed orders are exactly those meant to be, each with its
	// reason.
	got := map[string]string{}
	cursor := ""
	for {
		page := e.must(200, "GET", "/v1/analytics/unattributed?limit=500"+cursor, res.AnalystToken, nil)
		for _, r := range list(page, "orders") {
			got[str(r, "brand_id")+"/"+str(r, "order_id")] = str(r, "reason")
		}
		next := str(page, "next_cursor")
		if next == "" {
			break
		}
		cursor = "&cursor=" + url.QueryEscape(next)
	}
	reasons := map[string]int{}
	for key, want := range res.Unattributed {
		reasons[want]++
		if got[key] != want {
			t.Errorf("order %s unattributed as %q, want %q", key, got[key], want)
		}
	}
	if len(got) != len(res.Unattributed) || reasons["no_code"] == 0 || reasons["unknown_code"] == 0 {
		t.Errorf("%d unattributed orders, want %d (reasons %v, with no_code and unknown_code)", len(got), len(res.Unattributed), reasons)
	}
}

// allOrders pages through a caller's whole order report.
func (e *engine) allOrders(token string) []map[string]any {
	e.t.Helper()
	var rows []map[string]any
	cursor := ""
	for {
		page := e.must(200, "GET", "/v1/reports/orders?limit=500"+cursor, token, nil)
		rows = append(rows, list(page, "orders")...)
		next := str(page, "next_cursor")
		if next == "" {
			return rows
		}
		cursor = "&cursor=" + url.QueryEscape(next)
	}
}

// TestBackdatingNeedsTheFlag: an engine started without --allow-backdating
// refuses a backdated request and records nothing of it (the brand has no
// offer after), and the demo seeder says what to do.
func TestBackdatingNeedsTheFlag(t *testing.T) {
	e := startEngine(t)
	brand := e.must(201, "POST", "/v1/brands", e.admin, map[string]any{"name": "Acme"})
	key := str(brand, "api_key")
	req, err := http.NewRequest("POST", e.base+"/v1/offers", strings.NewReader(
		`{"name":"Sale","payout":{"type":"fixed","value":"150.00","currency":"RUB"},"countries":["RU"],"platforms":["vk"],"hold_days":14}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(api.HeaderOccurredAt, time.Now().Add(-30*24*time.Hour).UTC().Format(time.RFC3339))
	req.Header.Set(api.HeaderAdminToken, e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "--allow-backdating") {
		t.Fatalf("backdated offer on an engine without --allow-backdating = %d %s, want 403 naming the flag", resp.StatusCode, body)
	}
	if offers := list(e.must(200, "GET", "/v1/offers", key, nil), "offers"); len(offers) != 0 {
		t.Fatalf("the refused offer was recorded: %v", offers)
	}
	e.must(201, "POST", "/v1/offers", key, `{"name":"Sale","payout":{"type":"fixed","value":"150.00","currency":"RUB"},"countries":["RU"],"platforms":["vk"],"hold_days":14}`)

	_, err = seedDemo(context.Background(), demoOptions{URL: e.base, AdminToken: e.admin, Orders: 10,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "--allow-backdating") {
		t.Fatalf("seeding an engine without backdating: %v, want an error naming --allow-backdating", err)
	}
}
