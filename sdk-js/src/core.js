// The tracker: page views (SPA included), outbound clicks, downloads,
// engagement time, commerce helpers, identity and consent. It never throws
// into the host page: every entry point is wrapped, storage may be blocked,
// and an opted-out visitor causes no request at all. Written for size: the
// script-tag build has a 2 KB gzip budget (build.mjs enforces it).

const P = "ff_";
// The landing URL's query parameters that say where a visit came from,
// names in any case: exactly those of event.LandingParam, which the
// collector takes as keys of a hit (campaign_test.go holds the two
// together). Families of tags by prefix (utm_*, Matomo's mtm_* and pk_*,
// HubSpot's hsa_* and _hs*, Google Ads' gad_*, Mailchimp's mc_*); the ad
// platforms' click ids (event.ClickIDs), those shaped ...clid, ...clkid,
// ...clickid or ...braid, an unlisted platform's included, and the others
// by name; Marketo's and Klaviyo's tags; the affiliate; ref; a
// newsletter's ff_rt; gclsrc.
const CAMPAIGN =
  /^((utm|mtm|pk|hsa|gad|mc)_\w+|_hs\w+|\w*(cl(ick|k)?id|braid)|srsltid|li_fat_id|s[cs]cid|epik|cjevent|awc|ransiteid|clickref|tduid|rdt_cid|tblci|s_kwcid|ef_id|mkt_tok|_kx|aff(iliate(_id)?)?|ref|ff_rt|gclsrc)$/i;
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
// sessionMinutes (numbers, or their text), hash (a hash router's #/route
// is part of the page).
export function createTracker(w, cfg) {
  const d = w.document, nav = w.navigator, loc = w.location;
  const sessionMs = (+cfg.sessionMinutes || 30) * 6e4;
  // prev is the URL of the page last counted (before the first, the
  // referrer); visible, the ms it was visible before since, when its
  // current visible stretch began (0 while hidden); flushed says its
  // engagement was sent. pend is a view waiting for its title (route).
  let lastPath, pend, title0, seen, due, prev = d.referrer, since = Date.now(), visible = 0, flushed = 1;

  const get = (k) => quiet(() => w.localStorage[P + k]);
  const set = (k, v) => quiet(() => (w.localStorage[P + k] = v));
  const cookie = () => quiet(() => d.cookie.match("(^|; )" + P + "vid=([^;]*)")[2]);
  // A UUID; where there is none (a page served over http), Math.random's
  // 52 bits as text.
  const rand = () => quiet(() => w.crypto.randomUUID(), Math.random() + "");
  const str = (v) => v?.toString();

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
    quiet(() => (d.cookie = P + "vid=" + v + ";path=/;max-age=" + (+cfg.lifetimeDays || 395) * 864e2 + ";SameSite=Lax"));
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
      s = { id: rand(), utm: landing || (live && s.utm) };
    }
    s.last = t;
    if (!cfg.cookieless) set("ses", JSON.stringify(s));
    return s;
  };

  // An event on a page whose view is still waiting (see route) sends that
  // view first, so a page's view comes before what happens on it.
  const send = (type, fields) => {
    settle();
    if (optedOut()) return;
    const s = session();
    const ev = { site: cfg.site, type, url: loc.href, session_id: s.id, visitor_id: visitorId(), ...s.utm, ...fields };
    // Props are flat: a nested value (an order's items) goes as JSON text.
    const url = cfg.endpoint + "/e",
      body = JSON.stringify(ev, function (k, v) {
        return this == ev.props && v && typeof v == "object" ? JSON.stringify(v) : v;
      });
    // sendBeacon survives the page being left, and its text/plain body needs
    // no CORS preflight; fetch with keepalive is the fallback.
    quiet(() => nav.sendBeacon(url, body) || w.fetch(url, { method: "POST", body, keepalive: true }));
  };

  // The time the page last counted was visible, in whole seconds, once,
  // when it is hidden or left; a view still waiting is sent first.
  const engagement = () => {
    settle();
    if (flushed) return;
    flushed = 1;
    const ms = visible + (since && Date.now() - since);
    send("engagement", { url: prev, props: { seconds: (ms / 1e3) | 0 } });
  };

  // The page a URL shows is its path, with the hash's path for a hash
  // router (data-hash): another query (?page=2, a filter, tags removed,
  // outside the hash or inside it) or a #section of the same path is the
  // same page, as Plausible counts, and so is the path with or without a
  // trailing slash (/p/ and /p: a site tidying its URL after landing).
  const here = () => (loc.pathname + (cfg.hash ? loc.hash : "")).replace(/#?\/*(\?.*)?(?=#|$)/g, "");

  // page counts a view of url, showing path, unless that page is the one
  // last counted (a router pushing the same page again) and not forced.
  const page = (force, url = loc.href, path = here()) => {
    pend = 0;
    if (path == lastPath && !force) return;
    engagement();
    lastPath = path;
    visible = flushed = 0;
    since = Date.now();
    send("pageview", { url, referrer: prev, title: (title0 = seen = d.title) });
    prev = url;
  };

  // A single-page app's navigation: pushState, replaceState, popstate
  // (back and forward) and a hash router's #/route alike; a new page is a
  // new view.
  // Routers set the page's title after its URL, some after fetching its
  // data, some in steps ("Loading…", then the product's name), so the view
  // waits (pend, the first URL of the page and its path): it looks at the
  // title every 400 ms, and sends the view once the title differs from the
  // last view's and has stayed the same from one look to the next (seen:
  // the title at the last look), at the latest at the first look 2 s after
  // the URL changed (due), and at once when the visitor goes on to another
  // page, hides or leaves this one or sends an event, so no view is lost.
  const settle = () => pend && page(0, ...pend);
  const wait = () =>
    pend && ((d.title != title0 && d.title == seen) || Date.now() >= due ? settle() : ((seen = d.title), setTimeout(quiet, 400, wait)));
  const route = () => {
    const path = here();
    path != pend[1] && settle();
    pend = path != lastPath && (pend || ((due = Date.now() + 2e3), setTimeout(quiet, 400, wait), [loc.href, path]));
  };

  // Product and checkout fields go as props, nested values as JSON.
  const product = (type) => (p = {}) => send(type, { name: p.name, props: p });
  const person = (type) => (id, traits) => send(type, { user_id: str(id), props: traits });

  const api = {
    page: () => page(1),
    track: (name, props) => send("event", { name: str(name), props }),
    viewProduct: product("product_view"),
    addToCart: product("add_to_cart"),
    removeFromCart: product("remove_from_cart"),
    beginCheckout: product("begin_checkout"),
    createAccount: person("sign_up"),
    purchase: (o = {}) =>
      send("purchase", {
        order_id: str(o.orderId),
        revenue: o.revenue,
        currency: o.currency,
        props: { items: o.items },
      }),
    subscribe: (email, lists) => send("subscribe", { user_id: str(email), props: { lists: [lists].flat().join() } }),
    identify: person("identify"),
    // Each purpose is recorded as given, separately.
    consent: product("consent"),
    optOut: () => set("optout", 1),
    optIn: () => set("optout", 0),
  };
  // Every public call is wrapped: a tracker bug must never break the page.
  for (const k in api) {
    const f = api[k];
    api[k] = (...a) => quiet(() => f(...a));
  }

  const start = () =>
    quiet(() => {
      // Listeners never throw into the page either.
      const on = (t, ev, f) => t.addEventListener(ev, (e) => quiet(() => f(e)), true);
      for (const m of ["pushState", "replaceState"]) {
        const orig = w.history[m];
        w.history[m] = function () {
          orig.apply(this, arguments);
          quiet(route);
        };
      }
      // Back and forward, and a #fragment (popstate: browsers since 2016
      // fire it before hashchange).
      on(w, "popstate", route);
      on(d, "click", (e) => {
        // A link knows its URL's parts (its href is absolute).
        const a = e.target.closest("a[href]");
        const type = a.hasAttribute("download") || DOWNLOAD.test(a.pathname) ? "download" : a.host != loc.host && /^http/.test(a.protocol) && "outbound";
        type && send(type, { props: { url: a.href } });
      });
      on(d, "visibilitychange", () => {
        if (d.hidden) {
          visible += Date.now() - since;
          since = 0;
          engagement();
        } else since = Date.now();
      });
      on(w, "pagehide", engagement);
      // Back to a page the browser kept (back-forward cache): a new view.
      on(w, "pageshow", (e) => e.persisted && page(1));
      page();
    });

  return { api, start };
}

// campaignOf returns the campaign parameters of a landing URL (CAMPAIGN),
// the first value of each, or undefined when it has none. The snippet
// sends them as they are with every event of the session, and the
// collector reads them as the processor reads a landing URL: utm_source
// and its Matomo names fill utm_source, aff the affiliate, the first click
// id click_id; ref and the others mark the landing only. So the snippet
// holds no table of its own.
export function campaignOf(href) {
  let out;
  quiet(() => {
    for (let [k, v] of new URL(href).searchParams) {
      // LandingParam takes no name over 32 bytes. A name that matches is
      // ASCII (\w is), so it has as many bytes as characters, and in lower
      // case, the first value wins, as in the processor.
      if (v && k.length < 33 && CAMPAIGN.test(k)) (out = out || {})[(k = k.toLowerCase())] = out[k] || v;
    }
  });
  return out;
}
