// System: lookout's own health from /metrics (queues, backlog, outbox,
// goroutines, memory) with a short history since the page opened, source
// health, and the dashboard's settings.
import { t } from "../i18n.js";
import { api, h, section, fmtNum, fmtBytes, errText, parseProm, metric, traceURL, setTraceURL } from "../core.js";
import { timeChart, update, destroy, color } from "../chart.js";
import { sourcesTable } from "./overview.js";

const POLL_MS = 2000;
const KEEP = 150; // samples of history (5 minutes at 2 s)

/** vitals are the figures shown, read from the parsed /metrics samples. */
export const vitals = [
  { key: "ingest", get: (s) => metric(s, "lookout_ingest_queue_events"), of: (s) => metric(s, "lookout_ingest_queue_capacity_events") },
  { key: "backlog", get: (s) => metric(s, "lookout_store_backlog_rows") },
  { key: "outbox", get: (s) => metric(s, "lookout_notify_outbox_pending") },
  { key: "goroutines", get: (s) => metric(s, "go_goroutines") },
  { key: "heap", get: (s) => metric(s, "go_memstats_heap_alloc_bytes"), bytes: true },
  { key: "rss", get: (s) => metric(s, "process_resident_memory_bytes"), bytes: true },
  { key: "firing", get: (s) => metric(s, "lookout_alerts_active", { state: "firing" }) },
  { key: "clients", get: (s) => metric(s, "lookout_stream_clients") },
  { key: "windows", get: (s) => metric(s, "lookout_windows_emitted_total") },
  // Mean end-to-end alert latency, window end to delivery acknowledged (ms).
  { key: "latency", get: (s) => {
    const sum = metric(s, "lookout_alert_delivery_latency_seconds_sum", { stage: "delivery" });
    const n = metric(s, "lookout_alert_delivery_latency_seconds_count", { stage: "delivery" });
    return n ? Math.round(sum / n * 1000) : null;
  } },
];

export function mount(root) {
  const hist = { xs: [], ...Object.fromEntries(vitals.map((v) => [v.key, []])) };
  const cards = new Map();
  const grid = h("div", { class: "cards", id: "vitals" });
  for (const [i, v] of vitals.entries()) {
    const val = h("span", { class: "big" }, "–");
    const chart = h("div", { class: "chart spark" });
    cards.set(v.key, { val, chart, i });
    grid.append(h("div", { class: "card", dataset: { vital: v.key } }, h("div", { class: "head" }, h("span", null, t("sys." + v.key)), val), chart));
  }
  const err = h("div");
  const srcBox = h("div");
  const tpl = h("input", { type: "url", id: "trace-url", value: traceURL(), placeholder: "https://tracing.example.com/trace/{trace_id}", style: { flex: "1", minWidth: "220px" } });
  const saved = h("span", { class: "muted" });
  root.append(
    section(t("sys.title"), { class: "wide" }, err, grid),
    section(t("ov.sources"), { class: "wide" }, srcBox),
    section(t("sys.settings"), { class: "wide" },
      h("label", { for: "trace-url" }, t("sys.traceURL")),
      h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); setTraceURL(tpl.value.trim()); saved.textContent = t("saved"); } },
        tpl, h("button", { type: "submit" }, t("save")), saved),
      h("p", { class: "muted" }, t("sys.traceHelp"))),
  );

  let timer = null;
  let stopped = false;
  async function poll() {
    try {
      const s = parseProm(await api("/metrics", { text: true }));
      err.replaceChildren();
      hist.xs.push(Date.now() / 1000);
      for (const v of vitals) {
        const x = v.get(s);
        hist[v.key].push(x);
        const c = cards.get(v.key);
        const of = v.of ? v.of(s) : null;
        c.val.textContent = (v.bytes ? fmtBytes(x) : fmtNum(x)) + (of !== null ? " / " + fmtNum(of) : "");
      }
      if (hist.xs.length > KEEP) for (const k of Object.keys(hist)) hist[k].shift();
      for (const v of vitals) {
        const c = cards.get(v.key);
        if (hist.xs.length < 2) continue;
        if (c.chart.__uplot) update(c.chart, hist.xs, [hist[v.key]]);
        else timeChart(c.chart, { xs: hist.xs, ys: [hist[v.key]], series: [{ label: v.key, color: color(c.i) }], height: 50, sparkline: true });
      }
    } catch (e) {
      err.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
    try {
      const { data } = await api("/api/v1/sources");
      srcBox.replaceChildren(sourcesTable(data));
    } catch (e) {
      srcBox.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return () => { stopped = true; clearTimeout(timer); for (const c of cards.values()) destroy(c.chart); };
}
