// The dashboard as a user sees it, in headless Chromium against a running
// lookout (started by browser_test.go with a push source, an "api" pipeline
// grouped by service in 1 s windows, the HighErrorRate rule and a webhook).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, withPage, push, events, shot, until, uniq } from "./lib.mjs";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

test("overview shows source health, alerts by severity and a sparkline per pipeline", { timeout: 90000 }, async () => {
  const svc = uniq("ov");
  await push(events(svc, 3));
  await withPage({}, async (page) => {
    await page.goto(BASE + "/#/overview");
    const row = page.locator('#sources tr[data-source="push"]');
    await row.waitFor();
    assert.match(await row.textContent(), /push.*up/);
    assert.equal(await row.locator("a.raw-link").getAttribute("href"), "#/raw/push");
    await page.locator("#ov-alerts .counts .count").first().waitFor();
    assert.deepEqual(await page.locator("#ov-alerts .count").evaluateAll((els) => els.slice(0, 3).map((e) => e.dataset.severity)), ["critical", "warning", "info"]);
    // The sparkline for pipeline api gains this service's group once its window closes.
    const card = page.locator('.card[data-pipeline="api"]');
    await card.locator(`[data-group="service=${svc}"]`).waitFor();
    await card.locator("canvas").first().waitFor();
    await shot(page, "overview");
    await page.setViewportSize({ width: 375, height: 800 });
    await page.locator("#sources").waitFor();
    // At phone width nothing overflows the page sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than a 375px screen`);
    await shot(page, "overview-phone", { fullPage: true });
  });
});

test("pipeline chart updates live from the stream, without a reload", { timeout: 90000 }, async () => {
  const svc = uniq("live");
  await withPage({ colorScheme: "dark" }, async (page) => {
    await page.goto(BASE + "/#/pipeline/api?range=5m");
    await page.locator("#pl-status").filter({ hasText: /windows/ }).waitFor();
    await page.locator("#conn.live").waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });

    await push(events(svc, 3));
    const row = page.locator(`#latest tr[data-group="service=${svc}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td[data-agg="requests"]').textContent(), "3");
    await page.locator(`#legend button[data-group="service=${svc}"]`).waitFor();

    // A second batch lands in a later window: the row and the chart move on.
    await push(events(svc, 5));
    await until("the second window in the table", async () => (await row.locator('td[data-agg="requests"]').textContent()) === "5");
    const series = await page.locator('.chart[data-agg="requests"]').evaluate((el, label) => {
      const u = el.__uplot;
      const i = u.series.findIndex((s) => s.label === label);
      return u.data[i].filter((v) => v !== null);
    }, "service=" + svc);
    assert.deepEqual(series.slice(-2), [3, 5], "the requests chart plots both windows of the group");
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
    await shot(page, "pipeline-live");
  });
});

test("clicking a point shows that window's values, its raw events and a trace link", { timeout: 90000 }, async () => {
  const svc = uniq("drill");
  const marker = uniq("req");
  // 7 events: a count no other group in this run has, so the point is unambiguous.
  await push(events(svc, 7, { req: marker, trace_id: TRACE }));
  await withPage({}, async (page) => {
    await page.goto(BASE + "/?trace_url=" + encodeURIComponent("https://trace.example/t/{trace_id}") + "#/pipeline/api?range=5m");
    const chip = page.locator(`#legend button[data-group="service=${svc}"]`);
    await chip.waitFor();
    // Legend toggling: hide every other group, so only ours is drawn.
    for (const other of await page.locator("#legend button").all()) {
      if ((await other.getAttribute("data-group")) !== "service=" + svc) await other.click();
    }
    assert.equal(await chip.getAttribute("aria-pressed"), "true");
    const chart = page.locator('.chart[data-agg="requests"]');
    const shown = await chart.evaluate((el) => el.__uplot.series.slice(1).filter((s) => s.show).map((s) => s.label));
    assert.deepEqual(shown, ["service=" + svc]);

    const pt = await chart.evaluate((el, label) => {
      const u = el.__uplot;
      const i = u.series.findIndex((s) => s.label === label);
      const idx = u.data[i].findLastIndex((v) => v !== null);
      const r = u.over.getBoundingClientRect();
      // The newest point sits on the plot's right edge; uPlot snaps the
      // cursor to the nearest point, so aim just inside.
      const x = Math.min(u.valToPos(u.data[0][idx], "x"), r.width - 2);
      return { x: r.left + x, y: r.top + u.valToPos(u.data[i][idx], "y") };
    }, "service=" + svc);
    await page.mouse.move(pt.x, pt.y);
    await page.mouse.click(pt.x, pt.y);

    const drill = page.locator("#drill");
    await drill.waitFor();
    assert.match(await drill.locator("h2").textContent(), new RegExp("service=" + svc));
    const requests = drill.locator("#drill-values tr", { hasText: "requests" });
    assert.equal(await requests.locator("td").nth(1).textContent(), "7");
    await until("7 raw events", async () => (await drill.locator("#drill-events tr.event").count()) === 7);
    assert.match(await drill.locator("#drill-events tr.event pre").first().textContent(), new RegExp(marker));
    assert.equal(await drill.locator("a.trace").first().getAttribute("href"), "https://trace.example/t/" + TRACE);
    await shot(page, "drill-down", { fullPage: true });
  });
});

test("raw stream shows the newest message without reload, pauses, and copies", { timeout: 90000 }, async () => {
  const first = uniq("raw");
  const second = uniq("raw");
  await withPage({ permissions: ["clipboard-read", "clipboard-write"] }, async (page) => {
    // The form notifications link to.
    await page.goto(BASE + "/#/raw?source=push");
    await page.locator("#raw-state").filter({ hasText: /live/ }).waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });
    await push([{ service: "raw", status: 200, marker: first, nested: { a: [1, 2] } }]);
    const newest = page.locator("#raw-list .msg").first();
    await newest.locator("pre", { hasText: first }).waitFor();
    // Pretty-printed: the JSON is indented over several lines.
    assert.match(await newest.locator("pre").textContent(), /\n {2}"marker": /);

    await newest.locator("button.copy").click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(JSON.parse(copied).marker, first);

    await page.locator("#raw-pause").click();
    await page.locator("#raw-state").filter({ hasText: /paused/ }).waitFor();
    await push([{ service: "raw", status: 200, marker: second }]);
    await until("the second message in the ring", async () => {
      const r = await (await fetch(`${BASE}/api/v1/raw?source=push&limit=5`)).json();
      return r.data.some((m) => m.raw.includes(second));
    });
    // Two poll intervals: a paused view must not have moved.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await page.locator("#raw-list pre", { hasText: second }).count(), 0, "paused view updated");
    await page.locator("#raw-pause").click();
    await page.locator("#raw-list .msg").first().locator("pre", { hasText: second }).waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
    await shot(page, "raw-stream");
  });
});

test("a notification's Raw events link shows the events behind the alert", { timeout: 90000 }, async () => {
  const svc = uniq("rawalert");
  const other = uniq("rawother");
  const since = new Date(Date.now() - 60e3).toISOString().replace(/\.\d+Z$/, "Z");
  await push(events(svc, 3, { status: 503, marker: svc }));
  await push(events(other, 2, { status: 503, marker: other }));
  await withPage({}, async (page) => {
    // The link of the notification templates: group labels, rule and since.
    const q = new URLSearchParams({ "group.service": svc, rule: "HighErrorRate", since });
    await page.goto(BASE + "/#/raw?" + q);
    await page.locator("#raw-alert", { hasText: "HighErrorRate" }).waitFor();
    await until("the alert's 3 events", async () => (await page.locator("#raw-list .msg").count()) === 3);
    for (const pre of await page.locator("#raw-list pre").all()) {
      assert.equal(JSON.parse(await pre.textContent()).service, svc);
    }
    assert.match(await page.locator("#raw-list .msg").first().textContent(), /· push/);
    assert.equal(await page.locator("#raw-list pre", { hasText: other }).count(), 0, "another group's events shown");
  });
});

test("SQL console runs with Ctrl+Enter and shows a table, a chart and errors", { timeout: 90000 }, async () => {
  await push(events(uniq("sql"), 2));
  // The refused statement's 400 is logged by the browser; nothing else may be.
  await withPage({ allow: (s) => /status of 400 \(Bad Request\)/.test(s) }, async (page) => {
    await page.goto(BASE + "/#/sql");
    const input = page.locator("#sql-input");
    await input.fill("SELECT 'hello' AS greeting, 6 * 7 AS answer");
    await input.press("Control+Enter");
    const tbl = page.locator("#sql-table");
    await tbl.waitFor();
    assert.deepEqual(await tbl.locator("th").allTextContents(), ["greeting", "answer"]);
    assert.deepEqual(await tbl.locator("tbody td").allTextContents(), ["hello", "42"]);

    await input.fill("DROP TABLE events");
    await page.locator("#sql-run").click();
    await page.locator("#sql-error").waitFor();
    assert.match(await page.locator("#sql-error").textContent(), /HTTP 400/);

    await until("stored windows", async () => {
      const r = await fetch(`${BASE}/api/v1/query`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sql: "SELECT count(*) FROM windows" }) });
      return (await r.json()).rows[0][0] > 1;
    });
    await input.fill("SELECT start, sum(CAST(json_extract(vals, '$.requests') AS DOUBLE)) AS requests\nFROM windows WHERE pipeline = 'api'\nGROUP BY start ORDER BY start");
    await input.press("Control+Enter");
    await page.locator("#sql-chart canvas").waitFor();
    assert.deepEqual(await page.locator("#sql-table th").allTextContents(), ["start", "requests"]);
    assert.match(await page.locator("#sql-meta").textContent(), /\d+ rows/);
    await shot(page, "sql");
  });
});

test("an alert appears on the alerts page when the rule fires", { timeout: 120000 }, async () => {
  const svc = uniq("alert");
  await withPage({}, async (page) => {
    await page.goto(BASE + "/#/alerts");
    await page.locator("#active").filter({ hasNotText: /Loading/ }).waitFor();
    await page.evaluate(() => { window.__sameDocument = true; });
    // HighErrorRate needs two consecutive failing windows: keep failing until it fires.
    const row = page.locator(`#active tr.alert`, { has: page.locator(".label", { hasText: "service=" + svc }) });
    let pushing = true;
    const pusher = (async () => {
      while (pushing) {
        await push(events(svc, 4, { status: 503 }));
        await new Promise((r) => setTimeout(r, 400));
      }
    })();
    try {
      await row.locator(".badge.firing").waitFor({ timeout: 60000 });
    } finally {
      pushing = false;
      await pusher;
    }
    assert.equal(await row.getAttribute("data-rule"), "HighErrorRate");
    assert.match(await row.textContent(), new RegExp(svc + " error rate 1"));
    assert.match(await row.locator(".badge").first().textContent(), /Critical/);
    // The decision log shows the notification going out.
    const fp = await row.getAttribute("data-fingerprint");
    await page.locator(`#history tr.transition[data-fingerprint="${fp}"] td.decision`, { hasText: /^sent/ }).first().waitFor();
    assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page reloaded");
    assert.ok(Number(await page.locator("#firing-count").textContent()) >= 1);
    await shot(page, "alerts");

    // The link a notification carries opens the alert highlighted, its history only.
    await page.goto(BASE + "/#/alerts?fingerprint=" + fp);
    await page.locator(`#active tr.hl[data-fingerprint="${fp}"]`).waitFor();
    await page.locator("#history tr.transition").first().waitFor();
    const fps = await page.locator("#history tr.transition").evaluateAll((rows) => [...new Set(rows.map((r) => r.dataset.fingerprint))]);
    assert.deepEqual(fps, [fp]);
  });
});

test("Chinese UI: follows the browser, switches in the header, and is remembered", { timeout: 90000 }, async () => {
  // A Chinese browser gets Chinese without choosing.
  await withPage({ locale: "zh-CN" }, async (page) => {
    await page.goto(BASE + "/#/overview");
    await page.locator('nav a[data-view="overview"]', { hasText: "概览" }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
  });
  // An English browser switches in the header; the choice survives a reload.
  await withPage({ locale: "en-US" }, async (page) => {
    await page.goto(BASE + "/#/overview");
    await page.locator('nav a[data-view="overview"]', { hasText: "Overview" }).waitFor();
    await page.locator("#lang").selectOption("zh-CN");
    await page.locator('nav a[data-view="alerts"]', { hasText: "告警" }).waitFor();
    await page.locator("#ov-sources h2", { hasText: "数据源" }).waitFor();
    await page.locator("#sources th", { hasText: "健康" }).waitFor();
    await page.locator('#sources tr[data-source="push"] .badge.up', { hasText: "正常" }).waitFor();
    await page.locator('.card[data-pipeline="api"] canvas').first().waitFor();
    await shot(page, "zh-CN");
    await page.reload();
    await page.locator('nav a[data-view="sql"]').waitFor();
    assert.equal(await page.locator('nav a[data-view="system"]').textContent(), "系统");
    await page.locator("#lang").selectOption("en");
    await page.locator('nav a[data-view="system"]', { hasText: "System" }).waitFor();
  });
});

test("system page shows lookout's own health from /metrics", { timeout: 60000 }, async () => {
  await withPage({}, async (page) => {
    await page.goto(BASE + "/#/system");
    for (const v of ["ingest", "backlog", "outbox", "goroutines", "heap"]) {
      await page.locator(`.card[data-vital="${v}"] .big`).filter({ hasText: /\d/ }).waitFor();
    }
    assert.match(await page.locator('.card[data-vital="ingest"] .big').textContent(), /^\d[\d,]* \/ \d[\d,]*$/);
    assert.match(await page.locator('.card[data-vital="heap"] .big').textContent(), /\d.*(KiB|MiB|GiB)$/);
    await page.locator('#sources tr[data-source="push"]').waitFor();
    await page.locator('.card[data-vital="goroutines"] canvas').waitFor();
    await shot(page, "system");
  });
});
