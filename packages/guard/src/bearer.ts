import { SelloError } from "@sello/core";

/** RFC 7235 token68: the only form a bearer token may take (RFC 6750 section 2.1). */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A space or a tab, the separators RFC 7235 allows between the scheme and the token. */
const SEPARATOR = /[ \t]/;

/**
 * The `reason` of every `invalid_request` that reading the Authorization header reports. Only these
 * get an RFC 6750 challenge, so a malformed body on a route without a bearer token gets none.
 */
export const BEARER_REQUEST_REASONS: ReadonlySet<string> = new Set([
  "duplicate_header",
  "empty_header",
  "no_scheme",
  "no_token",
  "extra_words",
  "not_token68",
]);

const SPACE = 0x20;
const TAB = 0x09;

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
  const token = readBearerToken(values);
  checkToken68(token);
  return token;
}

/**
 * Reads the bearer token as {@link parseBearer} does, without the token68 check, for a caller
 * that runs {@link checkToken68} later. A token that passes JWS verification contains only
 * base64url characters and dots, so it is token68 already. The guard therefore checks the form
 * only when verification fails, and a valid token costs no second scan.
 */
export function readBearerToken(values: readonly string[]): string {
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

  // The scheme runs to the first space or tab; the trimmed value neither starts nor ends with one.
  const schemeEnd = separatorIndex(value);
  if (schemeEnd === -1 || !isBearerScheme(value, schemeEnd)) {
    if (schemeEnd === -1 && TOKEN68.test(value) && value.includes(".")) {
      throw invalidRequest(
        "The Authorization header must start with the scheme Bearer.",
        "no_scheme",
      );
    }
    if (schemeEnd === -1 && isBearerScheme(value, value.length)) {
      throw invalidRequest("The Authorization header has no token after Bearer.", "no_token");
    }
    throw new SelloError("missing_token", { reason: "other_scheme" });
  }

  let tokenStart = schemeEnd + 1;
  while (isSeparator(value.charCodeAt(tokenStart))) {
    tokenStart++;
  }
  return value.slice(tokenStart);
}

/**
 * Throws `invalid_request` unless the text after the scheme is a single token68 value. token68
 * has no space or tab, so a token that passes is the last word of the header value.
 */
export function checkToken68(token: string): void {
  if (TOKEN68.test(token)) {
    return;
  }
  if (SEPARATOR.test(token)) {
    throw invalidRequest(
      "The Authorization header must contain one token after Bearer.",
      "extra_words",
    );
  }
  throw invalidRequest("The bearer token contains characters that are not allowed.", "not_token68");
}

/** Returns the index of the first space or tab in the text, or -1. */
function separatorIndex(text: string): number {
  const space = text.indexOf(" ");
  const tab = text.indexOf("\t");
  if (tab === -1) {
    return space;
  }
  return space === -1 || tab < space ? tab : space;
}

function isSeparator(code: number): boolean {
  return code === SPACE || code === TAB;
}

/** Reports whether `text.slice(0, end)` is "bearer" in any ASCII letter case. */
function isBearerScheme(text: string, end: number): boolean {
  if (end !== 6) {
    return false;
  }
  // Setting bit 0x20 lowers an ASCII capital and keeps a small letter. Only those two codes map
  // to each small letter of "bearer", so no other character can match.
  return (
    (text.charCodeAt(0) | 0x20) === 0x62 &&
    (text.charCodeAt(1) | 0x20) === 0x65 &&
    (text.charCodeAt(2) | 0x20) === 0x61 &&
    (text.charCodeAt(3) | 0x20) === 0x72 &&
    (text.charCodeAt(4) | 0x20) === 0x65 &&
    (text.charCodeAt(5) | 0x20) === 0x72
  );
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
    const name = rawHeaders[index] as string;
    // Most names differ in length, which is cheaper to compare than a lowercased copy.
    if (name.length === 13 && name.toLowerCase() === "authorization") {
      values.push(rawHeaders[index + 1] as string);
    }
  }
  return values;
}
