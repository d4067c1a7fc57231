// Drives headless Chromium through landings a site tidies and routes whose
// titles come in steps (TestBrowserPages), then prints each visitor's id.
//   node pages.mjs <shop base URL>
import { chromium } from "playwright-core";

const shop = process.argv[2];
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--user-agent=" + UA, "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const ready = (page) => page.waitForFunction(() => window.footfall !== undefined);
const visitor = async (ctx) => (await ctx.cookies()).find((c) => c.name === "ff_vid")?.value;
const leave = async (page, ctx) => {
  await page.goto("about:blank");
  await page.waitForTimeout(500);
  await ctx.close();
};
// visit opens url in a new visitor's browser, runs steps in the page, waits
// and leaves; it returns the visitor's id.
const visit = async (url, steps = () => {}, arg) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(shop + url);
  await ready(page);
  await page.evaluate(steps, arg);
  await page.waitForTimeout(2500);
  const id = await visitor(ctx);
  await leave(page, ctx);
  return id;
};
const out = {};

try {
  // A hash router's landing with tags in the hash's query, tidied away: one
  // view, a bounce.
  out.hashTidied = await visit("/hash.html#/cart?utm_source=news", () => history.replaceState(null, "", "/hash.html#/cart"));
  // A landing with a trailing slash, tidied without it and pushed again
  // with it: one view.
  out.slashTidied = await visit("/spa.html/?utm_source=news&utm_medium=email", () => {
    history.replaceState(null, "", "/spa.html");
    history.pushState(null, "", "/spa.html/");
  });
  // Titles in steps: "Loading…" then the page's, 400 ms later; three steps
  // 350 ms apart; a title that never settles is sent within about 2 s.
  out.steps = await visit("/spa.html", async () => {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    history.pushState(null, "", "/shoes");
    document.title = "Loading…";
    await sleep(400);
    document.title = "Shoes";
    await sleep(2500);
    history.pushState(null, "", "/hats");
    for (const t of ["Loading…", "Hats | Loading", "Hats"]) {
      document.title = t;
      await sleep(350);
    }
    await sleep(2500);
    history.pushState(null, "", "/clock");
    const start = Date.now();
    for (let i = 0; i < 30; i++) {
      document.title = "Clock " + i;
      await sleep(100);
    }
    window.clockSpan = Date.now() - start;
  });
  // A Matomo link with its campaign alone, and an Awin affiliate click.
  out.matomo = await visit("/spa.html?pk_campaign=Spring");
  out.awin = await visit("/spa.html?awc=1234_1700000000_abc");
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
