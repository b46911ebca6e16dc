/**
 * A guard-overhead server in its own process, so that its CPU time can be measured alone.
 * Usage (through BenchChild): guard-server.ts VARIANT SETTINGS_JSON_FILE
 */
import { readFileSync } from "node:fs";
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
  serveControl(() => server.close());
  reportReady({ port: server.port });
}

main().catch(reportFailure);
