import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

/** A refresh token is 256 random bits, written as 43 base64url characters. */
const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const SEAL_INFO = "sello refresh-token successor";
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** The length of a refresh token in bytes (256 bits). */
const TOKEN_BYTES = 32;

/** Creates a new refresh token value: 256 bits from the operating system's CSPRNG. */
export function generateRefreshToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/**
 * Reports whether `value` has the shape of a refresh token. Anything else (an access token, a
 * truncated cookie) is rejected before it reaches the database.
 */
export function isRefreshTokenShaped(value: unknown): value is string {
  return typeof value === "string" && REFRESH_TOKEN_PATTERN.test(value);
}

/** Hashes a refresh token with SHA-256 for storage, so the database never contains the token. */
export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

function sealingKey(presentedToken: string): Buffer {
  return Buffer.from(hkdfSync("sha256", presentedToken, Buffer.alloc(0), SEAL_INFO, 32));
}

/** A new refresh token for a rotation, and the same token sealed for the grace window. */
export interface Successor {
  token: string;
  sealed: string;
}

/**
 * Creates the successor of `presentedToken` and encrypts it (AES-256-GCM) under a key derived
 * with HKDF from the token it replaces. Only a caller presenting the replaced token can recover
 * the successor during the grace window; a copy of the database alone cannot. The token and the
 * IV come from one CSPRNG call, which is cheaper than two.
 */
export function createSuccessor(presentedToken: string): Successor {
  const random = randomBytes(TOKEN_BYTES + IV_LENGTH);
  const token = random.toString("base64url", 0, TOKEN_BYTES);
  const iv = random.subarray(TOKEN_BYTES);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(presentedToken), iv);
  const ciphertext = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  const sealed = Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString("base64url");
  return { token, sealed };
}

/** Recovers a successor sealed by {@link createSuccessor}, or returns undefined when it cannot. */
export function unsealSuccessor(presentedToken: string, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length <= IV_LENGTH + TAG_LENGTH) {
    return undefined;
  }
  const iv = bytes.subarray(0, IV_LENGTH);
  const tag = bytes.subarray(bytes.length - TAG_LENGTH);
  const ciphertext = bytes.subarray(IV_LENGTH, bytes.length - TAG_LENGTH);
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(presentedToken), iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}
