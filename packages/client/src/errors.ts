import type { ErrorCode } from "@sello/core";

/**
 * Error codes that only the client produces. The server never sends them.
 *
 * - `network_error`: the request failed before any response arrived, or timed out.
 * - `invalid_response`: the server returned something that is not a Sello response, such as
 *   a proxy's HTML error page or a token response with missing fields.
 * - `not_logged_in`: an operation that needs a session was called while no user is logged in.
 */
export type ClientErrorCode = "network_error" | "invalid_response" | "not_logged_in";

/** A server error code from the Sello error registry, or a client-only code. */
export type SelloClientErrorCode = ErrorCode | ClientErrorCode;

const CLIENT_MESSAGES: Record<ClientErrorCode, string> = {
  network_error: "The request to the Sello server failed or timed out.",
  invalid_response: "The Sello server sent an unexpected response.",
  not_logged_in: "No user is logged in.",
};

export interface SelloClientErrorOptions {
  /** A plain sentence. Defaults to a generic sentence for client codes. */
  message?: string | undefined;
  /** The HTTP status of the response, when there was one. */
  status?: number | undefined;
  /** Seconds to wait before trying again, from the `Retry-After` header. */
  retryAfter?: number | undefined;
  cause?: unknown;
}

/** The one error class of the browser client. Switch on `code`, never on the message. */
export class SelloClientError extends Error {
  override readonly name = "SelloClientError";
  /**
   * A code from the server's error registry (such as `invalid_credentials` or `rate_limited`), or
   * a client-only code (`network_error`, `invalid_response`, `not_logged_in`). A newer server may
   * send codes that this type does not list yet.
   */
  readonly code: SelloClientErrorCode;
  /** The HTTP status of the response, or undefined when no response arrived. */
  readonly status: number | undefined;
  /** Seconds to wait before trying again, from the `Retry-After` header, when the server sent one. */
  readonly retryAfter: number | undefined;

  constructor(code: SelloClientErrorCode, options: SelloClientErrorOptions = {}) {
    super(
      options.message ?? CLIENT_MESSAGES[code as ClientErrorCode] ?? code,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.status = options.status;
    this.retryAfter = options.retryAfter;
  }
}

/**
 * Reports whether an error may go away by itself: no response, a server-side failure (5xx) or
 * rate limiting (429). Such errors are retried and never end a session.
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof SelloClientError)) {
    return false;
  }
  const status = error.status ?? 0;
  return error.code === "network_error" || status >= 500 || status === 429;
}
