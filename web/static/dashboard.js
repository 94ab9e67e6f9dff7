// The reports dashboard. It calls the same v1 endpoints as any client, with
// the bearer token the user signs in with; the server decides what that
// token may see. Every value from the server is put in the page as text,
// never as HTML.
"use strict";

const TOKEN_KEY = "attrib.token";
const FILTERS = ["offer", "brand", "promo_code", "status", "country", "order_id", "creator"];
const $ = (id) => document.getElementById(id);

let nextCursor = null;

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

// api calls a GET endpoint and returns the response; a JSON error answer
// becomes an Error carrying the server's message and field.
async function api(path) {
  const res = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try {
      const body = await res.json();
      if (body && body.error) msg = body.error.message + (body.error.field ? " (" + body.error.field + ")" : "");
    } catch (_) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  const fresh = res.headers.get("X-Attrib-Fresh-As-Of");
  if (fresh) $("fresh").textContent = "Data includes every event received before " + new Date(fresh).toLocaleString() + ".";
  return res;
}

// dayBound turns a date input (YYYY-MM-DD, the user's day) into the RFC
// 3339 instant where that day starts in the browser's time zone; with
// next, where the following day starts (the API's "to" is exclusive).
function dayBound(value, next) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + (next ? 1 : 0)).toISOString();
}

// query builds the filters' query string; extra adds or overrides keys.
function query(extra) {
  const form = $("filters");
  const q = new URLSearchParams();
  for (const name of FILTERS) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (form.elements.from.value) q.set("from", dayBound(form.elements.from.value, false));
  if (form.elements.to.value) q.set("to", dayBound(form.elements.to.value, true));
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === null) q.delete(k); else q.set(k, v);
  }
  return q.toString();
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = err.message;
  if (err.status === 401) signOut("Your token was not accepted: " + err.message);
}

function money(byCurrency) {
  const parts = Object.keys(byCurrency || {}).sort().map((c) => byCurrency[c] + " " + c);
  return parts.length ? parts.join(", ") : "0";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fmtTime(s) { return s ? new Date(s).toLocaleString() : ""; }

async function loadOrders(append) {
  showError(null);
  const form = $("filters");
  const extra = { sort: form.elements.sort.value, limit: form.elements.limit.value };
  if (append && nextCursor) extra.cursor = nextCursor;
  try {
    const body = await (await api("/v1/reports/orders?" + query(extra))).json();
    const tbody = $("orders").tBodies[0];
    if (!append) tbody.replaceChildren();
    for (const o of body.orders) {
      const tr = document.createElement("tr");
      cell(tr, fmtTime(o.placed_at));
      cell(tr, o.order_id);
      cell(tr, o.brand || o.brand_id);
      cell(tr, o.offer || o.offer_id);
      cell(tr, o.promo_code);
      cell(tr, o.status, "status-" + o.status);
      cell(tr, o.amount + " " + o.currency, "num");
      cell(tr, o.country);
      cell(tr, o.earnings + " " + o.earnings_currency, "num");
      cell(tr, fmtTime(o.updated_at));
      tbody.appendChild(tr);
    }
    if (!append) {
      const t = body.totals || { orders: 0, earnings: {} };
      $("totals").textContent = t.orders + " orders, earning " + money(t.earnings);
    }
    nextCursor = body.next_cursor;
    $("more").hidden = !nextCursor;
  } catch (err) {
    showError(err);
  }
}

async function loadEarnings() {
  const groupBy = $("group_by").value;
  const extra = { group_by: groupBy, tz: $("tz").value.trim() || "UTC" };
  const chart = $("earnings-chart");
  const tbody = $("earnings-table").tBodies[0];
  try {
    const body = await (await api("/v1/reports/earnings?" + query(extra))).json();
    chart.replaceChildren();
    tbody.replaceChildren();
    // One bar per group and currency, scaled per currency.
    const peak = {};
    for (const p of body.series) {
      for (const [cur, v] of Object.entries(p.earnings)) peak[cur] = Math.max(peak[cur] || 0, Math.abs(parseFloat(v)));
    }
    for (const p of body.series) {
      const label = p.name ? p.name + " (" + p.key + ")" : p.key;
      const tr = document.createElement("tr");
      cell(tr, label);
      cell(tr, String(p.orders), "num");
      cell(tr, money(p.earnings), "num");
      tbody.appendChild(tr);
      for (const [cur, v] of Object.entries(p.earnings).sort()) {
        const row = document.createElement("div");
        row.className = "bar";
        const name = document.createElement("span");
        name.textContent = label;
        const track = document.createElement("span");
        track.className = "track";
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.display = "block";
        fill.style.width = (peak[cur] > 0 ? (100 * Math.abs(parseFloat(v))) / peak[cur] : 0).toFixed(1) + "%";
        track.appendChild(fill);
        const amount = document.createElement("span");
        amount.className = "num";
        amount.textContent = v + " " + cur;
        row.append(name, track, amount);
        chart.appendChild(row);
      }
    }
    if (!body.series.length) chart.textContent = "No earnings for these filters.";
  } catch (err) {
    showError(err);
  }
}

// exportCSV downloads the CSV report of the current filters; the token
// goes in a header, so it is fetched and handed to the browser as a file.
async function exportCSV() {
  showError(null);
  try {
    const res = await api("/v1/reports/orders.csv?" + query({ sort: $("filters").elements.sort.value }));
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = "orders.csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showError(err);
  }
}

function refresh() {
  nextCursor = null;
  loadOrders(false);
  loadEarnings();
}

function signIn(t) {
  localStorage.setItem(TOKEN_KEY, t);
  start();
}

function signOut(why) {
  localStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").querySelector("button[type=submit]").hidden = false;
  $("token").hidden = false;
  $("token").value = "";
  if (why) alert(why);
}

function start() {
  if (!token()) return;
  $("app").hidden = false;
  $("signout").hidden = false;
  $("signin").querySelector("button[type=submit]").hidden = true;
  $("token").hidden = true;
  // Analysts' tokens start with at_: they may filter by creator.
  $("creator-filter").hidden = !token().startsWith("at_");
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  $("signin").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("signout").addEventListener("click", () => signOut());
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  $("reset").addEventListener("click", () => { $("filters").reset(); refresh(); });
  $("export").addEventListener("click", exportCSV);
  $("more").addEventListener("click", () => loadOrders(true));
  $("group_by").addEventListener("change", loadEarnings);
  $("tz").addEventListener("change", loadEarnings);
  start();
});
