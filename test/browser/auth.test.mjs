// A lookout with API tokens (LOOKOUT_AUTH_URL, LOOKOUT_TOKEN): the page asks
// for the token once, uses it for the API and the live feed, and shows a clear
// banner when the server goes away (LOOKOUT_AUTH_PID is stopped at the end).
import { test } from "node:test";
import assert from "node:assert/strict";
import { withPage, shot, push, events, uniq } from "./lib.mjs";

const URL_ = (process.env.LOOKOUT_AUTH_URL || "").replace(/\/$/, "");
const TOKEN = process.env.LOOKOUT_TOKEN || "";
const PID = Number(process.env.LOOKOUT_AUTH_PID || 0);

// The browser logs every refused request as a console error: the 401s that
// open the prompt, the live feed cut off mid-stream, and its reconnect
// attempts once the server is gone. Anything else still fails the test.
const expected = (s) => /status of 401 \(Unauthorized\)|net::ERR_(CONNECTION_REFUSED|EMPTY_RESPONSE|CONNECTION_RESET|INCOMPLETE_CHUNKED_ENCODING)/.test(s);

test("token prompt on 401; the token then opens the API and the live feed; banner when the server is gone", { timeout: 120000 }, async (t) => {
  assert.ok(URL_ && TOKEN && PID, "LOOKOUT_AUTH_URL, LOOKOUT_TOKEN and LOOKOUT_AUTH_PID must be set");
  await withPage({ allow: expected }, async (page) => {
    await page.goto(URL_ + "/#/overview");
    const dialog = page.locator("#token-dialog");
    await dialog.locator("#token-input").waitFor();
    await shot(page, "token-prompt");

    await page.locator("#token-input").fill("wrong-token");
    await page.locator("#token-save").click();
    await dialog.locator("#token-error", { hasText: /rejected/ }).waitFor();

    await page.locator("#token-input").fill(TOKEN);
    await page.locator("#token-save").click();
    await dialog.waitFor({ state: "hidden" });
    await page.locator('#sources tr[data-source="push"]').waitFor();
    await page.locator("#conn.live").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("lookout-token")), TOKEN);

    // The feed works with the token (?access_token=): a window arrives live.
    const svc = uniq("auth");
    await push(events(svc, 2), { base: URL_, token: TOKEN });
    await page.locator(`.card[data-pipeline="api"] [data-group="service=${svc}"]`).waitFor();

    await t.test("banner when the server is gone", async () => {
      process.kill(PID, "SIGTERM");
      const banner = page.locator("#banner");
      await banner.waitFor({ state: "visible", timeout: 30000 });
      assert.match(await banner.textContent(), /Lost the connection/);
      assert.match(await page.locator("#conn").getAttribute("class"), /down/);
      await shot(page, "disconnected");
    });
  });
});
