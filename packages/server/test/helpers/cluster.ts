import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, connect as openConnection, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, where `tsx` resolves. */
const REPOSITORY_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
/** The entry that runs the `sello` command from the TypeScript sources. */
const CLI_ENTRY = fileURLToPath(new URL("./sello-cli.ts", import.meta.url));

/** How long `sello serve` may take to print the URL it listens on, in milliseconds. */
const START_TIMEOUT_MS = 45_000;
/** How long a stopped instance may take to exit after SIGTERM before it gets SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
/** How long an instance may live, so that an instance a test does not stop still ends. */
const LIFETIME_MS = 10 * 60_000;
/** The output kept from each instance for failure messages, in characters. */
const OUTPUT_LIMIT = 64_000;

/** Instances this process started and has not seen exit, killed by pid when the process exits. */
const runningInstances = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of runningInstances) {
    child.kill("SIGKILL");
  }
});

/** Writes a new key-encryption key (32 random bytes in base64, mode 0600) and returns its path. */
export function writeKeyEncryptionKeyFile(folder: string): string {
  const path = join(folder, "key-encryption.key");
  writeFileSync(path, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  return path;
}

/**
 * One `sello serve` process started from the sources, as `sello-cli.ts` runs the command. The
 * child's environment contains only PATH, HOME and the given SELLO_* settings.
 */
export class SelloInstance {
  readonly name: string;
  /** The URL the instance listens on, as `sello serve` printed it. */
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #output: { text: string };
  readonly #exited: Promise<void>;

  private constructor(
    name: string,
    url: string,
    child: ChildProcess,
    output: { text: string },
    exited: Promise<void>,
  ) {
    this.name = name;
    this.url = url;
    this.#child = child;
    this.#output = output;
    this.#exited = exited;
  }

  /** Spawns `sello serve` and resolves once it prints the URL it listens on. */
  static async start(name: string, env: Record<string, string>): Promise<SelloInstance> {
    const child = spawn(
      process.execPath,
      ["--conditions=sello-source", "--import", "tsx", CLI_ENTRY, "serve"],
      {
        cwd: REPOSITORY_ROOT,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    runningInstances.add(child);
    const watchdog = setTimeout(() => child.kill("SIGKILL"), LIFETIME_MS);
    watchdog.unref();

    const output = { text: "" };
    const append = (chunk: string) => {
      output.text = (output.text + chunk).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.setEncoding("utf8").on("data", append);
    child.stderr?.setEncoding("utf8").on("data", append);
    const exited = new Promise<void>((resolve) => {
      child.once("exit", () => {
        runningInstances.delete(child);
        clearTimeout(watchdog);
        resolve();
      });
    });

    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${name} did not listen within ${START_TIMEOUT_MS} ms:\n${output.text}`));
      }, START_TIMEOUT_MS);
      const onData = () => {
        const match = /listening on (http\S+)/.exec(output.text);
        if (match !== null) {
          clearTimeout(timer);
          child.stdout?.off("data", onData);
          resolve(match[1] as string);
        }
      };
      child.stdout?.on("data", onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${name} exited before it listened:\n${output.text}`));
      });
    });
    return new SelloInstance(name, url, child, output, exited);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Everything the instance wrote to stdout and stderr, up to the last 64,000 characters. */
  output(): string {
    return this.#output.text;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Sends SIGTERM to the instance's pid, and SIGKILL when it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (!this.running) {
      return;
    }
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Sends SIGKILL to the instance's pid, as a crash would, and waits until it has exited. */
  async kill(): Promise<void> {
    if (!this.running) {
      return;
    }
    this.#child.kill("SIGKILL");
    await this.#exited;
  }
}

/**
 * A TCP forwarder on 127.0.0.1 to another loopback port. `cut` resets every open connection and
 * every new one, as an unreachable server would, until `restore`. It lets a test take the
 * database away from the instances without touching the database server.
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #cut = false;

  private constructor(targetHost: string, targetPort: number) {
    this.#server = createServer((client) => {
      if (this.#cut) {
        client.resetAndDestroy();
        return;
      }
      const upstream = openConnection({ host: targetHost, port: targetPort });
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.once("close", () => this.#sockets.delete(socket));
      }
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  /** Listens on a free port of 127.0.0.1 and forwards every connection to `targetPort`. */
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    if (!["127.0.0.1", "localhost", "::1"].includes(targetHost)) {
      throw new Error(`TcpProxy forwards to loopback addresses only; got ${targetHost}.`);
    }
    const proxy = new TcpProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once("error", reject);
      proxy.#server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = proxy.#server.address();
    proxy.#port = typeof address === "object" && address !== null ? address.port : 0;
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return this.#port;
  }

  /** Resets every forwarded connection, and every new one until `restore`. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) {
      socket.resetAndDestroy();
    }
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
