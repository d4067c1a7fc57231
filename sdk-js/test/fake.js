// A fake browser window, just enough for the tracker: location that history
// changes in place, localStorage (or one that throws), one cookie jar,
// listeners that tests fire, and sendBeacon recording what was sent.
export function fakeWindow({ href = "https://shop.example/", referrer = "", storage = true, dnt, gpc } = {}) {
  const sent = [];
  const store = new Map();
  const jar = new Map();
  const cookies = []; // every cookie string set, attributes included
  const listeners = new Map();
  const on = (type, f) => listeners.set(type, [...(listeners.get(type) || []), f]);
  const loc = {};
  const go = (url) => {
    const u = new URL(url, loc.href || undefined);
    for (const k of ["href", "host", "pathname", "search", "hash"]) loc[k] = u[k];
  };
  go(href);
  let n = 0;
  const document = {
    referrer,
    title: "Title",
    visibilityState: "visible",
    get hidden() {
      return this.visibilityState == "hidden";
    },
    addEventListener: on,
    get cookie() {
      return [...jar].map(([k, v]) => k + "=" + v).join("; ");
    },
    set cookie(c) {
      const [k, v] = c.split(";")[0].split("=");
      jar.set(k, v);
      cookies.push(c);
    },
  };
  const w = {
    document,
    location: loc,
    navigator: {
      doNotTrack: dnt,
      globalPrivacyControl: gpc,
      sendBeacon: (url, body) => (sent.push({ url, ev: JSON.parse(body) }), true),
    },
    crypto: { randomUUID: () => "uuid-" + ++n },
    history: {
      pushState: (s, t, url) => go(url),
      replaceState: (s, t, url) => go(url),
    },
    addEventListener: on,
    fetch: () => {
      throw new Error("fetch must not be used when sendBeacon works");
    },
  };
  if (storage) {
    // Read and written as properties, as the snippet does.
    w.localStorage = new Proxy({}, { get: (o, k) => store.get(k), set: (o, k, v) => (store.set(k, String(v)), true) });
  } else {
    Object.defineProperty(w, "localStorage", {
      get() {
        throw new Error("SecurityError: storage is blocked");
      },
    });
  }
  const fire = (type, event = {}) => (listeners.get(type) || []).forEach((f) => f(event));
  return { w, sent, store, jar, cookies, fire, go };
}
