import {
  constants,
  createHash,
  createHmac,
  createSecretKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  type RSAPSSKeyPairKeyObjectOptions,
  randomBytes,
  sign,
} from "node:crypto";
import type { Algorithm } from "../../src/algorithms.js";
import { SelloError } from "../../src/errors.js";
import { createKeySet } from "../../src/node/key-set.js";
import type { KeySource, SelloKey } from "../../src/node/types.js";
import { createVerifier, type Verifier, type VerifierOptions } from "../../src/node/verifier.js";

/**
 * A token forge for verifier tests: it signs arbitrary header and payload bytes with
 * node:crypto, so tests can build tokens that no well-behaved issuer would produce.
 */

export const ISSUER = "https://auth.example.test";
export const AUDIENCE = "https://api.example.test";
/** The frozen test time, in whole seconds since the epoch. */
export const NOW = 1_750_000_000;
export const frozenClock = (): number => NOW * 1000;

/** Computes the RFC 7638 thumbprint of a JWK: SHA-256 over its required members in sorted order. */
export function jwkThumbprint(jwk: JsonWebKey): string {
  const required: Record<string, readonly string[]> = {
    EC: ["crv", "kty", "x", "y"],
    OKP: ["crv", "kty", "x"],
    RSA: ["e", "kty", "n"],
    oct: ["k", "kty"],
  };
  const names = required[jwk.kty as string];
  if (names === undefined) {
    throw new TypeError(`No thumbprint members are defined for kty ${String(jwk.kty)}.`);
  }
  const members = names.map((name) => `${JSON.stringify(name)}:${JSON.stringify(jwk[name])}`);
  return createHash("sha256")
    .update(`{${members.join(",")}}`)
    .digest("base64url");
}

export interface KeyPairOptions {
  /** RSA modulus length in bits. Default 2048. */
  modulusLength?: number;
  /** Generate an `rsa-pss` key instead of a plain RSA key (PS256 only). */
  pss?: boolean;
}

/** Generates a key for `alg` with kid = the RFC 7638 thumbprint of its public JWK. */
export function makeKey(alg: Algorithm, options: KeyPairOptions = {}): SelloKey {
  if (alg === "HS256") {
    return makeHs256Key(randomBytes(32));
  }

  const { publicKey, privateKey } = generatePair(alg, options);
  // JWK has no form for an rsa-pss key, so its kid is a hash of the SPKI bytes instead.
  const kid =
    publicKey.asymmetricKeyType === "rsa-pss"
      ? createHash("sha256")
          .update(publicKey.export({ type: "spki", format: "der" }))
          .digest("base64url")
      : jwkThumbprint(publicKey.export({ format: "jwk" }));
  return { kid, alg, verifyKey: publicKey, signKey: privateKey };
}

function generatePair(alg: Algorithm, options: KeyPairOptions) {
  const modulusLength = options.modulusLength ?? 2048;
  switch (alg) {
    case "ES256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" });
    case "EdDSA":
      return generateKeyPairSync("ed25519");
    case "PS256":
      if (options.pss === true) {
        // @types/node 20 declares saltLength as a string, but Node expects a number of bytes.
        const pssOptions = {
          modulusLength,
          hashAlgorithm: "sha256",
          mgf1HashAlgorithm: "sha256",
          saltLength: 32,
        };
        return generateKeyPairSync(
          "rsa-pss",
          pssOptions as unknown as RSAPSSKeyPairKeyObjectOptions,
        );
      }
      return generateKeyPairSync("rsa", { modulusLength });
    default:
      return generateKeyPairSync("rsa", { modulusLength });
  }
}

/** Builds an HS256 key from secret bytes, with kid = the thumbprint of its `oct` JWK. */
export function makeHs256Key(secret: Uint8Array): SelloKey {
  const key = createSecretKey(secret);
  const kid = jwkThumbprint({ kty: "oct", k: Buffer.from(secret).toString("base64url") });
  return { kid, alg: "HS256", verifyKey: key, signKey: key };
}

/** Relabels a key with another algorithm, keeping its kid and key material. */
export function withAlg(key: SelloKey, alg: Algorithm): SelloKey {
  return { ...key, alg };
}

/** A segment value: an object or array is serialized with JSON.stringify, a string is used as
 * the exact JSON text, and bytes are used as they are. */
export type SegmentInput = unknown;

/** Returns the bytes of a segment before base64url encoding. */
export function segmentBytes(value: SegmentInput): Buffer {
  if (Buffer.isBuffer(value)) {
    return value;
  }
  if (typeof value === "string") {
    return Buffer.from(value, "utf8");
  }
  return Buffer.from(JSON.stringify(value), "utf8");
}

export function encodeSegment(value: SegmentInput): string {
  return segmentBytes(value).toString("base64url");
}

/** Signs `data` with `alg` as a JWS signature (ECDSA in IEEE P1363 form). */
export function signBytes(alg: string, key: KeyObject, data: Buffer): Buffer {
  switch (alg) {
    case "HS256":
      return createHmac("sha256", key).update(data).digest();
    case "ES256":
      return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
    case "EdDSA":
      return sign(null, data, key);
    case "RS256":
      return sign("sha256", data, key);
    case "PS256":
      return sign("sha256", data, {
        key,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
    default:
      throw new TypeError(`The forge cannot sign with ${alg}.`);
  }
}

/** Signs with an HMAC-SHA256 secret given as raw bytes or text, whatever it contains. */
export function signHmacWithSecret(secret: string | Buffer, data: Buffer): Buffer {
  return createHmac("sha256", secret).update(data).digest();
}

export interface ForgeParts {
  /** The header segment text; wins over `header`. */
  headerSegment?: string;
  header?: SegmentInput;
  /** The payload segment text; wins over `payload`. */
  payloadSegment?: string;
  payload?: SegmentInput;
}

/** Joins the encoded header and payload as the JWS signing input. */
export function signingInput(parts: ForgeParts): string {
  const header = parts.headerSegment ?? encodeSegment(parts.header ?? {});
  const payload = parts.payloadSegment ?? encodeSegment(parts.payload ?? {});
  return `${header}.${payload}`;
}

/** Signs the exact signing-input text (as UTF-8 bytes) and appends the signature segment. */
export function forgeToken(
  parts: ForgeParts,
  signer: { alg: string; key: KeyObject } | { signature: Buffer | string },
): string {
  const input = signingInput(parts);
  if ("signature" in signer) {
    const segment =
      typeof signer.signature === "string"
        ? signer.signature
        : signer.signature.toString("base64url");
    return `${input}.${segment}`;
  }
  const signature = signBytes(signer.alg, signer.key, Buffer.from(input, "utf8"));
  return `${input}.${signature.toString("base64url")}`;
}

/** Returns the claims of a valid access token at {@link NOW}, with overrides applied. */
export function accessClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    sub: "user_123",
    aud: AUDIENCE,
    exp: NOW + 600,
    iat: NOW,
    jti: "01J0TESTJTI0000000000000000",
    client_id: "web",
    sid: "session_456",
    roles: ["user"],
    permissions: ["posts:read"],
    ...overrides,
  };
}

/** Returns the header of a valid access token signed with `key`, with overrides applied. */
export function accessHeader(
  key: SelloKey,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return { alg: key.alg, kid: key.kid, typ: "at+jwt", ...overrides };
}

/** Removes the named members from an object copy. */
export function without(
  value: Record<string, unknown>,
  ...names: string[]
): Record<string, unknown> {
  const copy = { ...value };
  for (const name of names) {
    delete copy[name];
  }
  return copy;
}

/** Signs a token with `key` (its own algorithm), using the given header and payload. */
export function signedToken(
  key: SelloKey,
  parts: {
    header?: SegmentInput;
    payload?: SegmentInput;
    headerSegment?: string;
    payloadSegment?: string;
  } = {},
): string {
  if (key.signKey === undefined) {
    throw new TypeError("The forge needs a key with signKey.");
  }
  return forgeToken(
    {
      header: parts.header ?? accessHeader(key),
      payload: parts.payload ?? accessClaims(),
      ...(parts.headerSegment === undefined ? {} : { headerSegment: parts.headerSegment }),
      ...(parts.payloadSegment === undefined ? {} : { payloadSegment: parts.payloadSegment }),
    },
    { alg: key.alg, key: key.signKey },
  );
}

/** Creates a verifier over `keys` with the test issuer, audience and frozen clock. */
export function makeVerifier(
  keys: readonly SelloKey[] | KeySource,
  overrides: Partial<VerifierOptions> = {},
): Verifier {
  const source = Array.isArray(keys) ? createKeySet(keys) : (keys as KeySource);
  const algorithms = Array.isArray(keys)
    ? [...new Set((keys as SelloKey[]).map((key) => key.alg))]
    : (["ES256", "EdDSA", "RS256", "PS256", "HS256"] as Algorithm[]);
  return createVerifier({
    algorithms,
    keys: source,
    issuer: ISSUER,
    audience: AUDIENCE,
    clock: frozenClock,
    ...overrides,
  });
}

/** Returns the code and reason of the SelloError a call throws. Fails on success or any other error. */
export function rejectionOf(call: () => unknown): { code: string; reason: string | undefined } {
  try {
    call();
  } catch (error) {
    if (error instanceof SelloError) {
      return { code: error.code, reason: error.reason };
    }
    throw new Error(`Expected a SelloError, got ${String(error)}`, { cause: error });
  }
  throw new Error("Expected the call to throw a SelloError, but it returned.");
}

/** Shorthand for an `invalid_token` rejection with `reason`. */
export function invalid(reason: string): { code: string; reason: string } {
  return { code: "invalid_token", reason };
}

/** Replaces the character at `index` of `text`. */
export function replaceAt(text: string, index: number, replacement: string): string {
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

/** Splits a compact token into its three segments. */
export function segmentsOf(token: string): [string, string, string] {
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new TypeError("The forge expected a token with three segments.");
  }
  return parts as [string, string, string];
}
