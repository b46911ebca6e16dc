import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { formatCount, renderTable, type SectionReport, verdict } from "./report.js";

const CLIENT_ROOT = fileURLToPath(new URL("../../packages/client/", import.meta.url));

/** The size budget of the core with the fetch adapter, minified and gzip -9, in bytes. */
const CORE_BUDGET_BYTES = 5 * 1024;

const BUILDS = [
  { name: "core with fetch (`@sello/client`)", entry: "src/index.ts", format: "esm", budget: true },
  {
    name: "axios adapter (`@sello/client/axios`)",
    entry: "src/axios.ts",
    format: "esm",
    budget: false,
  },
  {
    name: "jQuery adapter (`@sello/client/jquery`)",
    entry: "src/jquery.ts",
    format: "esm",
    budget: false,
  },
  {
    name: "script tag (`sello.global.js`, everything)",
    entry: "src/global.ts",
    format: "iife",
    budget: false,
  },
] as const;

/**
 * Measures each build of the browser client as a user's bundler would see it: bundled on its own
 * with esbuild, minified, then compressed with gzip level 9.
 */
export async function runClientSizeBenchmarks(measuredOn: string): Promise<SectionReport> {
  const rows: string[][] = [];
  for (const entry of BUILDS) {
    const result = await build({
      entryPoints: [`${CLIENT_ROOT}${entry.entry}`],
      bundle: true,
      format: entry.format,
      ...(entry.format === "iife" ? { globalName: "Sello" } : {}),
      platform: "browser",
      target: "es2022",
      minify: true,
      write: false,
    });
    const code = result.outputFiles[0]?.contents ?? new Uint8Array();
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`  ${entry.name}: ${code.length} B minified, ${gzipped} B gzip -9`);
    rows.push([
      entry.name,
      formatCount(code.length),
      formatCount(gzipped),
      entry.budget ? `<= ${formatCount(CORE_BUDGET_BYTES)}` : "",
      entry.budget ? verdict(gzipped <= CORE_BUDGET_BYTES) : "",
    ]);
  }

  const markdown = [
    "## 4. Browser client size",
    "",
    measuredOn,
    "",
    "How measured: each entry point bundled on its own with esbuild (`bundle`, `minify`, target es2022), then gzip level 9. The client has no runtime dependencies, so nothing else is bundled.",
    "",
    renderTable({
      headers: ["build", "minified bytes", "gzip -9 bytes", "target", "result"],
      rows,
    }),
    "",
    "Reference sizes of other auth client packages, measured the same way (esbuild, minified, gzip -9, whole package) but not re-measured by this run: keycloak-js 8.4 KB, @supabase/auth-js 24.7 KB, supertokens-web-js 29.8 KB, auth0-spa-js 65.9 KB.",
  ].join("\n");
  return { id: "client", markdown };
}
