package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/attrib-engine/attrib/internal/browsertest"
)

// page is one browser tab of the suite, signed in as one user.
type page struct {
	t    *testing.T
	ctx  context.Context
	who  string
	dir  string // where its screenshots go
	base string
}

// do runs the actions in the tab, failing the test with what it was doing.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.who, what, err)
	}
}

// js evaluates a JavaScript expression in the tab and returns its value as
// JSON text.
func (p *page) js(expr string) string {
	p.t.Helper()
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.who, expr, err)
	}
	return string(raw)
}

// text is the text of the first element that matches the CSS selector
// ("" when none does).
func (p *page) text(sel string) string {
	p.t.Helper()
	var s string
	if err := json.Unmarshal([]byte(p.js(`(document.querySelector(`+quote(sel)+`) || {}).textContent || ""`)), &s); err != nil {
		p.t.Fatal(err)
	}
	return s
}

// wait polls the JavaScript condition until it holds (30 s at most) and
// then until no section of the page is loading.
func (p *page) wait(what, cond string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void]("("+cond+") && !document.querySelector('[aria-busy=true]')",
		chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(25*time.Millisecond)))
	if err != nil {
		p.t.Fatalf("%s: waiting for %s (%s): %v; the page says: %.1500s", p.who, what, cond, err,
			p.js(`(document.querySelector("main .view:not([hidden])") || document.body).innerText`))
	}
}

// contains is a condition: the element's text contains s.
func contains(sel, s string) string {
	return `((document.querySelector(` + quote(sel) + `) || {}).textContent || "").includes(` + quote(s) + `)`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// shot writes the tab's screenshot as name.png.
func (p *page) shot(name string) {
	p.t.Helper()
	browsertest.Screenshot(p.t, p.ctx, p.dir, name)
}

// view follows the navigation link of a view.
func (p *page) view(name string) {
	p.t.Helper()
	p.do("open "+name, chromedp.Click(chromedp.CSS(`nav a[data-view="`+name+`"]`)))
	p.wait("view "+name, `!document.getElementById("view-`+name+`").hidden`)
}

// reportRows applies the filters again until the orders' totals say want
// (reports follow writes within seconds, not at once).
func (p *page) reportRows(want string) {
	p.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		p.do("apply the filters", chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)))
		p.wait("the orders", `document.getElementById("orders-shown").textContent !== "Loading…"`)
		if got := p.text("#orders-totals"); strings.Contains(got, want) {
			return
		} else if time.Now().After(deadline) {
			p.t.Fatalf("%s: the orders' totals say %q, want %q", p.who, got, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// download clicks the CSV export and returns the file the browser saved.
func (p *page) download(dir string) string {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		p.t.Fatalf("%s: allow downloads: %v", p.who, err)
	}
	p.do("export the CSV", chromedp.Click(chromedp.CSS(`#export`)))
	p.wait("the export", contains("#export-status", "Saved"))
	path := filepath.Join(dir, "orders.csv")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			if _, err := os.Stat(path + ".crdownload"); os.IsNotExist(err) {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %s after the export", p.who, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserProduct drives the web product in headless Chromium against
// the real engine (embedded broker, Redis, ClickHouse): a creator signs in
// by link, finds a brand and asks for two promo codes; the brand publishes
// and changes an offer, confirms one request (after a code taken at the
// brand is refused with 409), rejects another with a reason and revokes a
// code; the creator sees the code on the offer page and in both tabs;
// signed webhook orders show in the creator's and the brand's reports and
// in the chart, and the CSV export downloads every row; an analyst signs
// in with the form. Each screen is saved as a screenshot under
// $ATTRIB_LOCAL_DIR/screenshots.
func TestBrowserProduct(t *testing.T) {
	e := startEngine(t)
	a := setupActors(t, e)
	browserCtx := browsertest.Start(t, browsertest.Options{TimeZone: "UTC", Timeout: 3 * time.Minute})
	dir := browsertest.ScreenshotDir(filepath.Join("..", ".."))
	open := func(who string) *page {
		return &page{t: t, ctx: browsertest.Tab(t, browserCtx), who: who, dir: dir, base: e.base}
	}

	// The creator signs in with a link; the token leaves the address bar.
	anna := open("creator")
	anna.do("open the sign-in link", chromedp.Navigate(e.base+"/#token="+a.anna))
	anna.wait("the brands", `document.querySelectorAll("#brands-list article").length === 2`)
	if got := anna.js(`location.href`); strings.Contains(got, "token") {
		t.Errorf("the address bar still has the token: %s", got)
	}
	if got := anna.js(`sessionStorage.getItem("attrib.token")`); got != quote(a.anna) {
		t.Errorf("the tab keeps %s, want the creator's token", got)
	}
	for _, want := range []string{"Acme Cosmetics", "150.00 RUB per order", "Bolt Sports", "10 % of the order", "hold 30 days"} {
		if got := anna.text("#brands-list"); !strings.Contains(got, want) {
			t.Errorf("the brands show %q, want %q in it", got, want)
		}
	}
	anna.do("search a brand", chromedp.SendKeys(chromedp.CSS(`#brands-q`), "acme"), chromedp.Click(chromedp.CSS(`#brands-search button`)))
	anna.wait("one brand", `document.querySelectorAll("#brands-list article").length === 1 && `+contains("#brands-list", "Acme Cosmetics"))
	anna.shot("creator-brands")

	// The offer page: two requests, on two platforms.
	anna.do("open the offer", chromedp.Click(chromedp.CSS(`#brands-list a`)))
	anna.wait("the offer's terms", contains("#offer-terms", "150.00 RUB per order"))
	for i, platform := range []string{"instagram", "tiktok"} {
		anna.do("ask for a code on "+platform, chromedp.SetValue(chromedp.CSS(`#code-platform`), platform), chromedp.Click(chromedp.CSS(`#code-request-button`)))
		anna.wait("the request", fmt.Sprintf(`document.querySelectorAll("#offer-requests li.request").length === %d`, i+1))
	}
	anna.wait("two requests in moderation", `document.querySelectorAll("#offer-requests li.request").length === 2 && `+
		`Array.from(document.querySelectorAll("#offer-requests .badge")).every((b) => b.textContent === "in moderation")`)

	// The brand: publish, change and pause an offer.
	acme := open("brand")
	acme.do("open the sign-in link", chromedp.Navigate(e.base+"/#token="+a.brandA))
	acme.wait("the offers", contains("#role", "a brand")+` && `+contains("#brand-offers", "Spring sale"))
	acme.do("publish an offer", chromedp.Click(chromedp.CSS(`#publish summary`)),
		chromedp.SendKeys(chromedp.CSS(`#offer-form [name=name]`), "Winter sale"),
		chromedp.SetValue(chromedp.CSS(`#offer-form [name=type]`), "percent"),
		chromedp.SendKeys(chromedp.CSS(`#offer-form [name=value]`), "12.5"),
		chromedp.Click(chromedp.CSS(`#offer-publish`)))
	acme.wait("the new offer", contains("#brand-offers", "12.5 % of the order"))
	acme.do("change its payout", chromedp.Click(chromedp.CSS(`button[aria-label="Change the payout of Winter sale"]`)))
	acme.wait("the payout form", contains("#payout-form", "apply to orders placed after the change"))
	acme.do("save a new payout", chromedp.SetValue(chromedp.CSS(`#payout-form [name=value]`), "15"), chromedp.Click(chromedp.CSS(`#payout-save`)))
	acme.wait("the new payout", contains("#brand-offers", "15 % of the order")+` && `+contains("#offers-status", "orders placed from now on"))
	acme.do("pause it", chromedp.Click(chromedp.CSS(`button[aria-label="Pause Winter sale"]`)))
	acme.wait("the paused offer", `!!document.querySelector('button[aria-label="Resume Winter sale"]')`)
	acme.shot("brand-offers")

	// Moderation: Boris asks too (over the API); the brand confirms
	// Anna's Instagram request with a typed code, is refused the same code
	// for Boris (409), rejects Anna's TikTok request with a reason.
	e.must(201, "POST", "/v1/code-requests", a.boris, map[string]any{"offer_id": a.offerA, "platform": "instagram"})
	reqs := list(e.must(200, "GET", "/v1/code-requests?status=moderation", a.brandA, nil), "code_requests")
	ids := map[string]string{}
	for _, q := range reqs {
		who := "boris"
		if str(q, "creator_id") == a.annaID {
			who = "anna"
		}
		ids[who+"/"+str(q, "platform")] = str(q, "request_id")
	}
	if len(ids) != 3 {
		t.Fatalf("requests in moderation: %v, want Anna's two and Boris's", ids)
	}
	acme.view("moderation")
	acme.wait("three requests", `document.querySelectorAll("#moderation tbody tr[data-request]").length === 3`)
	row := func(key string) string { return `#moderation tr[data-request="` + ids[key] + `"]` }
	acme.wait("the creators' names", contains(row("anna/instagram")+" td", "Anna")+` && `+contains(row("boris/instagram")+" td", "Boris"))
	acme.shot("brand-moderation")
	acme.do("confirm Anna's with a code", chromedp.SendKeys(chromedp.CSS(row("anna/instagram")+` [name=code]`), "ANNA150"),
		chromedp.Click(chromedp.CSS(row("anna/instagram")+` form:first-of-type button`)))
	acme.wait("the confirmation", `!document.querySelector(`+quote(row("anna/instagram"))+`) && `+contains("#moderation-status", "Confirmed with the code ANNA150"))
	acme.do("confirm Boris's with the same code", chromedp.SendKeys(chromedp.CSS(row("boris/instagram")+` [name=code]`), "anna150"),
		chromedp.Click(chromedp.CSS(row("boris/instagram")+` form:first-of-type button`)))
	acme.wait("the 409", contains(row("boris/instagram"), "This code is taken at your brand"))
	acme.js(`document.querySelector(` + quote(row("boris/instagram")+` [name=code]`) + `).value = ""`)
	acme.do("confirm Boris's with a generated code", chromedp.Click(chromedp.CSS(row("boris/instagram")+` form:first-of-type button`)))
	acme.wait("Boris's code", `!document.querySelector(`+quote(row("boris/instagram"))+`) && `+contains("#moderation-status", "Confirmed with the code"))
	acme.do("reject Anna's TikTok request", chromedp.SendKeys(chromedp.CSS(row("anna/tiktok")+` [name=reason]`), "Audience too small on TikTok"),
		chromedp.Click(chromedp.CSS(row("anna/tiktok")+` button.danger`)))
	acme.wait("an empty queue", contains("#moderation", "Nothing to moderate"))

	// Codes: revoke Boris's, with the confirmation step.
	var borisCode string
	for _, q := range list(e.must(200, "GET", "/v1/code-requests?status=confirmed", a.brandA, nil), "code_requests") {
		if str(q, "creator_id") != a.annaID {
			borisCode = str(q, "code")
		}
	}
	acme.view("brand-codes")
	acme.wait("two codes", `document.querySelectorAll("#brand-codes tbody tr").length === 2 && `+contains("#brand-codes", "Anna"))
	acme.do("revoke Boris's code", chromedp.Click(chromedp.CSS(`button[aria-label="Revoke `+borisCode+`"]`)))
	acme.wait("the confirmation step", contains("#brand-codes", "Yes, revoke "+borisCode))
	acme.do("confirm", chromedp.Click(chromedp.CSS(`#brand-codes button.danger`)))
	acme.wait("the revoked code", contains("#brand-codes-status", "Revoked "+borisCode)+` && `+contains("#brand-codes", "revoked"))
	acme.shot("brand-codes")

	// The creator sees the decisions on the offer page and in both tabs.
	anna.do("reload the offer", chromedp.Reload())
	anna.wait("the decisions", contains("#offer-requests", "ANNA150")+` && `+contains("#offer-requests", "Reason: Audience too small on TikTok"))
	if got := anna.js(`!!document.querySelector("#offer-requests button[aria-label='Copy ANNA150']")`); got != "true" {
		t.Error("the confirmed code on the offer page has no copy button")
	}
	anna.shot("creator-offer")
	anna.view("codes")
	anna.wait("my promo codes", contains("#my-codes", "ANNA150")+` && `+contains("#my-codes", "150.00 RUB per order, hold 30 days"))
	anna.shot("creator-codes")
	anna.do("open the requests tab", chromedp.Click(chromedp.CSS(`#tab-requests`)))
	anna.wait("the requests", contains("#requests", "ANNA150")+` && `+contains("#requests", "rejected"))
	anna.do("focus the reason's icon", chromedp.Focus(chromedp.CSS(`#requests button.info`)))
	anna.wait("the reason on focus", `getComputedStyle(document.querySelector("#requests .tip")).display !== "none" && `+
		contains("#requests .tip", "Audience too small on TikTok"))
	anna.shot("creator-requests")

	// Orders on the shop's webhook: two with Anna's code, one cancelled.
	now := time.Now().UTC()
	placed := func(id string) map[string]any {
		return map[string]any{"event_id": "ev-" + id, "type": "order.placed", "order_id": id, "occurred_at": now.Format(time.RFC3339),
			"promo_codes": []string{" anna150 "}, "amount": "2500.00", "currency": "RUB", "country": "RU"}
	}
	cancelled := map[string]any{"event_id": "ev-A-3-x", "type": "order.cancelled", "order_id": "A-3", "occurred_at": now.Format(time.RFC3339)}
	if code, out := e.webhook(a.brandAID, a.secretA, map[string]any{"events": []any{placed("A-1"), placed("A-2"), placed("A-3"), cancelled}}); code != 202 {
		t.Fatalf("webhook = %d %v", code, out)
	}
	anna.view("orders")
	anna.reportRows("3 orders match; earnings 300.00 RUB.")
	if got := anna.js(`document.querySelectorAll("#orders tbody tr").length`); got != "3" {
		t.Errorf("the creator's orders show %s rows, want 3", got)
	}
	anna.shot("creator-orders")
	csv := anna.download(t.TempDir())
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 4 || !strings.Contains(csv, "A-1") || !strings.Contains(csv, "A-3") {
		t.Errorf("the CSV has %d lines, want a header and the 3 orders:\n%s", len(lines), csv)
	}
	anna.view("earnings")
	day := `#chart g.day[data-day="` + now.Format("2006-01-02") + `"]`
	anna.wait("the chart", `!!document.querySelector(`+quote(day)+`)`)
	want := now.Format("2006-01-02") + ": approved 0.00 RUB, pending 300.00 RUB, 1 rejected order"
	if got := anna.js(`document.querySelector(` + quote(day) + `).getAttribute("aria-label")`); got != quote(want) {
		t.Errorf("the chart's day says %s, want %q", got, want)
	}
	if got := anna.text("#chart-totals"); !strings.Contains(got, "pending: 2 orders, 300.00 RUB") || !strings.Contains(got, "rejected: 1 order") {
		t.Errorf("the chart's totals say %q", got)
	}
	anna.shot("creator-earnings")

	// The brand's reports: the same orders, with the creator.
	acme.view("orders")
	acme.reportRows("3 orders match; earnings 300.00 RUB.")
	if got := acme.text("#orders tbody"); !strings.Contains(got, "Anna") {
		t.Errorf("the brand's orders do not name the creator: %q", got)
	}
	acme.shot("brand-orders")
	if csv := acme.download(t.TempDir()); len(strings.Split(strings.TrimSpace(csv), "\n")) != 4 {
		t.Errorf("the brand's CSV:\n%s\nwant a header and the 3 orders", csv)
	}
	acme.view("earnings")
	acme.wait("the brand's chart", `!!document.querySelector(`+quote(day)+`)`)
	acme.js(`(() => { const g = document.getElementById("earnings-group"); g.value = "creator"; g.dispatchEvent(new Event("change")); })()`)
	acme.wait("the earnings by creator", contains("#earnings-key", "Creator")+` && `+contains("#earnings tbody", "Anna")+` && `+
		contains("#earnings tbody", "300.00 RUB"))
	acme.shot("brand-earnings")
	// Connect the shop: Shopify, then a new secret (the old one stays valid).
	acme.view("shop")
	shopify := `#shop-list article[data-platform="shopify"]`
	acme.wait("the platforms", contains(shopify, "Not connected")+` && `+contains("#shop-list", "WooCommerce"))
	if got, want := acme.js(`document.querySelector(`+quote(shopify+` input.url`)+`).value`), quote(e.base+"/v1/webhooks/shopify/"+a.brandAID); got != want {
		t.Errorf("the Shopify URL to paste is %s, want %s", got, want)
	}
	acme.do("connect Shopify", chromedp.SendKeys(chromedp.CSS(shopify+` [name=secret]`), "shpss_0123456789abcdef0123456789abcdef"),
		chromedp.SetValue(chromedp.CSS(shopify+` [name=confirm_on]`), "orders/fulfilled"), chromedp.Click(chromedp.CSS(shopify+` form button`)))
	acme.wait("Shopify connected", contains("#shop-status", "Shopify connected.")+` && `+contains(shopify, "Last delivery: none yet."))
	acme.do("change the secret", chromedp.SendKeys(chromedp.CSS(shopify+` [name=secret]`), "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"),
		chromedp.Click(chromedp.CSS(shopify+` form button`)))
	acme.wait("the previous secret's grace", contains("#shop-status", "The previous secret works until"))
	if got := acme.js(`document.querySelector(` + quote(shopify+` [name=confirm_on]`) + `).value`); got != quote("orders/fulfilled") {
		t.Errorf("Shopify confirms on %s, want orders/fulfilled", got)
	}
	acme.shot("brand-shop")
	acme.view("credentials")
	acme.do("rotate the webhook secret", chromedp.Click(chromedp.CSS(`#rotate-buttons button[data-kind="webhook_secret"]`)))
	acme.wait("the new secret", `document.getElementById("rotate-value").value.startsWith("whsec_") && `+contains("#rotate-note", "keeps working until"))
	acme.shot("brand-credentials")

	// The analyst pastes a token into the form.
	ops := open("analyst")
	ops.do("sign in", chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), a.analyst), chromedp.Click(chromedp.CSS(`#signin-button`)))
	ops.wait("the analyst's orders", contains("#role", "analyst")+` && `+contains("#orders-totals", "3 orders match"))
	ops.shot("analyst-orders")
	ops.view("summary")
	ops.wait("the summary", contains("#summary", "Acme Cosmetics"))
	ops.shot("analyst-summary")
	ops.view("earnings")
	ops.wait("the analyst's chart", `!!document.querySelector(`+quote(day)+`)`)
	ops.shot("analyst-earnings")

	// Sign out forgets the token: a reload shows the sign-in form.
	anna.do("sign out", chromedp.Click(chromedp.CSS(`#signout`)), chromedp.Reload())
	anna.wait("the sign-in form", `!document.getElementById("signin-section").hidden`)
	if got := anna.js(`sessionStorage.getItem("attrib.token")`); got != "null" {
		t.Errorf("after sign-out the tab keeps %s", got)
	}
	anna.shot("signin")
	t.Logf("screenshots in %s", dir)
}
