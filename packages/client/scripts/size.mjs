// Prints the minified and gzip -9 size of each build: the ESM entry points bundled on their own
// and the script-tag build. Usage: npm run size -w @sello/client
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const entries = [
  { name: "core with fetch (index)", entry: "src/index.ts", format: "esm" },
  { name: "axios adapter", entry: "src/axios.ts", format: "esm" },
  { name: "jQuery adapter", entry: "src/jquery.ts", format: "esm" },
  { name: "script tag (sello.global.js)", entry: "src/global.ts", format: "iife" },
];

for (const { name, entry, format } of entries) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format,
    globalName: format === "iife" ? "Sello" : undefined,
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
  });
  const code = result.outputFiles[0].contents;
  const gzipped = gzipSync(code, { level: 9 }).length;
  console.log(`${name}: ${code.length} bytes minified, ${gzipped} bytes gzip -9`);
}
