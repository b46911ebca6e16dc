import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Store } from "@sello/core";
import { loadConfig } from "../../src/config/index.js";
import { createSelloServer, type SelloServer } from "../../src/server.js";

/** A clock the test moves by hand. */
export interface TestClock {
  now: number;
  (): number;
}

export function createTestClock(start = Date.now()): TestClock {
  const clock = (() => clock.now) as TestClock;
  clock.now = start;
  return clock;
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

export interface RunningServer {
  server: SelloServer;
  url: string;
  dataDir: string;
  clock: TestClock;
  env: Record<string, string>;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface StartOptions {
  clock?: TestClock;
  /** Reuse this folder, which `stop` then keeps. Default: a fresh temporary folder. */
  dataDir?: string;
  /** Where the server writes its log lines; SELLO_LOG_LEVEL must not be `silent` for any. */
  logStream?: NodeJS.WritableStream;
  /** A store to use instead of the configured SQLite file. The caller closes it. */
  store?: Store;
}

/**
 * Starts a real Sello server on 127.0.0.1 with a SQLite file in a fresh temporary folder.
 * `env` adds or overrides SELLO_* settings.
 */
export async function startServer(
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<RunningServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "sello-server-"));
  const port = env.SELLO_PORT ?? String(await freePort());
  const fullEnv: Record<string, string> = {
    SELLO_DATA_DIR: dataDir,
    SELLO_PORT: port,
    SELLO_HOST: "127.0.0.1",
    SELLO_PUBLIC_URL: `http://localhost:${port}`,
    SELLO_LOG_LEVEL: "silent",
    SELLO_DEMO_USERS: "off",
    ...env,
  };
  const clock = options.clock ?? createTestClock();
  const config = loadConfig(fullEnv, { cwd: dataDir });
  const server = await createSelloServer({
    config,
    clock,
    ...(options.logStream === undefined ? {} : { logStream: options.logStream }),
    ...(options.store === undefined ? {} : { store: options.store }),
  });
  const url = await server.listen();

  return {
    server,
    url,
    dataDir,
    clock,
    env: fullEnv,
    async stop(stopOptions = {}) {
      await server.close();
      if (stopOptions.keepData !== true && options.dataDir === undefined) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Creates a user directly through the auth service. */
export async function addUser(
  running: RunningServer,
  username: string,
  password: string,
  roles: string[] = ["viewer"],
) {
  return running.server.auth.createUser(username, password, roles);
}
