/**
 * The registry of Sello error codes. Every package (core, server, guard, client, CLI) reports
 * failures with these codes, so callers switch on `error.code`, never on the message.
 * `status` is the HTTP status an adapter answers with; `message` is the default plain sentence.
 */
export const ERROR_REGISTRY = {
  invalid_request: {
    status: 400,
    message: "The request is malformed.",
  },
  validation_failed: {
    status: 400,
    message: "The request body failed validation.",
  },
  weak_password: {
    status: 400,
    message: "The password is too short, too long or too common.",
  },
  invalid_credentials: {
    status: 401,
    message: "The username or password is incorrect.",
  },
  missing_token: {
    status: 401,
    message: "The request carries no access token.",
  },
  invalid_token: {
    status: 401,
    message: "The access token is invalid.",
  },
  token_expired: {
    status: 401,
    message: "The access token has expired.",
  },
  token_revoked: {
    status: 401,
    message: "The access token has been revoked.",
  },
  invalid_refresh_token: {
    status: 401,
    message: "The refresh token is invalid.",
  },
  refresh_token_reused: {
    status: 401,
    message: "The refresh token was already used, so the session has been revoked.",
  },
  session_expired: {
    status: 401,
    message: "The session has expired. Log in again.",
  },
  csrf_failed: {
    status: 403,
    message: "The request failed the cross-site request forgery check.",
  },
  insufficient_permissions: {
    status: 403,
    message: "The access token does not grant the required roles or permissions.",
  },
  not_found: {
    status: 404,
    message: "The requested resource does not exist.",
  },
  username_taken: {
    status: 409,
    message: "That username is already taken.",
  },
  payload_too_large: {
    status: 413,
    message: "The request body is too large.",
  },
  unsupported_media_type: {
    status: 415,
    message: "The request body must be JSON with the Content-Type application/json.",
  },
  rate_limited: {
    status: 429,
    message: "Too many attempts. Try again later.",
  },
  internal_error: {
    status: 500,
    message: "An unexpected error occurred.",
  },
  service_unavailable: {
    status: 503,
    message: "A service that Sello depends on is unavailable. Try again later.",
  },
} as const satisfies Record<string, { status: number; message: string }>;

/** One of the stable error codes in {@link ERROR_REGISTRY}. */
export type ErrorCode = keyof typeof ERROR_REGISTRY;

/** All error codes, in registry order. */
export const ERROR_CODES = Object.keys(ERROR_REGISTRY) as ErrorCode[];

export interface SelloErrorOptions {
  /** A plain sentence for the client. Defaults to the registry message. Never include a secret. */
  message?: string;
  /**
   * A machine-readable detail for logs and tests, such as `alg_not_allowed` or
   * `duplicate_member`. Clients see only `code` and `message`.
   */
  reason?: string;
  /** The underlying error, kept for debugging and never sent to clients. */
  cause?: unknown;
}

/** The one error class used by every Sello package. */
export class SelloError extends Error {
  override readonly name = "SelloError";
  readonly code: ErrorCode;
  readonly status: number;
  readonly reason: string | undefined;

  constructor(code: ErrorCode, options: SelloErrorOptions = {}) {
    const entry = ERROR_REGISTRY[code];
    if (entry === undefined) {
      throw new TypeError(`Unknown Sello error code: ${JSON.stringify(code)}`);
    }
    super(
      options.message ?? entry.message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.status = entry.status;
    this.reason = options.reason;
  }

  /** The JSON body every Sello HTTP error response carries. */
  toJSON(): { error: ErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

/** Reports whether `value` is a known error code. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_REGISTRY, value);
}

/** Reports whether `error` is a {@link SelloError}, optionally with the given code. */
export function isSelloError(error: unknown, code?: ErrorCode): error is SelloError {
  return error instanceof SelloError && (code === undefined || error.code === code);
}

/** The HTTP status for a code, from the registry. */
export function statusForCode(code: ErrorCode): number {
  return ERROR_REGISTRY[code].status;
}
