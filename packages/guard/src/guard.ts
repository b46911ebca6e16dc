import { type AccessTokenClaims, SelloError } from "@sello/core";
import { createVerifier, type KeySource, type Verifier } from "@sello/core/node";
import { checkToken68, readBearerToken } from "./bearer.js";
import { type ErrorResponse, toErrorResponse } from "./challenge.js";
import { attachGuardFlow } from "./flow.js";
import type { RefreshableKeySource } from "./jwks-source.js";
import { type GuardOptions, resolveGuardOptions } from "./options.js";
import {
  type CheckedRequirement,
  checkRequirement,
  isSatisfied,
  type Requirement,
} from "./requirements.js";

export type { GuardOptions } from "./options.js";

/** One request as an adapter passes it to {@link Guard.handle}. */
export interface GuardRequest {
  /**
   * The request target as received (path and optional query), for the public-path check. Omit
   * it to authenticate regardless of the path.
   */
  target?: string;
  /** Every `Authorization` header value of the request, in order. */
  authorization: readonly string[];
  /** Claims that an earlier step verified for this same request; they are not verified again. */
  claims?: AccessTokenClaims;
  /** The roles and permissions the route needs beyond a valid token. Such a route is never public. */
  requirement?: Requirement;
}

/**
 * The outcome of {@link Guard.handle}: the claims (null on a public path, where nothing was
 * checked), or the error with its ready HTTP response.
 */
export type GuardResult =
  | { ok: true; claims: AccessTokenClaims | null }
  | { ok: false; error: SelloError; response: ErrorResponse };

/** A configured guard, shared by every adapter and route of an application. */
export interface Guard {
  /** The realm in `WWW-Authenticate` challenges. */
  readonly realm: string;
  /** The key source: the `keys` option, or the JWKS source built from `jwksUri`. */
  readonly keys: KeySource;
  /**
   * Authenticates a request from its `Authorization` header values (all of them, so a repeated
   * header is detected). Resolves with the verified claims or rejects with a SelloError.
   */
  authenticate(authorization: readonly string[]): Promise<AccessTokenClaims>;
  /**
   * Verifies a bare access token: signature, claims and revocation. Refetches the keys once
   * when the token names an unknown key and the key source can refresh.
   */
  verify(token: string): Promise<AccessTokenClaims>;
  /** Throws `insufficient_permissions` unless the claims satisfy the requirement. */
  authorize(claims: AccessTokenClaims, requirement: Requirement): void;
  /**
   * Validates a requirement against this guard's `knownRoles` and returns a frozen copy.
   * Adapters call it when a route is defined, so a bad requirement fails at start-up.
   */
  checkRequirement(requirement: Requirement): CheckedRequirement;
  /** Reports whether a request target matches one of the `publicPaths`. */
  isPublicPath(target: string): boolean;
  /**
   * Runs the whole check for one request: public path, bearer token, verification, revocation
   * and requirement. Never rejects; every failure is returned with its HTTP response.
   */
  handle(request: GuardRequest): Promise<GuardResult>;
  /** Builds the HTTP response for an error and passes the error to `onError`. */
  toErrorResponse(error: unknown): ErrorResponse;
}

/**
 * Creates a guard from the options, validating every option once. Throws a TypeError that
 * names the option and the fix; there is no permissive default for issuer, audience,
 * algorithms, keys or revocation.
 */
export function createGuard(options: GuardOptions): Guard {
  const resolved = resolveGuardOptions(options);
  const { refreshable, checkRevocation, knownRoles, realm, onError } = resolved;

  const verifyToken: Verifier = createVerifier({
    issuer: resolved.issuer,
    audience: resolved.audience,
    algorithms: resolved.algorithms,
    keys: resolved.keys,
    clockTolerance: resolved.clockTolerance,
    cache: resolved.cache,
    clock: resolved.clock,
  });

  /**
   * Verifies a token and checks revocation. Returns the claims at once, or a promise only when
   * the token names an unknown key and the key source may have it after a refetch. A token read
   * from a header (`fromHeader`) that fails verification is checked for the token68 form first,
   * so a malformed header gets `invalid_request` and never starts a refetch.
   */
  function verifyNow(
    token: string,
    fromHeader: boolean,
  ): AccessTokenClaims | Promise<AccessTokenClaims> {
    let claims: AccessTokenClaims;
    try {
      claims = verifyToken(token);
    } catch (error) {
      if (fromHeader) {
        checkToken68(token);
      }
      if (refreshable === undefined || !isUnknownKey(error)) {
        throw error;
      }
      return verifyAfterRefresh(refreshable, token, error);
    }
    checkRevocation?.(claims);
    return claims;
  }

  async function verifyAfterRefresh(
    source: RefreshableKeySource,
    token: string,
    error: unknown,
  ): Promise<AccessTokenClaims> {
    const mayHaveKey = await source.refresh(readKid(token));
    if (!mayHaveKey) {
      throw error;
    }
    const claims = verifyToken(token);
    checkRevocation?.(claims);
    return claims;
  }

  async function verify(token: string): Promise<AccessTokenClaims> {
    return verifyNow(token, false);
  }

  async function authenticate(authorization: readonly string[]): Promise<AccessTokenClaims> {
    return verifyNow(readBearerToken(authorization), true);
  }

  function authorize(claims: AccessTokenClaims, requirement: Requirement): void {
    const checked = checkRequirement(requirement, knownRoles);
    if (!isSatisfied(claims, checked, knownRoles)) {
      throw new SelloError("insufficient_permissions");
    }
  }

  function respond(error: unknown): { error: SelloError; response: ErrorResponse } {
    const sello =
      error instanceof SelloError ? error : new SelloError("internal_error", { cause: error });
    if (onError !== undefined) {
      try {
        onError(sello);
      } catch {
        // A failing logger must not change the response.
      }
    }
    return { error: sello, response: toErrorResponse(sello, realm) };
  }

  function fail(error: unknown): GuardResult {
    return { ok: false, ...respond(error) };
  }

  function accept(
    claims: AccessTokenClaims,
    requirement: CheckedRequirement | undefined,
  ): GuardResult {
    if (requirement !== undefined) {
      authorize(claims, requirement);
    }
    return { ok: true, claims };
  }

  /**
   * Runs the whole check for one request, synchronously unless a key refetch is needed. Every
   * adapter and `handle` run this one flow. Errors become a failed result, so it does not throw.
   */
  function handleNow(request: GuardRequest): GuardResult | Promise<GuardResult> {
    try {
      const requirement =
        request.requirement === undefined
          ? undefined
          : checkRequirement(request.requirement, knownRoles);

      if (
        request.claims === undefined &&
        requirement === undefined &&
        request.target !== undefined &&
        resolved.isPublicPath(request.target)
      ) {
        return { ok: true, claims: null };
      }

      if (request.claims !== undefined) {
        return accept(request.claims, requirement);
      }
      const claims = verifyNow(readBearerToken(request.authorization), true);
      if (claims instanceof Promise) {
        return claims.then((verified) => {
          try {
            return accept(verified, requirement);
          } catch (error) {
            return fail(error);
          }
        }, fail);
      }
      return accept(claims, requirement);
    } catch (error) {
      return fail(error);
    }
  }

  function handle(request: GuardRequest): Promise<GuardResult> {
    const outcome = handleNow(request);
    return outcome instanceof Promise ? outcome : Promise.resolve(outcome);
  }

  const guard: Guard = {
    realm,
    keys: resolved.keys,
    authenticate,
    verify,
    authorize,
    checkRequirement: (requirement) => checkRequirement(requirement, knownRoles),
    isPublicPath: resolved.isPublicPath,
    handle,
    toErrorResponse: (error) => respond(error).response,
  };
  attachGuardFlow(guard, handleNow);
  return guard;
}

function isUnknownKey(error: unknown): boolean {
  return (
    error instanceof SelloError &&
    (error.reason === "unknown_kid" || error.reason === "kid_required")
  );
}

/**
 * Reads the `kid` of a token whose header the verifier has already accepted, for a key refetch.
 * The token is still unverified, so the value only selects a key.
 */
function readKid(token: string): string | undefined {
  const dot = token.indexOf(".");
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), "base64url").toString("utf8")) as {
      kid?: unknown;
    };
    return typeof header.kid === "string" ? header.kid : undefined;
  } catch {
    return undefined;
  }
}
