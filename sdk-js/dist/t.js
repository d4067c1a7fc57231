/* footfall snippet: <script defer data-site="SITE" src="https://collector/t.js"></script> */
(function (w, d) {
  "use strict";
  try {
    var s = d.currentScript || d.querySelector("script[data-site]");
    if (!s) return;
    var site = s.getAttribute("data-site");
    var base = s.src.replace(/\/t\.js(\?.*)?$/, "");
    var KEY = "ff_vid", vid = null;
    try {
      vid = w.localStorage.getItem(KEY);
      if (!vid) {
        vid = (w.crypto && w.crypto.randomUUID) ? w.crypto.randomUUID() : String(Math.random()).slice(2) + Date.now();
        w.localStorage.setItem(KEY, vid);
      }
    } catch (e) { vid = null; } // storage blocked: the collector derives a daily id
    var send = function (ev) {
      ev.site = site;
      if (vid) ev.visitor_id = vid;
      ev.url = ev.url || w.location.href;
      var body = JSON.stringify(ev);
      try {
        if (w.navigator.sendBeacon && w.navigator.sendBeacon(base + "/e", body)) return;
      } catch (e) {}
      try { w.fetch(base + "/e", { method: "POST", body: body, keepalive: true }); } catch (e) {}
    };
    var last = null;
    var page = function () {
      var url = w.location.href;
      if (url === last) return; // SPA routers often push the same URL twice
      var ref = last || d.referrer;
      last = url;
      send({ type: "pageview", url: url, referrer: ref, title: d.title });
    };
    var api = {
      page: page,
      track: function (name, props) { send({ type: "event", name: String(name), props: props || {} }); }
    };
    var run = function (cmd) {
      try { if (cmd && api[cmd[0]]) api[cmd[0]].apply(null, [].slice.call(cmd, 1)); } catch (e) {}
    };
    var queued = w.ct || [];
    w.ct = { push: run };
    for (var i = 0; i < queued.length; i++) run(queued[i]);
    var wrap = function (name) {
      var orig = w.history[name];
      w.history[name] = function () { var r = orig.apply(this, arguments); page(); return r; };
    };
    wrap("pushState"); wrap("replaceState");
    w.addEventListener("popstate", page);
    w.addEventListener("hashchange", page);
    page();
  } catch (e) {} // never break the host page
})(window, document);
