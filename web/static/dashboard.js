// The reports dashboard. It calls the same v1 endpoints as any client, with
// the bearer token the user signs in with; the server decides what that
// token may see. Every value from the server is put in the page as text,
// never as HTML, and money stays the decimal string the server sent: it is
// never turned into a JavaScript number (bars are scaled with BigInt), so
// "0.10" is shown as "0.10" and nothing is added up in floating point.
"use strict";

// ---------------------------------------------------------------------------
// Pure functions: no DOM, no network. The browser test calls them through
// window.AttribDashboard.

// fracDigits is the number of digits after the point of a decimal string.
function fracDigits(s) {
  const i = String(s).indexOf(".");
  return i < 0 ? 0 : String(s).length - i - 1;
}

// scaled reads a decimal string ("-12.30") as a BigInt in units of
// 10^-scale (scale must be at least its digits after the point); null when
// it is not a decimal.
function scaled(s, scale) {
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(String(s).trim());
  if (!m) return null;
  const frac = (m[3] || "").padEnd(scale, "0").slice(0, scale);
  const v = BigInt(m[2] + frac);
  return m[1] === "-" ? -v : v;
}

// barPermille scales decimal strings to bar lengths: |v| * 1000 / max |v|,
// rounded down, exactly (0 for all when every value is 0).
function barPermille(values) {
  const scale = values.reduce((s, v) => Math.max(s, fracDigits(v)), 0);
  const abs = values.map((v) => {
    const n = scaled(v, scale);
    if (n === null) return 0n;
    return n < 0n ? -n : n;
  });
  const peak = abs.reduce((p, a) => (a > p ? a : p), 0n);
  return abs.map((a) => (peak === 0n ? 0 : Number((a * 1000n) / peak)));
}

// isNegative says whether a decimal string is below zero.
function isNegative(s) {
  const n = scaled(s, fracDigits(s));
  return n !== null && n < 0n;
}

// isZero says whether a decimal string is zero.
function isZero(s) {
  const n = scaled(s, fracDigits(s));
  return n !== null && n === 0n;
}

// percent turns a rate ("0.6256") into a percentage ("62.56 %") by moving
// the decimal point, never through a float; "" for null.
function percent(rate) {
  if (rate === null || rate === undefined) return "";
  const m = /^(\d+)(?:\.(\d*))?$/.exec(String(rate));
  if (!m) return String(rate);
  const frac = (m[2] || "").padEnd(2, "0");
  const whole = (m[1] + frac.slice(0, 2)).replace(/^0+(?=\d)/, "");
  const rest = frac.slice(2);
  return whole + (rest ? "." + rest : "") + " %";
}

// moneyList formats amounts per currency ({"USD": "15.00", "RUB":
// "300.00"}) as "300.00 RUB", "15.00 USD", sorted by currency.
function moneyList(byCurrency) {
  return Object.keys(byCurrency || {}).sort().map((c) => byCurrency[c] + " " + c);
}

// validTimeZone says whether the browser knows tz as an IANA time zone.
function validTimeZone(tz) {
  if (!tz || tz === "Local") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch (_) {
    return false;
  }
}

const wallFormats = new Map();

// wallParts is the calendar date and wall-clock time of the instant ms in
// the time zone tz.
function wallParts(ms, tz) {
  let f = wallFormats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    wallFormats.set(tz, f);
  }
  const p = {};
  for (const part of f.formatToParts(new Date(ms))) p[part.type] = part.value;
  return p;
}

// utcMillis is the instant whose UTC calendar date and time are the given
// ones (years below 100 included, which Date.UTC would move to 19xx).
function utcMillis(y, mo, d, h, mi, s) {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h || 0, mi || 0, s || 0, 0);
  return t.getTime();
}

// zoneOffset is how far the wall clock of tz is ahead of UTC at ms.
function zoneOffset(ms, tz) {
  const p = wallParts(ms, tz);
  return utcMillis(+p.year, +p.month, +p.day, +p.hour % 24, +p.minute, +p.second) - ms;
}

// dayStart turns a date input's value (YYYY-MM-DD) into the RFC 3339
// instant where that day starts in tz; with next, where the following day
// starts (the API's "to" is exclusive; the page's "To" includes its day).
// null when the value is not a date.
function dayStart(value, tz, next) {
  const m = /^(\d{4,6})-(\d{2})-(\d{2})$/.exec(value || "");
  if (!m) return null;
  const wall = utcMillis(+m[1], +m[2], +m[3] + (next ? 1 : 0));
  let t = wall - zoneOffset(wall, tz);
  t = wall - zoneOffset(t, tz); // the offset at the instant itself (a DST change that day)
  return new Date(t).toISOString().replace(".000Z", "Z");
}

// fmtTime shows an RFC 3339 instant as "YYYY-MM-DD HH:MM:SS" in tz.
function fmtTime(s, tz) {
  if (!s) return "";
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return String(s);
  const p = wallParts(ms, tz);
  return p.year + "-" + p.month + "-" + p.day + " " + (p.hour === "24" ? "00" : p.hour) + ":" + p.minute + ":" + p.second;
}

const REASONS = {
  no_code: "no code",
  unknown_code: "unknown code",
  code_not_active: "code not active yet",
  code_revoked: "code revoked",
};

// reasonText is the words for an unattributed order's reason.
function reasonText(r) { return REASONS[r] || r; }

// ---------------------------------------------------------------------------
// The page.

// TOKEN_KEY names the token in the tab's sessionStorage: it lasts as long
// as the tab, and Sign out removes it.
const TOKEN_KEY = "attrib.token";
const ORDER_FILTERS = ["offer", "brand", "promo_code", "status", "country", "order_id", "creator"];
// FILTER_ROLES are the roles that may use a filter (the others never send it).
const FILTER_ROLES = { creator: ["analyst", "brand"], brand: ["creator", "analyst"] };
const FIELD_INPUTS = ["from", "to", "tz"].concat(ORDER_FILTERS);
// REPORT_VIEWS show the filters and reload when they change.
const REPORT_VIEWS = ["orders", "earnings", "summary", "unattributed"];
// ROLE_VIEWS are the screens of each role, its home first.
const ROLE_VIEWS = {
  creator: ["brands", "offer", "codes", "orders", "earnings", "credentials"],
  brand: ["offers", "moderation", "brand-codes", "shop", "orders", "earnings", "credentials"],
  analyst: ["orders", "earnings", "summary", "unattributed", "credentials"],
};
const VIEWS = REPORT_VIEWS.concat(["brands", "offer", "codes", "offers", "moderation", "brand-codes", "shop", "credentials"]);
const $ = (id) => document.getElementById(id);

const state = {
  token: "",
  role: "", // "creator", "brand" or "analyst"
  param: "", // the view's argument: the offer id of #offer/<id>
  // applied is what the reports show: the filters as they were when the
  // user last applied them. Paging and the CSV use it, never the form's
  // current (maybe edited, not applied) values.
  applied: null,
  generation: 0, // bumped at every apply; a view loaded for an older one is stale
  view: "orders",
  brandNames: new Map(),
  creatorNames: new Map(), // from the summary by creator, for the explanations
};

// Per view: the request in flight (to abort when a newer one starts), the
// generation it shows, the next page's cursor and how many rows it shows.
const views = {};
for (const v of VIEWS) views[v] = { ctl: null, generation: -1, cursor: null, shown: 0 };

// ApiError is an error answer of the API, or no answer at all.
class ApiError extends Error {
  constructor(message, status, field) {
    super(message);
    this.status = status || 0;
    this.field = field || "";
  }
}

// statusMessage says in plain words what an error status means, with the
// server's own message (msg) when it sent one.
function statusMessage(status, statusText, msg, retryAfter) {
  const with_ = msg ? ": " + msg : "";
  switch (status) {
    case 401: return "Your token was not accepted (401)" + with_ + ".";
    case 403: return "Not allowed for this token (403)" + with_ + ".";
    case 404: return "Not found (404)" + with_ + ".";
    case 409: return "Conflict with the current state (409)" + with_ + ".";
    case 413: return "Too large (413)" + with_ + ".";
    case 429: return "Too many requests (429): wait " + (retryAfter ? retryAfter + " s" : "a moment") +
      " and try again; nothing of this request was recorded.";
    case 503: return "The engine cannot do this right now (503): a service it depends on is down; nothing was recorded, " +
      "retry later" + with_ + ".";
  }
  const code = status + (statusText ? " " + statusText : "");
  if (status >= 500) return "The server could not answer (" + code + ")" + with_ + ".";
  return msg ? msg : "The server refused the request (" + code + ").";
}

// api calls an endpoint (GET unless init.method says otherwise; init.body
// is sent as JSON) and returns the response. An error answer becomes an
// ApiError with the server's message and field; a network failure one
// saying that the server cannot be reached; an abort is rethrown as is.
async function api(path, signal, token, init) {
  let res;
  const opts = { headers: { Authorization: "Bearer " + (token || state.token) }, signal, cache: "no-store" };
  if (init && init.method) opts.method = init.method;
  if (init && init.body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(init.body);
  }
  try {
    res = await fetch(path, opts);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("Cannot reach the server (" + err.message + "). Check that attrib is running, then retry.");
  }
  if (!res.ok) {
    let msg = "", field = "";
    try {
      const body = await res.json();
      if (body && body.error) {
        msg = body.error.message || body.error.code || "";
        field = body.error.field || "";
      }
    } catch (_) { /* not JSON: a proxy's page */ }
    msg = statusMessage(res.status, res.statusText, msg, res.headers.get("Retry-After"));
    throw new ApiError(msg, res.status, field);
  }
  const fresh = res.headers.get("X-Attrib-Fresh-As-Of");
  if (fresh && state.applied) {
    $("fresh").textContent = "The reports include every event received up to " + fmtTime(fresh, state.applied.tz) + " (" + state.applied.tz + ").";
  }
  return res;
}

// json reads a response's JSON body; a body cut short is an ApiError.
async function json(res) {
  try {
    return await res.json();
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The server's answer was cut short or unreadable (" + err.message + "); retry.");
  }
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// keyCell shows a group's name, with its key (an id) below it when the two
// differ; a group without a name shows its key alone.
function keyCell(tr, name, key, cls) {
  const td = cell(tr, name || key, cls);
  if (name && key && name !== key) {
    td.appendChild(document.createElement("br"));
    const k = document.createElement("span");
    k.className = "key";
    k.textContent = key;
    td.appendChild(k);
  }
  return td;
}

// moneyCell shows amounts per currency, one per line.
function moneyCell(tr, byCurrency) {
  const td = cell(tr, "", "num");
  const list = moneyList(byCurrency);
  if (!list.length) td.textContent = "–";
  list.forEach((m, i) => {
    if (i) td.appendChild(document.createElement("br"));
    td.appendChild(document.createTextNode(m));
  });
  return td;
}

function emptyRow(tbody, columns, text) {
  const tr = document.createElement("tr");
  const td = cell(tr, text, "empty");
  td.colSpan = columns;
  tbody.appendChild(tr);
}

// showError shows err in the box with id boxId (null hides it), with a
// Retry button when retry is given, and marks the filter the server named.
function showError(boxId, err, retry) {
  const box = $(boxId);
  box.replaceChildren();
  if (!err) { box.hidden = true; return; }
  if (err.status === 401) { signOut(err.message + " Sign in again."); return; }
  box.append(document.createTextNode(err.message));
  if (retry && (err.status === 0 || err.status === 429 || err.status >= 500)) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.textContent = "Retry";
    b.addEventListener("click", retry);
    box.append(b);
  }
  box.hidden = false;
  markField(err.field);
}

// markField marks the filter input the server named as invalid.
function markField(field) {
  const form = $("filters");
  const el = field && FIELD_INPUTS.includes(field) ? form.elements[field] : null;
  if (el) el.setAttribute("aria-invalid", "true");
}

function clearMarks() {
  for (const name of FIELD_INPUTS) $("filters").elements[name].removeAttribute("aria-invalid");
}

// ---------------------------------------------------------------------------
// Filters.

// readFilters reads the form: the filters to apply, or the first problem
// the browser can already see (an incomplete date, an unknown time zone).
function readFilters() {
  const form = $("filters");
  const tz = form.elements.tz.value.trim();
  if (!validTimeZone(tz)) return { error: new ApiError("Time zone: \"" + tz + "\" is not an IANA time zone such as Europe/Moscow or UTC.", 400, "tz") };
  const f = { tz, params: {} };
  for (const name of ORDER_FILTERS) {
    if (FILTER_ROLES[name] && !FILTER_ROLES[name].includes(state.role)) continue;
    const v = form.elements[name].value.trim();
    if (v) f.params[name] = v;
  }
  for (const name of ["from", "to"]) {
    const el = form.elements[name];
    if (el.validity && el.validity.badInput) return { error: new ApiError((name === "from" ? "From" : "To") + ": not a complete date.", 400, name) };
    if (el.value) f.params[name] = dayStart(el.value, tz, name === "to");
  }
  if (f.params.from && f.params.to && Date.parse(f.params.to) <= Date.parse(f.params.from)) {
    return { error: new ApiError("To: must not be before From.", 400, "to") };
  }
  return f;
}

function params(names, extra) {
  const q = new URLSearchParams();
  for (const name of names) {
    const v = state.applied.params[name];
    if (v) q.set(name, v);
  }
  for (const [k, v] of Object.entries(extra || {})) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  return q.toString();
}

const orderParams = (extra) => params(ORDER_FILTERS.concat(["from", "to"]), extra);
const periodParams = (extra) => params(["from", "to"], extra);

// apply takes the form's filters and reloads the view on screen; the other
// views reload when they are next shown.
function apply() {
  clearMarks();
  showError("filters-error", null);
  const f = readFilters();
  if (f.error) {
    showError("filters-error", f.error);
    return;
  }
  state.applied = f;
  state.generation++;
  load(state.view);
}

// setFilter sets one filter (from a summary row) and shows its orders.
function setFilter(name, value) {
  const form = $("filters");
  for (const n of ORDER_FILTERS) form.elements[n].value = "";
  form.elements[name].value = value;
  location.hash = "#orders";
  selectView();
  apply();
}

// ---------------------------------------------------------------------------
// Views.

// begin starts a request of view v: aborts the one in flight and marks the
// section busy. The returned controller identifies this request.
function begin(v) {
  const s = views[v];
  if (s.ctl) s.ctl.abort();
  s.ctl = new AbortController();
  $("view-" + v).setAttribute("aria-busy", "true");
  return s.ctl;
}

function end(v, ctl) {
  const s = views[v];
  if (s.ctl !== ctl) return false; // a newer request took over
  s.ctl = null;
  $("view-" + v).removeAttribute("aria-busy");
  return true;
}

function load(v) {
  switch (v) {
    case "orders": return loadOrders(false);
    case "earnings": loadChart(); return loadEarnings();
    case "summary": return loadSummary();
    case "unattributed": return loadUnattributed(false);
  }
  return loadProductView(v, state.param);
}

function noteBrand(id, name) { if (id && name) state.brandNames.set(id, name); }

// clearPaged empties a paged list (its rows, its count, its paging) so that
// nothing of an earlier query stays under an error.
function clearPaged(name, s, tbody, more) {
  tbody.replaceChildren();
  $(name + "-shown").textContent = "";
  s.cursor = null;
  s.shown = 0;
  more.hidden = true;
}

async function loadOrders(append) {
  const s = views.orders;
  if (append && (!s.cursor || s.ctl)) return; // nothing more, or a page already coming
  const ctl = begin("orders");
  const more = $("orders-more");
  more.disabled = true;
  showError("orders-error", null);
  const generation = state.generation;
  const q = orderParams({ sort: $("sort").value, limit: $("limit").value, cursor: append ? s.cursor : null });
  const tbody = $("orders").tBodies[0];
  if (!append) $("orders-shown").textContent = "Loading…";
  try {
    const body = await json(await api("/v1/reports/orders?" + q, ctl.signal));
    if (s.ctl !== ctl) return;
    if (!append) {
      tbody.replaceChildren();
      s.shown = 0;
      const t = body.totals || { orders: 0, earnings: {} };
      const earned = moneyList(t.earnings);
      $("orders-totals").textContent = t.orders + (t.orders === 1 ? " order" : " orders") + " match; earnings " +
        (earned.length ? earned.join(", ") : "none") + ".";
      s.total = t.orders;
    }
    for (const o of body.orders) tbody.appendChild(orderRow(o));
    s.shown += body.orders.length;
    s.cursor = body.next_cursor || null;
    s.generation = generation;
    if (!s.shown) emptyRow(tbody, 10, "No orders match these filters.");
    $("orders-shown").textContent = s.shown ? "Showing " + s.shown + " of " + s.total + "." : "";
    more.hidden = !s.cursor;
    if (append && !s.cursor) $("orders-shown").focus();
  } catch (err) {
    if (err.name === "AbortError" || s.ctl !== ctl) return;
    if (!append) {
      // Never leave the rows and totals of other filters under an error.
      clearPaged("orders", s, tbody, more);
      $("orders-totals").textContent = "";
    }
    showError("orders-error", err, () => loadOrders(append));
  } finally {
    more.disabled = false;
    end("orders", ctl);
  }
}

function orderRow(o) {
  const tz = state.applied.tz;
  noteBrand(o.brand_id, o.brand);
  const tr = document.createElement("tr");
  cell(tr, fmtTime(o.placed_at, tz));
  const id = cell(tr, "");
  if (state.role === "analyst") id.appendChild(explainButton(o.brand_id, o.order_id));
  else id.textContent = o.order_id;
  if (state.role === "brand") {
    const creator = cell(tr, o.creator || o.creator_id);
    creator.title = o.creator_id || "";
  } else {
    const brand = cell(tr, o.brand || o.brand_id);
    brand.title = o.brand_id;
  }
  const offer = cell(tr, o.offer || o.offer_id, "wrap");
  offer.title = o.offer_id;
  cell(tr, o.promo_code);
  cell(tr, o.status, "status-" + o.status);
  cell(tr, o.amount + " " + o.currency, "num");
  cell(tr, o.country);
  cell(tr, o.earnings + " " + o.earnings_currency, "num");
  cell(tr, fmtTime(o.updated_at, tz));
  return tr;
}

async function loadEarnings() {
  const s = views.earnings;
  const ctl = begin("earnings");
  showError("earnings-error", null);
  const generation = state.generation;
  const groupBy = $("earnings-group").value;
  const tz = state.applied.tz;
  const tbody = $("earnings").tBodies[0];
  try {
    const body = await json(await api("/v1/reports/earnings?" + orderParams({ group_by: groupBy, tz }), ctl.signal));
    if (s.ctl !== ctl) return;
    tbody.replaceChildren();
    $("earnings-key").textContent = { day: "Day (" + tz + ")", offer: "Offer", brand: "Brand", status: "Status", creator: "Creator" }[groupBy] || groupBy;
    $("earnings-note").textContent = "The orders that match the filters, grouped by " + (groupBy === "day" ? "day in " + tz : groupBy) +
      "; bars are scaled per currency.";
    // Bars per currency, scaled to the largest amount in that currency.
    const perCurrency = {};
    for (const p of body.series) for (const [c, v] of Object.entries(p.earnings || {})) (perCurrency[c] = perCurrency[c] || []).push(v);
    const scale = {};
    for (const [c, vs] of Object.entries(perCurrency)) {
      const permille = barPermille(vs);
      scale[c] = new Map(vs.map((v, i) => [v, permille[i]]));
    }
    for (const p of body.series) {
      if (groupBy === "brand") noteBrand(p.key, p.name);
      const tr = document.createElement("tr");
      keyCell(tr, p.name, p.key, groupBy === "status" ? "status-" + p.key : "");
      cell(tr, p.orders, "num");
      moneyCell(tr, p.earnings);
      const bars = cell(tr, "", "barcol");
      for (const c of Object.keys(p.earnings || {}).sort()) {
        const v = p.earnings[c];
        const bar = document.createElement("span");
        bar.className = "bar" + (isNegative(v) ? " negative" : isZero(v) ? " zero" : "");
        bar.style.width = (scale[c].get(v) / 10).toFixed(1) + "%";
        bar.title = v + " " + c;
        bars.appendChild(bar);
      }
      tbody.appendChild(tr);
    }
    if (!body.series.length) emptyRow(tbody, 4, "No earnings for these filters.");
    s.generation = generation;
  } catch (err) {
    if (err.name === "AbortError" || s.ctl !== ctl) return;
    tbody.replaceChildren();
    showError("earnings-error", err, loadEarnings);
  } finally {
    end("earnings", ctl);
  }
}

// UNATTRIBUTED_PAGE is how many unattributed orders a page has.
const UNATTRIBUTED_PAGE = 100;

// Summary groups whose key is an orders filter: a row links to its orders.
const SUMMARY_FILTER = { brand: "brand", offer: "offer", creator: "creator", country: "country" };

async function loadSummary() {
  const s = views.summary;
  const ctl = begin("summary");
  showError("summary-error", null);
  const generation = state.generation;
  const groupBy = $("summary-group").value;
  const table = $("summary");
  const tbody = table.tBodies[0];
  try {
    const body = await json(await api("/v1/analytics/summary?" + periodParams({ group_by: groupBy }), ctl.signal));
    if (s.ctl !== ctl) return;
    tbody.replaceChildren();
    table.tFoot.replaceChildren();
    $("summary-key").textContent = $("summary-group").selectedOptions[0].textContent.replace(/^./, (c) => c.toUpperCase());
    for (const g of body.groups) {
      if (groupBy === "brand") noteBrand(g.key, g.name);
      if (groupBy === "creator" && g.key && g.name) state.creatorNames.set(g.key, g.name);
      tbody.appendChild(summaryRow(g, groupBy));
    }
    if (!body.groups.length) emptyRow(tbody, 7, "No orders in this period.");
    else table.tFoot.appendChild(summaryRow(Object.assign({ name: "All" }, body.totals), ""));
    s.generation = generation;
  } catch (err) {
    if (err.name === "AbortError" || s.ctl !== ctl) return;
    tbody.replaceChildren();
    table.tFoot.replaceChildren();
    showError("summary-error", err, loadSummary);
  } finally {
    end("summary", ctl);
  }
}

function summaryRow(g, groupBy) {
  const tr = document.createElement("tr");
  keyCell(tr, g.name, g.key);
  cell(tr, g.orders, "num");
  moneyCell(tr, g.gmv);
  moneyCell(tr, g.earnings);
  cell(tr, percent(g.approval_rate), "num");
  const rate = cell(tr, g.attribution_rate === null ? "–" : percent(g.attribution_rate), "num");
  if (g.attribution_rate === null) rate.title = "Unattributed orders have no " + groupBy + ".";
  const link = cell(tr, "");
  const filter = SUMMARY_FILTER[groupBy];
  if (filter && g.key) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = "Orders";
    b.setAttribute("aria-label", "Orders of " + (g.name || g.key));
    b.addEventListener("click", () => setFilter(filter, g.key));
    link.appendChild(b);
  }
  return tr;
}

async function loadUnattributed(append) {
  const s = views.unattributed;
  if (append && (!s.cursor || s.ctl)) return;
  const ctl = begin("unattributed");
  const more = $("unattributed-more");
  more.disabled = true;
  showError("unattributed-error", null);
  const generation = state.generation;
  const tbody = $("unattributed").tBodies[0];
  if (!append) $("unattributed-shown").textContent = "Loading…";
  try {
    if (!state.brandNames.size) await loadNames(ctl.signal);
    const q = periodParams({ limit: UNATTRIBUTED_PAGE, cursor: append ? s.cursor : null });
    const body = await json(await api("/v1/analytics/unattributed?" + q, ctl.signal));
    if (s.ctl !== ctl) return;
    if (!append) {
      tbody.replaceChildren();
      s.shown = 0;
    }
    const tz = state.applied.tz;
    for (const u of body.orders) {
      const tr = document.createElement("tr");
      cell(tr, fmtTime(u.placed_at, tz));
      const brand = cell(tr, state.brandNames.get(u.brand_id) || u.brand_id);
      brand.title = u.brand_id;
      cell(tr, "").appendChild(explainButton(u.brand_id, u.order_id));
      cell(tr, (u.promo_codes || []).join(", ") || "–");
      cell(tr, reasonText(u.reason));
      tbody.appendChild(tr);
    }
    s.shown += body.orders.length;
    s.cursor = body.next_cursor || null;
    s.generation = generation;
    if (!s.shown) emptyRow(tbody, 5, "No unattributed orders in this period.");
    $("unattributed-shown").textContent = s.shown ? "Showing " + s.shown + (s.cursor ? "; there are more." : ", all there are.") : "";
    more.hidden = !s.cursor;
    if (append && !s.cursor) $("unattributed-shown").focus();
  } catch (err) {
    if (err.name === "AbortError" || s.ctl !== ctl) return;
    if (!append) clearPaged("unattributed", s, tbody, more);
    showError("unattributed-error", err, () => loadUnattributed(append));
  } finally {
    more.disabled = false;
    end("unattributed", ctl);
  }
}

// loadNames fills the brand names (the unattributed orders carry only ids)
// and the suggestions of the offer and brand filters from the active
// offers. They are only a help: a failure leaves the ids and no
// suggestions, and is logged.
async function loadNames(signal) {
  try {
    const body = await json(await api("/v1/offers?pricing_model=cpa", signal));
    const offers = $("offer-list"), brands = $("brand-list");
    offers.replaceChildren();
    brands.replaceChildren();
    const seen = new Set();
    for (const o of body.offers || []) {
      noteBrand(o.brand_id, o.brand);
      const opt = document.createElement("option");
      opt.value = o.name;
      offers.appendChild(opt);
      if (!seen.has(o.brand)) {
        seen.add(o.brand);
        const b = document.createElement("option");
        b.value = o.brand;
        brands.appendChild(b);
      }
    }
  } catch (err) {
    if (err.name === "AbortError") throw err;
    console.warn("offers for names and suggestions:", err.message);
  }
}

// ---------------------------------------------------------------------------
// One order explained (analysts).

function explainButton(brandID, orderID) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link";
  b.textContent = orderID;
  b.title = "Explain this order";
  b.addEventListener("click", () => explain(brandID, orderID));
  return b;
}

let explainCtl = null;
let explainOpener = null;

async function explain(brandID, orderID) {
  const dialog = $("explain");
  if (!dialog.open) explainOpener = document.activeElement;
  const bodyEl = $("explain-body");
  $("explain-title").textContent = "Order " + orderID;
  bodyEl.replaceChildren(document.createTextNode("Loading…"));
  showErrorIn("explain-error", null);
  if (!dialog.open) dialog.showModal();
  if (explainCtl) explainCtl.abort();
  const ctl = explainCtl = new AbortController();
  try {
    const path = "/v1/analytics/orders/{brand_id}/{order_id}"
      .replace("{brand_id}", encodeURIComponent(brandID)).replace("{order_id}", encodeURIComponent(orderID));
    const e = await json(await api(path, ctl.signal));
    if (explainCtl !== ctl) return;
    bodyEl.replaceChildren(explanation(e));
  } catch (err) {
    if (err.name === "AbortError" || explainCtl !== ctl) return;
    bodyEl.replaceChildren();
    if (err.status === 401) { dialog.close(); signOut(err.message + " Sign in again."); return; }
    showErrorIn("explain-error", err);
  }
}

// showErrorIn shows a message in a box, without touching the filters.
function showErrorIn(boxId, err) {
  const box = $(boxId);
  box.textContent = err ? err.message : "";
  box.hidden = !err;
}

function explanation(e) {
  const tz = state.applied.tz;
  const dl = document.createElement("dl");
  const add = (label, value) => {
    if (value === undefined || value === null || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    dl.append(dt, dd);
  };
  add("Brand", (state.brandNames.get(e.brand_id) ? state.brandNames.get(e.brand_id) + " " : "") + "(" + e.brand_id + ")");
  const creator = state.creatorNames.get(e.creator_id);
  add("Attributed", e.attributed ? "yes, to creator " + (creator ? creator + " (" + e.creator_id + ")" : e.creator_id) : "no: " + reasonText(e.reason));
  add("Offer", e.offer ? e.offer + " (" + e.offer_id + ")" : e.offer_id);
  add("Promo code", e.promo_code);
  add("Platform", e.platform);
  add("Status", e.status);
  add("Amount", e.amount + " " + e.currency);
  add("Net of refunds", e.net_amount + " " + e.currency);
  if (e.earnings !== undefined) add("Earnings", e.earnings + " " + e.earnings_currency);
  if (e.terms) {
    const p = e.terms.payout;
    add("Terms", (p.type === "percent" ? p.value + " % of the order" : p.value + " " + p.currency + " per order") +
      ", hold " + e.terms.hold_days + " days");
  }
  add("Country", e.country);
  add("Placed", fmtTime(e.placed_at, tz));
  add("Last event", fmtTime(e.last_event_at, tz));
  add("Updated", fmtTime(e.updated_at, tz));
  const wrap = document.createElement("div");
  wrap.appendChild(dl);
  const candidates = (e.decision && e.decision.candidates) || [];
  if (candidates.length) {
    const h = document.createElement("h3");
    h.textContent = "Codes on the order";
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const t of ["Code", "Outcome", "Creator", "Active from", "Revoked at"]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = t;
      head.appendChild(th);
    }
    const tbody = table.createTBody();
    for (const c of candidates) {
      const tr = tbody.insertRow();
      cell(tr, c.code === c.normalized_code || !c.normalized_code ? c.code : c.code + " (" + c.normalized_code + ")");
      cell(tr, String(c.outcome || "").replace(/_/g, " "));
      cell(tr, c.creator_id);
      cell(tr, fmtTime(c.active_from, tz));
      cell(tr, fmtTime(c.revoked_at, tz));
    }
    wrap.append(h, table);
  }
  return wrap;
}

// ---------------------------------------------------------------------------
// CSV export: the token goes in a header, so the file is fetched and handed
// to the browser as a download.

let exporting = null;

async function exportCSV() {
  if (exporting) return;
  const button = $("export");
  const status = $("export-status");
  showError("orders-error", null);
  exporting = new AbortController();
  button.disabled = true;
  status.textContent = "Preparing the CSV…";
  try {
    const res = await api("/v1/reports/orders.csv?" + orderParams({ sort: $("sort").value }), exporting.signal);
    let blob;
    try {
      blob = await res.blob();
    } catch (err) {
      throw new ApiError("The export was cut short (" + err.message + "); nothing was saved. Retry.");
    }
    const m = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
    const name = m ? m[1] : "orders.csv";
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    status.textContent = "Saved " + name + " (" + blob.size + " bytes).";
  } catch (err) {
    status.textContent = "";
    if (err.name !== "AbortError") showError("orders-error", err, exportCSV);
  } finally {
    exporting = null;
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Navigation, sign in and out.

// selectView shows the view the location's hash names (the orders when it
// names none this token may see).
function selectView() {
  const hash = location.hash.replace(/^#/, "");
  const slash = hash.indexOf("/");
  let v = slash < 0 ? hash : hash.slice(0, slash);
  state.param = slash < 0 ? "" : decodeURIComponent(hash.slice(slash + 1));
  const allowed = ROLE_VIEWS[state.role] || [];
  if (!allowed.includes(v) || (v === "offer" && !state.param)) v = allowed[0] || "orders";
  state.view = v;
  for (const name of VIEWS) $("view-" + name).hidden = name !== v;
  $("filters").hidden = !REPORT_VIEWS.includes(v);
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === v || (v === "offer" && a.dataset.view === "brands")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  return v;
}

// showView selects the view and loads it unless it already shows the
// applied filters.
function showView() {
  const v = selectView();
  if (!REPORT_VIEWS.includes(v)) load(v);
  else if (state.applied && views[v].generation !== state.generation && !views[v].ctl) load(v);
}

// whoIs finds the role of a token by asking the API what it may read: only
// an analyst reads the unattributed orders; of the others, a creator
// lists the brands and a brand (whose API key may not) its code requests.
async function whoIs(token) {
  try {
    await api("/v1/analytics/unattributed?limit=1", null, token);
    return "analyst";
  } catch (err) {
    if (err.status !== 403) throw err;
  }
  try {
    await api("/v1/brands?pricing_model=cpa&q=", null, token);
    return "creator";
  } catch (err) {
    if (err.status !== 403) throw err;
  }
  try {
    await api("/v1/code-requests?status=moderation", null, token);
    return "brand";
  } catch (err) {
    if (err.status === 403) {
      throw new ApiError("This token is not a creator's, a brand's or an analyst's: sign in with one of theirs " +
        "(the operator's token will not do).", 403);
    }
    throw err;
  }
}

function showSignIn(message, retry) {
  $("app").hidden = true;
  $("who").hidden = true;
  $("signin-section").hidden = false;
  const box = $("signin-error");
  box.replaceChildren();
  if (message) {
    box.append(document.createTextNode(message));
    if (retry) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Retry";
      b.addEventListener("click", retry);
      box.append(b);
    }
  }
  box.hidden = !message;
  $("token").setAttribute("aria-invalid", message && !retry ? "true" : "false");
  $("token").focus();
}

async function signIn(token) {
  if (!token) { showSignIn("Paste a token first."); return; }
  const button = $("signin-button");
  button.disabled = true;
  showSignIn("");
  try {
    state.role = await whoIs(token);
  } catch (err) {
    const stored = sessionStorage.getItem(TOKEN_KEY) === token;
    if (err.status === 401 || err.status === 403) {
      if (stored) sessionStorage.removeItem(TOKEN_KEY);
      showSignIn(err.message);
    } else {
      // The server is down or failing: keep the token to retry with.
      sessionStorage.setItem(TOKEN_KEY, token);
      showSignIn(err.message, () => signIn(token));
    }
    return;
  } finally {
    button.disabled = false;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  $("token").removeAttribute("aria-invalid");
  $("signin-section").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("role").textContent = "Signed in as " + { analyst: "an analyst (every creator)", brand: "a brand", creator: "a creator" }[state.role];
  for (const el of document.querySelectorAll("[data-roles]")) el.hidden = !el.dataset.roles.split(" ").includes(state.role);
  for (const [name, roles] of Object.entries(FILTER_ROLES)) if (!roles.includes(state.role)) $("filters").elements[name].value = "";
  loadNames(null); // suggestions for the filters; errors are only logged
  const v = selectView();
  if (!REPORT_VIEWS.includes(v)) load(v);
  // The reports load their filters now and the view when it is shown.
  const f = readFilters();
  state.applied = f.error ? { tz: "UTC", params: {} } : f;
  state.generation++;
  if (REPORT_VIEWS.includes(v)) load(v);
}

function signOut(message) {
  for (const v of VIEWS) if (views[v].ctl) views[v].ctl.abort();
  if (exporting) exporting.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = "";
  state.role = "";
  resetProduct();
  state.applied = null;
  state.brandNames.clear();
  state.creatorNames.clear();
  for (const v of VIEWS) {
    Object.assign(views[v], { ctl: null, generation: -1, cursor: null, shown: 0 });
    $("view-" + v).removeAttribute("aria-busy");
  }
  for (const id of ["orders", "earnings", "summary", "unattributed"]) $(id).tBodies[0].replaceChildren();
  $("summary").tFoot.replaceChildren();
  for (const id of ["orders-totals", "orders-shown", "unattributed-shown", "export-status", "fresh"]) $(id).textContent = "";
  for (const id of ["orders-more", "unattributed-more"]) $(id).hidden = true;
  for (const id of ["filters-error", "orders-error", "earnings-error", "summary-error", "unattributed-error"]) $(id).hidden = true;
  $("filters").reset();
  $("filters").elements.tz.value = defaultTimeZone();
  $("earnings-group").value = "day"; // "creator" is a brand's only
  clearMarks();
  if ($("explain").open) $("explain").close();
  showSignIn(message || "");
}

function defaultTimeZone() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return validTimeZone(tz) ? tz : "UTC";
}

document.addEventListener("DOMContentLoaded", () => {
  const form = $("filters");
  form.elements.tz.value = defaultTimeZone();
  if (Intl.supportedValuesOf) {
    const list = $("tz-list");
    for (const tz of ["UTC"].concat(Intl.supportedValuesOf("timeZone"))) {
      const o = document.createElement("option");
      o.value = tz;
      list.appendChild(o);
    }
  }
  $("signin").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("signout").addEventListener("click", () => signOut(""));
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); apply(); });
  // Enter in a select does not submit a form: a new status applies at once.
  form.elements.status.addEventListener("change", apply);
  $("reset-filters").addEventListener("click", () => {
    form.reset();
    form.elements.tz.value = defaultTimeZone();
    apply();
  });
  // Sort and page size change only the orders' listing: reload it now.
  $("sort").addEventListener("change", () => { if (state.applied) loadOrders(false); });
  $("limit").addEventListener("change", () => { if (state.applied) loadOrders(false); });
  $("export").addEventListener("click", exportCSV);
  $("orders-more").addEventListener("click", () => loadOrders(true));
  $("unattributed-more").addEventListener("click", () => loadUnattributed(true));
  $("earnings-group").addEventListener("change", () => { if (state.applied) loadEarnings(); });
  $("summary-group").addEventListener("change", () => { if (state.applied) loadSummary(); });
  $("explain-close").addEventListener("click", () => $("explain").close());
  // Back to the order the dialog was opened from (Escape closes it too).
  $("explain").addEventListener("close", () => {
    if (explainCtl) explainCtl.abort();
    if (explainOpener && explainOpener.isConnected) explainOpener.focus();
    explainOpener = null;
  });
  window.addEventListener("hashchange", () => { if (state.role) showView(); });
  // A sign-in link (<base>/#token=<token>) signs this tab in; the token
  // leaves the address bar (and the history) at once.
  let token = sessionStorage.getItem(TOKEN_KEY);
  const link = /^#token=([^&]+)/.exec(location.hash);
  if (link) {
    token = decodeURIComponent(link[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (token) signIn(token);
  else showSignIn("");
});

window.AttribDashboard = { barPermille, percent, moneyList, dayStart, fmtTime, validTimeZone, scaled, isNegative, isZero, reasonText, statusMessage };
