// Overview: source health, active alerts by severity, and a sparkline of every
// pipeline's key value, kept live by the feed.
import { t } from "../i18n.js";
import { api, h, on, section, table, fmtNum, fmtAgo, errText, groupKey, groupLabel, pipelines, debounce, STORE_LAG, conn } from "../core.js";
import { timeChart, update, destroy, align, color } from "../chart.js";

const SPARK_SPAN = 10 * 60 * 1000; // the sparklines show the last 10 minutes
const MAX_GROUPS = 6;

export const sevOrder = ["critical", "warning", "info"];

/** sourcesTable renders /api/v1/sources health, shared with the system page. */
export function sourcesTable(data) {
  const now = Date.now();
  return table(
    [t("src.name"), t("src.type"), t("src.health"), t("src.last"), h("th", { class: "num" }, t("src.rate")), h("th", { class: "num" }, t("src.lag")), ""],
    data.map((s) => h("tr", { dataset: { source: s.name } },
      h("td", null, s.name),
      h("td", null, s.type),
      h("td", null, h("span", { class: "badge " + (s.up ? "up" : "down"), title: s.last_error || "" }, s.up ? t("src.up") : t("src.down")),
        s.last_error ? h("div", { class: "error" }, s.last_error) : null),
      h("td", { title: s.last_success || "" }, fmtAgo(s.last_success, now)),
      h("td", { class: "num" }, fmtNum(s.rate)),
      h("td", { class: "num" }, fmtNum(s.lag)),
      h("td", null, h("a", { href: "#/raw/" + encodeURIComponent(s.name), class: "raw-link" }, t("src.viewRaw"))))),
    { id: "sources" });
}

/** sevRank orders critical first and unknown severities last. */
export function sevRank(a) {
  const i = sevOrder.indexOf(severityOf(a));
  return i < 0 ? sevOrder.length : i;
}

/** severityOf returns an alert's severity, from the field or the label. */
export function severityOf(a) { return a.severity || (a.labels && a.labels.severity) || "none"; }

export function mount(root) {
  const offs = [];
  const timers = [];
  const srcBox = h("div", null, h("p", { class: "muted" }, t("loading")));
  const alertBox = h("div", null, h("p", { class: "muted" }, t("loading")));
  const pipeBox = h("div", { class: "cards" });
  root.append(
    section(t("ov.sources"), { id: "ov-sources" }, srcBox),
    section(t("ov.alerts"), { id: "ov-alerts" }, alertBox),
    section(t("ov.pipelines"), { id: "ov-pipelines", class: "wide" }, pipeBox),
  );

  async function loadSources() {
    try {
      const { data } = await api("/api/v1/sources");
      srcBox.replaceChildren(data.length ? sourcesTable(data) : h("p", { class: "muted" }, t("src.none")));
    } catch (e) {
      srcBox.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
  }

  async function loadAlerts() {
    try {
      const { data } = await api("/api/v1/alerts");
      const counts = {};
      for (const a of data) {
        if (a.state !== "firing") continue;
        const s = severityOf(a);
        counts[s] = (counts[s] || 0) + 1;
      }
      const sevs = [...sevOrder, ...Object.keys(counts).filter((s) => !sevOrder.includes(s))];
      const firing = data.filter((a) => a.state === "firing").length;
      alertBox.replaceChildren(
        h("div", { class: "counts" }, sevs.map((s) => h("a", { class: "count sev-" + s, href: "#/alerts", dataset: { severity: s } },
          h("b", null, String(counts[s] || 0)), t("sev." + s, {}, s)))),
        data.length
          ? table([t("al.state"), t("al.rule"), t("al.summary"), t("al.since")],
            data.sort((a, b) => sevRank(a) - sevRank(b)).map((a) => h("tr", null,
              h("td", null, h("span", { class: "badge " + a.state }, t("state." + a.state, {}, a.state))),
              h("td", null, h("a", { href: "#/alerts?fingerprint=" + encodeURIComponent(a.fingerprint) }, a.rule)),
              h("td", null, a.summary || JSON.stringify(a.labels)),
              h("td", null, fmtAgo(a.since)))))
          : h("p", { class: "muted" }, firing ? "" : t("al.noneActive")),
      );
    } catch (e) {
      alertBox.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
  }

  // One card per pipeline: the chosen key value per group, as a sparkline.
  const cards = new Map(); // pipeline → {wins: Map(groupKey → Map(x → values)), groups, key, el...}
  function keyFor(name, values) {
    const saved = localStorage.getItem("lookout-key-" + name);
    const names = Object.keys(values || {});
    if (saved && names.includes(saved)) return saved;
    return names[0];
  }
  function renderCard(c) {
    const aggs = new Set();
    for (const m of c.wins.values()) for (const v of m.values()) for (const k of Object.keys(v.values)) aggs.add(k);
    if (!c.key || !aggs.has(c.key)) c.key = keyFor(c.name, Object.fromEntries([...aggs].map((a) => [a, 1])));
    const groups = [...c.groups.keys()].slice(0, MAX_GROUPS);
    const maps = groups.map((g) => new Map([...c.wins.get(g)].map(([x, w]) => [x, w.values[c.key] ?? null])));
    const { xs, ys } = align(maps);
    // The options of the key-value picker change only when new aggregates appear.
    const opts = [...aggs].sort();
    if (c.select.options.length !== opts.length) {
      c.select.replaceChildren(...opts.map((a) => h("option", { value: a }, a)));
    }
    c.select.value = c.key || "";
    c.latest.replaceChildren(...groups.map((g, i) => {
      const m = c.wins.get(g);
      const last = [...m.values()].at(-1);
      return h("div", { class: "row", dataset: { group: c.groups.get(g) } },
        h("span", { class: "swatch", style: { background: color(i) } }),
        h("span", { class: "muted" }, c.groups.get(g)),
        h("span", { class: "big" }, fmtNum(last ? last.values[c.key] : null)));
    }));
    if (!xs.length) { destroy(c.chart); c.chart.replaceChildren(h("p", { class: "muted" }, t("pl.noData"))); return; }
    const seriesSig = groups.join("|");
    if (c.chart.__uplot && c.sig === seriesSig) update(c.chart, xs, ys);
    else {
      c.chart.replaceChildren();
      c.sig = seriesSig;
      timeChart(c.chart, { xs, ys, series: groups.map((g, i) => ({ label: c.groups.get(g), color: color(i) })), height: 60, sparkline: true });
    }
  }
  function addWindow(c, w) {
    const gk = groupKey(w.group);
    if (!c.wins.has(gk)) { c.wins.set(gk, new Map()); c.groups.set(gk, groupLabel(w.group)); }
    c.wins.get(gk).set(Date.parse(w.start) / 1000, w);
  }
  function trim(c) {
    const min = (Date.now() - SPARK_SPAN) / 1000;
    for (const m of c.wins.values()) for (const x of m.keys()) if (x < min) m.delete(x);
  }
  // reloadWindows merges the store's windows into the cards already shown.
  function reloadWindows() {
    for (const c of cards.values()) {
      api(`/api/v1/windows?pipeline=${encodeURIComponent(c.name)}&since=10m&limit=2000`).then(({ data }) => {
        for (const w of data) addWindow(c, w);
        trim(c);
        renderCard(c);
      }).catch(() => {});
    }
  }
  async function loadPipelines() {
    let names;
    try { names = await pipelines(); } catch (e) { pipeBox.replaceChildren(h("p", { class: "error" }, errText(e))); return; }
    if (!names.length) { pipeBox.replaceChildren(h("p", { class: "muted" }, t("pl.none"))); return; }
    pipeBox.replaceChildren();
    for (const c of cards.values()) destroy(c.chart);
    cards.clear();
    for (const name of names) {
      const select = h("select", { "aria-label": t("ov.keyValue"), onchange: () => { c.key = select.value; localStorage.setItem("lookout-key-" + name, c.key); renderCard(c); } });
      const c = { name, wins: new Map(), groups: new Map(), key: null, select, latest: h("div"), chart: h("div", { class: "chart spark" }) };
      cards.set(name, c);
      pipeBox.append(h("div", { class: "card", dataset: { pipeline: name } },
        h("div", { class: "head" }, h("a", { href: "#/pipeline/" + encodeURIComponent(name) }, h("b", null, name)), select),
        c.latest, c.chart));
      api(`/api/v1/windows?pipeline=${encodeURIComponent(name)}&since=10m&limit=2000`).then(({ data }) => {
        for (const w of data) addWindow(c, w);
        renderCard(c);
      }).catch((e) => c.chart.replaceChildren(h("p", { class: "error" }, errText(e))));
    }
  }

  let reloading = false;
  const dirty = new Set();
  const flush = debounce(() => { for (const c of dirty) { trim(c); renderCard(c); } dirty.clear(); }, 150);
  offs.push(on("window", (w) => {
    const c = cards.get(w.pipeline);
    if (!c) {
      // A pipeline this page does not know yet (first window, or a reload).
      if (!reloading) { reloading = true; loadPipelines().finally(() => { reloading = false; }); }
      return;
    }
    addWindow(c, w);
    dirty.add(c);
    flush();
  }));
  const reloadAlerts = debounce(loadAlerts, 200);
  offs.push(on("alert", reloadAlerts));
  offs.push(on("source", debounce(loadSources, 500)));
  offs.push(on("reconnected", () => { loadSources(); loadAlerts(); loadPipelines(); }));
  let lagTimer = null;
  offs.push(on("hello", () => { clearTimeout(lagTimer); lagTimer = setTimeout(reloadWindows, STORE_LAG); }));
  if (conn() === "live") lagTimer = setTimeout(reloadWindows, STORE_LAG); // opened from another page: same gap
  timers.push(setInterval(loadSources, 5000));
  loadSources();
  loadAlerts();
  loadPipelines();
  return () => {
    offs.forEach((f) => f());
    timers.forEach(clearInterval);
    clearTimeout(lagTimer);
    for (const c of cards.values()) destroy(c.chart);
  };
}
