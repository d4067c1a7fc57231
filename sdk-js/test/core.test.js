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

// The page views sent, as [path and query, title].
const views = (f) => f.sent.filter((s) => s.ev.type == "pageview").map((s) => [s.ev.url.replace("https://shop.example", ""), s.ev.title]);

// Mock timers with the clock: the snippet reads Date.now() for its 2 s.
const clock = (t) => t.mock.timers.enable({ apis: ["setTimeout", "Date"] });
// pass lets ms go by in steps of 50 ms: one tick runs a timer once, not
// the timers it sets in turn (the snippet looks at the title every 400 ms).
const pass = (t, ms) => {
  for (let i = 0; i < ms; i += 50) t.mock.timers.tick(50);
};

test("SPA navigation: one page view per new path, engagement for the page left", (t) => {
  clock(t);
  const f = start();
  f.w.history.pushState({}, "", "/b");
  f.w.document.title = "B";
  t.mock.timers.tick(100);
  f.w.history.pushState({}, "", "/b"); // the same page pushed again: no second view
  t.mock.timers.tick(3000);
  f.go("/c");
  f.fire("popstate"); // back or forward
  f.w.document.title = "C";
  t.mock.timers.tick(100);
  f.go("/c#reviews");
  f.fire("popstate");
  f.fire("hashchange"); // a section of the page: the same view
  t.mock.timers.tick(3000);
  assert.deepEqual(f.types(), ["pageview", "engagement", "pageview", "engagement", "pageview"]);
  assert.deepEqual(views(f), [["/", "Title"], ["/b", "B"], ["/c", "C"]]);
  assert.equal(f.sent[1].ev.url, "https://shop.example/", "engagement names the page left");
  assert.equal(f.sent[2].ev.referrer, "https://shop.example/", "the SPA view's referrer is the previous page");
  assert.equal(f.sent[4].ev.referrer, "https://shop.example/b");
  assert.equal(new Set(f.sent.map((s) => s.ev.visitor_id)).size, 1);
});

test("a landing URL tidied by replaceState and then pushed again is one view: a bounce", (t) => {
  clock(t);
  const f = start({ href: "https://shop.example/p?utm_source=news" });
  f.w.history.replaceState(null, "", "/p"); // the site removes the tags
  f.w.history.pushState(null, "", "/p"); // and its router pushes the page it shows
  f.w.history.replaceState(null, "", "/p?sort=price#top"); // a filter, a section
  f.w.history.pushState(null, "", "/p?page=2"); // the next page of the list
  f.go("/p");
  f.fire("popstate"); // back to the first page of the list
  f.w.document.title = "Products";
  t.mock.timers.tick(5000);
  f.fire("pagehide");
  assert.deepEqual(f.types(), ["pageview", "engagement"]);
  assert.equal(f.sent[0].ev.url, "https://shop.example/p?utm_source=news");
});

test("a new path is a new view whether pushed, replaced, or reached by back and forward", (t) => {
  clock(t);
  const f = start({ href: "https://shop.example/list" });
  const to = (how, path, title) => {
    if (how == "pop") {
      f.go(path);
      f.fire("popstate");
    } else f.w.history[how](null, "", path);
    f.w.document.title = title;
    pass(t, 900);
  };
  to("pushState", "/item/1?ref_src=list", "Item 1");
  to("replaceState", "/login", "Log in"); // a redirect to another page
  to("pop", "/list", "List"); // back
  to("pop", "/login", "Log in"); // forward
  to("pushState", "/list", "List");
  assert.deepEqual(views(f), [["/list", "Title"], ["/item/1?ref_src=list", "Item 1"], ["/login", "Log in"], ["/list", "List"], ["/login", "Log in"], ["/list", "List"]]);
});

test("an SPA view is sent when the app sets its title, however late", (t) => {
  clock(t);
  const f = start({ href: "https://shop.example/" });
  f.w.history.pushState(null, "", "/shoes");
  t.mock.timers.tick(16); // the router renders on the next frame
  f.w.document.title = "Shoes";
  pass(t, 800);
  assert.deepEqual(views(f).at(-1), ["/shoes", "Shoes"]);
  f.w.history.pushState(null, "", "/hats"); // the title waits for the data: 1.5 s
  pass(t, 1500);
  assert.equal(views(f).length, 2, "not sent before the title is set");
  f.w.document.title = "Hats";
  pass(t, 800);
  assert.deepEqual(views(f), [["/", "Title"], ["/shoes", "Shoes"], ["/hats", "Hats"]]);
});

test("an SPA view whose title never changes is sent 2 s after its URL", (t) => {
  clock(t);
  const f = start({ href: "https://shop.example/" });
  f.w.history.pushState(null, "", "/about");
  pass(t, 1900);
  assert.equal(views(f).length, 1);
  pass(t, 100);
  assert.deepEqual(views(f), [["/", "Title"], ["/about", "Title"]]);
});

test("a view still waiting for its title is not lost: the page is hidden, left, or the visitor goes on", (t) => {
  clock(t);
  // Hidden (a tab switch, the phone locked, the tab closed).
  let f = start();
  f.w.history.pushState(null, "", "/a");
  t.mock.timers.tick(50);
  f.w.document.visibilityState = "hidden";
  f.fire("visibilitychange");
  f.fire("pagehide");
  assert.deepEqual(f.types(), ["pageview", "engagement", "pageview", "engagement"]);
  assert.deepEqual(views(f).at(-1), ["/a", "Title"]);
  // Left for another site without a visibility change (older Safari).
  f = start();
  f.w.history.pushState(null, "", "/a");
  f.fire("pagehide");
  assert.deepEqual(f.types(), ["pageview", "engagement", "pageview", "engagement"]);
  // On to another page before the title came: the view keeps its own URL.
  f = start();
  f.w.history.pushState(null, "", "/a?x=1");
  t.mock.timers.tick(50);
  f.w.history.pushState(null, "", "/b");
  assert.deepEqual(views(f), [["/", "Title"], ["/a?x=1", "Title"]]);
  f.w.document.title = "B";
  pass(t, 800);
  assert.deepEqual(views(f).at(-1), ["/b", "B"]);
  assert.equal(f.sent.at(-1).ev.referrer, "https://shop.example/a?x=1");
});

test("an event on a page whose view is waiting sends the view first", (t) => {
  clock(t);
  const f = start();
  f.w.history.pushState(null, "", "/thanks");
  f.api.purchase({ orderId: "A-1", revenue: 10 });
  assert.deepEqual(f.types(), ["pageview", "engagement", "pageview", "purchase"]);
  assert.equal(f.sent[3].ev.url, "https://shop.example/thanks");
  t.mock.timers.tick(3000);
  assert.equal(views(f).length, 2, "and only once");
});

test("a hash router's routes are pages when the site says so (hash)", (t) => {
  clock(t);
  const f = start({ href: "https://shop.example/app#/" }, { hash: true });
  f.go("/app#/cart");
  f.fire("popstate");
  f.fire("hashchange");
  t.mock.timers.tick(3000);
  f.w.history.pushState(null, "", "/app?tab=2#/cart"); // another query: the same page
  t.mock.timers.tick(3000);
  assert.deepEqual(views(f), [["/app#/", "Title"], ["/app#/cart", "Title"]]);
  // Without it, #/cart is a section of /app.
  const g = start({ href: "https://shop.example/app#/" });
  g.go("/app#/cart");
  g.fire("popstate");
  t.mock.timers.tick(3000);
  assert.deepEqual(views(g), [["/app#/", "Title"]]);
});

test("back to a page the browser kept (back-forward cache) is a new view", () => {
  const f = start();
  f.fire("pagehide", { persisted: true });
  f.fire("pageshow", { persisted: true });
  f.fire("pageshow", { persisted: false }); // a first load: counted already
  assert.deepEqual(f.types(), ["pageview", "engagement", "pageview"]);
});

test("a page counted by hand replaces the view waiting", (t) => {
  clock(t);
  const f = start();
  f.w.history.pushState(null, "", "/b");
  f.w.document.title = "B";
  f.api.page();
  t.mock.timers.tick(3000);
  assert.deepEqual(views(f), [["/", "Title"], ["/b", "B"]]);
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
  // An <a> element has its absolute href and the URL's parts.
  const click = (href, download = false) =>
    f.fire("click", { target: { closest: () => Object.assign(new URL(href, "https://shop.example/a"), { hasAttribute: () => download }) } });
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
  assert.deepEqual([order.type, order.order_id, order.revenue, order.currency], ["purchase", "1001", 179.8, "EUR"]);
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
  f.fire("pagehide");
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
  assert.deepEqual([first.utm_source, first.utm_campaign, first.gclid], ["newsletter", "nov", "G1"]);
  f.w.history.pushState({}, "", "/shoes");
  now += 29 * 60e3;
  f.api.track("still");
  const same = f.sent.at(-1).ev;
  assert.equal(same.session_id, first.session_id);
  assert.equal(same.utm_campaign, "nov", "tags from landing stay on later pages");
  assert.equal(same.gclid, "G1", "and so does the click id");
  now += 31 * 60e3;
  f.api.track("later");
  const later = f.sent.at(-1).ev;
  assert.notEqual(later.session_id, first.session_id);
  assert.equal(later.visitor_id, first.visitor_id, "the visitor stays");
  now += 60e3;
  f.w.history.pushState({}, "", "/?utm_source=partner");
  now += 2100;
  t.mock.timers.tick(400);
  const landed = f.sent.at(-1).ev;
  assert.equal(landed.type, "pageview");
  assert.notEqual(landed.session_id, later.session_id, "a new campaign starts a session");
  assert.equal(landed.utm_source, "partner");
  assert.equal(landed.utm_campaign, undefined, "the old campaign's tags do not carry over");
});

test("campaignOf reads the campaign parameters, as they are: the collector reads them as the processor does", () => {
  assert.deepEqual(campaignOf("https://s.example/?utm_source=a&utm_medium=b&aff=julie&msclkid=M&page=2&q=shoes"), {
    utm_source: "a",
    utm_medium: "b",
    aff: "julie",
    msclkid: "M",
  });
  assert.equal(campaignOf("https://s.example/?x=1"), undefined);
  assert.equal(campaignOf("not a url"), undefined);
});

test("campaignOf reads parameter names in any case; empty values are none, the first value wins", () => {
  assert.deepEqual(campaignOf("https://s.example/?UTM_SOURCE=News&Utm_Medium=email&utm_source=other&AFFILIATE_ID=julie&gclid=&TBLCI=T"), {
    utm_source: "News",
    utm_medium: "email",
    affiliate_id: "julie",
    tblci: "T",
  });
});

test("campaignOf keeps the click id of every ad platform the processor knows, and their families", () => {
  // The processor's list (event.ClickIDs) is held to this by
  // campaign_test.go; these are examples, with a platform it does not list.
  const ids = ["gclid", "gbraid", "wbraid", "dclid", "srsltid", "msclkid", "fbclid", "ttclid", "li_fat_id", "twclid", "ScCid", "epik",
    "yclid", "ymclid", "ysclid", "rdt_cid", "qclid", "obclid", "tblci", "ndclid", "irclickid", "s_kwcid", "ef_id", "GCLID", "RDT_CID",
    "newplatformclid"];
  for (const k of ids) {
    assert.deepEqual(campaignOf(`https://shop.example/p?x=1&${k}=0AAAAAo-test%2B1`), { [k.toLowerCase()]: "0AAAAAo-test+1" }, k);
  }
  for (const k of ["ref", "ff_rt", "utm_id", "mtm_source", "mtm_cid", "pk_campaign", "pk_kwd", "hsa_cam", "gad_source", "gad_campaignid",
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "_kx", "gclsrc", "aff", "affiliate", "affiliate_id"]) {
    assert.deepEqual(campaignOf(`https://shop.example/?${k}=v`), { [k]: "v" }, k);
  }
});

test("campaignOf takes nothing the collector would refuse", () => {
  // The collector refuses an event with a key that names nothing (400): a
  // look-alike here would lose every event of the session.
  for (const k of ["gclidx", "id", "braids", "epiks", "utm", "utm_", "pk_", "mc_", "gad", "_hs", "affx", "referrer", "tblcid", "cid", "mtm",
    "hsa_", "ef", "mkt", "clidx", "page", "q", "utm_" + "x".repeat(29), "x".repeat(29) + "clid", "é_clid"]) {
    assert.equal(campaignOf(`https://shop.example/?${encodeURIComponent(k)}=v`), undefined, k);
  }
  assert.deepEqual(campaignOf(`https://shop.example/?utm_${"x".repeat(28)}=v`), { ["utm_" + "x".repeat(28)]: "v" }, "32 bytes is the longest");
});

test("a landing's URL tidied to the same page is one view: a query inside a hash router's hash, a trailing slash", (t) => {
  clock(t);
  for (const [cfg, landing, tidied] of [
    [{ hash: true }, "/#/p?utm_source=news", "/#/p"],
    [{ hash: true }, "/app/#/p/?utm_source=news&utm_medium=email", "/app#/p"],
    [{ hash: true }, "/#/?gclid=G", "/"],
    [{}, "/p/?utm_source=news", "/p"],
    [{}, "/p?utm_source=news", "/p/"],
    [{}, "/a/b//?x=1", "/a/b"],
    [{ hash: true }, "/p/", "/p#/"],
  ]) {
    const f = start({ href: "https://shop.example" + landing }, cfg);
    f.w.history.replaceState(null, "", tidied);
    f.w.document.title = "P";
    pass(t, 3000);
    f.fire("pagehide");
    assert.deepEqual(f.types(), ["pageview", "engagement"], `${landing} then ${tidied}`);
    assert.equal(f.sent[0].ev.url, "https://shop.example" + landing);
  }
  // Other paths are other pages all the same.
  const f = start({ href: "https://shop.example/#/p?utm_source=news" }, { hash: true });
  f.w.history.pushState(null, "", "/#/q?utm_source=news");
  f.w.history.pushState(null, "", "/#/p/q");
  f.fire("pagehide");
  assert.deepEqual(views(f).map((v) => v[0]), ["/#/p?utm_source=news", "/#/q?utm_source=news", "/#/p/q"]);
});

test("a title set in steps: the view waits until the title has stayed the same", (t) => {
  clock(t);
  const f = start({ href: "https://shop.example/" });
  f.w.history.pushState(null, "", "/shoes");
  f.w.document.title = "Loading…";
  pass(t, 400);
  f.w.document.title = "Shoes";
  pass(t, 1000);
  assert.deepEqual(views(f), [["/", "Title"], ["/shoes", "Shoes"]]);
  // Three steps, 350 ms apart, each a change from the one before.
  f.w.history.pushState(null, "", "/hats");
  for (const title of ["Loading…", "Hats | Loading", "Hats"]) {
    f.w.document.title = title;
    pass(t, 350);
  }
  pass(t, 1000);
  assert.deepEqual(views(f).at(-1), ["/hats", "Hats"]);
  // A title that keeps changing is sent as it is 2 s after the URL.
  f.w.history.pushState(null, "", "/clock");
  for (let i = 0; i < 30; i++) {
    f.w.document.title = "12:00:0" + i;
    pass(t, 100);
  }
  assert.equal(views(f).length, 4);
  assert.ok(views(f)[3][1].startsWith("12:00:"));
});
