import {
  type AccessTokenClaims,
  isSelloError,
  type RevocationList,
  type RevocationSnapshot,
  type RevocationSource,
  SelloError,
} from "@sello/core";
import { createRedisConnection, translateRedisError, validatePrefix } from "./connection.js";

/** The subset of a pino logger the feed writes to. */
export interface RevocationFeedLogger {
  info(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
}

/** Settings for {@link createRedisRevocationFeed}. */
export interface RedisRevocationFeedOptions {
  /** A `redis://` or `rediss://` URL. */
  url: string;
  /** The deployment's name in every key: `sello:<prefix>:revocations…`. Default `default`. */
  prefix?: string;
  /** The list that received events are applied to, and that `isRevoked` consults. */
  list: RevocationList;
  /**
   * Loads every revocation recorded since `since` (milliseconds since the epoch), normally
   * `store.loadRevocations`. Called on every (re)connection, because the store has each
   * revocation even when publishing it failed.
   */
  loadSnapshot: (since: number) => Promise<RevocationSnapshot>;
  /**
   * Seconds for which a revocation can still matter: the longest access-token lifetime plus the
   * verifiers' clock tolerance. Events are kept in Redis this long, and a resynchronisation loads
   * this far back.
   */
  retentionSeconds: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /**
   * Milliseconds after the last confirmed synchronisation at which `isRevoked` throws
   * `service_unavailable` instead of returning a result. This bounds how long a revocation can go unseen while
   * Redis is unreachable. At least twice `heartbeatIntervalMs`. Default 5,000.
   */
  maxStalenessMs?: number;
  /** Milliseconds between PINGs on the subscriber connection. Default 1,000. */
  heartbeatIntervalMs?: number;
  /** The maximum wait between two reconnection attempts, in milliseconds. Default 1,000. */
  maxReconnectDelayMs?: number;
  /** Receives connection losses, recoveries and rejected messages. Default: nothing is logged. */
  logger?: RevocationFeedLogger;
}

/** A revocation feed shared by every server instance through Redis pub/sub. */
export interface RedisRevocationFeed extends RevocationSource {
  /**
   * Denies one access token until `expiresAt` (ms) in the local list, records the event in Redis
   * and publishes it. Rejects with `service_unavailable` when Redis cannot be reached. The local
   * list keeps the entry either way, and the feed publishes a failed event again once the
   * publisher reconnects, for at most `retentionSeconds`.
   */
  publishDeniedToken(jti: string, expiresAt: number): Promise<void>;
  /** Revokes a session's access tokens, locally and for every instance, like `publishDeniedToken`. */
  publishSessionRevoked(sessionId: string, revokedAt: number): Promise<void>;
  /** Revokes a user's access tokens issued before `time` (ms), like `publishDeniedToken`. */
  publishUserRevokedBefore(userId: string, time: number): Promise<void>;
  /**
   * The time (ms) up to which the list is known to contain every published revocation, or
   * undefined before the first synchronisation.
   */
  lastSyncedAt(): number | undefined;
  /**
   * Returns whether the token is revoked. Throws `SelloError("service_unavailable")` before the
   * first synchronisation and when the last one is older than `maxStalenessMs`.
   */
  isRevoked(claims: Pick<AccessTokenClaims, "jti" | "sub" | "iat" | "sid">): boolean;
  /**
   * Resolves once the feed is synchronised. Rejects with `service_unavailable` after `timeoutMs`
   * (default 5,000) or when the feed is closed.
   */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** Stops the heartbeat and closes both Redis connections. */
  close(): Promise<void>;
}

/** One revocation as published on the channel and recorded in the event log. */
type RevocationEvent =
  | { type: "denied_token"; jti: string; expiresAt: number }
  | { type: "session_revoked"; sessionId: string; revokedAt: number }
  | { type: "user_revoked_before"; userId: string; revokedBefore: number };

/** An event whose publishing failed, kept until the publisher reconnects. */
interface UnsentEvent {
  event: RevocationEvent;
  publishedAt: number;
}

/** The maximum number of unpublished events kept for sending again, dropping the oldest first. */
const MAX_UNSENT_EVENTS = 10_000;

/** The longest accepted token id, session id or user id, in UTF-16 code units. */
const MAX_ID_LENGTH = 512;

/** Milliseconds between two warnings of the same kind; repeats in between are counted. */
const WARNING_INTERVAL_MS = 60_000;

/**
 * Creates a revocation feed over Redis and starts connecting. Two connections are used: a
 * subscriber on the channel `sello:<prefix>:revocations`, and a publisher that fails fast while
 * Redis is down. Each publish is also added to the sorted set `sello:<prefix>:revocations:events`
 * (score: publish time), which keeps `retentionSeconds` of events.
 *
 * On every (re)connection the subscriber subscribes first, and then the feed loads both the
 * event log and `loadSnapshot(now - retention)`, so nothing published while it was away is
 * missed. A PING every `heartbeatIntervalMs` advances `lastSyncedAt` while the subscriber is
 * healthy. Throws a TypeError for invalid options.
 *
 * NOTE: An event that this process could not publish before it exited reaches instances that
 * stayed connected only when they next reconnect and load the store's snapshot.
 */
export function createRedisRevocationFeed(
  options: RedisRevocationFeedOptions,
): RedisRevocationFeed {
  const settings = validateOptions(options);
  const { list, loadSnapshot, clock, retentionMs, maxStalenessMs, logger } = settings;
  const channel = `sello:${settings.prefix}:revocations`;
  const eventsKey = `${channel}:events`;

  const subscriber = createRedisConnection(options.url, {
    connectionName: "sello-revocations-subscriber",
    maxReconnectDelayMs: settings.maxReconnectDelayMs,
  });
  const publisher = createRedisConnection(options.url, {
    connectionName: "sello-revocations-publisher",
    maxReconnectDelayMs: settings.maxReconnectDelayMs,
  });

  // Each loss of the subscriber connection starts a new epoch. The feed is synchronised when the
  // current epoch has both subscribed and loaded the missed events.
  let epoch = 0;
  let subscribedEpoch = -1;
  let syncedEpoch = -1;
  let subscribing = false;
  let resyncing = false;
  let pinging = false;
  let lastSynced: number | undefined;
  let disconnectedAt: number | undefined;
  let closed = false;
  const unsent: UnsentEvent[] = [];
  let sendingUnsent = false;
  const syncWaiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  const warnings = new Map<string, { loggedAt: number; repeats: number }>();

  function warn(kind: string, details: Record<string, unknown>, message: string): void {
    const now = clock();
    const previous = warnings.get(kind);
    if (previous !== undefined && now - previous.loggedAt < WARNING_INTERVAL_MS) {
      previous.repeats += 1;
      return;
    }
    warnings.set(kind, { loggedAt: now, repeats: 0 });
    const repeats = previous?.repeats ?? 0;
    logger.warn({ ...details, channel, ...(repeats > 0 ? { repeats } : {}) }, message);
  }

  function tick(): void {
    if (closed) {
      return;
    }
    if (unsent.length > 0 && !sendingUnsent && publisher.status === "ready") {
      void sendUnsent();
    }
    if (subscriber.status !== "ready") {
      return;
    }
    const current = epoch;
    if (subscribedEpoch !== current) {
      if (!subscribing) void subscribe(current);
    } else if (syncedEpoch !== current) {
      // The event log is read through the publisher, because a subscribed connection accepts
      // only pub/sub commands and PING.
      if (!resyncing && publisher.status === "ready") void resync(current);
    } else if (!pinging) {
      void ping(current);
    }
  }

  async function subscribe(current: number): Promise<void> {
    subscribing = true;
    try {
      await subscriber.subscribe(channel);
      if (current === epoch) {
        subscribedEpoch = current;
      }
    } catch (error) {
      warn(
        "subscribe",
        { err: error },
        "Subscribing to the revocation channel failed. Retrying on the next heartbeat.",
      );
    } finally {
      subscribing = false;
    }
    tick();
  }

  async function resync(current: number): Promise<void> {
    resyncing = true;
    const startedAt = clock();
    const since = startedAt - retentionMs;
    try {
      const [recorded, snapshot] = await Promise.all([
        publisher.zrangebyscore(eventsKey, `(${since}`, "+inf"),
        loadSnapshot(since),
      ]);
      list.apply(snapshot);
      for (const message of recorded) {
        receive(message);
      }

      // Events published after the subscription was confirmed arrive on the channel, so the list
      // is complete up to `startedAt` unless the connection dropped while loading.
      if (current === epoch && !closed) {
        syncedEpoch = current;
        lastSynced = Math.max(lastSynced ?? startedAt, startedAt);
        reportSynchronised(recorded.length, snapshot);
        for (const waiter of syncWaiters) waiter.resolve();
      }
    } catch (error) {
      warn(
        "resync",
        { err: error },
        "Loading missed revocations failed. Retrying on the next heartbeat.",
      );
    } finally {
      resyncing = false;
    }
  }

  function reportSynchronised(eventCount: number, snapshot: RevocationSnapshot): void {
    const details = {
      channel,
      events: eventCount,
      snapshotEntries:
        snapshot.deniedTokens.length +
        snapshot.revokedSessions.length +
        snapshot.userRevocations.length,
    };
    if (disconnectedAt === undefined) {
      logger.info(details, "Revocation feed synchronised.");
    } else {
      logger.info(
        { ...details, downtimeMs: clock() - disconnectedAt },
        "Revocation feed reconnected and synchronised.",
      );
      disconnectedAt = undefined;
    }
  }

  async function ping(current: number): Promise<void> {
    pinging = true;
    const sentAt = clock();
    try {
      await subscriber.ping();
      if (current === epoch && syncedEpoch === current) {
        lastSynced = Math.max(lastSynced ?? sentAt, sentAt);
      }
    } catch (error) {
      if (current === epoch && !closed) {
        // A PING without reply means the connection is unusable even if the socket looks open.
        warn(
          "ping",
          { err: error },
          "The revocation subscriber did not answer PING. Reconnecting.",
        );
        subscriber.disconnect(true);
      }
    } finally {
      pinging = false;
    }
  }

  function receive(message: string): void {
    const event = parseEvent(message);
    if (event === undefined) {
      warn(
        "invalid_message",
        { length: message.length },
        "Ignored a revocation message that is not a valid event.",
      );
      return;
    }
    applyEvent(list, event);
  }

  subscriber.on("message", (from: string, message: string) => {
    if (from === channel) {
      receive(message);
    }
  });
  subscriber.on("ready", tick);
  publisher.on("ready", tick);
  subscriber.on("close", () => {
    epoch += 1;
    if (!closed && disconnectedAt === undefined) {
      disconnectedAt = clock();
      logger.warn({ channel }, "Revocation feed has no Redis connection. Reconnecting.");
    }
  });
  subscriber.on("error", (error: Error) => {
    warn("subscriber_error", { err: error }, "The revocation subscriber connection failed.");
  });
  publisher.on("error", (error: Error) => {
    warn("publisher_error", { err: error }, "The revocation publisher connection failed.");
  });

  const heartbeat = setInterval(tick, settings.heartbeatIntervalMs);
  heartbeat.unref();

  async function publish(event: RevocationEvent): Promise<void> {
    applyEvent(list, event);

    const publishedAt = clock();
    try {
      await send(event, publishedAt);
    } catch (error) {
      const translated = translateRedisError(error, "revocation_feed_unavailable");
      if (isSelloError(translated, "service_unavailable") && !closed) {
        queueForRetry(event, publishedAt);
      }
      throw translated;
    }
  }

  /** Records `event` in the event log and publishes it, in one MULTI transaction. */
  async function send(event: RevocationEvent, publishedAt: number): Promise<void> {
    const message = JSON.stringify(event);
    const replies = await publisher
      .multi()
      .zadd(eventsKey, publishedAt, message)
      .zremrangebyscore(eventsKey, "-inf", clock() - retentionMs)
      .pexpire(eventsKey, retentionMs)
      .publish(channel, message)
      .exec();
    const failed = replies?.find(([error]) => error !== null)?.[0];
    if (replies === null || failed !== undefined) {
      throw failed ?? new Error("The Redis transaction was aborted.");
    }
  }

  // Instances whose subscriber stayed connected do not resynchronise, so an event that could not
  // be published would never reach them. Such events are sent again once the publisher
  // reconnects.
  function queueForRetry(event: RevocationEvent, publishedAt: number): void {
    unsent.push({ event, publishedAt });
    if (unsent.length > MAX_UNSENT_EVENTS) {
      const dropped = unsent.splice(0, unsent.length - MAX_UNSENT_EVENTS);
      warn(
        "unsent_overflow",
        { dropped: dropped.length },
        "Dropped the oldest unpublished revocations. Other instances load them from the store when they reconnect.",
      );
    }
  }

  async function sendUnsent(): Promise<void> {
    sendingUnsent = true;
    try {
      while (unsent.length > 0 && !closed) {
        const next = unsent[0] as UnsentEvent;
        if (next.publishedAt + retentionMs > clock()) {
          await send(next.event, next.publishedAt);
        }
        unsent.shift();
      }
    } catch (error) {
      warn(
        "resend",
        { err: error, unsent: unsent.length },
        "Publishing a revocation again failed. Retrying on the next heartbeat.",
      );
    } finally {
      sendingUnsent = false;
    }
  }

  return {
    async publishDeniedToken(jti, expiresAt) {
      await publish({
        type: "denied_token",
        jti: requireId(jti, "jti"),
        expiresAt: requireTime(expiresAt, "expiresAt"),
      });
    },

    async publishSessionRevoked(sessionId, revokedAt) {
      await publish({
        type: "session_revoked",
        sessionId: requireId(sessionId, "sessionId"),
        revokedAt: requireTime(revokedAt, "revokedAt"),
      });
    },

    async publishUserRevokedBefore(userId, time) {
      await publish({
        type: "user_revoked_before",
        userId: requireId(userId, "userId"),
        revokedBefore: requireTime(time, "time"),
      });
    },

    lastSyncedAt() {
      return lastSynced;
    },

    isRevoked(claims) {
      if (lastSynced === undefined || clock() - lastSynced > maxStalenessMs) {
        throw new SelloError("service_unavailable", { reason: "revocation_feed_stale" });
      }
      return list.isRevoked(claims);
    },

    waitForSync(timeoutMs = 5_000) {
      if (closed) {
        return Promise.reject(
          new SelloError("service_unavailable", { reason: "revocation_feed_closed" }),
        );
      }
      if (syncedEpoch === epoch && lastSynced !== undefined) {
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            clearTimeout(timer);
            syncWaiters.delete(waiter);
            resolve();
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            syncWaiters.delete(waiter);
            reject(error);
          },
        };
        const timer = setTimeout(() => {
          waiter.reject(
            new SelloError("service_unavailable", {
              reason: "revocation_feed_not_synced",
              message: `The revocation feed did not synchronise within ${timeoutMs} ms.`,
            }),
          );
        }, timeoutMs);
        syncWaiters.add(waiter);
      });
    },

    async close() {
      if (closed) {
        return;
      }
      closed = true;
      clearInterval(heartbeat);
      for (const waiter of syncWaiters) {
        waiter.reject(new SelloError("service_unavailable", { reason: "revocation_feed_closed" }));
      }
      subscriber.disconnect();
      if (publisher.status === "ready") {
        await publisher.quit().catch(() => publisher.disconnect());
      } else {
        publisher.disconnect();
      }
    },
  };
}

function applyEvent(list: RevocationList, event: RevocationEvent): void {
  switch (event.type) {
    case "denied_token":
      list.denyToken(event.jti, event.expiresAt);
      break;
    case "session_revoked":
      list.revokeSession(event.sessionId, event.revokedAt);
      break;
    case "user_revoked_before":
      list.revokeUserBefore(event.userId, event.revokedBefore);
      break;
  }
}

/** Parses a message from the channel or the event log, or returns undefined when it is invalid. */
function parseEvent(message: string): RevocationEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) {
    return undefined;
  }

  const fields = value as Record<string, unknown>;
  switch (fields.type) {
    case "denied_token":
      return isId(fields.jti) && isTime(fields.expiresAt)
        ? { type: "denied_token", jti: fields.jti, expiresAt: fields.expiresAt }
        : undefined;
    case "session_revoked":
      return isId(fields.sessionId) && isTime(fields.revokedAt)
        ? { type: "session_revoked", sessionId: fields.sessionId, revokedAt: fields.revokedAt }
        : undefined;
    case "user_revoked_before":
      return isId(fields.userId) && isTime(fields.revokedBefore)
        ? {
            type: "user_revoked_before",
            userId: fields.userId,
            revokedBefore: fields.revokedBefore,
          }
        : undefined;
    default:
      return undefined;
  }
}

function isId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function requireId(value: unknown, name: string): string {
  if (!isId(value)) {
    throw new TypeError(`${name} must be a string of 1 to ${MAX_ID_LENGTH} characters.`);
  }
  return value;
}

function requireTime(value: unknown, name: string): number {
  if (!isTime(value)) {
    throw new TypeError(`${name} must be a finite number of milliseconds; got ${String(value)}.`);
  }
  return value;
}

const SILENT_LOGGER: RevocationFeedLogger = {
  info: () => undefined,
  warn: () => undefined,
};

function validateOptions(options: RedisRevocationFeedOptions) {
  if (typeof options?.url !== "string" || !URL.canParse(options.url)) {
    // The URL is left out of the message because it may contain a password.
    throw new TypeError("url must be a redis:// or rediss:// URL.");
  }
  if (typeof options.list?.apply !== "function" || typeof options.list.isRevoked !== "function") {
    throw new TypeError("list must be a RevocationList.");
  }
  if (typeof options.loadSnapshot !== "function") {
    throw new TypeError("loadSnapshot must be a function that returns a RevocationSnapshot.");
  }
  const retentionSeconds = options.retentionSeconds;
  if (!Number.isFinite(retentionSeconds) || retentionSeconds <= 0) {
    throw new TypeError(
      `retentionSeconds must be a positive number of seconds; got ${String(retentionSeconds)}.`,
    );
  }

  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1_000;
  if (!Number.isInteger(heartbeatIntervalMs) || heartbeatIntervalMs < 10) {
    throw new TypeError(
      `heartbeatIntervalMs must be a whole number of milliseconds, at least 10; got ${String(heartbeatIntervalMs)}.`,
    );
  }
  const maxStalenessMs = options.maxStalenessMs ?? 5_000;
  if (!Number.isFinite(maxStalenessMs) || maxStalenessMs < 2 * heartbeatIntervalMs) {
    throw new TypeError(
      `maxStalenessMs must be at least twice heartbeatIntervalMs (${2 * heartbeatIntervalMs}); got ${String(maxStalenessMs)}.`,
    );
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function") {
    throw new TypeError("clock must be a function returning milliseconds.");
  }

  return {
    prefix: validatePrefix(options.prefix ?? "default"),
    list: options.list,
    loadSnapshot: options.loadSnapshot,
    clock,
    retentionMs: Math.ceil(retentionSeconds * 1000),
    maxStalenessMs,
    heartbeatIntervalMs,
    maxReconnectDelayMs: options.maxReconnectDelayMs ?? 1_000,
    logger: options.logger ?? SILENT_LOGGER,
  };
}
