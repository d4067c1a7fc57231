// Runs the built dist/t.js, as a browser would load it, in a fake window.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { fakeWindow } from "./fake.js";

const code = readFileSync(new URL("../dist/t.js", import.meta.url), "utf8");

const load = (queue, attrs = {}, opts = {}) => {
  const f = fakeWindow(opts);
  // data-respect-dnt="true" is dataset.respectDnt.
  f.w.document.currentScript = { src: "https://collector.example/t.js", dataset: { site: "demo", ...attrs } };
  if (queue) f.w.ct = queue;
  vm.runInNewContext(code, { window: f.w, URL, JSON, Math, Date, setTimeout });
  return f;
};

test("the script tag build sends a page view to the collector it was loaded from", () => {
  const f = load();
  assert.equal(f.sent.length, 1);
  assert.equal(f.sent[0].url, "https://collector.example/e");
  assert.equal(f.sent[0].ev.site, "demo");
});

test("calls queued before load run, and ct.push works after", () => {
  const f = load([["track", "early", { a: 1 }], ["nope"]]);
  f.w.ct.push(["addToCart", { id: "A" }]);
  assert.deepEqual(f.sent.map((s) => s.ev.type), ["event", "pageview", "add_to_cart"]);
  assert.equal(f.sent[0].ev.name, "early");
  assert.equal(typeof f.w.footfall.purchase, "function");
});

test("an opt-out queued before load prevents every request", () => {
  const f = load([["optOut"]]);
  f.w.ct.push(["track", "x"]);
  assert.equal(f.sent.length, 0);
});

test("data attributes configure the tracker", () => {
  const f = load(null, { endpoint: "https://other.example", cookieless: "true", respectDnt: "true" });
  assert.equal(f.sent[0].url, "https://other.example/e");
  assert.equal(f.sent[0].ev.visitor_id, undefined);
  assert.equal(load(null, { respectDnt: "true" }, { dnt: "1" }).sent.length, 0);
  // "false" is off, as is no attribute.
  const g = load(null, { cookieless: "false", respectDnt: "false", hash: "false" }, { dnt: "1" });
  assert.equal(g.sent.length, 1);
  assert.ok(g.sent[0].ev.visitor_id);
  assert.match(load(null, { lifetimeDays: "30" }).cookies[0], /;max-age=2592000;/);
  assert.match(load().cookies[0], /;max-age=34128000;/, "395 days by default");
});

test("data-hash makes a hash router's routes pages", () => {
  for (const [hash, want] of [["true", 2], [undefined, 1]]) {
    const f = load(null, hash ? { hash } : {}, { href: "https://shop.example/app#/" });
    f.go("/app#/cart");
    f.fire("popstate");
    f.fire("pagehide");
    assert.equal(f.sent.filter((s) => s.ev.type == "pageview").length, want, "data-hash=" + hash);
  }
});
