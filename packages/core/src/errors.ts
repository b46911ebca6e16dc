// Exit statuses from BSD sysexits.h, which the `sello` command line returns.
/** The command line was used incorrectly: an unknown command or option, a missing argument. */
const EX_USAGE = 64;
/** The input data was incorrect: an invalid value, a weak password, a duplicate name. */
const EX_DATAERR = 65;
/** A named input (a user, a session) does not exist. */
const EX_NOINPUT = 66;
/** A service the command needs is unavailable: the database, a port, the signing key. */
const EX_UNAVAILABLE = 69;
/** An internal software error. */
const EX_SOFTWARE = 70;
/** A temporary failure: trying again later may succeed. */
const EX_TEMPFAIL = 75;
/** Authentication or authorisation failed. */
const EX_NOPERM = 77;
/** The configuration is invalid. */
const EX_CONFIG = 78;

/**
 * The registry of Sello error codes. Every package (core, server, guard, client, CLI) reports
 * failures with these codes, so callers switch on `error.code`, never on the message.
 * `status` is the HTTP status of an adapter's response, `exitCode` is the process exit status
 * the `sello` command line ends with (a sysexits.h value), and `message` is the default plain
 * sentence.
 */
export const ERROR_REGISTRY = {
  invalid_request: {
    status: 400,
    message: "The request is malformed.",
    exitCode: EX_USAGE,
  },
  validation_failed: {
    status: 400,
    message: "The request body failed validation.",
    exitCode: EX_DATAERR,
  },
  weak_password: {
    status: 400,
    message: "The password is too short, too long or too common.",
    exitCode: EX_DATAERR,
  },
  invalid_credentials: {
    status: 401,
    message: "The username or password is incorrect.",
    exitCode: EX_NOPERM,
  },
  missing_token: {
    status: 401,
    message: "The request carries no access token.",
    exitCode: EX_NOPERM,
  },
  invalid_token: {
    status: 401,
    message: "The access token is invalid.",
    exitCode: EX_NOPERM,
  },
  token_expired: {
    status: 401,
    message: "The access token has expired.",
    exitCode: EX_NOPERM,
  },
  token_revoked: {
    status: 401,
    message: "The access token has been revoked.",
    exitCode: EX_NOPERM,
  },
  invalid_refresh_token: {
    status: 401,
    message: "The refresh token is invalid.",
    exitCode: EX_NOPERM,
  },
  refresh_token_reused: {
    status: 401,
    message: "The refresh token was already used, so the session has been revoked.",
    exitCode: EX_NOPERM,
  },
  session_expired: {
    status: 401,
    message: "The session has expired. Log in again.",
    exitCode: EX_NOPERM,
  },
  csrf_failed: {
    status: 403,
    message: "The request failed the cross-site request forgery check.",
    exitCode: EX_NOPERM,
  },
  insufficient_permissions: {
    status: 403,
    message: "The access token does not grant the required roles or permissions.",
    exitCode: EX_NOPERM,
  },
  not_found: {
    status: 404,
    message: "The requested resource does not exist.",
    exitCode: EX_NOINPUT,
  },
  username_taken: {
    status: 409,
    message: "That username is already taken.",
    exitCode: EX_DATAERR,
  },
  payload_too_large: {
    status: 413,
    message: "The request body is too large.",
    exitCode: EX_DATAERR,
  },
  unsupported_media_type: {
    status: 415,
    message: "The request body must be JSON with the Content-Type application/json.",
    exitCode: EX_DATAERR,
  },
  rate_limited: {
    status: 429,
    message: "Too many attempts. Try again later.",
    exitCode: EX_TEMPFAIL,
  },
  internal_error: {
    status: 500,
    message: "An unexpected error occurred.",
    exitCode: EX_SOFTWARE,
  },
  service_unavailable: {
    status: 503,
    message: "A service that Sello depends on is unavailable. Try again later.",
    exitCode: EX_UNAVAILABLE,
  },
  invalid_configuration: {
    status: 500,
    message: "The Sello configuration is invalid.",
    exitCode: EX_CONFIG,
  },
} as const satisfies Record<string, { status: number; message: string; exitCode: number }>;

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

  /** Returns the JSON body that every Sello HTTP error response carries. */
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

/** Returns the HTTP status of a code, from the registry. */
export function statusForCode(code: ErrorCode): number {
  return ERROR_REGISTRY[code].status;
}

/** Returns the process exit status for a code from the registry: a sysexits.h value, 64 to 78. */
export function exitCodeForCode(code: ErrorCode): number {
  return ERROR_REGISTRY[code].exitCode;
}
