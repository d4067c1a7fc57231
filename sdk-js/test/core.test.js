import { test } from "node:test";
import assert from "node:assert/strict";
import { createTracker, campaignOf } from "../src/core.js";
import { fakeWindow } from "./fake.js";

const start = (opts = {}, cfg = {}) => {
  const f = fakeWindow(opts);
  const t = createTracker(f.w, { site: "demo", endpoint: "https://c.example", ...cfg });
  t.start();
  return { ...f, api: t.api, types: () => f.sent.map((s) => s.ev.type) };
};

test("first page view carries site, page, visitor and session", () => {
  const f = start({ href: "https://shop.example/a", referrer: "https://www.google.com/" });
  assert.equal(f.sent.length, 1);
  const { url, ev } = f.sent[0];
  assert.equal(url, "https://c.example/e");
  assert.equal(ev.type, "pageview");
  assert.equal(ev.site, "demo");
  assert.equal(ev.url, "https://shop.example/a");
  assert.equal(ev.referrer, "https://www.google.com/");
  assert.equal(ev.title, "Title");
  assert.ok(ev.visitor_id && ev.session_id);
  assert.equal(f.jar.get("ff_vid"), ev.visitor_id, "visitor id in a first-party cookie");
  assert.equal(f.store.get("ff_vid"), ev.visitor_id, "and mirrored in localStorage");
});

test("SPA navigation: one page view per new URL, engagement for the page left", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const f = start();
  f.w.history.pushState({}, "", "/b");
  t.mock.timers.tick(300);
  f.w.history.pushState({}, "", "/b"); // same URL again: no second view
  t.mock.timers.tick(300);
  f.go("/c");
  f.fire("popstate");
  t.mock.timers.tick(300);
  f.go("/c#reviews");
  f.fire("hashchange");
  t.mock.timers.tick(300);
  assert.deepEqual(f.types(), ["pageview", "engagement", "pageview", "engagement", "pageview", "engagement", "pageview"]);
  assert.equal(f.sent[1].ev.url, "https://shop.example/", "engagement names the page left");
  assert.equal(f.sent[2].ev.referrer, "https://shop.example/", "the SPA view's referrer is the previous page");
  assert.equal(new Set(f.sent.map((s) => s.ev.visitor_id)).size, 1);
});

test("a replaceState that keeps the path is the same page view; one that changes it, or a pushState, is a new one", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const f = start({ href: "https://shop.example/p?utm_source=news" });
  f.w.history.replaceState(null, "", "/p"); // the site tidies its URL
  f.w.history.replaceState(null, "", "/p?sort=price#top");
  t.mock.timers.tick(1000);
  assert.deepEqual(f.types(), ["pageview"], "still one view: a bounce");
  f.w.history.pushState(null, "", "/p?page=2"); // same path, pushed: a new view
  t.mock.timers.tick(300);
  f.w.history.replaceState(null, "", "/login"); // a redirect to another path
  t.mock.timers.tick(300);
  f.w.history.pushState(null, "", "/q");
  f.w.history.replaceState(null, "", "/q?x=1"); // a push and a replace in a row: one view
  t.mock.timers.tick(300);
  const views = f.sent.filter((s) => s.ev.type == "pageview").map((s) => s.ev.url);
  assert.deepEqual(views, ["https://shop.example/p?utm_source=news", "https://shop.example/p?page=2", "https://shop.example/login", "https://shop.example/q?x=1"]);
  assert.equal(f.sent.at(-1).ev.referrer, "https://shop.example/login");
});

test("an SPA view waits for the title the app sets after pushing the route", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const f = start({ href: "https://shop.example/" });
  f.w.history.pushState(null, "", "/shoes");
  t.mock.timers.tick(16); // the router renders on the next frame
  f.w.document.title = "Shoes";
  t.mock.timers.tick(300);
  f.go("/hats"); // back or forward: the app sets the title later still
  f.fire("popstate");
  t.mock.timers.tick(100);
  f.w.document.title = "Hats";
  t.mock.timers.tick(300);
  const views = f.sent.filter((s) => s.ev.type == "pageview").map((s) => [s.ev.url, s.ev.title]);
  assert.deepEqual(views, [["https://shop.example/", "Title"], ["https://shop.example/shoes", "Shoes"], ["https://shop.example/hats", "Hats"]]);
});

test("engagement is sent once when the page is hidden and left", (t) => {
  let now = 1_000_000;
  t.mock.method(Date, "now", () => now);
  const f = start();
  now += 12_400;
  f.w.document.visibilityState = "hidden";
  f.fire("visibilitychange");
  f.fire("pagehide");
  assert.deepEqual(f.types(), ["pageview", "engagement"]);
  assert.equal(f.sent[1].ev.props.seconds, 12);
});

test("outbound links and downloads are tracked", () => {
  const f = start();
  const click = (href, download = false) =>
    f.fire("click", { target: { closest: () => ({ href, hasAttribute: () => download }) } });
  click("https://partner.example/x");
  click("/files/catalogue.pdf");
  click("/export", true);
  click("/shoes"); // internal: nothing
  f.fire("click", { target: { closest: () => null } }); // not a link: nothing
  assert.deepEqual(f.types(), ["pageview", "outbound", "download", "download"]);
  assert.equal(f.sent[1].ev.props.url, "https://partner.example/x");
  assert.equal(f.sent[2].ev.props.url, "https://shop.example/files/catalogue.pdf");
});

test("commerce helpers send the collector's fields", () => {
  const f = start();
  f.api.viewProduct({ id: "TR-42", name: "Trail Runner", price: 89.9, category: "shoes" });
  f.api.addToCart({ id: "TR-42", price: 89.9, quantity: 2 });
  f.api.beginCheckout({ value: 179.8, currency: "EUR", items: [{ id: "TR-42", quantity: 2 }] });
  f.api.purchase({ orderId: 1001, revenue: 179.8, currency: "EUR", items: [{ id: "TR-42", quantity: 2 }] });
  f.api.purchase({ orderId: "no-revenue" });
  const [, view, cart, checkout, order, bare] = f.sent.map((s) => s.ev);
  assert.deepEqual([view.type, view.name, view.props.id, view.props.price], ["product_view", "Trail Runner", "TR-42", 89.9]);
  assert.deepEqual([cart.type, cart.props.quantity], ["add_to_cart", 2]);
  assert.equal(checkout.props.items, '[{"id":"TR-42","quantity":2}]');
  assert.deepEqual([order.type, order.order_id, order.revenue, order.currency], ["purchase", "1001", "179.8", "EUR"]);
  assert.equal("revenue" in bare, false, "no revenue key rather than the text undefined");
});

test("identity and consent", () => {
  const f = start();
  f.api.subscribe("Ann@Example.com", ["news", "tips"]);
  f.api.identify("cust-7", { plan: "pro", tags: ["a"] });
  f.api.createAccount("ann@example.com");
  f.api.consent({ analytics: true, marketing: false, newsletter: true });
  const [, sub, id, acct, consent] = f.sent.map((s) => s.ev);
  assert.deepEqual([sub.type, sub.user_id, sub.props.lists], ["subscribe", "Ann@Example.com", "news,tips"]);
  assert.deepEqual([id.type, id.user_id, id.props.plan, id.props.tags], ["identify", "cust-7", "pro", '["a"]']);
  assert.deepEqual([acct.type, acct.user_id], ["sign_up", "ann@example.com"]);
  assert.deepEqual(consent.props, { analytics: true, marketing: false, newsletter: true });
});

test("opt-out sends nothing until opt-in", () => {
  const f = start();
  f.api.optOut();
  f.api.track("x");
  f.w.history.pushState({}, "", "/b");
  assert.equal(f.sent.length, 1);
  f.api.optIn();
  f.api.track("y");
  assert.deepEqual(f.types(), ["pageview", "event"]);
});

test("Do Not Track and GPC are honoured only when the site asks", () => {
  assert.equal(start({ dnt: "1" }, { respectDnt: true }).sent.length, 0);
  assert.equal(start({ gpc: true }, { respectDnt: true }).sent.length, 0);
  assert.equal(start({ dnt: "1" }).sent.length, 1);
});

test("cookieless mode stores nothing and sends no visitor id", () => {
  const f = start({}, { cookieless: true });
  f.api.track("x");
  assert.equal(f.sent.length, 2);
  assert.equal(f.sent[0].ev.visitor_id, undefined);
  assert.equal(f.store.size + f.jar.size, 0);
});

test("blocked storage does not break tracking", () => {
  const f = start({ storage: false });
  f.api.addToCart({ id: "A" });
  assert.deepEqual(f.types(), ["pageview", "add_to_cart"]);
});

test("a bad call never throws into the page", () => {
  const f = start();
  const loop = {};
  loop.self = loop;
  assert.doesNotThrow(() => f.api.track("x", { loop }));
  assert.doesNotThrow(() => f.api.purchase(null));
});

test("sessions: 30 minutes of inactivity or a new campaign start a new one; landing tags stay with the session", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let now = 5_000_000;
  t.mock.method(Date, "now", () => now);
  const f = start({ href: "https://shop.example/?utm_source=newsletter&utm_campaign=nov&gclid=G1" });
  const first = f.sent[0].ev;
  assert.deepEqual([first.utm_source, first.utm_campaign, first.click_id], ["newsletter", "nov", "G1"]);
  f.w.history.pushState({}, "", "/shoes");
  now += 29 * 60e3;
  f.api.track("still");
  const same = f.sent.at(-1).ev;
  assert.equal(same.session_id, first.session_id);
  assert.equal(same.utm_campaign, "nov", "tags from landing stay on later pages");
  now += 31 * 60e3;
  f.api.track("later");
  const later = f.sent.at(-1).ev;
  assert.notEqual(later.session_id, first.session_id);
  assert.equal(later.visitor_id, first.visitor_id, "the visitor stays");
  now += 60e3;
  f.w.history.pushState({}, "", "/?utm_source=partner");
  t.mock.timers.tick(300);
  const landed = f.sent.at(-1).ev;
  assert.equal(landed.type, "pageview");
  assert.notEqual(landed.session_id, later.session_id, "a new campaign starts a session");
  assert.equal(landed.utm_source, "partner");
  assert.equal(landed.utm_campaign, undefined, "the old campaign's tags do not carry over");
});

test("campaignOf reads tags, affiliate and click ids", () => {
  assert.deepEqual(campaignOf("https://s.example/?utm_source=a&utm_medium=b&aff=julie&msclkid=M"), {
    utm_source: "a",
    utm_medium: "b",
    affiliate: "julie",
    click_id: "M",
  });
  assert.equal(campaignOf("https://s.example/?x=1"), undefined);
  assert.equal(campaignOf("not a url"), undefined);
});

test("campaignOf keeps the click id of every major ad platform", () => {
  const ids = ["gclid", "gbraid", "wbraid", "dclid", "msclkid", "fbclid", "ttclid", "li_fat_id", "twclid", "ScCid", "sccid", "epik", "yclid", "GCLID"];
  for (const k of ids) {
    assert.deepEqual(campaignOf(`https://shop.example/p?x=1&${k}=0AAAAAo-test%2B1`), { click_id: "0AAAAAo-test+1" }, k);
  }
  // Tags are kept beside it; the first click id is the one; empty ones and
  // look-alikes are none.
  assert.deepEqual(campaignOf("https://shop.example/?gbraid=G&utm_source=news&ttclid=T"), { utm_source: "news", click_id: "G" });
  assert.deepEqual(campaignOf("https://shop.example/?gclid=&fbclid=F"), { click_id: "F" });
  assert.equal(campaignOf("https://shop.example/?gclidx=1&id=2&braids=3&epiks=4"), undefined);
});
