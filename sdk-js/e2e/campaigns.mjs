// Drives headless Chromium through five landings of one visitor, each from
// another campaign, with parameters in the case ad platforms and people
// write them, for TestBrowserCampaigns. Prints the visitor's id.
//   node campaigns.mjs <shop base URL>
import { chromium } from "playwright-core";

const shop = process.argv[2];
const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--user-agent=" + UA, "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const land = async (query) => {
    await page.goto(shop + "/spa.html" + query);
    await page.waitForFunction(() => window.footfall !== undefined);
  };
  // A Taboola ad with an affiliate and a campaign tag in capitals; then a
  // route of the app.
  await land("?AFFILIATE_ID=julie&TBLCI=T-1&Utm_Campaign=spring");
  await page.click("#to-about");
  await page.waitForTimeout(500);
  await land("?rdt_cid=R-2"); // a Reddit ad
  await land("?ref=producthunt"); // a launch post
  await land("?pk_campaign=launch&MTM_SOURCE=matomo"); // a link tagged for Matomo
  await page.click("#to-about");
  await page.waitForTimeout(500);
  await land("?IrClickId=I-3&srsltid=S-4"); // an Impact partner's link; the first id is the one
  await land(""); // the same visit goes on
  const visitor = (await ctx.cookies()).find((c) => c.name === "ff_vid")?.value;
  await page.goto("about:blank");
  await page.waitForTimeout(500);
  await ctx.close();
  console.log(JSON.stringify({ visitor }));
} finally {
  await browser.close();
}
