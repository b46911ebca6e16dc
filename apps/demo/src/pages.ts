import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import { SelloError } from "@sello/core";
import type { FastifyInstance } from "fastify";
import type { DemoUser } from "./demo-users.js";

/** The folder of the HTML pages, styles, scripts and dictionaries, beside `src` and `dist`. */
export const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "public");

/** Each page's path and HTML file. The login page is the site's home page. */
export const PAGES = {
  "/": "login.html",
  "/notes": "notes.html",
  "/admin": "admin.html",
  "/jquery": "jquery.html",
} as const;

const require = createRequire(import.meta.url);
const JAVASCRIPT = "text/javascript; charset=utf-8";

export interface PagesOptions {
  /** The source of `sello.global.js`, the browser client's script build. */
  clientScript: string | Buffer;
  /** The accounts that the login page lists: the demo users when they exist, else none. */
  demoAccounts: readonly DemoUser[];
}

/**
 * Reads the browser client's script build from `@sello/client` (packages/client/dist). Throws
 * `service_unavailable` with the build command when the client has not been built.
 */
export function readClientScript(): Buffer {
  let file: string;
  try {
    file = require.resolve("@sello/client/sello.global.js");
    return readFileSync(file);
  } catch (error) {
    throw new SelloError("service_unavailable", {
      message:
        "The browser client's script build (sello.global.js) is missing. Build it with " +
        '"npm run build -w @sello/client", or run "npm run build".',
      cause: error,
    });
  }
}

function readJquery(): Buffer {
  return readFileSync(join(dirname(require.resolve("jquery")), "jquery.min.js"));
}

/**
 * Serves the pages (`/`, `/notes`, `/admin`, `/jquery`), the files under `/static/`, the
 * browser client and jQuery under `/static/vendor/`, and `GET /demo/accounts`.
 */
export async function pageRoutes(app: FastifyInstance, options: PagesOptions): Promise<void> {
  const jquery = readJquery();

  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: "/static/",
    index: false,
    // Without a build step the files change while you edit them, so browsers check each time.
    cacheControl: false,
    setHeaders(response) {
      response.setHeader("cache-control", "no-cache");
    },
  });

  for (const [path, file] of Object.entries(PAGES)) {
    app.get(path, async (_request, reply) => reply.sendFile(file));
  }

  app.get("/static/vendor/sello.global.js", async (_request, reply) =>
    reply.type(JAVASCRIPT).header("cache-control", "no-cache").send(options.clientScript),
  );
  app.get("/static/vendor/jquery.min.js", async (_request, reply) =>
    reply.type(JAVASCRIPT).header("cache-control", "no-cache").send(jquery),
  );

  // The demo passwords are public (see DEMO_USERS); without demo users the list is empty.
  const accounts = options.demoAccounts.map(({ username, password, role }) => ({
    username,
    password,
    role,
  }));
  app.get("/demo/accounts", async () => ({ accounts }));
}
