import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type RunningDemo, startDemo } from "../../src/start.js";

/** The repository root. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");

/** The password of the users that the tests create. */
export const TEST_PASSWORD = "amber lantern quiet 57";

let clientScript: Promise<string> | undefined;

/**
 * Builds the browser client's script build from its sources, as packages/client/scripts/
 * build-global.mjs does but unminified, so the tests need no `npm run build`. Built once per
 * test file.
 */
export function buildClientScript(): Promise<string> {
  clientScript ??= build({
    entryPoints: [join(REPO_ROOT, "packages", "client", "src", "global.ts")],
    bundle: true,
    format: "iife",
    globalName: "Sello",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  }).then((result) => result.outputFiles[0]?.text ?? "");
  return clientScript;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
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

/** A demo started by a test, with its temporary data folder. */
export interface TestDemo {
  demo: RunningDemo;
  /** The page origin, such as `http://127.0.0.1:41234`. */
  url: string;
  dataDir: string;
  /** The lines of the start-up summary. */
  lines: string[];
  /** Creates a user with TEST_PASSWORD and the given role, and returns its id. */
  addUser(username: string, role: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the demo in this process on 127.0.0.1 with a free port, a fresh temporary data folder,
 * development mode, the demo users, and 30-second access tokens (the shortest the server allows).
 * `env` adds or overrides SELLO_* settings.
 */
export async function startTestDemo(env: Record<string, string> = {}): Promise<TestDemo> {
  const dataDir = mkdtempSync(join(tmpdir(), "sello-demo-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const lines: string[] = [];

  let demo: RunningDemo;
  try {
    demo = await startDemo({
      env: {
        SELLO_MODE: "development",
        SELLO_DATA_DIR: dataDir,
        SELLO_HOST: "127.0.0.1",
        SELLO_PORT: String(port),
        SELLO_PUBLIC_URL: url,
        SELLO_LOG_LEVEL: "silent",
        SELLO_DEMO_USERS: "on",
        SELLO_ACCESS_TTL: "30s",
        ...env,
      },
      cwd: dataDir,
      clientScript: await buildClientScript(),
      print: (line) => lines.push(line),
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  return {
    demo,
    url,
    dataDir,
    lines,
    async addUser(username, role) {
      const user = await demo.server.auth.createUser(username, TEST_PASSWORD, [role]);
      return user.id;
    },
    async stop() {
      await demo.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
