import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type JsonWebKey,
  KeyObject,
  randomBytes,
} from "node:crypto";
import { type Algorithm, isAlgorithm } from "../algorithms.js";
import type { SelloKey } from "./types.js";

/** A JSON Web Key (RFC 7517) as Sello reads and writes it. */
export interface JWK {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  key_ops?: string[];
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  d?: string;
  p?: string;
  q?: string;
  dp?: string;
  dq?: string;
  qi?: string;
  k?: string;
  [member: string]: unknown;
}

/** The JWK members that carry private or secret key material (RFC 7518 section 6). */
export const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/** The minimum RSA modulus size Sello accepts, in bits. */
export const MIN_RSA_MODULUS_BITS = 2048;

/** The RSA modulus of generated keys, in bits. */
export const GENERATED_RSA_MODULUS_BITS = 3072;

/** The minimum HS256 secret length Sello accepts, in bytes, which is the SHA-256 output size. */
export const MIN_HS256_SECRET_BYTES = 32;

const SECRET_ADVICE =
  "Use at least 32 random bytes, for example the output of `openssl rand -base64 32`, and keep it out of source control.";

// Members that RFC 7638 section 3.2 hashes for each key type, in lexicographic order.
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  EC: ["crv", "kty", "x", "y"],
  OKP: ["crv", "kty", "x"],
  RSA: ["e", "kty", "n"],
  oct: ["k", "kty"],
};

/** The public members of an asymmetric JWK for each `kty`, in the order Sello writes them. */
export const PUBLIC_JWK_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ["kty", "crv", "x", "y"],
  OKP: ["kty", "crv", "x"],
  RSA: ["kty", "n", "e"],
};

const CURVE_NAMES: Record<string, string> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
  secp256k1: "secp256k1",
};

/**
 * Generates a new signing key for `alg` with node:crypto: ES256 on P-256, EdDSA on Ed25519,
 * RS256 and PS256 with a 3072-bit RSA modulus, and HS256 as 32 random bytes.
 * RSA generation blocks the event loop for a few hundred milliseconds (0.2 to 0.7 s measured
 * with Node 20.20 on a 2-core machine), so generate keys at startup or in a CLI, not per request.
 */
export function generateKey(alg: Algorithm): SelloKey {
  assertAlgorithm(alg);

  switch (alg) {
    case "ES256": {
      const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
      return createSelloKey(alg, pair.publicKey, pair.privateKey);
    }
    case "EdDSA": {
      const pair = generateKeyPairSync("ed25519");
      return createSelloKey(alg, pair.publicKey, pair.privateKey);
    }
    case "RS256":
    case "PS256": {
      const pair = generateKeyPairSync("rsa", { modulusLength: GENERATED_RSA_MODULUS_BITS });
      return createSelloKey(alg, pair.publicKey, pair.privateKey);
    }
    case "HS256": {
      const secret = createSecretKey(randomBytes(MIN_HS256_SECRET_BYTES));
      return createSelloKey(alg, secret, secret);
    }
  }
}

/**
 * Imports a key for `alg`. Accepts a JWK (private or public, as an object or a JSON string),
 * PEM text (PKCS#8, SPKI, PKCS#1 RSA, SEC1 EC, or an X.509 certificate), DER bytes
 * (PKCS#8, SEC1, PKCS#1 or SPKI) or a KeyObject. For HS256 it accepts the raw secret as a string
 * or bytes, an `oct` JWK or a secret KeyObject, and applies the rules of {@link importHs256Secret}.
 *
 * The key type must match `alg`: ES256 needs a P-256 key, EdDSA an Ed25519 key, and RS256 and
 * PS256 an RSA key with a modulus of at least 2048 bits. A JWK's own `alg`, when present, must
 * equal `alg`. A public key yields a verify-only key without `signKey`. The `kid` is always the
 * RFC 7638 thumbprint, so a `kid` member in the input is ignored.
 *
 * Throws a TypeError that names the problem and never contains key material.
 */
export function importKey(input: string | Uint8Array | JWK | KeyObject, alg: Algorithm): SelloKey {
  assertAlgorithm(alg);

  if (alg === "HS256") {
    return importSymmetricKey(input);
  }

  const keyObject = parseAsymmetricKey(input, alg);
  assertKeyMatchesAlgorithm(keyObject, alg);

  if (keyObject.type === "private") {
    return createSelloKey(alg, createPublicKey(keyObject), keyObject);
  }
  return createSelloKey(alg, keyObject, undefined);
}

/**
 * Imports an HS256 shared secret given as a string (UTF-8) or bytes.
 *
 * Rejects a secret that is:
 * - empty or shorter than 32 bytes;
 * - a well-known placeholder such as "changeme", or a repetition of one;
 * - too uniform to be random, with an estimated entropy below 100 bits (as in 32 × "a");
 * - a short pattern repeated;
 * - asymmetric key material: PEM text, DER that node:crypto parses as a key, JWK or JWKS JSON,
 *   or an OpenSSH public key line.
 *
 * Throws a TypeError that explains the problem and how to create a good secret. The message never
 * quotes the secret.
 */
export function importHs256Secret(secret: string | Uint8Array): SelloKey {
  if (typeof secret !== "string" && !(secret instanceof Uint8Array)) {
    throw new TypeError(
      `The HS256 secret must be a string or a Uint8Array; got ${describeType(secret)}.`,
    );
  }

  // A private copy, so it can be zeroed after createSecretKey has copied it into the KeyObject.
  const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  try {
    const problem = findSecretProblem(bytes);
    if (problem !== undefined) {
      throw new TypeError(`Invalid HS256 secret: ${problem} ${SECRET_ADVICE}`);
    }

    const keyObject = createSecretKey(bytes);
    return createSelloKey("HS256", keyObject, keyObject);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Exports the public JWK of an asymmetric key: `kty`, the public members (`crv`, `x`, `y` or
 * `n`, `e`), `kid`, `alg` and `use: "sig"`. Never contains private members. Throws a TypeError
 * for an HS256 key, whose secret must never be published.
 */
export function exportPublicJwk(key: SelloKey): JWK {
  const cached = publicJwkCache.get(key);
  if (cached !== undefined) {
    return { ...cached };
  }

  if (key.alg === "HS256" || key.verifyKey.type !== "public") {
    throw new TypeError(
      `Key ${JSON.stringify(key.kid)} is a symmetric ${key.alg} key, which has no public JWK; never publish a shared secret.`,
    );
  }

  const full = key.verifyKey.export({ format: "jwk" }) as Record<string, unknown>;
  const jwk: JWK = { kty: String(full.kty) };
  for (const member of PUBLIC_JWK_MEMBERS[jwk.kty] ?? []) {
    if (member !== "kty") {
      jwk[member] = full[member];
    }
  }
  jwk.kid = key.kid;
  jwk.alg = key.alg;
  jwk.use = "sig";

  publicJwkCache.set(key, Object.freeze(jwk));
  return { ...jwk };
}

/**
 * Exports the private JWK of a key for storage or encryption, with `kid` and `alg`. For HS256
 * it is an `oct` JWK whose `k` is the secret. Throws a TypeError for a verify-only key.
 * The result contains secret key material: never log it or send it to a client.
 */
export function exportPrivateJwk(key: SelloKey): JWK {
  if (key.signKey === undefined) {
    throw new TypeError(`Key ${JSON.stringify(key.kid)} is verify-only, so it has no private JWK.`);
  }

  const exported = key.signKey.export({ format: "jwk" }) as JWK;
  return { ...exported, kid: key.kid, alg: key.alg };
}

/**
 * Computes the RFC 7638 JWK thumbprint, which is the base64url SHA-256 digest of the canonical
 * JSON of the required members in lexicographic order without whitespace. The required members
 * are `crv`, `kty`, `x`, `y` for EC, `crv`, `kty`, `x` for OKP, `e`, `kty`, `n` for RSA and
 * `k`, `kty` for oct. Other members, including private ones, are ignored. Throws a TypeError for
 * an unknown `kty` or a missing or non-string required member.
 */
export function computeKid(jwk: JWK): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty];
  if (members === undefined) {
    throw new TypeError(
      `Cannot compute a JWK thumbprint for kty ${JSON.stringify(jwk.kty)}; expected EC, OKP, RSA or oct.`,
    );
  }

  const canonical: Record<string, string> = {};
  for (const member of members) {
    const value = jwk[member];
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot compute a JWK thumbprint: the ${jwk.kty} JWK member "${member}" is missing or not a string.`,
      );
    }
    canonical[member] = value;
  }

  // JSON.stringify keeps insertion order and adds no whitespace, which is the RFC 7638 form
  // because the members were inserted in lexicographic order.
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}

/**
 * Describes a KeyObject's type for messages, such as "an EC P-384 key" or "a 1024-bit RSA key".
 * Never includes key material.
 */
export function describeKeyObject(keyObject: KeyObject): string {
  if (keyObject.type === "secret") {
    return `a ${keyObject.symmetricKeySize ?? 0}-byte secret key`;
  }

  const type = keyObject.asymmetricKeyType;
  const details = keyObject.asymmetricKeyDetails ?? {};
  switch (type) {
    case "ec": {
      const curve = details.namedCurve ?? "unknown";
      return `an EC ${CURVE_NAMES[curve] ?? curve} key`;
    }
    case "rsa":
      return `a ${details.modulusLength ?? 0}-bit RSA key`;
    case "rsa-pss":
      return `a ${details.modulusLength ?? 0}-bit RSA-PSS key`;
    case "ed25519":
      return "an Ed25519 key";
    case "ed448":
      return "an Ed448 key";
    default:
      return `a key of type ${type ?? "unknown"}`;
  }
}

const publicJwkCache = new WeakMap<SelloKey, Readonly<JWK>>();

function createSelloKey(
  alg: Algorithm,
  verifyKey: KeyObject,
  signKey: KeyObject | undefined,
): SelloKey {
  const kid = computeKid(verifyKey.export({ format: "jwk" }) as JWK);
  const key: SelloKey =
    signKey === undefined ? { kid, alg, verifyKey } : { kid, alg, verifyKey, signKey };
  return Object.freeze(key);
}

function assertAlgorithm(alg: unknown): asserts alg is Algorithm {
  if (!isAlgorithm(alg)) {
    throw new TypeError(
      `Unsupported algorithm ${JSON.stringify(alg)}; expected ES256, EdDSA, RS256, PS256 or HS256.`,
    );
  }
}

function importSymmetricKey(input: string | Uint8Array | JWK | KeyObject): SelloKey {
  if (typeof input === "string" || input instanceof Uint8Array) {
    return importHs256Secret(input);
  }

  if (input instanceof KeyObject) {
    if (input.type !== "secret") {
      throw new TypeError(
        `HS256 needs a shared secret, but the KeyObject is ${describeKeyObject(input)}.`,
      );
    }
    return importSecretBytes(input.export());
  }

  if (!isPlainObject(input)) {
    throw new TypeError(
      `The HS256 key must be a secret string, bytes, an oct JWK or a KeyObject; got ${describeType(input)}.`,
    );
  }
  assertJwkAlgorithm(input, "HS256");
  if (input.kty !== "oct" || typeof input.k !== "string") {
    throw new TypeError(
      `An HS256 JWK must have kty "oct" and a string "k"; got kty ${JSON.stringify(input.kty)}.`,
    );
  }
  return importSecretBytes(Buffer.from(input.k, "base64url"));
}

function importSecretBytes(secret: Buffer): SelloKey {
  try {
    return importHs256Secret(secret);
  } finally {
    secret.fill(0);
  }
}

function parseAsymmetricKey(
  input: string | Uint8Array | JWK | KeyObject,
  alg: Algorithm,
): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type === "secret") {
      throw new TypeError(
        `${alg} needs an asymmetric key, but the KeyObject is ${describeKeyObject(input)}.`,
      );
    }
    return input;
  }

  if (typeof input === "string") {
    return parseKeyText(input, alg);
  }

  if (input instanceof Uint8Array) {
    const buffer = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (looksLikePem(buffer.toString("latin1"))) {
      return parseKeyText(buffer.toString("utf8"), alg);
    }
    return parseDer(buffer, alg);
  }

  if (isPlainObject(input)) {
    return parseJwk(input, alg);
  }

  throw new TypeError(
    `The ${alg} key must be a JWK, PEM text, DER bytes or a KeyObject; got ${describeType(input)}.`,
  );
}

function parseKeyText(text: string, alg: Algorithm): KeyObject {
  const trimmed = text.trim();

  if (trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      // The JSON.parse message quotes the input, which may be key material, so it is dropped.
      throw new TypeError(`The ${alg} key looks like a JWK but is not valid JSON.`);
    }
    if (!isPlainObject(parsed)) {
      throw new TypeError(`The ${alg} key JSON must be a JWK object.`);
    }
    return parseJwk(parsed, alg);
  }

  if (looksLikeOpenSshKey(trimmed)) {
    throw new TypeError(
      `The ${alg} key is in OpenSSH format, which is not supported. Convert it to PEM, for example with \`ssh-keygen -e -m PKCS8 -f key.pub\`.`,
    );
  }

  if (!looksLikePem(trimmed)) {
    throw new TypeError(
      `The ${alg} key must be PEM text starting with "-----BEGIN", a JWK, DER bytes or a KeyObject.`,
    );
  }

  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(trimmed)) {
    throw new TypeError(
      `The ${alg} private key is encrypted with a passphrase, which is not supported. Decrypt it first, for example with \`openssl pkey -in key.pem -out plain.pem\`.`,
    );
  }

  try {
    if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(trimmed)) {
      return createPrivateKey(trimmed);
    }
    return createPublicKey(trimmed);
  } catch (error) {
    throw new TypeError(`Cannot parse the ${alg} PEM key: ${describeCryptoError(error)}.`);
  }
}

function parseDer(der: Buffer, alg: Algorithm): KeyObject {
  const privateTypes = ["pkcs8", "sec1", "pkcs1"] as const;
  for (const type of privateTypes) {
    try {
      return createPrivateKey({ key: der, format: "der", type });
    } catch {
      // Not this encoding; the next one is tried.
    }
  }

  const publicTypes = ["spki", "pkcs1"] as const;
  for (const type of publicTypes) {
    try {
      return createPublicKey({ key: der, format: "der", type });
    } catch {
      // Not this encoding; the next one is tried.
    }
  }

  throw new TypeError(
    `Cannot parse the ${alg} key bytes as DER in PKCS#8, SEC1, PKCS#1 or SPKI form.`,
  );
}

function parseJwk(jwk: Record<string, unknown>, alg: Algorithm): KeyObject {
  assertJwkAlgorithm(jwk, alg);

  if (jwk.use !== undefined && jwk.use !== "sig") {
    throw new TypeError(
      `The ${alg} JWK has use ${JSON.stringify(jwk.use)}; a signing key needs use "sig" or no use.`,
    );
  }
  if (jwk.kty === "oct") {
    throw new TypeError(`${alg} needs an asymmetric key, but the JWK is a symmetric oct key.`);
  }

  try {
    if (typeof jwk.d === "string") {
      return createPrivateKey({ key: jwk as JsonWebKey, format: "jwk" });
    }
    return createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
  } catch (error) {
    throw new TypeError(`Cannot import the ${alg} JWK: ${describeCryptoError(error)}.`);
  }
}

function assertJwkAlgorithm(jwk: Record<string, unknown>, alg: Algorithm): void {
  if (jwk.alg !== undefined && jwk.alg !== alg) {
    throw new TypeError(
      `The JWK has alg ${JSON.stringify(jwk.alg)}, but it is being imported as ${alg}.`,
    );
  }
}

function assertKeyMatchesAlgorithm(keyObject: KeyObject, alg: Exclude<Algorithm, "HS256">): void {
  const type = keyObject.asymmetricKeyType;
  const details = keyObject.asymmetricKeyDetails ?? {};

  switch (alg) {
    case "ES256":
      if (type === "ec" && details.namedCurve === "prime256v1") {
        return;
      }
      throw new TypeError(
        `ES256 needs an EC P-256 key, but the key is ${describeKeyObject(keyObject)}.`,
      );
    case "EdDSA":
      if (type === "ed25519") {
        return;
      }
      throw new TypeError(
        `EdDSA needs an Ed25519 key, but the key is ${describeKeyObject(keyObject)}.`,
      );
    case "RS256":
    case "PS256": {
      if (type === "rsa-pss") {
        throw new TypeError(
          `${alg} needs a plain RSA key, but the key is restricted to RSA-PSS. Convert it to an rsaEncryption key in PKCS#8 or PKCS#1 form.`,
        );
      }
      if (type !== "rsa") {
        throw new TypeError(
          `${alg} needs an RSA key, but the key is ${describeKeyObject(keyObject)}.`,
        );
      }
      const bits = details.modulusLength ?? 0;
      if (bits < MIN_RSA_MODULUS_BITS) {
        throw new TypeError(
          `${alg} needs an RSA modulus of at least ${MIN_RSA_MODULUS_BITS} bits, but the key has ${bits} bits. Generate a ${GENERATED_RSA_MODULUS_BITS}-bit key.`,
        );
      }
      return;
    }
  }
}

/** Returns why `bytes` is unfit as an HS256 secret, or undefined when it is fit. */
function findSecretProblem(bytes: Buffer): string | undefined {
  if (bytes.length === 0) {
    return "the secret is empty.";
  }

  const material = describeKeyMaterial(bytes);
  if (material !== undefined) {
    return `the secret looks like ${material}, not a shared secret. HS256 needs random bytes that both sides share. To sign with an asymmetric key, use ES256, EdDSA, RS256 or PS256 instead.`;
  }

  if (isPlaceholder(bytes)) {
    return "the secret is a well-known placeholder from examples and tutorials, or a repetition of one.";
  }

  if (bytes.length < MIN_HS256_SECRET_BYTES) {
    return `the secret is ${bytes.length} bytes long, but HS256 needs at least ${MIN_HS256_SECRET_BYTES} bytes (256 bits).`;
  }

  const entropyBits = estimateEntropyBits(bytes);
  if (entropyBits < 100) {
    return `the secret is too uniform to be random: ${countDistinct(bytes)} distinct byte values in ${bytes.length} bytes, an estimated ${Math.floor(entropyBits)} bits of entropy where at least 100 are needed.`;
  }

  const period = findPeriod(bytes);
  if (period <= bytes.length / 2) {
    return `the secret repeats a ${period}-byte pattern.`;
  }

  return undefined;
}

// Normalised with lowercase ASCII letters and digits only, so "Your-256-Bit-Secret" matches.
const PLACEHOLDERS = [
  "secret",
  "secretkey",
  "mysecret",
  "mysecretkey",
  "yoursecret",
  "yoursecretkey",
  "yourjwtsecret",
  "your256bitsecret",
  "jwtsecret",
  "jwtsecretkey",
  "jwtkey",
  "jwttoken",
  "supersecret",
  "supersecretkey",
  "topsecret",
  "changeme",
  "changethis",
  "changeit",
  "replaceme",
  "password",
  "passw0rd",
  "default",
  "example",
  "test",
  "testing",
  "token",
  "privatekey",
  "qwerty",
  "letmein",
  "admin",
  "abcdefghijklmnopqrstuvwxyz",
  "1234567890",
  "0123456789",
];

/**
 * Reports whether the secret, with case folded and everything but ASCII letters and digits
 * removed, is a placeholder repeated one or more times (the last copy may be cut short),
 * optionally followed by digits as in "password123".
 */
function isPlaceholder(bytes: Buffer): boolean {
  const normalised = bytes
    .toString("latin1")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "");
  if (normalised.length === 0) {
    return false;
  }

  const withoutDigits = normalised.replace(/[0-9]+$/, "");
  const candidates = withoutDigits.length > 0 ? [normalised, withoutDigits] : [normalised];

  for (const candidate of candidates) {
    for (const placeholder of PLACEHOLDERS) {
      if (candidate.length < placeholder.length) {
        continue;
      }
      const repeated = placeholder.repeat(Math.ceil(candidate.length / placeholder.length));
      if (repeated.startsWith(candidate)) {
        return true;
      }
    }
  }
  return false;
}

/** Returns a description of the asymmetric key material that `bytes` looks like, if any. */
function describeKeyMaterial(bytes: Buffer): string | undefined {
  const text = bytes.toString("latin1");

  if (looksLikePem(text)) {
    return "a PEM-encoded key or certificate";
  }
  if (/"kty"\s*:/.test(text)) {
    return "a JSON Web Key";
  }
  if (looksLikeOpenSshKey(text.trim())) {
    return "an OpenSSH public key";
  }
  if (bytes[0] === 0x30 && parsesAsDerKey(bytes)) {
    return "a DER-encoded key";
  }
  return undefined;
}

function parsesAsDerKey(bytes: Buffer): boolean {
  try {
    parseDer(bytes, "HS256");
    return true;
  } catch {
    return false;
  }
}

function looksLikePem(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]+-----/.test(text);
}

function looksLikeOpenSshKey(text: string): boolean {
  return /^(?:ssh|ecdsa-sha2|sk-ssh|sk-ecdsa-sha2)-[A-Za-z0-9@.-]+\s+[A-Za-z0-9+/]{16,}/.test(text);
}

/** Estimates entropy as the byte length times the Shannon entropy of the byte frequencies. */
function estimateEntropyBits(bytes: Buffer): number {
  const counts = new Map<number, number>();
  for (const byte of bytes) {
    counts.set(byte, (counts.get(byte) ?? 0) + 1);
  }

  let bitsPerByte = 0;
  for (const count of counts.values()) {
    const probability = count / bytes.length;
    bitsPerByte -= probability * Math.log2(probability);
  }
  return bitsPerByte * bytes.length;
}

function countDistinct(bytes: Buffer): number {
  return new Set(bytes).size;
}

/** Returns the smallest p such that every byte equals the byte p positions before it. */
function findPeriod(bytes: Buffer): number {
  for (let period = 1; period < bytes.length; period++) {
    let repeats = true;
    for (let i = period; i < bytes.length; i++) {
      if (bytes[i] !== bytes[i - period]) {
        repeats = false;
        break;
      }
    }
    if (repeats) {
      return period;
    }
  }
  return bytes.length;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

function describeType(value: unknown): string {
  if (value === null) {
    return "null";
  }
  if (Array.isArray(value)) {
    return "an array";
  }
  return typeof value;
}

/**
 * Returns the message of a node:crypto error without the "Received ..." part, in which Node
 * quotes the offending value, which may be key material. The error itself is not attached as
 * a cause for the same reason.
 */
function describeCryptoError(error: unknown): string {
  const message = error instanceof Error ? error.message : "unknown error";
  return message.replace(/\.?\s*Received[\s\S]*$/, "").replace(/\.$/, "");
}
