// Drives headless Debian Chromium through the People page's customer
// import (tests/system people_browser_test.go TestBrowserCustomerImport):
// an editor uploads a customers CSV and an orders CSV, reads the import's
// counts, its refused rows and the imported people as classified; the
// page in English, in French and at 390 px is screenshot and checked by
// axe-core (WCAG 2.2 AA). Prints what it saw as JSON for the Go test.
//   node people-import.mjs <URL of people.html> <screenshot dir> <editor> <password> <customers.csv> <orders.csv>
import { launch, openPeople, rows } from "./session.mjs";
import { axeCheck } from "./axe.mjs";
const [url, shots, user, password, customers, orders] = process.argv.slice(2);

const browser = await launch();
const seen = { pageErrors: [], axe: {} };
try {
  const page = await openPeople(browser, url, user, password, "en-GB", seen);
  // The files are chosen by their labels, as a screen reader user would.
  await page.getByLabel("Customers CSV").setInputFiles(customers);
  await page.getByLabel("Orders CSV").setInputFiles(orders);
  await page.click("#cust-import");
  // Done when the people are shown, or when there is an answer without any.
  await page.waitForFunction(() => document.querySelectorAll("#cust-people tbody tr").length > 0 ||
    !/^…?$/.test(document.querySelector("#cust-msg").textContent) && document.querySelector("#cust-people-h").hidden);
  seen.message = await page.textContent("#cust-msg");
  seen.errors = await rows(page, "#cust-errors");
  seen.people = await rows(page, "#cust-people");
  seen.axe.en = await axeCheck(page);
  await page.screenshot({ path: shots + "/people-import-en.png", fullPage: true });

  await page.selectOption("#lang", "fr");
  await page.waitForFunction(() => document.documentElement.lang === "fr" && document.body.dataset.ready === "1");
  seen.frMessage = await page.textContent("#cust-msg");
  seen.frErrors = await rows(page, "#cust-errors");
  seen.frPeople = await rows(page, "#cust-people");
  seen.frNames = await page.$$eval("#cust-file, #orders-file", (els) => els.map((e) => e.labels[0].textContent.trim()));
  seen.axe.fr = await axeCheck(page);
  await page.screenshot({ path: shots + "/people-import-fr.png", fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  seen.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  seen.phoneClipped = await page.evaluate(() => ["#cust-errors", "#cust-people"].map((sel) => {
    const t = document.querySelector(sel);
    return t.parentElement.scrollWidth - t.parentElement.clientWidth;
  }));
  seen.axe.phone = await axeCheck(page);
  await page.locator("#import-card").screenshot({ path: shots + "/people-import-390.png" });
  await page.context().close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
