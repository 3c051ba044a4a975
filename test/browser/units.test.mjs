// The dashboard's pure functions, loaded straight from internal/web/static
// (no browser): dictionaries, Prometheus parsing, drill-down SQL, charting
// decisions, routing helpers.
import { test } from "node:test";
import assert from "node:assert/strict";

const web = new URL("../../internal/web/static/js/", import.meta.url);
const { dict, detect, t } = await import(new URL("i18n.js", web));
const { parseProm, metric, fmtNum, groupLabel, sqlString } = await import(new URL("core.js", web));
const { findTrace, traceLink, drillSQL, exemplarHref } = await import(new URL("views/pipeline.js", web));
const { chartable } = await import(new URL("views/sql.js", web));
const { silenceBody } = await import(new URL("views/alerts.js", web));

test("every language has every string, with the same placeholders", () => {
  const en = dict.en;
  for (const [lang, d] of Object.entries(dict)) {
    assert.deepEqual(Object.keys(d).sort(), Object.keys(en).sort(), lang + " keys");
    for (const k of Object.keys(en)) {
      const ph = (s) => (s.match(/\{\w+\}/g) || []).sort();
      assert.deepEqual(ph(d[k]), ph(en[k]), `${lang} ${k} placeholders`);
      assert.ok(d[k].trim(), `${lang} ${k} is empty`);
    }
  }
});

test("language detection", () => {
  for (const [saved, prefs, want] of [
    [null, ["zh-CN", "en"], "zh-CN"], [null, ["zh-TW"], "zh-CN"], [null, ["en-GB", "zh-CN"], "en"],
    [null, ["fr-FR"], "en"], ["en", ["zh-CN"], "en"], ["zh-CN", ["en-US"], "zh-CN"], ["xx", ["zh"], "zh-CN"],
  ]) assert.equal(detect(saved, prefs), want, JSON.stringify([saved, prefs]));
  assert.equal(t("dr.count", { n: 3 }), "3 events");
});

test("parseProm reads the text format", () => {
  const s = parseProm(`# HELP x y
# TYPE lookout_alerts_active gauge
lookout_alerts_active{state="firing"} 2
lookout_alerts_active{state="pending"} 1
go_goroutines 24
lookout_source_up{source="a\\"b",type="push"} 1
weird_inf +Inf
`);
  assert.equal(metric(s, "lookout_alerts_active"), 3);
  assert.equal(metric(s, "lookout_alerts_active", { state: "firing" }), 2);
  assert.equal(metric(s, "go_goroutines"), 24);
  assert.equal(metric(s, "lookout_source_up", { source: 'a"b' }), 1);
  assert.equal(metric(s, "weird_inf"), Infinity);
  assert.equal(metric(s, "absent"), null);
});

test("number formatting", () => {
  for (const [v, want] of [[null, "–"], [3, "3"], [1234567, "1,234,567"], [0.051234, "0.0512"], [12.5, "12.5"], [2.0004, "2"], [1500.7, "1,501"]]) {
    assert.equal(fmtNum(v), want, String(v));
  }
});

test("trace ids from trace_id, traceId or a W3C traceparent", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  for (const [obj, want] of [
    [{ trace_id: id }, id], [{ traceId: id }, id], [{ traceparent: `00-${id}-00f067aa0ba902b7-01` }, id],
    [{ trace: { id } }, id], [{ traceparent: "garbage" }, ""], [{}, ""], [null, ""],
  ]) assert.equal(findTrace(obj), want, JSON.stringify(obj));
  assert.equal(traceLink("https://j/trace/{trace_id}?x=1", id), `https://j/trace/${id}?x=1`);
  assert.equal(traceLink("https://j/trace/", id), `https://j/trace/${id}`);
  assert.equal(traceLink("", id), "");
});

test("an exemplar links through the server's url, else this browser's template", () => {
  const id = "4bf92f3577b34da6a3ce929d0e0e4736";
  assert.equal(exemplarHref({ trace_id: id, url: `https://server/t/${id}` }, "https://local/{trace_id}"), `https://server/t/${id}`);
  assert.equal(exemplarHref({ trace_id: id }, "https://local/{trace_id}"), `https://local/${id}`);
  assert.equal(exemplarHref({ trace_id: id }, ""), "");
});

test("drill-down SQL quotes every value", () => {
  const sql = drillSQL({ start: "2026-01-01T00:00:00.000Z", end: "2026-01-01T00:00:01.000Z", group: { service: "o'brien", "http.route": "/x" } });
  assert.match(sql, /ts >= '2026-01-01T00:00:00.000Z'::TIMESTAMPTZ/);
  assert.match(sql, /json_extract_string\(fields, '\$\."service"'\) = 'o''brien'/);
  assert.match(sql, /json_extract_string\(fields, '\$\."http.route"'\) = '\/x'/);
  assert.equal(sqlString("a'b"), "'a''b'");
  assert.equal(groupLabel({ b: "2", a: "1" }), "a=1, b=2");
});

test("the SQL console charts a time column against numeric columns only", () => {
  const ts = ["2026-01-01T00:00:01.000Z", "2026-01-01T00:00:00.000Z"];
  const c = chartable({ columns: ["t", "name", "n"], rows: [[ts[0], "a", 2], [ts[1], "b", 1]] });
  assert.deepEqual(c.nums, [2]);
  assert.deepEqual(c.xs, [Date.parse(ts[1]) / 1000, Date.parse(ts[0]) / 1000]);
  assert.deepEqual(c.ys, [[1, 2]]);
  assert.equal(chartable({ columns: ["a", "b"], rows: [["x", 1]] }), null);
  assert.equal(chartable({ columns: ["t"], rows: [[ts[0]]] }), null);
});

test("a silence matches exactly the alert's labels and its rule", () => {
  const b = silenceBody({ rule: "HighErrorRate", labels: { service: "api", severity: "critical" } }, Date.UTC(2026, 0, 1), "why");
  assert.deepEqual(b, {
    matchers: [{ name: "alertname", value: "HighErrorRate" }, { name: "service", value: "api" }, { name: "severity", value: "critical" }],
    until: "2026-01-01T00:00:00.000Z", comment: "why",
  });
});

test("chart y range hugs the data and keeps counts non-negative", async () => {
  const { yRange } = await import(new URL("chart.js", web));
  for (const [min, max, want] of [[0, 0, [0, 1]], [5, 5, [4.5, 5.5]], [0, 10, [0, 11]], [-10, 10, [-12, 12]], [null, null, [0, 1]]]) {
    assert.deepEqual(yRange(null, min, max), want, `${min}..${max}`);
  }
});
