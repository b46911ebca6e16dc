import type { KeyObject } from "node:crypto";
import type { Algorithm } from "../algorithms.js";

/** A clock returning the current time in milliseconds since the epoch, like `Date.now`. */
export type Clock = () => number;

/**
 * A key bound to exactly one algorithm. `kid` is the RFC 7638 thumbprint of its public JWK
 * (for HS256, of its `oct` JWK).
 */
export interface SelloKey {
  readonly kid: string;
  readonly alg: Algorithm;
  /** Verifies signatures: the public key, or the secret for HS256. */
  readonly verifyKey: KeyObject;
  /** Signs tokens: the private key, or the secret for HS256. Absent on verify-only keys. */
  readonly signKey?: KeyObject;
}

/** Looks up verification keys. A key ring, a static key set and a remote JWKS all implement it. */
export interface KeySource {
  /** Returns the key whose `kid` is exactly `kid`, or undefined. */
  getKey(kid: string): SelloKey | undefined;
  /** Returns the key when the source contains exactly one, else undefined. */
  getOnlyKey(): SelloKey | undefined;
}
