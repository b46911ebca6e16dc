import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { type LimiterStore, MAX_ATTEMPTS_LIMIT } from "../login-limiter.js";
import { translateRedisError, validatePrefix } from "./connection.js";

/** Settings for {@link RedisLimiterStore}. */
export interface RedisLimiterStoreOptions {
  /**
   * The connection to use. The store never closes it. A client from `createRedisConnection`
   * rejects commands at once while Redis is down, so a login fails with 503 instead of waiting.
   */
  client: Redis;
  /** The deployment's name in every key: `sello:<prefix>:limit:<key>`. Default `default`. */
  prefix?: string;
  /** The maximum number of event times per key, dropping the oldest first. Default 1,000. */
  maxEventsPerKey?: number;
}

/**
 * A {@link LimiterStore} in Redis, so that every server instance counts the same failures.
 * Each key is a sorted set of event times (the score) that expires `windowSeconds` after its
 * latest increment. Each increment runs in one MULTI transaction. Methods throw
 * `SelloError("service_unavailable")` when Redis cannot be reached.
 *
 * NOTE: Event times come from the caller's clock, but key expiry follows Redis's clock, so a
 * caller clock ahead of Redis by `s` seconds makes idle keys vanish up to `s` seconds early.
 */
export class RedisLimiterStore implements LimiterStore {
  /** The text in front of every key, `sello:<prefix>:limit:`. */
  readonly keyPrefix: string;
  readonly #client: Redis;
  readonly #maxEventsPerKey: number;

  constructor(options: RedisLimiterStoreOptions) {
    if (typeof options?.client?.multi !== "function") {
      throw new TypeError("client must be an ioredis client.");
    }
    const maxEventsPerKey = options.maxEventsPerKey ?? MAX_ATTEMPTS_LIMIT;
    if (!Number.isInteger(maxEventsPerKey) || maxEventsPerKey < 1) {
      throw new TypeError(
        `maxEventsPerKey must be a whole number of at least 1; got ${String(maxEventsPerKey)}.`,
      );
    }

    this.#client = options.client;
    this.#maxEventsPerKey = maxEventsPerKey;
    this.keyPrefix = `sello:${validatePrefix(options.prefix ?? "default")}:limit:`;
  }

  async increment(key: string, windowSeconds: number, now: number): Promise<number> {
    validateTime(now);
    if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) {
      throw new TypeError(`windowSeconds must be a positive number; got ${windowSeconds}.`);
    }

    const windowMs = Math.max(1, Math.round(windowSeconds * 1000));
    const redisKey = this.keyPrefix + key;

    // Members must be unique, so two failures in one millisecond count twice. The window is part
    // of the member so that `get` can use the window of the latest event.
    const member = `${now}:${windowMs}:${randomBytes(6).toString("base64url")}`;

    const replies = await this.#run(() =>
      this.#client
        .multi()
        .zremrangebyscore(redisKey, "-inf", now - windowMs)
        .zadd(redisKey, now, member)
        .zremrangebyrank(redisKey, 0, -(this.#maxEventsPerKey + 1))
        .zcard(redisKey)
        .pexpire(redisKey, windowMs)
        .exec(),
    );
    if (replies === null) {
      throw new Error(`The Redis transaction on ${redisKey} was aborted.`);
    }
    for (const [error] of replies) {
      if (error !== null) {
        throw translateRedisError(error, "limiter_unavailable");
      }
    }
    return Number(replies[3]?.[1]);
  }

  async reset(key: string): Promise<void> {
    await this.#run(() => this.#client.del(this.keyPrefix + key));
  }

  async get(key: string, now: number): Promise<number> {
    return (await this.getTimestamps(key, now)).length;
  }

  /**
   * Returns the event times for `key` that are still in the window of its newest event, oldest
   * first.
   */
  async getTimestamps(key: string, now: number): Promise<number[]> {
    validateTime(now);
    const reply = await this.#run(() =>
      this.#client.zrange(this.keyPrefix + key, 0, -1, "WITHSCORES"),
    );

    // The reply alternates member and score, in ascending score order.
    const newestMember = reply.at(-2);
    if (newestMember === undefined) {
      return [];
    }
    const windowMs = Number(newestMember.split(":")[1]);
    const timestamps: number[] = [];
    for (let index = 1; index < reply.length; index += 2) {
      const time = Number(reply[index]);
      if (time > now - windowMs) {
        timestamps.push(time);
      }
    }
    return timestamps;
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw translateRedisError(error, "limiter_unavailable");
    }
  }
}

function validateTime(now: number): void {
  if (!Number.isFinite(now)) {
    throw new TypeError(`now must be a finite number of milliseconds; got ${now}.`);
  }
}
