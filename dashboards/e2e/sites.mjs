// Drives headless Debian Chromium through the dashboards' Sites page
// served by the Go test: a setting refused with its reason, a site made,
// a setting changed, a key added (shown once) and revoked. Prints what it
// saw as JSON for the Go test. Then it switches the page to French (the
// same switch and stored choice as the reports page), reads its headings,
// labels, accessible names and messages, checks it at 390 px, and runs
// axe-core in English and in French.
//   node sites.mjs <URL of sites.html> <screenshot dir> <user> <password>
// It logs in first, as a person would: the page uses the session cookie.
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
import { axeCheck } from "./axe.mjs";
const [url, shots, user, password] = process.argv.slice(2);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = { pageErrors: [] };
try {
  const page = await (await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-GB" })).newPage();
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  const rows = (sel) => page.$$eval(sel + " tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  await page.goto(new URL("/", url).href);
  const login = await page.evaluate(([user, password]) =>
    fetch("/api/v1/login", { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "same-origin",
      body: JSON.stringify({ user, password }) }).then((r) => r.status), [user, password]);
  if (login !== 200) throw new Error("login: HTTP " + login);
  await page.goto(url);
  await page.waitForFunction(() => !/Loading/.test(document.querySelector("#list").textContent));
  seen.empty = await page.textContent("#list");

  await page.fill("[name=id]", "paris");
  await page.fill("[name=name]", "Paris shop");
  await page.fill("[name=domains]", "shop.example, Boutique.Example");
  await page.fill("[name=time_zone]", "Europe/Pariss");
  await page.fill("[name=currency]", "EUR");
  await page.click("#save");
  await page.waitForFunction(() => document.querySelector("#form-error").textContent !== "");
  seen.refused = await page.textContent("#form-error");

  await page.fill("[name=time_zone]", "Europe/Paris");
  await page.click("#save");
  await page.waitForFunction(() => /paris/.test(document.querySelector("#list").textContent) && !document.querySelector("#keys-card").hidden);
  seen.made = await rows("#list");

  await page.fill("[name=loyal_orders]", "5");
  await page.click("#save");
  await page.waitForFunction(() => /5 orders/.test(document.querySelector("#list").textContent));
  seen.changed = await rows("#list");

  await page.fill("#key-name", "backend");
  await page.click("#add-key");
  await page.waitForFunction(() => !document.querySelector("#new-key").hidden && document.querySelectorAll("#keys tr").length === 1);
  seen.key = await page.textContent("#new-key-value");
  seen.keys = await rows("#keys");
  await page.screenshot({ path: shots + "/sites.png", fullPage: true });
  seen.axeEn = await axeCheck(page);

  // French: every heading, label, button, accessible name and message.
  await page.selectOption("#lang", "fr");
  await page.waitForFunction(() => document.documentElement.lang === "fr" && /commandes/.test(document.querySelector("#list").textContent));
  const french = () => page.evaluate(() => ({
    lang: document.documentElement.lang, title: document.title, stored: localStorage.getItem("ff_lang"),
    headings: [...document.querySelectorAll("h1, h3")].map((h) => h.textContent.replace(/\s+/g, " ").trim()),
    labels: [...document.querySelectorAll("label")].map((l) => l.textContent.replace(/\s+/g, " ").trim()),
    headers: [...document.querySelectorAll("th")].map((h) => h.textContent),
    buttons: [...document.querySelectorAll("button")].map((b) => b.textContent + "|" + (b.getAttribute("aria-label") || "")),
    names: [...document.querySelectorAll("[aria-label]")].map((e) => e.getAttribute("aria-label")),
    placeholders: [...document.querySelectorAll("[placeholder]")].map((e) => e.placeholder),
    list: [...document.querySelectorAll("#list tr")].map((tr) => [...tr.children].map((td) => td.textContent)),
  }));
  seen.fr = await french();
  await page.fill("[name=affiliate_rates]", "blog1");
  await page.click("#save");
  await page.waitForFunction(() => document.querySelector("#form-error").textContent !== "");
  seen.fr.badRate = await page.textContent("#form-error");
  await page.fill("[name=affiliate_rates]", "");
  await page.click("#save");
  await page.waitForFunction(() => /enregistré/.test(document.querySelector("#status").textContent));
  seen.fr.saved = await page.textContent("#status");
  seen.axeFr = await axeCheck(page);
  // Reloaded, the page keeps French (the stored choice, as the other pages).
  await page.reload();
  await page.waitForFunction(() => !/Loading|Chargement/.test(document.querySelector("#list").textContent));
  seen.frReloaded = await page.textContent("h1");

  // A phone: nothing wider than the screen but a table in its scrolling box.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click("#list button");
  await page.waitForFunction(() => !document.querySelector("#keys-card").hidden);
  seen.narrow = await page.evaluate(() => ({
    width: document.documentElement.scrollWidth,
    widest: [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > 391).map((e) => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).slice(0, 8),
    cut: [...document.querySelectorAll("header > *, label, button, input, select, h1, h3, p")]
      .filter((e) => e.offsetParent && !e.closest(".scroll") && e.getBoundingClientRect().right > 391)
      .map((e) => e.outerHTML.slice(0, 80)),
  }));
  await page.screenshot({ path: shots + "/sites-fr-390.png", fullPage: true });
  seen.axeFrNarrow = await axeCheck(page);

  page.on("dialog", (d) => d.accept());
  await page.click("#keys button");
  await page.waitForFunction(() => document.querySelectorAll("#keys tr").length === 0);
  seen.afterRevoke = await rows("#keys");
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
