import type { IncomingMessage, ServerResponse } from "node:http";
import type { AccessTokenClaims } from "@sello/core";
import { readAuthorization } from "../bearer.js";
import type { ErrorResponse } from "../challenge.js";
import { type GuardFlow, guardFlow } from "../flow.js";
import type { Guard, GuardResult } from "../guard.js";
import type { Requirement } from "../requirements.js";

/** The outcome of {@link authenticateRequest}: verified claims, or the response to send. */
export type AuthenticationResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; response: ErrorResponse };

/**
 * A request handler behind {@link withSello}. `auth` contains the verified claims, or null on a
 * public path.
 */
export type SelloHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  auth: AccessTokenClaims | null,
) => unknown;

/** Claims verified for a request, so that nested wrappers do not verify the token again. */
const verifiedClaims = new WeakMap<IncomingMessage, AccessTokenClaims>();

/**
 * Authenticates one request and checks the optional requirement. Reads every `Authorization`
 * header from `req.rawHeaders`, so a repeated header is rejected. Public paths do not apply
 * here: the request always needs a valid token.
 */
export async function authenticateRequest(
  guard: Guard,
  req: IncomingMessage,
  requirement?: Requirement,
): Promise<AuthenticationResult> {
  const result = await runGuard(guardFlow(guard), req, undefined, requirement);
  if (!result.ok) {
    return result;
  }
  return { ok: true, claims: result.claims as AccessTokenClaims };
}

/**
 * Wraps a node:http handler so that it runs only for authenticated requests, or for requests
 * to one of the guard's `publicPaths` (with `auth` null). Every other request gets the error
 * response from `toErrorResponse`. `requirement` is checked when the wrapper is created and
 * makes the handler non-public.
 *
 * When the handler throws or rejects, the wrapper reports the error to the guard's `onError`
 * and responds with 500 if nothing was sent yet, or ends the connection otherwise.
 */
export function withSello(
  guard: Guard,
  handler: SelloHandler,
  requirement?: Requirement,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const flow = guardFlow(guard);
  const checked = requirement === undefined ? undefined : guard.checkRequirement(requirement);
  if (typeof handler !== "function") {
    throw new TypeError("withSello needs a handler function (req, res, auth) => ...");
  }

  return async (req, res) => {
    const result = await runGuard(flow, req, req.url ?? "", checked);
    if (!result.ok) {
      sendErrorResponse(res, result.response);
      return;
    }

    try {
      await handler(req, res, result.claims);
    } catch (error) {
      const response = guard.toErrorResponse(error);
      if (res.headersSent) {
        res.destroy();
      } else {
        sendErrorResponse(res, response);
      }
    }
  };
}

/** Writes an error response: status, headers and the JSON body. */
export function sendErrorResponse(res: ServerResponse, response: ErrorResponse): void {
  const body = JSON.stringify(response.body);
  res.writeHead(response.status, {
    ...response.headers,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function runGuard(
  flow: GuardFlow,
  req: IncomingMessage,
  target: string | undefined,
  requirement: Requirement | undefined,
): GuardResult | Promise<GuardResult> {
  const outcome = flow({
    authorization: readAuthorization(req.rawHeaders),
    target,
    claims: verifiedClaims.get(req),
    requirement,
  });
  return outcome instanceof Promise
    ? outcome.then((result) => remember(req, result))
    : remember(req, outcome);
}

function remember(req: IncomingMessage, result: GuardResult): GuardResult {
  if (result.ok && result.claims !== null) {
    verifiedClaims.set(req, result.claims);
  }
  return result;
}
