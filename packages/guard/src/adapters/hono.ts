import type { AccessTokenClaims } from "@sello/core";
import type { Context, MiddlewareHandler, Next } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { readAuthorization } from "../bearer.js";
import { guardFlow } from "../flow.js";
import type { Guard, GuardResult } from "../guard.js";
import type { Requirement } from "../requirements.js";

/** The context variables {@link sello} sets: `auth` contains the claims, or null on a public path. */
export type SelloVariables = { auth: AccessTokenClaims | null };

/**
 * The Hono environment of an app or route behind {@link sello}: `new Hono<SelloEnv>()` types
 * `c.get("auth")`. Combine it with your own bindings and variables as needed.
 */
export type SelloEnv = { Variables: SelloVariables };

/** The environment after a requirement middleware, where `auth` is never null. */
export type SelloAuthenticatedEnv = { Variables: { auth: AccessTokenClaims } };

/** The return value of a middleware: a promise of the response, or of nothing to go on. */
type MiddlewareResult = ReturnType<MiddlewareHandler>;

/** Claims verified per request, keyed by the Fetch API request, which every middleware shares. */
const verifiedClaims = new WeakMap<Request, AccessTokenClaims | null>();

/**
 * Creates Hono middleware that authenticates every request it receives and sets `c.get("auth")`.
 * Mount it in front of the routes to protect, as in `app.use("/api/*", sello(guard))`. Requests
 * to the guard's `publicPaths` pass with `auth` null. With a `requirement`, the middleware also
 * checks roles and permissions, and the route is never public.
 *
 * On `@hono/node-server`, every `Authorization` header is read from the raw Node request. Other
 * runtimes join repeated headers into one value, which is then rejected as `invalid_request`. The requirement is validated here and throws a TypeError
 * when invalid.
 */
export function sello(guard: Guard): MiddlewareHandler<SelloEnv>;
export function sello(
  guard: Guard,
  requirement: Requirement,
): MiddlewareHandler<SelloAuthenticatedEnv>;
export function sello(
  guard: Guard,
  requirement?: Requirement,
): MiddlewareHandler<SelloEnv> | MiddlewareHandler<SelloAuthenticatedEnv> {
  const flow = guardFlow(guard);
  const checked = requirement === undefined ? undefined : guard.checkRequirement(requirement);

  const settle = (c: Context, next: Next, result: GuardResult): MiddlewareResult => {
    if (!result.ok) {
      const { status, headers, body } = result.response;
      return Promise.resolve(c.json(body, status as ContentfulStatusCode, headers));
    }
    verifiedClaims.set(c.req.raw, result.claims);
    c.set("auth", result.claims);
    return next();
  };

  // Not an async function, so that a request that needs no key refetch adds no promise of its own.
  return (c: Context, next: Next) => {
    const previous = verifiedClaims.get(c.req.raw);
    const outcome = flow({
      target: readTarget(c.req.url),
      authorization: readAuthorizationValues(c),
      claims: previous ?? undefined,
      requirement: checked,
    });
    return outcome instanceof Promise
      ? outcome.then((result) => settle(c, next, result))
      : settle(c, next, outcome);
  };
}

/** Middleware that requires every one of the roles. Throws a TypeError for an empty list. */
export function requireRoles(
  guard: Guard,
  ...roles: string[]
): MiddlewareHandler<SelloAuthenticatedEnv> {
  return sello(guard, { roles, mode: "all" });
}

/** Middleware that requires at least one of the roles. Throws a TypeError for an empty list. */
export function requireAnyRole(
  guard: Guard,
  ...roles: string[]
): MiddlewareHandler<SelloAuthenticatedEnv> {
  return sello(guard, { roles, mode: "any" });
}

/** Middleware that requires every one of the permissions. Throws a TypeError for an empty list. */
export function requirePermissions(
  guard: Guard,
  ...permissions: string[]
): MiddlewareHandler<SelloAuthenticatedEnv> {
  return sello(guard, { permissions, mode: "all" });
}

/** Middleware that requires at least one of the permissions. Throws a TypeError for an empty list. */
export function requireAnyPermission(
  guard: Guard,
  ...permissions: string[]
): MiddlewareHandler<SelloAuthenticatedEnv> {
  return sello(guard, { permissions, mode: "any" });
}

/** Returns the path and query of a request URL, which is what the router matched. */
function readTarget(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  return start === -1 ? "/" : url.slice(start);
}

function readAuthorizationValues(c: Context): string[] {
  const incoming = (c.env as { incoming?: { rawHeaders?: unknown } } | undefined)?.incoming;
  if (Array.isArray(incoming?.rawHeaders)) {
    return readAuthorization(incoming.rawHeaders as string[]);
  }

  const joined = c.req.raw.headers.get("authorization");
  return joined === null ? [] : [joined];
}
