// Builds the tracker: an ES module for bundlers (dist/index.js + .d.ts) and the IIFE that ReplayLink serves
// at /static/tracker.js (written into the Python package, never committed).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const iifeOut = resolve(here, "../src/replaylink/static/tracker.js");
mkdirSync(dirname(iifeOut), { recursive: true });

const common = { bundle: true, minify: true, target: ["es2019"], legalComments: "none", logLevel: "warning" };

await build({
  ...common,
  entryPoints: [resolve(here, "src/index.ts")],
  outfile: resolve(here, "dist/index.js"),
  format: "esm",
  platform: "browser",
  sourcemap: true,
  // rrweb stays a dependency of the package for bundlers to dedupe
  external: ["@rrweb/record"],
});
await build({
  ...common,
  entryPoints: [resolve(here, "src/snippet.ts")],
  outfile: iifeOut,
  format: "iife",
  platform: "browser",
});
execFileSync(resolve(here, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], { stdio: "inherit", cwd: here });
