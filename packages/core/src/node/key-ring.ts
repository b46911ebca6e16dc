import { KeyObject } from "node:crypto";
import { isAlgorithm } from "../algorithms.js";
import { SelloError } from "../errors.js";
import { type Jwks, toPublicJwks } from "./jwks.js";
import type { Clock, KeySource, SelloKey } from "./types.js";

/**
 * The rotation state of a key in a {@link KeyRing}: a "next" key is published but does not sign
 * yet, the "current" key signs, and a "retired" key only verifies until its `verifyUntil`.
 */
export type KeyState = "next" | "current" | "retired";

/** A key in a {@link KeyRing} with its rotation state. All times are milliseconds since the epoch. */
export interface KeyRingEntry {
  key: SelloKey;
  state: KeyState;
  /** When the key was added to the ring. */
  createdAt: number;
  /** When the key became the current signing key. */
  activatedAt?: number;
  /** When the key stopped signing. */
  retiredAt?: number;
  /** When a retired key stops verifying: it verifies while the clock is strictly before this time. */
  verifyUntil?: number;
}

const KEY_STATES: readonly string[] = ["next", "current", "retired"];

/**
 * The signing keys of an auth server with their rotation states. One key is "current" and signs
 * new tokens, and once a ring has a current key, {@link KeyRing.promote} keeps exactly one. At most one "next" key is published ahead of its promotion, so resource
 * servers that cache the JWKS already know it when it starts signing. Retired keys keep verifying
 * until their `verifyUntil`. Keys may use different algorithms, so an algorithm change is a
 * rotation like any other.
 */
export class KeyRing implements KeySource {
  readonly #clock: Clock;
  readonly #entries: KeyRingEntry[] = [];
  readonly #byKid = new Map<string, KeyRingEntry>();

  /**
   * Creates a ring from stored entries, which are copied. Throws a TypeError for an invalid
   * entry, a duplicate kid, more than one "current" or "next" key, a "current" or "next" key
   * without a private key, or a "retired" key without `verifyUntil`. A ring whose keys are all
   * "next" or "retired" is valid, but {@link getSigningKey} fails until a key is promoted.
   * `options.clock` defaults to `Date.now`.
   */
  constructor(entries: readonly KeyRingEntry[] = [], options: { clock?: Clock } = {}) {
    if (!Array.isArray(entries)) {
      throw new TypeError("KeyRing entries must be an array.");
    }
    if (options.clock !== undefined && typeof options.clock !== "function") {
      throw new TypeError(
        "KeyRing option clock must be a function that returns milliseconds since the epoch.",
      );
    }
    this.#clock = options.clock ?? Date.now;

    for (const entry of entries) {
      this.#insert(validateEntry(entry));
    }

    const currentCount = this.#entries.filter((entry) => entry.state === "current").length;
    if (currentCount > 1) {
      throw new TypeError(
        `A KeyRing has exactly one current key, but the entries contain ${currentCount}.`,
      );
    }
    const nextCount = this.#entries.filter((entry) => entry.state === "next").length;
    if (nextCount > 1) {
      throw new TypeError(
        `A KeyRing has at most one next key, but the entries contain ${nextCount}.`,
      );
    }
  }

  /**
   * Returns the current signing key. Throws SelloError("service_unavailable", reason
   * "no_signing_key") when the ring has no current key.
   */
  getSigningKey(): SelloKey {
    const current = this.#findState("current");
    if (current === undefined) {
      throw new SelloError("service_unavailable", { reason: "no_signing_key" });
    }
    return current.key;
  }

  /** Returns the next, current or still-verifying retired key whose kid is `kid`, or undefined. */
  getKey(kid: string): SelloKey | undefined {
    const entry = this.#byKid.get(kid);
    if (entry === undefined || !isVerifying(entry, this.#clock())) {
      return undefined;
    }
    return entry.key;
  }

  /** Returns the only verifying key when the ring has exactly one, else undefined. */
  getOnlyKey(): SelloKey | undefined {
    const verifying = this.#verifyingEntries();
    return verifying.length === 1 ? verifying[0]?.key : undefined;
  }

  /** Returns frozen copies of all entries, including expired retired ones, in insertion order. */
  entries(): readonly KeyRingEntry[] {
    return this.#entries.map((entry) => Object.freeze({ ...entry }));
  }

  /**
   * Builds the public JWKS of the verifying keys: the current key first, then the next key, then
   * retired keys before their `verifyUntil`. HS256 keys are never published.
   */
  publicJwks(): Jwks {
    const order: Record<KeyState, number> = { current: 0, next: 1, retired: 2 };
    const verifying = this.#verifyingEntries().sort((a, b) => order[a.state] - order[b.state]);
    return toPublicJwks(verifying.map((entry) => entry.key));
  }

  /**
   * Adds `key` as the next key: it is published in the JWKS and verifies, but does not sign until
   * {@link promote}. Throws a TypeError when the ring already has a next key, when the kid is
   * already in the ring, or when the key is verify-only.
   */
  addNext(key: SelloKey): void {
    const existing = this.#findState("next");
    if (existing !== undefined) {
      throw new TypeError(
        `The KeyRing already has a next key (${JSON.stringify(existing.key.kid)}); promote it before adding another.`,
      );
    }

    this.#insert(validateEntry({ key, state: "next", createdAt: this.#clock() }));
  }

  /**
   * Makes the next key current and retires the old current key, which keeps verifying for
   * `maxTokenLifetimeSeconds` (the longest lifetime of a token it signed) from now.
   * Throws a TypeError when there is no next key or the lifetime is not a finite number >= 0.
   */
  promote(maxTokenLifetimeSeconds: number): void {
    if (
      typeof maxTokenLifetimeSeconds !== "number" ||
      !Number.isFinite(maxTokenLifetimeSeconds) ||
      maxTokenLifetimeSeconds < 0
    ) {
      throw new TypeError(
        `maxTokenLifetimeSeconds must be a finite number of seconds >= 0; got ${String(maxTokenLifetimeSeconds)}.`,
      );
    }
    const next = this.#findState("next");
    if (next === undefined) {
      throw new TypeError("The KeyRing has no next key to promote; call addNext first.");
    }

    const now = this.#clock();
    const current = this.#findState("current");
    if (current !== undefined) {
      current.state = "retired";
      current.retiredAt = now;
      current.verifyUntil = now + maxTokenLifetimeSeconds * 1000;
    }

    next.state = "current";
    next.activatedAt = now;
  }

  /** Removes the retired keys whose `verifyUntil` is at or before now and returns their entries. */
  prune(): KeyRingEntry[] {
    const now = this.#clock();
    const removed: KeyRingEntry[] = [];

    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const entry = this.#entries[i] as KeyRingEntry;
      if (entry.state === "retired" && !isVerifying(entry, now)) {
        this.#entries.splice(i, 1);
        this.#byKid.delete(entry.key.kid);
        removed.unshift(Object.freeze({ ...entry }));
      }
    }
    return removed;
  }

  #insert(entry: KeyRingEntry): void {
    if (this.#byKid.has(entry.key.kid)) {
      throw new TypeError(
        `The KeyRing already contains a key with kid ${JSON.stringify(entry.key.kid)}.`,
      );
    }
    this.#entries.push(entry);
    this.#byKid.set(entry.key.kid, entry);
  }

  #findState(state: KeyState): KeyRingEntry | undefined {
    return this.#entries.find((entry) => entry.state === state);
  }

  #verifyingEntries(): KeyRingEntry[] {
    const now = this.#clock();
    return this.#entries.filter((entry) => isVerifying(entry, now));
  }
}

function isVerifying(entry: KeyRingEntry, now: number): boolean {
  return entry.state !== "retired" || (entry.verifyUntil ?? Number.NEGATIVE_INFINITY) > now;
}

/** Validates a stored or new entry and returns a private copy of it. */
function validateEntry(entry: KeyRingEntry): KeyRingEntry {
  if (typeof entry !== "object" || entry === null) {
    throw new TypeError("Each KeyRing entry must be an object with key, state and createdAt.");
  }

  const { key, state } = entry;
  if (
    typeof key !== "object" ||
    key === null ||
    typeof key.kid !== "string" ||
    key.kid.length === 0 ||
    !isAlgorithm(key.alg) ||
    !(key.verifyKey instanceof KeyObject)
  ) {
    throw new TypeError(
      "A KeyRing entry key must be a SelloKey with a kid, an alg and a verifyKey.",
    );
  }
  const kid = JSON.stringify(key.kid);

  if (!KEY_STATES.includes(state)) {
    throw new TypeError(
      `KeyRing entry ${kid} has state ${JSON.stringify(state)}; expected next, current or retired.`,
    );
  }
  if (state !== "retired" && key.signKey === undefined) {
    throw new TypeError(
      `KeyRing entry ${kid} is ${state} but verify-only; a ${state} key needs a private key.`,
    );
  }

  for (const field of ["createdAt", "activatedAt", "retiredAt", "verifyUntil"] as const) {
    const value = entry[field];
    if ((value !== undefined || field === "createdAt") && !Number.isFinite(value)) {
      throw new TypeError(
        `KeyRing entry ${kid} has ${field} ${String(value)}; expected milliseconds since the epoch.`,
      );
    }
  }
  if (state === "retired" && entry.verifyUntil === undefined) {
    throw new TypeError(`KeyRing entry ${kid} is retired but has no verifyUntil.`);
  }

  return { ...entry };
}
