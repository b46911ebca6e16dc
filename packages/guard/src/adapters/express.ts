import type { AccessTokenClaims } from "@sello/core";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { readAuthorization } from "../bearer.js";
import { guardFlow } from "../flow.js";
import type { Guard, GuardResult } from "../guard.js";
import type { Requirement } from "../requirements.js";

/**
 * The field this adapter adds to each request it handles: the verified claims, or null on a
 * public path. To type `req.auth` in every handler, opt in once in your application:
 *
 * ```ts
 * import type { SelloAuthFields } from "@sello/guard/express";
 * declare global {
 *   namespace Express {
 *     interface Request extends SelloAuthFields {}
 *   }
 * }
 * ```
 */
export interface SelloAuthFields {
  auth: AccessTokenClaims | null;
}

/** An Express request that passed {@link sello}, without changing Express's global types. */
export type SelloRequest = Request & SelloAuthFields;

/** Claims verified for a request; the source of truth, whatever later code writes to `req.auth`. */
const verifiedClaims = new WeakMap<Request, AccessTokenClaims | null>();

/**
 * Creates Express middleware that authenticates every request it receives and sets `req.auth`.
 * Mount it in front of the routes to protect, as in `app.use("/api", sello(guard))`. Requests
 * to the guard's `publicPaths` pass with `req.auth` null. With a `requirement`, the middleware
 * also checks roles and permissions, and the route is never public.
 *
 * Each failure gets the response from `toErrorResponse` at once, and `next` is called only on
 * success. The requirement is validated here, so a bad one throws a TypeError when
 * the route is defined.
 */
export function sello(guard: Guard, requirement?: Requirement): RequestHandler {
  const flow = guardFlow(guard);
  const checked = requirement === undefined ? undefined : guard.checkRequirement(requirement);

  const settle = (req: Request, res: Response, next: NextFunction, result: GuardResult) => {
    if (!result.ok) {
      res.status(result.response.status).set(result.response.headers).json(result.response.body);
      return;
    }
    verifiedClaims.set(req, result.claims);
    (req as SelloRequest).auth = result.claims;
    next();
  };

  // Not an async function, so that a request that needs no key refetch passes without a promise.
  return (req: Request, res: Response, next: NextFunction) => {
    const previous = verifiedClaims.get(req);
    const outcome = flow({
      target: req.originalUrl,
      authorization: readAuthorization(req.rawHeaders),
      claims: previous ?? undefined,
      requirement: checked,
    });
    if (outcome instanceof Promise) {
      return outcome.then((result) => settle(req, res, next, result));
    }
    settle(req, res, next, outcome);
    return undefined;
  };
}

/** Middleware that requires every one of the roles. Throws a TypeError for an empty list. */
export function requireRoles(guard: Guard, ...roles: string[]): RequestHandler {
  return sello(guard, { roles, mode: "all" });
}

/** Middleware that requires at least one of the roles. Throws a TypeError for an empty list. */
export function requireAnyRole(guard: Guard, ...roles: string[]): RequestHandler {
  return sello(guard, { roles, mode: "any" });
}

/** Middleware that requires every one of the permissions. Throws a TypeError for an empty list. */
export function requirePermissions(guard: Guard, ...permissions: string[]): RequestHandler {
  return sello(guard, { permissions, mode: "all" });
}

/** Middleware that requires at least one of the permissions. Throws a TypeError for an empty list. */
export function requireAnyPermission(guard: Guard, ...permissions: string[]): RequestHandler {
  return sello(guard, { permissions, mode: "any" });
}

/**
 * Returns the claims that {@link sello} verified for this request, or null when the request
 * was on a public path or did not pass through the middleware.
 */
export function getAuth(req: Request): AccessTokenClaims | null {
  return verifiedClaims.get(req) ?? null;
}
