// Drives headless Chromium through the single-page shop served by the Go
// test (TestBrowserSPA), then prints each visitor's id.
//   node spa.mjs <shop base URL>
import { chromium } from "playwright-core";

const shop = process.argv[2];
// As in journey.mjs: an ordinary Chrome's user agent, set by flag.
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--user-agent=" + UA, "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  // Playwright turns the back-forward cache off; browsers have it on.
  ignoreDefaultArgs: ["--disable-back-forward-cache"],
});
const ready = (page) => page.waitForFunction(() => window.footfall !== undefined);
const visitor = async (ctx) => (await ctx.cookies()).find((c) => c.name === "ff_vid")?.value;
const leave = async (page, ctx) => {
  await page.goto("about:blank");
  await page.waitForTimeout(500);
  await ctx.close();
};
const out = {};

try {
  // A lands from a newsletter; the site removes the tags from the URL with
  // replaceState, its router pushes the same page again, A opens the
  // list's page 2, a #section, and goes back: one page view, a bounce.
  const a = await browser.newContext();
  const pa = await a.newPage();
  await pa.goto(shop + "/spa.html?utm_source=news&utm_medium=email");
  await ready(pa);
  await pa.click("#tidy");
  if (new URL(pa.url()).search !== "") throw new Error("the URL was not tidied: " + pa.url());
  await pa.click("#repush");
  await pa.waitForTimeout(300);
  await pa.click("#page2");
  await pa.click("#to-reviews");
  await pa.goBack();
  await pa.waitForTimeout(2500);
  if (!pa.url().endsWith("/spa.html?page=2")) throw new Error("not back on page 2: " + pa.url());
  out.landed = await visitor(a);
  await leave(pa, a);

  // B moves through routes whose titles the app sets after the URL: on the
  // next frame, 120 ms and 1 s later; goes back; then to a route whose
  // title never changes, and one it leaves before its title comes.
  const b = await browser.newContext();
  const pb = await b.newPage();
  await pb.goto(shop + "/spa.html");
  await ready(pb);
  await pb.click("#to-about");
  await pb.waitForTimeout(500);
  await pb.click("#to-contact");
  await pb.waitForTimeout(500);
  await pb.click("#to-late");
  await pb.waitForTimeout(1500);
  await pb.goBack(); // to /contact
  await pb.waitForTimeout(500);
  await pb.click("#to-plain");
  await pb.waitForTimeout(2500);
  await pb.click("#to-slow");
  await pb.waitForTimeout(300);
  out.browsed = await visitor(b);
  await leave(pb, b);

  // C uses a hash router that says so (data-hash): each #/route is a page,
  // by a link or set by the app, the same route twice is one.
  const c = await browser.newContext();
  const pc = await c.newPage();
  await pc.goto(shop + "/hash.html#/");
  await ready(pc);
  await pc.click("#to-cart");
  await pc.waitForTimeout(300);
  await pc.click("#to-cart");
  await pc.waitForTimeout(300);
  await pc.click("#to-checkout");
  await pc.waitForTimeout(300);
  await pc.evaluate(() => (location.hash = "#/")); // the router's own link home
  await pc.waitForTimeout(300);
  out.hashed = await visitor(c);
  await leave(pc, c);

  // D leaves the app for another page of the site and comes back with the
  // back button: the browser restores the page from its back-forward
  // cache, without loading the snippet again.
  const d = await browser.newContext();
  const pd = await d.newPage();
  await pd.goto(shop + "/spa.html");
  await ready(pd);
  await pd.evaluate(() => addEventListener("pageshow", (e) => (window.restored = e.persisted)));
  await pd.click("#to-home");
  await pd.waitForURL("**/index.html");
  await ready(pd);
  await pd.goBack({ waitUntil: "commit" }); // a restored page fires no load event
  await pd.waitForTimeout(500);
  if (!(await pd.evaluate(() => window.restored))) throw new Error("the page was not restored from the back-forward cache");
  out.returned = await visitor(d);
  await leave(pd, d);

  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
