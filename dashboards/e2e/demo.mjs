// Looks at what `make demo` leaves in the dashboards, in headless Debian
// Chromium, for the Go test tests/system/demo_browser_test.go: the
// reports page and the people page, each in English, in French and at a
// phone's 390 px, with a screenshot of each view (demo-*.png), and the
// figures and rows of every panel. Prints what it saw as JSON.
//   node demo.mjs <reports page URL with site and period> <people page URL> <screenshot dir> <user> <password>
import { launch, openPeople, rows } from "./session.mjs";
const [reportsURL, peopleURL, shots, user, password] = process.argv.slice(2);

const browser = await launch();
const seen = { pageErrors: [], reports: {}, people: {} };

// A table's rows below its header (the reports page's tables have no
// tbody), once it has some or as it is after ms (a card still loading, or
// empty).
const bodyRows = (page, sel) => page.$$eval(sel + " tr", (trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent.trim())));
const rowsWithin = async (page, sel, ms, read = bodyRows) => {
  await page.waitForFunction((s) => document.querySelectorAll(s + " tr").length > 1, sel, { timeout: ms }).catch(() => {});
  return read(page, sel);
};

// A table's header cells as shown (a column a phone leaves out is not).
const heads = (page, sel) => page.$$eval(sel + " th", (ths) => ths.filter((th) => th.offsetParent !== null).map((th) => th.textContent.trim()));

// The words of the page's tables cut across two lines anywhere but at a
// space or after a "-" or "/" (a header, name or definition cut mid-word);
// and how far the chart's date labels reach past its right edge.
const layout = (page) => page.evaluate(() => {
  const broken = [];
  const top = (n, i) => { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1); const b = r.getClientRects()[0]; return b ? Math.round(b.top) : null; };
  for (const cell of document.querySelectorAll("main th, main td")) {
    if (cell.offsetParent === null || cell.closest(".sr-only")) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const re = /\S+/g;
      for (let m = re.exec(n.data); m; m = re.exec(n.data)) {
        for (let i = m.index + 1, was = top(n, m.index); i < m.index + m[0].length; i++) {
          const now = top(n, i);
          if (now !== null && was !== null && now > was + 2 && !"-/".includes(n.data[i - 1])) broken.push(m[0]);
          if (now !== null) was = now;
        }
      }
    }
  }
  const svg = document.querySelector("#chart");
  const edge = svg ? svg.getBoundingClientRect().right : 0;
  const past = svg ? Math.max(0, ...[...svg.querySelectorAll(".tick")].map((t) => t.getBoundingClientRect().right - edge)) : 0;
  return { broken, tickOverflow: Math.round(past) };
});

async function reports(page) {
  await page.waitForFunction(() => document.body.dataset.loading === "" && document.querySelector("#breakdown tr"));
  const cards = {};
  for (const sel of ["#pages", "#sources", "#breakdown", "#funnel", "#affiliates", "#lifecycle", "#segments", "#newsletters", "#goals", "#live-pages"]) {
    cards[sel.slice(1).replace(/-(.)/g, (_, c) => c.toUpperCase())] = await rowsWithin(page, sel, 5000);
  }
  return {
    kpis: await page.$$eval(".kpi b", (bs) => bs.map((b) => [b.id, b.textContent.trim()])),
    chart: await bodyRows(page, "#chart-data"),
    ticks: await page.$$eval("#chart .tick", (ts) => ts.map((t) => t.textContent)),
    heads: { breakdown: await heads(page, "#breakdown"), sources: await heads(page, "#sources"), newsletters: await heads(page, "#newsletters") },
    ...(await layout(page)),
    ...cards,
  };
}

async function people(page) {
  return {
    stages: await rows(page, "#stages"), classes: await rowsWithin(page, "#classes", 5000, rows),
    segments: await rows(page, "#segments"), campaigns: await rowsWithin(page, "#campaigns", 5000, rows),
    ...(await layout(page)),
  };
}

const phone = async (page) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(300);
  return page.evaluate(() => document.documentElement.scrollWidth);
};

try {
  // The reports page, logged in as the people page's session does.
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 1100 }, locale: "en-GB" });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => seen.pageErrors.push("reports: " + String(e)));
  await page.goto(new URL("/", reportsURL).href);
  const login = await page.evaluate(([user, password]) =>
    fetch("/api/v1/login", { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ user, password }) }).then((r) => r.status), [user, password]);
  if (login !== 200) throw new Error("login: HTTP " + login);
  await page.goto(reportsURL);
  seen.reports.en = await reports(page);
  await page.screenshot({ path: shots + "/demo-reports-en.png", fullPage: true });
  await page.selectOption("#lang", "fr");
  await page.waitForFunction(() => document.documentElement.lang === "fr");
  seen.reports.fr = await reports(page);
  await page.screenshot({ path: shots + "/demo-reports-fr.png", fullPage: true });
  seen.reports.phoneWidth = await phone(page);
  seen.reports.phone = await reports(page);
  await page.screenshot({ path: shots + "/demo-reports-390.png", fullPage: true });
  await ctx.close();

  // The people page.
  const p = await openPeople(browser, peopleURL, user, password, "en-GB", seen);
  seen.people.en = await people(p);
  await p.screenshot({ path: shots + "/demo-people-en.png", fullPage: true });
  await p.selectOption("#lang", "fr");
  await p.waitForFunction(() => document.documentElement.lang === "fr" && document.body.dataset.ready === "1");
  seen.people.fr = await people(p);
  await p.screenshot({ path: shots + "/demo-people-fr.png", fullPage: true });
  seen.people.phoneWidth = await phone(p);
  seen.people.phone = await people(p);
  await p.screenshot({ path: shots + "/demo-people-390.png", fullPage: true });
  await p.context().close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
