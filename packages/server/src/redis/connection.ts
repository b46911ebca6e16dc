import { SelloError } from "@sello/core";
import { Redis } from "ioredis";

/** Settings for {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  /** The name the connection gives itself with CLIENT SETNAME, shown by CLIENT LIST. */
  connectionName?: string;
  /**
   * Queue commands while disconnected and send them after reconnecting (true), or reject them at
   * once (false). Default false, so callers fail fast while Redis is down.
   */
  offlineQueue?: boolean;
  /** The maximum wait between two reconnection attempts, in milliseconds. Default 1,000. */
  maxReconnectDelayMs?: number;
  /** Milliseconds to wait for the TCP connection and handshake. Default 2,000. */
  connectTimeoutMs?: number;
  /** Milliseconds to wait for a command's reply before it fails. Default 2,000. */
  commandTimeoutMs?: number;
}

/** Node.js socket and DNS error codes that mean the server cannot be reached. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** Messages of errors that ioredis 5 raises without a code when it has no usable connection. */
const UNAVAILABLE_MESSAGES = [
  /^Connection is closed\.$/,
  /^Stream isn't writeable/,
  /^Command timed out$/,
  /^Socket timeout/,
  /^connect ETIMEDOUT$/,
  /^Ready check failed/,
];

/** Error replies with which Redis rejects a command for now: loading, busy script, failover. */
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * Creates an ioredis client that reconnects forever with a bounded backoff: 50 ms after the
 * first failure, doubling up to `maxReconnectDelayMs`. Commands in flight when the connection
 * breaks are sent again after reconnecting, and fail when the first reconnection attempt fails.
 */
export function createRedisConnection(url: string, options: RedisConnectionOptions = {}): Redis {
  const maxReconnectDelayMs = validateMilliseconds(
    options.maxReconnectDelayMs ?? 1_000,
    "maxReconnectDelayMs",
  );
  const connectTimeoutMs = validateMilliseconds(
    options.connectTimeoutMs ?? 2_000,
    "connectTimeoutMs",
  );
  const commandTimeoutMs = validateMilliseconds(
    options.commandTimeoutMs ?? 2_000,
    "commandTimeoutMs",
  );

  return new Redis(url, {
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
    enableOfflineQueue: options.offlineQueue ?? false,
    retryStrategy: (attempt) => reconnectDelay(attempt, maxReconnectDelayMs),
    maxRetriesPerRequest: 1,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
  });
}

/**
 * Waits until `client` is connected and ready for commands. A client without an offline queue
 * rejects every command until then, so call this once after creating it. Rejects with
 * `SelloError("service_unavailable")` after `timeoutMs` (default 5,000) or when the client is
 * closed. The client keeps reconnecting after a timeout.
 */
export async function waitUntilReady(client: Redis, timeoutMs = 5_000): Promise<void> {
  if (client.status === "ready") {
    return;
  }

  await new Promise<void>((resolve, reject) => {
    const fail = (message: string) => {
      cleanup();
      reject(new SelloError("service_unavailable", { reason: "redis_unavailable", message }));
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onEnd = () => fail("The Redis connection was closed before it became ready.");
    const timer = setTimeout(
      () => fail(`Redis did not become ready within ${timeoutMs} ms. Check that it is running.`),
      timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("end", onEnd);
    };
    client.on("ready", onReady);
    client.on("end", onEnd);
  });
}

/** Milliseconds before reconnection attempt `attempt` (1 for the first): 50 ms doubling, capped. */
export function reconnectDelay(attempt: number, maxDelayMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 16);
  return Math.min(50 * 2 ** exponent, maxDelayMs);
}

/** Reports whether a Redis call failed because the server cannot be reached or used right now. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) {
    return false;
  }
  if (error.name === "MaxRetriesPerRequestError" || error.name === "AbortError") {
    return true;
  }
  if (error.name === "ReplyError") {
    return UNAVAILABLE_REPLIES.test(error.message);
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && UNREACHABLE_CODES.has(code)) {
    return true;
  }
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

/**
 * Returns `SelloError("service_unavailable")` with `reason` when `error` means Redis is
 * unavailable, and `error` itself otherwise.
 */
export function translateRedisError(error: unknown, reason: string): unknown {
  if (isRedisUnavailable(error)) {
    return new SelloError("service_unavailable", { reason, cause: error });
  }
  return error;
}

/**
 * Checks a key prefix: 1 to 64 letters, digits, `_`, `.` or `-`, so that it never contains the
 * `:` that separates the parts of a key.
 */
export function validatePrefix(prefix: unknown): string {
  if (typeof prefix !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) {
    throw new TypeError(
      `prefix must be 1 to 64 letters, digits, "_", "." or "-"; got ${JSON.stringify(prefix)}.`,
    );
  }
  return prefix;
}

function validateMilliseconds(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(
      `${name} must be a whole number of milliseconds, at least 1; got ${String(value)}.`,
    );
  }
  return value;
}
