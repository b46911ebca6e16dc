import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Options } from "@node-rs/argon2";
import { SelloError } from "@sello/core";

/**
 * The niceness the hashing threads give themselves on Linux (19, the lowest priority a thread can
 * have without privileges). An argon2 hash is about 10 ms of uninterrupted CPU work. At normal
 * priority, two of them on two cores make the event loop wait for a core, so every other request
 * waits too. At niceness 19 the scheduler gives the event loop a core as soon as it has work.
 */
export const HASHING_THREAD_NICENESS = 19;

/** Jobs that may wait for a free hashing thread, per thread, before new jobs are refused. */
export const QUEUED_JOBS_PER_THREAD = 128;

/**
 * The code of each hashing thread, run as a CommonJS script (`eval: true`), so that it loads the
 * same way from the TypeScript sources and from the built package, with no file to locate or
 * ship. It lowers its own scheduling priority where the platform allows it, then runs one job at a
 * time with the synchronous argon2 functions and posts each result back. `verify` returns false for a stored hash that
 * the library cannot decode, as a failed verification.
 */
const WORKER_SOURCE = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");

function lowerPriority(niceness) {
  try {
    // Linux: "PID/task/TID" names this thread, and setpriority on a thread id changes that thread
    // only. Raising the niceness needs no privilege; lowering it does, so never lower it.
    const link = require("node:fs").readlinkSync("/proc/thread-self");
    const threadId = Number(link.slice(link.lastIndexOf("/") + 1));
    if (!Number.isSafeInteger(threadId) || threadId <= 0) return;
    const os = require("node:os");
    if (os.getPriority(threadId) < niceness) os.setPriority(threadId, niceness);
  } catch {
    // No /proc/thread-self (not Linux) or no permission: hash at normal priority.
  }
}

lowerPriority(workerData.niceness);
const argon2 = require(workerData.argon2Path);

parentPort.on("message", (job) => {
  let reply;
  try {
    if (job.op === "hash") {
      reply = { ok: true, value: argon2.hashSync(job.password, job.options) };
    } else {
      let valid;
      try {
        valid = argon2.verifySync(job.storedHash, job.password);
      } catch {
        valid = false;
      }
      reply = { ok: true, value: valid };
    }
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort.postMessage(reply);
});
`;

type JobMessage =
  | { op: "hash"; password: string; options: Options }
  | { op: "verify"; storedHash: string; password: string };

type WorkerReply = { ok: true; value: unknown } | { ok: false; message: string };

interface Job {
  message: JobMessage;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** The size of a {@link PasswordHasher}. */
export interface PasswordHasherLimits {
  /** Hashing threads, at least 1. */
  threads: number;
  /** Jobs that may wait for a free thread; one more is refused with `service_unavailable`. */
  maxQueue: number;
}

export interface PasswordHasherOptions extends Partial<PasswordHasherLimits> {
  /** The niceness of the hashing threads. Default {@link HASHING_THREAD_NICENESS}. */
  niceness?: number;
  /**
   * The worker to run instead of the built-in one: a file path or URL (tests). It receives the
   * same `workerData` and messages.
   */
  workerFile?: string | URL;
}

/** Returns the default limits: one thread per core this process may use, 128 waiting jobs each. */
export function defaultHasherLimits(threads = availableParallelism()): PasswordHasherLimits {
  const count = Math.max(1, Math.floor(threads));
  return { threads: count, maxQueue: count * QUEUED_JOBS_PER_THREAD };
}

let argon2Path: string | undefined;

function resolveArgon2(): string {
  argon2Path ??= createRequire(import.meta.url).resolve("@node-rs/argon2");
  return argon2Path;
}

/**
 * A pool of worker threads that run argon2 with its synchronous functions, one job per thread at
 * a time, at a low scheduling priority. Jobs beyond the threads wait in a bounded queue in
 * arrival order. Past its bound a job is rejected at once with `service_unavailable` (reason
 * `password_hashing_busy`), so the queue never grows without limit. Threads start on demand, and an idle
 * thread does not keep the process alive. A thread that exits unexpectedly fails its job with
 * `service_unavailable` (reason `password_hashing_failed`) and is replaced by the next job.
 */
export class PasswordHasher {
  #limits: PasswordHasherLimits;
  readonly #niceness: number;
  readonly #workerFile: string | URL | undefined;
  readonly #idle: Worker[] = [];
  readonly #busy = new Map<Worker, Job>();
  readonly #queue: Job[] = [];
  #queueHead = 0;
  readonly #exits = new Set<Promise<void>>();
  #closed = false;

  constructor(options: PasswordHasherOptions = {}) {
    const defaults = defaultHasherLimits(options.threads);
    this.#limits = { threads: defaults.threads, maxQueue: options.maxQueue ?? defaults.maxQueue };
    this.#niceness = options.niceness ?? HASHING_THREAD_NICENESS;
    this.#workerFile = options.workerFile;
  }

  /** The current limits. */
  get limits(): PasswordHasherLimits {
    return { ...this.#limits };
  }

  /** Running threads, jobs being hashed and jobs waiting. */
  get stats(): { threads: number; running: number; queued: number } {
    return {
      threads: this.#idle.length + this.#busy.size,
      running: this.#busy.size,
      queued: this.#queue.length - this.#queueHead,
    };
  }

  /**
   * Changes the limits. Extra threads stop as they become idle; jobs already queued beyond a
   * smaller queue bound still run.
   */
  configure(limits: Partial<PasswordHasherLimits>): void {
    const threads = Math.max(1, Math.floor(limits.threads ?? this.#limits.threads));
    const maxQueue = Math.max(0, Math.floor(limits.maxQueue ?? this.#limits.maxQueue));
    this.#limits = { threads, maxQueue };
    while (this.#idle.length > 0 && this.#idle.length + this.#busy.size > threads) {
      this.#retire(this.#idle.pop() as Worker);
    }
    this.#drain();
  }

  /**
   * Starts every thread now instead of at the first jobs, so they pay no start-up delay. A thread
   * that cannot start now is started again by the next job.
   */
  warm(): void {
    try {
      while (!this.#closed && this.#idle.length + this.#busy.size < this.#limits.threads) {
        this.#idle.push(this.#spawn());
      }
    } catch {
      // The next job tries again, and fails with service_unavailable if it cannot either.
    }
  }

  /** Hashes `password` with `options` and resolves with the PHC string. */
  hash(password: string, options: Options): Promise<string> {
    return this.#submit({ op: "hash", password, options }) as Promise<string>;
  }

  /**
   * Verifies `password` against a PHC string. Resolves to false when the library cannot decode
   * the stored hash.
   */
  verify(storedHash: string, password: string): Promise<boolean> {
    return this.#submit({ op: "verify", storedHash, password }) as Promise<boolean>;
  }

  /**
   * Stops every thread. Running and waiting jobs fail with `service_unavailable` (reason
   * `password_hashing_closed`), and so does every later job.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const job of this.#queue.splice(this.#queueHead)) {
        job.reject(hashingClosed());
      }
      this.#queue.length = 0;
      this.#queueHead = 0;
      for (const [worker, job] of this.#busy) {
        job.reject(hashingClosed());
        this.#retire(worker);
      }
      this.#busy.clear();
      for (const worker of this.#idle.splice(0)) {
        this.#retire(worker);
      }
    }
    await Promise.all(this.#exits);
  }

  #submit(message: JobMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(hashingClosed());
        return;
      }
      const job: Job = { message, resolve, reject };
      if (this.#hasFreeThread()) {
        this.#start(job);
      } else if (this.#queue.length - this.#queueHead < this.#limits.maxQueue) {
        this.#queue.push(job);
      } else {
        reject(
          new SelloError("service_unavailable", {
            reason: "password_hashing_busy",
            message: "Too many password checks are waiting. Try again in a moment.",
          }),
        );
      }
    });
  }

  #hasFreeThread(): boolean {
    return this.#idle.length > 0 || this.#busy.size < this.#limits.threads;
  }

  #start(job: Job): void {
    let worker = this.#idle.pop();
    if (worker === undefined) {
      try {
        worker = this.#spawn();
      } catch (error) {
        // Node could not start a thread (for example, out of memory): fail this job, not the
        // event handler that dispatched it.
        job.reject(hashingFailed(error));
        return;
      }
    }
    this.#busy.set(worker, job);
    worker.ref();
    worker.postMessage(job.message);
  }

  #drain(): void {
    while (this.#queueHead < this.#queue.length && this.#hasFreeThread()) {
      const job = this.#queue[this.#queueHead] as Job;
      this.#queue[this.#queueHead] = undefined as unknown as Job;
      this.#queueHead++;
      this.#start(job);
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #spawn(): Worker {
    const workerData = { argon2Path: resolveArgon2(), niceness: this.#niceness };
    // execArgv is empty so that loaders of the parent (tsx under the benchmarks) do not load in
    // each thread, which needs none.
    const worker =
      this.#workerFile === undefined
        ? new Worker(WORKER_SOURCE, { eval: true, workerData, execArgv: [] })
        : new Worker(this.#workerFile, { workerData, execArgv: [] });
    worker.unref();

    let failure: unknown;
    worker.on("message", (reply: WorkerReply) => this.#onReply(worker, reply));
    worker.on("error", (error) => {
      failure = error;
    });
    const exited = new Promise<void>((resolve) => {
      worker.once("exit", (code) => {
        this.#exits.delete(exited);
        this.#onExit(worker, code, failure);
        resolve();
      });
    });
    this.#exits.add(exited);
    return worker;
  }

  #onReply(worker: Worker, reply: WorkerReply): void {
    const job = this.#busy.get(worker);
    if (job === undefined) {
      return;
    }
    this.#busy.delete(worker);
    worker.unref();
    if (reply.ok) {
      job.resolve(reply.value);
    } else {
      job.reject(new Error(`argon2 failed: ${reply.message}`));
    }

    if (this.#idle.length + this.#busy.size >= this.#limits.threads) {
      this.#retire(worker);
    } else {
      this.#idle.push(worker);
    }
    this.#drain();
  }

  #onExit(worker: Worker, code: number, failure: unknown): void {
    const idleIndex = this.#idle.indexOf(worker);
    if (idleIndex !== -1) {
      this.#idle.splice(idleIndex, 1);
    }
    const job = this.#busy.get(worker);
    if (job !== undefined) {
      this.#busy.delete(worker);
      job.reject(
        hashingFailed(failure ?? new Error(`A password hashing thread exited with code ${code}.`)),
      );
    }
    if (!this.#closed) {
      this.#drain();
    }
  }

  /** Stops a thread that has no job. */
  #retire(worker: Worker): void {
    worker.removeAllListeners("message");
    void worker.terminate();
  }
}

function hashingClosed(): SelloError {
  return new SelloError("service_unavailable", {
    reason: "password_hashing_closed",
    message: "The server is shutting down. Try again later.",
  });
}

function hashingFailed(cause: unknown): SelloError {
  return new SelloError("service_unavailable", {
    reason: "password_hashing_failed",
    message: "The password could not be checked. Try again.",
    cause,
  });
}
