/**
 * A guard-overhead server in its own process, so that its CPU time can be measured alone.
 * Usage (through BenchChild): guard-server.ts VARIANT SETTINGS_JSON_FILE
 */
import { readdirSync, readFileSync } from "node:fs";
import { reportFailure, reportReady, serveControl } from "./control.js";
import type { BenchServer, StartServer, VariantSettings } from "./guard-variants/settings.js";

/** Each variant's module and start function, loaded on demand so a broken adapter breaks only its rows. */
const VARIANTS: Record<string, () => Promise<StartServer>> = {
  "fastify-bare": async () => (await import("./guard-variants/fastify.js")).startBareFastify,
  "fastify-sello": async () =>
    (await import("./guard-variants/fastify-sello.js")).startFastifySello,
  "fastify-jwt": async () => (await import("./guard-variants/fastify.js")).startFastifyJwt,
  "fastify-jwt-cache": async () =>
    (await import("./guard-variants/fastify.js")).startFastifyJwtCached,
  "express-bare": async () => (await import("./guard-variants/express.js")).startBareExpress,
  "express-sello": async () =>
    (await import("./guard-variants/express-sello.js")).startExpressSello,
  "express-jsonwebtoken": async () =>
    (await import("./guard-variants/express.js")).startExpressJsonwebtoken,
  "hono-bare": async () => (await import("./guard-variants/hono.js")).startBareHono,
  "hono-sello": async () => (await import("./guard-variants/hono-sello.js")).startHonoSello,
};

interface SettingsFile {
  alg: "HS256" | "ES256";
  secret?: string;
  publicPem?: string;
}

/**
 * CPU time of this process in microseconds, split into the main thread and all other threads (V8's
 * garbage collection and compiler helpers, the libuv pool), from the scheduler's exact
 * per-thread counters. Null where /proc is not available.
 */
function threadCpuMicros(): { main: number; other: number } | null {
  let tasks: string[];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return null;
  }
  let main = 0;
  let other = 0;
  for (const task of tasks) {
    let nanoseconds: number;
    try {
      // The first field of schedstat is the time the thread has run, in nanoseconds.
      nanoseconds = Number(readFileSync(`/proc/self/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      continue; // The thread ended after the directory was read.
    }
    if (Number(task) === process.pid) {
      main += nanoseconds / 1000;
    } else {
      other += nanoseconds / 1000;
    }
  }
  return { main, other };
}

async function main(): Promise<void> {
  const [variant, settingsPath] = process.argv.slice(2);
  const load = variant === undefined ? undefined : VARIANTS[variant];
  if (load === undefined || settingsPath === undefined) {
    throw new Error(`Usage: guard-server.ts ${Object.keys(VARIANTS).join("|")} SETTINGS_FILE`);
  }

  const file = JSON.parse(readFileSync(settingsPath, "utf8")) as SettingsFile;
  const settings: VariantSettings = {
    alg: file.alg,
    ...(file.secret === undefined ? {} : { secret: Buffer.from(file.secret, "base64url") }),
    ...(file.publicPem === undefined ? {} : { publicPem: file.publicPem }),
  };

  const start = await load();
  const server: BenchServer = await start(settings);
  serveControl(() => server.close(), { threads: threadCpuMicros });
  reportReady({ port: server.port });
}

main().catch(reportFailure);
