import { ERROR_REGISTRY, type ErrorCode, SelloError } from "@sello/core";
import { BEARER_REQUEST_REASONS } from "./bearer.js";

/** The HTTP response to a failed request: status, headers and the JSON error body. */
export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: ErrorCode; message: string };
}

/** RFC 6750 section 3.1 error codes for each Sello code that a guard can return. */
const BEARER_ERRORS: Partial<Record<ErrorCode, string>> = {
  invalid_request: "invalid_request",
  invalid_token: "invalid_token",
  token_expired: "invalid_token",
  token_revoked: "invalid_token",
  insufficient_permissions: "insufficient_scope",
};

/**
 * Turns any error thrown while guarding a request into its HTTP response. Every adapter calls this
 * one function, so the code-to-status table and the challenges are the same in every framework.
 * Errors that are not Sello errors become `internal_error` with the generic message; the caller
 * logs the original.
 */
export function toErrorResponse(error: unknown, realm: string): ErrorResponse {
  const sello =
    error instanceof SelloError ? error : new SelloError("internal_error", { cause: error });
  const body = { error: sello.code, message: sello.message };
  const headers: Record<string, string> = { "cache-control": "no-store" };

  const bearerError = BEARER_ERRORS[sello.code];
  if (sello.code === "missing_token") {
    headers["www-authenticate"] = `Bearer realm="${realm}"`;
  } else if (bearerError !== undefined && !isOtherBadRequest(sello)) {
    const description = ERROR_REGISTRY[sello.code].message;
    headers["www-authenticate"] =
      `Bearer realm="${realm}", error="${bearerError}", error_description="${description}"`;
  }
  if (sello.code === "service_unavailable") {
    headers["retry-after"] = "5";
  }

  return { status: sello.status, headers, body };
}

/** Reports whether an `invalid_request` comes from something other than the Authorization header. */
function isOtherBadRequest(error: SelloError): boolean {
  return (
    error.code === "invalid_request" &&
    (error.reason === undefined || !BEARER_REQUEST_REASONS.has(error.reason))
  );
}

/** Validates a realm once: a quoted-string value without quotes, backslashes or control characters. */
export function checkRealm(realm: string): string {
  if (typeof realm !== "string" || !/^[\x20-\x7e]{1,128}$/.test(realm) || /["\\]/.test(realm)) {
    throw new TypeError(
      'realm must be 1 to 128 printable ASCII characters without quotes or backslashes, such as "api".',
    );
  }
  return realm;
}
