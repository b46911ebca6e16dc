import type { AccessTokenClaims } from "../claims.js";
import type { SelloKey } from "./types.js";

/** Default for the verifier's `cache.maxEntries`. */
export const DEFAULT_CACHE_ENTRIES = 10_000;

/** A successful verification, kept so that the same token can skip the signature check. */
export interface CachedVerification {
  /** The verified claims, deeply frozen because every later hit returns the same object. */
  readonly claims: AccessTokenClaims;
  /** The key that verified the signature; a hit requires the key source to still return it. */
  readonly key: SelloKey;
  /** The token's `kid` header, or undefined when the key came from `getOnlyKey()`. */
  readonly kid: string | undefined;
}

/**
 * A bounded least-recently-used map from the exact token string to its verification. It only
 * stores: the verifier decides whether an entry is still valid, and stores successes only.
 */
export class VerificationCache {
  readonly maxEntries: number;
  // A Map iterates in insertion order, so re-inserting on each hit keeps the oldest entry first.
  readonly #entries = new Map<string, CachedVerification>();

  /** Creates a cache holding at most `maxEntries` tokens (a positive integer). */
  constructor(maxEntries: number = DEFAULT_CACHE_ENTRIES) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(
        `cache.maxEntries must be a positive integer; got ${String(maxEntries)}. Omit it for the default of ${DEFAULT_CACHE_ENTRIES}.`,
      );
    }
    this.maxEntries = maxEntries;
  }

  /** The number of tokens stored. */
  get size(): number {
    return this.#entries.size;
  }

  /** Returns the entry for `token` and marks it most recently used, or returns undefined. */
  get(token: string): CachedVerification | undefined {
    const entry = this.#entries.get(token);
    if (entry !== undefined) {
      this.#entries.delete(token);
      this.#entries.set(token, entry);
    }
    return entry;
  }

  /** Stores an entry, evicting the least recently used one when the cache is full. */
  set(token: string, entry: CachedVerification): void {
    this.#entries.delete(token);
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    this.#entries.set(token, entry);
  }

  /** Removes the entry for `token`, if any. */
  delete(token: string): void {
    this.#entries.delete(token);
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
  }
}
