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
import { fail, frozenClock, IP, itFollowsLoginLimitRules, START } from "./helpers/limiter-rules.js";
import {
  checkRedis,
  checkRedisServerBinary,
  deleteKeys,
  REDIS_URL,
  RedisServerProcess,
  uniquePrefix,
} from "./helpers/redis.js";

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

function setup(options: Partial<LoginLimiterOptions> = {}) {
  const time = frozenClock();
  const store = newStore();
  const limiter = createLoginLimiter({ clock: time.clock, store, ...options });
  return { limiter, store, advance: time.advance };
}

describe.skipIf(skipReason !== undefined)("login limiter on RedisLimiterStore", () => {
  itFollowsLoginLimitRules(() => newStore());

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
