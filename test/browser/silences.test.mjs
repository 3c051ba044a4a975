// Silences and acknowledgements from the alerts page, in headless Chromium
// against the open lookout of browser_test.go (HighErrorRate: error_rate >
// 0.5 over 1 s windows by service, for: 2, webhook).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, withPage, push, events, shot, uniq } from "./lib.mjs";

/** failWindows pushes failing events for svc in n separate 1 s windows. */
async function failWindows(svc, n) {
  for (let i = 0; i < n; i++) {
    await push(events(svc, 4, { status: 503 }));
    await new Promise((r) => setTimeout(r, 1300));
  }
}

test("silence an alert from the page: it fires muted, the history says why, expiring it sends it", { timeout: 120000 }, async () => {
  const svc = uniq("mute");
  await withPage({}, async (page) => {
    await page.goto(BASE + "/#/alerts");
    await page.locator("#active").filter({ hasNotText: /Loading/ }).waitFor();
    const row = page.locator("#active tr.alert", { has: page.locator(".label", { hasText: "service=" + svc }) });

    // One failing window: pending (the rule needs two).
    await failWindows(svc, 1);
    await row.locator(".badge.pending").waitFor({ timeout: 30000 });

    // Silence it from its row, with a comment.
    await row.locator("button.silence").click();
    await row.locator("form select").selectOption({ label: "1 hour" });
    await row.locator("form input").fill("deploying " + svc);
    await row.locator('form button[type="submit"]').click();
    await page.locator("#alert-notice", { hasText: /is silenced until/ }).waitFor();
    const badge = row.locator(".badge.silenced");
    await badge.waitFor();
    const id = await badge.getAttribute("title");
    assert.match(id, /^[0-9a-f]{16}$/);
    const sil = page.locator(`#silences tr.silence-row[data-id="${id}"]`);
    await sil.waitFor();
    assert.equal(await sil.getAttribute("data-state"), "active");
    assert.match(await sil.textContent(), new RegExp("service=\"" + svc + "\".*deploying " + svc));

    // It fires, muted: the decision is the silence, not a send.
    await failWindows(svc, 2);
    await row.locator(".badge.firing").waitFor({ timeout: 30000 });
    assert.ok(await row.evaluate((tr) => tr.classList.contains("is-muted")), "the firing row is not shown as muted");
    const fp = await row.getAttribute("data-fingerprint");
    const decisions = page.locator(`#history tr.transition[data-fingerprint="${fp}"] td.decision`);
    await decisions.filter({ hasText: "suppressed: silence " + id }).first().waitFor();
    assert.equal(await decisions.filter({ hasText: /^(sent|queued)/ }).count(), 0, "a silenced alert was sent");
    await shot(page, "alerts-silenced");

    // Expire the silence: the still-failing alert goes out on its next window.
    await sil.locator("button.expire").click();
    await page.locator(`#silences tr.silence-row[data-id="${id}"][data-state="expired"]`).waitFor();
    await badge.waitFor({ state: "detached" });
    await failWindows(svc, 1);
    await decisions.filter({ hasText: /^queued$/ }).first().waitFor({ timeout: 30000 });
  });
});

test("acknowledge a firing alert: the row says who, and withdrawing it works", { timeout: 120000 }, async () => {
  const svc = uniq("ack");
  await withPage({}, async (page) => {
    await page.goto(BASE + "/#/alerts");
    await page.locator("#active").filter({ hasNotText: /Loading/ }).waitFor();
    const row = page.locator("#active tr.alert", { has: page.locator(".label", { hasText: "service=" + svc }) });
    await failWindows(svc, 2);
    await row.locator(".badge.firing").waitFor({ timeout: 30000 });

    await row.locator("button.ack").click();
    await page.locator("#alert-notice", { hasText: /is acknowledged until/ }).waitFor();
    await row.locator(".badge.acked", { hasText: "acked by anonymous" }).waitFor();
    const r = await fetch(BASE + "/api/v1/alerts");
    const alert = (await r.json()).data.find((a) => a.labels.service === svc);
    assert.equal(alert.ack.comment, "acknowledged from the dashboard");

    await row.locator("button.unack").click();
    await row.locator(".badge.acked").waitFor({ state: "detached" });
    await row.locator("button.ack").waitFor();
  });
});
