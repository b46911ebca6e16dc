import type { AccessTokenClaims, Algorithm, RevocationSource, SelloError } from "@sello/core";
import type { KeySource } from "@sello/core/node";
import { checkRealm } from "./challenge.js";
import {
  checkJwksUri,
  createJwksSource,
  DEFAULT_JWKS_COOLDOWN,
  DEFAULT_JWKS_MAX_AGE,
  DEFAULT_JWKS_TIMEOUT,
  type RefreshableKeySource,
  readSeconds,
} from "./jwks-source.js";
import { compilePublicPaths } from "./paths.js";
import { createRevocationCheck, DEFAULT_REVOCATION_MAX_STALENESS } from "./revocation.js";

/**
 * Settings for `createGuard`, all checked once at construction. Durations are seconds, or
 * strings with a unit such as "30s" or "10m".
 */
export interface GuardOptions {
  /** The expected `iss`: the auth server's public URL, compared exactly. Required. */
  issuer: string;
  /** The audiences this server accepts; a token passes when its `aud` names one. Required. */
  audience: string | readonly string[];
  /** The accepted signature algorithms, such as ["ES256"]. Required; there is no default. */
  algorithms: readonly Algorithm[];
  /**
   * The verification keys: a KeyRing, `createKeySet([...])`, or a source from
   * `createJwksSource`. Pass exactly one of `keys` and `jwksUri`.
   */
  keys?: KeySource;
  /**
   * The auth server's JWKS URL, fetched by a source that this guard creates. It must use https,
   * except on localhost, 127.0.0.0/8 and ::1. Pass exactly one of `keys` and `jwksUri`.
   */
  jwksUri?: string | URL;
  /** Time allowed for one JWKS fetch. Default 5 seconds, at most 60. */
  jwksTimeout?: number | string;
  /**
   * How long fetched keys are used before a refetch. Default 600 seconds. A shorter
   * `Cache-Control: max-age` from the JWKS server wins, but never below `jwksCooldown`.
   */
  jwksMaxAge?: number | string;
  /** The minimum time between two JWKS fetches. Default 30 seconds. */
  jwksCooldown?: number | string;
  /** The fetch function for the JWKS. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch;
  /**
   * Decides whether a verified token was revoked, on every request. Required: pass `false` to
   * turn revocation checks off, which means logout takes effect only when the token expires.
   */
  revocation: RevocationSource | false;
  /**
   * For a source with `lastSyncedAt()`: how far behind it may be before every request fails
   * with 503 `service_unavailable`. Default 30 seconds.
   */
  revocationMaxStaleness?: number | string;
  /** Allowed clock skew for `exp`, `nbf` and `iat`. Default 5 seconds, at most 60. */
  clockTolerance?: number | string;
  /**
   * Cache of verified tokens, keyed by the exact token. Default `{ maxEntries: 10000 }`;
   * `false` turns it off. Revocation is checked on every request even on a cache hit.
   */
  cache?: false | { maxEntries?: number };
  /** The role names the deployment defines. When set, token roles outside it grant nothing. */
  knownRoles?: readonly string[];
  /**
   * Paths that pass without a token, such as ["/health", "/auth/login", "/docs/*"]. Matched
   * strictly on the decoded path; see the guard documentation. Default none.
   */
  publicPaths?: readonly string[];
  /** The realm in `WWW-Authenticate` challenges. Default "api". */
  realm?: string;
  /** The current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /**
   * Called with the SelloError of every request the guard rejects, before the response is
   * sent, for logging. Its `reason` names the failed check, and `cause` contains the underlying
   * error of a 500 or 503. Errors thrown by the callback are ignored.
   */
  onError?: (error: SelloError) => void;
}

/** The options after validation, in the form the guard uses them. */
export interface ResolvedGuardOptions {
  issuer: string;
  audience: string | readonly string[];
  algorithms: readonly Algorithm[];
  keys: KeySource;
  refreshable: RefreshableKeySource | undefined;
  checkRevocation: ((claims: AccessTokenClaims) => void) | undefined;
  clockTolerance: number | string;
  cache: false | { maxEntries?: number };
  knownRoles: ReadonlySet<string> | undefined;
  isPublicPath: (target: string) => boolean;
  realm: string;
  clock: () => number;
  onError: ((error: SelloError) => void) | undefined;
}

/** Default for {@link GuardOptions.cache}: the number of verified tokens kept. */
export const DEFAULT_GUARD_CACHE_ENTRIES = 10_000;

const OPTION_NAMES = [
  "issuer",
  "audience",
  "algorithms",
  "keys",
  "jwksUri",
  "jwksTimeout",
  "jwksMaxAge",
  "jwksCooldown",
  "fetch",
  "revocation",
  "revocationMaxStaleness",
  "clockTolerance",
  "cache",
  "knownRoles",
  "publicPaths",
  "realm",
  "clock",
  "onError",
] as const;

const JWKS_ONLY_OPTIONS = ["jwksTimeout", "jwksMaxAge", "jwksCooldown", "fetch"] as const;

/**
 * Validates the guard options and builds the key source and revocation check. Throws a
 * TypeError naming the option and the fix. The issuer, audience, algorithm, clock tolerance
 * and cache rules are checked again in detail by core's `createVerifier`.
 */
export function resolveGuardOptions(options: GuardOptions): ResolvedGuardOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      "createGuard needs an options object with issuer, audience, algorithms, keys or jwksUri, and revocation.",
    );
  }
  rejectUnknownOptions(options);
  requirePresent(options);

  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function") {
    throw new TypeError(
      "clock must be a function returning milliseconds since the epoch, like Date.now.",
    );
  }

  const { keys, refreshable } = resolveKeys(options, clock);

  let checkRevocation: ResolvedGuardOptions["checkRevocation"];
  if (options.revocation === false) {
    if (options.revocationMaxStaleness !== undefined) {
      throw new TypeError(
        "revocationMaxStaleness has no effect with revocation: false. Remove it, or pass a revocation source.",
      );
    }
  } else {
    if (
      typeof options.revocation !== "object" ||
      options.revocation === null ||
      typeof options.revocation.isRevoked !== "function"
    ) {
      throw new TypeError(
        "revocation must be a source with isRevoked(claims), such as a RevocationList, or false to accept revoked tokens until they expire.",
      );
    }
    const maxStaleness = readSeconds(
      options.revocationMaxStaleness,
      DEFAULT_REVOCATION_MAX_STALENESS,
      "revocationMaxStaleness",
      86_400,
    );
    checkRevocation = createRevocationCheck(options.revocation, maxStaleness * 1000, clock);
  }

  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError("onError must be a function that receives a SelloError.");
  }

  return {
    issuer: options.issuer,
    audience: options.audience,
    algorithms: options.algorithms,
    keys,
    refreshable,
    checkRevocation,
    clockTolerance: options.clockTolerance ?? 5,
    cache: options.cache ?? { maxEntries: DEFAULT_GUARD_CACHE_ENTRIES },
    knownRoles: readKnownRoles(options.knownRoles),
    isPublicPath: compilePublicPaths(options.publicPaths ?? []),
    realm: checkRealm(options.realm ?? "api"),
    clock,
    onError: options.onError,
  };
}

function rejectUnknownOptions(options: object): void {
  const known: readonly string[] = OPTION_NAMES;
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new TypeError(
        `createGuard has no option ${JSON.stringify(name)}. The options are: ${OPTION_NAMES.join(", ")}.`,
      );
    }
  }
}

/** Rejects a missing required option before anything else, so that no default is assumed. */
function requirePresent(options: GuardOptions): void {
  if (options.issuer === undefined) {
    throw new TypeError(
      "createGuard needs issuer: the auth server's URL exactly as it appears in the tokens' iss claim. There is no default, because any issuer would then be accepted.",
    );
  }
  if (options.audience === undefined) {
    throw new TypeError(
      "createGuard needs audience: the name this API has in the tokens' aud claim, or a list of names. There is no default, because tokens meant for other services would then be accepted.",
    );
  }
  if (options.algorithms === undefined) {
    throw new TypeError(
      'createGuard needs algorithms: the signature algorithms the auth server uses, such as ["ES256"]. There is no default, because an open list invites algorithm confusion.',
    );
  }
  if (options.revocation === undefined) {
    throw new TypeError(
      "createGuard needs revocation: a source such as a RevocationList, or false to accept revoked tokens until they expire.",
    );
  }
}

function resolveKeys(
  options: GuardOptions,
  clock: () => number,
): { keys: KeySource; refreshable: RefreshableKeySource | undefined } {
  const hasKeys = options.keys !== undefined;
  const hasUri = options.jwksUri !== undefined;
  if (hasKeys && hasUri) {
    throw new TypeError(
      "createGuard takes either keys or jwksUri, not both. Use jwksUri when the auth server runs elsewhere, and keys when the keys are in this process.",
    );
  }
  if (!hasKeys && !hasUri) {
    throw new TypeError(
      "createGuard needs keys (a KeyRing, createKeySet([...]) or createJwksSource(...)) or jwksUri (the auth server's JWKS URL).",
    );
  }

  if (hasKeys) {
    for (const name of JWKS_ONLY_OPTIONS) {
      if (options[name] !== undefined) {
        throw new TypeError(
          `${name} applies only with jwksUri. Remove it, or configure the JWKS source you pass as keys.`,
        );
      }
    }
    const keys = options.keys as KeySource;
    const refresh = (keys as Partial<RefreshableKeySource> | null)?.refresh;
    return {
      keys,
      refreshable: typeof refresh === "function" ? (keys as RefreshableKeySource) : undefined,
    };
  }

  if (!Array.isArray(options.algorithms)) {
    throw new TypeError('algorithms must be a non-empty array such as ["ES256"].');
  }

  // The JWKS source checks these again, but its messages would name its own options.
  const uri = checkJwksUri(options.jwksUri, "jwksUri");
  const timeout = readSeconds(options.jwksTimeout, DEFAULT_JWKS_TIMEOUT, "jwksTimeout", 60);
  const maxAge = readSeconds(options.jwksMaxAge, DEFAULT_JWKS_MAX_AGE, "jwksMaxAge", 86_400);
  const cooldown = readSeconds(options.jwksCooldown, DEFAULT_JWKS_COOLDOWN, "jwksCooldown", 3600);
  if (cooldown > maxAge) {
    throw new TypeError(`jwksCooldown (${cooldown} s) must not exceed jwksMaxAge (${maxAge} s).`);
  }

  const source = createJwksSource({
    uri,
    algorithms: options.algorithms,
    timeout,
    maxAge,
    cooldown,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    clock,
  });
  return { keys: source, refreshable: source };
}

function readKnownRoles(value: readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!Array.isArray(value) || !value.every((role) => typeof role === "string" && role !== "")) {
    throw new TypeError(
      'knownRoles must be an array of non-empty role names, such as ["admin", "editor"].',
    );
  }
  return new Set(value);
}
