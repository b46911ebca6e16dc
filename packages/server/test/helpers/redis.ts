import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

/** The Redis server of the machine, for tests that need no outage. Override with SELLO_TEST_REDIS_URL. */
export const REDIS_URL = process.env.SELLO_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Pings the test Redis once and returns why it cannot be used, or undefined when it can. In CI
 * (`CI=true`) an unreachable Redis throws, so the suite fails instead of skipping.
 */
export async function checkRedis(): Promise<string | undefined> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 2_000,
  });
  client.on("error", () => undefined);
  let reason: string | undefined;
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    reason = `Redis at ${REDIS_URL} is not reachable: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    client.disconnect();
  }
  return reportUnavailable(reason, "Redis");
}

/** Returns why `redis-server` cannot be started, or undefined when it can. Throws in CI. */
export function checkRedisServerBinary(): string | undefined {
  const result = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  const reason =
    result.error === undefined && result.status === 0
      ? undefined
      : `redis-server cannot be run: ${result.error?.message ?? `exit status ${result.status}`}`;
  return reportUnavailable(reason, "redis-server");
}

function reportUnavailable(reason: string | undefined, what: string): string | undefined {
  if (reason !== undefined && process.env.CI === "true") {
    throw new Error(`${reason}. CI requires ${what} for these tests.`);
  }
  if (reason !== undefined) {
    console.warn(`Skipping tests that need ${what}. ${reason}.`);
  }
  return reason;
}

/** Returns a key prefix no other test run uses, such as `test-5c2e9a0f1b7d`. */
export function uniquePrefix(): string {
  return `test-${randomBytes(6).toString("hex")}`;
}

/** Deletes every key that matches `pattern` (a SCAN pattern), and returns how many it deleted. */
export async function deleteKeys(client: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", pattern, "COUNT", 500);
    cursor = next;
    if (keys.length > 0) {
      deleted += await client.del(...keys);
    }
  } while (cursor !== "0");
  return deleted;
}

/** Servers this process started and has not killed yet, killed on exit if a test forgot to. */
const runningServers = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of runningServers) {
    child.kill("SIGKILL");
  }
});

/** A `redis-server` process that the test owns, on 127.0.0.1, without persistence. */
export class RedisServerProcess {
  readonly port: number;
  readonly url: string;
  readonly #folder: string;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#folder = mkdtempSync(join(tmpdir(), "sello-redis-"));
  }

  /** Starts a server on a free port and waits until it accepts connections. */
  static async start(): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freePort());
    await server.start();
    return server;
  }

  /** The process id, while the server runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts the server again on the same port, and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.#child !== undefined) {
      throw new Error(`redis-server on port ${this.port} is already running.`);
    }
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.#folder,
      ],
      { stdio: "ignore" },
    );
    this.#child = child;
    runningServers.add(child);
    child.once("exit", () => {
      runningServers.delete(child);
      if (this.#child === child) {
        this.#child = undefined;
      }
    });
    await waitForPort(this.port, 5_000);
  }

  /** Kills the server with SIGKILL, as a crash would, and waits until the process has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.pid === undefined) {
      return;
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid, "SIGKILL");
    await exited;
    this.#child = undefined;
  }

  /** Kills the server and removes its working folder. */
  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.#folder, { recursive: true, force: true });
  }
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

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await canConnect(port))) {
    if (Date.now() > deadline) {
      throw new Error(
        `redis-server did not accept connections on port ${port} within ${timeoutMs} ms.`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
