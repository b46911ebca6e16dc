/**
 * Strict base64url (RFC 4648 section 5, without padding, as RFC 7515 section 2 requires).
 * A string is canonical when it uses only `A-Z a-z 0-9 - _`, its length mod 4 is not 1, and
 * the unused low bits of its last character are zero. Every byte string then has exactly one
 * canonical encoding, so a token cannot be altered without changing its bytes.
 */

/** Matches as many base64url characters as possible, starting at `lastIndex`. */
const ALPHABET_RUN = /[\w-]*/y;

/** The 6-bit value of each base64url character, or -1 for characters outside the alphabet. */
const SEXTET_VALUES = buildSextetTable();

function buildSextetTable(): Int8Array {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const table = new Int8Array(128).fill(-1);
  for (let value = 0; value < alphabet.length; value++) {
    table[alphabet.charCodeAt(value)] = value;
  }
  return table;
}

/**
 * Reports whether `text.slice(start, end)` is canonical base64url, without copying it. The empty
 * range is canonical.
 */
export function isCanonicalBase64url(text: string, start = 0, end = text.length): boolean {
  if (start < 0 || end > text.length || start > end) {
    return false;
  }
  ALPHABET_RUN.lastIndex = start;
  ALPHABET_RUN.test(text);
  if (ALPHABET_RUN.lastIndex !== end) {
    return false;
  }

  const remainder = (end - start) % 4;
  if (remainder === 0) {
    return true;
  }
  if (remainder === 1) {
    return false;
  }
  // Two trailing characters carry one byte (4 unused bits), three carry two bytes (2 unused bits).
  const last = SEXTET_VALUES[text.charCodeAt(end - 1)] as number;
  return (last & (remainder === 2 ? 0x0f : 0x03)) === 0;
}

/** Returns the number of bytes that `length` characters of canonical base64url decode to. */
export function decodedLength(length: number): number {
  return Math.floor((length * 3) / 4);
}

/** Decodes canonical base64url into new bytes, or returns undefined when `text` is not canonical. */
export function decodeBase64url(text: string): Buffer | undefined {
  return isCanonicalBase64url(text) ? Buffer.from(text, "base64url") : undefined;
}

/** Encodes bytes or a UTF-8 string as canonical base64url. */
export function encodeBase64url(input: Uint8Array | string): string {
  const bytes =
    typeof input === "string"
      ? Buffer.from(input, "utf8")
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return bytes.toString("base64url");
}
