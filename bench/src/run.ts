import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { runServerBenchmarks } from "./auth-server.js";
import { runClientSizeBenchmarks } from "./client-size.js";
import { runClusterBenchmarks } from "./cluster.js";
import { describeEnvironment, type Environment } from "./environment.js";
import { runGuardBenchmarks } from "./guard-overhead.js";
import { SECTION_IDS, type SectionId, type SectionReport, writeResults } from "./report.js";
import { runTokenBenchmarks } from "./tokens.js";

const RESULTS_PATH = fileURLToPath(new URL("../RESULTS.md", import.meta.url));

const USAGE = `Usage: npm run bench [-- ${SECTION_IDS.join("|")} ...]
Runs every section when none is named, prints the results and writes bench/RESULTS.md.`;

function parseSections(args: readonly string[]): SectionId[] {
  if (args.length === 0) {
    return [...SECTION_IDS];
  }
  const sections: SectionId[] = [];
  for (const arg of args) {
    if (!(SECTION_IDS as readonly string[]).includes(arg)) {
      console.error(`Unknown section ${JSON.stringify(arg)}.\n${USAGE}`);
      process.exit(2);
    }
    sections.push(arg as SectionId);
  }
  return sections;
}

/**
 * Builds the line that opens a section: when, on what, and how busy the machine already was. The load
 * average counts runnable processes, so a value near or above the core count means that other
 * work competed with the benchmark.
 */
function describeRun(environment: Environment): string {
  const date = new Date().toISOString().replace("T", " ").slice(0, 16);
  const load = loadavg()[0]?.toFixed(2) ?? "unknown";
  return `Measured on ${date} UTC with Node.js ${environment.node} on ${environment.cpuModel} (${environment.cores} cores); 1-minute load average when the section started: ${load}.`;
}

async function runSection(id: SectionId, measuredOn: string): Promise<SectionReport> {
  switch (id) {
    case "tokens":
      return runTokenBenchmarks(measuredOn);
    case "server":
      return runServerBenchmarks(measuredOn);
    case "guard":
      return runGuardBenchmarks(measuredOn);
    case "client":
      return runClientSizeBenchmarks(measuredOn);
    case "cluster":
      return runClusterBenchmarks(measuredOn);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const sections = parseSections(args);
  const environment = describeEnvironment();
  console.log(`${environment.cpuModel}, ${environment.cores} cores, Node.js ${environment.node}`);

  const reports: SectionReport[] = [];
  for (const id of sections) {
    const started = performance.now();
    reports.push(await runSection(id, describeRun(environment)));
    console.log(`  (${id} took ${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    // Written after each section, so an interrupted run keeps what it measured.
    writeResults(RESULTS_PATH, environment, reports);
  }
  console.log(`Wrote ${RESULTS_PATH}`);
}

await main();
