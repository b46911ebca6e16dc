import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, totalmem } from "node:os";

/** The machine and software a benchmark run measured, for the header of RESULTS.md. */
export interface Environment {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  packages: Record<string, string>;
}

/** The packages whose versions RESULTS.md lists, as resolved from the bench workspace. */
const MEASURED_PACKAGES = [
  "jose",
  "fast-jwt",
  "jsonwebtoken",
  "@fastify/jwt",
  "fastify",
  "express",
  "hono",
  "@hono/node-server",
  "@node-rs/argon2",
  "better-sqlite3",
  "mitata",
  "autocannon",
  "tsx",
];

const require = createRequire(import.meta.url);

/** Reads the CPU model from /proc/cpuinfo, falling back to what os.cpus() reports. */
function readCpuModel(): string {
  try {
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    const match = /^model name\s*:\s*(.+)$/m.exec(cpuinfo);
    if (match?.[1] !== undefined) {
      return match[1].trim();
    }
  } catch {
    // Not Linux: os.cpus() below still names the CPU.
  }
  return cpus()[0]?.model ?? "unknown";
}

/** Reads `version` from an installed package's package.json, or "not installed". */
export function packageVersion(name: string): string {
  try {
    const manifestPath = require.resolve(`${name}/package.json`);
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { version?: string };
    return manifest.version ?? "unknown";
  } catch {
    return findManifestByWalking(name) ?? "not installed";
  }
}

/** Some packages do not export their package.json, so look for it in node_modules directly. */
function findManifestByWalking(name: string): string | undefined {
  for (const base of [
    new URL("../node_modules/", import.meta.url),
    new URL("../../node_modules/", import.meta.url),
  ]) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(`${name}/package.json`, base), "utf8")) as {
        version?: string;
      };
      return manifest.version;
    } catch {
      // Try the next node_modules folder.
    }
  }
  return undefined;
}

export function describeEnvironment(): Environment {
  const packages: Record<string, string> = {};
  for (const name of MEASURED_PACKAGES) {
    packages[name] = packageVersion(name);
  }
  let os = `${process.platform} ${process.arch}`;
  try {
    os = `${readFileSync("/proc/sys/kernel/ostype", "utf8").trim()} ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()} ${process.arch}`;
  } catch {
    // Keep the platform name from Node.
  }
  return {
    cpuModel: readCpuModel(),
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os,
    packages,
  };
}
