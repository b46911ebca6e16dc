import {
  constants,
  createHmac,
  KeyObject,
  timingSafeEqual,
  type VerifyKeyObjectInput,
  verify as verifyWithKey,
} from "node:crypto";
import { ALGORITHMS, type Algorithm, isAlgorithm } from "../algorithms.js";
import { SelloError } from "../errors.js";
import { decodeBase64url, decodedLength, isCanonicalBase64url } from "./base64url.js";
import { freezeJsonValue, parseJsonObjectBytes } from "./json.js";
import type { KeySource, SelloKey } from "./types.js";

/** The protected header of a compact JWS (RFC 7515 section 4). Verified headers are frozen. */
export interface JwsHeader {
  alg: string;
  kid?: string;
  typ?: string;
  [name: string]: unknown;
}

/** Settings for {@link createJwsVerifier}, checked once when the verifier is created. */
export interface JwsVerifierOptions {
  /**
   * The algorithms a token may use: a non-empty list drawn from {@link ALGORITHMS}. A token
   * whose `alg` is not listed is rejected before any key is looked up.
   */
  algorithms: readonly Algorithm[];
  /** The source of verification keys, looked up by the token's exact `kid`. */
  keys: KeySource;
  /** The maximum token length in characters, checked before any decoding. Default 8192. */
  maxTokenLength?: number;
}

/** A compact JWS whose signature has been checked. */
export interface VerifiedJws {
  /** The decoded, frozen protected header. */
  header: JwsHeader;
  /** The decoded payload bytes. Nothing has parsed them yet. */
  payload: Buffer;
  /** The key that verified the signature. */
  key: SelloKey;
}

/** Default for {@link JwsVerifierOptions.maxTokenLength}, in characters. */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192;

/** The smallest RSA modulus RFC 7518 section 3.3 allows for RS256 and PS256, in bits. */
const MIN_RSA_MODULUS_BITS = 2048;

/** The maximum length of a `kid` header, in characters. */
const MAX_KID_LENGTH = 256;

/** Distinct valid headers kept per verifier. Real traffic carries one header per signing key. */
const HEADER_CACHE_SIZE = 32;

/** The order n of the P-256 group (FIPS 186-4, D.1.2.3), big-endian. */
const P256_ORDER = Buffer.from(
  "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
  "hex",
);

/** The data a verifier needs to check one key's signatures, derived once per key object. */
interface PreparedKey {
  readonly alg: Algorithm;
  /** The exact signature length in bytes. */
  readonly signatureLength: number;
  /** The digest passed to `crypto.verify`; null for EdDSA, which hashes internally. */
  readonly digest: "sha256" | null;
  readonly input: KeyObject | VerifyKeyObjectInput;
}

interface JwsSettings {
  readonly algorithms: ReadonlySet<string>;
  readonly keys: KeySource;
  readonly maxTokenLength: number;
  /** Checked headers by their exact base64url segment; only headers that passed are stored. */
  readonly headers: Map<string, JwsHeader>;
  /** The most recent header, compared before the map because most traffic shares one header. */
  lastHeader: { readonly segment: string; readonly header: JwsHeader } | undefined;
}

/** Prepared keys by key object; null marks key material that cannot verify its own `alg`. */
const preparedKeys = new WeakMap<SelloKey, PreparedKey | null>();

// Reusable buffers for the signing input and the signature. Verification is synchronous and
// calls no user code between writing and reading them, so one pair serves every verifier.
const signingInputScratch = Buffer.alloc(DEFAULT_MAX_TOKEN_LENGTH);
const signatureScratch = Buffer.alloc(1024);

/**
 * The outcome of a passed signature check, with the payload still base64url-encoded in
 * `token.slice(payloadStart, payloadEnd)`.
 * @internal Shared by {@link createJwsVerifier} and `createVerifier`.
 */
export interface CheckedJws {
  readonly header: JwsHeader;
  readonly key: SelloKey;
  readonly payloadStart: number;
  readonly payloadEnd: number;
  /**
   * The last 32 bits of the verified signature. A valid signature is unpredictable to anyone
   * without the key, so these bits tell recent tokens apart without hashing the token again.
   */
  readonly signatureTag: number;
}

/**
 * Creates a function that verifies the signature of a compact JWS and returns its header, its
 * payload bytes and the key that verified it. The payload is decoded only after the signature
 * passes, and never parsed.
 *
 * Throws a TypeError naming the option when an option is invalid. The returned function throws
 * `SelloError("invalid_token")` with a `reason` for every rejected token and never echoes the
 * token. Errors thrown by the key source propagate unchanged.
 *
 * The `jku`, `x5u`, `jwk` and `x5c` headers are ignored: keys come only from `keys`.
 */
export function createJwsVerifier(options: JwsVerifierOptions): (token: string) => VerifiedJws {
  const check = createJwsSignatureCheck(options);
  return (token) => {
    const checked = check(token);
    const payload = decodeBase64url(token.slice(checked.payloadStart, checked.payloadEnd));
    if (payload === undefined) {
      throw invalidToken("non_canonical_base64url");
    }
    return { header: checked.header, payload, key: checked.key };
  };
}

/**
 * Creates the signature check behind {@link createJwsVerifier}, which leaves the payload
 * encoded so that a caller can decode it without an extra copy.
 * @internal Shared by {@link createJwsVerifier} and `createVerifier`.
 */
export function createJwsSignatureCheck(
  options: JwsVerifierOptions,
): (token: string) => CheckedJws {
  const settings = resolveJwsOptions(options);
  return (token) => checkCompactJws(settings, token);
}

function resolveJwsOptions(options: JwsVerifierOptions): JwsSettings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Verifier options must be an object with at least algorithms and keys.");
  }

  const { algorithms, keys, maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH } = options;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError(
      `algorithms is required: pass a non-empty array of the algorithms tokens may use, such as ["ES256"], drawn from ${ALGORITHMS.join(", ")}.`,
    );
  }
  for (const algorithm of algorithms) {
    if (!isAlgorithm(algorithm)) {
      throw new TypeError(
        `algorithms contains the unsupported value ${describeValue(algorithm)}; use only ${ALGORITHMS.join(", ")}.`,
      );
    }
  }

  if (
    typeof keys !== "object" ||
    keys === null ||
    typeof keys.getKey !== "function" ||
    typeof keys.getOnlyKey !== "function"
  ) {
    throw new TypeError(
      "keys is required: pass a KeySource with getKey and getOnlyKey, such as createKeySet([key]) or a key ring.",
    );
  }

  if (!Number.isSafeInteger(maxTokenLength) || maxTokenLength < 1) {
    throw new TypeError(
      `maxTokenLength must be a positive integer number of characters; got ${describeValue(maxTokenLength)}. Omit it for the default of ${DEFAULT_MAX_TOKEN_LENGTH}.`,
    );
  }

  return {
    algorithms: new Set(algorithms),
    keys,
    maxTokenLength,
    headers: new Map(),
    lastHeader: undefined,
  };
}

/** Describes a configuration value in a few words for an error message. */
function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  }
  if (typeof value === "number" || typeof value === "boolean" || value === undefined) {
    return String(value);
  }
  return value === null ? "null" : `a value of type ${typeof value}`;
}

function invalidToken(reason: string): SelloError {
  return new SelloError("invalid_token", { reason });
}

function checkCompactJws(settings: JwsSettings, token: string): CheckedJws {
  if (typeof token !== "string") {
    throw invalidToken("malformed");
  }
  if (token.length > settings.maxTokenLength) {
    throw invalidToken("token_too_long");
  }

  const headerEnd = token.indexOf(".");
  const payloadEnd = token.indexOf(".", headerEnd + 1);
  if (
    headerEnd < 1 ||
    payloadEnd === headerEnd + 1 ||
    payloadEnd === -1 ||
    payloadEnd === token.length - 1 ||
    token.indexOf(".", payloadEnd + 1) !== -1
  ) {
    throw invalidToken("malformed");
  }

  const header = findHeader(settings, token, headerEnd);
  const key = findKey(settings.keys, header);
  const prepared = prepareKey(key);
  if (prepared === null || key.alg !== header.alg) {
    throw invalidToken("alg_key_mismatch");
  }

  const signature = readSignature(prepared, token, payloadEnd + 1);
  if (!isSignatureValid(prepared, token, payloadEnd, signature)) {
    throw invalidToken("signature_invalid");
  }

  return {
    header,
    key,
    payloadStart: headerEnd + 1,
    payloadEnd,
    signatureTag: signature.readUInt32LE(signature.length - 4),
  };
}

/**
 * Returns the checked header for the token's header segment, reusing the result for a segment
 * seen before. A stored segment already passed the base64url, JSON and header rules.
 */
function findHeader(settings: JwsSettings, token: string, headerEnd: number): JwsHeader {
  const segment = token.slice(0, headerEnd);
  const last = settings.lastHeader;
  if (last !== undefined && last.segment === segment) {
    return last.header;
  }

  const header = settings.headers.get(segment) ?? readHeader(settings, segment);
  settings.lastHeader = { segment, header };
  return header;
}

/** Decodes, parses and checks a header not seen before, and stores it if it passes. */
function readHeader(settings: JwsSettings, segment: string): JwsHeader {
  const bytes = decodeBase64url(segment);
  if (bytes === undefined) {
    throw invalidToken("non_canonical_base64url");
  }
  const parsed = parseJsonObjectBytes(bytes);
  if (typeof parsed === "string") {
    throw invalidToken(parsed);
  }

  const header = checkHeader(parsed, settings.algorithms);
  if (settings.headers.size >= HEADER_CACHE_SIZE) {
    const oldest = settings.headers.keys().next().value as string;
    settings.headers.delete(oldest);
  }
  settings.headers.set(segment, header);
  return header;
}

/** Applies the header rules in order and returns the header, deeply frozen. */
function checkHeader(header: Record<string, unknown>, algorithms: ReadonlySet<string>): JwsHeader {
  const alg = header.alg;
  if (typeof alg !== "string" || !algorithms.has(alg)) {
    // "none" can never be allowed, so checking the allowlist first keeps the same outcome.
    const isNone = typeof alg === "string" && alg.toLowerCase() === "none";
    throw invalidToken(isNone ? "alg_none" : "alg_not_allowed");
  }

  // Sello understands no critical extension, so any `crit` makes the token unverifiable.
  if (Object.hasOwn(header, "crit")) {
    throw invalidToken("crit_unsupported");
  }
  if (Object.hasOwn(header, "b64")) {
    throw invalidToken("b64_unsupported");
  }
  if (Object.hasOwn(header, "zip")) {
    throw invalidToken("zip_unsupported");
  }

  if (Object.hasOwn(header, "kid")) {
    const kid = header.kid;
    if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
      throw invalidToken("kid_invalid");
    }
  }

  return freezeJsonValue(header) as JwsHeader;
}

/** Looks the key up by the exact `kid`; a token without `kid` needs a source with one key. */
function findKey(keys: KeySource, header: JwsHeader): SelloKey {
  const kid = header.kid;
  if (kid === undefined) {
    const only = keys.getOnlyKey();
    if (only === undefined) {
      throw invalidToken("kid_required");
    }
    return only;
  }

  const key = keys.getKey(kid);
  if (key === undefined) {
    throw invalidToken("unknown_kid");
  }
  return key;
}

function prepareKey(key: SelloKey): PreparedKey | null {
  let prepared = preparedKeys.get(key);
  if (prepared === undefined) {
    prepared = describeKey(key);
    preparedKeys.set(key, prepared);
  }
  return prepared;
}

/**
 * Checks that the key material fits the key's algorithm and derives the signature length and
 * the `crypto.verify` input. Returns null for a mismatch, such as an RSA key labelled ES256 or
 * an RSA key shorter than 2048 bits.
 */
function describeKey(key: SelloKey): PreparedKey | null {
  const verifyKey: unknown = key.verifyKey;
  if (!(verifyKey instanceof KeyObject)) {
    return null;
  }

  const keyType = verifyKey.asymmetricKeyType;
  switch (key.alg) {
    case "HS256":
      return verifyKey.type === "secret" ? preparedKey("HS256", 32, "sha256", verifyKey) : null;

    case "ES256":
      if (keyType !== "ec" || verifyKey.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
        return null;
      }
      return preparedKey("ES256", 64, "sha256", { key: verifyKey, dsaEncoding: "ieee-p1363" });

    case "EdDSA":
      return keyType === "ed25519" ? preparedKey("EdDSA", 64, null, verifyKey) : null;

    case "RS256":
      if (keyType !== "rsa" || modulusBits(verifyKey) < MIN_RSA_MODULUS_BITS) {
        return null;
      }
      return preparedKey("RS256", modulusBits(verifyKey) / 8, "sha256", verifyKey);

    case "PS256":
      if (
        (keyType !== "rsa" && keyType !== "rsa-pss") ||
        modulusBits(verifyKey) < MIN_RSA_MODULUS_BITS
      ) {
        return null;
      }
      return preparedKey("PS256", modulusBits(verifyKey) / 8, "sha256", {
        key: verifyKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });

    default:
      return null;
  }
}

/** Returns the RSA modulus length rounded up to whole bytes, in bits. */
function modulusBits(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8) * 8;
}

function preparedKey(
  alg: Algorithm,
  signatureLength: number,
  digest: "sha256" | null,
  input: KeyObject | VerifyKeyObjectInput,
): PreparedKey {
  return { alg, signatureLength, digest, input };
}

/** Decodes the signature segment strictly, then checks its length and, for ES256, r and s. */
function readSignature(prepared: PreparedKey, token: string, start: number): Buffer {
  if (!isCanonicalBase64url(token, start, token.length)) {
    throw invalidToken("non_canonical_base64url");
  }
  // A canonical segment's length fixes its byte length, so no decoding is needed to check it.
  if (decodedLength(token.length - start) !== prepared.signatureLength) {
    throw invalidToken("signature_malformed");
  }

  const segment = token.slice(start);
  const signature =
    prepared.signatureLength <= signatureScratch.length
      ? signatureScratch.subarray(0, signatureScratch.write(segment, 0, "base64url"))
      : Buffer.from(segment, "base64url");
  if (prepared.alg === "ES256" && !(isP256Scalar(signature, 0) && isP256Scalar(signature, 32))) {
    throw invalidToken("signature_malformed");
  }
  return signature;
}

/** Returns the ASCII bytes of `token.slice(0, length)`, the JWS signing input. */
function signingInputBytes(token: string, length: number): Buffer {
  // The payload segment has not been checked yet, so a character above U+00FF may lose its high
  // byte here. That cannot let a token through: the strict payload decode rejects it after this.
  if (length > signingInputScratch.length) {
    return Buffer.from(token.slice(0, length), "latin1");
  }
  signingInputScratch.write(token, 0, length, "latin1");
  return signingInputScratch.subarray(0, length);
}

/** Reports whether the 32-byte big-endian integer at `offset` lies in [1, n - 1]. */
function isP256Scalar(bytes: Buffer, offset: number): boolean {
  let nonZero = false;
  for (let index = 0; index < 32; index++) {
    if (bytes[offset + index] !== 0) {
      nonZero = true;
      break;
    }
  }
  if (!nonZero) {
    return false;
  }

  for (let index = 0; index < 32; index++) {
    const byte = bytes[offset + index] as number;
    const limit = P256_ORDER[index] as number;
    if (byte !== limit) {
      return byte < limit;
    }
  }
  return false;
}

/** Checks the signature over the signing input `token.slice(0, inputEnd)`. */
function isSignatureValid(
  prepared: PreparedKey,
  token: string,
  inputEnd: number,
  signature: Buffer,
): boolean {
  try {
    if (prepared.alg === "HS256") {
      // Hashing the string directly skips a copy. latin1 matches signingInputBytes.
      const mac = createHmac("sha256", prepared.input as KeyObject)
        .update(token.slice(0, inputEnd), "latin1")
        .digest();
      return timingSafeEqual(mac, signature);
    }
    return verifyWithKey(
      prepared.digest,
      signingInputBytes(token, inputEnd),
      prepared.input,
      signature,
    );
  } catch {
    // crypto.verify can throw on an OpenSSL error instead of returning false, and a throw must
    // count as a failed check, never escape as a non-Sello error.
    return false;
  }
}
