// Builds dist/sello.global.js: the whole client (session, fetch, axios and jQuery adapters) as
// one minified script that defines the global `Sello`. Run after `tsc -p tsconfig.build.json`.
import { build } from "esbuild";

await build({
  entryPoints: ["src/global.ts"],
  outfile: "dist/sello.global.js",
  bundle: true,
  format: "iife",
  globalName: "Sello",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  logLevel: "warning",
});
