// Builds dist/t.js (script tag, IIFE) and dist/footfall.mjs (ES module),
// prints their sizes, and fails when the script tag build passes its
// gzip budget. With --check it builds in memory and fails if dist/ is stale,
// so the files the collector embeds always match src/.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET_GZIP = 2048;
const check = process.argv.includes("--check");
const targets = [
  { entry: "src/snippet.js", out: "dist/t.js", format: "iife", budget: BUDGET_GZIP },
  { entry: "src/index.js", out: "dist/footfall.mjs", format: "esm" },
];

let failed = false;
mkdirSync("dist", { recursive: true });
for (const t of targets) {
  const res = await build({
    entryPoints: [t.entry], bundle: true, minify: true, format: t.format,
    target: ["es2020"], write: false, legalComments: "none",
  });
  const code = res.outputFiles[0].contents;
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`${t.out}: ${code.length} bytes, ${gz} bytes gzipped${t.budget ? ` (budget ${t.budget})` : ""}`);
  if (t.budget && gz > t.budget) {
    console.error(`${t.out} is over its gzip budget by ${gz - t.budget} bytes`);
    failed = true;
  }
  if (check) {
    let old = "";
    try { old = readFileSync(t.out); } catch {}
    if (Buffer.compare(Buffer.from(old), Buffer.from(code)) !== 0) {
      console.error(`${t.out} is stale: run make sdk (npm run build in sdk-js) and commit dist/`);
      failed = true;
    }
  } else {
    writeFileSync(t.out, code);
  }
}
process.exit(failed ? 1 : 0);
