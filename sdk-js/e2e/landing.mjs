// Drives headless Chromium as a real phone whose name holds "bot" (a CUBOT
// P80) landing from a Google Ads click on iOS-style auto-tagging (gbraid),
// then moving to a route whose path has accents (the browser sends it
// percent-encoded), for TestBrowserAdLanding. Prints the visitor's id.
//   node landing.mjs <shop base URL>
import { chromium } from "playwright-core";

const shop = process.argv[2];
const UA =
  "Mozilla/5.0 (Linux; Android 13; CUBOT P80) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--user-agent=" + UA, "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(shop + "/spa.html?gbraid=0AAAAAo-test");
  await page.waitForFunction(() => window.footfall !== undefined);
  await page.evaluate(() => history.pushState(null, "", "/café/crème"));
  await page.waitForTimeout(800);
  if (!page.url().includes("/caf%C3%A9/cr%C3%A8me")) throw new Error("the browser kept the path as typed: " + page.url());
  const visitor = (await ctx.cookies()).find((c) => c.name === "ff_vid")?.value;
  await page.goto("about:blank");
  await page.waitForTimeout(500);
  await ctx.close();
  console.log(JSON.stringify({ visitor }));
} finally {
  await browser.close();
}
