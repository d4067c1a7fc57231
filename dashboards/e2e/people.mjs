// Drives headless Debian Chromium through the dashboards' People and
// newsletters page served by the Go test (tests/system
// people_browser_test.go): builds the segment "pros and resellers who
// bought at least twice but not in 90 days" with an OR group and an AND
// group, exports it, gives a person the class VIP, creates a campaign with
// its cost and imports recipients with a bad row; screenshots in English,
// French and at 390 px, each checked by axe-core (WCAG 2.2 AA); then checks
// that a viewer sees no editing control.
// Prints what it saw as JSON for the Go test.
//   node people.mjs <URL of people.html> <screenshot dir> <editor> <password> <viewer> <password>
import { readFileSync, writeFileSync } from "node:fs";
import { launch, openPeople, rows } from "./session.mjs";
import { axeCheck } from "./axe.mjs";
const [url, shots, user, password, viewer, viewerPassword] = process.argv.slice(2);

const browser = await launch();
const seen = { pageErrors: [], axe: {} };
const open = (name, pass, locale) => openPeople(browser, url, name, pass, locale, seen);

try {
  const page = await open(user, password, "en-GB");
  seen.lang = await page.evaluate(() => document.documentElement.lang);
  seen.stages = await rows(page, "#stages");

  // The segment: (population pro OR population revendeur) AND (orders >= 2
  // AND days since the last order >= 90).
  await page.fill("#seg-name", "Pros and resellers to win back");
  const group1 = page.locator("#groups fieldset.group").nth(0);
  await group1.locator(".g-match").selectOption("any");
  await group1.locator(".cond").nth(0).locator(".c-field").selectOption("population");
  await group1.locator(".cond").nth(0).getByLabel("pro", { exact: true }).check();
  await group1.getByRole("button", { name: "Add a condition" }).click();
  await group1.locator(".cond").nth(1).locator(".c-field").selectOption("population");
  await group1.locator(".cond").nth(1).getByLabel("revendeur", { exact: true }).check();
  await page.click("#add-group");
  const group2 = page.locator("#groups fieldset.group").nth(1);
  await group2.locator(".g-match").selectOption("all");
  await group2.locator(".cond").nth(0).locator(".c-field").selectOption("orders");
  await group2.locator(".cond").nth(0).locator(".c-op").selectOption(">=");
  await group2.locator(".cond").nth(0).getByLabel("Value").fill("2");
  await group2.getByRole("button", { name: "Add a condition" }).click();
  await group2.locator(".cond").nth(1).locator(".c-field").selectOption("days_since_last_order");
  await group2.locator(".cond").nth(1).locator(".c-op").selectOption(">=");
  await group2.locator(".cond").nth(1).getByLabel("Value").fill("90");
  await page.click("#seg-save");
  await page.waitForFunction(() => /Saved|members/.test(document.querySelector("#seg-msg").textContent) ||
    document.querySelector("#seg-msg").className === "error");
  seen.saved = await page.textContent("#seg-msg");
  await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length > 0);
  seen.size = await page.textContent("#members-size");
  seen.members = await rows(page, "#members");
  seen.segments = await rows(page, "#segments");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  seen.csv = readFileSync(await download.path(), "utf8");
  seen.csvName = download.suggestedFilename();

  // A class of the shop's own on a person.
  await page.fill("#person", "cons@x.example");
  await page.click("#person-find");
  await page.waitForFunction(() => !document.querySelector("#manual").hidden && document.querySelectorAll("#profile tbody tr").length > 0);
  await page.getByLabel("Class (a lifecycle class or your own, e.g. VIP)").fill("VIP");
  await page.getByLabel("Populations, one per line").fill("consommateur\nclients fidèles");
  await page.click("#manual-save");
  await page.waitForFunction(() => /Saved/.test(document.querySelector("#manual-msg").textContent) ||
    document.querySelector("#manual-msg").className === "error");
  seen.manual = await page.textContent("#manual-msg");
  await page.waitForFunction(() => /VIP/.test(document.querySelector("#profile").textContent));
  seen.profile = await rows(page, "#profile");
  seen.classes = await rows(page, "#classes");

  // A campaign with its cost, recipients with a bad row, the rewritten mail.
  await page.fill("#camp-name", "Relance pros");
  await page.fill("#camp-cost", "150");
  await page.fill("#camp-currency", "EUR");
  await page.click("#campaign-form button[type=submit]");
  await page.waitForFunction(() => !document.querySelector("#campaign-box").hidden);
  const csvPath = shots + "/people-recipients.csv";
  writeFileSync(csvPath, "email,external_id\npro1@x.example,C1\nnot-an-address,C2\nres1@x.example,C3\n");
  await page.setInputFiles("#rcpt-file", csvPath);
  await page.click("#rcpt-import");
  await page.waitForFunction(() => document.querySelectorAll("#rcpt-errors tbody tr").length > 0);
  seen.imported = await page.textContent("#rcpt-msg");
  seen.importErrors = await rows(page, "#rcpt-errors");
  await page.waitForFunction(() => document.querySelectorAll("#merge tbody tr").length === 2);
  seen.merge = await rows(page, "#merge");
  await page.fill("#nl-html", '<p>Bonjour {{name}}</p><a href="https://shop.example/pros">Nos offres</a> <a href="#top">haut</a>');
  await page.click("#nl-rewrite");
  await page.waitForFunction(() => document.querySelector("#nl-out").value !== "" || document.querySelector("#nl-msg").className === "error");
  seen.rewritten = await page.inputValue("#nl-out");
  seen.rewriteMsg = await page.textContent("#nl-msg");
  await page.waitForFunction(() => {
    const cells = document.querySelectorAll("#campaigns tbody tr td");
    return cells.length > 1 && /Relance pros/.test(cells[0].textContent) && cells[1].textContent === "2";
  });
  seen.campaigns = await rows(page, "#campaigns");
  seen.report = await rows(page, "#report");
  // Every control has an accessible name.
  seen.unnamed = await page.$$eval("input, select, textarea, button", (els) => els.filter((e) => {
    if (e.closest("[hidden]") || e.type === "hidden") return false;
    const labelled = e.labels && e.labels.length > 0;
    return !labelled && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby") && !(e.textContent || "").trim();
  }).map((e) => e.outerHTML.slice(0, 80)));
  seen.axe.en = await axeCheck(page);
  await page.screenshot({ path: shots + "/people-en.png", fullPage: true });

  await page.selectOption("#lang", "fr");
  await page.waitForFunction(() => document.documentElement.lang === "fr" && document.body.dataset.ready === "1");
  seen.frSegHead = await page.textContent("#segments thead");
  seen.frLangName = await page.getAttribute("#lang", "aria-label");
  seen.frMembers = await rows(page, "#members");
  seen.frProfile = await rows(page, "#profile");
  seen.frReport = await rows(page, "#report");
  seen.frGroups = await page.$$eval("#groups .cond input[type=checkbox]:checked", (cbs) => cbs.map((c) => c.value));
  seen.frStages = await rows(page, "#stages");
  seen.frBuilder = await page.textContent("#builder-h");
  seen.axe.fr = await axeCheck(page);
  await page.screenshot({ path: shots + "/people-fr.png", fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(200);
  seen.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  // The key columns of the campaigns and members tables are on screen.
  seen.phoneClipped = await page.evaluate(() => ["#campaigns", "#members"].map((sel) => {
    const t = document.querySelector(sel);
    return t.parentElement.scrollWidth - t.parentElement.clientWidth;
  }));
  seen.axe.phone = await axeCheck(page);
  await page.screenshot({ path: shots + "/people-390.png", fullPage: true });
  await page.context().close();

  // A viewer reads but sees no control that changes something.
  const vpage = await open(viewer, viewerPassword, "fr-FR");
  seen.viewerLang = await vpage.evaluate(() => document.documentElement.lang);
  seen.viewerHidden = await vpage.evaluate(() => ["builder-card", "manual", "campaign-form", "import-card"].map((id) => document.getElementById(id).hidden));
  seen.viewerRole = await vpage.textContent("#role-msg");
  seen.axe.viewer = await axeCheck(vpage);
  await vpage.context().close();
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
