// The script-tag build served at /t.js:
//   <script defer data-site="SITE" src="https://collector.example/t.js"></script>
// Calls made before it loads wait in window.ct (an array of [method, ...args]).
import { createTracker } from "./core.js";

((w) => {
  try {
    const s = w.document.currentScript || w.document.querySelector("script[data-site]");
    if (!s || w.footfall) return;
    const a = (n) => s.getAttribute("data-" + n);
    const t = createTracker(w, {
      site: a("site"),
      endpoint: a("endpoint") || s.src.replace(/\/[^/]*$/, ""),
      cookieless: a("cookieless") == "true",
      respectDnt: a("respect-dnt") == "true",
      lifetimeDays: +a("lifetime-days"),
      sessionMinutes: +a("session-minutes"),
    });
    const queued = w.ct || [];
    const run = ([m, ...args]) => t.api[m] && t.api[m](...args);
    w.footfall = t.api;
    w.ct = { push: run };
    // Queued calls first: an optOut or consent made before load must be
    // in force before the first page view. api calls never throw.
    queued.forEach(run);
    t.start();
  } catch (e) {}
})(window);
