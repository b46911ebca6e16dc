import { describe, expect, it } from "vitest";
import {
  createLoginLimiter,
  type LimiterStore,
  type LoginLimiterOptions,
  MAX_ATTEMPTS_LIMIT,
  MemoryLimiterStore,
} from "../src/login-limiter.js";
import { fail, frozenClock, IP, itFollowsLoginLimitRules, START } from "./helpers/limiter-rules.js";

function setup(options: Partial<LoginLimiterOptions> = {}) {
  const time = frozenClock();
  const store = new MemoryLimiterStore();
  const limiter = createLoginLimiter({ clock: time.clock, store, ...options });
  return { limiter, store, advance: time.advance };
}

describe("createLoginLimiter", () => {
  itFollowsLoginLimitRules(() => new MemoryLimiterStore());

  it("shares counters through a shared store", async () => {
    const time = frozenClock();
    const store = new MemoryLimiterStore();
    const first = createLoginLimiter({ store, clock: time.clock });
    const second = createLoginLimiter({ store, clock: time.clock });

    await fail(first, 3);
    await fail(second, 2);
    expect((await first.check(IP, "alice")).allowed).toBe(false);
    expect((await second.check(IP, "alice")).allowed).toBe(false);
  });

  it("accepts a fractional window", async () => {
    const { limiter, advance } = setup({ windowSeconds: 1.5, maxAttemptsPerIp: 1 });
    await fail(limiter, 1);
    await expect(limiter.check(IP, "bob")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 2,
    });

    advance(1_500);
    expect((await limiter.check(IP, "bob")).allowed).toBe(true);
  });

  it("uses the defaults without options", async () => {
    const limiter = createLoginLimiter();
    await fail(limiter, 5, IP, `default-${Math.random()}`);
    expect((await limiter.check(IP, "someone-else")).allowed).toBe(true);
  });

  it("rejects invalid options", () => {
    const invalid: Array<[string, Record<string, unknown>]> = [
      ["maxAttemptsPerAccount", { maxAttemptsPerAccount: 0 }],
      ["maxAttemptsPerAccount", { maxAttemptsPerAccount: -1 }],
      ["maxAttemptsPerAccount", { maxAttemptsPerAccount: 2.5 }],
      ["maxAttemptsPerAccount", { maxAttemptsPerAccount: Number.NaN }],
      ["maxAttemptsPerAccount", { maxAttemptsPerAccount: "5" }],
      ["maxAttemptsPerAccount", { maxAttemptsPerAccount: MAX_ATTEMPTS_LIMIT + 1 }],
      ["maxAttemptsPerIp", { maxAttemptsPerIp: 0 }],
      ["maxAttemptsPerIp", { maxAttemptsPerIp: Number.POSITIVE_INFINITY }],
      ["windowSeconds", { windowSeconds: 0 }],
      ["windowSeconds", { windowSeconds: 0.5 }],
      ["windowSeconds", { windowSeconds: Number.NaN }],
      ["windowSeconds", { windowSeconds: 604_801 }],
      ["store", { store: {} }],
      ["store", { store: { increment() {}, reset() {}, get() {} } }],
      ["store", { store: null }],
      ["clock", { clock: 1_700_000_000_000 }],
    ];

    for (const [name, options] of invalid) {
      expect(() => createLoginLimiter(options as LoginLimiterOptions), name).toThrow(TypeError);
      expect(() => createLoginLimiter(options as LoginLimiterOptions), name).toThrow(name);
    }
  });

  it("rejects a non-string key", async () => {
    const { limiter } = setup();
    await expect(limiter.check(IP, 42 as unknown as string)).rejects.toThrow(TypeError);
    await expect(limiter.recordFailure(IP, null as unknown as string)).rejects.toThrow(
      "account must be a string; got object.",
    );
    await expect(limiter.recordSuccess(undefined as unknown as string, "alice")).rejects.toThrow(
      "ip must be a string; got undefined.",
    );
  });

  it("counts empty and long input", async () => {
    const { limiter, store } = setup();
    const long = "x".repeat(10_000);
    await fail(limiter, 5, IP, "");
    await fail(limiter, 5, IP, long);

    expect((await limiter.check(IP, "")).allowed).toBe(false);
    expect((await limiter.check(IP, long)).allowed).toBe(false);
    expect((await limiter.check(IP, `${long}y`)).allowed).toBe(true);
    expect(await store.get("account:", START)).toBe(5);
    expect(await store.get(`account:${long}`, START)).toBe(0);
  });

  it("passes store failures to the caller", async () => {
    const broken: LimiterStore = {
      increment: () => Promise.reject(new Error("store offline")),
      reset: () => Promise.reject(new Error("store offline")),
      get: () => Promise.reject(new Error("store offline")),
      getTimestamps: () => Promise.reject(new Error("store offline")),
    };
    const limiter = createLoginLimiter({ store: broken });

    await expect(limiter.check(IP, "alice")).rejects.toThrow("store offline");
    await expect(limiter.recordFailure(IP, "alice")).rejects.toThrow("store offline");
  });
});

describe("MemoryLimiterStore", () => {
  it("counts increments within the window", async () => {
    const store = new MemoryLimiterStore();
    expect(await store.get("k", START)).toBe(0);
    expect(await store.increment("k", 10, START)).toBe(1);
    expect(await store.increment("k", 10, START + 4_000)).toBe(2);
    expect(await store.get("k", START + 9_999)).toBe(2);
    expect(await store.getTimestamps("k", START + 9_999)).toEqual([START, START + 4_000]);
    expect(await store.get("k", START + 10_000)).toBe(1);
    expect(await store.increment("k", 10, START + 14_000)).toBe(1);
  });

  it("resets a key", async () => {
    const store = new MemoryLimiterStore();
    await store.increment("k", 10, START);
    await store.increment("other", 10, START);
    await store.reset("k");
    await store.reset("never-set");
    expect(await store.get("k", START)).toBe(0);
    expect(await store.get("other", START)).toBe(1);
  });

  it("returns a copy of the timestamps", async () => {
    const store = new MemoryLimiterStore();
    await store.increment("k", 10, START);
    (await store.getTimestamps("k", START)).push(START);
    expect(await store.get("k", START)).toBe(1);
  });

  it("keeps timestamps ordered when the clock goes back", async () => {
    const store = new MemoryLimiterStore();
    await store.increment("k", 60, START + 5_000);
    await store.increment("k", 60, START);
    expect(await store.getTimestamps("k", START + 5_000)).toEqual([START, START + 5_000]);
  });

  it("evicts the oldest key when full", async () => {
    const store = new MemoryLimiterStore({ maxKeys: 3 });
    for (const key of ["a", "b", "c"]) {
      await store.increment(key, 60, START);
    }
    await store.increment("a", 60, START + 1);
    await store.increment("d", 60, START + 2);

    expect(store.size).toBe(3);
    expect(await store.get("b", START + 2)).toBe(0);
    expect(await store.get("a", START + 2)).toBe(2);
    expect(await store.get("c", START + 2)).toBe(1);
    expect(await store.get("d", START + 2)).toBe(1);
  });

  it("holds at most 100,000 keys by default", async () => {
    const store = new MemoryLimiterStore();
    for (let index = 0; index < 100_010; index += 1) {
      await store.increment(`ip:${index}`, 900, START);
    }

    expect(store.size).toBe(100_000);
    expect(await store.get("ip:9", START)).toBe(0);
    expect(await store.get("ip:10", START)).toBe(1);
  });

  it("sweeps expired keys", async () => {
    const store = new MemoryLimiterStore();
    for (let index = 0; index < 50; index += 1) {
      await store.increment(`old:${index}`, 60, START);
    }
    expect(store.size).toBe(50);

    await store.increment("new", 60, START + 60_000);
    expect(store.size).toBe(1);
  });

  it("keeps at most maxEventsPerKey times per key", async () => {
    const store = new MemoryLimiterStore({ maxEventsPerKey: 4 });
    for (let index = 0; index < 10; index += 1) {
      expect(await store.increment("k", 60, START + index)).toBe(Math.min(index + 1, 4));
    }
    expect(await store.getTimestamps("k", START + 10)).toEqual([
      START + 6,
      START + 7,
      START + 8,
      START + 9,
    ]);
  });

  it("rejects invalid bounds", () => {
    expect(() => new MemoryLimiterStore({ maxKeys: 0 })).toThrow("maxKeys");
    expect(() => new MemoryLimiterStore({ maxEventsPerKey: 1.5 })).toThrow("maxEventsPerKey");
  });
});
