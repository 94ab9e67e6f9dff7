// The creator's and the brand's screens, and the earnings chart. Loaded
// after dashboard.js, whose helpers ($, api, json, cell, emptyRow,
// fmtTime, scaled, fracDigits, state) it uses. As there, every value from
// the server goes in as text, and money stays the decimal string the
// server sent (the chart scales bars with BigInt, never with floats).
"use strict";

// ---------------------------------------------------------------------------
// Pure functions (the browser test calls them through window.AttribProduct).

// payoutText shows an offer's payout exactly as the API sent it:
// "150.00 RUB per order" or "10 % of the order".
function payoutText(p) {
  if (!p) return "";
  return p.type === "percent" ? p.value + " % of the order" : p.value + " " + p.currency + " per order";
}

// holdText shows a hold period in days.
function holdText(days) {
  return days === 1 ? "1 day" : days + " days";
}

// platformName shows a platform's usual spelling.
function platformName(p) {
  return { instagram: "Instagram", tiktok: "TikTok", youtube: "YouTube", telegram: "Telegram", vk: "VK" }[p] || p;
}

// addDecimals adds decimal strings exactly; the result has the largest
// number of digits after the point among them ("0" for none).
function addDecimals(values) {
  const scale = values.reduce((s, v) => Math.max(s, fracDigits(v)), 0);
  let sum = 0n;
  for (const v of values) sum += scaled(v, scale) || 0n;
  const neg = sum < 0n;
  let digits = (neg ? -sum : sum).toString().padStart(scale + 1, "0");
  if (scale) digits = digits.slice(0, -scale) + "." + digits.slice(-scale);
  return (neg ? "-" : "") + digits;
}

// maxDecimal is the largest of decimal strings, as written ("0" for none).
function maxDecimal(values) {
  const scale = values.reduce((s, v) => Math.max(s, fracDigits(v)), 0);
  let best = "0", bestN = 0n;
  for (const v of values) {
    const n = scaled(v, scale);
    if (n !== null && n > bestN) { best = v; bestN = n; }
  }
  return best;
}

// ratioPermille is value * 1000 / max for decimal strings, exactly and
// rounded down (0 when max is not above 0, never below 0).
function ratioPermille(value, max) {
  const scale = Math.max(fracDigits(value), fracDigits(max));
  const v = scaled(value, scale) || 0n, m = scaled(max, scale) || 0n;
  if (m <= 0n || v <= 0n) return 0;
  return Number((v * 1000n) / m);
}

// daysBetween lists the calendar days from first to last (YYYY-MM-DD,
// both included); at most 400 of them.
function daysBetween(first, last) {
  const out = [];
  const t = new Date(first + "T00:00:00Z");
  const end = new Date(last + "T00:00:00Z");
  while (t <= end && out.length < 400) {
    out.push(t.toISOString().slice(0, 10));
    t.setUTCDate(t.getUTCDate() + 1);
  }
  return out;
}

// chartModel turns the earnings per day of each status ({approved:
// series, pending: series, rejected: series}, each [{key, orders,
// earnings}]) into one chart per currency: the days (every day from the
// first to the last, or the period's), and per day the approved and
// pending amounts, their sum, and the rejected orders.
function chartModel(byStatus, firstDay, lastDay) {
  const keys = new Set();
  const currencies = new Set();
  const at = {};
  for (const [status, series] of Object.entries(byStatus)) {
    at[status] = new Map();
    for (const p of series || []) {
      keys.add(p.key);
      at[status].set(p.key, p);
      if (status !== "rejected") for (const c of Object.keys(p.earnings || {})) currencies.add(c);
    }
  }
  const sorted = Array.from(keys).sort();
  const first = firstDay || sorted[0], last = lastDay || sorted[sorted.length - 1];
  const days = first && last ? daysBetween(first, last) : [];
  const rejectedOrders = days.map((d) => (at.rejected && at.rejected.get(d) ? at.rejected.get(d).orders : 0));
  const charts = Array.from(currencies).sort().map((currency) => {
    // A day without earnings of a status shows zero with the currency's
    // digits, as the API writes its amounts ("0.00").
    let digits = 0;
    for (const m of Object.values(at)) for (const p of m.values()) if (p.earnings[currency]) digits = Math.max(digits, fracDigits(p.earnings[currency]));
    const zero = digits ? "0." + "0".repeat(digits) : "0";
    const rows = days.map((d, i) => {
      const amount = (s) => (at[s] && at[s].get(d) && at[s].get(d).earnings[currency]) || zero;
      const approved = amount("approved"), pending = amount("pending");
      return { day: d, approved, pending, total: addDecimals([approved, pending]), rejected: rejectedOrders[i] };
    });
    return { currency, rows, max: maxDecimal(rows.map((r) => r.total)) };
  });
  return { days, charts, rejectedOrders };
}

// ---------------------------------------------------------------------------
// Helpers of the screens.

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}

// screens are the product views' requests in flight, to abort when a
// newer one starts or the user signs out.
const screens = {};

// startScreen begins a load of screen name: aborts the one in flight,
// marks the section busy and says "Loading…" in its status line.
function startScreen(name, statusId) {
  if (screens[name]) screens[name].abort();
  const ctl = (screens[name] = new AbortController());
  const section = $("view-" + name);
  if (section) section.setAttribute("aria-busy", "true");
  if (statusId) $(statusId).textContent = "Loading…";
  return ctl;
}

// endScreen ends a load; false when a newer one took over.
function endScreen(name, ctl) {
  if (screens[name] !== ctl) return false;
  screens[name] = null;
  const section = $("view-" + name);
  if (section) section.removeAttribute("aria-busy");
  return true;
}

// fail shows err in the box boxId (with a Retry button for what a retry
// may cure), unless it is an abort; a 401 signs out.
function fail(boxId, err, retry) {
  if (err.name === "AbortError") return;
  showError(boxId, err, retry);
}

function hideError(boxId) {
  const box = $(boxId);
  box.replaceChildren();
  box.hidden = true;
}

// copyButton copies text to the clipboard and says so next to itself.
function copyButton(text, label) {
  const b = el("button", { type: "button", class: "secondary small", "aria-label": label || "Copy " + text }, "Copy");
  b.addEventListener("click", async () => {
    let done = false;
    try {
      await navigator.clipboard.writeText(text);
      done = true;
    } catch (_) {
      // No clipboard permission (an insecure origin): select a copy instead.
      const area = el("textarea", { "aria-hidden": "true", class: "visually-hidden" });
      area.value = text;
      document.body.appendChild(area);
      area.select();
      done = document.execCommand("copy");
      area.remove();
    }
    b.textContent = done ? "Copied" : "Copy failed: select the code";
    setTimeout(() => { b.textContent = "Copy"; }, 2000);
  });
  return b;
}

// infoTip is an information icon whose text shows on hover and on keyboard
// focus (the button is focusable; the tip describes it).
let tipCount = 0;
function infoTip(text, label) {
  const wrap = el("span", { class: "tipwrap" });
  const id = "tip-" + (++tipCount);
  const b = el("button", { type: "button", class: "info", "aria-label": label, "aria-describedby": id }, "i");
  const tip = el("span", { role: "tooltip", id, class: "tip" }, text);
  wrap.append(b, tip);
  // Focus opens the tip from the keyboard (the :focus rule alone does not
  // hold while the window itself has no focus); Escape closes it.
  b.addEventListener("focus", () => wrap.classList.add("open"));
  b.addEventListener("blur", () => wrap.classList.remove("open"));
  b.addEventListener("keydown", (e) => { if (e.key === "Escape") wrap.classList.remove("open"); });
  return wrap;
}

function statusBadge(status) {
  const words = { moderation: "in moderation", confirmed: "confirmed", rejected: "rejected", active: "active", paused: "paused", revoked: "revoked" };
  return el("span", { class: "badge status-" + status }, words[status] || status);
}

// ---------------------------------------------------------------------------
// Views.

// loadProductView loads a screen that is not a report.
function loadProductView(v, param) {
  switch (v) {
    case "brands": return loadBrands();
    case "offer": return loadOffer(param);
    case "codes": return loadCodes();
    case "offers": return loadBrandOffers();
    case "moderation": return loadModeration();
    case "brand-codes": return loadBrandCodes();
    case "shop": return loadShop();
    case "credentials": return showCredentials();
  }
}

// resetProduct forgets what the screens showed (at sign-out).
function resetProduct() {
  for (const ctl of Object.values(screens)) if (ctl) ctl.abort();
  for (const id of ["brands-list", "offer-terms", "offer-requests", "shop-list"]) $(id).replaceChildren();
  for (const id of ["my-codes", "requests", "brand-offers", "moderation", "brand-codes"]) $(id).tBodies[0].replaceChildren();
  for (const id of ["brands-error", "offer-error", "code-request-error", "my-codes-error", "requests-error", "offers-error",
    "offer-form-error", "payout-form-error", "moderation-error", "brand-codes-error", "shop-error", "rotate-error", "chart-error"]) hideError(id);
  $("rotate-result").hidden = true;
  $("rotate-value").value = "";
  $("payout-form").hidden = true;
  $("chart").replaceChildren();
  $("chart-totals").textContent = "";
}

// Creator: brands with their active offers.
async function loadBrands() {
  const ctl = startScreen("brands", "brands-status");
  hideError("brands-error");
  const q = new URLSearchParams();
  if ($("brands-model").value) q.set("pricing_model", $("brands-model").value);
  q.set("q", $("brands-q").value.trim());
  const list = $("brands-list");
  try {
    const body = await json(await api("/v1/brands?" + q.toString(), ctl.signal));
    if (screens.brands !== ctl) return;
    list.replaceChildren();
    for (const b of body.brands || []) {
      const card = el("article", { class: "brand", "aria-labelledby": "brand-" + b.brand_id });
      card.appendChild(el("h3", { id: "brand-" + b.brand_id }, b.name));
      const ul = el("ul", { class: "offers" });
      for (const o of b.offers || []) {
        const li = el("li");
        const a = el("a", { href: "#offer/" + encodeURIComponent(o.offer_id) }, o.name);
        li.append(a, el("span", { class: "payout" }, payoutText(o.payout)),
          el("span", { class: "muted" }, "hold " + holdText(o.hold_days) + " · " + (o.platforms || []).map(platformName).join(", ")));
        ul.appendChild(li);
      }
      card.appendChild(ul);
      list.appendChild(card);
    }
    const n = (body.brands || []).length;
    $("brands-status").textContent = n ? n + (n === 1 ? " brand" : " brands") + " with active offers." : "No brand matches: try another name, or Any pricing model.";
  } catch (err) {
    if (screens.brands !== ctl) return;
    list.replaceChildren();
    $("brands-status").textContent = "";
    fail("brands-error", err, loadBrands);
  } finally {
    endScreen("brands", ctl);
  }
}

// Creator (and brand): one offer, with the creator's requests for it.
async function loadOffer(offerID) {
  const ctl = startScreen("offer", "offer-status");
  hideError("offer-error");
  const terms = $("offer-terms");
  try {
    const o = await json(await api("/v1/offers/{offer_id}".replace("{offer_id}", encodeURIComponent(offerID)), ctl.signal));
    if (screens.offer !== ctl) return;
    $("offer-title").textContent = o.name + (o.brand ? " · " + o.brand : "");
    terms.replaceChildren();
    const add = (label, value) => terms.append(el("dt", {}, label), el("dd", {}, value));
    add("Brand", o.brand || o.brand_id);
    add("Pricing model", "Payment for action");
    add("Payout", payoutText(o.payout));
    add("Hold period", holdText(o.hold_days) + ": an order is approved when its hold ends without a cancellation");
    add("Platforms", (o.platforms || []).map(platformName).join(", "));
    add("Countries", (o.countries || []).join(", "));
    add("Status", o.status === "paused" ? "paused: no new promo codes for now" : o.status);
    $("offer-status").textContent = "";
    const mine = state.role === "creator";
    $("offer-code").hidden = !mine;
    if (mine) {
      const select = $("code-platform");
      const chosen = select.value;
      select.replaceChildren();
      for (const p of o.platforms || []) select.appendChild(el("option", { value: p }, platformName(p)));
      if (chosen && (o.platforms || []).includes(chosen)) select.value = chosen;
      $("code-request-button").disabled = o.status !== "active";
      showMyRequests(o.my_requests || []);
    }
  } catch (err) {
    if (screens.offer !== ctl) return;
    terms.replaceChildren();
    $("offer-status").textContent = "";
    $("offer-code").hidden = true;
    fail("offer-error", err, () => loadOffer(offerID));
  } finally {
    endScreen("offer", ctl);
  }
}

// showMyRequests shows the creator's requests for the offer, newest first,
// in the offer's own section.
function showMyRequests(reqs) {
  const ul = $("offer-requests");
  ul.replaceChildren();
  const sorted = reqs.slice().sort((a, b) => String(b.requested_at).localeCompare(String(a.requested_at)));
  for (const r of sorted) {
    const li = el("li", { class: "request" });
    li.append(el("span", {}, platformName(r.platform) + ": "), statusBadge(r.status));
    if (r.status === "moderation") li.append(el("span", { class: "muted" }, " The brand will review your request; the code will show here."));
    if (r.status === "confirmed") li.append(" ", el("code", { class: "code" }, r.code), " ", copyButton(r.code));
    if (r.status === "rejected") li.append(el("span", {}, " Reason: " + (r.reason || "none given")));
    ul.appendChild(li);
  }
  if (!sorted.length) ul.appendChild(el("li", { class: "muted" }, "You have not asked for a promo code for this offer yet."));
}

async function requestCode() {
  const button = $("code-request-button");
  hideError("code-request-error");
  const platform = $("code-platform").value;
  if (!platform) {
    showError("code-request-error", new ApiError("Choose a platform first.", 400));
    return;
  }
  button.disabled = true;
  try {
    await json(await api("/v1/code-requests", null, null, { method: "POST", body: { offer_id: state.param, platform } }));
    await loadOffer(state.param);
  } catch (err) {
    fail("code-request-error", err);
  } finally {
    button.disabled = false;
  }
}

// Creator: the two tabs of promo codes.
function selectTab(tab) {
  for (const t of document.querySelectorAll("#view-codes [role=tab]")) {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")).hidden = !on;
  }
}

async function loadCodes() {
  const ctl = startScreen("codes", "my-codes-status");
  $("requests-status").textContent = "Loading…";
  hideError("my-codes-error");
  hideError("requests-error");
  const codes = $("my-codes").tBodies[0], reqs = $("requests").tBodies[0];
  const tz = state.applied ? state.applied.tz : "UTC";
  const [c, r] = await Promise.allSettled([
    api("/v1/promo-codes", ctl.signal).then(json),
    api("/v1/code-requests", ctl.signal).then(json),
  ]);
  if (!endScreen("codes", ctl)) return;
  codes.replaceChildren();
  reqs.replaceChildren();
  if (c.status === "fulfilled") {
    for (const p of c.value.promo_codes || []) {
      const tr = document.createElement("tr");
      const code = cell(tr, "");
      code.append(el("code", { class: "code" }, p.code), " ", copyButton(p.code));
      cell(tr, p.brand || p.brand_id);
      cell(tr, p.offer || p.offer_id, "wrap");
      cell(tr, payoutText(p.payout) + ", hold " + holdText(p.hold_days));
      cell(tr, platformName(p.platform));
      cell(tr, fmtTime(p.active_from, tz));
      codes.appendChild(tr);
    }
    const n = codes.rows.length;
    if (!n) emptyRow(codes, 6, "No confirmed promo codes yet: find a brand and ask for one.");
    $("my-codes-status").textContent = n ? n + (n === 1 ? " promo code." : " promo codes.") : "";
  } else {
    $("my-codes-status").textContent = "";
    fail("my-codes-error", c.reason, loadCodes);
  }
  if (r.status === "fulfilled") {
    for (const q of r.value.code_requests || []) {
      const tr = document.createElement("tr");
      cell(tr, q.brand || q.brand_id);
      cell(tr, q.offer || q.offer_id, "wrap");
      cell(tr, platformName(q.platform));
      const st = cell(tr, "");
      st.appendChild(statusBadge(q.status));
      if (q.status === "rejected") st.append(" ", infoTip("Reason: " + (q.reason || "none given"), "Why it was rejected"));
      const code = cell(tr, "");
      if (q.code) code.append(el("code", { class: "code" }, q.code), " ", copyButton(q.code));
      cell(tr, fmtTime(q.requested_at, tz));
      cell(tr, fmtTime(q.decided_at, tz));
      reqs.appendChild(tr);
    }
    const n = reqs.rows.length;
    if (!n) emptyRow(reqs, 7, "No requests in moderation or decided in the last 14 days.");
    $("requests-status").textContent = n ? n + (n === 1 ? " request." : " requests.") : "";
  } else {
    $("requests-status").textContent = "";
    fail("requests-error", r.reason, loadCodes);
  }
}

// Brand: its offers, publishing, payout changes, pause and resume.
let brandOffers = new Map();
let payoutOffer = "";

// loadBrandOffers lists the brand's offers; note (what was just done) goes
// before the count in the status line.
async function loadBrandOffers(note) {
  const ctl = startScreen("offers", "offers-status");
  hideError("offers-error");
  const tbody = $("brand-offers").tBodies[0];
  try {
    const body = await json(await api("/v1/offers", ctl.signal));
    if (screens.offers !== ctl) return;
    tbody.replaceChildren();
    brandOffers = new Map();
    for (const o of body.offers || []) {
      brandOffers.set(o.offer_id, o);
      const tr = document.createElement("tr");
      cell(tr, o.name, "wrap").title = o.offer_id;
      cell(tr, payoutText(o.payout));
      cell(tr, holdText(o.hold_days));
      cell(tr, (o.platforms || []).map(platformName).join(", "), "wrap");
      cell(tr, (o.countries || []).join(", "));
      cell(tr, "").appendChild(statusBadge(o.status));
      const actions = cell(tr, "");
      const change = el("button", { type: "button", class: "secondary small", "aria-label": "Change the payout of " + o.name }, "Change payout");
      change.addEventListener("click", () => openPayout(o.offer_id, change));
      const toggle = el("button", { type: "button", class: "secondary small", "aria-label": (o.status === "paused" ? "Resume " : "Pause ") + o.name },
        o.status === "paused" ? "Resume" : "Pause");
      toggle.addEventListener("click", () => patchOffer(o.offer_id, { status: o.status === "paused" ? "active" : "paused" }, toggle, "offers-error"));
      actions.append(change, " ", toggle);
      tbody.appendChild(tr);
    }
    const n = tbody.rows.length;
    if (!n) emptyRow(tbody, 7, "No offers yet: publish one above.");
    $("offers-status").textContent = (typeof note === "string" ? note + " " : "") + (n ? n + (n === 1 ? " offer." : " offers.") : "");
  } catch (err) {
    if (screens.offers !== ctl) return;
    tbody.replaceChildren();
    $("offers-status").textContent = "";
    fail("offers-error", err, loadBrandOffers);
  } finally {
    endScreen("offers", ctl);
  }
}

// markInvalid marks the control of form named by the server's field.
function markInvalid(form, field) {
  for (const c of form.elements) c.removeAttribute("aria-invalid");
  const name = String(field || "").replace(/^payout\./, "").replace(/\[\d+\]$/, "");
  const c = name && form.elements[name];
  if (c && c.setAttribute) {
    c.setAttribute("aria-invalid", "true");
    c.focus();
  } else if (c && c[0]) c[0].focus();
}

async function publishOffer() {
  const form = $("offer-form");
  const button = $("offer-publish");
  hideError("offer-form-error");
  const f = form.elements;
  const hold = f.hold_days.value.trim();
  const body = {
    name: f.name.value.trim(),
    payout: { type: f.type.value, value: f.value.value.trim(), currency: f.currency.value.trim().toUpperCase() },
    countries: f.countries.value.split(/[\s,]+/).filter(Boolean).map((c) => c.toUpperCase()),
    platforms: Array.from(form.querySelectorAll("input[name=platforms]:checked"), (c) => c.value),
    hold_days: /^\d+$/.test(hold) ? Number(hold) : hold === "" ? null : -1,
  };
  const local = !body.name ? ["name", "Name: give the offer a name."] : !body.payout.value ? ["value", "Amount or percent: required."] :
    body.hold_days === null || body.hold_days < 0 ? ["hold_days", "Hold days: a whole number of days, 0 for none."] :
      !body.platforms.length ? ["platforms", "Platforms: choose at least one."] : null;
  if (local) {
    showError("offer-form-error", new ApiError(local[1], 400));
    markInvalid(form, local[0]);
    return;
  }
  button.disabled = true;
  try {
    const o = await json(await api("/v1/offers", null, null, { method: "POST", body }));
    form.reset();
    markInvalid(form, "");
    await loadBrandOffers("Published " + o.name + ".");
  } catch (err) {
    fail("offer-form-error", err);
    markInvalid(form, err.field);
  } finally {
    button.disabled = false;
  }
}

let payoutOpener = null;

function openPayout(offerID, opener) {
  const o = brandOffers.get(offerID);
  if (!o) return;
  payoutOffer = offerID;
  payoutOpener = opener;
  const form = $("payout-form");
  form.elements.type.value = o.payout.type;
  form.elements.value.value = o.payout.value;
  form.elements.currency.value = o.payout.currency || "";
  $("payout-title").textContent = "Change the payout of " + o.name;
  hideError("payout-form-error");
  form.hidden = false;
  form.elements.value.focus();
}

function closePayout() {
  $("payout-form").hidden = true;
  if (payoutOpener && payoutOpener.isConnected) payoutOpener.focus();
  payoutOpener = null;
}

async function savePayout() {
  const f = $("payout-form").elements;
  const payout = { type: f.type.value, value: f.value.value.trim(), currency: f.currency.value.trim().toUpperCase() };
  if (!payout.value) {
    showError("payout-form-error", new ApiError("Amount or percent: required.", 400));
    markInvalid($("payout-form"), "value");
    return;
  }
  if (await patchOffer(payoutOffer, { payout }, $("payout-save"), "payout-form-error")) {
    $("offers-status").textContent = "New payout saved: it applies to orders placed from now on.";
    $("payout-form").hidden = true;
  }
}

// patchOffer changes an offer and reloads the list; false on failure.
async function patchOffer(offerID, body, button, errorBox) {
  hideError(errorBox);
  button.disabled = true;
  try {
    await json(await api("/v1/offers/{offer_id}".replace("{offer_id}", encodeURIComponent(offerID)), null, null, { method: "PATCH", body }));
    await loadBrandOffers();
    return true;
  } catch (err) {
    fail(errorBox, err);
    if (errorBox === "payout-form-error") markInvalid($("payout-form"), err.field);
    return false;
  } finally {
    button.disabled = false;
  }
}

// Brand: the moderation queue.
// loadModeration lists the requests in moderation; note as in
// loadBrandOffers.
async function loadModeration(note) {
  const ctl = startScreen("moderation", "moderation-status");
  hideError("moderation-error");
  const tbody = $("moderation").tBodies[0];
  const tz = state.applied ? state.applied.tz : "UTC";
  try {
    const body = await json(await api("/v1/code-requests?status=moderation", ctl.signal));
    if (screens.moderation !== ctl) return;
    tbody.replaceChildren();
    for (const q of body.code_requests || []) tbody.appendChild(moderationRow(q, tz));
    const n = tbody.rows.length;
    if (!n) emptyRow(tbody, 6, "Nothing to moderate: every request is decided.");
    $("moderation-status").textContent = (typeof note === "string" ? note + " " : "") + (n ? n + (n === 1 ? " request waits." : " requests wait.") : "");
  } catch (err) {
    if (screens.moderation !== ctl) return;
    tbody.replaceChildren();
    $("moderation-status").textContent = "";
    fail("moderation-error", err, loadModeration);
  } finally {
    endScreen("moderation", ctl);
  }
}

function moderationRow(q, tz) {
  const tr = el("tr", { "data-request": q.request_id });
  const creator = cell(tr, q.creator || q.creator_id);
  creator.title = q.creator_id;
  cell(tr, platformName(q.platform));
  cell(tr, q.offer || q.offer_id, "wrap");
  cell(tr, fmtTime(q.requested_at, tz));
  const who = (q.creator || q.creator_id) + ", " + platformName(q.platform);
  const confirm = el("form", { class: "inline", novalidate: "", "aria-label": "Confirm the request of " + who });
  const code = el("input", { name: "code", size: "12", spellcheck: "false", placeholder: "generated if empty", "aria-label": "Code for " + who });
  confirm.append(code, el("button", { type: "submit" }, "Confirm"));
  const reject = el("form", { class: "inline", novalidate: "", "aria-label": "Reject the request of " + who });
  const reason = el("input", { name: "reason", size: "18", required: "", placeholder: "reason (required)", "aria-label": "Reason to reject " + who });
  reject.append(reason, el("button", { type: "submit", class: "danger" }, "Reject"));
  const err = el("div", { class: "error", role: "alert", hidden: "" });
  cell(tr, "").appendChild(confirm);
  const rc = cell(tr, "");
  rc.append(reject, err);
  confirm.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = code.value.trim();
    decide(q.request_id, "confirm", text ? { code: text } : {}, confirm, err, code);
  });
  reject.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = reason.value.trim();
    if (!text) {
      showMessage(err, "A reason is required to reject: the creator will read it.");
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    decide(q.request_id, "reject", { reason: text }, reject, err, reason);
  });
  return tr;
}

function showMessage(box, text) {
  box.textContent = text;
  box.hidden = !text;
}

async function decide(requestID, action, body, form, errBox, input) {
  showMessage(errBox, "");
  input.removeAttribute("aria-invalid");
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  try {
    const path = action === "confirm" ? "/v1/code-requests/{request_id}/confirm" : "/v1/code-requests/{request_id}/reject";
    const q = await json(await api(path.replace("{request_id}", encodeURIComponent(requestID)), null, null, { method: "POST", body }));
    await loadModeration(action === "confirm" ? "Confirmed with the code " + q.code + "." : "Rejected.");
    $("moderation-status").focus();
  } catch (err) {
    if (err.status === 401) { showError("moderation-error", err); return; }
    let text = err.message;
    if (err.status === 409 && action === "confirm" && body.code) {
      text = "This code is taken at your brand: choose another, or leave the code empty to have one generated. (" + err.message + ")";
    }
    showMessage(errBox, text);
    input.setAttribute("aria-invalid", "true");
    input.focus();
  } finally {
    for (const b of form.querySelectorAll("button")) b.disabled = false;
  }
}

// Brand: its codes, active and revoked, with their creators.
// loadBrandCodes lists the brand's codes; note as in loadBrandOffers.
async function loadBrandCodes(note) {
  const ctl = startScreen("brand-codes", "brand-codes-status");
  hideError("brand-codes-error");
  const tbody = $("brand-codes").tBodies[0];
  const tz = state.applied ? state.applied.tz : "UTC";
  try {
    const body = await json(await api("/v1/promo-codes", ctl.signal));
    if (screens["brand-codes"] !== ctl) return;
    tbody.replaceChildren();
    for (const p of body.promo_codes || []) {
      const tr = document.createElement("tr");
      cell(tr, "").appendChild(el("code", { class: "code" }, p.code));
      cell(tr, p.creator || p.creator_id).title = p.creator_id || "";
      cell(tr, p.offer || p.offer_id, "wrap");
      const st = cell(tr, "");
      st.appendChild(statusBadge(p.status));
      if (p.revoked_at) st.append(" ", el("span", { class: "muted" }, fmtTime(p.revoked_at, tz)));
      cell(tr, fmtTime(p.issued_at, tz));
      const actions = cell(tr, "");
      if (p.status === "active") actions.appendChild(revokeControl(p.code, actions));
      tbody.appendChild(tr);
    }
    const n = tbody.rows.length;
    if (!n) emptyRow(tbody, 6, "No codes yet: confirm a request in the moderation queue.");
    $("brand-codes-status").textContent = (typeof note === "string" ? note + " " : "") + (n ? n + (n === 1 ? " code." : " codes.") : "");
  } catch (err) {
    if (screens["brand-codes"] !== ctl) return;
    tbody.replaceChildren();
    $("brand-codes-status").textContent = "";
    fail("brand-codes-error", err, loadBrandCodes);
  } finally {
    endScreen("brand-codes", ctl);
  }
}

// revokeControl is a Revoke button that asks to confirm before it revokes.
function revokeControl(code, container) {
  const b = el("button", { type: "button", class: "secondary small", "aria-label": "Revoke " + code }, "Revoke");
  b.addEventListener("click", () => {
    const ask = el("span", { class: "confirm", role: "group", "aria-label": "Confirm revoking " + code });
    const yes = el("button", { type: "button", class: "danger small" }, "Yes, revoke " + code);
    const no = el("button", { type: "button", class: "secondary small" }, "Cancel");
    ask.append(el("span", {}, "Orders placed after this will not be attributed. "), yes, " ", no);
    const err = el("div", { class: "error", role: "alert", hidden: "" });
    container.replaceChildren(ask, err);
    yes.focus();
    no.addEventListener("click", () => {
      container.replaceChildren(revokeControl(code, container));
      container.firstChild.focus();
    });
    yes.addEventListener("click", async () => {
      yes.disabled = no.disabled = true;
      try {
        await json(await api("/v1/promo-codes/{code}/revoke".replace("{code}", encodeURIComponent(code)), null, null, { method: "POST" }));
        await loadBrandCodes("Revoked " + code + ".");
        $("brand-codes-status").focus();
      } catch (e) {
        if (e.status === 401) { showError("brand-codes-error", e); return; }
        showMessage(err, e.message);
        yes.disabled = no.disabled = false;
      }
    });
  });
  return b;
}

// Brand: its shop connectors (Shopify, WooCommerce).
const PLATFORM_NAMES = { shopify: "Shopify", woocommerce: "WooCommerce" };

// loadShop lists the platforms a brand may connect, with their URL, and
// the connectors it has with their last delivery; note as in
// loadBrandOffers.
async function loadShop(note) {
  const ctl = startScreen("shop", "shop-status");
  hideError("shop-error");
  const list = $("shop-list");
  const tz = state.applied ? state.applied.tz : "UTC";
  try {
    const body = await json(await api("/v1/connectors", ctl.signal));
    if (screens.shop !== ctl) return;
    list.replaceChildren();
    const byPlatform = new Map((body.connectors || []).map((c) => [c.platform, c]));
    for (const p of body.platforms || []) list.appendChild(shopCard(p, byPlatform.get(p.platform), tz));
    const n = byPlatform.size;
    $("shop-status").textContent = (typeof note === "string" ? note + " " : "") +
      (n ? n + (n === 1 ? " shop connected." : " shops connected.") : "No shop connected yet.");
  } catch (err) {
    if (screens.shop !== ctl) return;
    list.replaceChildren();
    $("shop-status").textContent = "";
    fail("shop-error", err, loadShop);
  } finally {
    endScreen("shop", ctl);
  }
}

function shopCard(p, c, tz) {
  const name = PLATFORM_NAMES[p.platform] || p.platform;
  const card = el("article", { class: "brand shop", "data-platform": p.platform, "aria-labelledby": "shop-" + p.platform });
  card.appendChild(el("h3", { id: "shop-" + p.platform }, name));
  card.appendChild(el("p", {}, c ? "Connected; set " + fmtTime(c.updated_at, tz) + "." : "Not connected."));
  const url = location.origin + p.webhook_path;
  const urlLabel = el("label", {}, "URL to paste into " + name + "'s webhook settings");
  const urlInput = el("input", { readonly: "", value: url, spellcheck: "false", class: "url" });
  urlInput.value = url;
  urlLabel.appendChild(urlInput);
  card.append(urlLabel, copyButton(url, "Copy the " + name + " URL"));
  const form = el("form", { novalidate: "", "aria-label": (c ? "Change the " : "Connect the ") + name + " shop" });
  const secretLabel = el("label", {}, c ? "New signing secret (the previous one keeps working 24 hours)" : "Signing secret");
  const secret = el("input", { name: "secret", type: "password", autocomplete: "off", spellcheck: "false", required: "" });
  secretLabel.appendChild(secret);
  const confirmLabel = el("label", {}, "An order is confirmed on");
  const confirmOn = el("select", { name: "confirm_on" });
  for (const v of p.confirm_on || []) confirmOn.appendChild(el("option", { value: v }, v));
  if (c && c.confirm_on) confirmOn.value = c.confirm_on;
  confirmLabel.appendChild(confirmOn);
  const save = el("button", { type: "submit" }, c ? "Save" : "Connect");
  const err = el("div", { class: "error", role: "alert", hidden: "" });
  form.append(secretLabel, confirmLabel, save, err);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showMessage(err, "");
    secret.removeAttribute("aria-invalid");
    if (!secret.value) {
      showMessage(err, "Paste the secret the shop signs its webhooks with.");
      secret.setAttribute("aria-invalid", "true");
      secret.focus();
      return;
    }
    save.disabled = true;
    try {
      const path = "/v1/connectors/{platform}".replace("{platform}", encodeURIComponent(p.platform));
      const r = await json(await api(path, null, null, { method: "PUT", body: { secret: secret.value, confirm_on: confirmOn.value } }));
      await loadShop(name + " connected." + (r.previous_secret_valid_until ? " The previous secret works until " + fmtTime(r.previous_secret_valid_until, tz) + "." : ""));
      $("shop-status").focus();
    } catch (e2) {
      if (e2.status === 401) { showError("shop-error", e2); return; }
      showMessage(err, e2.message);
      if (e2.field === "secret") secret.setAttribute("aria-invalid", "true");
    } finally {
      save.disabled = false;
    }
  });
  card.appendChild(form);
  if (c) {
    const d = c.last_delivery;
    card.appendChild(el("p", { class: "delivery" }, d ? "Last delivery: " + fmtTime(d.at, tz) + " · " + d.topic + " · " + d.outcome : "Last delivery: none yet."));
    const actions = el("p", {});
    const offButton = () => {
      const off = el("button", { type: "button", class: "secondary small", "aria-label": "Disconnect " + name }, "Disconnect");
      off.addEventListener("click", () => {
        // A confirmation step: the shop's next orders would be refused.
        const yes = el("button", { type: "button", class: "danger small" }, "Yes, disconnect " + name);
        const no = el("button", { type: "button", class: "secondary small" }, "Cancel");
        actions.replaceChildren(el("span", {}, "Orders the shop sends after this are refused. "), yes, " ", no);
        yes.focus();
        no.addEventListener("click", () => { actions.replaceChildren(offButton()); actions.firstChild.focus(); });
        yes.addEventListener("click", async () => {
          yes.disabled = no.disabled = true;
          try {
            await api("/v1/connectors/{platform}".replace("{platform}", encodeURIComponent(p.platform)), null, null, { method: "DELETE" });
            await loadShop(name + " disconnected.");
          } catch (e2) {
            if (e2.status === 401) { showError("shop-error", e2); return; }
            showMessage(err, e2.message);
            yes.disabled = no.disabled = false;
          }
        });
      });
      return off;
    };
    actions.appendChild(offButton());
    card.appendChild(actions);
  }
  return card;
}

// Credentials: rotation shows the new value once.
function showCredentials() {
  hideError("rotate-error");
}

async function rotate(kind, button) {
  hideError("rotate-error");
  $("rotate-result").hidden = true;
  button.disabled = true;
  try {
    const r = await json(await api("/v1/credentials/rotate", null, null, { method: "POST", body: { kind } }));
    const value = r[kind];
    $("rotate-value").value = value;
    const tz = state.applied ? state.applied.tz : "UTC";
    const names = { api_key: "API key", webhook_secret: "webhook secret", token: "token" };
    $("rotate-note").textContent = "Your new " + names[kind] + " is above: it is not shown again. The previous one keeps working until " +
      fmtTime(r.previous_valid_until, tz) + " (" + tz + ").";
    $("rotate-result").hidden = false;
    // This tab goes on with the new value when it replaced the one it uses.
    if (kind === "api_key" || kind === "token") {
      state.token = value;
      sessionStorage.setItem(TOKEN_KEY, value);
    }
    $("rotate-value").focus();
    $("rotate-value").select();
  } catch (err) {
    fail("rotate-error", err);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// The earnings chart: approved and pending earnings per day, one chart per
// currency, rejected orders counted under each day.

let chartCtl = null;

// chartPeriod is the first and last day of the applied period (or "").
function chartPeriod() {
  const p = state.applied ? state.applied.params : {};
  const tz = state.applied ? state.applied.tz : "UTC";
  const day = (iso, back) => {
    if (!iso) return "";
    const ms = Date.parse(iso) - (back ? 1000 : 0);
    const w = wallParts(ms, tz);
    return w.year + "-" + w.month + "-" + w.day;
  };
  return [day(p.from, false), day(p.to, true)];
}

async function loadChart() {
  if (chartCtl) chartCtl.abort();
  const ctl = (chartCtl = new AbortController());
  const chart = $("chart");
  hideError("chart-error");
  $("chart-totals").textContent = "Loading…";
  const tz = state.applied.tz;
  const wanted = state.applied.params.status;
  const statuses = ["approved", "pending", "rejected"].filter((s) => !wanted || s === wanted);
  try {
    const calls = statuses.map((s) => api("/v1/reports/earnings?" + orderParams({ group_by: "day", tz, status: s }), ctl.signal).then(json));
    calls.push(api("/v1/reports/earnings?" + orderParams({ group_by: "status", tz }), ctl.signal).then(json));
    const answers = await Promise.all(calls);
    if (chartCtl !== ctl) return;
    const byStatus = {};
    statuses.forEach((s, i) => { byStatus[s] = answers[i].series || []; });
    const totals = answers[answers.length - 1].series || [];
    const [first, last] = chartPeriod();
    drawChart(chart, chartModel(byStatus, first, last));
    const parts = totals.map((t) => t.key + ": " + t.orders + (t.orders === 1 ? " order" : " orders") +
      (Object.keys(t.earnings || {}).length ? ", " + moneyList(t.earnings).join(", ") : ""));
    $("chart-totals").textContent = parts.length ? "Totals of the period: " + parts.join("; ") + "." : "No orders in this period.";
  } catch (err) {
    if (err.name === "AbortError" || chartCtl !== ctl) return;
    chart.replaceChildren();
    $("chart-totals").textContent = "";
    showError("chart-error", err, loadChart);
  } finally {
    if (chartCtl === ctl) chartCtl = null;
  }
}

const CHART = { w: 900, h: 220, left: 8, right: 8, top: 24, bottom: 44 };

// drawChart draws one SVG per currency of the model into box.
function drawChart(box, model) {
  box.replaceChildren();
  if (!model.days.length) {
    box.appendChild(el("p", { class: "muted" }, "Nothing to draw: no orders in this period."));
    return;
  }
  const charts = model.charts.length ? model.charts : [{ currency: "", rows: model.days.map((d, i) => ({ day: d, approved: "0", pending: "0", total: "0", rejected: model.rejectedOrders[i] })), max: "0" }];
  for (const c of charts) box.appendChild(drawOne(c));
  const legend = el("p", { class: "legend" });
  legend.append(el("span", { class: "swatch approved" }), " approved ", el("span", { class: "swatch pending" }), " pending ",
    el("span", { class: "swatch rejected" }), " rejected orders (count)");
  box.appendChild(legend);
}

function drawOne(c) {
  const { w, h, left, right, top, bottom } = CHART;
  const n = c.rows.length;
  const plotH = h - top - bottom;
  const step = (w - left - right) / n;
  const barW = Math.max(1, Math.min(28, step * 0.7));
  const figure = el("figure", { class: "chart" });
  const title = c.currency ? "Earnings in " + c.currency + " per day" : "Orders per day";
  const s = svg("svg", { viewBox: "0 0 " + w + " " + h, role: "group", "aria-label": title + ", " + c.rows[0].day + " to " + c.rows[n - 1].day +
    (c.currency ? "; the highest day " + c.max + " " + c.currency : "") });
  s.appendChild(svg("line", { x1: left, x2: w - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
  if (c.currency) {
    s.appendChild(svg("text", { x: left, y: 14, class: "tick" }, c.max + " " + c.currency));
    s.appendChild(svg("line", { x1: left, x2: w - right, y1: top, y2: top, class: "grid" }));
  }
  const labelEvery = Math.max(1, Math.ceil(n / 12));
  c.rows.forEach((r, i) => {
    const x = left + i * step + (step - barW) / 2;
    // One tab stop per chart (the last day); arrow keys move between days.
    const g = svg("g", { class: "day", tabindex: i === n - 1 ? "0" : "-1", role: "img", "data-day": r.day });
    const words = r.day + ": " + (c.currency ? "approved " + r.approved + " " + c.currency + ", pending " + r.pending + " " + c.currency + ", " : "") +
      r.rejected + (r.rejected === 1 ? " rejected order" : " rejected orders");
    g.setAttribute("aria-label", words);
    g.appendChild(svg("title", {}, words));
    const hA = (ratioPermille(r.approved, c.max) * plotH) / 1000;
    const hP = (ratioPermille(r.total, c.max) * plotH) / 1000 - hA;
    g.appendChild(svg("rect", { x: i * step + left, y: top, width: step, height: plotH, class: "hit" }));
    if (hA > 0) g.appendChild(svg("rect", { x, y: top + plotH - hA, width: barW, height: hA, class: "approved" }));
    if (hP > 0) g.appendChild(svg("rect", { x, y: top + plotH - hA - hP, width: barW, height: hP, class: "pending" }));
    if (r.rejected) g.appendChild(svg("text", { x: x + barW / 2, y: top + plotH + 14, class: "rejected", "text-anchor": "middle" }, "×" + r.rejected));
    if (i % labelEvery === 0) g.appendChild(svg("text", { x: x + barW / 2, y: h - 6, class: "tick", "text-anchor": "middle" }, r.day.slice(5)));
    s.appendChild(g);
  });
  s.addEventListener("keydown", (e) => {
    const days = Array.from(s.querySelectorAll("g.day"));
    const i = days.indexOf(document.activeElement);
    const j = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: days.length - 1 }[e.key];
    if (i < 0 || j === undefined || j < 0 || j >= days.length) return;
    e.preventDefault();
    days[i].setAttribute("tabindex", "-1");
    days[j].setAttribute("tabindex", "0");
    days[j].focus();
  });
  figure.append(s, el("figcaption", { class: "muted" }, title + " (arrow keys move between days)"));
  return figure;
}

document.addEventListener("DOMContentLoaded", () => {
  $("brands-search").addEventListener("submit", (e) => { e.preventDefault(); loadBrands(); });
  $("brands-model").addEventListener("change", loadBrands);
  $("code-request").addEventListener("submit", (e) => { e.preventDefault(); requestCode(); });
  const tabs = Array.from(document.querySelectorAll("#view-codes [role=tab]"));
  for (const t of tabs) {
    t.addEventListener("click", () => selectTab(t));
    // Arrow keys move between the tabs, as the ARIA tabs pattern has it.
    t.addEventListener("keydown", (e) => {
      const i = tabs.indexOf(t);
      const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i + tabs.length - 1) % tabs.length] : null;
      if (next) { e.preventDefault(); selectTab(next); next.focus(); }
    });
  }
  $("offer-form").addEventListener("submit", (e) => { e.preventDefault(); publishOffer(); });
  $("payout-form").addEventListener("submit", (e) => { e.preventDefault(); savePayout(); });
  $("payout-cancel").addEventListener("click", closePayout);
  $("moderation-refresh").addEventListener("click", loadModeration);
  for (const b of document.querySelectorAll("#rotate-buttons button")) b.addEventListener("click", () => rotate(b.dataset.kind, b));
  $("rotate-copy").addEventListener("click", async () => {
    $("rotate-value").select();
    let done = false;
    try { await navigator.clipboard.writeText($("rotate-value").value); done = true; } catch (_) { done = document.execCommand("copy"); }
    $("rotate-copied").textContent = done ? "Copied." : "Select the value and copy it.";
  });
});

window.AttribProduct = { payoutText, holdText, addDecimals, maxDecimal, ratioPermille, daysBetween, chartModel };
