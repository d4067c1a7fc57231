// The tracker: page views (SPA included), outbound clicks, downloads,
// engagement time, commerce helpers, identity and consent. It never throws
// into the host page: every entry point is wrapped, storage may be blocked,
// and an opted-out visitor causes no request at all. Written for size: the
// script-tag build has a 2 KB gzip budget (build.mjs enforces it).

const P = "ff_";
const CAMPAIGN = ["source", "medium", "campaign", "term", "content"].map((k) => "utm_" + k);
const CLICK = /clk?id$|braid$|^(li_fat_id|sccid|epik)$/i;
const DOWNLOAD = /\.(pdf|zip|gz|dmg|exe|apk|csv|xlsx?|docx?|pptx?|mp[34]|epub)$/i;

// Calls f, swallowing any error: nothing here may break the host page.
const quiet = (f, d) => {
  try {
    return f();
  } catch (e) {
    return d;
  }
};

// createTracker wires a tracker to the window w. cfg: site (required),
// endpoint (collector base URL), cookieless, respectDnt, lifetimeDays,
// sessionMinutes.
export function createTracker(w, cfg) {
  const d = w.document, nav = w.navigator, loc = w.location;
  const sessionMs = (cfg.sessionMinutes || 30) * 6e4;
  let lastUrl, lastPath, lastRef = d.referrer, since = Date.now(), visible = 0, flushed = false;

  const get = (k) => quiet(() => w.localStorage.getItem(P + k), null);
  const set = (k, v) => quiet(() => (v == null ? w.localStorage.removeItem(P + k) : w.localStorage.setItem(P + k, v)));
  const cookie = () => quiet(() => (("; " + d.cookie).match("; " + P + "vid=([^;]*)") || [])[1]);
  const rand = () => quiet(() => w.crypto.randomUUID(), Math.random() + "" + Date.now());
  const str = (v) => (v == null ? v : String(v));
  const flat = (o) => {
    const out = {};
    for (const k in o) out[k] = o[k] && typeof o[k] == "object" ? JSON.stringify(o[k]) : o[k];
    return out;
  };

  const optedOut = () =>
    get("optout") == "1" || (cfg.respectDnt && (nav.doNotTrack == "1" || nav.globalPrivacyControl));

  // The visitor id lives in a first-party cookie, so the shop's backend can
  // read it and send it with its orders, mirrored in localStorage; each visit
  // extends its lifetime. Cookieless mode stores nothing: the collector then
  // derives a daily id.
  const visitorId = () => {
    if (cfg.cookieless) return;
    // Ids are cookie-safe (a UUID, or digits and a dot), so not escaped.
    const v = cookie() || get("vid") || rand();
    quiet(() => (d.cookie = P + "vid=" + v + ";path=/;max-age=" + (cfg.lifetimeDays || 395) * 864e2 + ";SameSite=Lax"));
    set("vid", v);
    return v;
  };

  // A session ends after sessionMinutes without events, or when the visitor
  // lands again from another campaign. The campaign tags seen on landing
  // stay with every event of the session.
  const session = () => {
    const t = Date.now(), landing = campaignOf(loc.href);
    let s = quiet(() => JSON.parse(get("ses")));
    const live = s && t - s.last <= sessionMs;
    if (!live || (landing && JSON.stringify(landing) != JSON.stringify(s.utm))) {
      s = { id: rand(), utm: landing || (live ? s.utm : null) };
    }
    s.last = t;
    if (!cfg.cookieless) set("ses", JSON.stringify(s));
    return s;
  };

  const send = (type, fields) => {
    if (optedOut()) return;
    const s = session();
    const ev = { site: cfg.site, type, url: loc.href, session_id: s.id, visitor_id: visitorId(), ...s.utm };
    for (const k in fields) if (fields[k] != null) ev[k] = fields[k];
    const url = cfg.endpoint + "/e", body = JSON.stringify(ev);
    // sendBeacon survives the page being left, and its text/plain body needs
    // no CORS preflight; fetch with keepalive is the fallback.
    quiet(() => nav.sendBeacon(url, body)) || quiet(() => w.fetch(url, { method: "POST", body, keepalive: true }));
  };

  const engagement = () => {
    if (flushed || !lastUrl) return;
    flushed = true;
    const ms = visible + (d.visibilityState == "hidden" ? 0 : Date.now() - since);
    send("engagement", { url: lastUrl, props: { seconds: Math.round(ms / 1e3) } });
  };

  const page = (force) => {
    const url = loc.href;
    if (url == lastUrl && !force) return; // routers often push the same URL twice
    if (lastUrl) {
      engagement();
      lastRef = lastUrl;
    }
    lastUrl = url;
    lastPath = loc.pathname;
    visible = 0;
    since = Date.now();
    flushed = false;
    send("pageview", { referrer: lastRef, title: d.title });
  };

  // A single-page app's navigation. A replaceState that keeps the path
  // (tags dropped from the landing URL, a filter added) is the same page
  // view. Otherwise the view is sent 300 ms later: routers set the new
  // page's title after changing the URL, and page reads the URL and title
  // when it sends, so a push and a replace in a row count once.
  const route = (push) => (push || loc.pathname != lastPath) && setTimeout(quiet, 300, page);

  // Product and checkout fields go as props, nested values as JSON.
  const product = (type) => (p = {}) => send(type, { name: p.name, props: flat(p) });
  const person = (type) => (id, traits) => send(type, { user_id: str(id), props: flat(traits) });

  const api = {
    page: () => page(true),
    track: (name, props) => send("event", { name: str(name), props: flat(props) }),
    viewProduct: product("product_view"),
    addToCart: product("add_to_cart"),
    removeFromCart: product("remove_from_cart"),
    beginCheckout: (c) => send("begin_checkout", { props: flat(c) }),
    createAccount: person("sign_up"),
    purchase: (o = {}) =>
      send("purchase", {
        order_id: str(o.orderId),
        revenue: str(o.revenue),
        currency: o.currency,
        props: flat({ items: o.items }),
      }),
    subscribe: (email, lists) => send("subscribe", { user_id: str(email), props: { lists: [].concat(lists || []).join() } }),
    identify: person("identify"),
    // Each purpose is recorded as given, separately.
    consent: (purposes) => send("consent", { props: flat(purposes) }),
    optOut: () => set("optout", 1),
    optIn: () => set("optout"),
  };
  // Every public call is wrapped: a tracker bug must never break the page.
  for (const k in api) {
    const f = api[k];
    api[k] = (...a) => quiet(() => f(...a));
  }

  const start = () =>
    quiet(() => {
      const on = (t, ev, f) => t.addEventListener(ev, f, true);
      for (const m of ["pushState", "replaceState"]) {
        const orig = w.history[m];
        w.history[m] = function () {
          const r = orig.apply(this, arguments);
          quiet(() => route(m < "q"));
          return r;
        };
      }
      on(w, "popstate", () => route(1));
      on(w, "hashchange", () => route(1));
      on(d, "click", (e) =>
        quiet(() => {
          const a = e.target.closest("a[href]");
          const u = new URL(a.href, loc.href);
          if (a.hasAttribute("download") || DOWNLOAD.test(u.pathname)) send("download", { props: { url: u.href } });
          else if (u.host != loc.host && /^http/.test(u.protocol)) send("outbound", { props: { url: u.href } });
        }),
      );
      on(d, "visibilitychange", () => {
        if (d.visibilityState == "hidden") {
          visible += Date.now() - since;
          engagement();
        } else since = Date.now();
      });
      on(w, "pagehide", engagement);
      page();
    });

  return { api, start };
}

// campaignOf returns the utm_* tags, affiliate and click id of a landing
// URL, or undefined when it has none. Click ids are the ad platforms'
// (gclid, gbraid, wbraid, dclid, msclkid, fbclid, ttclid, li_fat_id,
// twclid, ScCid, epik, yclid...), the first one found; which platform and
// medium an id stands for is the processor's to say, from the landing URL
// every session's first event carries (one table, in processor/enrich).
export function campaignOf(href) {
  let out;
  quiet(() => {
    const q = new URL(href).searchParams;
    const put = (k, v) => v && ((out = out || {})[k] = v);
    for (const k of CAMPAIGN) put(k, q.get(k));
    put("affiliate", q.get("aff") || q.get("affiliate"));
    put("click_id", [...q].find(([k, v]) => v && CLICK.test(k))?.[1]);
  });
  return out;
}
