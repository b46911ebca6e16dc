import type { AccessTokenClaims } from "../claims.js";
import { parseDuration } from "../duration.js";
import { SelloError } from "../errors.js";
import { decodedLength, isCanonicalBase64url } from "./base64url.js";
import {
  AdmissionFilter,
  type CachedVerification,
  DEFAULT_CACHE_ENTRIES,
  VerificationCache,
} from "./cache.js";
import { freezeJsonValue, parseJsonObjectBytes } from "./json.js";
import {
  type CheckedJws,
  createJwsSignatureCheck,
  DEFAULT_MAX_TOKEN_LENGTH,
  type JwsHeader,
  type JwsVerifierOptions,
} from "./jws.js";
import type { Clock, KeySource } from "./types.js";

/** Settings for {@link createVerifier}, checked once when the verifier is created. */
export interface VerifierOptions extends JwsVerifierOptions {
  /** The expected `iss` claim, compared exactly. Required. */
  issuer: string;
  /** The audiences this server accepts. A token is accepted when its `aud` names any of them. */
  audience: string | readonly string[];
  /**
   * The allowed clock skew for `exp`, `nbf` and `iat`: seconds, or a duration string such as
   * "5s". Default 5 seconds, at most 60.
   */
  clockTolerance?: number | string;
  /** The current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: Clock;
  /**
   * A least-recently-used cache of successful verifications keyed by the exact token string, or
   * false for none. Default false. `maxEntries` defaults to 10,000. A token is stored on its
   * second successful verification within the last `maxEntries` to `2 × maxEntries`
   * verifications, so tokens seen once never displace tokens in use. A hit is accepted only while the token's time claims
   * still pass and the key source still returns the key that verified it. With a cache, claims
   * are deeply frozen, and every hit returns the same object.
   */
  cache?: false | { maxEntries?: number };
}

/**
 * Verifies an access token and returns its claims. Throws `SelloError` with code
 * `invalid_token` or `token_expired` and a `reason` when the token is rejected, and with code
 * `internal_error` (reason `clock_invalid`) when the clock returns no finite time. Errors thrown
 * by the key source propagate unchanged.
 */
export type Verifier = (token: string) => AccessTokenClaims;

/** Default for {@link VerifierOptions.clockTolerance}, in seconds. */
export const DEFAULT_CLOCK_TOLERANCE = 5;

/** The largest accepted {@link VerifierOptions.clockTolerance}, in seconds. */
export const MAX_CLOCK_TOLERANCE = 60;

/** Holds decoded payloads of tokens up to the default length cap. */
const payloadScratch = Buffer.alloc(Math.ceil((DEFAULT_MAX_TOKEN_LENGTH * 3) / 4));

interface ClaimSettings {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Seconds. */
  readonly tolerance: number;
  readonly clock: Clock;
  readonly keys: KeySource;
}

/**
 * Creates a verifier for Sello access tokens (RFC 9068 JWTs with `typ` "at+jwt").
 *
 * The verifier first checks the length cap and the compact shape. It then decodes the header
 * strictly and checks `alg` against the allowlist, rejects `crit`, `b64` and `zip`, and checks
 * `kid`. Next come the key lookup, the key's algorithm, the signature's encoding and shape, and
 * the signature itself. Only then does it decode the payload and check `typ`, `iss`, `aud`,
 * `exp`, `nbf`, `iat`, `sub`, `jti`, `client_id`, `sid`, `roles` and `permissions`, in that
 * order. Absent `roles` and `permissions` become empty arrays. Revocation is not checked here.
 *
 * Throws a TypeError naming the option when an option is invalid.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const checkSignature = createJwsSignatureCheck(options);
  const settings = resolveClaimSettings(options);
  const cacheEntries = resolveCacheEntries(options.cache);

  if (cacheEntries === undefined) {
    return (token) => readClaims(settings, checkSignature(token), token, readClock(settings.clock));
  }

  const cache = new VerificationCache(cacheEntries);
  const admission = new AdmissionFilter(cacheEntries);
  return (token) => verifyWithCache(settings, checkSignature, cache, admission, token);
}

function resolveClaimSettings(options: VerifierOptions): ClaimSettings {
  const { issuer, audience, clockTolerance = DEFAULT_CLOCK_TOLERANCE, clock = Date.now } = options;

  if (typeof issuer !== "string" || issuer.length === 0) {
    throw new TypeError(
      `issuer is required: pass the auth server's URL as a non-empty string; got ${typeof issuer === "string" ? "an empty string" : typeof issuer}.`,
    );
  }

  const audiences = typeof audience === "string" ? [audience] : audience;
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    !audiences.every((entry) => typeof entry === "string" && entry.length > 0)
  ) {
    throw new TypeError(
      "audience is required: pass this server's audience as a non-empty string or a non-empty array of non-empty strings.",
    );
  }

  const tolerance = parseDuration(clockTolerance, "clockTolerance");
  if (tolerance > MAX_CLOCK_TOLERANCE) {
    throw new TypeError(
      `clockTolerance must be at most ${MAX_CLOCK_TOLERANCE} seconds; got ${tolerance}. Fix the clocks instead of widening the tolerance.`,
    );
  }

  if (typeof clock !== "function") {
    throw new TypeError(
      "clock must be a function returning milliseconds since the epoch, like Date.now.",
    );
  }

  return { issuer, audiences: [...audiences], tolerance, clock, keys: options.keys };
}

function resolveCacheEntries(cache: VerifierOptions["cache"]): number | undefined {
  if (cache === undefined || cache === false) {
    return undefined;
  }
  if (typeof cache !== "object" || cache === null) {
    throw new TypeError(
      `cache must be false or an object such as { maxEntries: 10000 }; got ${String(cache)}.`,
    );
  }

  const { maxEntries = DEFAULT_CACHE_ENTRIES } = cache;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(
      `cache.maxEntries must be a positive integer; got ${String(maxEntries)}. Omit it for the default of ${DEFAULT_CACHE_ENTRIES}.`,
    );
  }
  return maxEntries;
}

function invalidToken(reason: string): SelloError {
  return new SelloError("invalid_token", { reason });
}

/** Reads the clock, failing closed: a clock that returns no finite time would accept any `exp`. */
function readClock(clock: Clock): number {
  const now = clock();
  if (typeof now !== "number" || !Number.isFinite(now)) {
    throw new SelloError("internal_error", { reason: "clock_invalid" });
  }
  return now;
}

function verifyWithCache(
  settings: ClaimSettings,
  checkSignature: (token: string) => CheckedJws,
  cache: VerificationCache,
  admission: AdmissionFilter,
  token: string,
): AccessTokenClaims {
  const nowMs = readClock(settings.clock);

  const cached = cache.get(token);
  if (cached !== undefined) {
    if (isCachedVerificationValid(settings, cached, nowMs)) {
      return cached.claims;
    }
    cache.delete(token);
  }

  const checked = checkSignature(token);
  const claims = readClaims(settings, checked, token, nowMs);
  // Claims are frozen even when not stored, so callers get frozen claims whether or not a hit served them.
  freezeJsonValue(claims);
  if (admission.admits(checked.signatureTag)) {
    cache.set(token, { claims, key: checked.key, kid: checked.header.kid });
  }
  return claims;
}

/** Applies the time and key rules of a fresh verification to a cached one. */
function isCachedVerificationValid(
  settings: ClaimSettings,
  cached: CachedVerification,
  nowMs: number,
): boolean {
  const now = toSeconds(nowMs);
  const { claims } = cached;
  if (
    isExpired(claims.exp, now, settings.tolerance) ||
    isNotYetValid(claims.nbf, now, settings.tolerance) ||
    isIssuedInFuture(claims.iat, now, settings.tolerance)
  ) {
    return false;
  }

  const current =
    cached.kid === undefined ? settings.keys.getOnlyKey() : settings.keys.getKey(cached.kid);
  return current === cached.key;
}

/**
 * Whole seconds since the epoch. Time claims are compared against whole seconds, as jose and
 * most JWT libraries do, so a verifier never accepts a token that they reject for timing.
 */
function toSeconds(nowMs: number): number {
  return Math.floor(nowMs / 1000);
}

/** RFC 7519 section 4.1.4: the token is expired on or after `exp`, here plus the tolerance. */
function isExpired(exp: number, now: number, tolerance: number): boolean {
  return exp <= now - tolerance;
}

function isNotYetValid(nbf: number | undefined, now: number, tolerance: number): boolean {
  return nbf !== undefined && nbf > now + tolerance;
}

function isIssuedInFuture(iat: number, now: number, tolerance: number): boolean {
  return iat > now + tolerance;
}

/** Parses the verified payload and checks every claim rule in order. */
function readClaims(
  settings: ClaimSettings,
  checked: CheckedJws,
  token: string,
  nowMs: number,
): AccessTokenClaims {
  const claims = parsePayload(token, checked.payloadStart, checked.payloadEnd);

  if (!isAccessTokenType(checked.header)) {
    throw invalidToken("typ_invalid");
  }
  if (claims.iss !== settings.issuer) {
    throw invalidToken("iss_mismatch");
  }
  checkAudience(claims.aud, settings.audiences);

  checkTimeClaims(claims, toSeconds(nowMs), settings.tolerance);
  checkIdentityClaims(claims);
  return claims as AccessTokenClaims;
}

function parsePayload(token: string, start: number, end: number): Record<string, unknown> {
  if (!isCanonicalBase64url(token, start, end)) {
    throw invalidToken("non_canonical_base64url");
  }

  // The claims share nothing with the decoded bytes, so a buffer reused across calls is safe.
  const size = decodedLength(end - start);
  const target = size <= payloadScratch.length ? payloadScratch : Buffer.allocUnsafe(size);
  const length = target.write(token.slice(start, end), 0, "base64url");

  const parsed = parseJsonObjectBytes(target, length);
  if (typeof parsed === "string") {
    throw invalidToken(parsed);
  }
  return parsed;
}

/** RFC 9068 section 2.1: `typ` must be "at+jwt", compared like a media type. */
function isAccessTokenType(header: JwsHeader): boolean {
  const typ = header.typ;
  if (typ === "at+jwt") {
    return true;
  }
  if (typeof typ !== "string") {
    return false;
  }
  const lower = typ.toLowerCase();
  return lower === "at+jwt" || lower === "application/at+jwt";
}

function checkAudience(aud: unknown, audiences: readonly string[]): void {
  if (typeof aud === "string") {
    if (!audiences.includes(aud)) {
      throw invalidToken("aud_mismatch");
    }
    return;
  }
  if (aud === undefined) {
    throw invalidToken("aud_mismatch");
  }
  if (!Array.isArray(aud)) {
    throw invalidToken("claim_invalid");
  }

  let overlaps = false;
  for (const entry of aud) {
    if (typeof entry !== "string") {
      throw invalidToken("claim_invalid");
    }
    if (!overlaps && audiences.includes(entry)) {
      overlaps = true;
    }
  }
  if (!overlaps) {
    throw invalidToken("aud_mismatch");
  }
}

function checkTimeClaims(claims: Record<string, unknown>, now: number, tolerance: number): void {
  const exp = claims.exp;
  if (!isFiniteNumber(exp)) {
    throw invalidToken("claim_invalid");
  }
  if (isExpired(exp, now, tolerance)) {
    throw new SelloError("token_expired", { reason: "expired" });
  }

  const nbf = claims.nbf;
  if (nbf !== undefined && !isFiniteNumber(nbf)) {
    throw invalidToken("claim_invalid");
  }
  if (isNotYetValid(nbf, now, tolerance)) {
    throw invalidToken("not_yet_valid");
  }

  const iat = claims.iat;
  if (!isFiniteNumber(iat)) {
    throw invalidToken("claim_invalid");
  }
  if (isIssuedInFuture(iat, now, tolerance)) {
    throw invalidToken("iat_in_future");
  }
}

/** Checks `sub`, `jti`, `client_id`, `sid`, `roles` and `permissions`, defaulting the lists. */
function checkIdentityClaims(claims: Record<string, unknown>): void {
  if (
    !isNonEmptyString(claims.sub) ||
    !isNonEmptyString(claims.jti) ||
    !isNonEmptyString(claims.client_id)
  ) {
    throw invalidToken("claim_invalid");
  }
  if (claims.sid !== undefined && typeof claims.sid !== "string") {
    throw invalidToken("claim_invalid");
  }

  if (claims.roles === undefined) {
    claims.roles = [];
  } else if (!isStringArray(claims.roles)) {
    throw invalidToken("claim_invalid");
  }
  if (claims.permissions === undefined) {
    claims.permissions = [];
  } else if (!isStringArray(claims.permissions)) {
    throw invalidToken("claim_invalid");
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) {
    return false;
  }
  for (const entry of value) {
    if (typeof entry !== "string") {
      return false;
    }
  }
  return true;
}
