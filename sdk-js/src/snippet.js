// The script-tag build served at /t.js:
//   <script defer data-site="SITE" src="https://collector.example/t.js"></script>
// Calls made before it loads wait in window.ct (an array of [method, ...args]).
import { createTracker } from "./core.js";

((w) => {
  try {
    // The snippet is a classic script, which always has currentScript
    // while it runs (a module or a shadow tree's script would not).
    const s = w.document.currentScript;
    if (!s || w.footfall) return;
    // The data-* attributes are the config (data-respect-dnt is
    // dataset.respectDnt); "false" turns a flag off.
    const c = { ...s.dataset };
    for (const k in c) if (c[k] == "false") c[k] = 0;
    c.endpoint = c.endpoint || s.src.replace(/\/[^/]*$/, "");
    const t = createTracker(w, c);
    const queued = w.ct || [];
    const run = ([m, ...args]) => t.api[m]?.(...args);
    w.footfall = t.api;
    w.ct = { push: run };
    // Queued calls first: an optOut or consent made before load must be
    // in force before the first page view. api calls never throw.
    queued.forEach(run);
    t.start();
  } catch (e) {}
})(window);
