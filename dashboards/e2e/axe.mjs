// axeCheck runs axe-core (sdk-js's devDependency, pinned) on what page
// shows now, with the rules of WCAG 2.0, 2.1 and 2.2 levels A and AA, and
// returns the violations: each rule's id, impact, help and the elements
// (CSS selectors, and the first HTML of each) it found. Hidden elements
// are not checked: call it once per view worth checking.
//   import { axeCheck } from "./axe.mjs";
//   const violations = await axeCheck(page);
import { readFileSync } from "node:fs";

const axeSource = readFileSync(process.env.AXE_CORE ||
  new URL("../../sdk-js/node_modules/axe-core/axe.min.js", import.meta.url), "utf8");

export const wcagTags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

export async function axeCheck(page) {
  // Evaluated through the browser's debugging protocol, so a page's
  // Content-Security-Policy does not stop it.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const result = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] }), wcagTags);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + " " + n.html.slice(0, 120)),
  }));
}
