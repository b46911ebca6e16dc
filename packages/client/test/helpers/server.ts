import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SelloError } from "@sello/core";
import { createSelloServer, loadConfig, type SelloServer } from "@sello/server";
import { build } from "esbuild";

const clientRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(import.meta.url);

/** Access-token lifetime of the test server, in seconds: the minimum that the config accepts. */
export const ACCESS_TTL_SECONDS = 30;

/** A clock that the test moves by hand, in milliseconds since the epoch. */
export interface TestClock {
  (): number;
  now: number;
}

/** How often the server received each counted request, keyed like `POST /auth/refresh`. */
export type RequestCounts = Map<string, number>;

export interface TestServer {
  server: SelloServer;
  /** The page origin, such as `http://127.0.0.1:41234`. */
  url: string;
  clock: TestClock;
  counts: RequestCounts;
  /** How many requests with this method and path arrived since the last `resetCounts`. */
  count(route: string): number;
  resetCounts(): void;
  /** Creates a user with the `viewer` role and returns its id. */
  addUser(username: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Builds the script-tag bundle from the sources, with the same entry, format and global name as
 * scripts/build-global.mjs, but unminified so that browser stack traces stay readable.
 */
export async function buildGlobalBundle(): Promise<string> {
  const result = await build({
    entryPoints: [join(clientRoot, "src", "global.ts")],
    bundle: true,
    format: "iife",
    globalName: "Sello",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]?.text ?? "";
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Renders a test page that loads the optional library, the client bundle and the test app. */
function pageHtml(library: string | undefined): string {
  const scripts = ["/client/sello.global.js", "/test/app.js"];
  if (library === "jquery") scripts.unshift("/vendor/jquery.min.js");
  if (library === "axios") scripts.unshift("/vendor/axios.min.js");
  const tags = scripts.map((src) => `<script src="${src}"></script>`).join("\n");
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>Sello client test</title>\n${tags}\n</head><body></body></html>\n`;
}

/**
 * Starts a real Sello server on 127.0.0.1 with a SQLite file in a temporary folder and a
 * hand-moved clock, plus the routes the browser tests need:
 *
 * - `/test/page.html?lib=jquery|axios&...`: a page that loads the bundle and test/pages/app.js;
 * - `/api/me`: a route protected by the server's guard, returning the token's subject;
 * - `/api/always-401?code=...`: a route that always returns 401 with the given error code.
 *
 * Requests to `/auth/*` and `/api/*` are counted in an onRequest hook.
 */
export async function startTestServer(bundle: string): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "sello-client-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const clock = (() => clock.now) as TestClock;
  clock.now = Date.now();

  const config = loadConfig(
    {
      SELLO_DATA_DIR: dataDir,
      SELLO_HOST: "127.0.0.1",
      SELLO_PORT: String(port),
      SELLO_PUBLIC_URL: url,
      SELLO_LOG_LEVEL: "silent",
      SELLO_DEMO_USERS: "off",
      SELLO_ACCESS_TTL: `${ACCESS_TTL_SECONDS}s`,
    },
    { cwd: dataDir },
  );
  const server = await createSelloServer({ config, clock });
  const { app } = server;

  const counts: RequestCounts = new Map();
  app.addHook("onRequest", async (request) => {
    const path = request.url.split("?")[0] ?? "";
    if (path.startsWith("/auth/") || path.startsWith("/api/")) {
      const key = `${request.method} ${path}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  });

  const jqueryFile = join(dirname(require.resolve("jquery/package.json")), "dist", "jquery.min.js");
  const axiosFile = join(dirname(require.resolve("axios/package.json")), "dist", "axios.min.js");
  const appFile = join(clientRoot, "test", "pages", "app.js");
  const javascript = "text/javascript; charset=utf-8";

  app.get("/client/sello.global.js", async (_request, reply) =>
    reply.type(javascript).send(bundle),
  );
  app.get("/vendor/jquery.min.js", async (_request, reply) =>
    reply.type(javascript).send(readFileSync(jqueryFile)),
  );
  app.get("/vendor/axios.min.js", async (_request, reply) =>
    reply.type(javascript).send(readFileSync(axiosFile)),
  );
  app.get("/test/app.js", async (_request, reply) =>
    reply.type(javascript).send(readFileSync(appFile)),
  );
  app.get("/test/page.html", async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    return reply.type("text/html; charset=utf-8").send(pageHtml(query.lib));
  });
  app.get("/test/login.html", async (_request, reply) =>
    reply.type("text/html; charset=utf-8").send("<!doctype html><title>Log in</title>\n"),
  );

  app.get("/api/me", async (request) => {
    const header = request.headers.authorization;
    const claims = await server.guard.authenticate(header === undefined ? [] : [header]);
    return { id: claims.sub };
  });
  app.get("/api/always-401", async (request) => {
    const code =
      (request.query as { code?: string }).code === "token_expired"
        ? "token_expired"
        : "invalid_token";
    throw new SelloError(code);
  });

  await server.listen();

  return {
    server,
    url,
    clock,
    counts,
    count: (route) => counts.get(route) ?? 0,
    resetCounts: () => counts.clear(),
    async addUser(username, password) {
      const user = await server.auth.createUser(username, password, ["viewer"]);
      return user.id;
    },
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
