// Raw stream: the last messages of one source exactly as they arrived
// (GET /api/v1/raw), pretty-printed when JSON, tailed every second, with pause
// and copy. A notification's "Raw events" link (#/raw?rule=R&group.K=V&since=T)
// shows the stored events behind that alert instead: its pipeline's events
// of that group since the alert began.
import { t } from "../i18n.js";
import { api, h, section, fmtTimeMs, errText, copyText } from "../core.js";

const LIMIT = 20;
const POLL_MS = 1000;

export function mount(root, { arg, params }) {
  const name = arg || params.get("source") || "";
  const rule = name ? "" : params.get("rule") || "";
  const group = [...params].filter(([k]) => k.startsWith("group.")).map(([k, v]) => [k.slice(6), v]);
  const since = params.get("since") || "";
  let paused = false;
  let timer = null;
  let last = "";
  let msgs = [];
  let gen = 0; // bumps on pause/resume so an answer in flight cannot start a second loop
  const picker = h("select", { "aria-label": t("raw.source"), onchange: () => { location.hash = "#/raw/" + encodeURIComponent(picker.value); } },
    name ? h("option", { value: name }, name) : h("option", { value: "" }, "—"));
  const state = h("span", { class: "muted", id: "raw-state" });
  const pauseBtn = h("button", { type: "button", id: "raw-pause", onclick: () => setPaused(!paused) }, t("raw.pause"));
  const copyAll = h("button", { type: "button", class: "ghost", id: "raw-copy-all", onclick: () => flash(copyAll, msgs.map((m) => m.raw).join("\n")) }, t("raw.copyAll"));
  const list = h("div", { id: "raw-list" }, h("p", { class: "muted" }, name || rule ? t("loading") : t("raw.pick")));
  const help = rule
    ? h("p", { class: "muted", id: "raw-alert" }, t("raw.alertHelp", { n: LIMIT, rule, group: group.map(([k, v]) => k + "=" + v).join(", ") || "—", since: since ? fmtTimeMs(since) : "—" }))
    : h("p", { class: "muted" }, t("raw.help", { n: LIMIT }));
  root.append(section(t("raw.title"), { class: "wide" },
    h("div", { class: "row" }, picker, pauseBtn, copyAll, state),
    help,
    list));

  api("/api/v1/sources").then(({ data }) => {
    const names = data.map((s) => s.name);
    if (name && !names.includes(name)) names.unshift(name);
    picker.replaceChildren(...(name ? [] : [h("option", { value: "" }, "—")]), ...names.map((n) => h("option", { value: n, selected: n === name }, n)));
  }).catch(() => {});

  async function flash(btn, text) {
    const ok = await copyText(text);
    const old = btn.textContent;
    btn.textContent = ok ? t("raw.copied") : t("raw.copyFailed");
    setTimeout(() => { btn.textContent = old; }, 1200);
  }

  function setPaused(p) {
    paused = p;
    pauseBtn.textContent = p ? t("raw.resume") : t("raw.pause");
    pauseBtn.setAttribute("aria-pressed", String(p));
    state.textContent = p ? t("raw.paused") : t("raw.live");
    clearTimeout(timer);
    gen++;
    if (!p) poll(gen);
  }

  function url() {
    if (name) return `/api/v1/raw?source=${encodeURIComponent(name)}&limit=${LIMIT}`;
    const q = new URLSearchParams([["rule", rule], ...group.map(([k, v]) => ["group." + k, v]), ...(since ? [["since", since]] : []), ["limit", String(LIMIT)]]);
    return "/api/v1/raw?" + q;
  }

  async function poll(g) {
    if (!name && !rule) return;
    try {
      const { data } = await api(url());
      if (paused || g !== gen) return;
      // Re-render only when something new arrived, so reading and selecting
      // text is not disturbed every second.
      const sig = data.length ? data.length + "|" + data.at(-1).ts + "|" + data.at(-1).raw : "";
      if (sig !== last) {
        last = sig;
        msgs = data;
        render();
      }
      if (!paused) state.textContent = t("raw.live");
    } catch (e) {
      state.textContent = "";
      list.replaceChildren(h("p", { class: "error" }, errText(e)));
      last = "";
      if (g !== gen) return;
    }
    if (!paused) timer = setTimeout(() => poll(g), POLL_MS);
  }

  function render() {
    if (!msgs.length) { list.replaceChildren(h("p", { class: "muted" }, t("raw.none"))); return; }
    // Newest first: the tail is read from the top.
    list.replaceChildren(...[...msgs].reverse().map((m) => {
      const body = m.json !== undefined ? JSON.stringify(m.json, null, 2) : m.raw;
      const btn = h("button", { type: "button", class: "ghost copy", onclick: () => flash(btn, m.raw) }, t("raw.copy"));
      return h("div", { class: "msg" },
        h("div", { class: "row" }, h("span", { class: "muted" }, fmtTimeMs(m.ts), m.source ? " · " + m.source : "", m.json === undefined ? " · " + t("raw.notJSON") : ""), btn),
        h("pre", null, body));
    }));
  }

  setPaused(false);
  return () => { paused = true; gen++; clearTimeout(timer); };
}
