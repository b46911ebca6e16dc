import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

/**
 * The largest accepted value of `maxAttemptsPerAccount` and `maxAttemptsPerIp`. It is also the
 * number of failure times {@link MemoryLimiterStore} keeps per key by default.
 */
export const MAX_ATTEMPTS_LIMIT = 1000;

/** The maximum `ip` or `account` length used as is in a key, in UTF-16 code units. */
const MAX_PLAIN_KEY_PART_LENGTH = 256;

/**
 * Failure counters keyed by string, over a sliding window: an event recorded at time `t` counts
 * until `t + windowSeconds`. All times are milliseconds since the Unix epoch.
 */
export interface LimiterStore {
  /** Records one event at `now`, and returns the number of events for `key` in its window. */
  increment(key: string, windowSeconds: number, now: number): Promise<number>;
  /** Deletes every event for `key`. */
  reset(key: string): Promise<void>;
  /** Returns the number of events for `key` in the window of its latest increment. */
  get(key: string, now: number): Promise<number>;
  /** Returns the times of the events for `key` that are still in its window, oldest first. */
  getTimestamps(key: string, now: number): Promise<number[]>;
}

/** Bounds for {@link MemoryLimiterStore}. */
export interface MemoryLimiterStoreOptions {
  /** The maximum number of keys, evicting the key incremented longest ago. Default 100,000. */
  maxKeys?: number;
  /** The maximum number of event times per key, dropping the oldest first. Default 1,000. */
  maxEventsPerKey?: number;
}

interface MemoryEntry {
  windowMs: number;
  timestamps: number[];
}

/**
 * A {@link LimiterStore} in process memory, for a single server process. Keys are kept in the
 * order of their latest increment, so expired keys are swept from the front on each increment
 * and the key incremented longest ago is evicted when `maxKeys` is reached.
 */
export class MemoryLimiterStore implements LimiterStore {
  readonly #entries = new Map<string, MemoryEntry>();
  readonly #maxKeys: number;
  readonly #maxEventsPerKey: number;

  constructor(options: MemoryLimiterStoreOptions = {}) {
    this.#maxKeys = validateCount(options.maxKeys ?? 100_000, "maxKeys", Number.MAX_SAFE_INTEGER);
    this.#maxEventsPerKey = validateCount(
      options.maxEventsPerKey ?? MAX_ATTEMPTS_LIMIT,
      "maxEventsPerKey",
      Number.MAX_SAFE_INTEGER,
    );
  }

  /** The number of keys currently kept, including expired keys not yet swept. */
  get size(): number {
    return this.#entries.size;
  }

  async increment(key: string, windowSeconds: number, now: number): Promise<number> {
    this.#sweep(now);

    const windowMs = Math.round(windowSeconds * 1000);
    const previous = this.#entries.get(key);
    const timestamps =
      previous === undefined ? [] : liveTimestamps(previous.timestamps, windowMs, now);
    timestamps.push(now);
    if (timestamps.length > 1 && now < (timestamps.at(-2) as number)) {
      // The clock went backwards, so put the new time in order.
      timestamps.sort((left, right) => left - right);
    }
    if (timestamps.length > this.#maxEventsPerKey) {
      timestamps.splice(0, timestamps.length - this.#maxEventsPerKey);
    }

    // Deleting first moves the key to the end of the map's insertion order.
    this.#entries.delete(key);
    this.#entries.set(key, { windowMs, timestamps });

    for (const oldestKey of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxKeys) {
        break;
      }
      this.#entries.delete(oldestKey);
    }

    return timestamps.length;
  }

  async reset(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  async get(key: string, now: number): Promise<number> {
    return (await this.getTimestamps(key, now)).length;
  }

  async getTimestamps(key: string, now: number): Promise<number[]> {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      return [];
    }

    const timestamps = liveTimestamps(entry.timestamps, entry.windowMs, now);
    if (timestamps.length === 0) {
      this.#entries.delete(key);
    }
    return timestamps;
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) {
      const newest = entry.timestamps.at(-1) ?? Number.NEGATIVE_INFINITY;
      if (newest + entry.windowMs > now) {
        break;
      }
      this.#entries.delete(key);
    }
  }
}

function liveTimestamps(timestamps: number[], windowMs: number, now: number): number[] {
  return timestamps.filter((time) => time > now - windowMs);
}

/** Settings for {@link createLoginLimiter}. */
export interface LoginLimiterOptions {
  /** Failures per account within the window that carry no delay. Default 5, max 1,000. */
  maxAttemptsPerAccount?: number;
  /** Failures per client address within the window before it is blocked. Default 20, max 1,000. */
  maxAttemptsPerIp?: number;
  /** The sliding window, in seconds. Default 900 (15 minutes), at most 604,800 (one week). */
  windowSeconds?: number;
  /** The counter store. Default a new {@link MemoryLimiterStore}. */
  store?: LimiterStore;
  /** The current time in milliseconds since the Unix epoch. Default `Date.now`. */
  clock?: () => number;
}

/**
 * The result of {@link LoginLimiter.check}. `retryAfterSeconds` is a positive whole number, ready
 * for a Retry-After header.
 */
export type LoginCheckResult = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** The login limiter that {@link createLoginLimiter} returns. */
export interface LoginLimiter {
  /** Decides whether a login attempt may verify a password now. Records nothing. */
  check(ip: string, account: string): Promise<LoginCheckResult>;
  /** Records a failed login against both the client address and the account. */
  recordFailure(ip: string, account: string): Promise<void>;
  /** Clears the account's failures after a successful login. The address counter stays. */
  recordSuccess(ip: string, account: string): Promise<void>;
}

/**
 * Creates a limiter for login attempts, counted per client address and per account over a sliding
 * window of `windowSeconds`.
 *
 * - Account: the first `maxAttemptsPerAccount` failures carry no delay. Once that many failures
 *   are in the window, the next attempt must wait 1 s after the latest failure, and each further
 *   failure doubles the wait (1 s, 2 s, 4 s, …) up to the window length.
 * - Address: once `maxAttemptsPerIp` failures from one address are in the window, every attempt
 *   from it is rejected until the oldest of them leaves the window. IPv6 clients are counted per
 *   /64 network, because IPv6 subnets are normally /64 and a host can pick any address in its
 *   subnet. IPv4-mapped IPv6 addresses count as their IPv4 address.
 *
 * `account` should be the normalised username, or the input as typed when it does not normalise.
 * The limiter never looks it up, so an unknown username gets the same results as a known one.
 * Throws a TypeError for invalid options, and the methods reject a non-string `ip` or `account`.
 */
export function createLoginLimiter(options: LoginLimiterOptions = {}): LoginLimiter {
  const maxAttemptsPerAccount = validateCount(
    options.maxAttemptsPerAccount ?? 5,
    "maxAttemptsPerAccount",
    MAX_ATTEMPTS_LIMIT,
  );
  const maxAttemptsPerIp = validateCount(
    options.maxAttemptsPerIp ?? 20,
    "maxAttemptsPerIp",
    MAX_ATTEMPTS_LIMIT,
  );
  const windowSeconds = validateWindow(options.windowSeconds ?? 900);
  const store = options.store === undefined ? new MemoryLimiterStore() : options.store;
  validateStore(store);
  const clock = options.clock === undefined ? Date.now : options.clock;
  if (typeof clock !== "function") {
    throw new TypeError(`clock must be a function returning milliseconds; got ${typeof clock}.`);
  }

  const windowMs = Math.round(windowSeconds * 1000);

  function accountReadyAt(timestamps: number[]): number {
    const extraFailures = timestamps.length - maxAttemptsPerAccount;
    const latest = timestamps.at(-1);
    if (extraFailures < 0 || latest === undefined) {
      return Number.NEGATIVE_INFINITY;
    }
    return latest + Math.min(1000 * 2 ** extraFailures, windowMs);
  }

  function ipReadyAt(timestamps: number[]): number {
    // Attempts resume when the count drops below the cap, which is when this failure expires.
    const blocking = timestamps[timestamps.length - maxAttemptsPerIp];
    if (timestamps.length < maxAttemptsPerIp || blocking === undefined) {
      return Number.NEGATIVE_INFINITY;
    }
    return blocking + windowMs;
  }

  return {
    // NOTE: check and recordFailure are separate steps, so concurrent attempts that all pass
    // check before any of them records its failure are all allowed.
    async check(ip, account) {
      const keys = limiterKeys(ip, account);
      const now = clock();

      const [ipTimes, accountTimes] = await Promise.all([
        store.getTimestamps(keys.ip, now),
        store.getTimestamps(keys.account, now),
      ]);
      const readyAt = Math.max(ipReadyAt(ipTimes), accountReadyAt(accountTimes));
      if (readyAt <= now) {
        return { allowed: true };
      }

      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((readyAt - now) / 1000)) };
    },

    async recordFailure(ip, account) {
      const keys = limiterKeys(ip, account);
      const now = clock();
      await Promise.all([
        store.increment(keys.ip, windowSeconds, now),
        store.increment(keys.account, windowSeconds, now),
      ]);
    },

    async recordSuccess(ip, account) {
      const keys = limiterKeys(ip, account);
      await store.reset(keys.account);
    },
  };
}

function limiterKeys(ip: string, account: string): { ip: string; account: string } {
  validateKeyPart(ip, "ip");
  validateKeyPart(account, "account");
  return {
    ip: `ip:${boundKeyPart(clientAddressKey(ip))}`,
    account: `account:${boundKeyPart(account)}`,
  };
}

/**
 * Replaces a value longer than 256 code units with its SHA-256, so raw login input of any length
 * gets its own counter without making the store's keys long.
 */
function boundKeyPart(value: string): string {
  if (value.length <= MAX_PLAIN_KEY_PART_LENGTH) {
    return value;
  }
  return `sha256:${createHash("sha256").update(value).digest("base64url")}`;
}

/** Maps an address to its counter key: IPv4 as is, IPv6 as its /64 network. */
function clientAddressKey(ip: string): string {
  if (!isIPv6(ip)) {
    return ip;
  }

  const groups = expandIPv6(ip);
  const isIPv4Mapped = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (isIPv4Mapped) {
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  }

  const network = groups.slice(0, 4).map((group) => group.toString(16));
  return `${network.join(":")}::/64`;
}

/** Expands a valid IPv6 address (checked with `isIPv6`) into its eight 16-bit groups. */
function expandIPv6(address: string): number[] {
  const withoutZone = address.split("%")[0] ?? "";
  const [head = "", tail] = withoutZone.split("::");
  const headGroups = parseGroups(head);
  if (tail === undefined) {
    return headGroups;
  }

  const tailGroups = parseGroups(tail);
  const zeros = new Array<number>(8 - headGroups.length - tailGroups.length).fill(0);
  return [...headGroups, ...zeros, ...tailGroups];
}

function parseGroups(part: string): number[] {
  if (part === "") {
    return [];
  }

  return part.split(":").flatMap((group) => {
    if (isIPv4(group)) {
      const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
      return [(a << 8) | b, (c << 8) | d];
    }
    return [Number.parseInt(group, 16)];
  });
}

function validateKeyPart(value: unknown, name: string): void {
  if (typeof value !== "string") {
    throw new TypeError(`${name} must be a string; got ${describe(value)}.`);
  }
}

function validateWindow(value: unknown): number {
  const max = 604_800;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 1 || value > max) {
    throw new TypeError(`windowSeconds must be a number from 1 to ${max}; got ${describe(value)}.`);
  }
  return value;
}

function validateCount(value: unknown, name: string, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw new TypeError(`${name} must be a whole number from 1 to ${max}; got ${describe(value)}.`);
  }
  return value;
}

function validateStore(store: unknown): void {
  const methods = ["increment", "reset", "get", "getTimestamps"] as const;
  const missing = methods.filter(
    (method) =>
      typeof store !== "object" ||
      store === null ||
      typeof (store as Record<string, unknown>)[method] !== "function",
  );
  if (missing.length > 0) {
    throw new TypeError(`store must implement LimiterStore; missing ${missing.join(", ")}.`);
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") {
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  return typeof value === "number" ? String(value) : typeof value;
}
