// lookout's dashboard: hash routing between the pages, the header (navigation,
// live status, language, token), the "server is gone" banner and the token
// prompt. Plain ES modules, no build step; served embedded by the binary.
import { t, lang, setLang, languages } from "./js/i18n.js";
import { api, on, connectLive, conn, token, setToken, setTraceURL, errText, h, debounce } from "./js/core.js";
import * as overview from "./js/views/overview.js";
import * as pipeline from "./js/views/pipeline.js";
import * as raw from "./js/views/raw.js";
import * as alerts from "./js/views/alerts.js";
import * as sql from "./js/views/sql.js";
import * as system from "./js/views/system.js";

const views = { overview, pipeline, raw, alerts, sql, system };
const navItems = ["overview", "alerts", "raw", "sql", "system"];

const $ = (id) => document.getElementById(id);
let unmount = null;
let firing = 0;

/**
 * route parses the hash: #/pipeline/NAME?range=1h → {view, arg, params}.
 * Notifications link to #/alerts?fingerprint=F and #/raw?source=S, so the
 * query part is honoured on every page.
 */
export function route(hash) {
  const s = (hash || "").replace(/^#\/?/, "");
  const [path, qs = ""] = s.split("?", 2);
  const [view, ...rest] = path.split("/");
  return {
    view: views[view] ? view : "overview",
    arg: rest.length ? decodeURIComponent(rest.join("/")) : "",
    params: new URLSearchParams(qs),
  };
}

function renderHeader() {
  const r = route(location.hash);
  $("nav").replaceChildren(...navItems.map((v) => h("a", { href: "#/" + v, class: r.view === v ? "active" : "", dataset: { view: v } },
    t("nav." + v), v === "alerts" && firing ? h("span", { class: "badge firing", id: "firing-count", style: { marginLeft: "5px" } }, String(firing)) : null)));
  $("lang").value = lang();
  $("token-btn").textContent = token() ? t("token.change") : t("token.set");
  renderConn(conn());
  document.documentElement.lang = lang();
  document.title = "lookout · " + t("nav." + r.view);
}

function renderConn(state) {
  const c = $("conn");
  c.className = "conn " + state;
  c.textContent = t("conn." + state);
  const b = $("banner");
  b.hidden = state !== "down";
  b.textContent = state === "down" ? t("banner.down") : "";
}

function show() {
  if (unmount) { try { unmount(); } catch (e) { console.warn(e); } }
  unmount = null;
  const r = route(location.hash);
  const main = $("view");
  main.replaceChildren();
  main.dataset.view = r.view;
  renderHeader();
  unmount = views[r.view].mount(main, r) || null;
}

async function countFiring() {
  try {
    const { data } = await api("/api/v1/alerts");
    firing = data.filter((a) => a.state === "firing").length;
  } catch { firing = 0; }
  renderHeader();
}

// --- token prompt -------------------------------------------------------------

function openTokenDialog(reason) {
  const d = $("token-dialog");
  $("token-title").textContent = t("token.title");
  $("token-help").textContent = t("token.help");
  $("token-save").textContent = t("save");
  $("token-cancel").textContent = t("cancel");
  $("token-input").value = "";
  const err = $("token-error");
  err.hidden = !reason;
  err.textContent = reason || "";
  if (!d.open) d.showModal();
  $("token-input").focus();
}

async function saveToken(ev) {
  ev.preventDefault();
  const v = $("token-input").value.trim();
  if (!v) return;
  const old = token();
  setToken(v);
  try {
    await api("/api/v1/sources");
  } catch (e) {
    if (e.status === 401) { setToken(old); openTokenDialog(t("token.rejected")); return; }
    $("token-error").hidden = false;
    $("token-error").textContent = errText(e);
  }
  $("token-dialog").close();
  connectLive();
  countFiring();
  show();
}

function init() {
  const qs = new URLSearchParams(location.search);
  if (qs.has("trace_url")) setTraceURL(qs.get("trace_url"));
  $("lang").replaceChildren(...languages.map(([code, label]) => h("option", { value: code }, label)));
  $("lang").addEventListener("change", (e) => { setLang(e.target.value); show(); });
  $("token-btn").addEventListener("click", () => openTokenDialog(""));
  $("token-form").addEventListener("submit", saveToken);
  $("token-cancel").addEventListener("click", () => $("token-dialog").close());
  on("unauthorized", () => { if (!$("token-dialog").open) openTokenDialog(token() ? t("token.rejected") : ""); });
  on("conn", renderConn);
  on("alert", debounce(countFiring, 300));
  on("reconnected", countFiring);
  window.addEventListener("hashchange", show);
  connectLive();
  countFiring();
  show();
}

init();
