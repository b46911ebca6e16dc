import { SelloError } from "@sello/core";

/** RFC 7235 token68: the only form a bearer token may take (RFC 6750 section 2.1). */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const SCHEME = /^bearer$/i;

/**
 * Extracts the bearer token from the `Authorization` header values of one request (every value,
 * in order, so a repeated header is seen). Throws:
 * - `missing_token` when there is no header, or it uses another scheme (RFC 6750 section 3.1:
 *   a request without Bearer credentials gets a challenge without an error code);
 * - `invalid_request` for two headers, an empty value, a token without a scheme, a scheme without
 *   a token, extra words after the token, or a token that is not a single token68 value.
 * The scheme matches in any letter case, and any number of spaces may separate it from the token.
 */
export function parseBearer(values: readonly string[]): string {
  if (values.length === 0) {
    throw new SelloError("missing_token");
  }
  if (values.length > 1) {
    throw invalidRequest(
      "The request carries more than one Authorization header.",
      "duplicate_header",
    );
  }

  const value = (values[0] as string).trim();
  if (value === "") {
    throw invalidRequest("The Authorization header is empty.", "empty_header");
  }

  const parts = value.split(/[ \t]+/);
  const [scheme, token, ...rest] = parts as [string, ...string[]];
  if (!SCHEME.test(scheme)) {
    if (parts.length === 1 && TOKEN68.test(scheme) && scheme.includes(".")) {
      throw invalidRequest(
        "The Authorization header must start with the scheme Bearer.",
        "no_scheme",
      );
    }
    throw new SelloError("missing_token", { reason: "other_scheme" });
  }
  if (token === undefined) {
    throw invalidRequest("The Authorization header has no token after Bearer.", "no_token");
  }
  if (rest.length > 0) {
    throw invalidRequest(
      "The Authorization header must contain one token after Bearer.",
      "extra_words",
    );
  }
  if (!TOKEN68.test(token)) {
    throw invalidRequest(
      "The bearer token contains characters that are not allowed.",
      "not_token68",
    );
  }
  return token;
}

function invalidRequest(message: string, reason: string): SelloError {
  return new SelloError("invalid_request", { message, reason });
}

/**
 * Collects every `Authorization` value from Node's `rawHeaders` list (name, value, name, ...).
 * Node keeps only the first `authorization` in `req.headers`, so a repeated header is visible
 * only here.
 */
export function readAuthorization(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    if ((rawHeaders[index] as string).toLowerCase() === "authorization") {
      values.push(rawHeaders[index + 1] as string);
    }
  }
  return values;
}
