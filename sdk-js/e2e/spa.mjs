// Drives headless Chromium through the single-page shop served by the Go
// test (TestBrowserSPA), then prints the two visitors' ids.
//   node spa.mjs <shop base URL>
import { chromium } from "playwright-core";

const shop = process.argv[2];
// As in journey.mjs: an ordinary Chrome's user agent, set by flag.
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--user-agent=" + UA, "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const ready = (page) => page.waitForFunction(() => window.footfall !== undefined);
const visitor = async (ctx) => (await ctx.cookies()).find((c) => c.name === "ff_vid")?.value;

try {
  // A lands from a newsletter; the site removes the tags from the URL with
  // replaceState; A reads and leaves: one page view, a bounce.
  const a = await browser.newContext();
  const pa = await a.newPage();
  await pa.goto(shop + "/spa.html?utm_source=news&utm_medium=email");
  await ready(pa);
  await pa.click("#tidy");
  await pa.waitForTimeout(800);
  if (new URL(pa.url()).search !== "") throw new Error("the URL was not tidied: " + pa.url());
  const landed = await visitor(a);
  await pa.goto("about:blank");
  await pa.waitForTimeout(500);
  await a.close();

  // B moves through two routes whose titles the app sets after the URL:
  // on the next frame, and 120 ms later.
  const b = await browser.newContext();
  const pb = await b.newPage();
  await pb.goto(shop + "/spa.html");
  await ready(pb);
  await pb.click("#to-about");
  await pb.waitForTimeout(800);
  await pb.click("#to-contact");
  await pb.waitForTimeout(800);
  const browsed = await visitor(b);
  await pb.goto("about:blank");
  await pb.waitForTimeout(500);
  await b.close();

  console.log(JSON.stringify({ landed, browsed }));
} finally {
  await browser.close();
}
