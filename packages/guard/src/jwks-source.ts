import { type Algorithm, ASYMMETRIC_ALGORITHMS, parseDuration, SelloError } from "@sello/core";
import { importJwks, type KeySource, type SelloKey } from "@sello/core/node";

/** A key source that can refetch its keys when a token names a key it does not hold. */
export interface RefreshableKeySource extends KeySource {
  /**
   * Tries to obtain the key named `kid` (or, for undefined, a single key), refetching when the
   * source's rules allow it. Resolves true when a new verification attempt may succeed and false
   * when the key is known to be absent. Rejects with `SelloError("service_unavailable")` when
   * the keys cannot be fetched and no cached key can decide.
   */
  refresh(kid: string | undefined): Promise<boolean>;
}

/** Settings for {@link createJwksSource}. Durations are seconds or strings such as "30s". */
export interface JwksSourceOptions {
  /** The JWKS URL. It must use https, except on a loopback host (localhost, 127.0.0.0/8, ::1). */
  uri: string | URL;
  /** The algorithms whose keys are imported. Default ES256, EdDSA, RS256 and PS256. */
  algorithms?: readonly Algorithm[];
  /** Time allowed for one fetch, body included, before it is aborted. Default 5 seconds. */
  timeout?: number | string;
  /**
   * The maximum time fetched keys are used before the next request starts a refetch. Default
   * 600 seconds. A `Cache-Control: max-age` from the server shortens it, but never below the
   * cooldown.
   */
  maxAge?: number | string;
  /** The minimum time between two fetches. Default 30 seconds. */
  cooldown?: number | string;
  /** The fetch function. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/** Default for {@link JwksSourceOptions.timeout}, in seconds. */
export const DEFAULT_JWKS_TIMEOUT = 5;
/** Default for {@link JwksSourceOptions.maxAge}, in seconds. */
export const DEFAULT_JWKS_MAX_AGE = 600;
/** Default for {@link JwksSourceOptions.cooldown}, in seconds. */
export const DEFAULT_JWKS_COOLDOWN = 30;

/** The largest JWKS body read, in bytes. A set of ten RSA keys is about 5 KiB. */
const MAX_JWKS_BYTES = 1024 * 1024;

/** The maximum number of unknown kids remembered between fetches. */
const MAX_UNKNOWN_KIDS = 1024;

/**
 * Creates a key source that fetches a JWKS over HTTP, for resource servers that do not share the
 * auth server's key ring.
 *
 * - Nothing is fetched until the first token needs a key.
 * - Fetched keys are used for `maxAge`. After that, the next lookup starts a refetch in the
 *   background and the cached keys keep verifying until it completes. If it fails, they keep
 *   verifying, and the source retries once per cooldown.
 * - A token whose `kid` is unknown triggers at most one refetch per cooldown. Concurrent
 *   refetches share one request. Kids that a fetch did not find are remembered until that
 *   fetch's cooldown ends, at most 1,024 of them with the oldest dropped first. So a flood of
 *   unknown kids costs no extra fetches, never evicts a cached key, and never delays a new key
 *   past the cooldown.
 * - An unknown `kid` while the last fetch failed rejects with `service_unavailable`, because
 *   the key might be genuine.
 * - Redirects are not followed, and the `jku` and `x5u` headers of tokens are never fetched.
 *
 * Throws a TypeError naming the option when an option is invalid.
 */
export function createJwksSource(options: JwksSourceOptions): RemoteJwksSource {
  return new RemoteJwksSource(options);
}

/** The key source built by {@link createJwksSource}. */
export class RemoteJwksSource implements RefreshableKeySource {
  /** The JWKS URL. */
  readonly url: URL;
  readonly #algorithms: readonly Algorithm[];
  readonly #timeoutMs: number;
  readonly #maxAgeMs: number;
  readonly #cooldownMs: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #clock: () => number;

  #keys = new Map<string, SelloKey>();
  #onlyKey: SelloKey | undefined;
  #loaded = false;
  /** When the cached keys reach their maximum age, in ms since the epoch. */
  #expiresAt = 0;
  /** When the last fetch started, in ms since the epoch. */
  #lastFetchAt = Number.NEGATIVE_INFINITY;
  #lastFetchFailed = false;
  #inFlight: Promise<void> | undefined;
  /** Kids that the last fetches did not find, each with the time until which it is trusted. */
  readonly #unknownKids = new Map<string, number>();

  constructor(options: JwksSourceOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError("createJwksSource needs an options object with at least uri.");
    }

    this.url = checkJwksUri(options.uri, "uri");
    this.#algorithms = checkJwksAlgorithms(options.algorithms ?? ASYMMETRIC_ALGORITHMS);
    this.#timeoutMs = readSeconds(options.timeout, DEFAULT_JWKS_TIMEOUT, "timeout", 60) * 1000;
    this.#maxAgeMs = readSeconds(options.maxAge, DEFAULT_JWKS_MAX_AGE, "maxAge", 86_400) * 1000;
    this.#cooldownMs =
      readSeconds(options.cooldown, DEFAULT_JWKS_COOLDOWN, "cooldown", 3600) * 1000;
    if (this.#cooldownMs > this.#maxAgeMs) {
      throw new TypeError(
        `cooldown (${this.#cooldownMs / 1000} s) must not exceed maxAge (${this.#maxAgeMs / 1000} s).`,
      );
    }

    const fetchFunction = options.fetch ?? globalThis.fetch;
    if (typeof fetchFunction !== "function") {
      throw new TypeError("fetch must be a function compatible with globalThis.fetch.");
    }
    this.#fetch = fetchFunction;

    const clock = options.clock ?? Date.now;
    if (typeof clock !== "function") {
      throw new TypeError("clock must be a function returning milliseconds since the epoch.");
    }
    this.#clock = clock;
  }

  getKey(kid: string): SelloKey | undefined {
    this.#refreshIfExpired();
    return this.#keys.get(kid);
  }

  getOnlyKey(): SelloKey | undefined {
    this.#refreshIfExpired();
    return this.#onlyKey;
  }

  async refresh(kid: string | undefined): Promise<boolean> {
    if (this.#holds(kid)) {
      return true;
    }
    if (this.#inFlight !== undefined) {
      await this.#inFlight;
      return this.#settle(kid);
    }

    const now = this.#clock();
    if (kid !== undefined && (this.#unknownKids.get(kid) ?? Number.NEGATIVE_INFINITY) > now) {
      return false;
    }
    if (now < this.#lastFetchAt + this.#cooldownMs) {
      if (this.#lastFetchFailed || !this.#loaded) {
        throw new SelloError("service_unavailable", { reason: "jwks_unavailable" });
      }
      return false;
    }

    await this.#startFetch();
    return this.#settle(kid);
  }

  /**
   * Fetches the keys now unless a fetch is in flight, ignoring the cooldown. Use it at start-up
   * to fail fast when the JWKS is unreachable. Rejects with `service_unavailable` on failure.
   */
  load(): Promise<void> {
    return this.#inFlight ?? this.#startFetch();
  }

  /** The number of unknown kids remembered, at most 1,024. For metrics and tests. */
  get unknownKidCount(): number {
    return this.#unknownKids.size;
  }

  /** Reports whether the fetch that just completed found the key, remembering it if not. */
  #settle(kid: string | undefined): boolean {
    if (this.#holds(kid)) {
      return true;
    }
    if (kid !== undefined) {
      this.#rememberUnknownKid(kid);
    }
    return false;
  }

  #holds(kid: string | undefined): boolean {
    return kid === undefined ? this.#onlyKey !== undefined : this.#keys.has(kid);
  }

  #refreshIfExpired(): void {
    if (!this.#loaded || this.#inFlight !== undefined) {
      return;
    }
    const now = this.#clock();
    if (now < this.#expiresAt || now < this.#lastFetchAt + this.#cooldownMs) {
      return;
    }
    // The cached keys keep verifying meanwhile, and a failure is recorded in the source's state.
    this.#startFetch().catch(() => undefined);
  }

  #startFetch(): Promise<void> {
    const fetching = this.#fetchKeys().finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight = fetching;
    return fetching;
  }

  async #fetchKeys(): Promise<void> {
    const startedAt = this.#clock();
    this.#lastFetchAt = startedAt;
    try {
      const { keys, maxAgeMs } = await this.#download();
      this.#install(keys, startedAt, maxAgeMs);
      this.#lastFetchFailed = false;
    } catch (error) {
      this.#lastFetchFailed = true;
      throw error;
    }
  }

  async #download(): Promise<{ keys: SelloKey[]; maxAgeMs: number }> {
    let response: Response;
    try {
      response = await this.#fetch(this.url.href, {
        headers: { accept: "application/jwk-set+json, application/json" },
        redirect: "error",
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw unavailable(isTimeout(error) ? "jwks_timeout" : "jwks_fetch_failed", error);
    }

    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw unavailable("jwks_http_status");
    }

    const text = await readLimitedText(response);
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw unavailable("jwks_invalid", error);
    }

    const keys = importJwks(document, { algorithms: this.#algorithms });
    return { keys, maxAgeMs: this.#readMaxAge(response.headers.get("cache-control")) };
  }

  /** Replaces the cached keys, keeping the old object of an unchanged key for the verify cache. */
  #install(keys: readonly SelloKey[], fetchedAt: number, maxAgeMs: number): void {
    const next = new Map<string, SelloKey>();
    for (const key of keys) {
      const previous = this.#keys.get(key.kid);
      const unchanged =
        previous !== undefined &&
        previous.alg === key.alg &&
        previous.verifyKey.equals(key.verifyKey);
      next.set(key.kid, unchanged ? previous : key);
    }

    this.#keys = next;
    this.#onlyKey = next.size === 1 ? next.values().next().value : undefined;
    this.#loaded = true;
    this.#expiresAt = fetchedAt + maxAgeMs;
    for (const kid of next.keys()) {
      this.#unknownKids.delete(kid);
    }
  }

  /** The cache lifetime: `max-age` clamped to [cooldown, maxAge], or maxAge without one. */
  #readMaxAge(cacheControl: string | null): number {
    if (cacheControl === null) {
      return this.#maxAgeMs;
    }
    if (/(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)/i.test(cacheControl)) {
      return this.#cooldownMs;
    }
    const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl);
    if (match === null) {
      return this.#maxAgeMs;
    }
    const seconds = Number(match[1]);
    return Math.min(this.#maxAgeMs, Math.max(this.#cooldownMs, seconds * 1000));
  }

  #rememberUnknownKid(kid: string): void {
    const now = this.#clock();
    for (const [known, until] of this.#unknownKids) {
      if (until > now && this.#unknownKids.size < MAX_UNKNOWN_KIDS) {
        break;
      }
      this.#unknownKids.delete(known);
    }
    this.#unknownKids.delete(kid);
    this.#unknownKids.set(kid, this.#lastFetchAt + this.#cooldownMs);
  }
}

/**
 * Validates a JWKS URL and returns it parsed. It must be an absolute https URL without
 * credentials or a fragment. Plain http is allowed only for loopback hosts (localhost,
 * 127.0.0.0/8 and ::1), for local development and tests. Throws a TypeError naming `name`.
 */
export function checkJwksUri(value: unknown, name: string): URL {
  const fix = `Pass the auth server's JWKS URL, such as "https://auth.example.com/.well-known/jwks.json".`;
  if (typeof value !== "string" && !(value instanceof URL)) {
    throw new TypeError(`${name} must be a URL string or a URL object. ${fix}`);
  }

  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new TypeError(`${name} is not a valid absolute URL. ${fix}`);
  }

  if (url.username !== "" || url.password !== "") {
    throw new TypeError(`${name} must not contain credentials. ${fix}`);
  }
  if (url.hash !== "") {
    throw new TypeError(`${name} must not contain a fragment. ${fix}`);
  }
  if (url.protocol === "https:") {
    return url;
  }
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) {
    return url;
  }
  if (url.protocol === "http:") {
    throw new TypeError(
      `${name} must use https; plain http is allowed only for localhost, 127.0.0.0/8 and ::1, because keys fetched in clear text could be replaced. ${fix}`,
    );
  }
  throw new TypeError(`${name} must be an https URL; got the scheme ${url.protocol}. ${fix}`);
}

function isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "[::1]") {
    return true;
  }
  // The URL parser has already turned every IPv4 spelling into dotted decimal.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function checkJwksAlgorithms(algorithms: readonly Algorithm[]): readonly Algorithm[] {
  if (!Array.isArray(algorithms)) {
    throw new TypeError(
      `algorithms must be an array drawn from ${ASYMMETRIC_ALGORITHMS.join(", ")}.`,
    );
  }
  const asymmetric = algorithms.filter((algorithm) =>
    (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(algorithm),
  );
  if (asymmetric.length === 0) {
    throw new TypeError(
      `A JWKS publishes only public keys, so algorithms must include one of ${ASYMMETRIC_ALGORITHMS.join(", ")}; HS256 needs a shared key passed as keys.`,
    );
  }
  return asymmetric;
}

/**
 * Reads an optional duration option in seconds. Throws a TypeError unless it is greater than 0
 * and at most `maxSeconds`.
 */
export function readSeconds(
  value: number | string | undefined,
  fallback: number,
  name: string,
  maxSeconds: number,
): number {
  if (value === undefined) {
    return fallback;
  }
  const seconds = parseDuration(value, name);
  if (seconds <= 0 || seconds > maxSeconds) {
    throw new TypeError(
      `${name} must be more than 0 and at most ${maxSeconds} seconds; got ${JSON.stringify(value)}. Omit it for the default of ${fallback} seconds.`,
    );
  }
  return seconds;
}

async function readLimitedText(response: Response): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > MAX_JWKS_BYTES) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable("jwks_too_large");
  }
  if (response.body === null) {
    return "";
  }

  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      if (total > MAX_JWKS_BYTES) {
        // Leaving the loop by throwing cancels the stream.
        throw unavailable("jwks_too_large");
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof SelloError) {
      throw error;
    }
    throw unavailable(isTimeout(error) ? "jwks_timeout" : "jwks_fetch_failed", error);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}

function unavailable(reason: string, cause?: unknown): SelloError {
  return new SelloError(
    "service_unavailable",
    cause === undefined ? { reason } : { reason, cause },
  );
}
