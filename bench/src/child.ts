import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ProfileEntry } from "./profile.js";

/** How long a child may take to report ready, in milliseconds (it may create users first). */
const READY_TIMEOUT_MS = 60_000;
/** How long a child may take to stop before it is killed, in milliseconds. */
const STOP_TIMEOUT_MS = 10_000;

interface ChildReply {
  id?: number;
  type?: string;
  ok?: boolean;
  result?: unknown;
  message?: string;
  info?: Record<string, unknown>;
}

/**
 * A server process started by the runner, with the control channel of children/control.ts.
 * The child runs with the runner's Node options, so TypeScript sources load through tsx.
 */
export class BenchChild {
  readonly #process: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  #nextId = 1;
  #exited = false;
  /** The information the child sent with its ready message. */
  readonly info: Record<string, unknown>;

  private constructor(child: ChildProcess, info: Record<string, unknown>) {
    this.#process = child;
    this.info = info;
    child.on("message", (raw) => this.#onReply(raw as ChildReply));
    child.on("exit", () => {
      this.#exited = true;
      for (const pending of this.#pending.values()) {
        pending.reject(new Error("The benchmark child exited before it responded."));
      }
      this.#pending.clear();
    });
  }

  /**
   * Starts `script` (a path relative to bench/src) and waits until it reports ready. `env` adds
   * environment variables; `extraNodeOptions` adds Node options such as `--cpu-prof`.
   */
  static async start(
    script: string,
    args: readonly string[] = [],
    env: Record<string, string> = {},
    extraNodeOptions: readonly string[] = [],
  ): Promise<BenchChild> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const child = fork(path, [...args], {
      execArgv: [...process.execArgv, ...extraNodeOptions],
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });

    const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`${script} did not report ready within ${READY_TIMEOUT_MS / 1000} s.`));
      }, READY_TIMEOUT_MS);
      const onMessage = (raw: unknown) => {
        const message = raw as ChildReply;
        if (message.type === "ready") {
          cleanUp();
          resolve(message.info ?? {});
        } else if (message.type === "failed") {
          cleanUp();
          reject(new Error(`${script} failed to start: ${message.message ?? "no message"}`));
        }
      };
      const onExit = (code: number | null) => {
        cleanUp();
        reject(new Error(`${script} exited with code ${code} before it was ready.`));
      };
      const cleanUp = () => {
        clearTimeout(timer);
        child.off("message", onMessage);
        child.off("exit", onExit);
      };
      child.on("message", onMessage);
      child.on("exit", onExit);
    });
    return new BenchChild(child, info);
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  /** Sends a request over the control channel and resolves with the child's result. */
  async call<T>(type: string, fields: Record<string, unknown> = {}): Promise<T> {
    if (this.#exited) {
      throw new Error("The benchmark child has exited.");
    }
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#process.send({ ...fields, id, type });
    });
  }

  /** Returns the child's total CPU time (user plus system, all threads) in microseconds. */
  async cpuMicros(): Promise<number> {
    return this.call<number>("cpu");
  }

  /** Returns the child's CPU time in microseconds, split as `process.cpuUsage` splits it. */
  async cpuUsage(): Promise<NodeJS.CpuUsage> {
    return this.call<NodeJS.CpuUsage>("cpu-usage");
  }

  /** Profiles the child's main thread while `during` runs, and returns the busiest functions. */
  async profile(during: () => Promise<unknown>): Promise<ProfileEntry[]> {
    await this.call("profile-start");
    let entries: ProfileEntry[] = [];
    try {
      await during();
    } finally {
      entries = await this.call<ProfileEntry[]>("profile-stop");
    }
    return entries;
  }

  /** Asks the child to close its server and exit, and kills it (by pid) if it does not. */
  async stop(): Promise<void> {
    if (this.#exited) {
      return;
    }
    const exited = new Promise<void>((resolve) => this.#process.once("exit", () => resolve()));
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), STOP_TIMEOUT_MS);
    try {
      await this.call("stop");
    } catch {
      // The child may exit before its response arrives; the exit below is what counts.
    }
    await exited;
    clearTimeout(timer);
  }

  #onReply(reply: ChildReply): void {
    if (reply.id === undefined) {
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) {
      return;
    }
    this.#pending.delete(reply.id);
    if (reply.ok === true) {
      pending.resolve(reply.result);
    } else {
      pending.reject(new Error(reply.message ?? "The benchmark child reported an error."));
    }
  }
}
