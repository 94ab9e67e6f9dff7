// The browser test's harness (browser_test.go): loaded after dashboard.js
// in the dashboard's own page, it uses the page as a user would (fills in
// fields, submits forms, clicks buttons and links) against the test's fake
// API, checks what the page shows, and posts the failures to
// /__test/result. Events it dispatches are not trusted ones, so Enter is
// replaced by form.requestSubmit(), which is what Enter does.
"use strict";
(() => {
  sessionStorage.clear(); // runs before the dashboard reads it (all deferred, in order)

  const failures = [];
  const steps = [];
  const byId = (id) => document.getElementById(id);
  const text = (id) => byId(id).textContent;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // shown says whether el takes space on the page: what the user sees, not
  // what its attributes say (a rule can make a hidden element visible).
  const shown = (el) => !!el && el.getClientRects().length > 0;
  let step = "";

  function check(what, ok, detail) {
    if (!ok) failures.push(step + ": " + what + (detail === undefined ? "" : " (" + detail + ")"));
  }
  function eq(what, got, want) {
    check(what, got === want, "got " + JSON.stringify(got) + ", want " + JSON.stringify(want));
  }
  function has(what, got, part) {
    check(what, typeof got === "string" && got.includes(part), JSON.stringify(got) + " does not contain " + JSON.stringify(part));
  }
  async function until(what, cond, ms) {
    const end = Date.now() + (ms || 8000);
    for (;;) {
      try { if (cond()) return true; } catch (_) { /* not yet */ }
      if (Date.now() > end) { failures.push(step + ": timed out waiting for " + what); return false; }
      await sleep(20);
    }
  }
  // idle waits until no request of the page is in flight.
  const idle = async () => {
    await sleep(30);
    return until("the page to be idle", () => !document.querySelector("[aria-busy=true]") && !document.querySelector("button:disabled"));
  };
  const mode = (m) => fetch("/__test/mode", { method: "POST", body: m });
  let seen = 0;
  // newRequests is what the page asked the API for since the last call.
  async function newRequests() {
    const all = await (await fetch("/__test/requests")).json();
    const fresh = all.slice(seen);
    seen = all.length;
    return fresh;
  }
  function begin(name) {
    step = name;
    steps.push(name);
  }
  const field = (name) => byId("filters").elements[name];
  async function applyFilters() {
    byId("filters").requestSubmit();
    await idle();
  }
  async function signIn(token) {
    byId("token").value = token;
    byId("signin").requestSubmit();
    await sleep(30);
    await until("sign-in to finish", () => !byId("signin-button").disabled);
    await idle();
  }
  async function show(view) {
    location.hash = "#" + view;
    await until("view " + view, () => !byId("view-" + view).hidden);
    await idle();
  }
  const cells = (tableId) => Array.from(byId(tableId).tBodies[0].rows, (r) => Array.from(r.cells, (c) => c.textContent));

  function pureFunctions() {
    begin("pure functions");
    const D = window.AttribDashboard;
    eq("percent 0.6256", D.percent("0.6256"), "62.56 %");
    eq("percent 1.0000", D.percent("1.0000"), "100.00 %");
    eq("percent 0.0000", D.percent("0.0000"), "0.00 %");
    eq("percent 0.05", D.percent("0.05"), "5 %");
    eq("percent null", D.percent(null), "");
    eq("bars", JSON.stringify(D.barPermille(["0.10", "-0.20", "0.05", "0"])), "[500,1000,250,0]");
    eq("bars all zero", JSON.stringify(D.barPermille(["0.00", "0"])), "[0,0]");
    eq("bars beyond float precision", JSON.stringify(D.barPermille(["90071992547409.93", "90071992547409.92"])), "[1000,999]");
    eq("money list, by currency", D.moneyList({ USD: "0.10", KWD: "1.050", JPY: "15" }).join(", "), "15 JPY, 1.050 KWD, 0.10 USD");
    eq("negative", D.isNegative("-0.01"), true);
    eq("zero", D.isZero("0.000"), true);
    eq("day start UTC", D.dayStart("2026-11-25", "UTC", false), "2026-11-25T00:00:00Z");
    eq("day start Moscow", D.dayStart("2026-11-25", "Europe/Moscow", false), "2026-11-24T21:00:00Z");
    eq("day after, Moscow", D.dayStart("2026-11-25", "Europe/Moscow", true), "2026-11-25T21:00:00Z");
    eq("New York, the day summer time starts", D.dayStart("2026-03-08", "America/New_York", false), "2026-03-08T05:00:00Z");
    eq("New York, the day after it", D.dayStart("2026-03-08", "America/New_York", true), "2026-03-09T04:00:00Z");
    eq("end of the year", D.dayStart("2026-12-31", "UTC", true), "2027-01-01T00:00:00Z");
    eq("year 0026 is not 1926", D.dayStart("0026-01-01", "UTC", false), "0026-01-01T00:00:00Z");
    eq("time in Moscow", D.fmtTime("2026-11-24T21:30:00Z", "Europe/Moscow"), "2026-11-25 00:30:00");
    eq("midnight is 00, not 24", D.fmtTime("2026-11-24T21:00:00Z", "Europe/Moscow"), "2026-11-25 00:00:00");
    eq("valid zone", D.validTimeZone("Europe/Moscow"), true);
    eq("Local is not a zone for the API", D.validTimeZone("Local"), false);
    eq("unknown zone", D.validTimeZone("Mars/Olympus"), false);
  }

  async function signInErrors() {
    begin("sign-in errors");
    await until("the sign-in form", () => shown(byId("signin-section")));
    location.hash = "#orders"; // the creator's reports, not the home screen
    eq("the default time zone is the browser's", field("tz").value, "Europe/Moscow");
    await signIn("ct_wrong");
    has("a bad token is refused in the page", text("signin-error"), "not accepted");
    check("the error is shown", shown(byId("signin-error")));
    check("no app for a bad token", byId("app").hidden);
    eq("the token field is marked", byId("token").getAttribute("aria-invalid"), "true");
    await signIn("adm_op");
    has("the operator's token is told why", text("signin-error"), "not a creator's, a brand's or an analyst's");
    eq("nothing stored", sessionStorage.getItem("attrib.token"), null);
    await mode("down");
    await signIn("ct_good");
    has("server down at sign-in", text("signin-error"), "Cannot reach the server");
    check("a Retry button", !!byId("signin-error").querySelector("button"));
    await mode("ok");
    byId("signin-error").querySelector("button").click();
    await sleep(30);
    await until("the app after Retry", () => !byId("app").hidden);
    await idle();
  }

  async function creatorOrders() {
    begin("creator: orders");
    await newRequests();
    has("role", text("role"), "creator");
    check("no creator filter for a creator", !shown(field("creator").closest("label")));
    check("no summary tab for a creator", !shown(document.querySelector('nav a[data-view="summary"]')));
    eq("totals per currency, as the API wrote them", text("orders-totals"), "5 orders match; earnings 15 JPY, 1.050 KWD, -5.00 RUB, 0.10 USD.");
    const rows = cells("orders");
    eq("first page", rows.length, 4);
    eq("a row", JSON.stringify(rows[0]), JSON.stringify(["2026-11-25 00:30:00", "A-1", "Acme <b>Co</b>", "Acme 10%", "ANNA10", "approved", "1.10 USD", "RU", "0.10 USD", "2026-11-25 01:00:00"]));
    eq("0 minor digits", rows[1][8], "15 JPY");
    eq("3 minor digits", rows[2][6], "10.500 KWD");
    eq("negative earnings", rows[3][8], "-5.00 RUB");
    eq("no HTML from the server", byId("orders").querySelector("b"), null);
    eq("count", text("orders-shown"), "Showing 4 of 5.");
    has("freshness in the chosen zone", text("fresh"), "2026-11-25 12:00:00 (Europe/Moscow)");

    begin("creator: paging keeps the applied filters");
    field("promo_code").value = "not applied";
    const more = byId("orders-more");
    more.click();
    more.click(); // a double click must not load the page twice
    await idle();
    const reqs = await newRequests();
    eq("one request for the next page", reqs.length, 1);
    has("with the cursor", reqs[0], "cursor=c2");
    check("without the edited, unapplied filter", !reqs[0].includes("promo_code"), reqs[0]);
    eq("rows appended", cells("orders").length, 5);
    eq("count", text("orders-shown"), "Showing 5 of 5.");
    check("no more pages", more.hidden);
    eq("focus moves off the vanished button", document.activeElement, byId("orders-shown"));

    begin("creator: every filter, both sorts");
    field("promo_code").value = "  anna10 ";
    field("offer").value = "Acme";
    field("brand").value = "brd_1";
    field("country").value = "ru";
    field("order_id").value = "A-1";
    field("from").value = "2026-11-20";
    field("to").value = "2026-11-25";
    field("tz").value = "Europe/Moscow";
    await applyFilters();
    let q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("offer", q.get("offer"), "Acme");
    eq("brand", q.get("brand"), "brd_1");
    eq("promo code, trimmed", q.get("promo_code"), "anna10");
    eq("country", q.get("country"), "ru");
    eq("order id", q.get("order_id"), "A-1");
    eq("from: the day's start in the zone", q.get("from"), "2026-11-19T21:00:00Z");
    eq("to: the end of the day, inclusive", q.get("to"), "2026-11-25T21:00:00Z");
    eq("sort", q.get("sort"), "date_desc");
    eq("no creator", q.get("creator"), null);
    field("status").value = "approved";
    field("status").dispatchEvent(new Event("change"));
    await idle();
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("a status applies at once", q.get("status"), "approved");
    byId("sort").value = "date_asc";
    byId("sort").dispatchEvent(new Event("change"));
    await idle();
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("oldest first", q.get("sort"), "date_asc");
    eq("the filters stay", q.get("status"), "approved");
    byId("limit").value = "500";
    byId("limit").dispatchEvent(new Event("change"));
    await idle();
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("page size", q.get("limit"), "500");
    byId("reset-filters").click();
    await idle();
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("reset clears the filters", q.get("status") || q.get("offer") || q.get("from"), null);
    eq("reset keeps the zone", field("tz").value, "Europe/Moscow");
  }

  async function creatorErrors() {
    begin("creator: errors");
    field("country").value = "XX";
    await applyFilters();
    eq("the server's message", text("orders-error"), "country: no such country");
    eq("the field is marked", field("country").getAttribute("aria-invalid"), "true");
    eq("no rows of other filters under the error", cells("orders").length, 0);
    eq("no totals of other filters", text("orders-totals"), "");
    field("country").value = "";
    field("from").value = "2026-11-25";
    field("to").value = "2026-11-20";
    await applyFilters();
    has("from after to", text("filters-error"), "must not be before");
    eq("to is marked", field("to").getAttribute("aria-invalid"), "true");
    field("from").value = "";
    field("to").value = "";
    field("tz").value = "Mars/Olympus";
    await applyFilters();
    has("an unknown time zone", text("filters-error"), "not an IANA time zone");
    eq("the page did not reload", typeof window.AttribDashboard, "object");
    field("tz").value = "Europe/Moscow";
    await applyFilters();
    check("errors clear once fixed", byId("filters-error").hidden && byId("orders-error").hidden);
    check("no field stays marked", !document.querySelector("#filters [aria-invalid=true]"));

    await mode("503");
    await applyFilters();
    has("503", text("orders-error"), "reports cannot be read now (clickhouse: connection refused); retry later");
    has("503 status", text("orders-error"), "503");
    await mode("down");
    await applyFilters();
    has("server gone", text("orders-error"), "Cannot reach the server");
    const retry = byId("orders-error").querySelector("button");
    check("a Retry button", !!retry);
    await mode("ok");
    retry.click();
    await idle();
    check("Retry recovers", byId("orders-error").hidden && cells("orders").length === 4, text("orders-error"));

    await mode("empty");
    await applyFilters();
    eq("empty totals", text("orders-totals"), "0 orders match; earnings none.");
    eq("empty state", text("orders").includes("No orders match these filters."), true);
    await mode("ok");
    await applyFilters();
  }

  async function creatorEarningsAndCSV() {
    begin("creator: earnings");
    await newRequests();
    field("status").value = "";
    await show("earnings");
    const chartCalls = (await newRequests()).filter((r) => r.startsWith("/v1/reports/earnings"));
    let q = new URLSearchParams(chartCalls.find((r) => !/[?&]status=/.test(r) && !r.includes("group_by=status")).split("?")[1]);
    eq("group by day", q.get("group_by"), "day");
    eq("in the zone", q.get("tz"), "Europe/Moscow");
    const rows = cells("earnings");
    eq("groups", rows.length, 3);
    eq("amounts per currency, exact", rows[0][2], "-5.00 RUB0.10 USD");
    const bars = Array.from(byId("earnings").querySelectorAll(".bar"), (b) => b.title + "=" + b.style.width + (b.classList.contains("negative") ? "-" : ""));
    eq("bars per currency", bars.join(" "), "-5.00 RUB=25%- 0.10 USD=50% 20.00 RUB=100% 0.20 USD=100% 0.00 RUB=0% 0.05 USD=25%");
    has("the key column names the zone", text("earnings-key"), "Europe/Moscow");

    begin("creator: the chart");
    eq("a series per status and the totals", chartCalls.length, 5);
    for (const st of ["approved", "pending", "rejected"]) {
      check("the " + st + " series by day", chartCalls.some((r) => r.includes("status=" + st) && r.includes("group_by=day")), chartCalls.join(" "));
    }
    check("the totals by status", chartCalls.some((r) => r.includes("group_by=status")), chartCalls.join(" "));
    const figures = byId("chart").querySelectorAll("figure svg");
    eq("one chart per currency", Array.from(figures, (f) => f.getAttribute("aria-label").split(",")[0]).join(" | "),
      "Earnings in RUB per day | Earnings in USD per day");
    const day = byId("chart").querySelector('figure:first-child g.day[data-day="2026-11-26"]');
    eq("a day's figures, exact", day && day.getAttribute("aria-label"), "2026-11-26: approved 20.00 RUB, pending 20.00 RUB, 1 rejected order");
    eq("days of the chart", byId("chart").querySelectorAll("figure:first-child g.day").length, 3);
    check("bars drawn", byId("chart").querySelectorAll("rect.approved").length >= 4);
    has("highest day, exact", figures[0].getAttribute("aria-label"), "the highest day 40.00 RUB");
    const last = byId("chart").querySelector('figure:first-child g.day[data-day="2026-11-27"]');
    eq("one tab stop: the last day", last.getAttribute("tabindex") + day.getAttribute("tabindex"), "0-1");
    last.focus();
    last.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    eq("arrow keys move to the day before", document.activeElement, day);
    eq("which takes the tab stop", day.getAttribute("tabindex"), "0");
    has("the totals", text("chart-totals"), "Totals of the period:");
    for (const g of ["offer", "brand", "status"]) {
      byId("earnings-group").value = g;
      byId("earnings-group").dispatchEvent(new Event("change"));
      await idle();
      q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
      eq("group by " + g, q.get("group_by"), g);
    }
    await mode("empty");
    await applyFilters();
    has("empty earnings", text("earnings"), "No earnings for these filters.");
    await mode("ok");

    begin("creator: CSV");
    await show("orders");
    field("status").value = "pending";
    await applyFilters();
    await newRequests();
    byId("export").click();
    await idle();
    const csv = (await newRequests()).pop();
    has("the CSV has the applied filters", csv, "/v1/reports/orders.csv?status=pending");
    check("and no paging", !csv.includes("limit") && !csv.includes("cursor"), csv);
    has("saved", text("export-status"), "Saved orders.csv");
    await mode("cut");
    byId("export").click();
    await idle();
    has("a stream cut short is an error", text("orders-error"), "cut short");
    eq("nothing saved", text("export-status"), "");
    await mode("ok");

    begin("creator: token revoked mid-session");
    await mode("401");
    await applyFilters();
    check("back at sign-in", shown(byId("signin-section")) && byId("app").hidden);
    has("with the reason", text("signin-error"), "not accepted");
    eq("token forgotten", sessionStorage.getItem("attrib.token"), null);
    await mode("ok");
  }


  async function creatorProduct() {
    begin("creator: brands");
    location.hash = "#brands";
    await signIn("ct_good");
    let reqs = await newRequests();
    check("brands asked with the pricing model", reqs.some((r) => r.startsWith("/v1/brands?pricing_model=cpa")), reqs.join(" "));
    check("no filters on a product screen", !shown(byId("filters")));
    eq("the pricing model's words", byId("brands-model").selectedOptions[0].textContent, "Payment for action");
    const card = byId("brands-list").querySelector("article");
    eq("a brand, as text", card && card.querySelector("h3").textContent, "Acme <b>Co</b>");
    has("payout exactly", card.textContent, "10 % of the order");
    byId("brands-q").value = "acme";
    byId("brands-search").requestSubmit();
    await idle();
    reqs = await newRequests();
    has("search by name", reqs.pop(), "q=acme");

    begin("creator: offer page");
    card.querySelector("a").click();
    await until("the offer", () => shown(byId("view-offer")) && text("offer-terms").includes("Payout"));
    await idle();
    has("terms", text("offer-terms"), "10 % of the order");
    has("hold", text("offer-terms"), "14 days");
    has("platforms", text("offer-terms"), "Instagram, TikTok");
    has("the rejected request and its reason, as text", text("offer-requests"), "Reason: Audience <i>too</i> small");
    eq("no HTML from the server", byId("offer-requests").querySelector("i"), null);
    await mode("429");
    byId("code-request").requestSubmit();
    await idle();
    has("429 says when to retry", text("code-request-error"), "Too many requests (429): wait 7 s");
    await mode("ok");
    await newRequests();
    byId("code-platform").value = "tiktok";
    byId("code-request").requestSubmit();
    await idle();
    reqs = await newRequests();
    eq("a request for the chosen platform", reqs[0], "POST /v1/code-requests");
    check("the offer reloads with the request", reqs.includes("/v1/offers/ofr_1"), reqs.join(" "));
    check("no error left", byId("code-request-error").hidden);

    begin("creator: promo codes");
    await show("codes");
    has("empty state", text("my-codes"), "No confirmed promo codes yet");
    const tab = byId("tab-my-codes");
    tab.focus();
    tab.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    eq("arrow keys select the next tab", byId("tab-requests").getAttribute("aria-selected"), "true");
    eq("and move the focus", document.activeElement, byId("tab-requests"));
    check("its panel shows", shown(byId("panel-requests")) && !shown(byId("panel-my-codes")));
    const info = byId("requests").querySelector("button.info");
    const tip = info && document.getElementById(info.getAttribute("aria-describedby"));
    eq("the reason is in the tip, as text", tip && tip.textContent, "Reason: Audience <i>too</i> small");
    check("hidden until asked", !shown(tip));
    info.focus();
    check("shown on keyboard focus", shown(tip));
    info.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    check("Escape hides it", !shown(tip));
    info.blur();
    check("hidden again", !shown(tip));

    begin("creator: 503 on a screen");
    await mode("503");
    await show("brands");
    has("503 in plain words", text("brands-error"), "(503): a service it depends on is down; nothing was recorded");
    const retry = byId("brands-error").querySelector("button");
    check("a Retry button", !!retry);
    await mode("ok");
    retry.click();
    await idle();
    check("Retry recovers", byId("brands-error").hidden && !!byId("brands-list").querySelector("article"));
    byId("signout").click();
  }

  async function brandProduct() {
    begin("brand: offers");
    location.hash = "";
    await signIn("ak_brand");
    has("role", text("role"), "a brand");
    check("home is the offers", shown(byId("view-offers")));
    check("no brands screen", !shown(document.querySelector('nav a[data-view="brands"]')));
    let rows = cells("brand-offers");
    eq("offers", rows.length, 2);
    eq("fixed payout exactly", rows[1][1], "150.00 RUB per order");
    has("a paused offer resumes", rows[1][6], "Resume");
    byId("publish").open = true;
    const f = byId("offer-form").elements;
    f.name.value = "Winter";
    f.value.value = "150.00";
    f.currency.value = "XXX";
    byId("offer-form").requestSubmit();
    await idle();
    has("the server's message", text("offer-form-error"), "payout.currency: not an ISO 4217 code");
    eq("the field is marked", f.currency.getAttribute("aria-invalid"), "true");
    byId("brand-offers").tBodies[0].rows[0].querySelector("button").click();
    check("the payout form", shown(byId("payout-form")));
    has("says when new terms apply", text("payout-form"), "apply to orders placed after the change");
    eq("focus in the form", document.activeElement, byId("payout-form").elements.value);
    byId("payout-cancel").click();

    begin("brand: moderation");
    await show("moderation");
    rows = cells("moderation");
    eq("one request", rows.length, 1);
    eq("creator, platform, offer", rows[0].slice(0, 3).join(" | "), "crt_1 | TikTok | Acme 10%");
    const row = byId("moderation").tBodies[0].rows[0];
    const [confirm, reject] = row.querySelectorAll("form");
    confirm.elements.code.value = "TAKEN";
    confirm.requestSubmit();
    await idle();
    has("409 in the brand's words", row.textContent, "This code is taken at your brand");
    eq("the code is marked", confirm.elements.code.getAttribute("aria-invalid"), "true");
    reject.requestSubmit();
    await idle();
    has("a reason is required", row.textContent, "A reason is required");
    eq("focus on the reason", document.activeElement, reject.elements.reason);

    begin("brand: codes");
    await show("brand-codes");
    rows = cells("brand-codes");
    eq("a code with its creator", rows[0].slice(0, 4).join(" | "), "ANNA10 | Anna | Acme 10% | active");
    byId("brand-codes").querySelector("tbody button").click();
    const yes = byId("brand-codes").querySelector("tbody button.danger");
    eq("a confirmation step", yes && yes.textContent, "Yes, revoke ANNA10");
    eq("focus on it", document.activeElement, yes);
    yes.click();
    await idle();
    has("503 shown where it happened", byId("brand-codes").tBodies[0].textContent, "(503)");

    begin("brand: connect your shop");
    await show("shop");
    const shopify = document.querySelector('#shop-list article[data-platform="shopify"]');
    const woo = document.querySelector('#shop-list article[data-platform="woocommerce"]');
    eq("the URL to paste", shopify && shopify.querySelector("input.url").value, location.origin + "/v1/webhooks/shopify/brd_1");
    has("the last delivery", shopify.textContent, "Last delivery: 2026-11-25 12:00:00 · orders/create · accepted");
    eq("its confirm_on", shopify.querySelector("select").value, "orders/fulfilled");
    has("not connected", woo.textContent, "Not connected.");
    check("no secret ever shown", !document.querySelector("#shop-list input[type=password]").value);
    shopify.querySelector('button[aria-label="Disconnect Shopify"]').click();
    eq("disconnect asks first", document.activeElement.textContent, "Yes, disconnect Shopify");
    Array.from(shopify.querySelectorAll("button")).find((b) => b.textContent === "Cancel").click();
    eq("cancel puts the button back, focused", document.activeElement.getAttribute("aria-label"), "Disconnect Shopify");
    const wooForm = woo.querySelector("form");
    wooForm.requestSubmit();
    has("a secret is required", woo.textContent, "Paste the secret");
    wooForm.elements.secret.value = " s3cret";
    wooForm.requestSubmit();
    await idle();
    has("the server's message", woo.textContent, "paste the secret alone");
    eq("the secret is marked", wooForm.elements.secret.getAttribute("aria-invalid"), "true");

    begin("brand: credentials");
    await show("credentials");
    const rot = document.querySelector('#rotate-buttons button[data-kind="webhook_secret"]');
    check("brands rotate the webhook secret", shown(rot));
    check("not a token", !shown(document.querySelector('#rotate-buttons button[data-kind="token"]')));
    rot.click();
    await until("the new value", () => byId("rotate-value").value !== "");
    eq("shown once", byId("rotate-value").value, "whsec_new");
    has("with the grace", text("rotate-note"), "keeps working until 2026-11-26 12:00:00");

    begin("brand: reports");
    await show("orders");
    check("a creator column", shown(byId("orders").querySelector("th[data-roles=brand]")));
    check("no brand filter", !shown(field("brand").closest("label")));
    check("a creator filter", shown(field("creator").closest("label")));
    byId("signout").click();
  }

  async function analyst() {
    begin("analyst: orders with the creator filter");
    location.hash = "";
    await signIn("at_good");
    await newRequests();
    has("role", text("role"), "analyst");
    check("creator filter shown", shown(field("creator").closest("label")));
    check("summary tab", shown(document.querySelector('nav a[data-view="summary"]')));
    field("creator").value = "crt_2";
    await applyFilters();
    let q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("creator filter sent", q.get("creator"), "crt_2");

    begin("analyst: explanation");
    const opener = byId("orders").querySelector("tbody button");
    opener.focus();
    opener.click();
    await until("the explanation", () => byId("explain").open && text("explain-body").includes("Codes on the order"));
    has("creator", text("explain-body"), "crt_1");
    has("terms", text("explain-body"), "10 % of the order, hold 14 days");
    has("earnings", text("explain-body"), "0.10 USD");
    byId("explain-close").click();
    check("closed", !byId("explain").open);
    await sleep(50); // the close event comes in a task of its own
    eq("focus back on the order", document.activeElement, opener);

    begin("analyst: summary");
    await show("summary");
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("by brand first", q.get("group_by"), "brand");
    eq("the period only", q.get("creator"), null);
    let rows = cells("summary");
    eq("rates as percentages", rows[0][4] + " / " + rows[0][5], "62.56 % / 84.20 %");
    eq("GMV per currency", rows[0][2], "300.00 RUB1.10 USD");
    eq("no money is a dash", rows[1][2], "–");
    has("totals row", byId("summary").tFoot.textContent, "83.77 %");
    byId("summary-group").value = "creator";
    byId("summary-group").dispatchEvent(new Event("change"));
    await idle();
    rows = cells("summary");
    eq("no attribution rate per creator", rows[0][5], "–");
    byId("summary").tBodies[0].rows[1].querySelector("button").click();
    await idle();
    eq("a creator's orders", location.hash, "#orders");
    eq("creator set", field("creator").value, "crt_2");
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("and asked for", q.get("creator"), "crt_2");

    begin("analyst: unattributed");
    field("from").value = "2026-11-01";
    await applyFilters();
    await show("unattributed");
    q = new URLSearchParams((await newRequests()).pop().split("?")[1]);
    eq("the period", q.get("from"), "2026-10-31T21:00:00Z");
    eq("no creator", q.get("creator"), null);
    rows = cells("unattributed");
    eq("rows", rows.length, 2);
    eq("a row", JSON.stringify(rows[0]), JSON.stringify(["2026-11-24 13:00:00", "Acme <b>Co</b>", "U-1", "SALE17", "unknown code"]));
    eq("an unknown brand shows its id", rows[1][1], "brd_2");
    eq("no codes", rows[1][3], "–");
    byId("unattributed-more").click();
    await idle();
    eq("next page", cells("unattributed").length, 3);
    eq("reason words", cells("unattributed")[2][4], "code revoked");
    check("no more", byId("unattributed-more").hidden);

    begin("sign out");
    byId("signout").click();
    check("signed out", shown(byId("signin-section")) && byId("app").hidden);
    eq("token forgotten", sessionStorage.getItem("attrib.token"), null);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    await sleep(0); // after the dashboard's own DOMContentLoaded handler
    try {
      pureFunctions();
      await signInErrors();
      await creatorOrders();
      await creatorErrors();
      await creatorEarningsAndCSV();
      await creatorProduct();
      await brandProduct();
      await analyst();
    } catch (err) {
      failures.push(step + ": " + (err && err.stack || err));
    }
    await fetch("/__test/result", { method: "POST", body: JSON.stringify({ failures, steps }) });
  });
})();
