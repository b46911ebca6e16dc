import { type Algorithm, ASYMMETRIC_ALGORITHMS } from "../algorithms.js";
import { SelloError } from "../errors.js";
import {
  exportPublicJwk,
  importKey,
  type JWK,
  PRIVATE_JWK_MEMBERS,
  PUBLIC_JWK_MEMBERS,
} from "./keys.js";
import type { SelloKey } from "./types.js";

/** A JSON Web Key Set (RFC 7517 section 5). */
export interface Jwks {
  keys: JWK[];
}

/** The longest `kid` that {@link importJwks} accepts, in characters. */
export const MAX_KID_LENGTH = 256;

/**
 * Builds the public JWKS for `keys`. Each JWK has `kid`, `alg`, `use: "sig"` and only public
 * members. HS256 keys are skipped, because a shared secret must never be published.
 */
export function toPublicJwks(keys: Iterable<SelloKey>): Jwks {
  const jwks: JWK[] = [];
  for (const key of keys) {
    if (key.alg === "HS256" || key.verifyKey.type !== "public") {
      continue;
    }
    jwks.push(exportPublicJwk(key));
  }
  return { keys: jwks };
}

/**
 * Imports the verification keys of a JWKS fetched from an auth server, keeping each `kid` as
 * published. Returns verify-only keys.
 *
 * Skips a key, without failing the whole set, when:
 * - `use` is set and is not "sig", or `key_ops` is set and lacks "verify";
 * - the key is `oct` or has private members;
 * - the `kid` is not a non-empty string of at most 256 characters, or repeats an earlier kid;
 * - `alg` is missing, unsupported or not in `options.algorithms` (default: ES256, EdDSA, RS256
 *   and PS256);
 * - the key type does not match `alg`, or node:crypto rejects the key.
 *
 * Throws SelloError("service_unavailable", reason "jwks_invalid") when `jwks` is not an object
 * with a `keys` array, because this runs at request time on a remote document.
 */
export function importJwks(
  jwks: unknown,
  options: { algorithms?: readonly Algorithm[] } = {},
): SelloKey[] {
  if (typeof jwks !== "object" || jwks === null || Array.isArray(jwks)) {
    throw new SelloError("service_unavailable", { reason: "jwks_invalid" });
  }
  const entries = (jwks as { keys?: unknown }).keys;
  if (!Array.isArray(entries)) {
    throw new SelloError("service_unavailable", { reason: "jwks_invalid" });
  }

  const allowed = new Set<string>(options.algorithms ?? ASYMMETRIC_ALGORITHMS);
  const seenKids = new Set<string>();
  const keys: SelloKey[] = [];

  for (const entry of entries) {
    const key = importJwksEntry(entry, allowed);
    if (key === undefined || seenKids.has(key.kid)) {
      continue;
    }
    seenKids.add(key.kid);
    keys.push(key);
  }
  return keys;
}

function importJwksEntry(entry: unknown, allowed: ReadonlySet<string>): SelloKey | undefined {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    return undefined;
  }
  const jwk = entry as Record<string, unknown>;

  const { kid, alg, use, kty } = jwk;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    return undefined;
  }
  if (use !== undefined && use !== "sig") {
    return undefined;
  }
  if (
    jwk.key_ops !== undefined &&
    !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify"))
  ) {
    return undefined;
  }
  if (kty === "oct" || PRIVATE_JWK_MEMBERS.some((member) => Object.hasOwn(jwk, member))) {
    return undefined;
  }
  if (!isAsymmetricAlgorithm(alg) || !allowed.has(alg)) {
    return undefined;
  }

  const members = typeof kty === "string" ? PUBLIC_JWK_MEMBERS[kty] : undefined;
  if (members === undefined) {
    return undefined;
  }
  const publicJwk: JWK = { kty: kty as string };
  for (const member of members) {
    publicJwk[member] = jwk[member];
  }

  let imported: SelloKey;
  try {
    imported = importKey(publicJwk, alg);
  } catch (error) {
    if (error instanceof TypeError) {
      return undefined;
    }
    throw error;
  }
  return Object.freeze({ kid, alg, verifyKey: imported.verifyKey });
}

function isAsymmetricAlgorithm(value: unknown): value is Exclude<Algorithm, "HS256"> {
  return typeof value === "string" && (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(value);
}
