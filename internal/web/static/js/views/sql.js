// SQL console: read-only DuckDB over the store (POST /api/v1/query), with a
// result table and a chart when the answer has a time column and numbers.
import { t } from "../i18n.js";
import { query, h, section, table, fmtNum, errText } from "../core.js";
import { timeChart, destroy, color } from "../chart.js";

const SQL_KEY = "lookout-sql";
const SHOW_ROWS = 1000;

export const examples = [
  "SELECT source, count(*) AS events, max(ts) AS last\nFROM events\nGROUP BY source\nORDER BY events DESC",
  "SELECT start, pipeline, grp, vals\nFROM windows\nORDER BY start DESC\nLIMIT 50",
  "SELECT time_bucket(INTERVAL '1 minute', ts) AS minute, count(*) AS events\nFROM events\nWHERE ts > now() - INTERVAL 1 HOUR\nGROUP BY minute\nORDER BY minute",
  "SELECT ts, rule, state, decision, summary\nFROM alerts\nORDER BY ts DESC\nLIMIT 50",
  "SELECT ts, source, reason, raw\nFROM rejected\nORDER BY ts DESC\nLIMIT 50",
];

const isoTime = /^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)?$/;

/**
 * chartable finds what can be drawn: the first column whose values are all
 * times, and the columns whose values are all numbers. null when either is
 * missing.
 */
export function chartable(res) {
  const cols = res.columns.map((_, i) => res.rows.map((r) => r[i]).filter((v) => v !== null && v !== undefined));
  const timeCol = cols.findIndex((vs) => vs.length > 0 && vs.every((v) => typeof v === "string" && isoTime.test(v)));
  const nums = cols.map((vs, i) => (i !== timeCol && vs.length > 0 && vs.every((v) => typeof v === "number") ? i : -1)).filter((i) => i >= 0);
  if (timeCol < 0 || !nums.length) return null;
  const rows = res.rows.filter((r) => r[timeCol] !== null).map((r) => [Date.parse(r[timeCol]) / 1000, ...nums.map((i) => r[i])]).sort((a, b) => a[0] - b[0]);
  return { timeCol, nums, xs: rows.map((r) => r[0]), ys: nums.map((_, j) => rows.map((r) => r[j + 1])) };
}

function cell(v) {
  if (v === null || v === undefined) return h("td", { class: "muted" }, "NULL");
  if (typeof v === "number") return h("td", { class: "num" }, fmtNum(v));
  if (typeof v === "object") return h("td", null, h("code", null, JSON.stringify(v)));
  return h("td", null, String(v));
}

export function mount(root) {
  const ta = h("textarea", { class: "sql", id: "sql-input", spellcheck: false, "aria-label": "SQL" });
  ta.value = localStorage.getItem(SQL_KEY) || examples[0];
  const runBtn = h("button", { type: "button", id: "sql-run", onclick: () => run() }, t("sql.run"));
  const ex = h("select", { "aria-label": t("sql.examples"), onchange: () => { if (ex.value) { ta.value = examples[Number(ex.value)]; ex.value = ""; ta.focus(); } } },
    h("option", { value: "" }, t("sql.examples")), examples.map((q, i) => h("option", { value: String(i) }, q.split("\n")[0].slice(0, 60))));
  const meta = h("span", { class: "muted", id: "sql-meta" });
  const chart = h("div", { class: "chart", id: "sql-chart" });
  const out = h("div", { id: "sql-result" });
  ta.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); }
  });
  root.append(section(t("sql.title"), { class: "wide" },
    h("p", { class: "muted" }, t("sql.help")),
    ta,
    h("div", { class: "row" }, runBtn, h("span", { class: "muted hide-narrow" }, t("sql.shortcut")), ex, meta),
    chart, out));

  let ctl = null;
  let plot = null;
  function clearChart() {
    if (plot) destroy(plot);
    plot = null;
    chart.replaceChildren();
  }
  async function run() {
    const sql = ta.value.trim();
    if (!sql) return;
    localStorage.setItem(SQL_KEY, ta.value);
    if (ctl) ctl.abort();
    ctl = new AbortController();
    runBtn.disabled = true;
    meta.textContent = t("sql.running");
    const t0 = performance.now();
    try {
      const res = await query(sql, ctl.signal);
      const ms = Math.round(performance.now() - t0);
      meta.textContent = t("sql.rows", { n: res.rows.length, ms }) + (res.truncated ? " · " + t("sql.truncated") : "");
      out.replaceChildren(table(res.columns, res.rows.slice(0, SHOW_ROWS).map((r) => h("tr", null, r.map(cell))), { id: "sql-table" }),
        res.rows.length > SHOW_ROWS ? h("p", { class: "muted" }, t("sql.shown", { n: SHOW_ROWS })) : null);
      const c = chartable(res);
      clearChart();
      if (c) {
        chart.append(h("div", { class: "chips" }, c.nums.map((i, j) => h("span", { class: "chip" }, h("span", { class: "swatch", style: { background: color(j) } }), res.columns[i]))));
        plot = h("div");
        chart.append(plot);
        timeChart(plot, { xs: c.xs, ys: c.ys, series: c.nums.map((i, j) => ({ label: res.columns[i], color: color(j) })), height: 220 });
      }
    } catch (e) {
      if (e.name === "AbortError") return;
      meta.textContent = "";
      clearChart();
      out.replaceChildren(h("div", { class: "notice error", id: "sql-error" }, errText(e)));
    } finally {
      runBtn.disabled = false;
    }
  }
  return () => { if (ctl) ctl.abort(); clearChart(); };
}
