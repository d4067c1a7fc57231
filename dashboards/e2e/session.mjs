// The People page's browser sessions, shared by people.mjs and
// people-import.mjs: headless Debian Chromium (playwright-core from
// sdk-js, path in PLAYWRIGHT_CORE), and a page of people.html opened by a
// user logged in through the API, once its segments and lifecycle stages
// are shown. Errors thrown by the page are added to seen.pageErrors.
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export async function openPeople(browser, url, name, pass, locale, seen) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  await page.goto(new URL("/", url).href);
  const login = await page.evaluate(([user, password]) =>
    fetch("/api/v1/login", { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ user, password }) }).then((r) => r.status), [name, pass]);
  if (login !== 200) throw new Error("login: HTTP " + login);
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll("#segments tbody tr").length > 0 &&
    document.querySelectorAll("#stages tbody tr").length === 6);
  return page;
}

// rows reads a table's body as text cells.
export const rows = (page, sel) => page.$$eval(sel + " tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
