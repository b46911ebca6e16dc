import type { AccessTokenClaims } from "@sello/core";
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  preHandlerAsyncHookHandler,
} from "fastify";
import { readAuthorization } from "../bearer.js";
import type { ErrorResponse } from "../challenge.js";
import { type GuardFlow, guardFlow } from "../flow.js";
import type { Guard, GuardResult } from "../guard.js";
import type { CheckedRequirement, Requirement } from "../requirements.js";

/** Options of the {@link sello} plugin. */
export interface SelloPluginOptions {
  /** The guard from `createGuard`. */
  guard: Guard;
}

/**
 * The route `config` this plugin reads: `config: { sello: { permissions: ["notes:read"] } }`.
 * Pass it as the route's ContextConfig generic to type it, as in
 * `app.get<{ Reply: Note }, SelloRouteConfig>(...)`.
 */
export interface SelloRouteConfig {
  sello?: Requirement;
}

/**
 * The field this plugin adds to requests: the verified claims, or null on a public path. To type
 * `request.auth` in every handler, opt in once in your application:
 *
 * ```ts
 * import type { SelloAuthFields } from "@sello/guard/fastify";
 * declare module "fastify" {
 *   interface FastifyRequest extends SelloAuthFields {}
 * }
 * ```
 */
export interface SelloAuthFields {
  auth: AccessTokenClaims | null;
}

/** Claims verified for a request; the source of truth, whatever later code writes to `request.auth`. */
const verifiedClaims = new WeakMap<FastifyRequest, AccessTokenClaims | null>();

/** Route requirements by the object given in `config.sello`, checked when the route is added. */
const routeRequirements = new WeakMap<object, CheckedRequirement>();

/**
 * A Fastify plugin that authenticates every request in the context where it is registered, in
 * an `onRequest` hook, before the body is read. It decorates `request.auth` (null until the
 * hook sets it) and enforces a route's `config.sello` requirement. Requests to the guard's
 * `publicPaths` pass with `request.auth` null, unless their route has a requirement.
 *
 * The plugin is not encapsulated (it sets `Symbol.for("skip-override")`), so its hooks apply
 * to the instance it is registered on and its children: register it inside a prefixed plugin
 * to protect only that prefix. A route's `config.sello` is validated when the route is added,
 * so a bad requirement fails at start-up with a TypeError. Each failure gets the response from
 * `toErrorResponse`.
 */
export async function sello(fastify: FastifyInstance, options: SelloPluginOptions): Promise<void> {
  const guard = options?.guard;
  if (typeof guard?.handle !== "function") {
    throw new TypeError("Register the sello plugin with { guard: createGuard({...}) }.");
  }

  if (!fastify.hasRequestDecorator("auth")) {
    fastify.decorateRequest("auth", null);
  }

  fastify.addHook("onRoute", (route) => {
    const requirement = (route.config as SelloRouteConfig | undefined)?.sello;
    if (requirement !== undefined) {
      routeRequirements.set(requirement, guard.checkRequirement(requirement));
    }
  });

  // A callback hook, so that a request that needs no key refetch passes without a promise.
  const flow = guardFlow(guard);
  const authenticate: onRequestHookHandler = (request, reply, done) => {
    const passed = runGuard(flow, request, reply, request.url, readRouteRequirement(request));
    if (passed === true) {
      done();
    } else if (passed !== false) {
      passed.then((ok) => (ok ? done() : undefined), done);
    }
    // On false the error response is sent, and Fastify must not go on: done is not called.
  };
  fastify.addHook("onRequest", authenticate);
}

Object.assign(sello, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "@sello/guard",
});

/**
 * Creates a `preHandler` hook that checks a requirement, authenticating the request first if
 * the plugin has not. Use it on routes outside the plugin's context, or to combine checks.
 * The requirement is validated here and throws a TypeError when invalid.
 */
export function requireAccess(guard: Guard, requirement: Requirement): preHandlerAsyncHookHandler {
  const checked = guard.checkRequirement(requirement);
  const flow = guardFlow(guard);
  return async (request, reply) =>
    (await runGuard(flow, request, reply, undefined, checked)) ? undefined : reply;
}

/** A `preHandler` hook that requires every one of the roles. */
export function requireRoles(guard: Guard, ...roles: string[]): preHandlerAsyncHookHandler {
  return requireAccess(guard, { roles, mode: "all" });
}

/** A `preHandler` hook that requires at least one of the roles. */
export function requireAnyRole(guard: Guard, ...roles: string[]): preHandlerAsyncHookHandler {
  return requireAccess(guard, { roles, mode: "any" });
}

/** A `preHandler` hook that requires every one of the permissions. */
export function requirePermissions(
  guard: Guard,
  ...permissions: string[]
): preHandlerAsyncHookHandler {
  return requireAccess(guard, { permissions, mode: "all" });
}

/** A `preHandler` hook that requires at least one of the permissions. */
export function requireAnyPermission(
  guard: Guard,
  ...permissions: string[]
): preHandlerAsyncHookHandler {
  return requireAccess(guard, { permissions, mode: "any" });
}

/**
 * Returns the claims verified for this request, or null when it was on a public path or no
 * hook of this adapter ran.
 */
export function getAuth(request: FastifyRequest): AccessTokenClaims | null {
  return verifiedClaims.get(request) ?? null;
}

function readRouteRequirement(request: FastifyRequest): Requirement | undefined {
  const requirement = (request.routeOptions.config as SelloRouteConfig | undefined)?.sello;
  if (requirement === undefined) {
    return undefined;
  }
  // Routes added before the plugin skipped the onRoute check; checking now fails closed.
  return routeRequirements.get(requirement) ?? requirement;
}

/**
 * Runs the guard for one request. Returns true when the request may go on, or false when the
 * error response has been sent. It returns a promise of either only when the guard has to wait.
 */
function runGuard(
  flow: GuardFlow,
  request: FastifyRequest,
  reply: FastifyReply,
  target: string | undefined,
  requirement: Requirement | undefined,
): boolean | Promise<boolean> {
  const previous = verifiedClaims.get(request);
  const outcome = flow({
    target,
    authorization: readAuthorization(request.raw.rawHeaders),
    claims: previous ?? undefined,
    requirement,
  });
  return outcome instanceof Promise
    ? outcome.then((result) => settle(request, reply, result))
    : settle(request, reply, outcome);
}

/** Records the claims of a passed request, or sends the error response. */
function settle(request: FastifyRequest, reply: FastifyReply, result: GuardResult): boolean {
  if (!result.ok) {
    sendError(reply, result.response);
    return false;
  }
  verifiedClaims.set(request, result.claims);
  (request as FastifyRequest & SelloAuthFields).auth = result.claims;
  return true;
}

function sendError(reply: FastifyReply, response: ErrorResponse): FastifyReply {
  return reply.code(response.status).headers(response.headers).send(response.body);
}
