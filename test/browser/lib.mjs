// Shared helpers for the browser tests: launch Debian's Chromium through
// playwright-core with a fresh profile, collect console errors, push events
// to lookout, and save screenshots for docs/screenshots.
import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import assert from "node:assert/strict";

export const BASE = (process.env.LOOKOUT_URL || "").replace(/\/$/, "");
export const SHOTS = process.env.LOOKOUT_SCREENSHOTS || path.resolve(import.meta.dirname, "../../docs/screenshots");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

if (!BASE) throw new Error("LOOKOUT_URL is not set: run these tests through `go test ./test/browser` (it starts lookout)");

// The flags keep Chromium off the network and quiet: no QUIC, no background
// or component updates, no sync, no first-run UI.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** uniq returns a name no other test (or earlier run) uses. */
export function uniq(prefix) { return prefix + "-" + Math.random().toString(36).slice(2, 8); }

/**
 * withPage runs fn(page, ctx) in a fresh Chromium profile and fails the test
 * if the page logged a console error or threw, unless allow(text) accepts it.
 */
export async function withPage(opts, fn) {
  const { allow = () => false, viewport = { width: 1280, height: 860 }, locale = "en-US", colorScheme = "light", permissions } = opts || {};
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lookout-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport, locale, colorScheme,
  });
  const errors = [];
  try {
    if (permissions) await ctx.grantPermissions(permissions, { origin: BASE });
    const page = ctx.pages()[0] || await ctx.newPage();
    page.setDefaultTimeout(20000);
    page.on("console", (m) => { if (m.type() === "error" && !allow(m.text())) errors.push("console: " + m.text()); });
    page.on("pageerror", (e) => { if (!allow(e.message)) errors.push("pageerror: " + e.message); });
    await fn(page, ctx);
    assert.deepEqual(errors, [], "the page logged errors");
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** push POSTs events (objects) as NDJSON to a push source and checks they were accepted. */
export async function push(events, { base = BASE, source = "push", token } = {}) {
  const headers = { "Content-Type": "application/x-ndjson" };
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(`${base}/api/v1/events?source=${source}`, { method: "POST", headers, body: events.map((e) => JSON.stringify(e)).join("\n") });
  const body = await r.json();
  assert.equal(r.status, 200, "push: " + JSON.stringify(body));
  assert.equal(body.accepted, events.length, "push accepted: " + JSON.stringify(body));
}

/** events makes n events for a service. */
export function events(service, n, extra = {}) {
  return Array.from({ length: n }, (_, i) => ({ service, status: 200, latency_ms: 10 + i, ...extra }));
}

/** shot saves a screenshot as docs/screenshots/NAME.png. */
export async function shot(page, name, opts = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  // A full-page shot from a scrolled page would paint the sticky header mid-page.
  if (opts.fullPage) await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), ...opts });
}

/** until polls fn until it returns a truthy value, failing after ms. */
export async function until(what, fn, ms = 20000, every = 250) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}` + (last instanceof Error ? ": " + last.message : ""));
    await new Promise((r) => setTimeout(r, every));
  }
}
