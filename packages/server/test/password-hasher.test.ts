import { readdirSync, readFileSync } from "node:fs";
import { hash, verify } from "@node-rs/argon2";
import { isSelloError } from "@sello/core";
import { afterEach, describe, expect, it } from "vitest";
import {
  defaultHasherLimits,
  HASHING_THREAD_NICENESS,
  PasswordHasher,
  type PasswordHasherOptions,
} from "../src/password-hasher.js";
import { PASSWORD_HASH_OPTIONS } from "../src/passwords.js";

/** Cheap argon2id parameters, so that the tests that only count jobs run fast. */
const CHEAP = { algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 } as const;
const CRASHING_WORKER = new URL("./fixtures/crashing-hash-worker.mjs", import.meta.url);

const pools: PasswordHasher[] = [];

function pool(options: PasswordHasherOptions = {}): PasswordHasher {
  const created = new PasswordHasher(options);
  pools.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((created) => created.close()));
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("the promise resolved");
}

function expectUnavailable(error: unknown, reason: string): void {
  expect(isSelloError(error, "service_unavailable"), String(error)).toBe(true);
  expect((error as { reason?: string }).reason).toBe(reason);
  expect((error as { status?: number }).status).toBe(503);
}

/** Reads the niceness of each thread of this process from /proc (Linux only). */
function threadNiceness(): number[] {
  return readdirSync("/proc/self/task").map((task) => {
    const stat = readFileSync(`/proc/self/task/${task}/stat`, "utf8");
    // Field 19 is the niceness; the fields after the command name in parentheses start at 3.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

describe("PasswordHasher", () => {
  it("makes hashes that the library verifies, and verifies the library's hashes", async () => {
    const hasher = pool({ threads: 1 });

    const stored = await hasher.hash("correct horse battery staple", PASSWORD_HASH_OPTIONS);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await expect(verify(stored, "correct horse battery staple")).resolves.toBe(true);

    const previous = await hash("correct horse battery staple", PASSWORD_HASH_OPTIONS);
    await expect(hasher.verify(previous, "correct horse battery staple")).resolves.toBe(true);
    await expect(hasher.verify(previous, "correct horse battery stapler")).resolves.toBe(false);
  });

  it("answers false for a stored hash it cannot decode", async () => {
    const hasher = pool({ threads: 1 });
    await expect(hasher.verify("not a hash", "password")).resolves.toBe(false);
    await expect(hasher.verify("$argon2id$v=19$m=19456,t=2,p=1$", "password")).resolves.toBe(false);
  });

  it("runs at most `threads` jobs at once and queues the rest in order", async () => {
    const hasher = pool({ threads: 2, maxQueue: 10 });
    const jobs = Array.from({ length: 6 }, (_, index) => hasher.hash(`password ${index}`, CHEAP));

    expect(hasher.stats).toEqual({ threads: 2, running: 2, queued: 4 });
    const hashes = await Promise.all(jobs);
    for (const [index, stored] of hashes.entries()) {
      await expect(verify(stored, `password ${index}`)).resolves.toBe(true);
    }
    expect(hasher.stats).toEqual({ threads: 2, running: 0, queued: 0 });
  });

  it("refuses a job with service_unavailable when the queue is full", async () => {
    const hasher = pool({ threads: 1, maxQueue: 2 });
    const accepted = [1, 2, 3].map((index) => hasher.hash(`password ${index}`, CHEAP));

    const rejected = await rejection(hasher.hash("one too many", CHEAP));
    expectUnavailable(rejected, "password_hashing_busy");
    expect(hasher.stats.queued).toBe(2);

    await expect(Promise.all(accepted)).resolves.toHaveLength(3);
    await expect(hasher.hash("room again", CHEAP)).resolves.toMatch(/^\$argon2id\$/);
  });

  it("fails the job of a thread that exits and replaces the thread", async () => {
    const hasher = pool({ threads: 1, workerFile: CRASHING_WORKER });
    const crashed = hasher.hash("crash", CHEAP);
    const queued = hasher.hash("queued behind the crash", CHEAP);

    expectUnavailable(await rejection(crashed), "password_hashing_failed");
    await expect(queued).resolves.toMatch(/^\$argon2id\$/);
    await expect(hasher.hash("after the crash", CHEAP)).resolves.toMatch(/^\$argon2id\$/);
    expect(hasher.stats).toEqual({ threads: 1, running: 0, queued: 0 });
  });

  it("fails the job of a thread with an uncaught exception and keeps serving", async () => {
    const hasher = pool({ threads: 2, workerFile: CRASHING_WORKER });
    const [failed, fine] = await Promise.allSettled([
      hasher.verify("$argon2id$", "throw"),
      hasher.hash("a normal password", CHEAP),
    ]);

    expect(failed.status).toBe("rejected");
    const error = (failed as PromiseRejectedResult).reason;
    expectUnavailable(error, "password_hashing_failed");
    expect(String((error as Error).cause)).toContain("the worker failed on purpose");
    expect(fine.status).toBe("fulfilled");
    await expect(hasher.hash("after the exception", CHEAP)).resolves.toMatch(/^\$argon2id\$/);
  });

  it("close fails running and waiting jobs, stops every thread and refuses later jobs", async () => {
    const hasher = pool({ threads: 1 });
    const running = rejection(hasher.hash("running", PASSWORD_HASH_OPTIONS));
    const waiting = rejection(hasher.hash("waiting", PASSWORD_HASH_OPTIONS));

    await hasher.close();
    expectUnavailable(await running, "password_hashing_closed");
    expectUnavailable(await waiting, "password_hashing_closed");
    expect(hasher.stats).toEqual({ threads: 0, running: 0, queued: 0 });
    expectUnavailable(await rejection(hasher.hash("later", CHEAP)), "password_hashing_closed");
    await hasher.close();
  });

  it("starts its threads on warm and stops extra ones when configured smaller", async () => {
    const hasher = pool({ threads: 3 });
    hasher.warm();
    expect(hasher.stats.threads).toBe(3);

    hasher.configure({ threads: 1 });
    expect(hasher.limits.threads).toBe(1);
    expect(hasher.stats.threads).toBe(1);
    const jobs = [1, 2, 3].map((index) => hasher.hash(`password ${index}`, CHEAP));
    expect(hasher.stats).toEqual({ threads: 1, running: 1, queued: 2 });
    await Promise.all(jobs);
  });

  // Skipped where the whole process already runs at the lowest priority, as under `nice -n 19`.
  const canLower =
    process.platform === "linux" && (threadNiceness()[0] ?? 0) < HASHING_THREAD_NICENESS;
  it.runIf(canLower)("lowers the priority of its threads, not of the process", async () => {
    const main = threadNiceness()[0];
    const before = threadNiceness().filter((nice) => nice === HASHING_THREAD_NICENESS).length;
    const hasher = pool({ threads: 2 });
    // A job per thread, so both have started and set their priority.
    await Promise.all([hasher.hash("one", CHEAP), hasher.hash("two", CHEAP)]);

    const after = threadNiceness().filter((nice) => nice === HASHING_THREAD_NICENESS).length;
    expect(after - before).toBeGreaterThanOrEqual(2);
    expect(threadNiceness()[0]).toBe(main);
  });

  it("defaults to one thread per core and 128 waiting jobs per thread", () => {
    expect(defaultHasherLimits(2)).toEqual({ threads: 2, maxQueue: 256 });
    expect(defaultHasherLimits(0)).toEqual({ threads: 1, maxQueue: 128 });
  });
});
