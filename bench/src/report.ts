import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Environment } from "./environment.js";

/** The sections of `npm run bench`, in the order RESULTS.md lists them. */
export const SECTION_IDS = ["tokens", "server", "guard", "client", "cluster"] as const;
export type SectionId = (typeof SECTION_IDS)[number];

/** The rendered Markdown of one section, without its heading markers. */
export interface SectionReport {
  id: SectionId;
  markdown: string;
}

/** A Markdown table: a header row and rows of cells of the same length. */
export interface Table {
  headers: readonly string[];
  rows: readonly (readonly string[])[];
}

export function renderTable(table: Table): string {
  const escapeCell = (cell: string) => cell.replaceAll("|", "\\|");
  const lines = [
    `| ${table.headers.map(escapeCell).join(" | ")} |`,
    `| ${table.headers.map(() => "---").join(" | ")} |`,
    ...table.rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`),
  ];
  return lines.join("\n");
}

/** Formats microseconds with three significant digits, at most two decimals. */
export function formatMicros(micros: number): string {
  if (!Number.isFinite(micros)) {
    return "n/a";
  }
  const abs = Math.abs(micros);
  if (abs >= 100) {
    return micros.toFixed(0);
  }
  return micros.toFixed(abs >= 10 ? 1 : 2);
}

/** Formats a ratio such as 1.034 as "1.03x". */
export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "n/a";
}

/** Formats a count or rate with thousands separators and no decimals. */
export function formatCount(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "n/a";
}

export function verdict(met: boolean): string {
  return met ? "met" : "**missed**";
}

const HEADER_END = "<!-- sections -->";

function sectionStart(id: SectionId): string {
  return `<!-- section:${id} -->`;
}

function sectionEnd(id: SectionId): string {
  return `<!-- /section:${id} -->`;
}

/** Reads the sections already in RESULTS.md, so a run of one section keeps the others. */
function readExistingSections(path: string): Map<SectionId, string> {
  const sections = new Map<SectionId, string>();
  if (!existsSync(path)) {
    return sections;
  }
  const text = readFileSync(path, "utf8");
  for (const id of SECTION_IDS) {
    const start = text.indexOf(sectionStart(id));
    const end = text.indexOf(sectionEnd(id));
    if (start !== -1 && end > start) {
      sections.set(id, text.slice(start + sectionStart(id).length, end).trim());
    }
  }
  return sections;
}

function renderEnvironment(environment: Environment): string {
  const packages = Object.entries(environment.packages)
    .map(([name, version]) => `${name} ${version}`)
    .join(", ");
  return [
    "| | |",
    "| --- | --- |",
    `| CPU | ${environment.cpuModel} |`,
    `| cores | ${environment.cores} |`,
    `| memory | ${environment.memoryGiB} GiB |`,
    `| OS | ${environment.os} |`,
    `| Node.js | ${environment.node} |`,
    `| packages | ${packages} |`,
  ].join("\n");
}

/**
 * Writes RESULTS.md: the environment of this run, then every section. Sections that this run
 * measured replace their previous text; the others keep what an earlier run wrote, with the
 * date that run recorded.
 */
export function writeResults(
  path: string,
  environment: Environment,
  measured: readonly SectionReport[],
): void {
  const sections = readExistingSections(path);
  for (const section of measured) {
    sections.set(section.id, section.markdown);
  }

  const parts = [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (bench/src/run.ts). Every number below was measured by that run on",
    "the machine described here; see bench/README.md for how to run it. Each section gives the date",
    "it was measured, because `npm run bench -- tokens|server|guard` reruns one section only.",
    "",
    "Machine and versions of the latest run:",
    "",
    renderEnvironment(environment),
    "",
    HEADER_END,
  ];
  for (const id of SECTION_IDS) {
    parts.push(
      "",
      sectionStart(id),
      "",
      sections.get(id) ?? `Not measured yet: run \`npm run bench -- ${id}\`.`,
      "",
      sectionEnd(id),
    );
  }
  writeFileSync(path, `${parts.join("\n")}\n`);
  formatWithBiome(path);
}

/**
 * Formats the written file with the repository's Biome, which aligns Markdown tables, so that
 * `npm run lint` accepts RESULTS.md as the benchmark wrote it.
 */
function formatWithBiome(path: string): void {
  const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));
  const result = spawnSync(
    process.execPath,
    [join(repositoryRoot, "node_modules/@biomejs/biome/bin/biome"), "format", "--write", path],
    { cwd: repositoryRoot, encoding: "utf8" },
  );
  if (result.status !== 0) {
    console.warn(
      `Biome could not format ${path} (exit code ${result.status}); run \`npx biome format --write ${path}\`.\n${result.stderr ?? ""}`,
    );
  }
}
