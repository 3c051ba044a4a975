// Pipeline page: one uPlot chart per aggregate with a series per group, a time
// range read from the store, live appends from the feed, legend toggling, and
// drill-down from a point to that window's values and raw events.
import { t } from "../i18n.js";
import { api, query, h, on, section, table, fmtNum, fmtTimeMs, fmtTime, errText, groupKey, groupLabel, pipelines, sqlString, traceURL, debounce, HTTPError, STORE_LAG, conn } from "../core.js";
import { timeChart, update, destroy, align, color } from "../chart.js";

export const ranges = { "5m": 5 * 60e3, "1h": 3600e3, "24h": 86400e3 };
// The store answers with the newest windows first cut to the limit; these keep
// a day of 10 s windows for a few groups without a multi-megabyte answer.
const rangeLimit = { "5m": 3000, "1h": 10000, "24h": 20000 };
const DRILL_LIMIT = 100;

/** findTrace returns the trace id an event carries (trace_id, traceId, or a W3C traceparent), or "". */
export function findTrace(obj) {
  if (!obj || typeof obj !== "object") return "";
  for (const k of ["trace_id", "traceId", "traceID", "trace.id", "trace.trace_id"]) {
    if (typeof obj[k] === "string" && obj[k]) return obj[k];
  }
  for (const k of ["traceparent", "trace.parent"]) {
    const v = obj[k];
    if (typeof v === "string") {
      const parts = v.split("-");
      if (parts.length >= 3 && /^[0-9a-f]{32}$/i.test(parts[1])) return parts[1];
    }
  }
  if (obj.trace && typeof obj.trace === "object") return findTrace({ "trace.id": obj.trace.id, "trace.trace_id": obj.trace.trace_id, "trace.parent": obj.trace.parent });
  return "";
}

/** traceLink fills the configured template ("{trace_id}", else appended). */
export function traceLink(template, id) {
  if (!template || !id) return "";
  return template.includes("{trace_id}") ? template.replaceAll("{trace_id}", encodeURIComponent(id)) : template + encodeURIComponent(id);
}

/** exemplarHref is an exemplar's trace link: the server's (server.trace_url), else this browser's template. */
export function exemplarHref(x, template) {
  return (x && x.url) || traceLink(template, x && x.trace_id);
}

/** exemplarTable lists a window's exemplar traces (the traced events behind its max and quantiles); none without exemplars. */
function exemplarTable(w) {
  const xs = w.exemplars || [];
  if (!xs.length) return [];
  const tpl = traceURL();
  return [h("h3", null, t("dr.exemplars")),
    table([t("dr.aggregate"), h("th", { class: "num" }, t("dr.value")), t("raw.time"), t("dr.trace")], xs.map((x) => {
      const href = exemplarHref(x, tpl);
      return h("tr", { class: "exemplar" },
        h("td", null, x.aggregate),
        h("td", { class: "num" }, fmtNum(x.value)),
        h("td", null, fmtTimeMs(x.ts)),
        h("td", null, href ? h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "trace" }, x.trace_id) : h("span", { title: t("dr.noTemplate"), class: "trace-id" }, x.trace_id)));
    }), { id: "drill-exemplars" })];
}

/** drillSQL is the query for a window's raw events: its time span and its group's fields. */
export function drillSQL(w) {
  const conds = [`ts >= ${sqlString(w.start)}::TIMESTAMPTZ`, `ts < ${sqlString(w.end)}::TIMESTAMPTZ`];
  for (const k of Object.keys(w.group || {}).sort()) {
    if (w.group[k] === "__overflow__") continue;
    conds.push(`json_extract_string(fields, ${sqlString('$."' + k.replaceAll('"', '\\"') + '"')}) = ${sqlString(w.group[k])}`);
  }
  return `SELECT ts, source, flags, raw\nFROM events\nWHERE ${conds.join("\n  AND ")}\nORDER BY ts\nLIMIT ${DRILL_LIMIT}`;
}

export function mount(root, { arg, params }) {
  const name = arg || "";
  const range = ranges[params.get("range")] ? params.get("range") : "5m";
  const offs = [];
  const wins = new Map(); // groupKey → Map(x seconds → window)
  const labels = new Map(); // groupKey → label, in order of first appearance (keeps colours stable)
  const hidden = new Set();
  let aggs = [];
  let sig = "";
  const charts = new Map(); // agg → element

  const picker = h("select", { "aria-label": t("pl.pipeline"), onchange: () => { location.hash = "#/pipeline/" + encodeURIComponent(picker.value) + "?range=" + range; } },
    h("option", { value: name }, name));
  const seg = h("div", { class: "seg row", role: "group", "aria-label": t("pl.range") },
    Object.keys(ranges).map((r) => h("button", { type: "button", "aria-pressed": String(r === range), dataset: { range: r },
      onclick: () => { location.hash = "#/pipeline/" + encodeURIComponent(name) + "?range=" + r; } }, t("range." + r))));
  const status = h("span", { class: "muted", id: "pl-status" }, t("loading"));
  const legend = h("div", { class: "chips", id: "legend" });
  const chartBox = h("div", { id: "charts" });
  const latestBox = h("div", { id: "latest" });
  const drill = section(t("dr.title"), { id: "drill", class: "wide", hidden: true });
  root.append(
    h("section", { class: "wide" }, h("h2", null, t("pl.pipeline"), picker, seg, status), legend,
      h("p", { class: "muted" }, t("pl.clickHint")), chartBox),
    section(t("pl.latest"), { class: "wide" }, latestBox),
    drill,
  );
  pipelines().then((names) => {
    if (!names.includes(name)) names.unshift(name);
    picker.replaceChildren(...names.map((n) => h("option", { value: n, selected: n === name }, n)));
  }).catch(() => {});

  function add(w) {
    const gk = groupKey(w.group);
    if (!wins.has(gk)) { wins.set(gk, new Map()); labels.set(gk, groupLabel(w.group)); }
    wins.get(gk).set(Date.parse(w.start) / 1000, w);
  }
  function trim() {
    const min = (Date.now() - ranges[range]) / 1000;
    for (const m of wins.values()) for (const x of m.keys()) if (x < min) m.delete(x);
  }
  const order = () => [...labels.keys()];

  function render() {
    const groups = order();
    const aggSet = new Set();
    let n = 0;
    for (const m of wins.values()) for (const w of m.values()) { n++; for (const k of Object.keys(w.values)) aggSet.add(k); }
    status.textContent = t("pl.status", { n }) + (n >= rangeLimit[range] ? " · " + t("pl.truncated") : "");
    if (!n) {
      chartBox.replaceChildren(h("p", { class: "muted" }, t("pl.noData")));
      charts.clear();
      sig = "";
    }
    aggs = [...aggSet].sort();
    const newSig = groups.join("|") + "#" + aggs.join("|");
    legend.replaceChildren(...groups.map((g, i) => h("button", {
      type: "button", class: "chip", "aria-pressed": String(!hidden.has(g)), dataset: { group: labels.get(g) },
      onclick: () => toggle(g),
    }, h("span", { class: "swatch", style: { background: color(i) } }), labels.get(g))));
    if (n) {
      for (const agg of aggs) {
        const { xs, ys } = align(groups.map((g) => new Map([...wins.get(g)].map(([x, w]) => [x, w.values[agg] ?? null]))));
        if (newSig === sig && charts.has(agg)) { update(charts.get(agg), xs, ys); continue; }
        if (!charts.has(agg)) {
          const el = h("div", { class: "chart", dataset: { agg } });
          charts.set(agg, el);
        }
        const el = charts.get(agg);
        if (!el.isConnected) {
          if (!chartBox.querySelector(".chart")) chartBox.replaceChildren();
          chartBox.append(h("div", { class: "chart-cell" }, h("h3", null, agg), el));
        }
        timeChart(el, {
          xs, ys, height: 200,
          series: groups.map((g, i) => ({ label: labels.get(g), color: color(i), show: !hidden.has(g) })),
          onPick: (si, idx) => showDrill(wins.get(order()[si]).get(el.__uplot.data[0][idx])),
        });
      }
      sig = newSig;
    }
    renderLatest(groups);
  }

  function renderLatest(groups) {
    const rows = groups.map((g, i) => {
      const last = [...wins.get(g).values()].sort((a, b) => Date.parse(a.start) - Date.parse(b.start)).at(-1);
      if (!last) return null;
      return h("tr", { dataset: { group: labels.get(g) } },
        h("td", null, h("span", { class: "swatch", style: { background: color(i) } }), " ", labels.get(g)),
        h("td", null, fmtTime(last.end)),
        h("td", { class: "num" }, fmtNum(last.count)),
        aggs.map((a) => h("td", { class: "num", dataset: { agg: a } }, fmtNum(last.values[a]))));
    });
    latestBox.replaceChildren(rows.some(Boolean)
      ? table([t("pl.group"), t("pl.end"), h("th", { class: "num" }, t("pl.count")), ...aggs.map((a) => h("th", { class: "num" }, a))], rows)
      : h("p", { class: "muted" }, t("pl.noData")));
  }

  function toggle(g) {
    if (hidden.has(g)) hidden.delete(g); else hidden.add(g);
    const i = order().indexOf(g) + 1;
    for (const el of charts.values()) el.__uplot && el.__uplot.setSeries(i, { show: !hidden.has(g) });
    for (const b of legend.querySelectorAll("button")) {
      if (b.dataset.group === labels.get(g)) b.setAttribute("aria-pressed", String(!hidden.has(g)));
    }
  }

  let drillAbort = null;
  async function showDrill(w) {
    if (!w) return;
    if (drillAbort) drillAbort.abort();
    const ctl = new AbortController();
    drillAbort = ctl;
    const sql = drillSQL(w);
    const evBox = h("div", { id: "drill-events" }, h("p", { class: "muted" }, t("loading")));
    drill.hidden = false;
    drill.replaceChildren(
      h("h2", null, t("dr.title"), h("span", { class: "muted" }, `${fmtTimeMs(w.start)} – ${fmtTimeMs(w.end)} · ${groupLabel(w.group)}`)),
      table([t("dr.aggregate"), h("th", { class: "num" }, t("dr.value"))],
        [...Object.keys(w.values).sort().map((k) => h("tr", null, h("td", null, k), h("td", { class: "num" }, fmtNum(w.values[k])))),
          h("tr", null, h("td", null, t("pl.count")), h("td", { class: "num" }, fmtNum(w.count))),
          h("tr", null, h("td", null, t("dr.late")), h("td", { class: "num" }, fmtNum(w.late)))], { id: "drill-values" }),
      ...exemplarTable(w),
      h("h3", null, t("dr.events")),
      evBox,
      h("details", null, h("summary", null, t("dr.sql")), h("pre", null, sql),
        h("a", { href: "#/sql", onclick: () => localStorage.setItem("lookout-sql", sql) }, t("dr.openSQL"))),
    );
    drill.scrollIntoView({ block: "nearest" });
    // The store writes in batches: a window that just closed may not have its
    // events on disk yet, so an empty answer for a recent window is retried.
    for (let attempt = 0; ; attempt++) {
      let res;
      try { res = await query(sql, ctl.signal); } catch (e) {
        if (e.name === "AbortError") return;
        evBox.replaceChildren(h("p", { class: "error" }, errText(e)));
        return;
      }
      if (res.rows.length || attempt >= 8 || Date.now() - Date.parse(w.end) > 30000) {
        renderEvents(evBox, res);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
      if (ctl.signal.aborted) return;
    }
  }

  function renderEvents(box, res) {
    if (!res.rows.length) { box.replaceChildren(h("p", { class: "muted" }, t("dr.noEvents"))); return; }
    const col = (n) => res.columns.indexOf(n);
    const tpl = traceURL();
    box.replaceChildren(
      h("p", { class: "muted" }, t("dr.count", { n: res.rows.length }) + (res.rows.length >= DRILL_LIMIT ? " · " + t("dr.more") : "")),
      table([t("raw.time"), t("src.name"), t("dr.flags"), t("dr.raw"), t("dr.trace")], res.rows.map((r) => {
        const raw = r[col("raw")] ?? "";
        let obj = null;
        try { obj = JSON.parse(raw); } catch { /* not JSON: shown as text */ }
        const id = findTrace(obj);
        const href = traceLink(tpl, id);
        return h("tr", { class: "event" },
          h("td", null, fmtTimeMs(r[col("ts")])),
          h("td", null, r[col("source")]),
          h("td", null, r[col("flags")] || ""),
          h("td", null, h("pre", null, obj ? JSON.stringify(obj, null, 2) : raw)),
          h("td", null, id ? (href ? h("a", { href, target: "_blank", rel: "noopener noreferrer", class: "trace" }, t("dr.openTrace")) : h("span", { title: t("dr.noTemplate"), class: "trace-id" }, id)) : ""));
      })));
  }

  async function load() {
    try {
      const { data } = await api(`/api/v1/windows?pipeline=${encodeURIComponent(name)}&since=${range}&limit=${rangeLimit[range]}`);
      // Merge, not replace: windows the feed delivered since are kept.
      for (const w of data) add(w);
      trim();
      render();
    } catch (e) {
      status.textContent = "";
      chartBox.replaceChildren(h("p", { class: "error" }, e instanceof HTTPError && e.status === 0 ? t("err.network") : errText(e)));
    }
  }
  const later = debounce(() => { trim(); render(); }, 100);
  offs.push(on("window", (w) => {
    if (w.pipeline !== name) return;
    add(w);
    later();
  }));
  offs.push(on("reconnected", load));
  let lagTimer = null;
  offs.push(on("hello", () => { clearTimeout(lagTimer); lagTimer = setTimeout(load, STORE_LAG); }));
  if (conn() === "live") lagTimer = setTimeout(load, STORE_LAG); // opened from another page: same gap
  load();
  return () => {
    offs.forEach((f) => f());
    if (drillAbort) drillAbort.abort();
    clearTimeout(lagTimer);
    for (const el of charts.values()) destroy(el);
  };
}
