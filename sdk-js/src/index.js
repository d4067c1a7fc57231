// The ES module build, for sites that bundle their own JavaScript:
//   import { init } from "footfall-sdk";
//   const ff = init({ site: "demo", endpoint: "https://collector.example" });
//   ff.addToCart({ id: "SKU-1", price: 19.9 });
import { createTracker, campaignOf } from "./core.js";

export function init(config) {
  var t = createTracker(window, config);
  t.start();
  return t.api;
}

export { createTracker, campaignOf };
