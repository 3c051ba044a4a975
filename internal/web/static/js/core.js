// Shared plumbing for every page: the API client (token, errors, 401), the live
// feed from /api/v1/stream, a tiny event bus, DOM and number helpers, and the
// Prometheus text parser the system page uses.
import { t } from "./i18n.js";

const TOKEN_KEY = "lookout-token";
const TRACE_KEY = "lookout-trace-url";

// The token lives in sessionStorage: entered once per tab session, never
// written to disk the way localStorage would.
export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(v) {
  if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
}

// traceURL is the link template for trace ids ("{trace_id}" is replaced). A
// ?trace_url= on the page's address sets it, so a team can hand out one link.
export function traceURL() { return localStorage.getItem(TRACE_KEY) || ""; }
export function setTraceURL(v) {
  if (v) localStorage.setItem(TRACE_KEY, v); else localStorage.removeItem(TRACE_KEY);
}

// --- event bus --------------------------------------------------------------

const listeners = new Map();
/** on subscribes fn to kind and returns the function that unsubscribes it. */
export function on(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
  return () => listeners.get(kind).delete(fn);
}
export function emit(kind, data) {
  for (const fn of [...(listeners.get(kind) || [])]) {
    try { fn(data); } catch (e) { console.warn("listener for", kind, "failed:", e); }
  }
}

// --- API --------------------------------------------------------------------

/** HTTPError is a failed API call: status 0 means the server was not reached. */
export class HTTPError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * api calls lookout's HTTP API with the bearer token. It resolves to the
 * decoded JSON (or text with {text: true}) and rejects with an HTTPError
 * carrying the server's {"error": ...} message. A 401 also opens the token
 * prompt, since every page needs the same fix.
 */
export async function api(path, { method = "GET", body, text = false, signal } = {}) {
  const headers = {};
  const tok = token();
  if (tok) headers.Authorization = "Bearer " + tok;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new HTTPError(0, t("err.network"));
  }
  if (r.status === 401) emit("unauthorized", path);
  if (!r.ok) {
    let msg = "";
    try { msg = (await r.json()).error || ""; } catch { /* not JSON */ }
    throw new HTTPError(r.status, msg || r.statusText || String(r.status));
  }
  return text ? r.text() : r.json();
}

/** errText renders an API error for people. */
export function errText(e) {
  if (e instanceof HTTPError) return e.status ? `HTTP ${e.status}: ${e.message}` : e.message;
  return String(e && e.message ? e.message : e);
}

/** sqlString quotes s as a SQL string literal. */
export function sqlString(s) { return "'" + String(s).replaceAll("'", "''") + "'"; }

/** query runs read-only SQL through POST /api/v1/query. */
export function query(sql, signal) { return api("/api/v1/query", { method: "POST", body: { sql }, signal }); }

// --- live feed ----------------------------------------------------------------

let es = null;
let retry = null;
let everDown = false;
let connState = "connecting";

export function conn() { return connState; }
function setConn(s) {
  if (s === connState) return;
  connState = s;
  emit("conn", s);
}

/** STORE_LAG covers the store's batched writes (storage.flush_interval, 1 s by
 * default): a window that closed just before the feed connected is neither in
 * the feed nor yet in the store, so pages read the store again this long
 * after every "hello". */
export const STORE_LAG = 2500;

/**
 * connectLive opens /api/v1/stream. EventSource reconnects by itself after a
 * network error; when the server answers with an error status (e.g. 401 or a
 * restart in progress) it gives up, so that case is retried here. Pages
 * reload what they show on "reconnected", since the feed does not replay.
 */
export function connectLive() {
  if (es) es.close();
  clearTimeout(retry);
  const tok = token();
  es = new EventSource("/api/v1/stream" + (tok ? "?access_token=" + encodeURIComponent(tok) : ""));
  es.addEventListener("hello", () => {
    setConn("live");
    emit("hello");
    if (everDown) emit("reconnected");
    everDown = false;
  });
  for (const kind of ["window", "alert", "source"]) {
    es.addEventListener(kind, (ev) => {
      let v;
      try { v = JSON.parse(ev.data); } catch { return; }
      emit(kind, v);
    });
  }
  es.onerror = () => {
    everDown = true;
    setConn("down");
    if (es.readyState === EventSource.CLOSED) {
      // Find out why (a 401 opens the token prompt), then try again.
      api("/api/v1/sources").catch(() => {});
      retry = setTimeout(connectLive, 3000);
    }
  };
}

// --- DOM helpers ----------------------------------------------------------------

/**
 * h builds an element: h("td", {class: "num"}, "text", child, ...). Text is
 * always set as text, never parsed as HTML: everything shown comes from
 * monitored systems and must not run as markup.
 */
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "class") e.className = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k === "style" && typeof v === "object") Object.assign(e.style, v);
      else if (k in e && typeof v !== "string") e[k] = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** table builds a scrollable table from header cells and rows of cells. */
export function table(head, rows, attrs) {
  return h("div", { class: "scroll" },
    h("table", attrs,
      h("thead", null, h("tr", null, head.map((c) => (c instanceof Node ? c : h("th", null, c))))),
      h("tbody", null, rows)));
}

/** section builds a page section with a heading. */
export function section(title, attrs, ...children) {
  return h("section", attrs, h("h2", null, title), ...children);
}

/** fmtNum shows a number compactly; null (not computable) shows as a dash. */
export function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, "");
  return v.toPrecision(3).replace(/\.?0+$/, "");
}

/** fmtBytes shows a byte count in binary units. */
export function fmtBytes(v) {
  if (v === null || v === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i ? v.toFixed(1) : String(v)) + " " + units[i];
}

function pad(n, w = 2) { return String(n).padStart(w, "0"); }

/** fmtTime shows an RFC 3339 time (or Date) in local time, to the second. */
export function fmtTime(v, withDate = false) {
  if (!v) return "–";
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (!withDate) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** fmtTimeMs is fmtTime with milliseconds, for window bounds and raw messages. */
export function fmtTimeMs(v) {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return fmtTime(d) + "." + pad(d.getMilliseconds(), 3);
}

/** fmtAgo shows how long ago an RFC 3339 time was. */
export function fmtAgo(v, now = Date.now()) {
  if (!v) return t("never");
  const s = Math.max(0, Math.round((now - new Date(v).getTime()) / 1000));
  if (s < 60) return t("ago.s", { n: s });
  if (s < 3600) return t("ago.m", { n: Math.floor(s / 60) });
  if (s < 86400) return t("ago.h", { n: Math.floor(s / 3600) });
  return t("ago.d", { n: Math.floor(s / 86400) });
}

/** groupLabel renders a window group ({service: "api"}) as "service=api". */
export function groupLabel(g) {
  const keys = Object.keys(g || {}).sort();
  if (!keys.length) return t("group.all");
  return keys.map((k) => k + "=" + g[k]).join(", ");
}

/** groupKey is a stable identity for a group object. */
export function groupKey(g) {
  return JSON.stringify(Object.keys(g || {}).sort().map((k) => [k, g[k]]));
}

/** labelChips renders alert labels as small code chips. */
export function labelChips(labels, skip = []) {
  return Object.keys(labels || {}).sort().filter((k) => !skip.includes(k))
    .map((k) => h("span", { class: "label" }, k + "=" + labels[k]));
}

/** copyText copies to the clipboard, falling back to execCommand where the
 * Clipboard API is unavailable (plain http on a non-loopback address). */
export async function copyText(s) {
  try {
    await navigator.clipboard.writeText(s);
    return true;
  } catch {
    const ta = h("textarea", { style: { position: "fixed", opacity: "0" } });
    ta.value = s;
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand("copy");
    ta.remove();
    return ok;
  }
}

/** debounce runs fn at most once per ms, after the last call. */
export function debounce(fn, ms) {
  let tm = null;
  return (...args) => {
    clearTimeout(tm);
    tm = setTimeout(() => fn(...args), ms);
  };
}

// --- Prometheus text ------------------------------------------------------------

/**
 * parseProm parses the Prometheus text exposition format into samples
 * {name, labels, value}. Comments, HELP and TYPE lines are skipped.
 */
export function parseProm(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[2]))) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** metric sums the samples named name whose labels include match. */
export function metric(samples, name, match = {}) {
  let found = false;
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    found = true;
    sum += s.value;
  }
  return found ? sum : null;
}

/**
 * pipelines lists pipeline names: the configured ones from /metrics (a
 * pipeline with no window yet is still shown) and any with stored windows.
 */
export async function pipelines() {
  const names = new Set();
  try {
    for (const s of parseProm(await api("/metrics", { text: true }))) {
      if (s.name === "lookout_pipeline_events_total" && s.labels.pipeline) names.add(s.labels.pipeline);
    }
  } catch (e) {
    if (e instanceof HTTPError && e.status === 401) throw e;
  }
  try {
    const r = await query("SELECT DISTINCT pipeline FROM windows WHERE start > now() - INTERVAL 1 DAY ORDER BY 1");
    for (const row of r.rows) names.add(row[0]);
  } catch (e) {
    if (!names.size) throw e;
  }
  return [...names].sort();
}
