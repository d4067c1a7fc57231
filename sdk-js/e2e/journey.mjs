// Drives headless Debian Chromium through a shopping journey on the demo
// shop served by the Go test, then prints what the Go test needs to check
// ClickHouse: the visitor id the browser kept.
//   node journey.mjs <shop base URL>
import { chromium } from "playwright-core";

const shop = process.argv[2];
// Headless Chromium says "HeadlessChrome", which the collector drops as a
// bot, as it should; the journey plays a person with an ordinary Chrome.
// The flag, not a context option, because beacons sent while a page unloads
// leave from the browser process with its own user agent.
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--user-agent=" + UA, "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const ready = (page) => page.waitForFunction(() => window.footfall !== undefined);
// sendBeacon hands requests to the browser; give them a moment to leave
// before a context, and its network, is closed.
const settle = (page) => page.waitForTimeout(700);

try {
  // Visitor A lands from the newsletter, browses, buys, leaves for a partner.
  const a = await browser.newContext();
  await a.route("https://partner.example/**", (r) => r.fulfill({ status: 200, contentType: "text/html", body: "<p>partner</p>" }));
  const p = await a.newPage();
  await p.goto(shop + "/?utm_source=newsletter&utm_medium=email&utm_campaign=nov");
  await ready(p);
  await p.click("#to-product");
  await p.waitForURL("**/product.html");
  await ready(p);
  await p.click("#add-to-cart");
  await p.click("#checkout");
  await p.waitForURL("**/checkout");
  await p.fill("#email", "Ann@Example.com");
  await p.click("#subscribe");
  await p.click("#buy");
  await settle(p);
  const cookies = await a.cookies();
  const visitor = cookies.find((c) => c.name === "ff_vid")?.value;
  await p.click("#partner");
  await p.waitForURL("https://partner.example/**");
  await settle(p);
  const state = await a.storageState();
  await a.close();

  // The same browser comes back (a second context with A's storage).
  const b = await browser.newContext({ storageState: state });
  const pb = await b.newPage();
  await pb.goto(shop + "/");
  await ready(pb);
  await pb.goto("about:blank");
  await settle(pb);
  await b.close();

  // A visitor who opted out causes no request, here or on the next page.
  const c = await browser.newContext();
  const pc = await c.newPage();
  await pc.goto(shop + "/optout.html");
  await ready(pc);
  await pc.click("#to-home");
  await pc.waitForURL(shop + "/");
  await ready(pc);
  await settle(pc);
  await c.close();

  console.log(JSON.stringify({ visitor }));
} finally {
  await browser.close();
}
