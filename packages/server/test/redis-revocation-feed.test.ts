import { randomUUID } from "node:crypto";
import {
  type DeniedToken,
  isSelloError,
  RevocationList,
  type RevocationSnapshot,
} from "@sello/core";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { waitUntilReady } from "../src/redis/connection.js";
import {
  createRedisRevocationFeed,
  type RedisRevocationFeed,
  type RedisRevocationFeedOptions,
} from "../src/redis/revocation-feed.js";
import { checkRedisServerBinary, RedisServerProcess, uniquePrefix } from "./helpers/redis.js";

const RETENTION_SECONDS = 600;
const HEARTBEAT_MS = 100;
const MAX_STALENESS_MS = 600;

const skipReason = checkRedisServerBinary();

/**
 * Revocations as the database contains them, for `loadSnapshot`. It filters like
 * `Store.loadRevocations` and can be switched to fail like a database outage.
 */
class FakeRevocationStore {
  readonly deniedTokens: DeniedToken[] = [];
  readonly revokedSessions: { sessionId: string; revokedAt: number }[] = [];
  readonly loadedSince: number[] = [];
  failing = false;

  readonly load = async (since: number): Promise<RevocationSnapshot> => {
    this.loadedSince.push(since);
    if (this.failing) {
      throw new Error("store offline");
    }
    return {
      deniedTokens: this.deniedTokens.filter((entry) => entry.expiresAt > since),
      revokedSessions: this.revokedSessions.filter((entry) => entry.revokedAt >= since),
      userRevocations: [],
    };
  };
}

interface CapturedLog {
  level: "info" | "warn";
  message: string;
  details: Record<string, unknown>;
}

describe.skipIf(skipReason !== undefined)("Redis revocation feed", () => {
  let server: RedisServerProcess;
  const feeds: RedisRevocationFeed[] = [];
  const clients: Redis[] = [];

  beforeAll(async () => {
    server = await RedisServerProcess.start();
  });

  afterEach(async () => {
    for (const feed of feeds.splice(0)) {
      await feed.close();
    }
    for (const client of clients.splice(0)) {
      client.disconnect();
    }
    if (server.pid === undefined) {
      await server.start();
    }
  });

  afterAll(async () => {
    await server.dispose();
  });

  function openFeed(overrides: Partial<RedisRevocationFeedOptions> & { prefix: string }): {
    feed: RedisRevocationFeed;
    list: RevocationList;
    logs: CapturedLog[];
  } {
    const list = new RevocationList({ retentionSeconds: RETENTION_SECONDS });
    const logs: CapturedLog[] = [];
    const feed = createRedisRevocationFeed({
      url: server.url,
      list,
      loadSnapshot: new FakeRevocationStore().load,
      retentionSeconds: RETENTION_SECONDS,
      heartbeatIntervalMs: HEARTBEAT_MS,
      maxStalenessMs: MAX_STALENESS_MS,
      maxReconnectDelayMs: 100,
      logger: {
        info: (details, message) => logs.push({ level: "info", message, details }),
        warn: (details, message) => logs.push({ level: "warn", message, details }),
      },
      ...overrides,
    });
    feeds.push(feed);
    return { feed, list, logs };
  }

  async function rawClient(): Promise<Redis> {
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    client.on("error", () => undefined);
    clients.push(client);
    await waitUntilReady(client);
    return client;
  }

  function claims(overrides: { jti?: string; sub?: string; sid?: string; iat?: number } = {}) {
    return {
      jti: overrides.jti ?? randomUUID(),
      sub: overrides.sub ?? "user-1",
      sid: overrides.sid ?? randomUUID(),
      iat: overrides.iat ?? Math.floor(Date.now() / 1000) - 60,
    };
  }

  /** Polls `condition` every 2 ms and returns the milliseconds until it held. */
  async function millisecondsUntil(condition: () => boolean, timeoutMs: number): Promise<number> {
    const started = performance.now();
    await vi.waitFor(() => expect(condition()).toBe(true), { timeout: timeoutMs, interval: 2 });
    return performance.now() - started;
  }

  function throwsServiceUnavailable(action: () => unknown): boolean {
    try {
      action();
      return false;
    } catch (error) {
      return isSelloError(error, "service_unavailable");
    }
  }

  it("delivers each event type within 100 ms", async () => {
    const prefix = uniquePrefix();
    const first = openFeed({ prefix });
    const second = openFeed({ prefix });
    await Promise.all([first.feed.waitForSync(), second.feed.waitForSync()]);

    const denied = claims();
    await first.feed.publishDeniedToken(denied.jti, Date.now() + 60_000);
    expect(first.feed.isRevoked(denied)).toBe(true);
    const deniedDelay = await millisecondsUntil(() => second.feed.isRevoked(denied), 1_000);
    expect(deniedDelay).toBeLessThan(100);

    const inSession = claims();
    await second.feed.publishSessionRevoked(inSession.sid, Date.now());
    const sessionDelay = await millisecondsUntil(() => first.feed.isRevoked(inSession), 1_000);
    expect(sessionDelay).toBeLessThan(100);

    const ofUser = claims({ sub: "user-7" });
    await first.feed.publishUserRevokedBefore("user-7", Date.now());
    const userDelay = await millisecondsUntil(() => second.feed.isRevoked(ofUser), 1_000);
    expect(userDelay).toBeLessThan(100);

    const untouched = claims({ sub: "user-8" });
    expect(second.feed.isRevoked(untouched)).toBe(false);
  });

  it("records events for instances that start later", async () => {
    const prefix = uniquePrefix();
    const early = openFeed({ prefix });
    await early.feed.waitForSync();
    const denied = claims();
    await early.feed.publishDeniedToken(denied.jti, Date.now() + 60_000);

    const late = openFeed({ prefix });
    await late.feed.waitForSync();
    expect(late.feed.isRevoked(denied)).toBe(true);

    const client = await rawClient();
    const eventsKey = `sello:${prefix}:revocations:events`;
    expect(await client.type(eventsKey)).toBe("zset");
    expect(await client.zcard(eventsKey)).toBe(1);
    const ttl = await client.pttl(eventsKey);
    expect(ttl).toBeGreaterThan((RETENTION_SECONDS - 5) * 1000);
    expect(ttl).toBeLessThanOrEqual(RETENTION_SECONDS * 1000);
  });

  it("keeps deployments with different prefixes apart", async () => {
    const first = openFeed({ prefix: uniquePrefix() });
    const second = openFeed({ prefix: uniquePrefix() });
    await Promise.all([first.feed.waitForSync(), second.feed.waitForSync()]);

    const denied = claims();
    await first.feed.publishDeniedToken(denied.jti, Date.now() + 60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(second.feed.isRevoked(denied)).toBe(false);
  });

  it("stays fresh while no event arrives", async () => {
    const { feed } = openFeed({ prefix: uniquePrefix() });
    await feed.waitForSync();
    const firstSync = feed.lastSyncedAt() as number;

    await new Promise((resolve) => setTimeout(resolve, 3 * MAX_STALENESS_MS));
    expect(feed.isRevoked(claims())).toBe(false);
    expect(feed.lastSyncedAt()).toBeGreaterThan(firstSync + 2 * MAX_STALENESS_MS);
    expect(Date.now() - (feed.lastSyncedAt() as number)).toBeLessThan(3 * HEARTBEAT_MS);
  });

  it("goes stale, then recovers after an outage", async () => {
    const prefix = uniquePrefix();
    const store = new FakeRevocationStore();
    const first = openFeed({ prefix, loadSnapshot: store.load });
    const second = openFeed({ prefix, loadSnapshot: store.load });
    await Promise.all([first.feed.waitForSync(), second.feed.waitForSync()]);

    await server.kill();
    const killedAt = Date.now();
    expect(second.feed.isRevoked(claims())).toBe(false);

    // The server writes a revocation to the store before publishing it.
    const missed = claims();
    store.deniedTokens.push({ jti: missed.jti, expiresAt: Date.now() + 60_000 });
    const publishStarted = Date.now();
    const publishFailure = await first.feed
      .publishDeniedToken(missed.jti, Date.now() + 60_000)
      .catch((error: unknown) => error);
    expect(isSelloError(publishFailure, "service_unavailable")).toBe(true);
    expect((publishFailure as { reason?: string }).reason).toBe("revocation_feed_unavailable");
    expect(Date.now() - publishStarted).toBeLessThan(500);
    expect(first.feed.isRevoked(missed)).toBe(true);

    await vi.waitFor(
      () => expect(throwsServiceUnavailable(() => second.feed.isRevoked(claims()))).toBe(true),
      { timeout: 3_000, interval: 5 },
    );
    const staleAfter = Date.now() - killedAt;
    expect(staleAfter).toBeGreaterThanOrEqual(MAX_STALENESS_MS - HEARTBEAT_MS - 50);
    expect(staleAfter).toBeLessThanOrEqual(MAX_STALENESS_MS + 300);

    const frozenSync = second.feed.lastSyncedAt();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(second.feed.lastSyncedAt()).toBe(frozenSync);
    expect(second.logs.some((log) => log.message.includes("no Redis connection"))).toBe(true);

    const loadsBeforeRestart = store.loadedSince.length;
    await server.start();
    const restartedAt = Date.now();
    await Promise.all([first.feed.waitForSync(3_000), second.feed.waitForSync(3_000)]);
    expect(Date.now() - restartedAt).toBeLessThan(2_000);

    expect(second.feed.isRevoked(missed)).toBe(true);
    expect(second.feed.lastSyncedAt()).toBeGreaterThanOrEqual(restartedAt);
    expect(store.loadedSince.length).toBeGreaterThan(loadsBeforeRestart);
    const since = store.loadedSince.at(-1) as number;
    expect(Math.abs(since - (Date.now() - RETENTION_SECONDS * 1000))).toBeLessThan(3_000);
    expect(
      second.logs.some(
        (log) =>
          log.message === "Revocation feed reconnected and synchronised." && log.level === "info",
      ),
    ).toBe(true);

    const afterRecovery = claims();
    await first.feed.publishDeniedToken(afterRecovery.jti, Date.now() + 60_000);
    const delay = await millisecondsUntil(() => second.feed.isRevoked(afterRecovery), 1_000);
    expect(delay).toBeLessThan(100);
  });

  it("publishes a failed event again after reconnecting", async () => {
    const prefix = uniquePrefix();
    const first = openFeed({ prefix });
    const second = openFeed({ prefix });
    await Promise.all([first.feed.waitForSync(), second.feed.waitForSync()]);

    // Neither the store snapshot nor the restarted, empty Redis contains the event, so only the
    // publisher sending it again can deliver it.
    await server.kill();
    const missed = claims();
    await expect(first.feed.publishDeniedToken(missed.jti, Date.now() + 60_000)).rejects.toSatisfy(
      (error) => isSelloError(error, "service_unavailable"),
    );
    await server.start();

    await vi.waitFor(() => expect(second.feed.isRevoked(missed)).toBe(true), {
      timeout: 3_000,
      interval: 5,
    });
    const client = await rawClient();
    expect(await client.zcard(`sello:${prefix}:revocations:events`)).toBe(1);
  });

  it("applies events missed while disconnected", async () => {
    const prefix = uniquePrefix();
    const first = openFeed({ prefix });
    const second = openFeed({ prefix });
    await Promise.all([first.feed.waitForSync(), second.feed.waitForSync()]);

    // Only the subscriber connections drop; the publisher stays connected, so the event reaches
    // the event log but no subscriber.
    const client = await rawClient();
    expect(await client.client("KILL", "TYPE", "pubsub")).toBeGreaterThanOrEqual(2);
    const missed = claims();
    await first.feed.publishDeniedToken(missed.jti, Date.now() + 60_000);

    await vi.waitFor(() => expect(second.feed.isRevoked(missed)).toBe(true), {
      timeout: 3_000,
      interval: 5,
    });
    await second.feed.waitForSync(3_000);
    expect(second.feed.isRevoked(missed)).toBe(true);
  });

  it("stays unsynchronised while the store fails", async () => {
    const store = new FakeRevocationStore();
    store.failing = true;
    const { feed, logs } = openFeed({ prefix: uniquePrefix(), loadSnapshot: store.load });

    await expect(feed.waitForSync(500)).rejects.toSatisfy((error) =>
      isSelloError(error, "service_unavailable"),
    );
    expect(feed.lastSyncedAt()).toBeUndefined();
    expect(throwsServiceUnavailable(() => feed.isRevoked(claims()))).toBe(true);
    expect(store.loadedSince.length).toBeGreaterThan(1);
    expect(logs.filter((log) => log.message.startsWith("Loading missed revocations"))).toHaveLength(
      1,
    );

    store.failing = false;
    await feed.waitForSync(2_000);
    expect(feed.isRevoked(claims())).toBe(false);
  });

  it("ignores invalid messages on the channel", async () => {
    const prefix = uniquePrefix();
    const { feed, list, logs } = openFeed({ prefix });
    await feed.waitForSync();
    const client = await rawClient();

    const invalid = [
      "not json",
      "[]",
      "null",
      JSON.stringify({ type: "denied_token" }),
      JSON.stringify({ type: "denied_token", jti: "", expiresAt: 1 }),
      JSON.stringify({ type: "denied_token", jti: "x".repeat(513), expiresAt: 1 }),
      JSON.stringify({ type: "denied_token", jti: "a", expiresAt: "soon" }),
      JSON.stringify({ type: "session_revoked", sessionId: 42, revokedAt: 1 }),
      JSON.stringify({ type: "drop_everything" }),
    ];
    for (const message of invalid) {
      await client.publish(`sello:${prefix}:revocations`, message);
    }
    const denied = claims();
    await client.publish(
      `sello:${prefix}:revocations`,
      JSON.stringify({ type: "denied_token", jti: denied.jti, expiresAt: Date.now() + 60_000 }),
    );

    await vi.waitFor(() => expect(feed.isRevoked(denied)).toBe(true), { timeout: 1_000 });
    expect(list.size).toBe(1);
    const warnings = logs.filter((log) => log.message.startsWith("Ignored a revocation message"));
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]?.details)).not.toContain("not json");
  });

  it("throws before its first synchronisation", async () => {
    await server.kill();
    const { feed } = openFeed({ prefix: uniquePrefix() });

    expect(feed.lastSyncedAt()).toBeUndefined();
    expect(throwsServiceUnavailable(() => feed.isRevoked(claims()))).toBe(true);
    await expect(feed.waitForSync(300)).rejects.toSatisfy((error) =>
      isSelloError(error, "service_unavailable"),
    );

    await server.start();
    await feed.waitForSync(3_000);
    expect(feed.isRevoked(claims())).toBe(false);
  });

  it("rejects invalid arguments", async () => {
    const { feed } = openFeed({ prefix: uniquePrefix() });
    await feed.waitForSync();

    await expect(feed.publishDeniedToken("", 1)).rejects.toThrow("jti must");
    await expect(feed.publishDeniedToken("a", Number.NaN)).rejects.toThrow("expiresAt must");
    await expect(feed.publishSessionRevoked("x".repeat(513), 1)).rejects.toThrow("sessionId must");
    await expect(feed.publishUserRevokedBefore("u", Number.POSITIVE_INFINITY)).rejects.toThrow(
      "time must",
    );

    const valid: RedisRevocationFeedOptions = {
      url: server.url,
      list: new RevocationList({ retentionSeconds: 60 }),
      loadSnapshot: new FakeRevocationStore().load,
      retentionSeconds: 60,
    };
    const invalid: Array<[string, Partial<RedisRevocationFeedOptions>]> = [
      ["url", { url: "not a url" }],
      ["list", { list: {} as RevocationList }],
      ["loadSnapshot", { loadSnapshot: undefined as unknown as () => Promise<RevocationSnapshot> }],
      ["retentionSeconds", { retentionSeconds: 0 }],
      ["heartbeatIntervalMs", { heartbeatIntervalMs: 1.5 }],
      ["maxStalenessMs", { heartbeatIntervalMs: 1_000, maxStalenessMs: 1_500 }],
      ["prefix", { prefix: "a:b" }],
    ];
    for (const [name, override] of invalid) {
      expect(() => createRedisRevocationFeed({ ...valid, ...override }), name).toThrow(TypeError);
      expect(() => createRedisRevocationFeed({ ...valid, ...override }), name).toThrow(name);
    }
  });

  it("rejects waits and publishes after close", async () => {
    const { feed } = openFeed({ prefix: uniquePrefix() });
    const waiting = feed.waitForSync(5_000);
    await feed.close();
    await expect(waiting).rejects.toSatisfy((error) => isSelloError(error, "service_unavailable"));
    await expect(feed.publishDeniedToken("a", Date.now())).rejects.toSatisfy((error) =>
      isSelloError(error, "service_unavailable"),
    );
  });
});
