import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createSecretKey,
  randomBytes,
} from "node:crypto";
import { type Algorithm, isAlgorithm } from "../algorithms.js";
import { importKey } from "./keys.js";
import type { SelloKey } from "./types.js";

/** The length of a key-encryption key (KEK), in bytes: an AES-256 key. */
export const KEY_ENCRYPTION_KEY_BYTES = 32;

const FORMAT_VERSION = 1;
const CIPHER = "aes-256-gcm";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_KID_LENGTH = 256;

/** Thrown by {@link decryptPrivateKey} when stored key data cannot be decrypted. */
export class KeyDecryptionError extends Error {
  override readonly name = "KeyDecryptionError";
  /** The kid recorded in the stored data, when it could be read. */
  readonly kid: string | undefined;

  constructor(message: string, kid?: string) {
    super(message);
    this.kid = kid;
  }
}

/** Generates a random 32-byte key-encryption key for {@link encryptPrivateKey}. */
export function generateKeyEncryptionKey(): Buffer {
  return randomBytes(KEY_ENCRYPTION_KEY_BYTES);
}

/**
 * Encrypts a signing key for storage with AES-256-GCM under `kek`, a random 96-bit IV, and the
 * format version, kid and alg as additional authenticated data, so none of them can be swapped.
 * The plaintext is the PKCS#8 DER private key, or the raw secret for HS256.
 * Returns a JSON string: `{"v":1,"kid","alg","iv","ciphertext","tag"}` with base64url values.
 * Throws a TypeError for a verify-only key or a KEK that is not 32 bytes.
 */
export function encryptPrivateKey(key: SelloKey, kek: Uint8Array): string {
  assertKek(kek);
  if (key.signKey === undefined) {
    throw new TypeError(
      `Key ${JSON.stringify(key.kid)} is verify-only, so there is no private key to encrypt.`,
    );
  }

  const plaintext =
    key.alg === "HS256"
      ? key.signKey.export()
      : key.signKey.export({ format: "der", type: "pkcs8" });
  const iv = randomBytes(IV_BYTES);

  let ciphertext: Buffer;
  let tag: Buffer;
  try {
    const cipher = createCipheriv(CIPHER, kek, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(key.kid, key.alg));
    ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    tag = cipher.getAuthTag();
  } finally {
    plaintext.fill(0);
  }

  return JSON.stringify({
    v: FORMAT_VERSION,
    kid: key.kid,
    alg: key.alg,
    iv: iv.toString("base64url"),
    ciphertext: ciphertext.toString("base64url"),
    tag: tag.toString("base64url"),
  });
}

/**
 * Decrypts a key produced by {@link encryptPrivateKey}. The result keeps the stored kid, which
 * the authentication tag protects. Throws a TypeError for a KEK that is not 32 bytes, and a
 * {@link KeyDecryptionError} when the data is malformed, the KEK is wrong, or any part of the
 * data was changed. Neither error contains key material.
 */
export function decryptPrivateKey(serialized: string, kek: Uint8Array): SelloKey {
  assertKek(kek);
  const stored = parseStoredKey(serialized);

  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv(CIPHER, kek, stored.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(stored.kid, stored.alg));
    decipher.setAuthTag(stored.tag);
    plaintext = Buffer.concat([decipher.update(stored.ciphertext), decipher.final()]);
  } catch {
    throw new KeyDecryptionError(
      `Cannot decrypt signing key ${JSON.stringify(stored.kid)}: wrong key-encryption key or corrupted data.`,
      stored.kid,
    );
  }

  try {
    const keyObject =
      stored.alg === "HS256"
        ? createSecretKey(plaintext)
        : createPrivateKey({ key: plaintext, format: "der", type: "pkcs8" });
    const imported = importKey(keyObject, stored.alg);
    return Object.freeze({ ...imported, kid: stored.kid });
  } catch {
    // Reached only if data authenticated under this KEK contains a key that no longer imports,
    // for example an RSA key below the current minimum size.
    throw new KeyDecryptionError(
      `Cannot import decrypted signing key ${JSON.stringify(stored.kid)}: it is not a valid ${stored.alg} key.`,
      stored.kid,
    );
  } finally {
    plaintext.fill(0);
  }
}

interface StoredKey {
  kid: string;
  alg: Algorithm;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

function parseStoredKey(serialized: string): StoredKey {
  const malformed = (detail: string, kid?: string) =>
    new KeyDecryptionError(`Cannot decrypt signing key: the stored data ${detail}.`, kid);

  if (typeof serialized !== "string") {
    throw malformed("is not a string");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(serialized);
  } catch {
    throw malformed("is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw malformed("is not a JSON object");
  }

  const record = parsed as Record<string, unknown>;
  if (record.v !== FORMAT_VERSION) {
    throw malformed(
      `has format version ${JSON.stringify(record.v) ?? "undefined"}, but only version ${FORMAT_VERSION} is supported`,
    );
  }
  const { kid, alg } = record;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
    throw malformed("has a missing or invalid kid");
  }
  if (!isAlgorithm(alg)) {
    throw malformed("has a missing or unsupported alg", kid);
  }

  const iv = decodeField(record.iv);
  const ciphertext = decodeField(record.ciphertext);
  const tag = decodeField(record.tag);
  if (
    iv?.length !== IV_BYTES ||
    tag?.length !== TAG_BYTES ||
    ciphertext === undefined ||
    ciphertext.length === 0
  ) {
    throw malformed(
      `has a missing or invalid iv, ciphertext or tag (${IV_BYTES}-byte iv and ${TAG_BYTES}-byte tag expected)`,
      kid,
    );
  }

  return { kid, alg, iv, ciphertext, tag };
}

/** Decodes canonical base64url only, so no two strings decode to the same bytes. */
function decodeField(value: unknown): Buffer | undefined {
  if (typeof value !== "string") {
    return undefined;
  }
  const bytes = Buffer.from(value, "base64url");
  return bytes.toString("base64url") === value ? bytes : undefined;
}

/** The AAD binds the format version, kid and alg, so stored fields cannot be swapped. */
function additionalData(kid: string, alg: Algorithm): Buffer {
  return Buffer.from(JSON.stringify({ v: FORMAT_VERSION, kid, alg }), "utf8");
}

function assertKek(kek: Uint8Array): void {
  if (!(kek instanceof Uint8Array) || kek.byteLength !== KEY_ENCRYPTION_KEY_BYTES) {
    const length = kek instanceof Uint8Array ? `${kek.byteLength} bytes` : typeof kek;
    throw new TypeError(
      `The key-encryption key must be ${KEY_ENCRYPTION_KEY_BYTES} bytes; got ${length}. Create one with generateKeyEncryptionKey() or \`openssl rand -base64 32\` and decode it to bytes.`,
    );
  }
}
