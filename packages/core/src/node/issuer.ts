import { randomFillSync } from "node:crypto";
import { ACCESS_TOKEN_TYPE, type AccessTokenClaims } from "../claims.js";
import { parseDuration } from "../duration.js";
import { createJwsSigner, encodeJson, type JwsSigner } from "./sign.js";
import type { Clock, SelloKey } from "./types.js";

/** The default access-token lifetime, in seconds. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 600;

/** The maximum access-token lifetime the issuer accepts, in seconds (one day). */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 86_400;

/** Options of {@link createAccessTokenIssuer}. */
export interface IssuerOptions {
  /** The `iss` claim: the auth server's public URL. Required. */
  issuer: string;
  /** The `aud` claim: one resource server or a list of them. Required. */
  audience: string | readonly string[];
  /** The source of the signing key, asked on every call so that key rotation takes effect at once. A KeyRing fits. */
  keys: { getSigningKey(): SelloKey };
  /** The token lifetime in seconds, or a duration string such as "10m". Default 600; must be whole seconds in 1..86400. */
  accessTokenTtl?: number | string;
  /** The `client_id` claim for requests that give none. */
  clientId?: string;
  /** The time source in milliseconds since the epoch. Default `Date.now`. */
  clock?: Clock;
}

/** The subject and authorisation data of one access token. */
export interface IssueRequest {
  /** The `sub` claim: the user id. */
  subject: string;
  /** The `client_id` claim. Defaults to {@link IssuerOptions.clientId}. */
  clientId?: string;
  /** The `sid` claim, omitted when not given. */
  sessionId?: string;
  /** The `roles` claim. Default empty. */
  roles?: readonly string[];
  /** The `permissions` claim. Default empty. */
  permissions?: readonly string[];
}

/** A signed access token with its claims. */
export interface IssuedAccessToken {
  /** The compact JWS. It is a bearer credential: never log it. */
  token: string;
  claims: AccessTokenClaims;
  /** The lifetime in seconds, for the OAuth `expires_in` response field. */
  expiresIn: number;
}

/**
 * Creates a function that issues signed access tokens in the RFC 9068 JWT profile. The header is
 * `{alg, typ: "at+jwt", kid}`. The claims are `iss`, `sub`, `aud`, `exp`, `iat` (whole seconds
 * from the clock), `jti` (128 random bits, base64url), `client_id`, `roles`, `permissions`, and
 * `sid` when the request gives a session id. Throws a TypeError for invalid options, and the
 * returned function throws a TypeError for an invalid request or one without a client id.
 * Errors from `keys.getSigningKey()` propagate unchanged.
 */
export function createAccessTokenIssuer(
  options: IssuerOptions,
): (request: IssueRequest) => IssuedAccessToken {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      "createAccessTokenIssuer needs an options object with issuer, audience and keys.",
    );
  }
  const issuer = requireNonEmptyString(options.issuer, "issuer");
  const audience = parseAudience(options.audience);
  const defaultClientId =
    options.clientId === undefined
      ? undefined
      : requireNonEmptyString(options.clientId, "clientId");
  const ttl = parseTtl(options.accessTokenTtl);

  const keys = options.keys;
  if (typeof keys !== "object" || keys === null || typeof keys.getSigningKey !== "function") {
    throw new TypeError("keys must be an object with a getSigningKey() method, such as a KeyRing.");
  }
  if (options.clock !== undefined && typeof options.clock !== "function") {
    throw new TypeError("clock must be a function that returns milliseconds since the epoch.");
  }
  const clock = options.clock ?? Date.now;

  // The encoded header and signer depend only on the key, so they are rebuilt on rotation only.
  let cachedKey: SelloKey | undefined;
  let headerPrefix = "";
  let signer: JwsSigner | undefined;

  return function issueAccessToken(request: IssueRequest): IssuedAccessToken {
    if (typeof request !== "object" || request === null) {
      throw new TypeError("The access-token request must be an object with a subject.");
    }
    const subject = requireNonEmptyString(request.subject, "subject");
    const clientId =
      request.clientId === undefined
        ? defaultClientId
        : requireNonEmptyString(request.clientId, "clientId");
    if (clientId === undefined) {
      throw new TypeError(
        "clientId is missing: pass it in the request or set the issuer option clientId.",
      );
    }
    const sessionId =
      request.sessionId === undefined
        ? undefined
        : requireNonEmptyString(request.sessionId, "sessionId");
    const roles = copyStringArray(request.roles, "roles");
    const permissions = copyStringArray(request.permissions, "permissions");

    const key = keys.getSigningKey();
    if (key !== cachedKey || signer === undefined) {
      signer = createJwsSigner(key);
      headerPrefix = `${encodeJson({ alg: key.alg, typ: ACCESS_TOKEN_TYPE, kid: key.kid })}.`;
      cachedKey = key;
    }

    const iat = Math.floor(clock() / 1000);
    if (!Number.isFinite(iat)) {
      throw new TypeError(
        "The issuer clock must return a finite number of milliseconds since the epoch.",
      );
    }

    const claims: AccessTokenClaims = {
      iss: issuer,
      sub: subject,
      aud: typeof audience === "string" ? audience : [...audience],
      exp: iat + ttl,
      iat,
      jti: createTokenId(),
      client_id: clientId,
      roles,
      permissions,
    };
    if (sessionId !== undefined) {
      claims.sid = sessionId;
    }

    const signingInput = headerPrefix + encodeJson(claims);
    return { token: `${signingInput}.${signer(signingInput)}`, claims, expiresIn: ttl };
  };
}

function parseTtl(value: number | string | undefined): number {
  const seconds = parseDuration(value ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS, "accessTokenTtl");
  if (seconds <= 0 || seconds > MAX_ACCESS_TOKEN_TTL_SECONDS || !Number.isInteger(seconds)) {
    throw new TypeError(
      `accessTokenTtl must be whole seconds from 1 to ${MAX_ACCESS_TOKEN_TTL_SECONDS} (one day); got ${JSON.stringify(value)}, which is ${seconds} seconds.`,
    );
  }
  return seconds;
}

function parseAudience(value: string | readonly string[]): string | readonly string[] {
  if (typeof value === "string") {
    return requireNonEmptyString(value, "audience");
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      "audience must be a non-empty string or a non-empty array of non-empty strings.",
    );
  }
  return Object.freeze(value.map((item: unknown) => requireNonEmptyString(item, "audience")));
}

function requireNonEmptyString(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(
      `${name} must be a non-empty string; got ${value === "" ? "an empty string" : typeof value}.`,
    );
  }
  return value;
}

function copyStringArray(value: readonly string[] | undefined, name: string): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value)) {
    throw new TypeError(`${name} must be an array of strings; got ${typeof value}.`);
  }

  const copy: string[] = [];
  for (const item of value) {
    if (typeof item !== "string") {
      throw new TypeError(`${name} must contain only strings; got an item of type ${typeof item}.`);
    }
    copy.push(item);
  }
  return copy;
}

// Token ids are drawn from a buffer that is refilled from the CSPRNG 256 ids at a time. A
// randomBytes(16) call per token would cost about as much as the HS256 signature itself (both
// about 2 µs, measured with Node 20.20 on a 2-core machine).
const TOKEN_ID_BYTES = 16;
const tokenIdPool = Buffer.allocUnsafe(TOKEN_ID_BYTES * 256);
let tokenIdOffset = tokenIdPool.length;

function createTokenId(): string {
  if (tokenIdOffset === tokenIdPool.length) {
    randomFillSync(tokenIdPool);
    tokenIdOffset = 0;
  }
  const id = tokenIdPool.toString("base64url", tokenIdOffset, tokenIdOffset + TOKEN_ID_BYTES);
  tokenIdOffset += TOKEN_ID_BYTES;
  return id;
}
