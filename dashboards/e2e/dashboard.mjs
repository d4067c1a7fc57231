// Drives headless Debian Chromium through the dashboard served by the Go
// test: opens it, logs in (a wrong password first), switches the period and the site, applies a filter,
// downloads a CSV, switches to French and to a phone's width, saving a
// screenshot at each step. Prints what it saw as JSON for the Go test.
//   node dashboard.mjs <dashboard URL with site and period> <screenshot dir> <user> <password>
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const { axeCheck } = await import("./axe.mjs");
const [url, shots, user, password] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = {};
try {
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 1100 }, locale: "en-GB" });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => { seen.pageErrors = (seen.pageErrors || []).concat(String(e)); });
  // Each change reloads the reports; the page clears data-loading when all are in.
  const settled = () => page.waitForFunction(() => document.body.dataset.loading === "" && document.querySelector("#breakdown tr"));
  const text = (sel) => page.textContent(sel);
  const rows = (sel) => page.$$eval(sel + " tr", (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent)));
  const set = async (sel, value) => {
    await page.fill(sel, value);
    await page.dispatchEvent(sel, "change");
    await settled();
  };

  await page.goto(url);
  // Not logged in: the login form, no report.
  await page.waitForSelector("#login:not([hidden])");
  seen.login = { mainHidden: await page.$eval("main", (m) => m.hidden) };
  await page.fill("#login-user", user);
  await page.fill("#login-password", "not-the-password");
  await page.click("#login-submit");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent !== "");
  seen.login.wrong = await text("#login-error");
  await page.fill("#login-password", password);
  await page.click("#login-submit");
  await settled();
  seen.login.user = await text("#user");
  seen.login.cookies = (await ctx.cookies()).map((c) => [c.name, c.httpOnly, c.sameSite].join(" "));
  seen.first = { visitors: await text("#visitors"), pageviews: await text("#pageviews"), sessions: await text("#sessions"),
    live: await text("#live"), livePages: await rows("#live-pages"),
    shop: [await text("#orders"), await text("#revenue"), await text("#aov"), await text("#conversion")], breakdown: await rows("#breakdown"), funnel: await rows("#funnel"), error: await text("#error"),
    ticks: await page.$$eval("#chart .tick", (ts) => ts.map((t) => t.textContent)), chartData: await rows("#chart-data"),
    byOptions: await page.$$eval("#by option", (os) => os.map((o) => o.value)) };
  seen.axe = { en: await axeCheck(page) };
  await page.screenshot({ path: shots + "/overview.png", fullPage: true });

  // Every later breakdown by device: its rows are known exactly.
  await page.selectOption("#by", "device");
  await page.waitForFunction(() => /mobile|desktop/.test(document.querySelector("#breakdown tr:nth-child(2)")?.textContent));

  await set("#from", "2026-11-11");
  seen.range = { visitors: await text("#visitors"), pageviews: await text("#pageviews") };

  await page.selectOption("#compare", "previous");
  await settled();
  seen.compare = { visitors: await text("#visitors-d"), chartData: await rows("#chart-data") };

  await set("#from", "2026-11-10");
  await set("#site", "other");
  // ann is a viewer of this site: no form to add a goal.
  seen.site = { visitors: await text("#visitors"), breakdown: await rows("#breakdown"), goalFormHidden: await page.$eval("#goal-form", (f) => f.hidden) };
  await set("#site", "shop");

  await page.fill("#filter", "device==mobile");
  await page.click("#add-filter");
  await settled();
  // Every figure of the period follows the filter: each key figure is
  // the API's filtered one, which the Go test fetches too.
  seen.filter = { chips: await text("#chips"), breakdown: await rows("#breakdown"),
    kpis: await page.$$eval(".kpi b", (bs) => bs.map((b) => [b.id, b.textContent])),
    pages: await rows("#pages"), sources: await rows("#sources"), chartData: await rows("#chart-data"), funnel: await rows("#funnel") };
  await page.selectOption("#compare", "year");
  await settled();
  seen.filter.lastYear = { visitors: await text("#visitors-d"), orders: await text("#orders-d"), chartData: (await rows("#chart-data")).slice(0, 1) };
  await page.selectOption("#compare", "previous");
  await settled();
  await page.screenshot({ path: shots + "/filtered.png", fullPage: true });

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
  const fs = await import("node:fs");
  seen.csv = { name: download.suggestedFilename(), body: fs.readFileSync(await download.path(), "utf8") };
  // No link the page built carries a credential.
  seen.links = await page.$$eval("a[href]", (as) => as.map((a) => a.href).filter((h) => /token|ff[stlp]_/.test(h)));

  // The cards of affiliates, people, segments and newsletters (with the
  // filter still on: it narrows the affiliates report only).
  await page.click("#chips button");
  await settled();
  await page.fill("#aff-id", "blog1");
  await page.fill("#aff-url", "https://shop.example/shoes");
  await page.click("#aff-make");
  await page.waitForFunction(() => document.querySelector("#aff-link").textContent !== "");
  await page.fill("#person", "a");
  await page.click("#person-find");
  await page.waitForFunction(() => document.querySelectorAll("#timeline tr").length > 1);
  seen.cards = { affiliates: await rows("#affiliates"), link: await text("#aff-link"), lifecycle: await rows("#lifecycle"),
    segments: await rows("#segments"), newsletters: await rows("#newsletters"), profile: await rows("#profile"),
    timeline: await rows("#timeline") };
  await page.screenshot({ path: shots + "/people.png", fullPage: true });

  // Goals: the editor saves three in the page and deletes one; the Go
  // test compares their figures with the API's.
  const goalRows = () => page.$$eval("#goals tr", (t) => t.length);
  const addGoal = async (name, kind, value) => {
    const n = await goalRows();
    await page.fill("#goal-name", name);
    await page.selectOption("#goal-kind", kind);
    if (kind !== "order") await page.fill("#goal-value", value);
    await page.click("#goal-add");
    await page.waitForFunction((n) => document.querySelectorAll("#goals tr").length > Math.max(n, 1), n);
  };
  seen.goals = { formHidden: await page.$eval("#goal-form", (f) => f.hidden) };
  await addGoal("Shoes", "page", "/shoes*");
  await addGoal("Order", "order", "");
  await addGoal("Hats", "page", "/hats");
  await page.click('#goals button[aria-label="Delete the goal Hats"]');
  await page.waitForFunction(() => document.querySelectorAll("#goals tr").length == 3);
  seen.goals.rows = await rows("#goals");
  seen.goals.msg = await text("#goals-msg");

  // A property's key is a dimension of the menu.
  await page.selectOption("#by", "prop.colour");
  await page.waitForFunction(() => /red/.test(document.querySelector("#breakdown").textContent));
  seen.prop = await rows("#breakdown");
  await page.selectOption("#by", "device");
  await page.waitForFunction(() => /mobile/.test(document.querySelector("#breakdown tr:nth-child(2)")?.textContent));

  await page.selectOption("#lang", "fr");
  await settled();
  seen.french = { visitors: await text("[data-t=visitors]"), breakdown: await text("[data-t=breakdown]"),
    revenue: await text("#revenue"), goals: await rows("#goals"), newsletters: await rows("#newsletters"), lifecycle: await rows("#lifecycle"), profile: await rows("#profile"), timeline: await rows("#timeline"),
    text: await page.evaluate(() => document.body.innerText),
    names: await page.$$eval("[aria-label]", (es) => es.map((e) => e.getAttribute("aria-label"))),
    heads: await page.$$eval("th", (ths) => ths.map((th) => th.textContent)) };
  const [frDownload] = await Promise.all([page.waitForEvent("download"), page.click("#csv-fr")]);
  seen.french.csv = fs.readFileSync(await frDownload.path(), "utf8");
  seen.axe.fr = await axeCheck(page);
  await page.screenshot({ path: shots + "/french.png", fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  seen.phone = { scrollWidth: await page.evaluate(() => document.documentElement.scrollWidth),
    // Every table whose figures are cut off: wider than its card and not
    // in a box that scrolls sideways and takes the keyboard's focus (a
    // data table may scroll: WCAG 2.2's reflow exempts two-dimensional
    // content, as long as all of it can be reached).
    wide: await page.$$eval("main table:not(.sr-only)", (ts) => ts.filter((t) => t.offsetParent && t.scrollWidth > t.parentElement.clientWidth &&
        !(getComputedStyle(t.parentElement).overflowX === "auto" && t.parentElement.tabIndex >= 0))
      .map((t) => t.id + " " + t.scrollWidth + ">" + t.parentElement.clientWidth)) };
  seen.axe.phone = await axeCheck(page);
  await page.screenshot({ path: shots + "/phone.png", fullPage: true });
  seen.url = page.url();
  // Logging out ends the session: the form again, and the API refuses
  // the old cookie.
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  seen.afterLogout = await page.evaluate(() => fetch("/api/v1/overview?site=shop").then((r) => r.status));
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
