import { isSelloError } from "@sello/core";
import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createLoginLimiter, type LoginLimiterOptions } from "../src/login-limiter.js";
import {
  createRedisConnection,
  isRedisUnavailable,
  waitUntilReady,
} from "../src/redis/connection.js";
import { RedisLimiterStore } from "../src/redis/limiter-store.js";
import {
  checkRedis,
  checkRedisServerBinary,
  deleteKeys,
  REDIS_URL,
  RedisServerProcess,
  uniquePrefix,
} from "./helpers/redis.js";

const START = Date.UTC(2025, 0, 1);
const IP = "203.0.113.7";

const skipReason = await checkRedis();
const serverBinarySkipReason = checkRedisServerBinary();
const clients: Redis[] = [];
const prefixes: string[] = [];

afterAll(async () => {
  if (shared !== undefined) {
    for (const prefix of prefixes) {
      await deleteKeys(shared, `sello:${prefix}:*`);
    }
  }
  for (const client of clients) {
    client.disconnect();
  }
});

/** The connection most tests share. */
const shared = skipReason === undefined ? await connect() : undefined;

async function connect(): Promise<Redis> {
  const client = createRedisConnection(REDIS_URL, { connectionName: "sello-test-limiter" });
  clients.push(client);
  await waitUntilReady(client);
  return client;
}

/** Creates a store on its own prefix, so no two tests share a counter. */
function newStore(options: { client?: Redis; prefix?: string; maxEventsPerKey?: number } = {}) {
  const prefix = options.prefix ?? uniquePrefix();
  prefixes.push(prefix);
  const client = options.client ?? shared;
  if (client === undefined) {
    throw new Error("Redis tests ran although Redis is not reachable.");
  }
  return new RedisLimiterStore({ ...options, client, prefix });
}

function frozenClock(): { clock: () => number; advance: (ms: number) => void } {
  let now = START;
  return {
    clock: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

function setup(options: Partial<LoginLimiterOptions> = {}) {
  const time = frozenClock();
  const store = newStore();
  const limiter = createLoginLimiter({ clock: time.clock, store, ...options });
  return { limiter, store, advance: time.advance };
}

async function fail(
  limiter: ReturnType<typeof createLoginLimiter>,
  times: number,
  ip = IP,
  account = "alice",
): Promise<void> {
  for (let attempt = 0; attempt < times; attempt += 1) {
    await limiter.recordFailure(ip, account);
  }
}

describe.skipIf(skipReason !== undefined)("login limiter on RedisLimiterStore", () => {
  it("lets the first five failures through", async () => {
    const { limiter } = setup();

    for (let attempt = 1; attempt <= 5; attempt += 1) {
      await expect(limiter.check(IP, "alice"), `attempt ${attempt}`).resolves.toEqual({
        allowed: true,
      });
      await limiter.recordFailure(IP, "alice");
    }

    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
  });

  it("doubles the delay after each extra failure", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 5);

    for (const delaySeconds of [1, 2, 4, 8, 16, 32, 64]) {
      await expect(limiter.check(IP, "alice")).resolves.toEqual({
        allowed: false,
        retryAfterSeconds: delaySeconds,
      });

      advance(delaySeconds * 1000 - 1);
      expect((await limiter.check(IP, "alice")).allowed, `${delaySeconds} s - 1 ms`).toBe(false);

      advance(1);
      expect((await limiter.check(IP, "alice")).allowed, `${delaySeconds} s`).toBe(true);
      await limiter.recordFailure(IP, "alice");
    }
  });

  it("counts the delay from the latest failure", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 5);
    advance(10_000);
    await limiter.recordFailure(IP, "alice");

    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 2,
    });
  });

  it("rounds the wait up to whole seconds", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 7);

    advance(2_500);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 2,
    });

    advance(1_499);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
  });

  it("caps the delay at the window length", async () => {
    const { limiter } = setup({ windowSeconds: 60, maxAttemptsPerIp: 100 });
    await fail(limiter, 5 + 5);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 32,
    });

    await fail(limiter, 1);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 60,
    });

    await fail(limiter, 40);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 60,
    });
  });

  it("caps failures per address across accounts", async () => {
    const { limiter, advance } = setup();
    for (let account = 0; account < 20; account += 1) {
      expect((await limiter.check(IP, `user${account}`)).allowed).toBe(true);
      await limiter.recordFailure(IP, `user${account}`);
      advance(1_000);
    }

    await expect(limiter.check(IP, "someone-new")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 900 - 20,
    });
    expect((await limiter.check("198.51.100.1", "someone-new")).allowed).toBe(true);

    // The oldest failure leaves the window 900 s after it happened.
    advance((900 - 20) * 1000 - 1);
    expect((await limiter.check(IP, "someone-new")).allowed).toBe(false);
    advance(1);
    expect((await limiter.check(IP, "someone-new")).allowed).toBe(true);
  });

  it("counts an IPv6 /64 as one address", async () => {
    const { limiter } = setup({ maxAttemptsPerIp: 3, maxAttemptsPerAccount: 100 });
    await limiter.recordFailure("2001:db8:0:5::1", "alice");
    await limiter.recordFailure("2001:0db8:0000:0005:ffff:1:2:3", "bob");
    await limiter.recordFailure("2001:DB8:0:5:abcd::9%eth0", "carol");

    expect((await limiter.check("2001:db8:0:5::42", "dave")).allowed).toBe(false);
    expect((await limiter.check("2001:db8:0:6::1", "dave")).allowed).toBe(true);
    expect((await limiter.check("2001:db8::5:0:0:1", "dave")).allowed).toBe(true);
  });

  it("counts IPv4-mapped addresses as IPv4", async () => {
    const { limiter } = setup({ maxAttemptsPerIp: 2, maxAttemptsPerAccount: 100 });
    await limiter.recordFailure("::ffff:192.0.2.10", "alice");
    await limiter.recordFailure("::ffff:c000:20a", "bob");

    expect((await limiter.check("192.0.2.10", "carol")).allowed).toBe(false);
    expect((await limiter.check("192.0.2.11", "carol")).allowed).toBe(true);
    expect((await limiter.check("::ffff:192.0.2.11", "carol")).allowed).toBe(true);
    expect((await limiter.check("::1", "carol")).allowed).toBe(true);
  });

  it("forgets failures once the window passes", async () => {
    const { limiter, store, advance } = setup();
    await fail(limiter, 9);
    expect((await limiter.check(IP, "alice")).allowed).toBe(false);

    advance(900 * 1000);
    expect(await limiter.check(IP, "alice")).toEqual({ allowed: true });
    expect(await store.get("account:alice", START + 900 * 1000)).toBe(0);

    await fail(limiter, 4);
    expect((await limiter.check(IP, "alice")).allowed).toBe(true);
  });

  it("slides the window one failure at a time", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 5);
    advance(600_000);
    await fail(limiter, 1);
    advance(100_000);
    expect((await limiter.check(IP, "alice")).allowed).toBe(true);

    // Seven failures are in the window until the first five expire at 900 s.
    await fail(limiter, 1);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 4,
    });
    advance(200_000);
    await fail(limiter, 1);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({ allowed: true });
  });

  it("clears the account but not the address on success", async () => {
    const { limiter } = setup();
    await fail(limiter, 7, IP, "alice");
    await fail(limiter, 12, IP, "bob");
    expect((await limiter.check(IP, "alice")).allowed).toBe(false);

    await limiter.recordSuccess(IP, "alice");
    expect(await limiter.check(IP, "alice")).toEqual({ allowed: true });
    expect((await limiter.check(IP, "bob")).allowed).toBe(false);

    // 19 failures remain on the address, so one more reaches the cap of 20.
    await limiter.recordFailure(IP, "alice");
    await expect(limiter.check(IP, "carol")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 900,
    });
  });

  it("limits an account across addresses", async () => {
    const { limiter } = setup();
    for (let host = 1; host <= 5; host += 1) {
      await limiter.recordFailure(`198.51.100.${host}`, "alice");
    }
    expect((await limiter.check("198.51.100.99", "alice")).allowed).toBe(false);
  });

  it("answers alike for any account name", async () => {
    const { limiter } = setup();
    await fail(limiter, 6, IP, "alice");
    await fail(limiter, 6, "198.51.100.1", "no-such-user");

    expect(await limiter.check(IP, "alice")).toEqual(
      await limiter.check("198.51.100.1", "no-such-user"),
    );
  });

  it("shares counters across instances", async () => {
    const time = frozenClock();
    const prefix = uniquePrefix();
    const first = createLoginLimiter({
      store: newStore({ client: await connect(), prefix }),
      clock: time.clock,
    });
    const second = createLoginLimiter({
      store: newStore({ client: await connect(), prefix }),
      clock: time.clock,
    });

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
});

describe.skipIf(skipReason !== undefined)("RedisLimiterStore", () => {
  it("counts increments within the window", async () => {
    const store = newStore();
    expect(await store.get("k", START)).toBe(0);
    expect(await store.increment("k", 10, START)).toBe(1);
    expect(await store.increment("k", 10, START + 4_000)).toBe(2);
    expect(await store.get("k", START + 9_999)).toBe(2);
    expect(await store.getTimestamps("k", START + 9_999)).toEqual([START, START + 4_000]);
    expect(await store.get("k", START + 10_000)).toBe(1);
    expect(await store.increment("k", 10, START + 14_000)).toBe(1);
  });

  it("counts two failures in one millisecond twice", async () => {
    const store = newStore();
    expect(await store.increment("k", 10, START)).toBe(1);
    expect(await store.increment("k", 10, START)).toBe(2);
    expect(await store.getTimestamps("k", START)).toEqual([START, START]);
  });

  it("resets a key", async () => {
    const store = newStore();
    await store.increment("k", 10, START);
    await store.increment("other", 10, START);
    await store.reset("k");
    await store.reset("never-set");
    expect(await store.get("k", START)).toBe(0);
    expect(await store.get("other", START)).toBe(1);
  });

  it("keeps timestamps ordered when the clock goes back", async () => {
    const store = newStore();
    await store.increment("k", 60, START + 5_000);
    await store.increment("k", 60, START);
    expect(await store.getTimestamps("k", START + 5_000)).toEqual([START, START + 5_000]);
  });

  it("keeps at most maxEventsPerKey times per key", async () => {
    const store = newStore({ maxEventsPerKey: 4 });
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

  it("stores expiring sorted sets under the prefix", async () => {
    const client = await connect();
    const store = newStore({ client });
    await store.increment("ip:192.0.2.1", 900, START);

    const key = `${store.keyPrefix}ip:192.0.2.1`;
    expect(store.keyPrefix).toMatch(/^sello:test-[0-9a-f]{12}:limit:$/);
    expect(await client.type(key)).toBe("zset");
    const ttl = await client.pttl(key);
    expect(ttl).toBeGreaterThan(899_000);
    expect(ttl).toBeLessThanOrEqual(900_000);

    await store.reset("ip:192.0.2.1");
    expect(await client.exists(key)).toBe(0);
  });

  it("counts concurrent increments from two clients exactly", async () => {
    const prefix = uniquePrefix();
    const first = newStore({ client: await connect(), prefix });
    const second = newStore({ client: await connect(), prefix });

    const counts = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        (index % 2 === 0 ? first : second).increment("k", 60, START + index),
      ),
    );
    expect([...counts].sort((left, right) => left - right)).toEqual(
      Array.from({ length: 100 }, (_, index) => index + 1),
    );
    expect(await first.get("k", START + 100)).toBe(100);
  });

  it("rejects invalid options and times", async () => {
    const client = await connect();
    for (const prefix of ["", "a:b", "with space", "x".repeat(65)]) {
      expect(() => new RedisLimiterStore({ client, prefix }), prefix).toThrow("prefix must");
    }
    expect(() => new RedisLimiterStore({ client, maxEventsPerKey: 0 })).toThrow("maxEventsPerKey");
    expect(() => new RedisLimiterStore({ client: {} as Redis })).toThrow("ioredis client");

    const store = newStore();
    await expect(store.increment("k", 0, START)).rejects.toThrow("windowSeconds");
    await expect(store.increment("k", 10, Number.NaN)).rejects.toThrow("now must");
    await expect(store.getTimestamps("k", Number.POSITIVE_INFINITY)).rejects.toThrow("now must");
  });

  it.skipIf(serverBinarySkipReason !== undefined)("fails fast while Redis is down", async () => {
    const server = await RedisServerProcess.start();
    const client = createRedisConnection(server.url, {
      connectionName: "sello-test-limiter-outage",
      maxReconnectDelayMs: 100,
    });
    client.on("error", () => undefined);
    try {
      await waitUntilReady(client);
      const store = new RedisLimiterStore({ client, prefix: "outage" });
      const limiter = createLoginLimiter({ store });
      await limiter.recordFailure(IP, "alice");

      await server.kill();
      const started = Date.now();
      const failure = await store.increment("k", 60, START).catch((error: unknown) => error);
      expect(isSelloError(failure, "service_unavailable")).toBe(true);
      expect((failure as { reason?: string }).reason).toBe("limiter_unavailable");
      expect(isRedisUnavailable((failure as Error).cause)).toBe(true);
      await expect(limiter.check(IP, "alice")).rejects.toSatisfy((error) =>
        isSelloError(error, "service_unavailable"),
      );
      expect(Date.now() - started).toBeLessThan(1_000);

      await server.start();
      await waitUntilReady(client, 3_000);
      expect(await store.increment("k", 60, START)).toBe(1);
    } finally {
      client.disconnect();
      await server.dispose();
    }
  });
});
