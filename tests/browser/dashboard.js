// The dashboard in a real browser: Debian's chromium driven by playwright-core.
// Run by the e2e test `dashboard` (tests/e2e/dashboard.rs), which starts the
// host and checks afterwards that the replayed event reached its subscriber.
//
// env: WEFT_URL (the host), SCREENSHOT (where to save the page), CHROMIUM
// (the browser; default /usr/bin/chromium), MODULE (the module with a failed
// event), SUBSCRIPTION, EDIT (the new data, as JSON text).
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const env = process.env;
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const problems = [];
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.goto(env.WEFT_URL + "/ui");
    await page.waitForSelector(`tr[data-module="${env.MODULE}"]`, { timeout: 10000 });
    await page.waitForSelector(`tr[data-subscription="${env.SUBSCRIPTION}"]`, { timeout: 10000 });
    const failed = `tr[data-error^="${env.MODULE}/"]`;
    await page.waitForSelector(failed, { timeout: 10000 });
    await page.screenshot({ path: env.SCREENSHOT, fullPage: true });

    await page.click(`${failed} button[data-inspect]`);
    await page.waitForSelector("#inspect:not([hidden])");
    await page.fill("#edit-data", env.EDIT);
    await page.click("#replay");
    await page.waitForFunction(() => document.getElementById("replay-result").textContent !== "", null, { timeout: 10000 });
    const result = await page.textContent("#replay-result");
    if (result !== "replayed 1") throw new Error(`the replay answered: ${result}`);
    if (problems.length) throw new Error(`the page failed: ${problems.join("; ")}`);
    console.log(JSON.stringify({ replayed: result }));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(String(e && e.stack || e));
  process.exit(1);
});
